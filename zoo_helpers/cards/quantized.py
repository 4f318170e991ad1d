"""Scoring a chapter's quantized models: the published files and every recipe, on labels and without them.

:func:`evaluate` scores the published int8 and float files and every model :func:`zoo_helpers.quant.recipes.make`
built on a chapter's labelled batch (through :mod:`zoo_helpers.cards.loop`), adds label-free agreement with the
float model on unlabelled images (:func:`agreement_with_reference`, :mod:`zoo_helpers.evaluation.agreement`),
each recipe's seconds and whether its calibration images are disjoint from the sample, and writes the records
that :mod:`zoo_helpers.book.recipe_table` renders.
"""

from __future__ import annotations

import numpy as np

import zoo_helpers.cards.loop as loop
from zoo_helpers.cards.landmarks import sample_files as landmark_files
from zoo_helpers.evaluation import agreement, photos
from zoo_helpers.quant.recipes import Made
from zoo_helpers.registry import catalog


def agreement_with_reference(models: dict, reference: str, images: np.ndarray, decoder: str,
                             min_score: float = 0.5, progress: bool = False) -> dict[str, float]:
    """Label-free agreement (%) of every model with ``models[reference]`` on uint8 ``images``.

    Keypoints the reference scores under ``min_score`` are not counted (:mod:`zoo_helpers.evaluation.agreement`).
    """
    size = models[reference].input_size
    found = {label: agreement.decoded(m.predict(images, progress=progress), decoder, size)
             for label, m in models.items()}
    return {label: agreement.compare(v, found[reference], decoder, min_score) for label, v in found.items()}


#: Metric names :func:`evaluate` adds to each record beside the chapter's metrics.
AGREEMENT, AGREEMENT_IMAGES, SECONDS = "agreement with float (%)", "agreement images (count)", "quantize (s)"
DISJOINT = "calibration disjoint from the sample (1 = yes)"


def evaluate(made: Made, published: dict, key: str | dict[str, str], batch, images: np.ndarray, coco=None,
             options=None, recorder=None, data: dict[str, str] | None = None, sample_files: list | None = None) -> dict:
    """Score the published models and every recipe on ``batch``, with label-free agreement on ``images``.

    ``key`` is the catalog key the models are scored as (one, or one per label: the reference's decodes).

    ``published`` are the card's own models by label (scored, and compared with the float reference, like
    the recipes). Each evaluation's metrics gain :data:`AGREEMENT`, :data:`AGREEMENT_IMAGES` and, for a
    recipe, :data:`SECONDS` and :data:`DISJOINT` (no calibration file has the content of one of the
    ``sample_files``, by default the images of ``batch``: COCO's, or those of its landmark samples); with a
    ``recorder`` each is written as a result record.
    """
    decoder = catalog.entry(key if isinstance(key, str) else key[made.reference]).decoder
    if sample_files is not None:
        files = sample_files
    elif coco is not None:
        files = [coco.image_path(i) for i in dict.fromkeys(batch.ids)]
    else:  # landmark samples know their dataset and image
        files = landmark_files(batch.truth)
    disjoint = float(photos.disjoint(made.calibration_files, files))
    models = {**published, **made.models}
    agree = agreement_with_reference(models, made.reference, images, decoder)
    evals = loop.evaluate_variants(models, key, batch, coco, options or loop.Options())
    for label, ev in evals.items():
        ev.metrics.update({AGREEMENT: agree[label], AGREEMENT_IMAGES: len(images)})
        if label in made.seconds:
            ev.metrics.update({SECONDS: made.seconds[label], DISJOINT: disjoint})
        if recorder is not None:
            k = key if isinstance(key, str) else key[label]
            recorder.add_evaluation(k, label, ev, data or coco.source(), models[label].path)
    return evals
