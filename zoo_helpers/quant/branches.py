"""Cross-layer equalization through a model's branches: one scale per channel of a whole tensor group.

Pairwise equalization (:mod:`zoo_helpers.quant.equalize`) rescales a convolution and the one that reads it. It
stops where a tensor has several consumers or meets another branch: MobileNetV2's residual streams (each
block adds its output to the stream, and the next block reads it) and MoveNet's feature pyramid
(an upsampled coarse map added to a lateral convolution). The maths still allows a rescale there, for a
whole **group** at once: every tensor joined by an ``Add`` (two branches, channel by channel), a
``Resize`` or ``Identity`` (linear per channel), a ``Relu`` or a zero ``Pad`` (positively homogeneous)
is divided by the same ``s_i`` on channel ``i``. That holds exactly when

* every tensor of the group that is not made by one of those nodes is the output of a convolution with
  constant weights (a **producer**: its output channel ``i`` and bias are divided by ``s_i``), and
* every other node reading a tensor of the group is a convolution (a **consumer**: its input channel
  ``i``, or its depthwise channel ``i``, is multiplied by ``s_i``), and no tensor of the group is a graph
  output.

``s_i = sqrt(r_P[i] / r_C[i])``, with ``r_P`` the largest weight of channel ``i`` over the producers and
``r_C`` over the consumers, so both sides end with range ``sqrt(r_P r_C)``, as in the pairwise case.
Groups that break a condition are left alone, and counted.
"""

from __future__ import annotations

import numpy as np

from zoo_helpers.quant.onnxgraph import depthwise, homogeneous

#: Nodes that carry a per-channel scale from their input(s) to their output unchanged.
JOINS = ("Add", "Resize", "Identity", "Relu", "Pad")


def _joins(node, consts: dict[str, np.ndarray]) -> list[str]:
    """The data tensors ``node`` joins into one group (inputs and output), or [] when it does not qualify."""
    data = [i for i in node.input if i and i not in consts]
    if node.op_type not in JOINS or len(data) != (2 if node.op_type == "Add" else 1):
        return []
    if node.op_type in ("Relu", "Pad") and not homogeneous(node, consts):  # a zero Pad along H, W only
        return []
    return [*data, node.output[0]]


def groups(graph, consts: dict[str, np.ndarray]) -> list[dict]:
    """Every equalizable group: ``{"tensors", "producers", "consumers"}`` (``consumers`` as (node, depthwise))."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for node in graph.node:
        tensors = _joins(node, consts)
        for t in tensors[1:]:
            parent[find(t)] = find(tensors[0])
    join_nodes = {n.output[0] for n in graph.node if _joins(n, consts)}  # nodes by output name, not id()
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    outputs = {o.name for o in graph.output}
    by_root: dict[str, set[str]] = {}
    for t in parent:
        by_root.setdefault(find(t), set()).add(t)
    found = []
    for tensors in by_root.values():
        # only a group with a branch (an Add) is more than the pairwise step; inputs and outputs stay as they are
        if not any(t in producer and producer[t].op_type == "Add" for t in tensors) or tensors & outputs \
                or any(t not in producer for t in tensors):
            continue
        prods = [producer[t] for t in tensors if producer[t].output[0] not in join_nodes]
        cons = list({n.output[0]: n for t in tensors for n in consumers.get(t, []) if n.output[0] not in join_nodes}
                    .values())
        if not prods:
            continue
        if not all(_conv(p, consts) for p in prods) or not all(_conv(c, consts) for c in cons):
            continue
        if not all(c.input[0] in tensors for c in cons):
            continue
        found.append({"tensors": tensors, "producers": prods,
                      "consumers": [(c, depthwise(c, consts)) for c in cons]})
    return found


def _conv(node, consts) -> bool:
    if node.op_type != "Conv" or node.input[1] not in consts:
        return False
    return next((a.i for a in node.attribute if a.name == "group"), 1) == 1 or depthwise(node, consts)


def equalize_groups(found: list[dict], consts: dict[str, np.ndarray], dead: float = 1e-3) -> dict[str, int]:
    """Rescale each group ``found`` by :func:`groups` in ``consts`` (in place); returns how many groups and channels.

    The groups depend on the graph only, so a caller sweeping several times finds them once.
    """
    done = channels = 0
    for g in found:
        prods = [consts[p.input[1]] for p in g["producers"]]
        n = prods[0].shape[0]
        if any(w.shape[0] != n for w in prods):
            continue
        r_p = np.max([np.abs(w).reshape(n, -1).max(1) for w in prods], axis=0)
        r_c = np.max([np.abs(consts[c.input[1]]).reshape(n, -1).max(1) if dw else
                      np.abs(consts[c.input[1]]).transpose(1, 0, 2, 3).reshape(n, -1).max(1)
                      for c, dw in g["consumers"]], axis=0)
        live = (r_p > dead * r_p.max()) & (r_c > dead * r_c.max())
        s = np.where(live, np.sqrt(r_p / np.where(live, r_c, 1.0)), 1.0).astype(np.float32)
        for p in g["producers"]:
            consts[p.input[1]] = consts[p.input[1]] / s.reshape(-1, 1, 1, 1)
            if len(p.input) > 2 and p.input[2]:
                consts[p.input[2]] = consts[p.input[2]] / s
        for c, dw in g["consumers"]:
            consts[c.input[1]] = consts[c.input[1]] * s.reshape((-1, 1, 1, 1) if dw else (1, -1, 1, 1))
        done += 1
        channels += int(live.sum())
    return {"groups": done, "channels": channels}
