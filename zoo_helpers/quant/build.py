"""Quantization recipes: several ways from a float graph to int8, each a deployable file, measured side by side.

A recipe (``zoo_helpers/data/recipes.yaml``) names an engine, a weight granularity, a calibration method, and
whether cross-layer equalization and bias correction come first: onnxruntime's ``quantize_static``
(MinMax, percentile or entropy calibration, :mod:`zoo_helpers.quant.onnxquant`), NNCF's ``nncf.quantize``
with fast or full bias correction (:mod:`zoo_helpers.quant.nncfquant`), and our equalization
(:mod:`zoo_helpers.quant.equalize`) and MSE weight scale search (:mod:`zoo_helpers.quant.scalesearch`), which no
usable library does for ONNX here. Every recipe writes a QDQ ONNX file that ST Edge AI compiles.

:func:`make` recovers the float graph of a catalog model once, builds every recipe from the same
calibration images (never the evaluation sample: :mod:`zoo_helpers.evaluation.photos`) and times each;
:func:`agreement` measures label-free agreement with the float model on unlabelled images
(:mod:`zoo_helpers.evaluation.agreement`); :func:`evaluate` scores them all on a labelled batch and records them;
:mod:`zoo_helpers.book.recipe_table` renders the recipes' table and the goals (:func:`table`, :func:`goals`).

Examples
--------
>>> [r.key for r in select("default")]
['minmax_pc', 'nncf_pc', 'minmax_pt', 'cle_pt', 'cle_percentile_pt', 'nncf_cle_pt', 'nncf_cle_mse_pt']
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo_helpers.quant.recipes import GRANULARITIES, Recipe, load, select, without_cle  # noqa: F401 - re-exported


@dataclass
class Made:
    """What :func:`make` built: models, files and seconds by label, the reference label, the CLE summary.

    ``equalization`` is :func:`zoo_helpers.quant.equalize.equalize`'s summary of the equalized float graph (its
    ``path`` included), made whatever the recipes, so a chapter can show what equalization did;
    ``float_onnx`` is the float graph every recipe starts from (ONNX, also for a float TFLite source);
    ``absorption`` the summary of the equalized graph with high biases absorbed, when a recipe asked for it.
    """

    models: dict = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    recipes: dict[str, Recipe] = field(default_factory=dict)
    reference: str = ""
    equalization: dict | None = None
    calibration_files: list[Path] = field(default_factory=list)
    float_onnx: Path | None = None
    absorption: dict | None = None


def make(source, workdir: str | os.PathLike[str], calibration, recipes: str | list[Recipe],
         num_threads: int = 2, progress: bool = True) -> Made:
    """Build each recipe's int8 file from ``source``'s float graph and the ``calibration`` images.

    ``calibration`` is a :class:`zoo_helpers.evaluation.photos.Images` (uint8 images and their files, kept in
    ``Made.calibration_files`` for :func:`evaluate`'s disjointness check); ``recipes`` are recipes or a
    chapter's ``quant_recipes`` parameter (:func:`select`).

    ``source`` is a :class:`zoo_helpers.runtime.models.Model`: for an int8 file the float graph is its weights
    dequantized (label ``recovered float``); a float file (MediaPipe's) is its own reference
    (``published float``). Seconds are each recipe's own quantization time plus the time of the graphs it
    starts from (equalization, absorption, scale search: built once, counted in every recipe that uses
    them). On a graph with no equalizable pair (YOLOv8's SiLU everywhere) a CLE recipe would make the same
    file as its plain twin, so the twin is made instead, under its own name.
    """
    import onnx
    from tqdm.auto import tqdm

    from zoo_helpers.quant import equalize, nncfquant, onnxquant, scalesearch
    from zoo_helpers.runtime.models import load_model

    workdir = Path(workdir)
    recipes = select(recipes) if isinstance(recipes, str) else recipes
    graph = onnxquant.float_graph(source.path, workdir)
    # an int8 file (even one with a float input, as Google's MoveNet) has dequantized weights to recover
    int8 = any(n.op_type == "DequantizeLinear" for n in onnx.load(str(graph["qdq"])).graph.node)
    rescale = onnxquant.float_input_rescale(source) if source.inputs[0].quantized else (source.rescale or (1.0, 0.0))
    made = Made(reference="recovered float" if int8 else "published float", float_onnx=graph["float"])
    float_model = load_model(graph["float"], num_threads=num_threads, rescale=rescale)
    made.models[made.reference] = float_model if int8 else source
    made.paths[made.reference] = graph["float"] if int8 else Path(source.path)
    calib = float_model.prepare(np.asarray(calibration.images)).astype(np.float32)
    made.calibration_files = list(calibration.files)
    stem = Path(source.path).stem
    start = time.perf_counter()  # equalized once (also to show its effect), its time added to each CLE recipe
    made.equalization = equalize.equalize(graph["float"], workdir / f"{stem}_float_cle.onnx")
    cle_seconds = time.perf_counter() - start
    derived: dict[str, tuple[Path, float]] = {}  # graphs made once for several recipes, with their seconds

    def once(name: str, build) -> tuple[Path, float]:
        if name not in derived:
            begin = time.perf_counter()
            derived[name] = (build(), time.perf_counter() - begin)
        return derived[name]

    def absorb() -> Path:
        made.absorption = equalize.equalize(graph["float"], workdir / f"{stem}_float_hba.onnx", calibration=calib)
        return made.absorption["path"]

    if made.equalization["pairs"] == 0:  # nothing to equalize: a CLE recipe is its plain twin, named as such
        recipes = list(dict.fromkeys(without_cle(r) for r in recipes))
    for r in tqdm(recipes, desc="recipes", disable=not progress, leave=False):
        src, extra = (made.equalization["path"], cle_seconds) if r.cle else (graph["float"], 0.0)
        if r.bias_absorption:  # equalizes again with absorption: its own time replaces the CLE time
            src, extra = once("hba", absorb)
        elif r.branches:
            src, extra = once("branches", lambda: equalize.equalize(
                graph["float"], workdir / f"{stem}_float_cle_br.onnx", branches=True)["path"])
        if r.scale_search:
            src, seconds = once(f"mse {src}", lambda s=src: scalesearch.clip_weights(
                s, workdir / f"{Path(s).stem}_mse.onnx")["path"])
            extra += seconds
        start = time.perf_counter()
        out = workdir / f"{stem}_{r.key}.onnx"
        per_channel = r.granularity == "per-channel"
        if r.engine == "nncf":
            nncfquant.quantize(src, out, calib, per_channel, r.bias_correction)
        else:
            onnxquant.quantize_onnx(src, out, calib, per_channel, method=r.calibration)
        made.seconds[r.label] = time.perf_counter() - start + extra
        made.paths[r.label], made.recipes[r.label] = out, r
        made.models[r.label] = load_model(out, num_threads=num_threads, rescale=rescale)
    return made


def agreement(models: dict, reference: str, images: np.ndarray, decoder: str, min_score: float = 0.5,
              progress: bool = False) -> dict[str, float]:
    """Label-free agreement (%) of every model with ``models[reference]`` on uint8 ``images``.

    Keypoints the reference scores under ``min_score`` are not counted (:mod:`zoo_helpers.evaluation.agreement`).
    """
    from zoo_helpers.evaluation import agreement

    size = models[reference].input_size
    found = {label: agreement.decoded(m.predict(images, progress=progress), decoder, size)
             for label, m in models.items()}
    ref = found[reference]
    if decoder == "yolo_pose":
        return {label: agreement.detection_agreement(*v, *ref, min_score=min_score) for label, v in found.items()}
    return {label: agreement.keypoint_agreement(v, ref, min_score=min_score) for label, v in found.items()}


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
    from zoo_helpers.registry import catalog
    from zoo_helpers.evaluation import photos
    from zoo_helpers.cards import loop

    decoder = catalog.entry(key if isinstance(key, str) else key[made.reference]).decoder
    if sample_files is not None:
        files = sample_files
    elif coco is not None:
        files = [coco.image_path(i) for i in dict.fromkeys(batch.ids)]
    else:  # landmark samples know their dataset and image
        from zoo_helpers.cards.landmarks import sample_files as landmark_files

        files = landmark_files(batch.truth)
    disjoint = float(photos.disjoint(made.calibration_files, files))
    models = {**published, **made.models}
    agree = agreement(models, made.reference, images, decoder)
    evals = loop.evaluate_variants(models, key, batch, coco, options or loop.Options())
    for label, ev in evals.items():
        ev.metrics.update({AGREEMENT: agree[label], AGREEMENT_IMAGES: len(images)})
        if label in made.seconds:
            ev.metrics.update({SECONDS: made.seconds[label], DISJOINT: disjoint})
        if recorder is not None:
            k = key if isinstance(key, str) else key[label]
            recorder.add_evaluation(k, label, ev, data or coco.source(), models[label].path)
    return evals


def layer_sqnr(made: Made, labels: list[str], inputs: np.ndarray):
    """Per-tensor SQNR (dB) of each of ``labels`` (those made) against its float graph, as a table.

    A recipe with CLE is compared with the equalized float graph (the same function, but every tensor
    between a pair rescaled per channel; with high-bias absorption also shifted), the others with the
    float reference. Pass images that did not calibrate: absorption is exact on the calibration images.

    ``inputs`` are uint8 images (prepared for the float graph here); see
    :func:`zoo_helpers.quant.debug.onnx_tensor_sqnr`.
    """
    import pandas as pd

    from zoo_helpers.quant.debug import onnx_tensor_sqnr

    x = made.models[made.reference].prepare(inputs)

    def reference(label: str):  # an equalized model's tensors are rescaled per channel: compare with its own float
        recipe = made.recipes.get(label)
        if recipe is not None and recipe.bias_absorption:
            return made.absorption["path"]
        return made.equalization["path"] if recipe is not None and recipe.cle else made.float_onnx

    return pd.DataFrame({label: onnx_tensor_sqnr(reference(label), made.paths[label], x)
                         for label in dict.fromkeys(labels) if label in made.paths})


def table(records: list, metric: str):
    """The recipes' table of a chapter: :func:`zoo_helpers.book.recipe_table.table` (rendering lives there)."""
    from zoo_helpers.book import recipe_table
    return recipe_table.table(records, metric)


def goals(records: list, metric: str):
    """The Quantize goals checked on a chapter's records: :func:`zoo_helpers.book.recipe_table.goals`."""
    from zoo_helpers.book import recipe_table
    return recipe_table.goals(records, metric)


def best(records: list, metric: str, granularity: str) -> str:
    """Our best recipe of a granularity on ``metric``: :func:`zoo_helpers.book.recipe_table.best`."""
    from zoo_helpers.book import recipe_table
    return recipe_table.best(records, metric, granularity)
