"""Result records: what a chapter measures, kept as data so runs can be compared and tables rendered from it.

A :class:`Record` is one evaluation of one model variant: the card, the catalog key, the model file and
its sha256, the variant label (``published int8``, ``recovered float``, ``our per-channel``, ...), the
metrics by the names the tables show, how many samples and images were scored, where the data came
from (the mmpose sample, or a ``coco_dir`` with its annotation file's sha256), the notebook's
parameters, what it was measured on (``host CPU``, ``emulated board`` or ``board``), the package
versions and the time.

A chapter keeps a :class:`Recorder`, made from its namespace in the Setup cell by
:func:`zoo_helpers.book.chapter.recorder`, which checks the parameters first (a Recorder made directly keeps the
namespace's public parameters unchecked); :meth:`Recorder.add` writes each record as JSON under
``<results_dir>/<notebook>/`` the moment it is made (a later failure loses nothing already measured)
and, for the COCO pipelines, the predictions as a COCO keypoint results file that
``pycocotools.COCO.loadRes`` reads. :func:`load` reads records back (the overview reuses the chapters'),
:func:`default_dir` says where they go when ``results_dir`` is empty.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

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
        self._versions = versions()

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
                        list(sample_images or []), dict(matches or {}), self.command)
        old = next((r for r in self.records if r.slug == record.slug), None)
        if old is not None and (old.model_sha256, old.data, old.samples) == (record.model_sha256, record.data,
                                                                              record.samples):
            # the same file on the same data again: what the first evaluation added (e.g. agreement) stays
            record.metrics = {**old.metrics, **record.metrics}
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            _write_json(self.dir / f"{record.slug}.json", asdict(record))
            if coco_results is not None:
                _write_json(self.dir / f"{record.slug}.coco.json", coco_results)
        except OSError as exc:
            raise OSError(f"cannot write results under {self.dir} (set results_dir or {RESULTS_ENV}): {exc}") from exc
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


def _write_json(path: Path, payload: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)  # a reader never sees half a file


def load(results_dir: str | os.PathLike[str] = "", notebook: str | None = None) -> list[Record]:
    """Every record under ``results_dir`` (default :func:`default_dir`), optionally one notebook's, oldest first."""
    root = Path(results_dir) if results_dir else default_dir()
    pattern = f"{notebook}/*.json" if notebook else "*/*.json"
    out = []
    for path in sorted(root.glob(pattern)):
        if path.name.endswith(".coco.json"):
            continue
        try:
            out.append(Record(**json.loads(path.read_text())))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path} is not a result record: {exc}") from exc
    return sorted(out, key=lambda r: r.time)
