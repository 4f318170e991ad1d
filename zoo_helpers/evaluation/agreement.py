"""Label-free agreement: how often a quantized model puts a keypoint where the float model does.

No annotation is needed, so quantization fidelity can be measured on every reachable real image of a card's
kind, not only on the labelled sample. The reference is the float model (recovered from the int8 file, or
the published float one); a keypoint *agrees* when the candidate's is within ``tolerance`` of the
reference's along both axes, in units of the input side. The default, 1/48, is one heatmap cell of the
192 x 192 MoveNet heatmap models (ST's decoding step) and 4 to 5 pixels at the other models' inputs.
Only keypoints the reference is sure of (score at least ``min_score``) are counted: where the float model
itself does not see a joint, its position carries no meaning to agree with.

* :func:`of_keypoints`: single pose and landmarks, one set of keypoints per image;
* :func:`of_detections`: multi pose; each confident reference person is matched to the candidate's
  detection of highest IoU, and a person the candidate misses counts as all its keypoints disagreeing.

All inputs are arrays over whole batches (vectorised NumPy); nothing here runs a model. :func:`decoded` turns
a batch of raw outputs into the keypoints these compare, by the catalog's decoder name.
"""

from __future__ import annotations

import numpy as np

import zoo_helpers.evaluation.codecs as codecs

#: Agreement tolerance, as a share of the input side (one cell of a 48 x 48 heatmap).
TOLERANCE = 1 / 48


def _close(a: np.ndarray, b: np.ndarray, tolerance: float, cell) -> np.ndarray:
    """Within ``tolerance`` on both axes: in units of the input side, or in whole cells of size ``cell`` (x, y)."""
    if cell is None:
        return (np.abs(a - b) <= tolerance + 1e-9).all(-1)
    size = np.asarray(cell, float)
    return (np.abs(np.floor(a / size + 1e-6) - np.floor(b / size + 1e-6)) <= tolerance).all(-1)


def of_keypoints(points: np.ndarray, reference: np.ndarray, tolerance: float = TOLERANCE,
                       min_score: float = 0.0, cell: tuple[float, float] | None = None) -> float:
    """Share (%) of the reference's keypoints the candidate places within ``tolerance`` on both axes.

    Parameters
    ----------
    points, reference
        ``(N, K, 2)`` or ``(N, K, 3)`` normalised ``[x, y(, score)]``, the same images in the same order.
    min_score
        Only reference keypoints with a score at least this count (needs a score column when above 0).
    cell
        ``(width, height)`` of an output cell as a share of the input side: keypoints are compared as the cells
        they fall in, and ``tolerance`` counts whole cells (0: the same cell, 1: within one cell).

    Examples
    --------
    >>> ref = np.array([[[0.50, 0.50, 0.9], [0.20, 0.20, 0.1]]])
    >>> of_keypoints(np.array([[[0.51, 0.50, 0.8], [0.90, 0.90, 0.1]]]), ref, min_score=0.5)
    100.0
    >>> of_keypoints(np.array([[[0.51, 0.5, 0.8]]]), ref[:, :1], 0, cell=(0.25, 0.25))  # cells 2 and 2: the same
    100.0
    """
    close, counted = _keypoint_hits(points, reference, tolerance, min_score, cell)
    return _share(close, counted, min_score)


def _share(close: np.ndarray, counted: np.ndarray, min_score: float) -> float:
    if not counted.any():
        raise ValueError(f"no reference keypoint has a score of at least {min_score}")
    return float(100.0 * close[counted].mean())


def _keypoint_hits(points, reference, tolerance, min_score, cell) -> tuple[np.ndarray, np.ndarray]:
    """``(N, K)`` keypoints within tolerance, and those counted (the reference's score at least ``min_score``)."""
    points, reference = np.asarray(points, float), np.asarray(reference, float)
    if points.shape[:2] != reference.shape[:2]:
        raise ValueError(f"points {points.shape} and reference {reference.shape} differ in images or keypoints")
    close = _close(points[..., :2], reference[..., :2], tolerance, cell)
    counted = reference[..., 2] >= min_score if min_score > 0 else np.ones(close.shape, bool)
    return close, counted


def of_detections(boxes: np.ndarray, keypoints: np.ndarray, valid: np.ndarray, ref_boxes: np.ndarray,
                        ref_keypoints: np.ndarray, ref_valid: np.ndarray, tolerance: float = TOLERANCE,
                        min_score: float = 0.5, iou: float = 0.5, cell: tuple[float, float] | None = None) -> float:
    """Share (%) of the confident keypoints of the reference's people that the candidate reproduces.

    Parameters
    ----------
    boxes, ref_boxes
        ``(I, D, 4)`` normalised ``[x1, y1, x2, y2]`` after NMS, per image.
    keypoints, ref_keypoints
        ``(I, D, K, 3)`` normalised ``[x, y, score]``.
    valid, ref_valid
        ``(I, D)`` which detections are real.
    iou
        A reference person is found when the candidate has a detection overlapping it at least this much.
    cell
        As for :func:`of_keypoints`.

    Examples
    --------
    >>> b = np.array([[[0.1, 0.1, 0.5, 0.9]]]); k = np.array([[[[0.3, 0.3, 0.9]]]]); v = np.array([[True]])
    >>> of_detections(b, k, v, b, k, v), of_detections(b, k, ~v, b, k, v)
    (100.0, 0.0)
    """
    close, counted = _detection_hits(boxes, keypoints, valid, ref_boxes, ref_keypoints, ref_valid, tolerance,
                                     min_score, iou, cell)
    if not counted.any():
        raise ValueError(f"the reference has no person keypoint with a score of at least {min_score}")
    return float(100.0 * close[counted].mean())


def _detection_hits(boxes, keypoints, valid, ref_boxes, ref_keypoints, ref_valid, tolerance, min_score, iou,
                    cell) -> tuple[np.ndarray, np.ndarray]:
    """``(I, Dr, K)`` reference person keypoints reproduced, and those counted (confident, of a real person)."""
    ious = codecs.box_iou(np.asarray(ref_boxes, float), np.asarray(boxes, float))   # (I, Dr, Dc)
    ious = np.where(np.asarray(valid)[:, None, :], ious, -1.0)
    best = ious.argmax(-1)                                                              # (I, Dr)
    found = np.take_along_axis(ious, best[..., None], -1)[..., 0] >= iou
    matched = np.take_along_axis(np.asarray(keypoints, float), best[..., None, None], 1)  # (I, Dr, K, 3)
    ref_keypoints = np.asarray(ref_keypoints, float)
    close = _close(matched[..., :2], ref_keypoints[..., :2], tolerance, cell) & found[..., None]
    counted = np.asarray(ref_valid)[..., None] & (ref_keypoints[..., 2] >= min_score)
    return close, counted


def _hand_points(hand: dict[str, np.ndarray], input_size: tuple[int, int]) -> np.ndarray:
    xy = hand["landmarks"][..., :2] / np.asarray(input_size, float)
    return np.concatenate([xy, np.broadcast_to(hand["presence"][:, None, None], (*xy.shape[:2], 1))], -1)


def _mesh_points(mesh: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    xy = mesh / np.asarray(input_size, float)
    return np.concatenate([xy, np.ones((*xy.shape[:2], 1))], -1)  # a mesh has no per-point score: all count


#: How each kind of decoded output becomes what :data:`COMPARE` compares (normalised keypoints, or people).
_COMPARABLE = {
    "keypoints": lambda outputs, c, size: c.decode(outputs, heatmap_mode="st"),
    "hand": lambda outputs, c, size: _hand_points(c.decode(outputs), size),
    "mesh": lambda outputs, c, size: _mesh_points(c.decode(outputs), size),
    "detections": lambda outputs, c, size: (lambda d: (d[0], d[2], d[3]))(
        c.decode(outputs, iou_threshold=0.5, score_threshold=0.5, max_detections=20)),
}

#: The comparison of each codec's ``agreement`` kind (see :class:`zoo_helpers.evaluation.codecs.Codec`).
COMPARE = {"keypoints": of_keypoints,
           "detections": lambda candidate, reference, **kw: of_detections(*candidate, *reference, **kw)}


def decoded(outputs: dict[str, np.ndarray], decoder: str, input_size: tuple[int, int]):
    """What :func:`compare` takes, from a batch of raw outputs, by the catalog's decoder (its codec).

    Single pose and landmarks give ``(N, K, 3)`` normalised ``[x, y, score]``; YOLO pose gives the
    ``(boxes, keypoints, valid)`` of its detections after NMS (IoU 0.5, score 0.5).
    """
    c = codecs.codec(decoder)
    if c.agreement is None:
        raise ValueError(f"no label-free agreement for decoder {decoder!r}")
    return _COMPARABLE[c.output](outputs, c, input_size)


def compare(candidate, reference, decoder: str, min_score: float = 0.5, **cells) -> float:
    """Label-free agreement (%) of two :func:`decoded` outputs of the same images, by the decoder's codec.

    Examples
    --------
    >>> ref = np.array([[[0.5, 0.5, 0.9]]])
    >>> compare(ref, ref, "heatmaps")
    100.0
    """
    return COMPARE[codecs.codec(decoder).agreement](candidate, reference, min_score=min_score, **cells)


def cell_size(outputs: dict[str, np.ndarray], decoder: str, input_size: tuple[int, int]) -> tuple[float, float]:
    """One output cell as a share of the input side: a heatmap cell for a codec that decodes on the output's grid,
    else one input pixel.

    Examples
    --------
    >>> cell_size({"h": np.zeros((1, 48, 48, 17))}, "heatmaps", (192, 192))
    (0.020833333333333332, 0.020833333333333332)
    >>> cell_size({"o": np.zeros((1, 56, 1344))}, "yolo_pose", (256, 256))
    (0.00390625, 0.00390625)
    """
    if codecs.codec(decoder).grid:
        h, w = np.shape(next(iter(outputs.values())))[1:3]
        return 1.0 / w, 1.0 / h
    return 1.0 / input_size[0], 1.0 / input_size[1]


def per_image(candidate, reference, decoder: str, cell: tuple[float, float], tolerance: int = 0) -> np.ndarray:
    """Each image's share (%) of :func:`cells`' keypoints in the same cell (``tolerance`` 0) or within
    ``tolerance`` cells; NaN for an image with no keypoint counted.

    Examples
    --------
    >>> ref = np.array([[[0.5, 0.5, 0.9], [0.2, 0.2, 0.9]], [[0.5, 0.5, 0.9], [0.2, 0.2, 0.9]]])
    >>> per_image(ref + [[[0.03, 0, 0]], [[0, 0, 0]]], ref, "heatmaps", (1 / 48, 1 / 48)).tolist()
    [0.0, 100.0]
    """
    close, counted = _hits(candidate, reference, decoder, cell, tolerance)
    axes = tuple(range(1, close.ndim))
    n = counted.sum(axes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, 100.0 * (close & counted).sum(axes) / np.maximum(n, 1), np.nan)


def cells(candidate, reference, decoder: str, cell: tuple[float, float]) -> dict[str, float]:
    """Keypoint agreement of two :func:`decoded` outputs in output cells: ``same cell (%)`` and
    ``within one cell (%)``, over every keypoint of a single-pose or landmark model and over the confident
    keypoints (score at least 0.5) of a multi-pose model's people; NaN when the reference has none.

    Examples
    --------
    >>> ref = np.array([[[0.50, 0.50, 0.9], [0.20, 0.20, 0.1]]])
    >>> cells(ref + [0.021, 0, 0], ref, "heatmaps", (1 / 48, 1 / 48))  # x cells 25 vs 24, 10 vs 9
    {'same cell (%)': 0.0, 'within one cell (%)': 100.0}
    """
    out = {}
    for name, tol in (("same cell (%)", 0), ("within one cell (%)", 1)):
        close, counted = _hits(candidate, reference, decoder, cell, tol)
        out[name] = float(100.0 * close[counted].mean()) if counted.any() else float("nan")  # nothing to compare
    return out


def _hits(candidate, reference, decoder: str, cell, tolerance: int) -> tuple[np.ndarray, np.ndarray]:
    if codecs.codec(decoder).agreement == "detections":
        return _detection_hits(*candidate, *reference, tolerance, 0.5, 0.5, cell)
    return _keypoint_hits(candidate, reference, tolerance, 0.0, cell)
