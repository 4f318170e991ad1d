"""onnxruntime's static int8 quantization (``quantize_static``) of a float ONNX graph: one recipe engine.

``quant_pre_process`` then ``quantize_static`` (QDQ, int8, MinMax, percentile or entropy calibration,
per-channel or per-tensor weights) from real calibration inputs; :mod:`zoo_helpers.quant.recipes` chooses
when. Its histogram calibrators' progress prints are kept off the page.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np

#: onnxruntime calibration methods by the name :func:`quantize_onnx` takes.
CALIBRATION_METHODS = {"minmax": "MinMax", "percentile": "Percentile", "entropy": "Entropy"}


def quantize_onnx(float_onnx: str | os.PathLike[str], out: str | os.PathLike[str], calibration: np.ndarray,
                  per_channel: bool, method: str = "minmax") -> Path:
    """Static int8 QDQ quantization of a float ONNX model from calibration inputs (onnxruntime).

    Parameters
    ----------
    float_onnx
        Float model with one input.
    out
        Where to write the quantized model.
    calibration
        ``(N, ...)`` float32 inputs, already in the model's input domain and layout.
    per_channel
        Per-channel weights (True) or one scale per tensor (False).
    method
        How activation ranges come from the calibration outputs: ``minmax`` (their extremes), ``percentile``
        (99.999th percentile of ``|x|``) or ``entropy`` (the range that minimises the KL divergence of the
        clipped histogram); see :data:`CALIBRATION_METHODS`.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method not in CALIBRATION_METHODS:
        raise ValueError(f"method={method!r}; use one of {sorted(CALIBRATION_METHODS)}")
    name = onnx.load(str(float_onnx)).graph.input[0].name
    calibration = np.asarray(calibration, np.float32)
    if len(calibration) == 0:
        raise ValueError("the calibration set is empty")

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(calibration)

        def get_next(self):
            x = next(self._it, None)
            return None if x is None else {name: x[None]}

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(float_onnx), str(pre), skip_symbolic_shape=True)
        with contextlib.redirect_stdout(io.StringIO()):  # histogram calibrators print their progress
            quantize_static(str(pre), str(out), _Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                            calibrate_method=getattr(CalibrationMethod, CALIBRATION_METHODS[method]),
                            extra_options={"WeightSymmetric": True, "ActivationSymmetric": False})
    return Path(out)
