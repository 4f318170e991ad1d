"""Layer-by-layer comparison of two models on the same inputs, and what a quantized file really holds.

* :func:`onnx_tensor_sqnr` and :func:`tflite_tensor_sqnr`: the signal-to-quantization-noise ratio
  ``10 log10(sum(ref^2) / sum((ref - cand)^2))`` in dB of every intermediate tensor the two models share
  by name, over all inputs (higher is closer; ``inf`` is identical);
* :func:`tflite_granularity`: how many tensors of a TFLite file are quantized per-axis and per-tensor,
  whatever the file's name claims;
* :func:`range_ratios`: how uneven the convolutions' channel ranges are, before and after equalization;
* :func:`int16_cost`: what 16-bit activations on a model's least faithful tensors would cost in RAM;
* :func:`layer_sqnr`: the SQNR per tensor of recipes' files against the float graph each started from.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from zoo_helpers.quant.equalize import channel_range_ratios
from zoo_helpers.quant.recipes import Made


def onnx_tensor_sqnr(reference: str | os.PathLike[str], candidate: str | os.PathLike[str],
                    inputs: np.ndarray) -> dict[str, float]:
    """SQNR in dB of every float tensor the two ONNX models share, on the same inputs.

    ``10 log10(sum(ref^2) / sum((ref - cand)^2))`` over all inputs; higher is better.
    """
    return _sqnr(_all_tensors(reference, inputs), _all_tensors(candidate, inputs))


def _sqnr(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray]) -> dict[str, float]:
    """SQNR per tensor name present in both with the same shape (tensors with no signal are skipped)."""
    out = {}
    for name, ref in reference.items():
        cand = candidate.get(name)
        if cand is None or cand.shape != ref.shape:
            continue
        noise = float(((ref - cand) ** 2).sum())
        signal = float((ref ** 2).sum())
        if signal > 0:
            out[name] = float("inf") if noise == 0 else 10 * np.log10(signal / noise)
    return out


def _all_tensors(path, inputs: np.ndarray) -> dict[str, np.ndarray]:
    import onnx
    import onnxruntime as ort

    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    floats = {v.name for v in model.graph.value_info if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    names = [o for n in model.graph.node if n.op_type not in ("QuantizeLinear", "DequantizeLinear")
             for o in n.output if o in floats]
    del model.graph.output[:]
    model.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feed_name = sess.get_inputs()[0].name
    runs = [sess.run(names, {feed_name: x[None].astype(np.float32)}) for x in inputs]
    return {n: np.stack([r[i] for r in runs]) for i, n in enumerate(names)}


def tflite_granularity(tflite: str | os.PathLike[str]) -> dict[str, object]:
    """Count a TFLite file's per-axis and per-tensor quantized tensors, whatever its name claims.

    Examples
    --------
    >>> from zoo_helpers.registry.assets import fetch
    >>> tflite_granularity(fetch("yolov8n_pose_256_int8_pt"))["granularity"]
    'per-tensor'
    """
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_path=str(tflite)).get_tensor_details()
    sizes = [len(d["quantization_parameters"]["scales"]) for d in details]
    per_axis, per_tensor = sum(s > 1 for s in sizes), sum(s == 1 for s in sizes)
    return {"file": Path(tflite).name, "per-axis tensors": per_axis, "per-tensor tensors": per_tensor,
            "granularity": "per-channel" if per_axis else "per-tensor"}


def granularity(path: str | os.PathLike[str]) -> dict[str, object]:
    """:func:`tflite_granularity` for a ``.tflite`` file; for a QDQ ``.onnx`` file the same count over the scales of
    its ``DequantizeLinear`` nodes (per-axis: more than one scale).

    Examples
    --------
    >>> from zoo_helpers.registry.assets import fetch
    >>> granularity(fetch("yolo26_pose_256_qdq_int8"))["granularity"]
    'per-channel'
    """
    if Path(path).suffix != ".onnx":
        return tflite_granularity(path)
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    sizes = [consts[n.input[1]].size for n in graph.node if n.op_type == "DequantizeLinear" and n.input[1] in consts]
    per_axis, per_tensor = sum(s > 1 for s in sizes), sum(s == 1 for s in sizes)
    return {"file": Path(path).name, "per-axis tensors": per_axis, "per-tensor tensors": per_tensor,
            "granularity": "per-channel" if per_axis else "per-tensor"}


def tflite_tensor_sqnr(reference: str | os.PathLike[str], candidate: str | os.PathLike[str],
                       images: np.ndarray) -> dict[str, float]:
    """SQNR (dB) of every intermediate tensor of ``candidate`` against the same-named one of ``reference``.

    Both TFLite models run on the same uint8 ``images`` (``(N, H, W, 3)``, raw pixels) with all
    tensors preserved; integer tensors are dequantized with their own parameters before comparing.
    """
    return _sqnr(_tflite_tensors(reference, images), _tflite_tensors(candidate, images))


def _tflite_tensors(path, images: np.ndarray) -> dict[str, np.ndarray]:
    import warnings

    from ai_edge_litert.interpreter import Interpreter

    with warnings.catch_warnings():  # "debugging only" warning: keeping every tensor is the point here
        warnings.simplefilter("ignore", UserWarning)
        interp = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    interp.allocate_tensors()
    feed = interp.get_input_details()[0]["index"]
    constants = {d["index"] for d in interp.get_tensor_details()} - _activation_indices(interp)
    runs: dict[str, list[np.ndarray]] = {}
    for x in np.asarray(images):
        interp.set_tensor(feed, x[None])
        interp.invoke()
        for d in interp.get_tensor_details():
            if d["index"] in constants or d["index"] == feed:
                continue
            try:
                value = interp.get_tensor(d["index"])
            except ValueError:  # tensors the runtime freed or never allocated
                continue
            q = d["quantization_parameters"]
            if len(q["scales"]) == 1:
                value = (value.astype(np.float64) - q["zero_points"][0]) * q["scales"][0]
            runs.setdefault(d["name"], []).append(np.asarray(value, np.float64))
    return {k: np.stack(v) for k, v in runs.items() if len(v) == len(images)}


def _activation_indices(interp) -> set[int]:
    """Indices of tensors produced by an operator (the others are weights and constants)."""
    return {i for op in interp._get_ops_details() for i in op["outputs"]}


def range_ratios(float_onnx: str | os.PathLike[str], equalized_onnx: str | os.PathLike[str], n: int = 10):
    """The ``n`` most uneven convolutions of a float graph: channel range ratio before and after equalization."""
    import pandas as pd

    table = pd.DataFrame({"before CLE": channel_range_ratios(float_onnx),
                          "after CLE": channel_range_ratios(equalized_onnx)})
    return table.sort_values("before CLE", ascending=False).head(n).round(1)


def int16_cost(sqnr: dict[str, float], float_onnx: str | os.PathLike[str], worst: int = 5):
    """The ``worst`` tensors by SQNR, with their size and the extra RAM of holding them as int16.

    ``sqnr`` is :func:`onnx_tensor_sqnr`'s result for a recipe (tensor name -> dB); sizes come from the
    float graph's inferred shapes (batch 1). Returns a table: SQNR, elements, int8 KiB, extra KiB at int16
    (one more byte per element; the planner may not need it all at once, so this is an upper bound).
    """
    import onnx
    import pandas as pd

    model = onnx.shape_inference.infer_shapes(onnx.load(str(float_onnx)))
    shapes = {v.name: [d.dim_value or 1 for d in v.type.tensor_type.shape.dim] for v in model.graph.value_info}
    finite = sorted(((v, k) for k, v in sqnr.items() if np.isfinite(v) and k in shapes))[:worst]
    rows = {name: {"SQNR (dB)": round(v, 1), "elements": int(np.prod(shapes[name])),
                   "int8 (KiB)": round(np.prod(shapes[name]) / 1024, 1),
                   "extra at int16 (KiB)": round(np.prod(shapes[name]) / 1024, 1)} for v, name in finite}
    table = pd.DataFrame(rows).T
    table.index.name = "tensor"
    return table


def layer_sqnr(made: Made, labels: list[str], inputs: np.ndarray):
    """Per-tensor SQNR (dB) of each of ``labels`` (those made) against its float graph, as a table.

    Each recipe is compared with the float graph it was quantized from (``Made.sources``): the equalized one for
    a CLE recipe (the same function, but every tensor between a pair or in a branch group rescaled per channel;
    with high-bias absorption also shifted), the float reference for the others. Pass images that did not
    calibrate: absorption is exact on the calibration images.

    ``inputs`` are uint8 images (prepared for the float graph here); see
    :func:`zoo_helpers.quant.debug.onnx_tensor_sqnr`.
    """
    import pandas as pd

    x = made.models[made.reference].prepare(inputs)

    return pd.DataFrame({label: onnx_tensor_sqnr(made.sources.get(label, made.float_onnx), made.paths[label], x)
                         for label in dict.fromkeys(labels) if label in made.paths})
