"""Decode pose-model outputs into keypoints, vectorised over whole batches.

Every decoder returns keypoints as ``(B, K, 3)`` float arrays ``[x, y, score]`` with x and y
normalised to the model input ([0, 1] across its width and height); map them to original
image pixels with :meth:`zoo_helpers.preprocess.Transform.normalized_to_original`.

Single-pose regression (Google MoveNet)
    output ``(B, 1, K, 3)`` laid out ``[y, x, score]``: swapped to ``[x, y, score]``.
Heatmaps (MoveNet heatmaps, ST MoveNet)
    output ``(B, H, W, K)``; ``mode="st"`` reproduces ST's services (argmax cell + half-cell
    offset, so the step is 1/W of the image); ``mode="subpixel"`` refines the peak with a
    quadratic fit through the peak and its two neighbours along each axis (a Taylor step on
    the discrete derivatives), clipped to half a cell. The confidence is the peak value.

No Python loop runs per image or per keypoint.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

HeatmapMode = Literal["st", "subpixel"]


def decode_singlepose(output: np.ndarray) -> np.ndarray:
    """Turn MoveNet's ``(B, 1, K, 3)`` ``[y, x, score]`` output into ``(B, K, 3)`` ``[x, y, score]``.

    Examples
    --------
    >>> decode_singlepose(np.array([[[[0.25, 0.75, 0.9]]]])).tolist()
    [[[0.75, 0.25, 0.9]]]
    """
    output = np.asarray(output, dtype=np.float32)
    if output.ndim != 4 or output.shape[1] != 1 or output.shape[3] != 3:
        raise ValueError(f"expected a (B, 1, K, 3) single-pose output, got {output.shape}")
    return output[:, 0][..., [1, 0, 2]]


def decode_heatmaps(heatmaps: np.ndarray, mode: HeatmapMode = "st") -> np.ndarray:
    """Decode ``(B, H, W, K)`` heatmaps into ``(B, K, 3)`` normalised ``[x, y, confidence]``.

    Parameters
    ----------
    heatmaps
        Batch of heatmaps (float; e.g. 48x48 for a 192 input).
    mode
        ``"st"`` (argmax cell centre, as ST's services) or ``"subpixel"`` (quadratic refinement).

    Examples
    --------
    >>> hm = np.zeros((1, 4, 4, 1), np.float32); hm[0, 1, 2, 0] = 1.0
    >>> decode_heatmaps(hm).tolist()
    [[[0.625, 0.375, 1.0]]]
    """
    hm = np.asarray(heatmaps)
    if hm.ndim != 4:
        raise ValueError(f"expected (B, H, W, K) heatmaps, got shape {hm.shape}")
    if mode not in ("st", "subpixel"):
        raise ValueError(f"unknown heatmap mode {mode!r}; use 'st' or 'subpixel'")
    b, h, w, k = hm.shape
    flat = np.ascontiguousarray(hm.reshape(b, h * w, k).transpose(0, 2, 1))  # (B, K, HW): argmax on contiguous rows
    idx = flat.argmax(axis=2)
    conf = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0]
    iy, ix = np.divmod(idx, w)
    x, y = ix.astype(np.float32), iy.astype(np.float32)
    if mode == "subpixel":
        x = x + _quadratic_offset(flat, idx, ix, 1, w)
        y = y + _quadratic_offset(flat, idx, iy, w, h)
    out = np.empty((b, k, 3), np.float32)
    out[..., 0] = (x + 0.5) / w
    out[..., 1] = (y + 0.5) / h
    out[..., 2] = conf
    return out


def _quadratic_offset(flat: np.ndarray, idx: np.ndarray, pos: np.ndarray, stride: int, n: int) -> np.ndarray:
    """Vertex of the parabola through the peak and its neighbours along one axis (0 at borders)."""
    inner = (pos > 0) & (pos < n - 1)
    lo = np.where(inner, idx - stride, idx)
    hi = np.where(inner, idx + stride, idx)
    f0 = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0].astype(np.float32)
    fm = np.take_along_axis(flat, lo[..., None], axis=2)[..., 0].astype(np.float32)
    fp = np.take_along_axis(flat, hi[..., None], axis=2)[..., 0].astype(np.float32)
    curvature = fm - 2 * f0 + fp
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(inner & (curvature < 0), 0.5 * (fm - fp) / curvature, 0.0)
    return np.clip(step, -0.5, 0.5).astype(np.float32)
