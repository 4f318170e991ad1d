"""The quantization recipes of ``zoo_helpers/data/recipes.yaml``: what each one does, and choosing them.

A :class:`Recipe` names an engine (onnxruntime, NNCF or TFLite's converter), a weight granularity, a calibration
method and the steps before quantization (cross-layer equalization, through branches or not, high-bias absorption, MSE
weight scale search) and NNCF's bias correction. :func:`select` reads a chapter's ``quant_recipes``
parameter; :func:`without_cle` gives a recipe's twin without equalization (for graphs with nothing to
equalize); :func:`by_label` and :func:`granularity` read records, which name recipes by label.

:func:`make` recovers the float graph of a model once and builds every chosen recipe from the same calibration
images (never the evaluation sample: :mod:`zoo_helpers.evaluation.photos`), timing each: onnxruntime's
``quantize_static`` (MinMax, percentile or entropy calibration, :mod:`zoo_helpers.quant.ortquant`), NNCF's
``nncf.quantize`` with fast or full bias correction (:mod:`zoo_helpers.quant.nncfquant`), after our
equalization (:mod:`zoo_helpers.quant.equalize`, :mod:`zoo_helpers.quant.branches`) and MSE weight scale
search (:mod:`zoo_helpers.quant.scalesearch`), which no usable library does for ONNX here. Every recipe of a
model file writes a QDQ ONNX file that ST Edge AI compiles; a Keras model (the hand-posture CNN) takes the
``tflite`` recipes, TFLite's converter (:mod:`zoo_helpers.quant.kerasquant`), and gives an int8 ``.tflite``.
:mod:`zoo_helpers.cards.quantized` scores what was made.

Examples
--------
>>> [r.key for r in select("default")]  # doctest: +NORMALIZE_WHITESPACE
['minmax_pc', 'nncf_pc', 'minmax_pt', 'cle_pt', 'cle_percentile_pt', 'nncf_cle_pt', 'nncf_cle_mse_pt',
 'tflite_pc', 'tflite_pt']
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

import zoo_helpers.quant.equalize as equalize
import zoo_helpers.quant.kerasquant as kerasquant
import zoo_helpers.quant.nncfquant as nncfquant
import zoo_helpers.quant.ortquant as ortquant
import zoo_helpers.quant.recover as recover
import zoo_helpers.quant.scalesearch as scalesearch
from zoo_helpers.runtime.models import Model, load_model

GRANULARITIES = ("per-channel", "per-tensor")
#: Each engine, as the recipe table names it (``tflite`` quantizes Keras models, the others ONNX graphs).
ENGINES = {"onnxruntime": "onnxruntime {calibration}", "nncf": "NNCF min-max", "tflite": "TFLite converter min-max"}


@dataclass(frozen=True)
class Recipe:
    """One recipe of ``data/recipes.yaml`` (see the file's header for the fields)."""

    key: str
    label: str
    granularity: str
    engine: str
    calibration: str
    cle: bool
    bias_correction: str
    default: bool
    scale_search: bool = False
    bias_absorption: bool = False
    branches: bool = False

    @property
    def summary(self) -> str:
        """What the recipe does, in a few words (for tables)."""
        steps = ["CLE" + (" through branches" if self.branches else "")
                 + (" + high-bias absorption" if self.bias_absorption else "")] if self.cle else []
        steps += ["MSE weight scale search"] if self.scale_search else []
        steps.append(ENGINES[self.engine].format(calibration=self.calibration))
        if self.bias_correction != "none":
            steps.append(f"{self.bias_correction} bias correction")
        return ", ".join(steps)


@functools.cache
def load() -> dict[str, Recipe]:
    """Every recipe by key, in the file's order."""
    import yaml

    path = Path(__file__).parents[1] / "data" / "recipes.yaml"
    raw = yaml.safe_load(path.read_text())["recipes"]
    out = {k: Recipe(k, **v) for k, v in raw.items()}
    for r in out.values():
        if r.granularity not in GRANULARITIES or r.engine not in ENGINES:
            raise ValueError(f"{path}: recipe {r.key} has granularity {r.granularity!r}, engine {r.engine!r}")
        if r.scale_search and r.granularity != "per-tensor":
            raise ValueError(f"{path}: recipe {r.key}: the scale search is for per-tensor weights")
        if (r.bias_absorption or r.branches) and not r.cle:
            raise ValueError(f"{path}: recipe {r.key}: absorption and branches are part of equalization (cle: true)")
    return out


def select(names: str) -> list[Recipe]:
    """Recipes from a chapter's ``recipes`` parameter: ``default``, ``all`` or keys separated by commas (spaces
    around them are ignored)."""
    if not isinstance(names, str):
        raise ValueError(f"recipes={names!r}: give text, 'default', 'all' or keys separated by commas, not a "
                         f"{type(names).__name__}")
    names = names.strip()
    recipes = load()
    if names == "all":
        return list(recipes.values())
    if names == "default":
        return [r for r in recipes.values() if r.default]
    keys = [k.strip() for k in names.split(",") if k.strip()]
    unknown = [k for k in keys if k not in recipes]
    if unknown or not keys:
        raise ValueError(f"recipes={names!r}: unknown {unknown}; use 'default', 'all' or some of {list(recipes)}")
    return [recipes[k] for k in keys]



def without_cle(r: Recipe) -> Recipe:
    """The recipe without equalization: the file's own twin when it has one, else the same steps renamed."""
    if not r.cle:
        return r
    key = (r.granularity, r.engine, r.calibration, r.bias_correction, r.scale_search)
    same = [t for t in load().values() if not t.cle and (t.granularity, t.engine, t.calibration, t.bias_correction,
                                                          t.scale_search) == key]
    if same:
        return same[0]
    return replace(r, key=r.key.replace("cle_", "").replace("_hba", "").replace("br_", ""), cle=False,
                   bias_absorption=False, branches=False, label=r.label.replace(" through branches", "").replace(
                       " + CLE", "").replace(" + high-bias absorption", ""))


def by_label() -> dict[str, Recipe]:
    """Every recipe and every twin :func:`without_cle` can make, by label (records name recipes by label)."""
    recipes = list(load().values())
    return {r.label: r for r in [*map(without_cle, recipes), *recipes]}


def granularity(label: str) -> str:
    """A record's granularity from its variant label: the recipe's, else ``float`` or ``published``."""
    recipe = by_label().get(label)
    return recipe.granularity if recipe else ("float" if "float" in label else "published")


@dataclass
class Made:
    """What :func:`make` built: models, files and seconds by label, the reference label, the CLE summary.

    ``equalization`` is :func:`zoo_helpers.quant.equalize.equalize`'s summary of the equalized float graph (its
    ``path`` included), made whatever the recipes, so a chapter can show what equalization did;
    ``float_onnx`` is the float graph every recipe starts from (ONNX, also for a float TFLite source);
    ``absorption`` the summary of the equalized graph with high biases absorbed, when a recipe asked for it;
    ``sources`` the float graph each recipe's file computes the same function as (plain, equalized pairwise or
    through branches, with absorbed biases), its reference for per-tensor SQNR
    (:func:`zoo_helpers.quant.debug.layer_sqnr`); a weight scale search is part of the quantization, so its
    clipped graph is not a source. ``qdq_onnx`` is tf2onnx's QDQ ONNX of the source file (``None`` for a Keras
    source): the published arithmetic as onnxruntime runs it, to compare with the recipes' files runtime for runtime.
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
    sources: dict[str, Path] = field(default_factory=dict)
    qdq_onnx: Path | None = None


def make(source, workdir: str | os.PathLike[str], calibration, recipes: str | list[Recipe],
         num_threads: int = 2, progress: bool = True) -> Made:
    """Build each recipe's int8 file from ``source``'s float graph and the ``calibration`` images.

    ``calibration`` is a :class:`zoo_helpers.evaluation.photos.Images` (uint8 images and their files, kept in
    ``Made.calibration_files`` for :func:`~zoo_helpers.cards.quantized.evaluate`'s disjointness check);
    ``recipes`` are recipes or a chapter's ``quant_recipes`` parameter (:func:`select`).

    ``source`` is a :class:`zoo_helpers.runtime.models.Model`, or a Keras model (the hand-posture CNN trained
    in its chapter, quantized by TFLite's converter: the ``tflite`` recipes, ``calibration`` then an array of
    model inputs, the Keras model the reference ``float (Keras)``). For an int8 file the float graph is its weights
    dequantized (label ``recovered float``); a float file (MediaPipe's) is its own reference
    (``published float``). Seconds are each recipe's own quantization time plus the time of the graphs it
    starts from (equalization, absorption, scale search: built once, counted in every recipe that uses
    them). On a graph with no equalizable pair (YOLOv8's SiLU everywhere) a CLE recipe would make the same
    file as its plain twin, so the twin is made instead, under its own name.
    """
    import onnx
    from tqdm.auto import tqdm

    workdir = Path(workdir)
    keras = _is_keras(source)
    recipes = applicable(recipes, keras)
    if keras:
        return _make_keras(source, workdir, calibration, recipes, num_threads)
    graph = recover.float_graph(source.path, workdir)
    # an int8 file (even one with a float input, as Google's MoveNet) has dequantized weights to recover
    int8 = any(n.op_type == "DequantizeLinear" for n in onnx.load(str(graph["qdq"])).graph.node)
    rescale = recover.float_input_rescale(source) if source.inputs[0].quantized else (source.rescale or (1.0, 0.0))
    made = Made(reference="recovered float" if int8 else "published float", float_onnx=graph["float"],
                qdq_onnx=graph["qdq"])
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
        made.sources[r.label] = Path(src)
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
            ortquant.quantize_onnx(src, out, calib, per_channel, method=r.calibration)
        made.seconds[r.label] = time.perf_counter() - start + extra
        made.paths[r.label], made.recipes[r.label] = out, r
        made.models[r.label] = load_model(out, num_threads=num_threads, rescale=rescale)
    return made


def _is_keras(source) -> bool:
    return not isinstance(source, Model) and hasattr(source, "layers")


def applicable(recipes: str | list[Recipe], keras: bool) -> list[Recipe]:
    """The chosen recipes that fit the source: ``tflite`` for a Keras model, the ONNX engines for a file.

    ``default`` and ``all`` keep the recipes that fit; a recipe named explicitly that does not fit is an error.

    Examples
    --------
    >>> [r.key for r in applicable("default", keras=True)]
    ['tflite_pc', 'tflite_pt']
    >>> applicable("minmax_pc", keras=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: recipes ['minmax_pc'] do not apply to a Keras model (TFLite converter: engine tflite); ...
    """
    chosen = select(recipes) if isinstance(recipes, str) else list(recipes)
    fits = [r for r in chosen if (r.engine == "tflite") == keras]
    wrong = [r.key for r in chosen if r not in fits]
    kind = "a Keras model (TFLite converter: engine tflite)" if keras else "a model file (engines onnxruntime, nncf)"
    if not fits or (wrong and not (isinstance(recipes, str) and recipes.strip() in ("all", "default"))):
        raise ValueError(f"recipes {wrong or [r.key for r in chosen]} do not apply to {kind}; those that do: "
                         f"{[r.key for r in load().values() if (r.engine == 'tflite') == keras]}")
    return fits


def _make_keras(model, workdir: Path, calibration, recipes: list[Recipe], num_threads: int) -> Made:
    """:func:`make` for a Keras model: one full-integer int8 ``.tflite`` per recipe, from real inputs."""
    workdir.mkdir(parents=True, exist_ok=True)
    made = Made(reference="float (Keras)")
    made.models[made.reference] = model
    calib = np.asarray(calibration, np.float32)
    for r in recipes:
        start = time.perf_counter()
        out = kerasquant.keras_to_int8_tflite(model, calib, workdir / f"keras_{r.key}.tflite",
                                              r.granularity == "per-channel")
        made.seconds[r.label] = time.perf_counter() - start
        made.paths[r.label], made.recipes[r.label] = out, r
        made.models[r.label] = load_model(out, num_threads=num_threads)
    return made
