"""Hand and face landmarks: palm detection, rotated hand crops, landmark decoders, accuracy metrics.

Hand (21 keypoints, 224x224)
    The palm detector (192x192, 2016 SSD anchors: 24x24x2 at stride 8 and 12x12x6 at stride 16, fixed
    size) gives boxes and 7 palm keypoints (:func:`decode_palms`). :func:`palm_to_rect` turns a palm into
    the rotated square hand crop MediaPipe uses (rotation from the wrist to the middle-finger MCP
    keypoint, box scaled 2.6 and shifted 0.5 towards the fingers). :func:`hand_rect_from_keypoints`
    builds the same kind of crop from ground-truth keypoints, to isolate the landmark model.
    :func:`decode_hand` finds the landmark model's four outputs by name and shape.
Face (468 mesh points, 192x192)
    the mesh-to-68 and WFLW-to-68 mappings are keypoint layouts (:mod:`zoo_helpers.registry.keypoints`).
Metrics
    end-point error in pixels, PCK at a fraction of the hand box, and the inter-ocular normalised mean
    error (outer eye corners, 68-point indices 36 and 45), all vectorised over samples and points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    from zoo_helpers.evaluation.codecs import batched_nms

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


def _rect(center: np.ndarray, side: float, angle: float) -> tuple[tuple[float, float], float, float]:
    return (float(center[0]), float(center[1])), float(side), float(angle)


def palm_to_rect(box_px: np.ndarray, keypoints_px: np.ndarray, scale: float = 2.6,
                 shift_y: float = -0.5) -> tuple[tuple[float, float], float, float]:
    """MediaPipe's hand crop from one palm (pixels): ``(center, side, angle)`` for ``crop_rotated``.

    The angle turns the wrist -> middle-finger-MCP direction (keypoints 0 and 2) to point up.
    """
    wrist, mcp = keypoints_px[0], keypoints_px[2]
    angle = np.pi / 2 - np.arctan2(-(mcp[1] - wrist[1]), mcp[0] - wrist[0])
    angle = (angle + np.pi) % (2 * np.pi) - np.pi
    w, h = box_px[2] - box_px[0], box_px[3] - box_px[1]
    centre = (box_px[:2] + box_px[2:]) / 2
    centre = centre + np.array([-h * shift_y * np.sin(angle), h * shift_y * np.cos(angle)])
    return _rect(centre, max(w, h) * scale, angle)


def hand_rect_from_keypoints(keypoints_px: np.ndarray, visible: np.ndarray,
                             scale: float = 1.6) -> tuple[tuple[float, float], float, float]:
    """A rotated square crop from ground-truth hand keypoints (wrist -> middle MCP up), for GT-box mode."""
    pts = keypoints_px[visible]
    if len(pts) < 2:
        raise ValueError("need at least two labelled keypoints for a ground-truth crop")
    wrist, mcp = keypoints_px[0], keypoints_px[9]
    angle = 0.0 if not (visible[0] and visible[9]) else np.pi / 2 - np.arctan2(-(mcp[1] - wrist[1]), mcp[0] - wrist[0])
    angle = (angle + np.pi) % (2 * np.pi) - np.pi
    c, s = np.cos(angle), np.sin(angle)
    rotated = (pts - pts.mean(0)) @ np.array([[c, s], [-s, c]]).T  # into the crop's frame
    lo, hi = rotated.min(0), rotated.max(0)
    centre = pts.mean(0) + np.array([[c, -s], [s, c]]) @ ((lo + hi) / 2)
    return _rect(centre, float((hi - lo).max()) * scale, angle)


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


def epe(pred_xy: np.ndarray, gt_xy: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Per-sample mean end-point error in pixels over labelled points: ``(N,)``."""
    d = np.linalg.norm(np.asarray(pred_xy, float) - np.asarray(gt_xy, float), axis=-1)
    v = np.asarray(visible, bool)
    return (d * v).sum(-1) / np.maximum(v.sum(-1), 1)


def pck_per_point(pred_xy: np.ndarray, gt_xy: np.ndarray, visible: np.ndarray, box_size: np.ndarray,
                  alpha: float = 0.2) -> np.ndarray:
    """PCK per keypoint index (``(K,)``, NaN where never labelled): within ``alpha`` x box size."""
    d = np.linalg.norm(np.asarray(pred_xy, float) - np.asarray(gt_xy, float), axis=-1)
    ok = d <= alpha * np.asarray(box_size, float)[:, None]
    v = np.asarray(visible, bool)
    with np.errstate(invalid="ignore"):
        return (ok & v).sum(0) / v.sum(0)


def nme_interocular(pred68: np.ndarray, gt68: np.ndarray, points: list[int], eyes: tuple[int, int]) -> np.ndarray:
    """Per-face mean error over ``points`` divided by the distance between the ``eyes`` points (outer corners)."""
    gt68, pred68 = np.asarray(gt68, float), np.asarray(pred68, float)
    iod = np.linalg.norm(gt68[:, eyes[0]] - gt68[:, eyes[1]], axis=-1)
    err = np.linalg.norm(pred68[:, points] - gt68[:, points], axis=-1).mean(-1)
    return err / iod
