"""The runtime matrix of a chapter: each int8 file run by every CPU runtime that can run it, scored and compared.

A chapter's accuracy of an int8 file is the accuracy of *one runtime's* arithmetic on it. :func:`matrix` runs each
file of ``files`` with every engine of :func:`zoo_helpers.runtime.engines.for_file` on the first ``n`` samples
of a ``test`` part (:mod:`zoo_helpers.cards.protocol`), scores each run as the chapter scores it
(:func:`zoo_helpers.cards.loop.score`: the metric, its per-sample scores for intervals), keeps the outputs, and
compares every pair of runtimes of a file: the keypoints in the same output cell and within one cell
(:func:`zoo_helpers.evaluation.agreement.cells`), and the output difference in LSB of the output tensor
(:func:`zoo_helpers.runtime.divergence.output_steps`). The outputs are saved under ``workdir``
(``<file>.outputs.npz``, and the pairs as ``pairs.json``), so the comparison can be recomputed from them.

The layer-by-layer divergence tool, ``zoo-divergence MODEL IMAGES... --runtimes A B``, is
:mod:`zoo_helpers.cards.divergence_report`.

Its records go to ``<results_dir>/<notebook>_runtimes/``, each ``measured_on`` naming the runtime
(``host CPU, LiteRT reference kernels``), so no chapter table mistakes them for its default-runtime records.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import zoo_helpers.cards.loop as loop
from zoo_helpers.cards.protocol import DECODER_OF, Part, redecoded
from zoo_helpers.evaluation import agreement
from zoo_helpers.registry import catalog
from zoo_helpers.results import Record, Recorder
from zoo_helpers.runtime import divergence, engines
from zoo_helpers.runtime.tflm import TFLMError


@dataclass
class File:
    """One int8 file of the matrix: scored as catalog model ``key``, fed with ``rescale`` (its input domain)."""

    key: str
    path: Path
    rescale: tuple[float, float] | None = None


@dataclass
class Matrix:
    """What :func:`matrix` measured: ``records`` (one per file and runtime), ``pairs`` (one row per file and pair
    of runtimes), ``skipped`` (file and runtime -> why it could not run) and where the outputs were saved."""

    records: list[Record] = field(default_factory=list)
    pairs: list[dict] = field(default_factory=list)
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)
    samples: int = 0


def _own(recorder: Recorder) -> Recorder:
    """The recorder of a chapter's runtime records: ``<notebook>_runtimes``, the chapter's parameters and command."""
    return Recorder(f"{recorder.notebook}_runtimes", recorder.card, recorder.parameters, recorder.root,
                    command=recorder.command)


def published(key: str) -> File:
    """A catalog model's own file, with its input domain."""
    return File(key, catalog.path(key), catalog.entry(key).rescale)


def pairs_of(outputs: dict[str, dict[str, np.ndarray]], decoder: str, input_size: tuple[int, int],
             steps: dict[str, float | None]) -> list[dict]:
    """Every pair of runtimes (``A``, ``B``) of one file's outputs (runtime -> output name -> array): keypoints
    in the same cell and within one cell (B's against A's), each image's same-cell share (``per image``, for
    paired intervals), the largest output difference in LSB and that LSB (the step of the output that differs most).

    Examples
    --------
    >>> hm = np.zeros((1, 48, 48, 1), np.float32); hm[0, 10, 10, 0] = 1
    >>> moved = hm.copy(); moved[0, 10, 11, 0] = 2
    >>> row = pairs_of({"a": {"o": hm}, "b": {"o": moved}}, "heatmaps", (192, 192), {"o": 1 / 256})[0]
    >>> row["same cell (%)"], row["within one cell (%)"], row["max diff (LSB)"], row["output LSB"]
    (0.0, 100.0, 512.0, 0.00390625)
    """
    rows = []
    for a, b in itertools.combinations(outputs, 2):
        first = outputs[a]
        cell = agreement.cell_size(first, decoder, input_size)
        theirs, mine = (agreement.decoded(o, decoder, input_size) for o in (outputs[b], first))
        diffs = {n: divergence.lsb(first[n], outputs[b][n], steps.get(n)) for n in first}
        worst = max(diffs, key=lambda n: float(diffs[n].max()))
        rows.append({"A": a, "B": b, **agreement.cells(theirs, mine, decoder, cell),
                     "max diff (LSB)": float(diffs[worst].max()), "output LSB": steps.get(worst),
                     "outputs differ (%)": float(100 * np.mean(np.concatenate([d.ravel() > 0.5
                                                                               for d in diffs.values()]))),
                     "per image": [None if np.isnan(v) else float(v)
                                   for v in agreement.per_image(theirs, mine, decoder, cell)]})
    return rows


def classifier_matrix(files: dict[str, Path], x: np.ndarray, y: np.ndarray, recorder: Recorder,
                      workdir: str | os.PathLike[str], metric: str, key: str, data: dict[str, str],
                      groups: np.ndarray | None = None) -> Matrix:
    """:func:`matrix` for int8 classifiers fed arrays (the hand-posture ToF frames): each file (label -> path) with
    every runtime that takes it, on inputs ``x`` (real-valued, :meth:`~zoo_helpers.runtime.models.Model.predict_array`)
    with true classes ``y``. ``metric`` is the share of correct classes, kept per sample with its resampling unit
    ``groups`` (e.g. each frame's recording session); pairs give ``same class (%)`` and the output difference in LSB.
    """
    own = _own(recorder)
    out = Matrix(samples=len(y))
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    units = list(range(len(y))) if groups is None else [str(g) for g in groups]
    for label, path in files.items():
        kept: dict[str, dict[str, np.ndarray]] = {}
        for engine in engines.for_file(path):
            try:
                model = engines.load(path, engine)
            except TFLMError as exc:
                out.skipped[label, engine] = str(exc)
                continue
            kept[engine] = model.predict_array(x)
            correct = (next(iter(kept[engine].values())).argmax(-1) == np.asarray(y)).astype(float)
            out.records.append(own.add(key, f"{label} · {engine}", {metric: float(correct.mean())}, samples=len(y),
                                       images=len(set(units)), data=data, model=path, kind="frames",
                                       measured_on=f"host CPU, {engines.label(engine)}", split="test",
                                       per_sample={metric: correct}, sample_images=units))
        np.savez_compressed(workdir / f"{Path(path).stem}.outputs.npz",
                            **{f"{e}/{n}": v for e, o in kept.items() for n, v in o.items()})
        out.outputs[label] = workdir / f"{Path(path).stem}.outputs.npz"
        steps = divergence.output_steps(path)
        for a, b in itertools.combinations(kept, 2):
            same = (next(iter(kept[a].values())).argmax(-1) == next(iter(kept[b].values())).argmax(-1)) * 100.0
            diffs = {n: divergence.lsb(kept[a][n], kept[b][n], steps.get(n)) for n in kept[a]}
            worst = max(diffs, key=lambda n: float(diffs[n].max()))
            out.pairs.append({"file": label, "A": a, "B": b, "same class (%)": float(same.mean()),
                              "max diff (LSB)": float(diffs[worst].max()), "output LSB": steps.get(worst),
                              "outputs differ (%)": float(100 * np.mean(diffs[worst] > 0.5)),
                              "per image": same.tolist()})
    (workdir / "pairs.json").write_text(json.dumps(out.pairs, indent=1))
    return out


def chapter_files(made, key: str, labels: list[str], scored_as: str | None = None) -> dict[str, File]:
    """A chapter's files for :func:`matrix`: the published file of catalog model ``key``, the same file as tf2onnx's
    QDQ ONNX (``made.qdq_onnx``, when the recipes started from an int8 file: it runs on onnxruntime's two paths, as
    our files do, so the two can be compared runtime for runtime), and our files ``labels`` of
    :func:`zoo_helpers.quant.recipes.make`'s ``made``, scored as catalog model ``scored_as`` (default ``key``: the
    model the recipes started from, e.g. MediaPipe's float hand landmarks for ST's int8 file)."""
    files = {"published int8": published(key)}
    if made.qdq_onnx is not None and made.reference == "recovered float":
        files["published int8 (as QDQ ONNX)"] = File(key, Path(made.qdq_onnx), catalog.entry(key).rescale)
    for label in labels:
        files[label] = File(scored_as or key, Path(made.paths[label]), made.models[label].rescale)
    return files


def layer_comparisons(files: dict[str, File], images: np.ndarray) -> dict[str, list[dict]]:
    """:func:`layers` for each file on ``images`` (uint8, at the input size): a ``.tflite`` file LiteRT's built-in
    optimized kernels against its reference kernels, and TFLM against the reference kernels; a QDQ ONNX file
    onnxruntime with against without its graph optimizations. Named ``file: A vs B``."""
    pairs = {".tflite": [("litert_builtin", "litert_reference"), ("litert_reference", "tflm")],
             ".onnx": [("ort", "ort_unoptimized")]}
    out = {}
    for label, f in files.items():
        x = engines.load(f.path, engines.for_file(f.path)[0], f.rescale).prepare(images)
        for a, b in pairs[Path(f.path).suffix]:
            try:
                out[f"{label}: {a} vs {b}"] = layers(f.path, x, a, b)
            except TFLMError:
                continue  # a file TFLM cannot run: the matrix says why
    return out


def matrix(files: dict[str, File], part: Part, n: int, recorder: Recorder, workdir: str | os.PathLike[str],
           options: loop.Options | None = None, runtimes: list[str] | None = None,
           progress: bool = True) -> Matrix:
    """Run, score and compare every file of ``files`` (label -> :class:`File`) with every runtime that takes it.

    ``n`` samples of ``part`` (its first, 0 for all); ``runtimes`` limits the engines (default: all that take the
    file). A runtime that cannot run a file (TFLM without a kernel for one of its operators) is skipped with the
    reason. Outputs are saved under ``workdir``; records go beside the chapter's (see the module docstring).
    """
    from tqdm.auto import tqdm

    if part.split != "test" or part.coco is None and not part.labelled:
        raise ValueError(f"the runtime matrix is measured on a labelled test part, not {part.label!r}")
    options = options or loop.Options()
    batch = part.batch.subset(n) if n else part.batch
    own = _own(recorder)
    out = Matrix(samples=len(batch))
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    jobs = [(label, f, e) for label, f in files.items() for e in engines.for_file(f.path)
            if runtimes is None or e in runtimes]
    kept: dict[str, dict[str, dict[str, np.ndarray]]] = {label: {} for label in files}
    for label, f, engine in tqdm(jobs, desc="runtimes", disable=not progress, leave=False):
        try:
            model = engines.load(f.path, engine, f.rescale)
        except TFLMError as exc:
            out.skipped[label, engine] = str(exc)
            continue
        outputs = model.predict(batch.images)
        ev = loop.score(outputs, f.key, batch, part.coco, options)
        out.records.append(own.add_evaluation(f.key, f"{label} · {engine}", ev, part.data(), f.path,
                                              measured_on=f"host CPU, {engines.label(engine)}", split=part.split))
        kept[label][engine] = outputs
    for label, f in files.items():
        if not kept[label]:
            continue
        path = workdir / f"{Path(f.path).stem}.outputs.npz"
        np.savez_compressed(path, **{f"{e}/{name}": v for e, o in kept[label].items() for name, v in o.items()})
        out.outputs[label] = path
        size = engines.load(f.path, next(iter(kept[label])), f.rescale).input_size
        rows = pairs_of(kept[label], catalog.entry(f.key).decoder, size, divergence.output_steps(f.path))
        out.pairs += [{"file": label, **r} for r in rows]
    (workdir / "pairs.json").write_text(json.dumps(out.pairs, indent=1))
    return out


def decoders(f: File, part: Part, recorder: Recorder, options: loop.Options | None = None) -> list[Record]:
    """``f`` (with LiteRT's or onnxruntime's default path) on ``part`` as its mode decodes it and decoded by the
    other JPEG decoder (:func:`zoo_helpers.cards.protocol.redecoded`): one record each, the same samples, so their
    difference is paired. Variants are ``decoded by pillow`` / ``decoded by tensorflow``; records go beside the
    matrix's."""
    options = options or loop.Options()
    own = _own(recorder)
    mode = part.batch.kind.split(",")[0]
    mine = DECODER_OF.get(mode)
    if mine is None:
        raise ValueError(f"{part.label}: no decoder comparison for samples of kind {part.batch.kind!r}")
    model = engines.load(f.path, engines.for_file(f.path)[0], f.rescale)
    out = []
    for name, p in ((mine, part), *((d, redecoded(part, d)) for d in ("pillow", "tensorflow") if d != mine)):
        ev = loop.score(model.predict(p.batch.images), f.key, p.batch, p.coco, options)
        out.append(own.add_evaluation(f.key, f"decoded by {name}", ev, part.data(), f.path, split=part.split))
    return out


def load_outputs(path: str | os.PathLike[str]) -> dict[str, dict[str, np.ndarray]]:
    """A saved ``.outputs.npz`` back as runtime -> output name -> array."""
    found: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path) as data:
        for name in data.files:
            engine, output = name.split("/", 1)
            found.setdefault(engine, {})[output] = data[name]
    return found


def layers(path: str | os.PathLike[str], x: np.ndarray, a: str, b: str) -> list[dict]:
    """:func:`zoo_helpers.runtime.divergence.compare` of runtimes ``a`` and ``b`` on prepared samples ``x``
    (operator by operator, over all samples: the share that differ and the largest difference in LSB)."""
    rows: list[dict] = []
    for sample in x:
        one = divergence.compare(divergence.operator_outputs(path, sample[None], a),
                                 divergence.operator_outputs(path, sample[None], b))
        rows = one if not rows else [
            {**r, "differ (%)": r["differ (%)"] + o["differ (%)"], "max diff (LSB)": max(r["max diff (LSB)"],
                                                                                       o["max diff (LSB)"])}
            for r, o in zip(rows, one, strict=True)]
    return [{**r, "differ (%)": r["differ (%)"] / len(x)} for r in rows]
