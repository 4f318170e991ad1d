"""Recover a float graph from an int8 TFLite or QDQ ONNX model: the starting point of every recipe.

The MoveNet files are published only as int8, so the "float" model here is the published int8 weights
dequantized, not ST's training checkpoint. Route (each step is a function):

1. :func:`tflite_to_onnx`: tf2onnx ``--tflite`` gives a QDQ ONNX graph (opset 17).
2. :func:`recover_float`: fold every constant subgraph (DequantizeLinear of int8 weights, including
   Q -> Transpose -> DQ chains and int8 Concat/Reshape/Slice between Q and DQ) into float
   initializers, turn the remaining activation Q/DQ into identities, make the input float and the
   batch size 1.
3. :func:`float_graph` runs both and :func:`float_input_rescale` feeds the float graph what the int8 model
   saw. The recipes (:mod:`zoo_helpers.quant.recipes`) quantize the result again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from zoo_helpers.quant.onnxgraph import drop_identities, fold_constants


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
    fold_constants(graph, consts)
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
    drop_identities(graph)
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


def float_graph(tflite: str | os.PathLike[str], workdir: str | os.PathLike[str]) -> dict[str, Path]:
    """The ``qdq`` ONNX graph of a TFLite file (tf2onnx) and its ``float`` graph (:func:`recover_float`).

    Both are written to ``workdir`` as ``<stem>_qdq.onnx`` and ``<stem>_float.onnx``; a float TFLite file
    (MediaPipe's) gives a float graph unchanged. A QDQ ONNX file (YOLO26-pose's) is its own ``qdq`` graph.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    stem = Path(tflite).stem
    if Path(tflite).suffix == ".onnx":
        paths = {"qdq": Path(tflite)}
    else:
        paths = {"qdq": tflite_to_onnx(tflite, workdir / f"{stem}_qdq.onnx")}
    paths["float"] = recover_float(paths["qdq"], workdir / f"{stem}_float.onnx")
    return paths


def float_input_rescale(int8_model) -> tuple[float, float]:
    """``(scale, offset)`` that feeds a recovered float model exactly what the int8 model saw from a pixel."""
    spec = int8_model.inputs[0]
    if not spec.quantized:
        return (1.0, 0.0)
    return float(spec.scale[0]), -float(spec.scale[0] * spec.zero_point[0])
