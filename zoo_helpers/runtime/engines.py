"""The CPU runtimes ("engines") that can run one model file here, by name, and which target uses which.

One int8 file does not compute one answer: LiteRT's XNNPACK delegate, its built-in optimized kernels, its
reference kernels and TFLM round some intermediate results differently, and onnxruntime runs a QDQ graph with
fused integer kernels or, with its graph optimizations off, as float operators between Q/DQ pairs. The names,
labels and the targets each runtime stands for are data (``zoo_helpers/data/runtimes.yaml``); :func:`load` opens
a file with one of them behind :class:`~zoo_helpers.runtime.models.Model`'s API, so every chapter's evaluation
runs unchanged on any of them.

Examples
--------
>>> from zoo_helpers.registry import catalog
>>> for_file(catalog.path("st_movenet_heatmaps_192"))
['litert_xnnpack', 'litert_builtin', 'litert_reference', 'tflm']
>>> label("tflm")
'TFLM reference kernels (Cortex-M reference arithmetic)'
"""

from __future__ import annotations

import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from zoo_helpers.runtime.models import Model, load_model
from zoo_helpers.runtime.tflm import TFLMModel


@cache
def facts() -> dict[str, Any]:
    """``data/runtimes.yaml``: ``engines`` (by name: ``short``, ``label``, ``files``, ``computes``, ``layers``) and
    ``targets``."""
    import yaml

    return yaml.safe_load(resources.files("zoo_helpers").joinpath("data/runtimes.yaml").read_text())


def names() -> list[str]:
    """Every engine name, in the data's order."""
    return list(facts()["engines"])


def label(engine: str) -> str:
    """How tables name ``engine``; a ``ValueError`` names the known engines for any other name."""
    known = facts()["engines"]
    if engine not in known:
        raise ValueError(f"unknown runtime {engine!r}; use one of {', '.join(known)}")
    return known[engine]["label"]


def for_file(path: str | os.PathLike[str]) -> list[str]:
    """The engines that take a file of ``path``'s kind (by its suffix), in the data's order."""
    suffix = Path(path).suffix.lower()
    return [name for name, e in facts()["engines"].items() if suffix in e["files"]]


def load(path: str | os.PathLike[str], engine: str, rescale: tuple[float, float] | None = None,
         num_threads: int = 1) -> Model:
    """Open ``path`` to run with ``engine`` (one of :func:`for_file`), with the input domain ``rescale``.

    Raises
    ------
    ValueError
        The engine does not take this kind of file.
    zoo_helpers.runtime.tflm.TFLMError
        TFLM has no kernel for one of the file's operators (it names the operator).
    """
    if engine not in for_file(path):
        raise ValueError(f"runtime {engine!r} cannot run {Path(path).name}; use one of {', '.join(for_file(path))}")
    if engine == "tflm":
        return TFLMModel(Path(path), rescale)
    return load_model(path, num_threads=num_threads, rescale=rescale, engine=engine)
