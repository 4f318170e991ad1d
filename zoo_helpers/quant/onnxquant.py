"""Recover a float graph from an int8 TFLite model and quantize it again with onnxruntime.

The MoveNet files are published only as int8, so the "float" model here is the published int8
weights dequantized, not ST's training checkpoint. Route (each step is a function):

1. :func:`tflite_to_onnx`: tf2onnx ``--tflite`` gives a QDQ ONNX graph (opset 17).
2. :func:`recover_float`: fold every constant subgraph (DequantizeLinear of int8 weights, including
   Q -> Transpose -> DQ chains and int8 Concat/Reshape/Slice between Q and DQ) into float
   initializers, turn the remaining activation Q/DQ into identities, make the input float and the
   batch size 1.
3. :func:`quantize_onnx`: ``quant_pre_process`` then ``quantize_static`` (QDQ, int8, MinMax, percentile or
   entropy, per-channel or per-tensor) from real calibration images. The recipes built on these steps live
   in :mod:`zoo_helpers.quant.build`; our own trained models go through :mod:`zoo_helpers.quant.kerasquant`.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def tflite_to_onnx(tflite: str | os.PathLike[str], out: str | os.PathLike[str], opset: int = 17) -> Path:
    """Convert a TFLite file to a (QDQ) ONNX file with tf2onnx; returns ``out``."""
    out = Path(out)
    cmd = [sys.executable, "-m", "tf2onnx.convert", "--tflite", str(tflite), "--output", str(out),
           "--opset", str(opset)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    if proc.returncode != 0 or not out.is_file():
        raise RuntimeError(f"tf2onnx failed on {tflite}:\n{proc.stderr[-2000:]}")
    return out


def _fold_constants(graph, consts: dict[str, np.ndarray]) -> None:
    """Evaluate, in order, every node whose inputs are all constants; drop it from the graph."""
    import onnx
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    keep = []
    for node in graph.node:
        ins = [i for i in node.input if i]
        if node.op_type not in ("QuantizeLinear",) and ins and all(i in consts for i in ins):
            inputs = [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(consts[i].dtype), None)
                      for i in ins]
            outputs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output]
            g = helper.make_graph([node], "fold", inputs, outputs)
            model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])  # same semantics here
            results = ReferenceEvaluator(model).run(None, {i: consts[i] for i in ins})
            consts.update(zip(node.output, (np.asarray(r) for r in results), strict=True))
        elif node.op_type == "QuantizeLinear" and ins and all(i in consts for i in ins):
            consts[node.output[0]] = quantize_linear(node, consts)
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    del graph.initializer[:]
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items() if k in used)


def quantize_linear(node, consts: dict[str, np.ndarray]) -> np.ndarray:
    """Evaluate a ``QuantizeLinear`` node whose inputs are all constants, as ONNX defines it.

    Round half to even, add the zero point, saturate to its type; per-axis when the scale has several values.
    """
    x, scale = consts[node.input[0]], consts[node.input[1]]
    zp = consts[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros((), np.uint8)
    axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
    shape = [1] * x.ndim
    if scale.size > 1:
        shape[axis] = scale.size
    q = np.rint(x / scale.reshape(shape)) + zp.reshape(shape).astype(np.int64)
    info = np.iinfo(zp.dtype)
    return np.clip(q, info.min, info.max).astype(zp.dtype)


def recover_float(qdq_onnx: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Turn a QDQ ONNX graph into a float graph with the dequantized weights (batch 1, float input).

    Examples
    --------
    >>> # recover_float("movenet_qdq.onnx", "movenet_float.onnx")  # see the MoveNet notebook
    """
    import onnx
    from onnx import TensorProto, numpy_helper

    model = onnx.load(str(qdq_onnx))
    graph = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:  # Constant nodes become constants too
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    kept = [n for n in graph.node if n.op_type != "Constant"]
    del graph.node[:]
    graph.node.extend(kept)
    _fold_constants(graph, consts)
    for node in graph.node:  # activation Q/DQ become identities: the data stays float
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            x = node.input[0]
            del node.input[:]
            node.input.append(x)
            del node.attribute[:]
            node.op_type = "Identity"
        if node.op_type == "Pad" and len(node.input) > 2 and node.input[2] in consts:
            val = consts[node.input[2]]  # an int8 pad value would now meet float data
            if not np.issubdtype(val.dtype, np.floating):
                name = node.input[2] + "_float"
                graph.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), name))
                node.input[2] = name
    _drop_identities(graph)
    used = {i for n in graph.node for i in n.input}
    unused = [i for i in graph.initializer if i.name not in used]
    for init in unused:  # the activation scales and zero points of the removed Q/DQ
        graph.initializer.remove(init)
    for tensor in [*graph.input, *graph.output]:
        tt = tensor.type.tensor_type
        tt.elem_type = TensorProto.FLOAT
        if tt.shape.dim:
            tt.shape.dim[0].ClearField("dim_param")
            tt.shape.dim[0].dim_value = 1
    del graph.value_info[:]
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model)
    out = Path(out)
    onnx.save(model, str(out))
    return out


def _drop_identities(graph) -> None:
    """Remove Identity nodes, wiring their consumers to their input (graph outputs keep their names)."""
    outputs = {o.name for o in graph.output}
    alias: dict[str, str] = {}
    kept = []
    for node in graph.node:
        for k, name in enumerate(node.input):
            node.input[k] = alias.get(name, name)
        if node.op_type == "Identity" and node.output[0] not in outputs:
            alias[node.output[0]] = node.input[0]
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)


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
        (99.999th percentile of |x|) or ``entropy`` (the range that minimises the KL divergence of the
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


def requantize(tflite: str | os.PathLike[str], workdir: str | os.PathLike[str], calibration: np.ndarray,
               equalized: bool = True, rescale: tuple[float, float] | None = None) -> dict[str, Path]:
    """Recover the float graph of a TFLite model and quantize it, per-channel and per-tensor.

    For an int8 file the float graph is its weights dequantized; a float file (MediaPipe's) passes
    through unchanged, and ``rescale`` must then give its input domain (e.g. ``(1 / 255, 0)``).

    Parameters
    ----------
    tflite
        The published int8 model (uint8 input).
    workdir
        Folder for the intermediate and resulting ONNX files.
    calibration
        ``(N, H, W, 3)`` uint8 RGB calibration images at the input size; they are fed to the float
        model in the int8 model's own input domain (its input scale and zero point).
    equalized
        Also apply cross-layer equalization (:mod:`zoo_helpers.quant.equalize`) and quantize that per-tensor.

    Returns
    -------
    dict
        Paths of ``qdq`` (tf2onnx output), ``float``, ``per_channel`` and ``per_tensor`` models, plus
        ``equalized_float`` and ``per_tensor_cle`` when ``equalized``.
    """
    from zoo_helpers.runtime.models import load_model

    workdir = Path(workdir)
    stem = Path(tflite).stem
    paths = float_graph(tflite, workdir)
    rescale = rescale or float_input_rescale(load_model(tflite))
    calib = load_model(paths["float"], rescale=rescale).prepare(np.asarray(calibration)).astype(np.float32)
    for name, pc in (("per_channel", True), ("per_tensor", False)):
        paths[name] = quantize_onnx(paths["float"], workdir / f"{stem}_{name}.onnx", calib, per_channel=pc)
    if equalized:
        from zoo_helpers.quant.equalize import equalize

        paths["equalized_float"] = equalize(paths["float"], workdir / f"{stem}_float_cle.onnx")["path"]
        paths["per_tensor_cle"] = quantize_onnx(paths["equalized_float"], workdir / f"{stem}_per_tensor_cle.onnx",
                                                calib, per_channel=False)
    return paths


def float_graph(tflite: str | os.PathLike[str], workdir: str | os.PathLike[str]) -> dict[str, Path]:
    """The ``qdq`` ONNX graph of a TFLite file (tf2onnx) and its ``float`` graph (:func:`recover_float`).

    Both are written to ``workdir`` as ``<stem>_qdq.onnx`` and ``<stem>_float.onnx``; a float TFLite file
    (MediaPipe's) gives a float graph unchanged.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    stem = Path(tflite).stem
    paths = {"qdq": tflite_to_onnx(tflite, workdir / f"{stem}_qdq.onnx")}
    paths["float"] = recover_float(paths["qdq"], workdir / f"{stem}_float.onnx")
    return paths


#: Labels of the models :func:`requantized_models` returns, by :func:`requantize` output name.
LABELS = {"float": "recovered float", "per_channel": "our per-channel", "per_tensor": "our per-tensor",
          "per_tensor_cle": "our per-tensor + CLE"}


def requantized_models(source, workdir: str | os.PathLike[str], calibration: np.ndarray, equalized: bool = True,
                       num_threads: int = 2) -> tuple[dict, dict[str, Path]]:
    """:func:`requantize` a loaded model's file and open each result with the right input domain.

    ``source`` is a :class:`zoo_helpers.runtime.models.Model` (its ``rescale`` is the input domain of a float
    source; an int8 source's own input quantization gives the float graph's). Returns the models by
    label (``recovered float`` for an int8 source, ``our per-channel``, ``our per-tensor`` and, with
    ``equalized``, ``our per-tensor + CLE``) and the paths of every file made.
    """
    from zoo_helpers.runtime.models import load_model

    int8 = source.inputs[0].quantized
    paths = requantize(source.path, workdir, calibration, equalized, None if int8 else source.rescale)
    rescale = float_input_rescale(source) if int8 else source.rescale
    labels = {k: v for k, v in LABELS.items() if k in paths and (int8 or k != "float")}
    return {label: load_model(paths[k], num_threads=num_threads, rescale=rescale) for k, label in labels.items()}, paths


def float_input_rescale(int8_model) -> tuple[float, float]:
    """``(scale, offset)`` that feeds a recovered float model exactly what the int8 model saw from a pixel."""
    spec = int8_model.inputs[0]
    if not spec.quantized:
        return (1.0, 0.0)
    return float(spec.scale[0]), -float(spec.scale[0] * spec.zero_point[0])
