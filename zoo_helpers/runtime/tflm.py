"""TensorFlow Lite Micro (the ``tflite-micro`` package) as the MCU runtime: outputs and tensor-arena size.

TFLM runs a ``.tflite`` file with its reference kernels: the Cortex-M reference arithmetic, what an MCU
running TFLM computes (CMSIS-NN's kernels are specified to match them; the N6's NPU computes something else).
:func:`run` feeds inputs already in the model's input dtype (e.g.
``zoo_helpers.runtime.models.load_model(path).prepare(images)``), one sample per invoke, and dequantizes the
outputs with the file's own parameters, as :mod:`zoo_helpers.runtime.models` does for LiteRT, so the two can be
compared value for value. :class:`TFLMModel` runs a file behind the Model API (engine ``tflm``).

:func:`arena` reports what TFLM's recording allocator used: ``head`` is the non-persistent part (the
planned activation buffers, what :func:`zoo_helpers.runtime.footprint.analyze` estimates as ``arena_bytes``),
``tail`` the persistent part (tensor structs, kernel data such as per-channel multipliers), ``total``
their sum. These are measured on this 64-bit host: the tail holds pointers and structs of 64-bit size, so a
32-bit Cortex-M's tail is smaller; the ``tflite-micro`` package is built for the host only, so no 32-bit figure
is measured here. The Python binding only prints these figures (to the C ``stderr``), so they are read from
that text.

A model TFLM cannot run (no kernel for an operator, or a kernel that rejects its types) raises
:class:`TFLMError` naming the operator, its node index and TFLM's own message.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from zoo_helpers.registry import catalog
from zoo_helpers.runtime.models import Model, load, load_model

#: Smallest tensor arena handed to TFLM (bytes); larger models get ten times their file size.
MIN_ARENA = 16 << 20


class TFLMError(RuntimeError):
    """TFLM could not prepare or run a model; ``op``, ``node`` and ``detail`` say where and why."""

    def __init__(self, message: str, op: str | None = None, node: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.op, self.node, self.detail = op, node, detail


@contextmanager
def _captured_stderr():
    """Collect what C code writes to file descriptor 2 (TFLM's log) into the yielded list."""
    lines: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines.extend(tmp.read().decode(errors="replace").splitlines())


def _explain(path: Path, log: list[str], exc: Exception) -> TFLMError:
    """Turn TFLM's log around a failure into an error naming the operator."""
    text = "\n".join(log)
    missing = re.search(r"Didn't find op for builtin opcode '(\w+)'", text)
    if missing:
        op = missing.group(1)
        return TFLMError(f"TFLM has no kernel for operator {op} in {path.name}", op, None, text.strip())
    node = re.search(r"Node (\w+) \(number (\d+)\) failed to (\w+)", text)
    if node:
        op, index, stage = node.group(1), int(node.group(2)), node.group(3)
        before = [line for line in log if line.strip() and not line.startswith("Node ")]
        why = before[-1].strip() if before else str(exc)
        return TFLMError(f"TFLM cannot run {path.name}: operator {op} (node {index}) failed to {stage}: {why}",
                         op, index, why)
    return TFLMError(f"TFLM cannot run {path.name}: {exc}; log: {text.strip()[-300:]}", None, None, text.strip())


def _guarded(path: Path, call: Callable[[], Any]) -> tuple[Any, list[str]]:
    """Run ``call`` with TFLM's log captured; a failure becomes a :class:`TFLMError`."""
    with _captured_stderr() as log:
        try:
            result, error = call(), None
        except (RuntimeError, ValueError) as exc:
            result, error = None, exc
    if error is not None:
        raise _explain(path, log, error) from error
    return result, log


def interpreter(path: str | os.PathLike[str], arena_size: int | None = None, preserve: bool = False):
    """A TFLM interpreter for ``path`` (tensors allocated), with an arena of ``arena_size`` bytes; ``preserve`` keeps
    every intermediate tensor readable (``kPreserveAllTensors``) instead of reusing the arena.

    Raises
    ------
    TFLMError
        An operator has no TFLM kernel, or its kernel rejects the model's types.
    """
    from tflite_micro import runtime

    path = Path(path)
    if path.suffix != ".tflite":
        raise ValueError(f"{path}: TFLM runs .tflite files only")
    size = arena_size or max(MIN_ARENA, 10 * path.stat().st_size)
    modes = runtime.InterpreterConfig
    config = modes.kPreserveAllTensors if preserve else modes.kAllocationRecording
    interp, _ = _guarded(path, lambda: runtime.Interpreter.from_file(str(path), arena_size=size,
                                                                     intrepreter_config=config))
    return interp


class TFLMModel(Model):
    """A ``.tflite`` file run by TFLM behind :class:`~zoo_helpers.runtime.models.Model`'s API, one sample per invoke.

    Its specs are LiteRT's reading of the same file, so :meth:`predict` prepares and dequantizes exactly as
    for LiteRT. Use :func:`zoo_helpers.runtime.engines.load` (engine ``tflm``).
    """

    engine = "tflm"
    batch_size = 1  # TFLM's interpreter has a fixed batch of one

    def __init__(self, path: Path, rescale: tuple[float, float] | None = None) -> None:
        super().__init__(path, 1, rescale)
        specs = load_model(path, num_threads=1)
        self.inputs, self.outputs = specs.inputs, specs.outputs
        self._interp = interpreter(path)
        # one run on zeros: a kernel that rejects the model's types (TFLMError, naming the operator) fails on
        # opening, not in the middle of a measurement
        self._run({s.name: np.zeros([d or 1 for d in s.shape], s.dtype) for s in self.inputs})

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for k, spec in enumerate(self.inputs):
            self._interp.set_input(np.ascontiguousarray(feed[spec.name]), k)
        _guarded(self.path, self._interp.invoke)
        return {spec.name: np.array(self._interp.get_output(k)) for k, spec in enumerate(self.outputs)}


def run(path: str | os.PathLike[str], inputs: np.ndarray | dict[str, np.ndarray],
        arena_size: int | None = None) -> dict[str, np.ndarray]:
    """Run ``inputs`` (``(N, ...)`` in the input dtype, or a dict by input name) through TFLM.

    Returns float32 outputs by output name, each ``(N, ...)``, dequantized with the file's parameters.

    Examples
    --------
    >>> from zoo_helpers.registry import catalog
    >>> out = run(catalog.path("st_movenet_heatmaps_192"), np.zeros((1, 192, 192, 3), np.uint8))
    >>> next(iter(out.values())).shape
    (1, 48, 48, 13)
    """

    path = Path(path)
    specs = load_model(path, num_threads=1)
    feed = inputs if isinstance(inputs, dict) else {specs.inputs[0].name: inputs}
    for spec in specs.inputs:
        if spec.name not in feed:
            raise ValueError(f"missing input {spec.name!r}; model inputs: {[s.name for s in specs.inputs]}")
        if np.asarray(feed[spec.name]).dtype != spec.dtype:
            raise TypeError(f"input {spec.name!r} must be {spec.dtype}, got {np.asarray(feed[spec.name]).dtype}")
    interp = interpreter(path, arena_size)
    n = len(next(iter(feed.values())))
    results: dict[str, list[np.ndarray]] = {s.name: [] for s in specs.outputs}
    for i in range(n):
        for k, spec in enumerate(specs.inputs):
            interp.set_input(np.ascontiguousarray(feed[spec.name][i : i + 1]), k)
        _guarded(path, interp.invoke)
        for k, spec in enumerate(specs.outputs):
            results[spec.name].append(spec.dequantize(interp.get_output(k)))
    return {name: np.concatenate(values) for name, values in results.items()}


def arena(path: str | os.PathLike[str], arena_size: int | None = None) -> dict[str, int]:
    """TFLM's tensor-arena use for ``path`` in bytes: ``head`` (activations), ``tail`` (persistent), ``total``.

    Examples
    --------
    >>> from zoo_helpers.registry import catalog
    >>> arena(catalog.path("st_movenet_heatmaps_192"))["head"]
    1788000
    """
    path = Path(path)
    interp = interpreter(path, arena_size)
    _, log = _guarded(path, interp.print_allocations)
    found = {}
    for part in ("total", "head", "tail"):
        m = re.search(rf"Arena allocation {part} (\d+) bytes", "\n".join(log))
        if m is None:
            raise TFLMError(f"TFLM did not report its arena {part} for {path.name}; log: {' | '.join(log)[:300]}")
        found[part] = int(m.group(1))
    return {"head": found["head"], "tail": found["tail"], "total": found["total"]}


def litert_reference(path: str | os.PathLike[str], inputs: np.ndarray) -> dict[str, np.ndarray]:
    """LiteRT with its reference kernels (``BUILTIN_REF``, no XNNPACK) on ``(N, ...)`` inputs, dequantized.

    TFLM's kernels are ports of these, so the two should agree bit for bit; LiteRT's default (optimized)
    kernels round some intermediate results differently.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    specs = load_model(path, num_threads=1)
    interp = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    index = interp.get_input_details()[0]["index"]
    results: dict[str, list[np.ndarray]] = {s.name: [] for s in specs.outputs}
    for i in range(len(inputs)):
        interp.set_tensor(index, np.ascontiguousarray(inputs[i : i + 1]))
        interp.invoke()
        for d, spec in zip(interp.get_output_details(), specs.outputs, strict=True):
            results[spec.name].append(spec.dequantize(interp.get_tensor(d["index"])))
    return {name: np.concatenate(values) for name, values in results.items()}


def compare_litert(key: str, images: np.ndarray) -> dict[str, float]:
    """Largest ``|TFLM - LiteRT|`` output difference for catalog model ``key`` on uint8 ``images``.

    ``litert`` compares with ``load(key).predict(images)`` (LiteRT's default kernels),
    ``litert_reference`` with LiteRT's reference kernels (:func:`litert_reference`). Both runtimes get the
    same prepared input (``Model.prepare``) and dequantize with the same parameters, so the differences are
    in the outputs' float units (a heatmap probability, a normalised coordinate...), the largest over outputs.
    """

    model = load(key)
    x = model.prepare(images)
    micro = run(catalog.path(key), x)
    others = {"litert": model.predict(images), "litert_reference": litert_reference(catalog.path(key), x)}
    return {label: max(float(np.abs(micro[n] - out[n]).max()) for n in out) for label, out in others.items()}
