"""Evaluation of the hand and face landmark models on the mmpose samples.

Hands: FreiHAND, OneHand10K and CMU Panoptic (21 keypoints each). Crops come from the two-stage
pipeline (palm detector -> rotated square crop, the palm nearest the annotated hand) or from the
ground-truth keypoints (same crop rule, isolates the landmark model). Scores: end-point error in
pixels and PCK@0.2 of the hand box's longer side, per sample and per keypoint.

Faces: 300W (68 points), WFLW (98 points, mapped to 68) and COCO-WholeBody faces (68 points). Each
face is cropped from its ground-truth box, squared and enlarged by :data:`FACE_MARGIN` (1.5 x the
longer side, about MediaPipe's 25 % margin on each side). Score: inter-ocular NME over the 68-point
indices with a mesh counterpart (:data:`zoo_helpers.landmarks.MESH_TO_68`; the jaw is left out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo_helpers import datasets, landmarks, preprocess

HAND_SETS = ("freihand", "onehand10k", "panoptic")
FACE_MARGIN = 1.5
FACE_POINTS = sorted(landmarks.MESH_TO_68)


@dataclass
class Sample:
    """One annotated hand or face: its image, keypoints ``(K, 3)`` in pixels and box ``[x, y, w, h]``."""

    dataset: str
    image_id: int
    image: np.ndarray
    keypoints: np.ndarray
    bbox: np.ndarray


def _mmpose(name: str, annotations: str | None = None) -> datasets.CocoKeypoints:
    from zoo_helpers.assets import fetch, registry

    for key in registry():
        if key.startswith(f"mmpose_{name}_"):
            fetch(key)  # every file of the set, from the mirror or the cache, lands next to its json
    ann = fetch(annotations or f"mmpose_{name}_annotations")
    return datasets.load_coco_keypoints(ann, ann.parent)


def hand_samples(sets: tuple[str, ...] = HAND_SETS) -> list[Sample]:
    """Every annotated hand of the mmpose hand samples."""
    out = []
    for name in sets:
        coco = _mmpose(name)
        for image_id, people in coco.people.items():
            image = datasets.read_image(coco.image_path(image_id))
            out += [Sample(name, image_id, image, p.keypoints, p.bbox) for p in people]
    return out


def face_samples() -> list[Sample]:
    """Every annotated face: 300W, WFLW (98 -> 68) and the COCO-WholeBody faces marked valid."""
    out = []
    to68 = [landmarks.WFLW_TO_68[i] for i in range(68)]
    for name in ("300w", "wflw"):
        coco = _mmpose(name)
        for image_id, people in coco.people.items():
            image = datasets.read_image(coco.image_path(image_id))
            for p in people:
                kp = p.keypoints if name == "300w" else p.keypoints[to68]
                out.append(Sample(name, image_id, image, kp, p.bbox))
    whole = _mmpose("coco", "mmpose_coco_wholebody_annotations")
    for a in whole.raw["annotations"]:
        if a.get("face_valid"):
            image = datasets.read_image(whole.image_path(a["image_id"]))
            out.append(Sample("coco-wholebody", a["image_id"], image, np.asarray(a["face_kpts"], float).reshape(68, 3),
                              np.asarray(a["face_box"], float)))
    return out


def hand_crops(samples: list[Sample], mode: str = "gt", palm_model=None,
               size: int = 224) -> tuple[np.ndarray, list, np.ndarray]:
    """Crops for the landmark model: ``(images, transforms, found)``; ``found`` is False where no palm was found.

    ``mode`` is ``"gt"`` (from the annotated keypoints) or ``"palm"`` (two-stage, needs ``palm_model``).
    """
    crops, transforms, found = [], [], []
    for s in samples:
        vis = s.keypoints[:, 2] > 0
        rect = landmarks.hand_rect_from_keypoints(s.keypoints[:, :2], vis)
        ok = True
        if mode == "palm":
            rect, ok = _palm_rect(s, palm_model, rect)
        elif mode != "gt":
            raise ValueError(f"unknown crop mode {mode!r}; use 'gt' or 'palm'")
        crop, t = preprocess.crop_rotated(s.image, *rect, (size, size))
        crops.append(crop)
        transforms.append(t)
        found.append(ok)
    return np.stack(crops), transforms, np.array(found)


def _palm_rect(s: Sample, palm_model, fallback):
    if palm_model is None:
        raise ValueError("mode='palm' needs palm_model")
    x, t = preprocess.resize(s.image, palm_model.input_size, mode="padding")
    out = palm_model.predict(x[None])
    reg = next(v for v in out.values() if v.shape[-1] == 18)
    logits = next(v for v in out.values() if v.shape[-1] == 1)
    palms = landmarks.decode_palms(reg, logits)[0]
    if not len(palms.scores):
        return fallback, False
    target = s.keypoints[s.keypoints[:, 2] > 0, :2].mean(0)
    centres = t.normalized_to_original((palms.boxes[:, :2] + palms.boxes[:, 2:]) / 2)
    best = int(np.argmin(np.linalg.norm(centres - target, axis=1)))  # the palm of the annotated hand
    box = t.normalized_to_original(palms.boxes[best].reshape(2, 2)).ravel()
    return landmarks.palm_to_rect(box, t.normalized_to_original(palms.keypoints[best])), True


def hand_scores(model, crops: np.ndarray, transforms: list, samples: list[Sample]) -> dict[str, np.ndarray]:
    """Run a hand landmark model on crops; per-sample EPE (px), PCK@0.2 and per-keypoint PCK@0.2.

    ``model`` may also be a dict of outputs already computed (e.g. by a board) for ``crops``.
    """
    decoded = landmarks.decode_hand(model if isinstance(model, dict) else model.predict(crops))
    pred = np.stack([t.to_original(p[:, :2]) for t, p in zip(transforms, decoded["landmarks"], strict=True)])
    gt = np.stack([s.keypoints for s in samples])
    vis = gt[..., 2] > 0
    size = np.array([max(s.bbox[2], s.bbox[3]) for s in samples])
    d = np.linalg.norm(pred - gt[..., :2], axis=-1)
    return {"pred": pred, "epe": landmarks.epe(pred, gt[..., :2], vis),
            "pck": ((d <= 0.2 * size[:, None]) & vis).sum(1) / vis.sum(1),
            "pck_per_point": landmarks.pck_per_point(pred, gt[..., :2], vis, size)}


def face_crops(samples: list[Sample], size: int = 192) -> tuple[np.ndarray, list]:
    """Square crops around each face box, :data:`FACE_MARGIN` x its longer side."""
    crops, transforms = [], []
    for s in samples:
        x, y, w, h = s.bbox
        side = FACE_MARGIN * max(w, h)
        crop, t = preprocess.crop_box(s.image, (x + w / 2 - side / 2, y + h / 2 - side / 2, side, side), (size, size))
        crops.append(crop)
        transforms.append(t)
    return np.stack(crops), transforms


def decode_face(outputs: dict[str, np.ndarray]) -> np.ndarray:
    """``(N, 468, 2)`` mesh points in input pixels, from the output with 468 x 2 (ST) or 468 x 3 (MediaPipe) values."""
    for value in outputs.values():
        flat = np.asarray(value).reshape(len(value), -1)
        if flat.shape[1] in (936, 1404):
            return flat.reshape(len(value), 468, -1)[..., :2]
    raise ValueError(f"no 468-point mesh output among {[np.shape(v) for v in outputs.values()]}")


def face_scores(model, crops: np.ndarray, transforms: list, samples: list[Sample]) -> dict[str, np.ndarray]:
    """Run a face mesh model on crops; per-face inter-ocular NME over :data:`FACE_POINTS`, mesh in pixels.

    ``model`` may also be a dict of outputs already computed (e.g. by a board) for ``crops``.
    """
    mesh = decode_face(model if isinstance(model, dict) else model.predict(crops))
    mesh_px = np.stack([t.to_original(m) for t, m in zip(transforms, mesh, strict=True)])
    pred68 = np.full((len(samples), 68, 2), np.nan)
    pred68[:, FACE_POINTS] = mesh_px[:, [landmarks.MESH_TO_68[i] for i in FACE_POINTS]]
    gt68 = np.stack([s.keypoints[:, :2] for s in samples])
    return {"mesh": mesh_px, "nme": landmarks.nme_interocular(pred68, gt68, FACE_POINTS)}
