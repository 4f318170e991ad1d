"""Cross-layer equalization (CLE) of a float ONNX graph before per-tensor quantization.

Per-tensor quantization gives every channel of a weight tensor one scale. When the channels'
ranges differ by orders of magnitude (typical of depthwise convolutions), the small channels
round to all-zero kernels. Data-free quantization (Nagel et al., 2019) rescales pairs of
consecutive convolutions A -> B: output channel i of A is divided by ``s_i`` and input channel i
of B multiplied by ``s_i``, with ``s_i = sqrt(r_A[i] / r_B[i])`` (``r``: largest absolute weight of
the channel), so both end with range ``sqrt(r_A[i] r_B[i])``. The float function is unchanged
because everything between A and B is positively homogeneous per channel:

* ReLU and zero padding commute with a positive per-channel scale;
* ReLU6 does not (``min(x / s, 6) != min(x, 6) / s``), so each ``Clip(0, 6)`` between a pair
  becomes ``Min(Relu(x), 6 / s)`` with a per-channel bound, exactly equivalent in float.

Pairs are found by pattern: ``Conv -> [Relu | Clip(0, c) | Pad(constant 0)]* -> Conv``, each
tensor on the way used by one node only, B a regular (group 1) or depthwise convolution.
Several sweeps are made, since a depthwise layer is B of one pair and A of the next.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo_helpers.quant.branches import equalize_groups
from zoo_helpers.quant.branches import groups as branch_groups
from zoo_helpers.quant.onnxgraph import attr, depthwise, homogeneous


@dataclass
class _Pair:
    a: object          # onnx NodeProto (Conv)
    between: list      # Relu / Clip / Pad nodes
    b: object          # onnx NodeProto (Conv)
    depthwise: bool
    scale: np.ndarray  # accumulated per-channel s
    bounds: list = field(default_factory=list)  # per-channel ReLU6 bounds made for this pair


def _find_pairs(graph, consts: dict[str, np.ndarray]) -> list[_Pair]:
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    outputs = {o.name for o in graph.output}
    pairs = []
    for a in graph.node:
        if a.op_type != "Conv" or a.input[1] not in consts:  # any conv: only its output channels are scaled
            continue
        cur, between = a.output[0], []
        while cur not in outputs and len(consumers.get(cur, [])) == 1:
            n = consumers[cur][0]
            if n.op_type == "Conv" and n.input[0] == cur and n.input[1] in consts:
                dw = depthwise(n, consts)
                if attr(n, "group", 1) == 1 or dw:
                    pairs.append(_Pair(a, between, n, dw, np.ones(consts[a.input[1]].shape[0])))
                break
            if not homogeneous(n, consts):
                break
            between.append(n)
            cur = n.output[0]
    return pairs


def equalize(float_onnx: str | os.PathLike[str], out: str | os.PathLike[str], sweeps: int = 8,
             dead: float = 1e-3, calibration: np.ndarray | None = None, branches: bool = False) -> dict:
    """Apply cross-layer equalization to a float ONNX model and save it to ``out``.

    Channels whose largest weight is under ``dead`` times the tensor's largest are not rescaled. A graph with
    no pair (no convolution followed, through positively homogeneous nodes only, by another) is saved as it is.
    With ``branches``, each sweep also rescales the groups of tensors joined by branches (residual streams,
    feature pyramids: :mod:`zoo_helpers.quant.branches`). With ``calibration`` (float inputs of the graph), high
    biases are absorbed afterwards
    (:func:`_absorb_high_biases`). Returns a summary: number of pairs, ReLU6 nodes rewritten, dead inputs
    pruned, channels whose bias was absorbed, and the weight range ratio (largest / smallest channel range,
    median over equalized tensors) before and after.

    Examples
    --------
    >>> # equalize("movenet_float.onnx", "movenet_float_cle.onnx")  # see the MoveNet notebook
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(float_onnx))
    graph = model.graph
    consts = {i.name: numpy_helper.to_array(i).copy() for i in graph.initializer}
    pairs = _find_pairs(graph, consts)
    if not pairs:  # e.g. SiLU between every pair (YOLOv8): nothing to rescale exactly, the graph is kept
        onnx.save(model, str(out))
        return {"pairs": 0, "branch groups": 0, "ReLU6 rewritten": 0, "dead inputs pruned": 0,
                "biases absorbed": 0, "median channel range ratio before":
                float("nan"), "median channel range ratio after": float("nan"), "path": Path(out)}
    touched = {p.a.input[1] for p in pairs} | {p.b.input[1] for p in pairs}
    before = _median_ratio(consts, touched)
    pruned = _prune_dead_inputs(pairs, consts)
    grouped = {"groups": 0, "channels": 0}
    if branches:
        found = branch_groups(graph, consts)
    for _ in range(sweeps):
        if branches:
            grouped = equalize_groups(found, consts, dead)
        for p in pairs:
            w_a, w_b = consts[p.a.input[1]], consts[p.b.input[1]]
            r_a = np.abs(w_a).reshape(w_a.shape[0], -1).max(1)
            r_b = np.abs(w_b).reshape(w_b.shape[0], -1).max(1) if p.depthwise else \
                np.abs(w_b).transpose(1, 0, 2, 3).reshape(w_b.shape[1], -1).max(1)
            # near-dead channels (weights ~0 on either side) carry no signal to balance: leave them alone,
            # otherwise the live side is blown up by 1/sqrt(tiny) and dominates its tensor's range
            live = (r_a > dead * r_a.max()) & (r_b > dead * r_b.max())
            s = np.where(live, np.sqrt(r_a / np.where(live, r_b, 1.0)), 1.0)
            consts[p.a.input[1]] = (w_a / s.reshape(-1, 1, 1, 1)).astype(w_a.dtype)
            if len(p.a.input) > 2 and p.a.input[2]:
                consts[p.a.input[2]] = (consts[p.a.input[2]] / s).astype(w_a.dtype)
            shape = (-1, 1, 1, 1) if p.depthwise else (1, -1, 1, 1)
            consts[p.b.input[1]] = (w_b * s.reshape(shape)).astype(w_b.dtype)
            p.scale = p.scale * s
    after = _median_ratio(consts, touched)
    rewritten = 0
    new_nodes = []
    for p in pairs:  # Clip(0, c) between A and B: Relu, then a per-channel bound c / s
        for clip in [n for n in p.between if n.op_type == "Clip"]:
            bound_name = f"{clip.output[0]}_cle_bound"
            bound = (float(consts[clip.input[2]]) / p.scale).astype(np.float32).reshape(1, -1, 1, 1)
            consts[bound_name] = bound
            p.bounds.append(bound_name)
            relu_out = f"{clip.output[0]}_cle_relu"
            new_nodes.append((clip, [helper.make_node("Relu", [clip.input[0]], [relu_out]),
                                     helper.make_node("Min", [relu_out, bound_name], [clip.output[0]])]))
            rewritten += 1
    for clip, replacement in new_nodes:
        index = list(graph.node).index(clip)
        graph.node.remove(clip)
        for k, node in enumerate(replacement):
            graph.node.insert(index + k, node)
    _store(graph, consts)
    absorbed = 0
    if calibration is not None:
        absorbed = _absorb_high_biases(model, pairs, consts, np.asarray(calibration, np.float32))
        _store(graph, consts)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return {"pairs": len(pairs), "branch groups": grouped["groups"], "ReLU6 rewritten": rewritten,
            "dead inputs pruned": pruned, "biases absorbed": absorbed,
            "median channel range ratio before": before, "median channel range ratio after": after,
            "path": Path(out)}


def _store(graph, consts: dict[str, np.ndarray]) -> None:
    from onnx import numpy_helper

    used = {i for n in graph.node for i in n.input}
    del graph.initializer[:]
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items() if k in used)


def _absorbable(p: _Pair, consts: dict[str, np.ndarray]) -> bool:
    """A bias shift through this pair is exact: an activation between, no padding anywhere, A has a bias."""
    kernel = consts[p.b.input[1]].shape[2:]
    pads = next((list(a.ints) for a in p.b.attribute if a.name == "pads"), [0])
    auto = next((a.s for a in p.b.attribute if a.name == "auto_pad"), b"NOTSET")
    return (len(p.a.input) > 2 and p.a.input[2] in consts and any(n.op_type in ("Relu", "Clip") for n in p.between)
            and not any(n.op_type == "Pad" for n in p.between) and all(k == 1 for k in kernel)
            and not any(pads) and auto in (b"NOTSET", b"VALID"))


def _absorb_high_biases(model, pairs: list[_Pair], consts: dict[str, np.ndarray], calibration: np.ndarray) -> int:
    """High-bias absorption (Nagel et al., 2019): move the part of A's output that never reaches 0 into B.

    Where A's pre-activation ``x_i >= c_i > 0`` on every calibration input, ``relu(x_i) = c_i + relu(x_i - c_i)``
    (and a ReLU6 bound shifts by ``c_i`` too), so ``c_i`` leaves A's bias and enters B's as ``W_B c``: the same
    function on inputs like the calibration set, with a smaller activation range to quantize. Only pairs
    where B is 1x1 without padding are used (a padded border would read 0 where ``c_i`` was meant). ``c`` is
    measured, not assumed from batch-norm statistics (the recovered graphs have none). Returns the number
    of channels shifted.
    """
    import onnx
    import onnxruntime as ort

    candidates = [p for p in pairs if _absorbable(p, consts)]
    if not candidates or len(calibration) == 0:
        return 0
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(onnx.helper.make_tensor_value_info(p.a.output[0], onnx.TensorProto.FLOAT, None)
                              for p in candidates)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    feed, names = session.get_inputs()[0].name, [p.a.output[0] for p in candidates]
    lows = None
    for x in calibration:
        mins = [o.min(axis=(0, 2, 3)) for o in session.run(names, {feed: x[None]})]
        lows = mins if lows is None else [np.minimum(a, b) for a, b in zip(lows, mins, strict=True)]
    count = 0
    for p, low in zip(candidates, lows, strict=True):
        c = np.maximum(low, 0).astype(np.float32)
        for bound in p.bounds:  # a channel saturated at its ReLU6 bound everywhere keeps a zero output
            c = np.minimum(c, consts[bound].reshape(-1))
        if not (c > 0).any():
            continue
        consts[p.a.input[2]] = (consts[p.a.input[2]] - c).astype(np.float32)
        for bound in p.bounds:
            consts[bound] = (consts[bound] - c.reshape(1, -1, 1, 1)).astype(np.float32)
        w_b = consts[p.b.input[1]]
        shift = w_b.sum(axis=(1, 2, 3)) * c if p.depthwise else (w_b * c.reshape(1, -1, 1, 1)).sum(axis=(1, 2, 3))
        if len(p.b.input) < 3 or not p.b.input[2]:
            name = f"{p.b.output[0]}_hba_bias"
            consts[name] = np.zeros(w_b.shape[0], np.float32)
            del p.b.input[2:]
            p.b.input.append(name)
        consts[p.b.input[2]] = (consts[p.b.input[2]] + shift).astype(np.float32)
        count += int((c > 0).sum())
    return count


def _prune_dead_inputs(pairs: list[_Pair], consts: dict[str, np.ndarray]) -> int:
    """Zero B's weights that read a channel of A that is always 0; returns how many channels.

    A channel of A with all-zero weights outputs its bias everywhere; after a ReLU (or ReLU6) a
    bias <= 0 makes it exactly 0, and zero padding keeps it 0, so B's weights on that channel never
    meet a nonzero input. They still set B's per-tensor range (MoveNet's second layer reads such a
    channel with a weight of 56 where the others are under 8), so they are set to 0: exact in float.
    Pairs are visited in graph order, so a channel of B that becomes dead this way is seen as A next.
    """
    count = 0
    for p in pairs:
        w_a, w_b = consts[p.a.input[1]], consts[p.b.input[1]]
        if not any(n.op_type in ("Relu", "Clip") for n in p.between):
            continue
        bias = consts[p.a.input[2]] if len(p.a.input) > 2 and p.a.input[2] else np.zeros(w_a.shape[0])
        dead = (np.abs(w_a).reshape(w_a.shape[0], -1).max(1) == 0) & (bias <= 0)
        if not dead.any():
            continue
        w_b = w_b.copy()
        if p.depthwise:
            w_b[dead] = 0
        else:
            w_b[:, dead] = 0
        consts[p.b.input[1]] = w_b
        count += int(dead.sum())
    return count


def channel_range_ratios(onnx_path: str | os.PathLike[str]) -> dict[str, float]:
    """Per Conv: largest / smallest nonzero per-output-channel max ``|w|`` (1 = perfectly even)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    out = {}
    for n in graph.node:
        if n.op_type == "Conv" and n.input[1] in consts:
            out[n.name or n.output[0]] = _range_ratio(consts[n.input[1]])
    return out


def _range_ratio(w: np.ndarray) -> float:
    r = np.abs(w).reshape(w.shape[0], -1).max(1)
    r = r[r > 0]
    return float(r.max() / r.min()) if r.size else 1.0


def _median_ratio(consts: dict[str, np.ndarray], names: set[str]) -> float:
    return float(np.median([_range_ratio(consts[name]) for name in names]))
