"""ONNX graph helpers shared by float recovery, equalization and the quantization engines.

Small, exact operations on an ``onnx`` graph and its constants (a ``{name: array}`` dict): reading an integer
attribute, telling a depthwise convolution, telling a node that commutes with a positive per-channel scale,
folding constant subgraphs, evaluating ``QuantizeLinear`` as ONNX defines it and removing ``Identity`` nodes.
"""

from __future__ import annotations

import numpy as np


def attr(node, name: str, default: int) -> int:
    """An integer attribute of ``node``, or ``default``."""
    return next((a.i for a in node.attribute if a.name == name), default)


def depthwise(node, consts: dict[str, np.ndarray]) -> bool:
    """True for a depthwise Conv (one input channel per group, as many groups as output channels)."""
    w, group = consts[node.input[1]], attr(node, "group", 1)
    return group > 1 and w.shape[1] == 1 and group == w.shape[0]


def homogeneous(node, consts) -> bool:
    """True for nodes that commute with a positive per-channel scale once Clip is rewritten."""
    if node.op_type == "Relu":
        return True
    if node.op_type == "Clip":
        lo = consts.get(node.input[1]) if len(node.input) > 1 and node.input[1] else None
        return lo is not None and float(lo) == 0.0 and len(node.input) > 2 and node.input[2] in consts
    if node.op_type == "Pad":
        mode = next((a.s for a in node.attribute if a.name == "mode"), b"constant")
        value = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros(())
        pads = consts.get(node.input[1])
        return mode == b"constant" and value is not None and float(value) == 0.0 and pads is not None \
            and pads[1] == 0 and pads[5] == 0  # no padding along channels
    return False


def fold_constants(graph, consts: dict[str, np.ndarray]) -> None:
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


def drop_identities(graph) -> None:
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
