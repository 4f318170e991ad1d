"""Datasets: COCO person keypoints, ST's single-pose subset rule, person crops, robust image reading.

* :func:`load_coco_keypoints` reads the standard layout (an annotation json and an image folder):
  the mmpose COCO sample from the asset mirror by default, or a full COCO val2017.
* :func:`st_single_pose_subset` applies ST's converter rule: images with exactly one person
  annotation (crowd annotations count toward "one"), at least one labelled keypoint and a non-zero box.
* :func:`person_samples` gives one sample per annotated person (non-crowd, labelled, non-zero box),
  so a small sample still yields several evaluations.
* :func:`load_coco` loads the set a chapter evaluates on: the mmpose sample, or ``coco_dir`` (COCO
  val2017's layout, refused when it holds no usable person); :meth:`CocoKeypoints.source` says which, with the
  annotation file's sha256. :func:`check_coco_dir` also opens every image it lists (Pillow's header check), so a
  chapter's Setup cell finds a bad ``coco_dir`` before the slow work. Every field the loader reads is checked: an
  :class:`AnnotationError` names the file, the image or annotation (id, or index when it has none) and the field.
* :func:`read_image` returns RGB uint8 for grayscale, RGBA, palette and 16-bit files, and raises
  :class:`ImageError` with the file name for anything it cannot decode.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo_helpers.registry.assets import fetch
from zoo_helpers.registry.hashing import file_sha256


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
    annotations: Path | None = None
    name: str = ""

    def image_path(self, image_id: int) -> Path:
        """Path of an image file."""
        return self.image_dir / self.images[image_id]["file_name"]

    def __len__(self) -> int:
        return len(self.images)

    def source(self) -> dict[str, str]:
        """Where the data comes from: its name, the annotation file and that file's sha256 (for result records)."""

        ann = self.annotations
        return {"data": self.name or str(self.image_dir), "annotations": str(ann) if ann else "",
                "annotations_sha256": file_sha256(ann) if ann else ""}

    def subset(self, image_ids, name: str = "") -> CocoKeypoints:
        """The same set restricted to ``image_ids`` (a split), its json too; ``name`` says which part it is.

        Examples
        --------
        >>> coco = load_coco()
        >>> part = coco.subset(sorted(coco.images)[:2], "first two")
        >>> len(part), len(part.gt_json(part.images)["annotations"]) <= len(coco.raw["annotations"])
        (2, True)
        """
        wanted = [i for i in image_ids if i in self.images]
        if len(wanted) != len(set(image_ids)):
            missing = sorted(set(image_ids) - set(self.images), key=str)[:5]
            raise KeyError(f"images {missing} are not in {self.name or self.image_dir}")
        keep = set(wanted)
        raw = {**self.raw, "images": [im for im in self.raw["images"] if int(im["id"]) in keep],
               "annotations": [a for a in self.raw["annotations"] if int(a["image_id"]) in keep]}
        return CocoKeypoints({i: self.images[i] for i in wanted}, {i: self.people[i] for i in wanted},
                             self.image_dir, raw, self.annotations, name or self.name)

    def gt_json(self, image_ids) -> dict:
        """The COCO json of these images and their annotations (person category), for pycocotools."""
        wanted = set(image_ids)
        return {"images": [self.images[i] for i in sorted(wanted)],
                "annotations": [a for a in self.raw["annotations"] if a["image_id"] in wanted],
                "categories": [{"id": 1, "name": "person"}]}


def load_coco_keypoints(annotations: str | os.PathLike[str], image_dir: str | os.PathLike[str],
                        name: str = "") -> CocoKeypoints:
    """Load a COCO keypoints json (person category) and its image folder.

    Examples
    --------
    >>> from zoo_helpers.registry.assets import fetch
    >>> ann = fetch("mmpose_coco_annotations")
    >>> coco = load_coco_keypoints(ann, ann.parent)
    >>> len(coco), sum(len(p) for p in coco.people.values())
    (4, 14)
    """
    annotations, image_dir = Path(annotations), Path(image_dir)
    try:
        raw = json.loads(annotations.read_text())
    except (OSError, ValueError) as exc:
        raise AnnotationError(f"{annotations} is not a COCO keypoints annotation file: {exc}") from exc
    if not isinstance(raw, dict) or not all(isinstance(raw.get(k), list) for k in ("images", "annotations")):
        raise AnnotationError(f"{annotations} is not a COCO keypoints annotation file: it needs an 'images' and an "
                              "'annotations' list")
    file = annotations.name
    images = {}
    for n, im in enumerate(raw["images"]):
        if not isinstance(im, dict):
            raise AnnotationError(f"{file}, image at index {n}: not an object but {type(im).__name__}")
        image_id = _whole(im.get("id"), f"{file}, image at index {n}", "id")
        if not isinstance(im.get("file_name"), str) or not im["file_name"]:
            raise AnnotationError(f"{file}, image {image_id}: field 'file_name' must be the image's file name, "
                                  f"got {im.get('file_name')!r:.60}")
        images[image_id] = im
    categories = raw.get("categories", [])
    if not isinstance(categories, list) or not all(isinstance(c, dict) and "id" in c for c in categories):
        raise AnnotationError(f"{file}: 'categories' must be a list of objects with an 'id'")
    person_ids = {c["id"] for c in categories if c.get("name") == "person"} or {1}
    declared = {c["id"]: (len(c["keypoints"]), f"category {c['id']!r} ({c.get('name', '')!r}) of {file} names "
                                               f"{len(c['keypoints'])} keypoints")
                for c in categories if isinstance(c.get("keypoints"), list) and c["keypoints"]}  # some declare []
    people: dict[int, list[Person]] = {i: [] for i in images}
    for n, a in enumerate(raw["annotations"]):
        if not isinstance(a, dict):
            raise AnnotationError(f"{file}, annotation at index {n}: not an object but {type(a).__name__}")
        if a.get("category_id", 1) not in person_ids:
            continue
        where = f"{file}, annotation {a['id']!r}" if "id" in a else f"{file}, annotation at index {n}"
        ann_id, image_id = _whole(a.get("id"), where, "id"), _whole(a.get("image_id"), where, "image_id")
        if image_id not in people:
            continue
        count, source = declared.get(a.get("category_id", 1), (None, ""))
        kp = _keypoints(a.get("keypoints"), count, where, source)
        area = a.get("area", 0.0)
        if isinstance(area, bool) or not isinstance(area, int | float):
            raise AnnotationError(f"{where}: field 'area' must be a number, got {area!r:.40}")
        people[image_id].append(Person(image_id, ann_id, kp, _bbox(a.get("bbox"), where), float(area),
                                       bool(a.get("iscrowd", 0))))
    return CocoKeypoints(images, people, image_dir, raw, annotations, name)


class AnnotationError(ValueError):
    """An annotation's field is not what COCO's format says; the message names the file, the id and the field."""


def _whole(value, where: str, field: str) -> int:
    """An id field: a whole number (or its decimal digits), else an :class:`AnnotationError` naming the field."""
    if value is None:
        raise AnnotationError(f"{where}: field {field!r} is missing")
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isascii()
                                                                  and value.isdigit())):
        raise AnnotationError(f"{where}: field {field!r} must be a whole number, got {value!r:.40}")
    return int(value)


def _numbers(values, where: str, field: str) -> np.ndarray:
    if not isinstance(values, list) or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise AnnotationError(f"{where}: field {field!r} must be a list of numbers, got {values!r:.80}")
    arr = np.asarray(values, np.float64)
    if not np.isfinite(arr).all():
        raise AnnotationError(f"{where}: field {field!r} holds NaN or infinite values")
    return arr


def _keypoints(values, count: int | None, where: str, source: str = "") -> np.ndarray:
    """``(K, 3)`` keypoints of an annotation, checked: numbers, 3 per point, visibility 0-2, labelled points >= 0;
    ``source`` says where the expected ``count`` comes from (the category that names the keypoints)."""
    if values is None or values == []:
        return np.zeros((count or 17, 3))
    arr = _numbers(values, where, "keypoints")
    if arr.size % 3 or (count is not None and arr.size != 3 * count):
        origin = f": {source}" if source else ""
        raise AnnotationError(f"{where}: field 'keypoints' has {arr.size} values, expected 3 x "
                              f"{count if count is not None else 'K'} (x, y, visibility per point{origin})")
    kp = arr.reshape(-1, 3)
    if not np.isin(kp[:, 2], (0, 1, 2)).all():
        odd = sorted(set(kp[:, 2].tolist()) - {0, 1, 2})
        raise AnnotationError(f"{where}: field 'keypoints' has visibility {odd}; COCO allows 0, 1, 2")
    if (kp[kp[:, 2] > 0, :2] < 0).any():
        raise AnnotationError(f"{where}: field 'keypoints' has a labelled point with a negative coordinate")
    return kp


def _bbox(values, where: str) -> np.ndarray:
    if values is None:
        raise AnnotationError(f"{where}: field 'bbox' is missing")
    box = _numbers(values, where, "bbox")
    if box.shape != (4,) or (box[2:] < 0).any():
        raise AnnotationError(f"{where}: field 'bbox' must be [x, y, w, h] with w, h >= 0, got {values}")
    return box


#: The annotation file and image folder of a COCO val2017 folder, as ``coco_dir`` expects them.
COCO_VAL2017 = ("annotations/person_keypoints_val2017.json", "val2017")


def load_coco(coco_dir: str | os.PathLike[str] = "") -> CocoKeypoints:
    """The COCO keypoints set a chapter evaluates on: ``coco_dir`` (val2017 layout), or the mmpose sample.

    Examples
    --------
    >>> load_coco().source()["data"]
    'mmpose COCO sample (4 val2017 images)'
    """
    if coco_dir:
        root = Path(coco_dir)
        if not root.is_dir():
            raise FileNotFoundError(f"coco_dir={str(coco_dir)!r} is not a folder")
        coco = load_coco_keypoints(root / COCO_VAL2017[0], root / COCO_VAL2017[1], str(root))
        if not person_samples(coco):
            found = [p for people in coco.people.values() for p in people]
            crowd = sum(p.iscrowd for p in found)
            raise AnnotationError(f"coco_dir={str(coco_dir)!r}: {COCO_VAL2017[0]} has no usable person ({len(found)} "
                                  f"person annotations on its {len(coco)} images, {crowd} of them crowd regions, the "
                                  "others without a labelled keypoint or a box); the chapters score non-crowd "
                                  "people with labelled keypoints and a box")
        return coco

    ann = fetch("mmpose_coco_annotations")
    return load_coco_keypoints(ann, ann.parent, "mmpose COCO sample (4 val2017 images)")


def check_coco_dir(coco_dir: str | os.PathLike[str]) -> CocoKeypoints | None:
    """Check a ``coco_dir`` fully before any slow work; the loaded set, or ``None`` when ``coco_dir`` is empty.

    The annotation file is loaded and checked (:func:`load_coco`: every field read, at least one usable person),
    then every image it lists is opened and its header checked (Pillow's ``verify``, which does not decode the
    pixels), and a JPEG must end with its end-of-image marker (a file cut short does not): a missing, unreadable or
    truncated image raises an :class:`ImageError` naming the files.

    Examples
    --------
    >>> check_coco_dir("") is None
    True
    >>> check_coco_dir("/no/such/coco")
    Traceback (most recent call last):
    ...
    FileNotFoundError: coco_dir='/no/such/coco' is not a folder
    """
    import struct

    from PIL import Image

    if not coco_dir:
        return None
    coco = load_coco(coco_dir)
    bad = []
    for image_id in coco.images:
        path = coco.image_path(image_id)
        try:
            with Image.open(path) as im:
                im.verify()
                jpeg = im.format == "JPEG"
            if jpeg and not _ends_like_jpeg(path):
                raise EOFError("truncated: no JPEG end-of-image marker")
        except FileNotFoundError:
            bad.append(f"{path.name} (missing)")
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:  # what verify() raises, by format
            bad.append(f"{path.name} ({exc})")
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise ImageError(f"coco_dir={str(coco_dir)!r}: {len(bad)} of the {len(coco)} images {COCO_VAL2017[0]} lists "
                         f"cannot be read from {coco.image_dir}: {'; '.join(bad[:5])}{more}. Put the files there, or "
                         "leave their images and annotations out of the annotation file")
    return coco


def _ends_like_jpeg(path: Path, tail: int = 4096) -> bool:
    """True when a JPEG file's last ``tail`` bytes hold the end-of-image marker (FFD9; padding may follow it)."""
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - tail))
        return b"\xff\xd9" in fh.read()


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


def read_image_like_st(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode an image exactly as ST's evaluation does: ``tf.io.decode_image(channels=3)``, ``(H, W, 3)`` uint8.

    TensorFlow's JPEG decoder differs from Pillow's in a few levels here and there; where a chapter
    computes the card's metric it decodes (and resizes, :func:`zoo_helpers.evaluation.preprocess.resize_like_st`)
    the way ST does. Anything TensorFlow cannot decode raises :class:`ImageError` with the file name.
    """
    import tensorflow as tf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        image = tf.io.decode_image(tf.io.read_file(str(path)), channels=3, expand_animations=False, dtype=tf.uint8)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as exc:
        raise ImageError(f"cannot read image {path.name}: {exc.message.splitlines()[0]}") from exc
    return image.numpy()


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB.

    Grayscale and palette images are expanded, RGBA is composited on black, 16-bit images are
    scaled to 8 bits. Anything else (truncated, not an image) raises :class:`ImageError`.

    Examples
    --------
    >>> from zoo_helpers.registry.assets import fetch
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


#: The JPEG decoders the chapters use, by name: Pillow's (with our own resize) and TensorFlow's
#: (``tf.io.decode_image``, as ST's services decode). They differ in a few levels here and there.
DECODERS = {"pillow": read_image, "tensorflow": read_image_like_st}


def decoder(name: str):
    """The image reader :data:`DECODERS` names; a ``ValueError`` lists the names for any other.

    Examples
    --------
    >>> decoder("pillow").__name__
    'read_image'
    """
    if name not in DECODERS:
        raise ValueError(f"unknown JPEG decoder {name!r}; use one of {', '.join(DECODERS)}")
    return DECODERS[name]
