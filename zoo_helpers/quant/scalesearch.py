"""Layer-wise MSE scale search for per-tensor int8 weights, on a float ONNX graph before quantization.

A per-tensor quantizer takes its weight scale from the tensor's largest value, ``max|W| / 127``. When a few
weights are much larger than the rest, that scale leaves the many small weights a handful of levels.
Searching, layer by layer, the clipping value ``c <= max|W|`` that minimises the mean squared error
``|W - Q(W; c / 127)|^2`` of the quantized weights trades a little error on the outliers for finer steps
everywhere else (the weight part of "MSE" range setting in the quantization literature; AdaRound, which
also learns each weight's rounding, needs torch through aimet). No library does this search on an
ONNX float graph here: onnxruntime's weight ranges are min/max and NNCF's MSE weight search belongs to
its weight *compression* (int4/int8 weight-only) path, not to static int8 quantization.

:func:`clip_weights` writes the float graph with every convolution's and matrix product's weights clipped
to their searched ``c``; any per-tensor quantizer then derives exactly the searched scale from it. The
clipping changes the float function only by what the search judged worth it (reported per layer).

Examples
--------
>>> w = np.random.default_rng(0).standard_t(2, 10000)  # heavy tails: a few weights far out
>>> bool(search(w) < np.abs(w).max())
True
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: Candidate clipping values, as shares of ``max|W|``.
CANDIDATES = np.linspace(0.2, 1.0, 41)


def search(w: np.ndarray, levels: int = 127) -> float:
    """The clipping value among :data:`CANDIDATES` x ``max|w|`` with the least int8 quantization MSE.

    Symmetric quantization with ``levels`` steps each side (127 for int8 weights); all candidates are
    scored at once (vectorised over a ``(candidates, weights)`` array).
    """
    w = np.asarray(w, np.float32).ravel()
    top = float(np.abs(w).max())
    if top == 0:
        return 0.0
    clip = (CANDIDATES * top)[:, None]
    scale = clip / levels
    q = np.clip(np.rint(w[None] / scale), -levels, levels) * scale
    return float(clip[int(np.argmin(((q - w[None]) ** 2).mean(1))), 0])


def clip_weights(float_onnx: str | os.PathLike[str], out: str | os.PathLike[str]) -> dict:
    """Clip every Conv / Gemm / MatMul weight initializer to its :func:`search` value; save to ``out``.

    Returns a summary: layers searched, layers clipped (``c < max|W|``), the median ``c / max|W|`` of the
    clipped ones and ``path``.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(float_onnx))
    inits = {i.name: i for i in model.graph.initializer}
    shares = []
    searched = 0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul") or len(node.input) < 2 or node.input[1] not in inits:
            continue
        init = inits[node.input[1]]
        w = numpy_helper.to_array(init)
        if w.dtype != np.float32 or w.size < 2:
            continue
        searched += 1
        top, c = float(np.abs(w).max()), search(w)
        if 0 < c < top:
            shares.append(c / top)
            init.CopyFrom(numpy_helper.from_array(np.clip(w, -c, c).astype(np.float32), init.name))
    onnx.save(model, str(out))
    return {"layers searched": searched, "layers clipped": len(shares),
            "median clip / max": float(np.median(shares)) if shares else 1.0, "path": Path(out)}
