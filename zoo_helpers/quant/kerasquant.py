"""Full-integer int8 TFLite files from the Keras models this book trains (hand posture).

TFLite's converter with a representative dataset of real inputs, one sample per step as ST's services
feed it, int8 operators only (``TFLITE_BUILTINS_INT8``) so nothing falls back to float silently, and
per-channel or per-tensor weights (the converter's private per-channel switch, which ST sets too). The
converter's own chatter (its SavedModel export log, with temporary paths, and its warning about input
statistics that the calibration set provides) is kept off the book's pages. The published models are
re-quantized through ONNX instead: :mod:`zoo_helpers.quant.recover` and :mod:`zoo_helpers.quant.recipes`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path

import numpy as np


def keras_to_int8_tflite(model, calibration: np.ndarray, out: str | os.PathLike[str], per_channel: bool = True,
                         io_type: str = "int8") -> Path:
    """Full-integer TFLite from a Keras model and real calibration inputs (one sample per step, as ST does).

    ``io_type`` is the input/output type (``int8`` or ``float32``); operators are int8 only
    (``TFLITE_BUILTINS_INT8``), so nothing falls back to float silently. Per-tensor uses the
    converter's per-channel switch (the same private flag ST's services set).
    """
    import tensorflow as tf

    calibration = np.asarray(calibration, np.float32)
    if len(calibration) == 0:
        raise ValueError("the calibration set is empty")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[None]] for x in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if io_type == "int8":
        converter.inference_input_type = converter.inference_output_type = tf.int8
    elif io_type != "float32":
        raise ValueError(f"io_type must be 'int8' or 'float32', got {io_type!r}")
    converter._experimental_disable_per_channel = not per_channel
    out = Path(out)
    logger = tf.get_logger()  # TF logs "Assets written to: /tmp/..." through its own stdout handler
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            # int8 inputs take the calibration's statistics; the converter warns it got none of its own
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
            out.write_bytes(converter.convert())
    finally:
        logger.setLevel(level)
    return out
