"""Validation of a model on a board or its emulator, through ST's validation protocol.

:func:`validate` runs inputs through ST's validation protocol (:mod:`zoo_helpers.board`) on the
board named by a descriptor, or, when none is given, on the emulator started in-process, and compares
the outputs with the host runtime's (the model's own engine: LiteRT with XNNPACK, or onnxruntime). Its table
says which one answered (``board`` or ``emulated board``) and, for the emulator, which kernels computed the
outputs: by default (``runtime="auto"``) TFLM's reference kernels, the Cortex-M reference arithmetic, whenever
TFLM can run the file, else the host's runtime (the table says why). On the emulator the "board - host"
difference is therefore TFLM's against LiteRT's. It is given in LSB of the output tensor (its quantization step,
or that of the int8 tensor its final Dequantize reads, shown beside it), or in the output's float units where
the file has no step.

The board's model must be the host's (:meth:`~zoo_helpers.board.client.BoardClient.check_model`, a
:class:`~zoo_helpers.board.replies.ModelMismatch` otherwise): against the emulator the file itself (its sha256
is the emulator's model signature), against a real board what its tensors show (shapes, input types,
quantization; ST's firmware reports a signature of the generated C code, not of the file). A chapter checks
its ``board`` parameter in Setup with :func:`check_board`, before the slow work.
"""

from __future__ import annotations

from pathlib import Path

from zoo_helpers.board import kernels
from zoo_helpers.board.client import BoardClient
from zoo_helpers.board.emulator import start_in_thread
from zoo_helpers.board.ports import check_descriptor
from zoo_helpers.runtime.divergence import lsb, output_steps
from zoo_helpers.runtime.tflm import TFLMError

#: The validation table's difference column: the largest absolute difference of board and host outputs, in LSB.
DIFF = "max |board - host| (LSB of the output)"


def check_board(board: str) -> str:
    """The ``board`` parameter of :func:`validate` and :func:`~zoo_helpers.deploy.toolchain.commands`, checked up front.

    ``""`` (the emulator) or a descriptor whose serial device exists; opens nothing. A
    :class:`~zoo_helpers.board.ports.DescriptorError` naming ``board`` and the accepted forms otherwise
    (:func:`zoo_helpers.board.ports.check_descriptor`).

    Examples
    --------
    >>> check_board("")
    ''
    """
    return check_descriptor(board, "board")


def validate(model, inputs, board: str = "", version: int = 0x302, score=None, metric: str = "accuracy",
             runtime: str = "auto"):
    """Run ``inputs`` on a board (``board`` = descriptor such as ``serial:/dev/ttyACM0:921600``) or the emulator.

    ``inputs`` are ``(N, ...)`` in the model's input dtype (e.g. ``model.prepare(images)``). Returns
    ``(result, table)``: the :class:`zoo_helpers.board.client.RunResult` and a one-row table with the
    largest output difference from the host runtime, the mean on-device time per sample and its source.
    ``score``, when given, maps a dict of ``(N, ...)`` outputs to a number: the table then shows ``metric``
    computed on the board's outputs and on the host's for the same samples. ``runtime`` is the emulator's
    (:data:`zoo_helpers.board.kernels.RUNTIMES`), or ``auto``: TFLM when it can run the file.
    """
    import numpy as np
    import pandas as pd

    inputs = np.asarray(inputs)
    if isinstance(board, str):  # a descriptor (an open port object is taken as it is)
        check_board(board)
    runtime, why = _emulator_runtime(model, runtime) if not board else ("", "")
    client = BoardClient.connect(board if board else start_in_thread(model, version, runtime=runtime), expect=model)
    try:
        result = client.invoke(inputs, progress=False)
    finally:
        client.close()
    name = model.inputs[0].name
    runs = [model.invoke({name: inputs[i:i + 1]}) for i in range(len(inputs))]
    host = {s.name: np.concatenate([s.dequantize(r[s.name]) for r in runs]) for s in model.outputs}
    on_board = result.stacked()
    steps = output_steps(model.path)
    diffs = {k: lsb(on_board[k], host[k], steps.get(k)) for k in host if k in on_board}
    worst = max(diffs, key=lambda k: float(diffs[k].max()))
    unit = f"{steps[worst]:.4g}" if steps.get(worst) else "none (float output: difference in its units)"
    table = pd.DataFrame([{"samples": len(result.durations_ms),
                           "protocol": f"{client.framing.version >> 8}.{client.framing.version & 0xFF}",
                           DIFF: float(diffs[worst].max()), "output LSB": unit,
                           "mean inference time (ms)": float(np.mean(result.durations_ms)),
                           **({f"{metric} on board": score(on_board), f"{metric} on host": score(host)}
                              if score else {}),
                           "kernels": f"{kernels.label(runtime, model.path)}{why}" if runtime else "the board's",
                           "measured on": result.source}])
    return result, table


def validate_models(models: dict, images, board: str = "", metric: str = "accuracy", score=None):
    """:func:`validate` each model (label -> model) on the same images, each prepared for its own input.

    Returns the validation tables one under the other, indexed by label (``score`` as in :func:`validate`).
    """
    import pandas as pd

    rows = {label: validate(m, m.prepare(images), board, metric=metric, score=score)[1] for label, m in models.items()}
    return pd.concat(rows.values(), keys=list(rows)).droplevel(1)


def _emulator_runtime(model, runtime: str) -> tuple[str, str]:
    """The emulator's runtime for ``model``, and why it is not TFLM when ``auto`` had to fall back."""
    if runtime != "auto":
        return runtime, ""
    if Path(model.path).suffix != ".tflite":
        return "litert", " (TFLM runs .tflite files only)"
    try:
        kernels.invoker(model, "tflm")
    except TFLMError as exc:
        return "litert", f" (TFLM cannot run it: {exc.op or exc})"
    return "tflm", ""
