"""Hand and face landmarks: palm detection, rotated hand crops, landmark decoders, accuracy metrics.

Hand (21 keypoints, 224x224)
    The palm detector (192x192, 2016 SSD anchors: 24x24x2 at stride 8 and 12x12x6 at stride 16, fixed
    size) gives boxes and 7 palm keypoints (:func:`decode_palms`). :func:`palm_to_rect` turns a palm into
    the rotated square hand crop MediaPipe uses (rotation from the wrist to the middle-finger MCP
    keypoint, box scaled 2.6 and shifted 0.5 towards the fingers). :func:`hand_rect_from_keypoints`
    builds the same kind of crop from ground-truth keypoints, to isolate the landmark model.
    :func:`decode_hand` finds the landmark model's four outputs by name and shape.
Face (468 mesh points, 192x192)
    :data:`MESH_TO_68` maps mesh vertices to the 68-point (iBUG 300-W) layout; :data:`WFLW_TO_68` maps
    WFLW's 98 points to the same layout.
Metrics
    end-point error in pixels, PCK at a fraction of the hand box, and the inter-ocular normalised mean
    error (outer eye corners, 68-point indices 36 and 45), all vectorised over samples and points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PALM_INPUT = 192
HAND_KEYPOINTS = ["wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip", "index_mcp", "index_pip",
                  "index_dip", "index_tip", "middle_mcp", "middle_pip", "middle_dip", "middle_tip", "ring_mcp",
                  "ring_pip", "ring_dip", "ring_tip", "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip"]
HAND_SKELETON = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11),
                 (11, 12), (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20)]

#: 68-point index -> MediaPipe mesh vertex, for the points with a clear counterpart. The jaw line (0-16)
#: is left out: the mesh's face-oval vertices do not follow the 68-point jaw definition, and public
#: mappings disagree on it. Inner points follow the correspondence published in
#: github.com/PeizhiYan/Mediapipe_2_Dlib_Landmarks (single vertex where it averages two).
MESH_TO_68 = {
    17: 70, 18: 63, 19: 105, 20: 66, 21: 107, 22: 336, 23: 296, 24: 334, 25: 293, 26: 300,  # brows
    27: 168, 28: 197, 29: 5, 30: 4, 31: 75, 32: 97, 33: 2, 34: 326, 35: 305,              # nose
    36: 33, 37: 160, 38: 158, 39: 133, 40: 153, 41: 144,                                  # right eye
    42: 362, 43: 385, 44: 387, 45: 263, 46: 373, 47: 380,                                 # left eye
    48: 61, 49: 40, 50: 37, 51: 0, 52: 267, 53: 270, 54: 291, 55: 321, 56: 314, 57: 17,   # outer lips
    58: 84, 59: 91, 60: 78, 61: 81, 62: 13, 63: 311, 64: 308, 65: 402, 66: 14, 67: 178,   # lips
}
#: 68-point index -> WFLW 98-point index (WFLW's documented layout: jaw 0-32, brows 33-50, nose 51-59,
#: eyes 60-75 with 8 points each, mouth 76-95).
WFLW_TO_68 = {**{i: 2 * i for i in range(17)}, **{17 + i: 33 + i for i in range(5)},
              **{22 + i: 42 + i for i in range(5)}, **{27 + i: 51 + i for i in range(9)},
              36: 60, 37: 61, 38: 63, 39: 64, 40: 65, 41: 67, 42: 68, 43: 69, 44: 71, 45: 72, 46: 73, 47: 75,
              **{48 + i: 76 + i for i in range(20)}}


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
    from zoo_helpers.decoders import batched_nms

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


def nme_interocular(pred68: np.ndarray, gt68: np.ndarray, points: list[int]) -> np.ndarray:
    """Per-face mean error over ``points`` (68-point indices) divided by the outer-eye-corner distance."""
    gt68, pred68 = np.asarray(gt68, float), np.asarray(pred68, float)
    iod = np.linalg.norm(gt68[:, 36] - gt68[:, 45], axis=-1)
    err = np.linalg.norm(pred68[:, points] - gt68[:, points], axis=-1).mean(-1)
    return err / iod
