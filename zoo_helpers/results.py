"""Result records: what a chapter measures, kept as data so runs can be compared and tables rendered from it.

A :class:`Record` is one evaluation of one model variant: the card, the catalog key, the model file and
its sha256, the variant label (``published int8``, ``recovered float``, ``our per-channel``, ...), the
metrics by the names the tables show, how many samples and images were scored, where the data came
from (the mmpose sample, or a ``coco_dir`` with its annotation file's sha256), the notebook's
parameters, what it was measured on (``host CPU``, ``emulated board`` or ``board``), the package
versions, the time and the code identity: :func:`code_id`, a sha256 over the path and bytes of every ``.py`` file
of the ``zoo_helpers`` package and every file of its ``data`` folder (the package's version string has not changed
since the first commit, so it cannot tell two versions of the code apart). It is computed once per process and
cached: a process that edits the package and keeps running records the id of the code it started with. A record is
reused (the overview reuses the chapters') only when its code id is this code's.

A chapter keeps a :class:`Recorder`, made from its namespace in the Setup cell by
:func:`zoo_helpers.book.chapter.recorder`, which checks the parameters first (a Recorder made directly keeps the
namespace's public parameters unchecked); a Recorder checks when it is made that its folder can be made and
written (:class:`ResultsDirError` names ``results_dir`` otherwise), without making it. :meth:`Recorder.add`
writes each record as JSON under ``<results_dir>/<notebook>/`` the moment it is made (a later failure loses
nothing already measured) and, for the COCO pipelines, the predictions as a COCO keypoint results file that
``pycocotools.COCO.loadRes`` reads. Each file is written under a temp name of its own in the same folder, then
moved into place, so two runs of one chapter at once never write the same temp file and a reader never sees half
a file; a record and its COCO file are written as a pair: both temp files first, then the COCO file and the record
moved into place, so a failure (a full disk) leaves neither and no temp file. :func:`load` reads records back (the
overview reuses the chapters'), checking every field (:class:`RecordError` names the file and the field);
:func:`default_dir` says where they go when ``results_dir`` is empty.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import uuid
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from zoo_helpers.registry.assets import NO_ROOM
from zoo_helpers.registry.hashing import file_sha256

#: What a measured number may be measured on; anything else is refused.
SOURCES = ("host CPU", "emulated board", "board")
RESULTS_ENV = "ZOO_RESULTS_DIR"
#: Metric names of a footprint-and-latency record (``zoo_helpers.cards.loop.measure_models``), by analysis field.
ANALYSIS = {"maccs_m": "MACCs (M)", "weights_flash_kib": "weights (KiB)", "activation_ram_kib": "activation RAM (KiB)",
            "host_ms": "host latency (ms)"}
ANALYSIS_KIND = "offline analysis and host latency"
#: Metric names of TFLM's arena in a footprint-and-latency record (``.tflite`` files TFLM can run).
TFLM_ARENA = {"head": "TFLM arena head (KiB)", "tail": "TFLM arena tail (KiB)"}
_PACKAGES = ("zoo-helpers", "numpy", "ai-edge-litert", "onnxruntime", "tensorflow-cpu", "pycocotools")


class RecordError(ValueError):
    """A file under ``results_dir`` is not a result record: the message names the file and the field."""


class ResultsDirError(OSError):
    """Records cannot be written under ``results_dir``: the message names the folder and what to do."""


@dataclass
class Record:
    """One measured evaluation of one model variant (see the module docstring)."""

    notebook: str
    card: str
    key: str
    variant: str
    metrics: dict[str, float]
    samples: int
    images: int
    data: dict[str, str]
    parameters: dict[str, Any]
    measured_on: str
    model_file: str = ""
    model_sha256: str = ""
    kind: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    time: str = ""
    split: str = ""
    per_sample: dict[str, list[float]] = field(default_factory=dict)
    sample_images: list = field(default_factory=list)
    matches: dict[str, list] = field(default_factory=dict)
    command: str = ""
    code: str = ""
    #: the file the record was read from or written to (not kept in the file itself)
    path: str = field(default="", compare=False, repr=False)

    @property
    def slug(self) -> str:
        """File-name stem: the catalog key, the variant label, the kind of samples and the split."""
        parts = (self.key, self.variant, self.kind, self.split)
        return "--".join(re.sub(r"[^0-9A-Za-z]+", "-", s).strip("-").lower() for s in parts if s)


def check_source(measured_on: str) -> str:
    """``measured_on`` if it starts with one of :data:`SOURCES`, else a ``ValueError``."""
    if not str(measured_on).startswith(SOURCES):
        raise ValueError(f"measured-on label must start with one of {SOURCES}, got {measured_on!r}")
    return measured_on


def default_dir() -> Path:
    """``$ZOO_RESULTS_DIR``, else ``results/`` of the checkout the package runs from, else ``./results``."""
    if os.environ.get(RESULTS_ENV):
        return Path(os.environ[RESULTS_ENV])
    root = Path(__file__).resolve().parents[1]
    return root / "results" if (root / "_toc.yml").is_file() else Path.cwd() / "results"


def work_dir(notebook: str) -> Path:
    """An empty folder for a notebook's intermediate files (re-quantized models, stream logs).

    ``_build/work/<notebook>`` of the checkout (or under the system temp folder outside one), emptied
    first, so repeated runs never pile up folders.
    """
    import shutil
    import tempfile

    root = Path(__file__).resolve().parents[1]
    base = root / "_build" / "work" if (root / "_toc.yml").is_file() else Path(tempfile.gettempdir()) / "zoo-work"
    path = base / notebook
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@cache
def code_id() -> str:
    """The content id of this ``zoo_helpers`` code (:func:`content_id` of the package folder), computed once per
    process. Records keep it (``Record.code``); a record is reused only by the code that made it.

    Examples
    --------
    >>> len(code_id()), code_id() == content_id(Path(__file__).resolve().parent)
    (64, True)
    """
    return content_id(Path(__file__).resolve().parent)


def content_id(root: Path) -> str:
    """sha256 over the relative path and bytes of every ``.py`` file under ``root`` and every file of its ``data``
    folder (``__pycache__`` left out): the same code and data give the same id, any change to them another.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "a.py").write_text("x = 1")
    >>> before = content_id(root)
    >>> _ = (root / "a.py").write_text("x = 2")
    >>> content_id(root) == before
    False
    """
    files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and (p.suffix == ".py" or p.relative_to(root).parts[0] == "data"))
    digest = hashlib.sha256()
    for p in files:
        data = p.read_bytes()
        digest.update(f"{p.relative_to(root).as_posix()}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def versions() -> dict[str, str]:
    """Installed versions of the packages a measurement depends on."""
    from importlib import metadata

    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def rerun_command(notebook: str, parameters: dict[str, Any]) -> str:
    """The command that reruns chapter ``notebook`` with ``parameters`` (papermill, from the checkout's root; the
    asset mirror and results folder come from ``ZOO_ASSETS_DIR`` and ``ZOO_RESULTS_DIR`` as in ``make``).

    Examples
    --------
    >>> rerun_command("movenet", {"n_test": 500, "sample_mode": "person_crops", "results_dir": ""})
    'papermill notebooks/movenet.ipynb _build/rerun/movenet.ipynb -k python3 -p n_test 500 -p sample_mode person_crops'
    """
    import shlex

    args = " ".join(f"-p {k} {shlex.quote(str(v))}" for k, v in parameters.items() if k != "results_dir")
    return f"papermill notebooks/{notebook}.ipynb _build/rerun/{notebook}.ipynb -k python3 {args}".strip()


def from_namespace(namespace: dict[str, Any]) -> dict[str, Any]:
    """The public ``str``, ``int``, ``float`` and ``bool`` names of ``namespace`` (a notebook's parameters).

    Examples
    --------
    >>> from_namespace({"variant": "movenet_heatmaps_192", "limit": 0, "_i": "x = 1", "np": object()})
    {'variant': 'movenet_heatmaps_192', 'limit': 0}
    """
    return {k: v for k, v in namespace.items() if not k.startswith("_") and type(v) in (str, int, float, bool)}


class Recorder:
    """Collects and writes one chapter's records (see the module docstring).

    Examples
    --------
    >>> import tempfile
    >>> rec = Recorder("movenet", "movenet", {"limit": 0}, tempfile.mkdtemp())
    >>> r = rec.add("movenet_lightning_192", "published int8", {"ST mean OKS": 0.77}, samples=12, images=4,
    ...             data={"data": "mmpose COCO sample"})
    >>> [x.metrics for x in load(rec.root, "movenet")]
    [{'ST mean OKS': 0.77}]
    """

    def __init__(self, notebook: str, card: str, parameters: dict[str, Any], results_dir: str | os.PathLike[str] = "",
                 measured_on: str = "host CPU", command: str | None = None) -> None:
        # a namespace (globals()) keeps its public parameters only; book.chapter.recorder checks them first
        self.notebook, self.card, self.parameters = notebook, card, from_namespace(parameters)
        #: what reruns every record of this recorder (kept in each record): the chapter's papermill call by default
        self.command = rerun_command(notebook, self.parameters) if command is None else command
        self.measured_on = check_source(measured_on)
        self.root = Path(results_dir) if results_dir else default_dir()
        self.dir = self.root / notebook
        self.records: list[Record] = []
        self._versions, self._code = versions(), code_id()
        _check_writable(self.dir, self.root)

    def add(self, key: str, variant: str, metrics: dict[str, float], *, samples: int, images: int,
            data: dict[str, str], model: str | os.PathLike[str] | None = None, kind: str = "",
            measured_on: str | None = None, coco_results: list[dict] | None = None, split: str = "",
            per_sample: dict[str, Any] | None = None, sample_images: list | None = None,
            matches: dict[str, list] | None = None) -> Record:
        """Make, keep and write one record (and its COCO results file when ``coco_results`` is given).

        A record that replaces one of the same slug, model file, data and sample count keeps the metrics
        only the earlier one had (a chapter's catalog loop re-scores the published file the Quantize
        section scored with label-free agreement: the agreement stays in the record).

        ``split`` names the part of a labelled set the samples come from (``dev`` or ``test``, see
        :mod:`zoo_helpers.evaluation.splits`); ``per_sample`` keeps per-sample scores (each a list with one value
        per sample, NaN where a sample has nothing to score) and ``sample_images`` each sample's image id, so
        intervals and paired differences (:mod:`zoo_helpers.evaluation.uncertainty`) are computed from records;
        ``matches`` keeps ST's multi-pose matches, from which ST's mAP is rescored on resampled images. Each record
        keeps the recorder's ``command``, which reproduces it.
        """
        per_sample = {k: [float(x) if np.isfinite(x) else None for x in np.asarray(v, np.float64)]
                      for k, v in (per_sample or {}).items()}  # JSON has no NaN: a sample with no score is null
        if sample_images is not None and any(len(v) != len(sample_images) for v in per_sample.values()):
            raise ValueError(f"{key} / {variant}: per-sample scores and sample images differ in length")

        model_path = Path(model) if model else None
        record = Record(self.notebook, self.card, key, variant, {k: float(v) for k, v in metrics.items()}, int(samples),
                        int(images), dict(data), self.parameters, check_source(measured_on or self.measured_on),
                        model_path.name if model_path else "", file_sha256(model_path) if model_path else "", kind,
                        self._versions, datetime.now(UTC).isoformat(timespec="seconds"), split, per_sample,
                        list(sample_images or []), dict(matches or {}), self.command, self._code)
        old = next((r for r in self.records if r.slug == record.slug), None)
        if old is not None and (old.model_sha256, old.data, old.samples) == (record.model_sha256, record.data,
                                                                              record.samples):
            # the same file on the same data again: what the first evaluation added (e.g. agreement) stays
            record.metrics = {**old.metrics, **record.metrics}
        path = self.dir / f"{record.slug}.json"
        pair = {} if coco_results is None else {self.dir / f"{record.slug}.coco.json": coco_results}
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            _write_json({**pair, path: _stored(record)})  # the record last: a record found has its COCO file
        except OSError as exc:
            room = " (no space left there)" if exc.errno in NO_ROOM else ""
            raise ResultsDirError(f"cannot write the record {path.name}{' and its COCO file' if pair else ''} under "
                                  f"{self.dir}{room}: {exc}; the record was not written (its temp files are "
                                  f"removed). Free space there, or set results_dir (or {RESULTS_ENV}) to another "
                                  "folder") from exc
        record.path = str(path)
        self.records = [r for r in self.records if r.slug != record.slug] + [record]
        return record

    def add_evaluation(self, key: str, variant: str, evaluation, data: dict[str, str], model=None,
                       measured_on: str | None = None, split: str = "") -> Record:
        """:meth:`add` for an :class:`~zoo_helpers.evaluation.batches.Evaluation`: its metrics, counts, COCO
        results, and its per-sample scores with each sample's image (those with one value per sample)."""
        ids = list(evaluation.batch.ids)
        per_sample = {k: v for k, v in evaluation.per_sample.items()
                      if np.ndim(v) == 1 and len(v) == len(ids) and not k.endswith("per keypoint")}
        return self.add(key, variant, evaluation.metrics, samples=evaluation.num_samples, images=evaluation.num_images,
                        data=data, model=model, kind=evaluation.batch.kind, measured_on=measured_on,
                        coco_results=evaluation.coco_results, split=split, per_sample=per_sample,
                        matches=evaluation.matches,
                        sample_images=[int(i) if isinstance(i, int | np.integer) else str(i) for i in ids])

    def coco_results_path(self, key: str, variant: str) -> Path:
        """Where :meth:`add` wrote the COCO keypoint results of ``key`` / ``variant``."""
        return self.dir / f"{self.select(key, variant)[-1].slug}.coco.json"

    def select(self, key: str | None = None, variant: str | None = None, kind: str | None = None) -> list[Record]:
        """This run's records, optionally of one key, one variant and/or one kind of samples."""
        return [r for r in self.records
                if key in (None, r.key) and variant in (None, r.variant) and kind in (None, r.kind)]


#: What a write that finds no room raises: no space, quota exceeded, file too large.


def _check_writable(folder: Path, root: Path) -> None:
    """A :class:`ResultsDirError` naming ``root`` unless ``folder`` can be made and written: its nearest existing
    folder (itself, or the one it would be made in) takes a probe file, written and removed. Nothing is created."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    probe = existing / f".write-check-{uuid.uuid4().hex}"
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(existing))
        with open(probe, "x"):
            pass
        probe.unlink()
    except OSError as exc:
        raise ResultsDirError(f"results_dir {str(root)!r} is not a folder records can be written to: cannot write "
                              f"{existing} to make {folder} ({exc.strerror or exc}). Set results_dir (or "
                              f"{RESULTS_ENV}) to a folder you can write") from exc


def _stored(record: Record) -> dict[str, Any]:
    """A record's fields as its file keeps them (not its own path)."""
    return {k: v for k, v in asdict(record).items() if k != "path"}


def _write_json(files: dict[Path, Any]) -> None:
    """Write each payload as JSON, all or none (:func:`write_texts`)."""
    write_texts({path: json.dumps(payload, indent=1) for path, payload in files.items()})


def write_texts(files: dict[Path, str]) -> None:
    """Write each text under a temp name of its own beside its path, then move them all into place (in order); on
    any failure remove the temp files written (a reader never sees half a file, two writers never share a temp).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.txt"
    >>> write_texts({path: "x"}); path.read_text(), len(list(path.parent.iterdir()))
    ('x', 1)
    """
    temps: dict[Path, Path] = {}
    try:
        for path, text in files.items():
            temps[path] = tmp = path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")
            with open(tmp, "x") as fh:
                fh.write(text)
        for path in list(temps):
            os.replace(temps.pop(path), path)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


def load(results_dir: str | os.PathLike[str] = "", notebook: str | None = None) -> list[Record]:
    """Every record under ``results_dir`` (default :func:`default_dir`), optionally one notebook's, oldest first.

    Each file's fields are checked (types, no unknown or missing field); a file that is not a record raises a
    :class:`RecordError` naming it and the field.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "m").mkdir(); _ = (folder / "m" / "bad.json").write_text('{"notebook": "m", "time": 5}')
    >>> load(folder)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    zoo_helpers.results.RecordError: .../m/bad.json is not a result record: field 'card' is missing
    """
    root = Path(results_dir) if results_dir else default_dir()
    pattern = f"{notebook}/*.json" if notebook else "*/*.json"
    out = []
    for path in sorted(root.glob(pattern)):
        if path.name.endswith(".coco.json"):
            continue
        try:
            payload = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise RecordError(f"{path} is not a result record: {exc}") from exc
        problem = _problem(payload)
        if problem:
            raise RecordError(f"{path} is not a result record: {problem}")
        out.append(Record(**{**payload, "path": str(path)}))
    return sorted(out, key=lambda r: r.time)


#: The JSON type each field of a record file must have, from :class:`Record`'s annotations.
_TYPES = {f.name: str if f.type == "str" else int if f.type == "int" else dict if f.type.startswith("dict") else list
          for f in fields(Record)}


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _problem(payload: Any) -> str:
    """What makes ``payload`` (a record file's JSON) not a record, naming the field; empty when it is one."""
    if not isinstance(payload, dict):
        return f"it holds a JSON {type(payload).__name__}, not an object of fields"
    required = [f.name for f in fields(Record) if f.default is MISSING and f.default_factory is MISSING]
    missing = [n for n in required if n not in payload]
    if missing:
        return f"field {missing[0]!r} is missing"
    for name, value in payload.items():
        want = _TYPES.get(name)
        if want is None:
            return f"unknown field {name!r}"
        if not isinstance(value, want) or isinstance(value, bool):
            return f"field {name!r} must be a JSON {_JSON[want]}, got {type(value).__name__} {value!r:.60}"
    bad = next((k for k, v in payload["metrics"].items() if not _is_number(v)), None)
    if bad is not None:
        return f"field 'metrics' must be names with numbers, got {bad!r}: {payload['metrics'][bad]!r:.60}"
    bad = next((k for k, v in payload.get("per_sample", {}).items()
                if not isinstance(v, list) or not all(x is None or _is_number(x) for x in v)), None)
    if bad is not None:
        return f"field 'per_sample' must be names with lists of numbers (or null), got {bad!r}"
    return ""


_JSON = {str: "string", int: "whole number", dict: "object", list: "array"}
