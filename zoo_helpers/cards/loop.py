"""Card pipelines: prepare a batch for a catalog model, score its outputs, and one loop over catalog models.

The pieces (:mod:`~zoo_helpers.cards.singlepose`, :mod:`~zoo_helpers.cards.multipose`,
:mod:`~zoo_helpers.cards.landmarks`)
know batches and outputs; this module combines them with the catalog, so a chapter says *which* model and
*which* data and gets an :class:`~zoo_helpers.evaluation.batches.Evaluation` back:

* :func:`prepare` builds the batch a COCO model needs (person crops or ST's subset for single pose, whole
  images for YOLOv8n-pose), :func:`score` scores any catalog model's outputs on its batch (the decoder
  named by the catalog, the keypoint layout of the model), :func:`evaluate` does both for one model;
* :func:`evaluate_catalog` runs several COCO models on the same data, preparing each batch once per input
  size and kind, skipping the models whose file would need a download, each loaded with its input domain;
  :func:`evaluate_variants` runs several variants of one model (published, float, re-quantized) on one
  batch. Both write a result record of every evaluation when given a :class:`~zoo_helpers.results.Recorder`;
* :func:`evaluate_or_reuse` takes the chapters' records where :func:`why_not_reused` finds nothing against them
  (model file, data, options, code id, a finite metric) and measures the others, saying why each was not reused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

import zoo_helpers.cards.landmarks as landmarks
import zoo_helpers.cards.multipose as multipose
import zoo_helpers.cards.singlepose as singlepose
from zoo_helpers import results, runtime
from zoo_helpers.evaluation import codecs, datasets
from zoo_helpers.evaluation.batches import Batch, Evaluation
from zoo_helpers.registry import assets, catalog, published
from zoo_helpers.results import ANALYSIS, ANALYSIS_KIND, TFLM_ARENA, Record, Recorder
from zoo_helpers.runtime.footprint import analyze
from zoo_helpers.runtime.models import measure_latency
from zoo_helpers.runtime.tflm import TFLMError, arena


@dataclass(frozen=True)
class Options:
    """How COCO models are fed and scored (the chapters' parameters of the same names).

    ``sample_mode`` (single pose): ``person_crops`` or ``st_subset``; ``resize_mode`` (multi pose): ``fit``
    or ``padding``; ``limit``: at most this many people (single pose) or images (multi pose), ``None`` for
    all; ``heatmap_mode``: ``st`` or ``subpixel``; the NMS settings are the card's evaluation settings.
    """

    sample_mode: str = "person_crops"
    resize_mode: str = "fit"
    limit: int | None = None
    heatmap_mode: str = "st"
    nms_iou: float = 0.1
    score_threshold: float = 0.001
    max_detections: int = 100

    def __post_init__(self) -> None:
        if self.sample_mode not in singlepose.SAMPLE_MODES:
            raise ValueError(f"sample_mode={self.sample_mode!r}; use one of {singlepose.SAMPLE_MODES}")
        if self.resize_mode not in ("fit", "padding"):
            raise ValueError(f"resize_mode={self.resize_mode!r}; use 'fit' or 'padding'")
        if self.heatmap_mode not in ("st", "subpixel"):
            raise ValueError(f"heatmap_mode={self.heatmap_mode!r}; use 'st' or 'subpixel'")
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise ValueError(f"limit={self.limit!r}; use a positive number, or 0 / None for all")


def describe(batch: Batch) -> str:
    """One line on what a batch holds: samples, images, kind and the unreadable files it skipped.

    Examples
    --------
    >>> describe(prepare("movenet_lightning_192", datasets.load_coco(), (192, 192)))
    '12 samples from 4 images (person_crops); skipped: none'
    """
    skipped = "; ".join(batch.skipped) if batch.skipped else "none"
    return f"{len(batch)} samples from {batch.num_images} images ({batch.kind}); skipped: {skipped}"


def _kind(entry: catalog.Entry) -> str:
    task = codecs.codec(entry.decoder).task
    if task not in ("single pose", "multi pose"):
        raise ValueError(f"{entry.key} ({entry.decoder}) is not a COCO person model; its chapter builds its batch")
    return task.split()[0]


def prepare(key: str, coco: datasets.CocoKeypoints, size: tuple[int, int], options: Options = Options(),
            progress: bool = False) -> Batch:
    """The batch a COCO catalog model is scored on, at input ``size``.

    Examples
    --------
    >>> coco = datasets.load_coco()
    >>> len(prepare("yolov8n_pose_256_pc", coco, (256, 256)))
    4
    """
    if _kind(catalog.entry(key)) == "multi":
        return multipose.prepare_images(coco, size, options.resize_mode, options.limit)
    return singlepose.prepare_samples(coco, size, options.sample_mode, options.limit, progress)


def score(outputs: dict, key: str, batch: Batch, coco: datasets.CocoKeypoints | None = None,
          options: Options = Options()) -> Evaluation:
    """Score a catalog model's ``outputs`` (by output name) for ``batch``, with the model's decoder and layout."""
    e = catalog.entry(key)
    task = codecs.codec(e.decoder).task
    if task not in SCORERS:
        raise ValueError(f"{key} has decoder {e.decoder!r}, which has no landmark or keypoint score")
    return SCORERS[task](outputs, e, batch, coco, options)


def _single(outputs: dict, e: catalog.Entry, batch: Batch, coco, options: Options) -> Evaluation:
    decoded = singlepose.decode(outputs, e.decoder, options.heatmap_mode)
    return singlepose.evaluate(decoded, batch, _need(coco), e.keypoints)


def _multi(outputs: dict, e: catalog.Entry, batch: Batch, coco, options: Options) -> Evaluation:
    dets = multipose.detect(next(iter(outputs.values())), batch, options.nms_iou, options.score_threshold,
                            options.max_detections)
    return multipose.evaluate(dets, batch, _need(coco), layout=e.keypoints)


#: The evaluation of each codec task (:data:`zoo_helpers.evaluation.codecs.CODECS`).
SCORERS = {"single pose": _single, "multi pose": _multi,
           "hand": lambda outputs, e, batch, coco, options: landmarks.hand_scores(outputs, batch),
           "face": lambda outputs, e, batch, coco, options: landmarks.face_scores(outputs, batch)}


def detect(model, batch: Batch, iou_threshold: float, score_threshold: float, max_detections: int = 20):
    """A YOLO-pose model's detections on ``batch`` with display thresholds (not the card's evaluation ones)."""
    return multipose.detect(model.predict_one(batch.images), batch, iou_threshold, score_threshold, max_detections)


def _need(coco):
    if coco is None:
        raise ValueError("COCO models are scored against a COCO keypoints set: pass coco")
    return coco


def evaluate(model, key: str, batch: Batch, coco: datasets.CocoKeypoints | None = None,
             options: Options = Options()) -> Evaluation:
    """Run ``model`` (the catalog model ``key``, or a re-quantized variant of it) on ``batch`` and score it."""
    return score(model.predict(batch.images), key, batch, coco, options)


def evaluate_variants(models: dict, key: str | dict[str, str], batch: Batch, coco: datasets.CocoKeypoints | None = None,
                      options: Options = Options(), recorder: Recorder | None = None,
                      data: dict[str, str] | None = None, split: str = "") -> dict[str, Evaluation]:
    """Evaluate several variants of a model (label -> model) on the same batch, recording each.

    ``key`` is the catalog key the variants are scored as (one for all, or one per label): a re-quantized
    model is scored like the catalog model it was made from. With a ``recorder``, every evaluation is
    written as a result record (``data`` defaults to ``coco.source()``) of the labelled set's ``split``.
    """
    out = {}
    for label, model in models.items():
        k = key if isinstance(key, str) else key[label]
        out[label] = ev = evaluate(model, k, batch, coco, options)
        if recorder is not None:
            recorder.add_evaluation(k, label, ev, data or _need(coco).source(), model.path, split=split)
    return out


def evaluate_catalog(coco: datasets.CocoKeypoints, keys: list[str], options: Options = Options(),
                     num_threads: int = 2, recorder: Recorder | None = None,
                     batches: tuple[Batch, ...] = (), split: str = "",
                     data: dict[str, str] | None = None) -> dict[str, Evaluation]:
    """Evaluate several COCO catalog models (single and multi pose) on the same data.

    Each batch is prepared once per kind and input size. Only models whose file is already local (mirror
    or cache) are run; the others are left out, and :func:`zoo_helpers.book.tables.accuracy_table` says why.
    With a ``recorder``, each evaluation is written as a record labelled ``published int8``. ``batches``
    already prepared with the same options (e.g. by :func:`prepare` for a chapter's Evaluate section) are reused;
    ``split`` and ``data`` (default ``coco.source()``) go into the records.
    """
    prepared = {("multi" if b.kind.split(",")[0] in ("fit", "padding") else "single",
                 (b.images.shape[2], b.images.shape[1])): b for b in batches}
    out = {}
    for key in keys:
        kind = _kind(catalog.entry(key))
        if catalog.status(key) == "download needed":
            continue
        model = runtime.load(key, num_threads=num_threads)
        if (kind, model.input_size) not in prepared:
            prepared[kind, model.input_size] = made = prepare(key, coco, model.input_size, options)
            same = [b.kind for (k, _), b in prepared.items() if k == kind and b is not made]
            made.kind = same[0] if same else made.kind  # a part's kind ("person_crops, LSP") at every size
        out[key] = ev = evaluate(model, key, prepared[kind, model.input_size], coco, options)
        if recorder is not None:
            label = catalog.variant_label(catalog.entry(key).granularity)
            recorder.add_evaluation(key, label, ev, data or coco.source(), model.path, split=split)
    return out


def evaluate_parts(parts: dict, keys: list[str], options: Options = Options(), num_threads: int = 2,
                   recorder: Recorder | None = None) -> dict[str, dict[str, Evaluation]]:
    """:func:`evaluate_catalog` on each ``test`` part of :mod:`zoo_helpers.cards.protocol` (their batches reused
    for models of their input size), recorded with the part's split and kind; by part label, then key."""
    return {label: evaluate_catalog(p.coco, keys, options, num_threads, recorder, (p.batch,), p.split, p.data())
            for label, p in parts.items() if p.split == "test"}


def measure_models(models: dict, latency_runs: int, recorder: Recorder,
                   key: str | dict[str, str] | None = None) -> list[Record]:
    """Offline footprint analysis and host latency of models, one record each.

    ``models`` maps catalog keys to loaded models (recorded as their published variant) or, with ``key``
    (one catalog key, or one per label), variant labels to models. The metrics are named as
    :data:`zoo_helpers.results.ANALYSIS` names them; ``samples`` is the number of timed invokes.
    """

    out = []
    for label, model in models.items():
        k = label if key is None else key if isinstance(key, str) else key[label]
        variant = catalog.variant_label(catalog.entry(k).granularity) if key is None else label
        values = {**analyze(model.path).summary(), "host_ms": measure_latency(model, latency_runs)["median ms"]}
        metrics = {name: values[f] for f, name in ANALYSIS.items()} | _tflm_arena(model.path)
        out.append(recorder.add(k, variant, metrics, samples=latency_runs, images=0, data={"data": "the model file"},
                                model=model.path, kind=ANALYSIS_KIND))
    return out


def _tflm_arena(path) -> dict[str, float]:
    """TFLM's arena head and tail in KiB for a ``.tflite`` file TFLM can run, else nothing."""

    if str(path).endswith(".tflite"):
        try:
            used = arena(path)
        except TFLMError:
            return {}
        return {name: used[part] / 1024 for part, name in TFLM_ARENA.items()}
    return {}


#: Options a record's ``kind`` already names (how its samples were made); the others are compared with its parameters.
_IN_KIND = ("sample_mode", "resize_mode")


def _same_kind(record: Record, kind: str, split: str) -> bool:
    """A host measurement of a published file on the same kind of samples and split: a record that could be reused."""
    return (record.kind == kind and record.split == split and record.variant.startswith("published")
            and record.measured_on == "host CPU")


def why_not_reused(record: Record, key: str, coco: datasets.CocoKeypoints, options: Options = Options()) -> str:
    """Why ``record`` is not a measurement of catalog model ``key``'s file, on ``coco``, with ``options``, by this
    code (empty when it is one, and may be reused).

    Compared: the model file's name and sha256 (the registry's), the annotation file's sha256, every option
    (one the record's parameters do not name counts as its default; the sampling mode is in the record's kind),
    the code id (:func:`zoo_helpers.results.code_id`); the card's metric must be a finite number.

    Examples
    --------
    >>> from zoo_helpers.results import Record
    >>> why_not_reused(Record("m", "movenet", "movenet_lightning_192", "published int8", {"ST mean OKS": 0.5}, 1, 1,
    ...                       {}, {}, "host CPU"), "movenet_lightning_192", datasets.load_coco())  # doctest: +ELLIPSIS
    'another model file (none, sha256 none; movenet_lightning_192 is ...); other data (...); made by other code ...'
    """
    entry = catalog.entry(key)
    asset = assets.lookup(entry.asset)
    name = Path(asset.path).name
    out = []
    if (record.model_file, record.model_sha256) != (name, asset.sha256):
        out.append(f"another model file ({record.model_file or 'none'}, sha256 {record.model_sha256[:12] or 'none'}; "
                   f"{key} is {name}, sha256 {asset.sha256[:12]})")
    want, theirs = coco.source()["annotations_sha256"], str(record.data.get("annotations_sha256") or "")
    if not want or theirs != want:
        out.append(f"other data (annotations sha256 {theirs[:12] or 'none'}, here {want[:12] or 'none'})")
    for f in fields(Options):
        theirs, ours = record.parameters.get(f.name, f.default), getattr(options, f.name)
        if f.name not in _IN_KIND and (theirs or None) != (ours or None):
            out.append(f"another {f.name} ({theirs!r}, here {ours!r})")
    if record.code != results.code_id():
        out.append(f"made by other code (code id {record.code[:12] or 'none'}, this code {results.code_id()[:12]})")
    metric = published.card_data(entry.card)["metric"]
    value = record.metrics.get(metric)
    if value is None or not math.isfinite(value):
        out.append(f"{metric} is {value}, not a measurement")
    return "; ".join(out)


class Reused(dict):
    """:func:`evaluate_or_reuse`'s records by catalog key; ``not_reused`` says, for each model measured anew although
    a record of the same kind was there, the newest such record's file and why it was not reused.

    Examples
    --------
    >>> found = Reused({}, {"yolov8n_pose_256_pc": "results/yolov8n_pose/x.json: made by other code"})
    >>> dict(found), found.not_reused["yolov8n_pose_256_pc"]
    ({}, 'results/yolov8n_pose/x.json: made by other code')
    """

    def __init__(self, records: dict[str, Record], not_reused: dict[str, str]) -> None:
        super().__init__(records)
        self.not_reused = not_reused


def evaluate_or_reuse(coco: datasets.CocoKeypoints, keys: list[str], options: Options = Options(),
                      recorder: Recorder | None = None, results_dir: str = "",
                      num_threads: int = 2, name: str = "", split: str = "") -> Reused:
    """The latest chapter record of each model measured on the same data and options, else a new measurement.

    The chapters' records are read from ``results_dir`` (:func:`zoo_helpers.results.load`); a record is reused only
    when it is a measurement of this model file, on this data, with these options, by this code, of a finite value
    (:func:`why_not_reused`). A model no record matches is evaluated here (and recorded by ``recorder``); the
    result's ``not_reused`` says why the records that were there were not used. ``coco`` is one side (``split``) of
    the set the chapters call ``name`` (:mod:`zoo_helpers.cards.protocol`: ``COCO``, ``test``), so its records match
    theirs. Returns one record per local model.
    """
    suffix = f", {name}" if name else ""
    kinds = {key: (options.sample_mode if _kind(catalog.entry(key)) == "single" else options.resize_mode) + suffix
             for key in keys}
    found: dict[str, Record] = {}
    not_reused: dict[str, str] = {}
    for r in results.load(results_dir):  # oldest first: the newest record that matches wins
        if r.key in kinds and _same_kind(r, kinds[r.key], split):
            why = why_not_reused(r, r.key, coco, options)
            if why:
                not_reused[r.key] = f"{r.path}: {why}"
            else:
                found[r.key] = r
    missing = [k for k in keys if k not in found and catalog.status(k) != "download needed"]
    own = recorder or results.Recorder("overview", "overview", {}, results_dir)
    batches = []
    for kind in ("single", "multi"):  # one batch per kind, named like the chapters'; other sizes inherit it
        first = next((k for k in missing if _kind(catalog.entry(k)) == kind), None)
        if first is not None:
            batches.append(prepare(first, coco, runtime.load(first, num_threads).input_size, options))
            batches[-1].kind += suffix
    data = {**coco.source(), "part": f"{name} {split}"} if name else None
    evaluate_catalog(coco, missing, options, num_threads, own, tuple(batches), split, data)
    found.update({r.key: r for r in own.records if r.key in missing})
    return Reused({k: found[k] for k in keys if k in found}, {k: v for k, v in not_reused.items() if k in missing})
