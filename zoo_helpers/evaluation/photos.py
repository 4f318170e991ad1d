"""Unlabelled real photos of each card's kind: calibration sets and the images of label-free agreement.

(The people calibration functions moved here from :mod:`zoo_helpers.evaluation.datasets`, which knows labelled sets.)

Quantization needs real inputs that are not the evaluation sample (calibration), and its fidelity can be
measured on more images than are labelled (label-free agreement with the float model,
:mod:`zoo_helpers.evaluation.agreement`). This module knows which mirrored files serve, and decodes and resizes them:

* :func:`people`: the 25 mmpose people fixtures of :data:`CALIBRATION_SETS`
  (PoseTrack18, MPII, AI Challenger, CrowdPose, LV-MHP, JHMDB, ExLPose) and Coral's MoveNet test photo,
  optionally followed by the images of a COCO sample, each resized as ST does (``fit``);
* :func:`hands`: the InterHand2.6M fixtures, one square crop around each annotated hand box (the only
  field of their annotations used: no keypoint), at the hand landmark model's input size. None of them
  is an image of the hand chapter's labelled sample (FreiHAND, OneHand10K, Panoptic);
* :func:`faces`: the 300VW, COFW, AFLW and 300W-LP fixtures, one square crop around each face, for the
  head landmark model (its labelled sample is 300W, WFLW and COCO-WholeBody).

Examples
--------
>>> people((192, 192)).images.shape
(26, 192, 192, 3)
>>> hands(224).images.shape
(14, 224, 224, 3)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import zoo_helpers.evaluation.datasets as datasets
import zoo_helpers.evaluation.preprocess as preprocess
import zoo_helpers.evaluation.transforms as transforms
from zoo_helpers.registry.assets import fetch, registry
from zoo_helpers.registry.hashing import file_sha256

#: mmpose fixtures of people that no chapter evaluates on: the default calibration images (25 in all).
CALIBRATION_SETS = ("posetrack18", "mpii", "aic", "crowdpose", "mhp", "jhmdb", "exlpose")


def calibration_assets(n: int | None = None, calib_dir: str = "") -> list[str]:
    """Registry names of the people images disjoint from every evaluation sample, taken in turn from each set.

    They are the mmpose fixtures of :data:`CALIBRATION_SETS` (real photos, low light included); none is an
    image of the chapters' samples (tested by content hash), so calibration never sees the evaluation data.
    (CrowdPose draws some images from COCO: with a full COCO val2017, pass a ``calib_dir`` to be sure.)
    The first ``n`` of them, or none when a ``calib_dir`` of one's own replaces them.

    Examples
    --------
    >>> len(calibration_assets()), calibration_assets(1), calibration_assets(1, "my_images")
    (25, ['mmpose_aic_054d9ce9201beffc76e5ff2169d2af2f027002ca'], [])
    """
    if calib_dir:
        return []

    by_set: dict[str, list[str]] = {}
    for name, a in registry().items():
        parts = a.path.split("tests/data/")
        if len(parts) == 2 and parts[1].split("/")[0] in CALIBRATION_SETS and a.path.endswith((".jpg", ".png")):
            by_set.setdefault(parts[1].split("/")[0], []).append(name)
    order = [names[i] for i in range(max(map(len, by_set.values()))) for names in by_set.values() if i < len(names)]
    return order[:n] if n is not None else order


def calibration_people(n: int) -> list[Path]:
    """The first ``n`` files of :func:`calibration_assets` (verified local paths)."""

    names = calibration_assets()
    if n > len(names):
        raise ValueError(f"n_calib={n}: the mmpose people fixtures hold {len(names)} images; set calib_dir for more")
    return [fetch(name) for name in names[:n]]


def calibration(calib_dir: str, n: int, size: tuple[int, int]) -> Images:
    """``n`` uint8 calibration images at ``size``, decoded and resized as ST does (``fit``), with their files.

    From ``calib_dir`` (its ``*.jpg``, sorted), or, when it is empty, from :func:`calibration_people`:
    never from the evaluation sample (the files are kept for :func:`disjoint` checks).
    """
    files = calibration_files(calib_dir, n)
    return Images(_like_st(files, size), [f.name for f in files], files)


def calibration_images(calib_dir: str, n: int, size: tuple[int, int]) -> np.ndarray:
    """The images of :func:`calibration`."""
    return calibration(calib_dir, n, size).images


def _like_st(files: list, size: tuple[int, int]) -> np.ndarray:
    """Each file decoded and resized as ST's evaluation does, stacked."""

    return np.stack([preprocess.resize_like_st(datasets.read_image_like_st(f), size)[0] for f in files])


def calibration_files(calib_dir: str, n: int) -> list[Path]:
    """The ``n`` files :func:`calibration_images` reads (``calib_dir``'s first ``*.jpg``, or the fixtures)."""
    if n < 1:
        raise ValueError("n_calib must be at least 1")
    files = calibration_people(n) if not calib_dir else sorted(Path(calib_dir).glob("*.jpg"))[:n]
    if not files:
        raise ValueError(f"no .jpg images in calib_dir={calib_dir!r}")
    if len(files) < n:
        raise ValueError(f"calib_dir={calib_dir!r} holds {len(files)} .jpg images, n_calib={n} asked for more")
    return files


#: Registry names of the InterHand2.6M annotations and of the COCO-WholeBody fixture (hand boxes).
INTERHAND = "mmpose_interhand2_6m_test_interhand2_6m_data_json"
WHOLEBODY = "mmpose_coco_wholebody_annotations"
#: Side of a hand crop, as a multiple of the annotated hand box's longer side.
HAND_MARGIN = 1.5
#: Registry names of the face fixtures' annotations, and the face crop's margin (the head chapter's).
FACE_SETS = ("mmpose_300vw_anno_300vw_json", "mmpose_cofw_test_cofw_json", "mmpose_aflw_test_aflw_json",
             "mmpose_300wlp_test_300wlp_json")
FACE_MARGIN = 1.5


@dataclass
class Images:
    """``images``: ``(N, H, W, 3)`` uint8; ``names``: registry names (or ``coco <id>``); ``files``: local files."""

    images: np.ndarray
    names: list[str]
    files: list[Path]

    def __len__(self) -> int:
        return len(self.images)

    def extend(self, other: Images) -> Images:
        """These images followed by ``other``'s."""
        return Images(np.concatenate([self.images, other.images]), self.names + other.names, self.files + other.files)

    def first(self, n: int) -> Images:
        """The first ``n`` images (and their names and files); refuses to give fewer than asked."""
        if n < 1 or n > len(self.images):
            raise ValueError(f"n_calib={n}: this set holds {len(self.images)} images (use 1 to {len(self.images)})")
        return Images(self.images[:n], self.names[:n], self.files[:n])


def people(size: tuple[int, int], coco: datasets.CocoKeypoints | None = None) -> Images:
    """Every people photo not evaluated on (the fixtures, Coral's squat), then (with ``coco``) ``coco``'s, at ``size``.

    Parameters
    ----------
    size
        ``(width, height)`` of the model input.
    coco
        A COCO keypoint sample whose images are appended (for label-free agreement, not calibration).
    """

    names = [*calibration_assets(), "coral_squat_image"]
    files = [fetch(n) for n in names]
    if coco is not None:
        files += [coco.image_path(i) for i in sorted(coco.people)]
        names += [f"coco {i}" for i in sorted(coco.people)]
    return Images(_like_st(files, size), names, [Path(f) for f in files])


def hands(size: int = 224) -> Images:
    """Square crops around every annotated hand box: InterHand2.6M's first, then COCO-WholeBody's.

    The 4 InterHand2.6M crops come first (a calibration set takes the first ``n``); the 10 valid hand boxes
    of the COCO-WholeBody fixture follow (small hands, 15 to 30 pixels, upsampled), for label-free
    agreement. Neither set is in the hand chapter's labelled sample.
    """
    return _boxed_crops([INTERHAND], size, HAND_MARGIN).extend(_wholebody_hands(size))


def _wholebody_hands(size: int) -> Images:
    coco = datasets.load_coco_keypoints(fetch(WHOLEBODY), fetch(WHOLEBODY).parent)
    return _crops([(coco.image_path(a["image_id"]), a[f"{side}_box"], f"coco-wholebody {a['image_id']} {side}")
                   for a in sorted(coco.raw["annotations"], key=lambda a: a["id"])
                   for side in ("lefthand", "righthand") if a.get(f"{side}_valid")], size, HAND_MARGIN)


def faces(size: int = 192) -> Images:
    """One square crop around each annotated face of the 300VW, COFW, AFLW and 300W-LP fixtures.

    The box is the annotation's ``bbox``, or the extent of its labelled points where it has none (300VW);
    the crop is :data:`FACE_MARGIN` x the box's longer side, as the head chapter crops its sample. None of
    these images is in the head chapter's labelled sample (300W, WFLW, COCO-WholeBody).
    """
    return _boxed_crops(FACE_SETS, size, FACE_MARGIN)


def _boxed_crops(annotation_assets, size: int, margin: float) -> Images:
    """Square crops around every annotation box of COCO-style annotation files (no keypoint kept)."""

    items = []
    for asset in annotation_assets:
        annotations = fetch(asset)
        folder = registry()[asset].path.rsplit("/", 1)[0]
        files = {a.path[len(folder) + 1:]: name for name, a in registry().items() if a.path.startswith(folder + "/")}
        data = json.loads(annotations.read_text())
        by_id = {im["id"]: im["file_name"] for im in data["images"]}
        for ann in sorted(data["annotations"], key=lambda a: a["id"]):
            name = files.get(by_id[ann["image_id"]])
            if name is None:
                raise ValueError(f"{annotations}: image {by_id[ann['image_id']]} is not in the asset registry")
            items.append((fetch(name), _box(ann), name))
    return _crops(items, size, margin)


def _crops(items: list[tuple], size: int, margin: float) -> Images:
    """A ``size`` x ``size`` square crop, ``margin`` x the box's longer side, of each ``(file, box, name)``."""

    crops = [preprocess.crop_box(datasets.read_image(path), transforms.square_box(box, margin), (size, size))[0]
             for path, box, _ in items]
    return Images(np.stack(crops), [name for _, _, name in items], [Path(path) for path, _, _ in items])


def _box(annotation: dict) -> list[float]:
    """``[x, y, w, h]``: the annotation's box, else the extent of its labelled points."""
    if annotation.get("bbox"):
        return [float(v) for v in annotation["bbox"]]
    pts = np.asarray(annotation["keypoints"], float).reshape(-1, 3)
    pts = pts[pts[:, 2] > 0, :2] if (pts[:, 2] > 0).any() else pts[:, :2]
    lo, hi = pts.min(0), pts.max(0)
    return [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]


def disjoint(files: list[Path], others: list[Path]) -> bool:
    """True when no file of ``files`` has the content (sha256) of a file of ``others``.

    Examples
    --------
    >>> from zoo_helpers.evaluation import datasets
    >>> coco = datasets.load_coco()
    >>> disjoint(people((64, 64)).files, [coco.image_path(i) for i in coco.people])
    True
    """

    if not files or not others:
        raise ValueError("disjoint: nothing to compare (no calibration file or no sample file)")
    return not shared(files, others)


def shared(files: list[Path], others: list[Path]) -> dict[Path, Path]:
    """Each file of ``files`` that has the content (sha256) of a file of ``others``, with that other file.

    Examples
    --------
    >>> from zoo_helpers.evaluation import datasets
    >>> coco = datasets.load_coco()
    >>> first = coco.image_path(sorted(coco.images)[0])
    >>> shared([first], [coco.image_path(i) for i in coco.images]) == {first: first}
    True
    """
    by_content = {file_sha256(f): f for f in others}
    return {f: by_content[h] for f in files if (h := file_sha256(f)) in by_content}
