"""Decode pose-model outputs into keypoints, vectorised over whole batches.

Every decoder returns keypoints as ``(B, K, 3)`` float arrays ``[x, y, score]`` with x and y
normalised to the model input ([0, 1] across its width and height); map them to original
image pixels with :meth:`zoo_helpers.evaluation.transforms.Transform.normalized_to_original`.

Single-pose regression (Google MoveNet)
    output ``(B, 1, K, 3)`` laid out ``[y, x, score]``: swapped to ``[x, y, score]``.
Heatmaps (MoveNet heatmaps, ST MoveNet)
    output ``(B, H, W, K)``; ``mode="st"`` reproduces ST's services (argmax cell + half-cell
    offset, so the step is 1/W of the image); ``mode="subpixel"`` refines the peak with a
    quadratic fit through the peak and its two neighbours along each axis (a Taylor step on
    the discrete derivatives), clipped to half a cell. The confidence is the peak value.

YOLO pose (YOLOv8n-pose, YOLO11n-pose, YOLO26-pose)
    output ``(B, 5 + 3K, A)``: boxes, scores and keypoints, then batched NMS (:func:`yolo_detections`).
Palm detector, hand landmarks, face mesh (MediaPipe and ST)
    :func:`decode_palms` (SSD anchors and NMS), :func:`decode_hand` (outputs found by name and shape),
    :func:`decode_face` (the 468-point mesh in input pixels).

No Python loop runs per image or per keypoint.

**The codec table.** :data:`CODECS` maps each decoder name of the catalog (the ``models`` of ``data/cards/*.yaml``) to a
:class:`Codec`: its decode function, the kind of output it gives, the evaluation that scores it and the
label-free comparison that compares two models' outputs. Code that depends on the decoder looks it up here
(:func:`codec`); no module branches on decoder names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from zoo_helpers.registry import keypoints

HeatmapMode = Literal["st", "subpixel"]


def decode_singlepose(output: np.ndarray) -> np.ndarray:
    """Turn MoveNet's ``(B, 1, K, 3)`` ``[y, x, score]`` output into ``(B, K, 3)`` ``[x, y, score]``.

    Examples
    --------
    >>> decode_singlepose(np.array([[[[0.25, 0.75, 0.5]]]])).tolist()
    [[[0.75, 0.25, 0.5]]]
    """
    output = np.asarray(output, dtype=np.float32)
    if output.ndim != 4 or output.shape[1] != 1 or output.shape[3] != 3:
        raise ValueError(f"expected a (B, 1, K, 3) single-pose output, got {output.shape}")
    return output[:, 0][..., [1, 0, 2]]


def decode_heatmaps(heatmaps: np.ndarray, mode: HeatmapMode = "st") -> np.ndarray:
    """Decode ``(B, H, W, K)`` heatmaps into ``(B, K, 3)`` normalised ``[x, y, confidence]``.

    The peak is the first maximum in row-major (y, x) order, as ``argmax`` over the flattened
    map (and ST's ``tf.argmax``) picks it, ties included. It is found without transposing the
    batch: a maximum over rows (reducing contiguous ``x * K`` lines) gives each column's
    maximum, the first column holding the peak gives ``x`` and one gathered column gives ``y``.
    Where a peak value sits in several columns (common for int8 outputs), those columns are
    searched too and the first peak in row-major order wins. NaN cells are skipped (a map that is
    all NaN decodes to confidence ``-inf``).

    Parameters
    ----------
    heatmaps
        Batch of heatmaps (float or integer, e.g. raw int8 outputs; 48x48 for a 192 input).
    mode
        ``"st"`` (argmax cell centre, as ST's services) or ``"subpixel"`` (quadratic refinement).

    Examples
    --------
    >>> hm = np.zeros((1, 4, 4, 1), np.float32); hm[0, 1, 2, 0] = 1.0
    >>> decode_heatmaps(hm).tolist()
    [[[0.625, 0.375, 1.0]]]
    """
    hm = np.asarray(heatmaps)
    if hm.ndim != 4 or 0 in hm.shape:
        raise ValueError(f"expected non-empty (B, H, W, K) heatmaps, got shape {hm.shape}")
    if mode not in ("st", "subpixel"):
        raise ValueError(f"unknown heatmap mode {mode!r}; use 'st' or 'subpixel'")
    b, h, w, k = hm.shape
    iy, ix, conf = _peaks(hm)
    out = np.empty((b, k, 3), np.float32)
    out[..., 0], out[..., 1], out[..., 2] = ix, iy, conf
    if mode == "subpixel":
        bi, ki = np.arange(b)[:, None], np.arange(k)[None, :]
        out[..., 0] += _quadratic_offset(lambda d: hm[bi, iy, np.clip(ix + d, 0, w - 1), ki], ix, w)
        out[..., 1] += _quadratic_offset(lambda d: hm[bi, np.clip(iy + d, 0, h - 1), ix, ki], iy, h)
    xy = out[..., :2]
    xy += np.float32(0.5)
    xy /= np.array([w, h], np.float32)  # cell centre, normalised to the input
    return out


def _peaks(hm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, column and value of the first maximum of each ``(b, k)`` map of ``(B, H, W, K)``."""
    b, h, w, k = hm.shape
    # fmax.reduce over rows streams contiguous x*K lines (maximum.reduce or an argmax over the
    # middle axis walk short strided lines, several times slower); fmax skips NaN.
    colmax = np.fmax.reduce(hm.reshape(b, h, w * k), axis=1).reshape(b, w, k)
    colmax = np.ascontiguousarray(colmax.transpose(0, 2, 1))  # (B, K, W), small
    if colmax.dtype.kind == "f" and np.isnan(colmax).any():
        colmax = np.where(np.isnan(colmax), -np.inf, colmax)  # a column of NaN never holds the peak
    ix = colmax.argmax(axis=2)  # (B, K): first column holding the peak
    conf = np.take_along_axis(colmax, ix[..., None], axis=2)[..., 0]
    bi, ki = np.arange(b)[:, None], np.arange(k)[None, :]
    iy = (hm[bi, :, ix, ki] == conf[..., None]).argmax(axis=2)  # (B, K, H) column -> first row
    on_peak = colmax == conf[..., None]
    if np.count_nonzero(on_peak) > b * k:  # some peak sits in several columns: the first in row-major order wins
        tied = np.nonzero(on_peak.sum(axis=2) > 1)
        r, cx = np.nonzero(on_peak[tied])
        tb, tk = tied[0][r], tied[1][r]
        cy = (hm[tb, :, cx, tk] == conf[tb, tk][:, None]).argmax(axis=1)
        first = np.full(tied[0].size, h * w, np.intp)
        np.minimum.at(first, r, cy * w + cx)
        iy[tied], ix[tied] = np.divmod(first, w)
    return iy, ix, conf


def _quadratic_offset(at, pos: np.ndarray, n: int) -> np.ndarray:
    """Vertex of the parabola through the peak and its neighbours along one axis (0 at borders).

    ``at(d)`` gathers the heatmap value ``d`` cells from the peak along that axis.
    """
    inner = (pos > 0) & (pos < n - 1)
    fm, f0, fp = (at(d).astype(np.float32) for d in (-1, 0, 1))
    curvature = fm - 2 * f0 + fp
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(inner & (curvature < 0), 0.5 * (fm - fp) / curvature, 0.0)
    return np.clip(step, -0.5, 0.5).astype(np.float32)


def decode_yolo_pose(output: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split a YOLOv8-pose output ``(B, 5 + 3K, A)`` into boxes, scores and keypoints.

    ST's TFLite exports are normalised to the input and already sigmoided: rows ``cx, cy, w, h,
    person score``, then ``K x (x, y, conf)``; ``A = (N/8)^2 + (N/16)^2 + (N/32)^2``.

    Returns
    -------
    boxes, scores, keypoints
        ``(B, A, 4)`` normalised ``[x1, y1, x2, y2]``, ``(B, A)``, ``(B, A, K, 3)`` normalised ``[x, y, conf]``.

    Examples
    --------
    >>> raw = np.zeros((1, 56, 2), np.float32); raw[0, :5, 0] = [0.5, 0.5, 0.2, 0.4, 0.9]
    >>> boxes, scores, kpts = decode_yolo_pose(raw)
    >>> [round(float(v), 2) for v in boxes[0, 0]], round(float(scores[0, 0]), 2), kpts.shape
    ([0.4, 0.3, 0.6, 0.7], 0.9, (1, 2, 17, 3))
    """
    out = np.asarray(output, dtype=np.float32)
    if out.ndim != 3 or out.shape[1] < 5 or (out.shape[1] - 5) % 3:
        raise ValueError(f"expected a (B, 5 + 3K, A) YOLO-pose output, got {out.shape}")
    t = out.transpose(0, 2, 1)  # (B, A, 5 + 3K)
    cx, cy, w, h = t[..., 0], t[..., 1], t[..., 2], t[..., 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)
    keypoints = t[..., 5:].reshape(t.shape[0], t.shape[1], -1, 3)
    return boxes, t[..., 4].copy(), keypoints


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``(..., N, 4)`` and ``(..., M, 4)`` ``[x1, y1, x2, y2]`` boxes: ``(..., N, M)``.

    Non-overlapping boxes give 0 (extents are clamped at 0 before multiplying) and degenerate
    boxes give 0, never a negative or positive area from two negative extents.

    Examples
    --------
    >>> [[round(float(v), 4) for v in row] for row in box_iou(np.array([[0., 0, 2, 2]]),
    ...                                                    np.array([[1., 1, 3, 3], [5, 5, 6, 6]]))]
    [[0.1429, 0.0]]
    """
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    area_a = np.clip(a[..., 2] - a[..., 0], 0, None) * np.clip(a[..., 3] - a[..., 1], 0, None)
    area_b = np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    lt = np.maximum(a[..., :, None, :2], b[..., None, :, :2])
    rb = np.minimum(a[..., :, None, 2:], b[..., None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[..., :, None] + area_b[..., None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0).astype(np.float32)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.1,
                score_threshold: float = 0.001, max_detections: int = 100) -> np.ndarray:
    """Greedy, class-agnostic NMS for a batch, vectorised: ``(B, max_detections)`` kept indices, -1 padded.

    Same result as ``tf.image.non_max_suppression`` per image: candidates with score strictly above
    ``score_threshold``, visited by descending score with ties in index order, a box suppressed when
    its IoU with a kept box is strictly above ``iou_threshold`` (the same IoU as :func:`box_iou`). It
    runs in rounds: each round keeps, in every image at once, the best box still alive and removes the
    boxes it overlaps, so the work is one IoU row per image per kept rank (no loop over images or
    candidates, no full IoU matrix).

    Defaults are the card's evaluation settings (NMS 0.1, score 0.001, 100 boxes); use 0.5 / 0.5
    for display.

    Examples
    --------
    >>> b = np.array([[[0, 0, 1, 1], [0, 0, 1, 1.1], [2, 2, 3, 3]]], np.float32)
    >>> batched_nms(b, np.array([[0.9, 0.8, 0.7]]), 0.5, 0.1, 3).tolist()
    [[0, 2, -1]]
    """
    boxes, scores = np.asarray(boxes, np.float32), np.asarray(scores, np.float32)
    if boxes.ndim != 3 or boxes.shape[-1] != 4 or scores.shape != boxes.shape[:2]:
        raise ValueError(f"expected boxes (B, A, 4) and scores (B, A), got {boxes.shape} and {scores.shape}")
    if not 0 <= iou_threshold <= 1 or max_detections < 1:
        raise ValueError("iou_threshold must be in [0, 1] and max_detections at least 1")
    b = boxes.shape[0]
    out = np.full((b, max_detections), -1, np.int64)
    valid = scores > score_threshold
    n = int(valid.sum(1).max()) if b else 0
    if n == 0:
        return out
    order = np.argsort(np.where(valid, -scores, np.inf), axis=1, kind="stable")[:, :n]  # ties: lower index first
    alive = np.take_along_axis(valid, order, 1)
    x1, y1, x2, y2 = np.moveaxis(np.take_along_axis(boxes, order[..., None], 1), -1, 0)  # each (B, n)
    area = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    every = np.arange(b)
    for rank in range(max_detections):  # one round per kept rank, all images at once
        has = alive.any(1)
        if not has.any():
            break
        best = alive.argmax(1)  # first alive = highest remaining score
        out[has, rank] = order[every, best][has]
        bx1, by1, bx2, by2, barea = (v[every, best][:, None] for v in (x1, y1, x2, y2, area))
        inter = (np.clip(np.minimum(x2, bx2) - np.maximum(x1, bx1), 0, None)
                 * np.clip(np.minimum(y2, by2) - np.maximum(y1, by1), 0, None))
        union = area + barea - inter
        alive &= ~(inter / np.where(union > 0, union, 1) > iou_threshold)
        alive[every, best] = False
    return out


def yolo_detections(output: np.ndarray, iou_threshold: float = 0.1, score_threshold: float = 0.001,
                    max_detections: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`decode_yolo_pose` then :func:`batched_nms`, the kept detections gathered per image.

    Returns normalised ``boxes (I, D, 4)``, ``scores (I, D)`` (0 where not valid), ``keypoints (I, D, K, 3)``
    and ``valid (I, D)``; rows past an image's detections repeat its first one and are not valid.
    """
    boxes, scores, kpts = decode_yolo_pose(output)
    keep = batched_nms(boxes, scores, iou_threshold, score_threshold, max_detections)
    valid = keep >= 0
    idx = np.where(valid, keep, 0)
    return (np.take_along_axis(boxes, idx[..., None], 1), np.where(valid, np.take_along_axis(scores, idx, 1), 0.0),
            np.take_along_axis(kpts, idx[..., None, None], 1), valid)


#: Input side of MediaPipe's full palm detector (pixels).
PALM_INPUT = 192


def palm_anchors() -> np.ndarray:
    """``(2016, 2)`` anchor centres (normalised x, y) of MediaPipe's full palm detector, in output order."""
    out = []
    for stride, per_cell in ((8, 2), (16, 6)):
        n = PALM_INPUT // stride
        ys, xs = np.mgrid[0:n, 0:n]
        centres = np.stack([(xs.ravel() + 0.5) / n, (ys.ravel() + 0.5) / n], -1)
        out.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(out)


@dataclass
class Palms:
    """Detected palms for one image, normalised to the detector input: boxes ``[x1, y1, x2, y2]``,
    scores, and 7 keypoints ``(x, y)`` each."""

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray


def decode_palms(regressors: np.ndarray, logits: np.ndarray, score_threshold: float = 0.5,
                 iou_threshold: float = 0.3, max_palms: int = 2) -> list[Palms]:
    """Decode ``(B, 2016, 18)`` regressors and ``(B, 2016, 1)`` logits, then batched NMS."""
    raw = np.asarray(regressors, np.float32) / PALM_INPUT
    anchors = palm_anchors()
    if raw.shape[1:] != (len(anchors), 18):
        raise ValueError(f"expected palm regressors (B, {len(anchors)}, 18), got {raw.shape}")
    centre = raw[..., :2] + anchors
    half = raw[..., 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], -1)
    kpts = raw[..., 4:].reshape(*raw.shape[:2], 7, 2) + anchors[:, None, :]
    scores = 1 / (1 + np.exp(-np.clip(np.asarray(logits, np.float32)[..., 0], -100, 100)))
    keep = batched_nms(boxes, scores, iou_threshold, score_threshold, max_palms)
    return [Palms(boxes[b, k[k >= 0]], scores[b, k[k >= 0]], kpts[b, k[k >= 0]]) for b, k in enumerate(keep)]


def decode_hand(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Find the hand landmark model's outputs by name and shape (not position).

    MediaPipe's names: ``Identity`` screen landmarks ``(B, 63)`` in input pixels, ``Identity_1`` hand
    presence logit, ``Identity_2`` handedness logit, ``Identity_3`` world landmarks ``(B, 63)`` in metres.
    Returns ``landmarks`` ``(B, 21, 3)``, ``world`` ``(B, 21, 3)``, ``presence`` and ``handedness``
    (probabilities, right hand > 0.5).
    """
    by_name = {name.split(":")[0]: np.asarray(v) for name, v in outputs.items()}
    need = {"Identity": 63, "Identity_1": 1, "Identity_2": 1, "Identity_3": 63}
    for name, width in need.items():
        if name not in by_name or by_name[name].reshape(len(by_name[name]), -1).shape[1] != width:
            raise ValueError(f"hand landmark output {name!r} with {width} values not found in {sorted(by_name)}")

    def sig(v):
        return 1 / (1 + np.exp(-v.reshape(-1)))

    return {"landmarks": by_name["Identity"].reshape(-1, 21, 3), "world": by_name["Identity_3"].reshape(-1, 21, 3),
            "presence": sig(by_name["Identity_1"]), "handedness": sig(by_name["Identity_2"])}


def decode_face(outputs: dict[str, np.ndarray]) -> np.ndarray:
    """``(N, 468, 2)`` mesh points in input pixels, from the output with 468 x 2 (ST) or 468 x 3 (MediaPipe) values."""
    n = len(keypoints.layout("face468"))
    for value in outputs.values():
        flat = np.asarray(value).reshape(len(value), -1)
        if flat.shape[1] in (2 * n, 3 * n):
            return flat.reshape(len(value), n, -1)[..., :2]
    raise ValueError(f"no {n}-point mesh output among {[np.shape(v) for v in outputs.values()]}")


def _first(outputs: dict[str, np.ndarray]) -> np.ndarray:
    return next(iter(outputs.values()))


def _palms(outputs: dict[str, np.ndarray], **options: Any) -> list[Palms]:
    by_width = {np.shape(v)[-1]: v for v in outputs.values()}
    return decode_palms(by_width[18], by_width[1], **options)


def _classes(outputs: dict[str, np.ndarray]) -> np.ndarray:
    return np.asarray(_first(outputs)).argmax(-1)


@dataclass(frozen=True)
class Codec:
    """How one catalog decoder's outputs are decoded, scored and compared.

    ``output`` is what :attr:`decode` returns: ``keypoints`` (``(N, K, 3)`` normalised ``[x, y, score]``),
    ``detections`` (:func:`yolo_detections`' boxes, scores, keypoints and valid flags), ``hand``
    (:func:`decode_hand`'s dict), ``mesh`` (face mesh points in input pixels), ``palms`` or ``classes``.
    The output kind decides the rest (:data:`TASKS`, :data:`AGREEMENTS`): :attr:`task` names the evaluation of
    the cards layer that scores it, :attr:`agreement` the label-free comparison of two models' outputs
    (:mod:`zoo_helpers.evaluation.agreement`). ``postprocess`` is the ``POSTPROCESS_TYPE`` of ST's STM32N6 pose
    application (``None``: the application has none).
    """

    name: str
    decode: Callable[..., Any]
    output: str
    postprocess: str | None = None
    grid: bool = False  # positions fall on the output's grid (heatmap cells), not on input pixels

    @property
    def task(self) -> str | None:
        """The evaluation that scores this output (``single pose``, ``multi pose``, ``hand``, ``face``) or None."""
        return TASKS.get(self.output)

    @property
    def agreement(self) -> str | None:
        """The label-free comparison of two models' outputs (``keypoints`` or ``detections``) or None."""
        return AGREEMENTS.get(self.output)


#: The evaluation of each output kind (``palms`` and ``classes`` have none of their own).
TASKS = {"keypoints": "single pose", "detections": "multi pose", "hand": "hand", "mesh": "face"}
#: The label-free comparison of each output kind (a hand's landmarks and a face mesh compare as keypoints).
AGREEMENTS = {"keypoints": "keypoints", "hand": "keypoints", "mesh": "keypoints", "detections": "detections"}


#: Every decoder name the catalog uses, and what it means (see :class:`Codec`).
CODECS: dict[str, Codec] = {c.name: c for c in (
    Codec("singlepose", lambda outputs, **_: decode_singlepose(_first(outputs)), "keypoints"),
    Codec("heatmaps", lambda outputs, heatmap_mode="st", **_: decode_heatmaps(_first(outputs), heatmap_mode),
          "keypoints", "POSTPROCESS_SPE_MOVENET_UF", grid=True),
    Codec("yolo_pose", lambda outputs, **nms: yolo_detections(_first(outputs), **nms), "detections",
          "POSTPROCESS_MPE_YOLO_V8_UF"),
    Codec("hand_landmarks", lambda outputs, **_: decode_hand(outputs), "hand"),
    Codec("face_landmarks", lambda outputs, **_: decode_face(outputs), "mesh"),
    Codec("palms", _palms, "palms"),
    Codec("classifier", lambda outputs, **_: _classes(outputs), "classes"),
)}


def codec(decoder: str) -> Codec:
    """The :class:`Codec` of a catalog decoder name.

    Examples
    --------
    >>> codec("heatmaps").task, codec("yolo_pose").agreement
    ('single pose', 'detections')
    >>> codec("pifpaf")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown decoder 'pifpaf'; known: singlepose, heatmaps, yolo_pose, hand_landmarks, ...
    """
    if decoder not in CODECS:
        raise ValueError(f"unknown decoder {decoder!r}; known: {', '.join(CODECS)}")
    return CODECS[decoder]
