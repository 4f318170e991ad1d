"""Offline footprint analysis of a ``.tflite`` or ``.onnx`` model: weights, MACCs, activation memory.

What is computed, and how:

weights
    bytes of every constant tensor an operator reads (weights, biases, constant shapes), by dtype.
MACCs
    multiply-accumulates of the convolution-like operators: ``Conv`` ``out_elems * kh * kw * cin / groups``,
    depthwise ``out_elems * kh * kw``, fully connected / MatMul ``out_elems * k``. Other operators are
    counted separately as element operations (one per output element), since tools disagree on them.
activation memory
    every non-constant tensor lives from the operator that produces it (or the start, for model
    inputs) to the last operator that reads it (or the end, for model outputs), in execution order.
    A greedy planner places tensors by decreasing size at the lowest offset that does not overlap
    any already placed tensor whose lifetime overlaps (first fit, ``align``-byte aligned); the arena
    is the highest end offset. The lower bound, the largest sum of simultaneously live tensors, is
    reported beside it.

These are host-side estimates: an NPU compiler (ST Edge AI for the STM32N6) fuses operators, splits
tensors across memories and allocates I/O buffers its own way, so its figures differ; the notebooks
show both and say so. TFLM's own allocator measures the MCU arena of a ``.tflite`` file
(:func:`zoo_helpers.runtime.tflm.arena`); on the ST MoveNet 13-keypoint file its head equals this planner's arena.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Footprint:
    """Result of :func:`analyze`; sizes in bytes, MACCs as counts."""

    weights_by_dtype: dict[str, int]
    maccs_by_op: dict[str, int]
    elementwise_ops: int
    arena_bytes: int
    live_lower_bound: int
    io_bytes: int
    tensors: list[tuple[str, int, int, int]] = field(default_factory=list)  # name, size, first, last

    @property
    def weights_bytes(self) -> int:
        """All constant bytes."""
        return sum(self.weights_by_dtype.values())

    @property
    def maccs(self) -> int:
        """Total MACCs of the convolution-like operators."""
        return sum(self.maccs_by_op.values())

    def summary(self) -> dict[str, float]:
        """KiB and millions, for tables."""
        return {"weights_flash_kib": self.weights_bytes / 1024, "maccs_m": self.maccs / 1e6,
                "activation_ram_kib": self.arena_bytes / 1024, "live_lower_bound_kib": self.live_lower_bound / 1024,
                "io_kib": self.io_bytes / 1024}


def plan_arena(tensors: list[tuple[int, int, int]], align: int = 16) -> int:
    """Greedy first-fit placement of ``(size, first_step, last_step)`` tensors; returns the arena size.

    Examples
    --------
    >>> plan_arena([(64, 0, 1), (32, 1, 2), (64, 2, 3)])  # the first and last never live together
    96
    """
    placed: list[tuple[int, int, int, int]] = []  # offset, size, first, last
    order = sorted(range(len(tensors)), key=lambda i: (-tensors[i][0], tensors[i][1]))
    arena = 0
    for i in order:
        size, first, last = tensors[i]
        size = -(-size // align) * align
        busy = sorted((o, o + s) for o, s, f, t in placed if f <= last and first <= t)
        offset = 0
        for start, end in busy:
            if offset + size <= start:
                break
            offset = max(offset, end)
        placed.append((offset, size, first, last))
        arena = max(arena, offset + size)
    return arena


def _lifetimes(n_steps: int, producers: dict, consumers: dict, inputs: set, outputs: set, sizes: dict):
    out = []
    for name, size in sizes.items():
        first = -1 if name in inputs else producers.get(name)
        if first is None:
            continue
        uses = consumers.get(name, [])
        last = n_steps if name in outputs else max(uses, default=first)
        out.append((name, size, first, last))
    return out


def _finish(weights, maccs, elementwise, lifetimes, io_bytes, align) -> Footprint:
    steps = sorted({s for _, _, f, t in lifetimes for s in (f, t)})
    bound = max((sum(sz for _, sz, f, t in lifetimes if f <= s <= t) for s in steps), default=0)
    arena = plan_arena([(sz, f, t) for _, sz, f, t in lifetimes], align)
    return Footprint(weights, maccs, elementwise, arena, bound, io_bytes, lifetimes)


def _tflite(path: Path, align: int) -> Footprint:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    details = {d["index"]: d for d in interp.get_tensor_details()}
    ops = interp._get_ops_details()
    inputs = {d["index"] for d in interp.get_input_details()}
    outputs = {d["index"] for d in interp.get_output_details()}
    producers = {int(t): k for k, op in enumerate(ops) for t in op["outputs"]}
    consumers: dict[int, list[int]] = {}
    for k, op in enumerate(ops):
        for t in op["inputs"]:
            if t >= 0:
                consumers.setdefault(int(t), []).append(k)

    def nbytes(i: int) -> int:
        d = details[i]
        return int(np.prod(d["shape"])) * np.dtype(d["dtype"]).itemsize

    weights: dict[str, int] = {}
    for i in consumers:
        if i not in producers and i not in inputs:
            key = np.dtype(details[i]["dtype"]).name
            weights[key] = weights.get(key, 0) + nbytes(i)
    maccs: dict[str, int] = {}
    elementwise = 0
    for op in ops:
        out = details[int(op["outputs"][0])]["shape"]
        name = op["op_name"]
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"):
            w = details[int(op["inputs"][1])]["shape"]
            # weights: conv [cout, kh, kw, cin], depthwise [1, kh, kw, c], fully connected [out, in]
            per_out = w[-1] if name == "FULLY_CONNECTED" else w[1] * w[2] * (1 if name == "DEPTHWISE_CONV_2D"
                                                                               else w[3])
            maccs[name] = maccs.get(name, 0) + int(np.prod(out)) * int(per_out)
        else:
            elementwise += int(np.prod(out))
    sizes = {i: nbytes(i) for i in set(producers) | inputs}
    lifetimes = _lifetimes(len(ops), producers, consumers, inputs, outputs, sizes)
    io = sum(nbytes(i) for i in inputs | outputs)
    return _finish(weights, maccs, elementwise, [(details[i]["name"], s, f, t) for i, s, f, t in lifetimes], io, align)


def _onnx(path: Path, align: int) -> Footprint:
    import onnx
    from onnx import numpy_helper

    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    types = {v.name: v.type.tensor_type for v in [*graph.value_info, *graph.input, *graph.output]}

    def nbytes(name: str) -> int:
        tt = types.get(name)
        if tt is None or not tt.shape.dim:
            return 0
        dims = [d.dim_value or 1 for d in tt.shape.dim]
        return int(np.prod(dims)) * np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)).itemsize

    weights: dict[str, int] = {}
    for arr in consts.values():
        weights[arr.dtype.name] = weights.get(arr.dtype.name, 0) + arr.nbytes
    for n in graph.node:  # QDQ graphs: a weight is the constant behind its DequantizeLinear
        if n.op_type == "DequantizeLinear" and n.input[0] in consts:
            consts.setdefault(n.output[0], consts[n.input[0]])
    producers = {o: k for k, n in enumerate(graph.node) for o in n.output}
    consumers: dict[str, list[int]] = {}
    for k, n in enumerate(graph.node):
        for i in n.input:
            consumers.setdefault(i, []).append(k)
    maccs: dict[str, int] = {}
    elementwise = 0
    for n in graph.node:
        tt = types.get(n.output[0])
        out_elems = int(np.prod([d.dim_value or 1 for d in tt.shape.dim])) if tt is not None and tt.shape.dim else 0
        w = consts.get(n.input[1]) if len(n.input) > 1 else None
        if n.op_type == "Conv" and w is not None:
            maccs["Conv"] = maccs.get("Conv", 0) + out_elems * int(np.prod(w.shape[1:]))
        elif n.op_type in ("Gemm", "MatMul") and w is not None:
            maccs[n.op_type] = maccs.get(n.op_type, 0) + out_elems * int(w.shape[0])
        elif n.op_type not in ("QuantizeLinear", "DequantizeLinear", "Identity", "Reshape", "Constant"):
            elementwise += out_elems
    graph_inputs = {i.name for i in graph.input if i.name not in consts}
    outputs = {o.name for o in graph.output}
    sizes = {name: nbytes(name) for name in set(producers) | graph_inputs if name not in consts}
    lifetimes = _lifetimes(len(graph.node), producers, consumers, graph_inputs, outputs, sizes)
    io = sum(nbytes(i) for i in graph_inputs | outputs)
    return _finish(weights, maccs, elementwise, lifetimes, io, align)


def analyze(path: str | os.PathLike[str], align: int = 16) -> Footprint:
    """Footprint of a ``.tflite`` or ``.onnx`` model (see the module docstring for the method).

    Examples
    --------
    >>> from zoo_helpers.registry.assets import fetch
    >>> fp = analyze(fetch("yolov8n_pose_256_int8_pc"))
    >>> round(fp.maccs / 1e6)
    734
    """
    path = Path(path)
    if path.suffix == ".tflite":
        return _tflite(path, align)
    if path.suffix == ".onnx":
        return _onnx(path, align)
    raise ValueError(f"{path}: footprint analysis reads .tflite or .onnx files")
