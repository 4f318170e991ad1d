"""Post-training int8 quantization of a float ONNX graph with NNCF, offline and without telemetry.

NNCF (OpenVINO's Neural Network Compression Framework, 3.4) quantizes ONNX graphs directly: it inserts
QDQ pairs from calibration statistics, like onnxruntime's ``quantize_static``, and adds what onnxruntime
has not: **bias correction**, either *fast* (one pass, the bias shift that makes each layer's mean output
match the float layer's on the calibration set) or *full* (layer after layer, each corrected on the
outputs of the already quantized layers before it, slower). Its output is a QDQ ONNX file that ST Edge AI
and onnxruntime read like ours. We use NNCF rather than write our own bias correction.

Two facts about installing it beside Jupyter Book 1, checked on this book's environment:

* its ``rich`` requirement would take markdown-it-py 4, which myst-parser 3 refuses, so the environment
  pins ``rich==15.0.0`` (it declares ``markdown-it-py>=2.2.0``) and ``markdown-it-py==3.0.0``;
* it ships OpenVINO's telemetry client; :func:`quantize` sets ``NNCF_CI=1`` before the first import,
  which makes NNCF use its no-op telemetry stub (tested: nothing opens a socket).

aimet-onnx 2.42 (AdaRound, CLE) needs torch and amd-quark 0.13 needs onnx <= 1.22 (this book has 1.23),
so neither is used; cross-layer equalization is ours (:mod:`zoo_helpers.quant.equalize`).
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np

from zoo_helpers.quant.onnxgraph import quantize_linear

#: Bias correction modes of :func:`quantize`.
BIAS_CORRECTION = ("fast", "full")


def quantize(float_onnx: str | os.PathLike[str], out: str | os.PathLike[str], calibration: np.ndarray,
             per_channel: bool, bias_correction: str = "fast") -> Path:
    """NNCF int8 QDQ quantization of a float ONNX model from calibration inputs; returns ``out``.

    Parameters
    ----------
    float_onnx
        Float model with one input.
    out
        Where to write the quantized model.
    calibration
        ``(N, ...)`` float32 inputs in the model's input domain; all of them are used.
    per_channel
        Per-channel weights (True) or one scale per weight tensor (False). Activations are per-tensor.
    bias_correction
        ``fast`` or ``full`` (see the module docstring).

    Examples
    --------
    >>> quantize("movenet_float.onnx", "q.onnx", calib, per_channel=False)  # doctest: +SKIP
    PosixPath('q.onnx')
    """
    if bias_correction not in BIAS_CORRECTION:
        raise ValueError(f"bias_correction={bias_correction!r}; use one of {BIAS_CORRECTION}")
    calibration = np.asarray(calibration, np.float32)
    if len(calibration) == 0:
        raise ValueError("the calibration set is empty")
    nncf = _nncf()
    import onnx
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, QuantizationParameters

    model = onnx.load(str(float_onnx))
    name = model.graph.input[0].name
    dataset = nncf.Dataset(list(calibration), lambda x: {name: x[None]})
    advanced = AdvancedQuantizationParameters(weights_quantization_params=QuantizationParameters(
        per_channel=per_channel))
    with _quiet_console():
        quantized = nncf.quantize(model, dataset, subset_size=len(calibration), advanced_parameters=advanced,
                                  fast_bias_correction=bias_correction == "fast")
    _fold_weight_quantizers(quantized.graph)
    out = Path(out)
    onnx.save(quantized, str(out))
    return out


def _fold_weight_quantizers(graph) -> None:
    """Store weights as int8 initializers read by ``DequantizeLinear``, as onnxruntime's QDQ files do.

    NNCF keeps float weights behind a ``QuantizeLinear``; each such node with constant inputs is
    evaluated once (:func:`zoo_helpers.quant.onnxgraph.quantize_linear`) and removed, so the file holds the
    int8 weights a compiler (and :mod:`zoo_helpers.deploy.placement`) expects. The function is unchanged.
    """
    from onnx import numpy_helper

    inits = {i.name: i for i in graph.initializer}
    folded = []
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or not all(i in inits for i in node.input if i):
            continue
        consts = {i: numpy_helper.to_array(inits[i]) for i in node.input if i}
        graph.initializer.append(numpy_helper.from_array(quantize_linear(node, consts), node.output[0]))
        folded.append(node)
    for node in folded:
        graph.node.remove(node)
    used = {i for n in graph.node for i in n.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)


@contextlib.contextmanager
def _quiet_console():
    """NNCF draws progress bars on rich's global console (as HTML in Jupyter): send them to a string instead."""
    import rich

    console = rich.get_console()
    saved = console.file, console.is_jupyter
    console.file, console.is_jupyter = io.StringIO(), False
    try:
        yield
    finally:
        console.file, console.is_jupyter = saved


def _nncf():
    """Import NNCF with its telemetry stub and its progress logging kept off the book's pages."""
    import logging

    os.environ.setdefault("NNCF_CI", "1")  # read by nncf.telemetry at import: the no-op stub
    import nncf
    from nncf.common.logging import nncf_logger

    nncf_logger.setLevel(logging.WARNING)
    return nncf
