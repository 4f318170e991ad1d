"""Datasets: COCO person keypoints, ST's single-pose subset rule, person crops, robust image reading.

* :func:`load_coco_keypoints` reads the standard layout (an annotation json and an image folder):
  the mmpose COCO sample from the asset mirror by default, or a full COCO val2017.
* :func:`st_single_pose_subset` applies ST's converter rule: images with exactly one person
  annotation (crowd annotations count toward "one"), at least one labelled keypoint and a non-zero box.
* :func:`person_samples` gives one sample per annotated person (non-crowd, labelled, non-zero box),
  so a small sample still yields several evaluations.
* :func:`to_st13` maps COCO's 17 keypoints to ST's 13 (head, then left/right shoulder, elbow,
  wrist, hip, knee, ankle); the head is the mean of the visible face keypoints, as ST's converter does.
* :func:`read_image` returns RGB uint8 for grayscale, RGBA, palette and 16-bit files, and raises
  :class:`ImageError` with the file name for anything it cannot decode.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COCO_KEYPOINTS = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                  "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                  "right_knee", "left_ankle", "right_ankle"]
ST13_KEYPOINTS = ["head", *COCO_KEYPOINTS[5:]]
#: COCO indices of the body keypoints kept by ST's 13-keypoint layout (the head is derived).
ST13_BODY = np.arange(5, 17)
COCO_SKELETON = [(15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
                 (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)]
ST13_SKELETON = [(a - 4, b - 4) for a, b in COCO_SKELETON if a >= 5 and b >= 5] + [(0, 1), (0, 2)]


class ImageError(ValueError):
    """An image file could not be decoded into RGB."""


@dataclass(frozen=True)
class Person:
    """One annotated person: pixel keypoints ``(17, 3)`` [x, y, v] and box [x, y, w, h]."""

    image_id: int
    ann_id: int
    keypoints: np.ndarray
    bbox: np.ndarray
    area: float
    iscrowd: bool


@dataclass(frozen=True)
class CocoKeypoints:
    """A COCO person-keypoints set: image records, people per image, the raw json for pycocotools."""

    images: dict[int, dict]
    people: dict[int, list[Person]]
    image_dir: Path
    raw: dict

    def image_path(self, image_id: int) -> Path:
        """Path of an image file."""
        return self.image_dir / self.images[image_id]["file_name"]

    def __len__(self) -> int:
        return len(self.images)

    def gt_json(self, image_ids) -> dict:
        """The COCO json of these images and their annotations (person category), for pycocotools."""
        wanted = set(image_ids)
        return {"images": [self.images[i] for i in sorted(wanted)],
                "annotations": [a for a in self.raw["annotations"] if a["image_id"] in wanted],
                "categories": [{"id": 1, "name": "person"}]}


def load_coco_keypoints(annotations: str | os.PathLike[str], image_dir: str | os.PathLike[str]) -> CocoKeypoints:
    """Load a COCO keypoints json (person category) and its image folder.

    Examples
    --------
    >>> from zoo_helpers.assets import fetch
    >>> ann = fetch("mmpose_coco_annotations")
    >>> coco = load_coco_keypoints(ann, ann.parent)
    >>> len(coco), sum(len(p) for p in coco.people.values())
    (4, 14)
    """
    annotations, image_dir = Path(annotations), Path(image_dir)
    try:
        raw = json.loads(annotations.read_text())
        images = {int(im["id"]): im for im in raw["images"]}
        anns = raw["annotations"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{annotations} is not a COCO keypoints annotation file: {exc}") from exc
    person_ids = {c["id"] for c in raw.get("categories", []) if c.get("name") == "person"} or {1}
    people: dict[int, list[Person]] = {i: [] for i in images}
    for a in anns:
        if a.get("category_id", 1) not in person_ids or int(a["image_id"]) not in people:
            continue
        kp = np.asarray(a.get("keypoints") or [0] * 51, np.float64).reshape(-1, 3)
        people[int(a["image_id"])].append(Person(int(a["image_id"]), int(a["id"]), kp,
                                                 np.asarray(a["bbox"], np.float64), float(a.get("area", 0.0)),
                                                 bool(a.get("iscrowd", 0))))
    return CocoKeypoints(images, people, image_dir, raw)


def st_single_pose_subset(coco: CocoKeypoints) -> list[Person]:
    """ST's single-pose rule: exactly one person annotation (crowd counted), labelled and with a box."""
    out = []
    for anns in coco.people.values():
        if len(anns) == 1 and not anns[0].iscrowd and _usable(anns[0]):
            out.append(anns[0])
    return out


def person_samples(coco: CocoKeypoints) -> list[Person]:
    """Every non-crowd person with at least one labelled keypoint and a non-zero box."""
    return [p for anns in coco.people.values() for p in anns if not p.iscrowd and _usable(p)]


def _usable(p: Person) -> bool:
    return bool((p.keypoints[:, 2] > 0).any()) and p.bbox[2] > 0 and p.bbox[3] > 0


def to_st13(keypoints: np.ndarray) -> np.ndarray:
    """Map ``(..., 17, 3)`` COCO keypoints [x, y, v] to ST's ``(..., 13, 3)`` layout.

    The head is the mean of the labelled face keypoints (nose, eyes, ears), with v = 2 when any is
    labelled, as in ST's dataset converter.

    Examples
    --------
    >>> kp = np.zeros((17, 3)); kp[1] = [10, 20, 2]; kp[2] = [30, 40, 2]
    >>> to_st13(kp)[0].tolist()
    [20.0, 30.0, 2.0]
    """
    kp = np.asarray(keypoints, np.float64)
    if kp.shape[-2:] != (17, 3):
        raise ValueError(f"expected (..., 17, 3) COCO keypoints, got {kp.shape}")
    face = kp[..., :5, :]
    labelled = face[..., 2] > 0
    n = labelled.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        head_xy = np.where(n[..., None] > 0, (face[..., :2] * labelled[..., None]).sum(-2) / n[..., None], 0.0)
    head = np.concatenate([head_xy, np.where(n > 0, 2.0, 0.0)[..., None]], axis=-1)
    return np.concatenate([head[..., None, :], kp[..., ST13_BODY, :]], axis=-2)


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB.

    Grayscale and palette images are expanded, RGBA is composited on black, 16-bit images are
    scaled to 8 bits. Anything else (truncated, not an image) raises :class:`ImageError`.

    Examples
    --------
    >>> from zoo_helpers.assets import fetch
    >>> read_image(fetch("coral_squat_image")).shape
    (610, 500, 3)
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                top = 65535.0 if arr.max() > 255 else 255.0
                gray = np.clip(np.rint(arr / top * 255.0), 0, 255).astype(np.uint8)
                return np.repeat(gray[..., None], 3, axis=2)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = np.asarray(im.convert("RGBA"), dtype=np.float32)
                return np.rint(rgba[..., :3] * (rgba[..., 3:] / 255.0)).astype(np.uint8)
            return np.asarray(im if im.mode == "RGB" else im.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageError(f"cannot read image {path.name}: {exc}") from exc
