"""Scoring a chapter's quantized models: the published files and every recipe, on labels and without them.

:func:`evaluate` scores the published int8 and float files and every model :func:`zoo_helpers.quant.recipes.make`
built on a chapter's labelled batch (through :mod:`zoo_helpers.cards.loop`), adds label-free agreement with the
float model on unlabelled images (:func:`agreement_with_reference`, :mod:`zoo_helpers.evaluation.agreement`),
each recipe's seconds and whether its calibration images are disjoint from the sample, and writes the records
that :mod:`zoo_helpers.book.recipe_table` renders. :func:`evaluate_parts` does the same on the protocol's parts
(:mod:`zoo_helpers.cards.protocol`): every model runs once on each part; the ``dev`` part's outputs give both its
labelled scores and the label-free agreement, so a choice made by either never sees a ``test`` image.
"""

from __future__ import annotations

import numpy as np

import zoo_helpers.cards.loop as loop
from zoo_helpers.cards.landmarks import sample_files as landmark_files
from zoo_helpers.cards.protocol import Part
from zoo_helpers.evaluation import agreement, photos
from zoo_helpers.evaluation.batches import Evaluation
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
        ev.metrics.update(_beside(label, made, agree, len(images), disjoint))
        if recorder is not None:
            k = key if isinstance(key, str) else key[label]
            recorder.add_evaluation(k, label, ev, data or coco.source(), models[label].path)
    return evals


def evaluate_parts(made: Made, published: dict, key: str | dict[str, str], parts: dict[str, Part],
                   options=None, recorder=None, agreement_parts: list[str] | None = None,
                   progress: bool = True) -> dict[str, dict[str, Evaluation]]:
    """Score the published models and every recipe on each of ``parts``, with agreement on the ``dev`` parts.

    Each model runs once per part (batched where it can be, :meth:`zoo_helpers.runtime.models.Model.predict`); a part
    that is not ``labelled`` gives the agreement alone (one record per model, no evaluation).
    The label-free agreement with ``made.reference`` is measured on ``agreement_parts`` together (by default every
    ``dev`` part; never a ``test`` one) from the same outputs their labels are scored on, and added to every record
    of the model (:data:`AGREEMENT`, :data:`AGREEMENT_IMAGES`), with, for a recipe, :data:`SECONDS` and
    :data:`DISJOINT` (no calibration file has the content of an image of any part). Returns the evaluations by
    part label, then model label; with a ``recorder`` each is a record with its part's ``split`` and kind.
    """
    from tqdm.auto import tqdm

    chosen = agreement_parts or [label for label, p in parts.items() if p.split == "dev"]
    if not chosen or any(parts[label].split != "dev" for label in chosen):
        raise ValueError(f"label-free agreement runs on dev parts (parts: {list(parts)}), never on test")
    models = {**published, **made.models}
    keys = {label: key if isinstance(key, str) else key[label] for label in models}
    decoder = catalog.entry(keys[made.reference]).decoder
    disjoint = float(photos.disjoint(made.calibration_files, [f for p in parts.values() for f in p.files()]))
    order = [*chosen, *[label for label in parts if label not in chosen]]
    evals: dict[str, dict[str, Evaluation]] = {label: {} for label in order}
    found: dict[str, list] = {label: [] for label in models}
    with tqdm(total=len(order) * len(models), desc="models x parts", disable=not progress) as bar:
        for part_label in order:
            part = parts[part_label]
            for label, model in models.items():
                outputs = model.predict(part.batch.images)
                if part.labelled:
                    evals[part_label][label] = loop.score(outputs, keys[label], part.batch, part.coco,
                                                          options or loop.Options())
                if part_label in chosen:
                    found[label].append(agreement.decoded(outputs, decoder, model.input_size))
                bar.update()
    joined = {label: _joined(v) for label, v in found.items()}
    agree = {label: agreement.compare(v, joined[made.reference], decoder) for label, v in joined.items()}
    n_agree = sum(len(parts[label].batch) for label in chosen)
    for part in (parts[label] for label in chosen if recorder is not None and not parts[label].labelled):
        for label in models:  # an unlabelled part's records hold the agreement alone, where a choice reads it
            recorder.add(keys[label], label, _beside(label, made, agree, n_agree, disjoint),
                         samples=len(part.batch), images=part.batch.num_images, data=part.data(),
                         model=models[label].path, kind=part.batch.kind, split=part.split)
    for part_label in order:
        for label, ev in evals[part_label].items():
            ev.metrics.update(_beside(label, made, agree, n_agree, disjoint))
            if recorder is not None:
                part = parts[part_label]
                recorder.add_evaluation(keys[label], label, ev, part.data(), models[label].path, split=part.split)
    return {label: evals[label] for label in parts}


def _beside(label: str, made: Made, agree: dict[str, float], images: int, disjoint: float) -> dict[str, float]:
    """The metrics a record of ``label`` gains beside the chapter's: its agreement and on how many images, and for a
    recipe its seconds and whether its calibration is disjoint from the evaluated images."""
    out = {AGREEMENT: agree[label], AGREEMENT_IMAGES: images}
    return out | ({SECONDS: made.seconds[label], DISJOINT: disjoint} if label in made.seconds else {})


def _joined(decoded: list):
    """Decoded outputs of several parts as one (arrays, or tuples of arrays, joined along the sample axis)."""
    if isinstance(decoded[0], tuple):
        return tuple(np.concatenate(items) for items in zip(*decoded, strict=True))
    return np.concatenate(decoded)
