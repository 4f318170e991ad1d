"""One sample-batch type and one evaluation type for every pipeline of the book.

A :class:`Batch` is what a model is run on and scored against: the model inputs, each sample's
transform back to original pixels (:mod:`zoo_helpers.evaluation.transforms`), the image id of each sample and
its ground truth. The same type serves

* single pose: one person crop (or one whole single-person image) per sample, truth a
  :class:`zoo_helpers.evaluation.datasets.Person`;
* multi pose: one whole image per sample, truth the list of its annotated people;
* hands and faces: one crop per annotated hand or face, truth a :class:`zoo_helpers.evaluation.datasets.Person`
  whose ``dataset`` says where it comes from.

An :class:`Evaluation` is what every evaluator returns: metrics by the names the tables show, the
predictions in original pixels, per-sample scores, and (for the COCO pipelines) the COCO-format
results that ``pycocotools.COCO.loadRes`` reads; for multi pose, ST's matches (``matches``, see
:func:`zoo_helpers.cards.multipose.evaluate`) for intervals of its mAP. Evaluators take model outputs, never models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

import zoo_helpers.evaluation.transforms as tf


@dataclass
class Batch:
    """Model inputs with what is needed to score them.

    Attributes
    ----------
    images
        ``(N, H, W, 3)`` uint8 model inputs.
    transforms
        One transform per sample, input pixels -> original pixels.
    ids
        The image id of each sample (several samples may share an image).
    truth
        The ground truth of each sample (a person, or the list of people of an image).
    skipped
        Images that could not be read, each with the file name and the reason.
    kind
        What a sample is (``person_crops``, ``st_subset``, ``images``, ``hand crops (palm)``, ...).
    found
        For crops made by a detector: whether it found the object (else the ground-truth crop was used).
    """

    images: np.ndarray
    transforms: list[tf.AnyTransform]
    ids: list[int]
    truth: list[Any]
    skipped: list[str] = field(default_factory=list)
    kind: str = ""
    found: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.images)
        if not len(self.transforms) == len(self.ids) == len(self.truth) == n:
            raise ValueError(f"a batch needs one transform, id and truth per image: {n} images, "
                             f"{len(self.transforms)} transforms, {len(self.ids)} ids, {len(self.truth)} truths")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_images(self) -> int:
        """How many distinct images the samples come from."""
        return len(set(self.ids))

    def subset(self, n: int) -> Batch:
        """The first ``n`` samples.

        Examples
        --------
        >>> t = tf.Transform((1.0, 1.0), (0.0, 0.0), (2, 2), (2, 2))
        >>> b = Batch(np.zeros((3, 2, 2, 3), np.uint8), [t] * 3, [1, 1, 2], ["a", "b", "c"])
        >>> len(b.subset(2)), b.subset(2).num_images
        (2, 1)
        """
        if n < 1:
            raise ValueError(f"a subset needs at least one sample, got {n}")
        found = None if self.found is None else self.found[:n]
        return Batch(self.images[:n], self.transforms[:n], self.ids[:n], self.truth[:n], self.skipped, self.kind, found)

    def to_original(self, xy: np.ndarray, normalized: bool = False) -> np.ndarray:
        """Map ``(N, ..., 2)`` per-sample input coordinates to original pixels (one batched call)."""
        return tf.to_original(self.transforms, xy, normalized)

    def to_input(self, xy: np.ndarray, normalized: bool = False) -> np.ndarray:
        """Map ``(N, ..., 2)`` original pixels into each sample's input (normalised when asked)."""
        return tf.to_input(self.transforms, xy, normalized)


@dataclass
class Evaluation:
    """What an evaluator returns: named metrics, predictions in original pixels and per-sample scores.

    ``num_samples`` counts the scored ground-truth objects (people, hands, faces), ``num_images`` the
    images they come from. ``coco_results`` is the COCO keypoint results list of the COCO pipelines.
    """

    metrics: dict[str, float]
    predictions: np.ndarray
    batch: Batch
    num_samples: int
    num_images: int
    per_sample: dict[str, np.ndarray] = field(default_factory=dict)
    coco_results: list[dict] | None = None
    detections: Any = None
    matches: dict[str, list] | None = None
