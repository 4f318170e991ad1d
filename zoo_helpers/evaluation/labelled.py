"""The larger labelled evaluation sets, each loaded into COCO-style ground truth (:class:`CocoKeypoints`).

Every loader returns a :class:`~zoo_helpers.evaluation.datasets.CocoKeypoints` (image records, people per image,
the json pycocotools reads) whose keypoints are in a layout of ``data/keypoints.yaml``, so the chapters'
pipelines crop, score and record them like the COCO sample. General loaders take folders and files (a user's
own copy); the ``*_set`` functions load the copies registered in the asset registry.

YOLO-pose labels (:func:`yolo_pose_labels`, :func:`coco_val2017_set`)
    the ultralytics format: one ``<image>.txt`` per image, one line per person: class, box ``cx cy w h``, then
    17 x ``(x, y, visibility)``, all normalised to the image size. Joined with a COCO json where both exist
    (the json wins: it has the official ``area``, crowd regions and people without keypoints). Where only labels
    exist, three things are stood in for: ``area`` (COCO's segmentation area, which scales OKS) is the box area x
    :data:`AREA_PER_BOX` (the factor ST's evaluation uses; for the 68 people with keypoints of the 32 images both
    sources cover here, the official area is 0.54 of the box at the median, 0.39 to 0.71 from the 10th to the
    90th percentile), there are no crowd regions (a detection inside one counts as a false
    positive) and people without keypoints are missing (a detection of one counts as a false positive too), so
    AP on label-only images is, if anything, lower than COCO's own. An image of the folder that neither covers
    (the converter writes no file for an image without a non-crowd person with keypoints) is kept with no
    person: a detection there counts as a false positive, as on the label-only images.
LSP Extended (:func:`lsp_joints`, :func:`lsp_extended_set`)
    ``joints.mat``: 14 joints x (x, y, visible) per person, one person per image. People are stored in COCO's 17
    keypoints: the 12 limb joints LSP shares with COCO, nose, eyes and ears unlabelled; the set's own neck and
    head top are kept in ``extra`` (layout ``lsp14``). Score them with PCK@0.2 of the torso
    (:func:`zoo_helpers.evaluation.metrics.pck_torso`) and, on the 12 shared joints, OKS with the box stand-in.
Hand test set (:func:`hand_test_frames`, :func:`hand_test_set`)
    hand-graph-cnn's real-world frames: 3D joints in camera space, projected into each 256 x 256 crop with the
    set's camera intrinsics and crop box (``uv = f X / Z + c``, minus the box corner, times 256 / box side).
    21 joints in MediaPipe's order (``hand21``); consecutive video frames (kept together by the splits).
AFLW2000-3D (:func:`aflw2000_3d`, :func:`aflw2000_3d_set`)
    ``pt3d_68``: 68 landmarks of a fitted 3D face model, projected (x, y): **fitted, not hand-placed**
    (``face68``; the occluded side's points are where the model puts them).

Bad files give the clear :class:`~zoo_helpers.evaluation.datasets.AnnotationError` the COCO loader gives.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from zoo_helpers.evaluation.datasets import AnnotationError, CocoKeypoints, Person, load_coco_keypoints
from zoo_helpers.registry import assets, keypoints

#: COCO's ``area`` stood in for where only a box is known (ST's evaluation uses the same factor for its OKS).
AREA_PER_BOX = 0.53


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError) as exc:
        raise AnnotationError(f"cannot read the size of image {path.name}: {exc}") from exc


def _person(image_id: int, ann_id: int, kp: np.ndarray, bbox: np.ndarray | None = None) -> tuple[Person, dict]:
    """A person and its COCO annotation; the box is the labelled points' extent when none is given."""
    labelled = kp[kp[:, 2] > 0, :2]
    if bbox is None:
        lo, hi = (labelled.min(0), labelled.max(0)) if len(labelled) else (np.zeros(2), np.zeros(2))
        bbox = np.array([*lo, *(hi - lo)])
    area = float(bbox[2] * bbox[3] * AREA_PER_BOX)
    ann = {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0, "area": area,
           "bbox": [float(v) for v in bbox], "keypoints": [float(v) for v in kp.ravel()],
           "num_keypoints": int((kp[:, 2] > 0).sum())}
    return Person(image_id, ann_id, kp, np.asarray(bbox, float), area, False), ann


def _coco(images: dict[int, dict], people: dict[int, list[Person]], anns: list[dict], image_dir: Path,
          layout: str, name: str, annotations: Path | None = None) -> CocoKeypoints:
    raw = {"images": [images[i] for i in sorted(images)], "annotations": anns,
           "categories": [{"id": 1, "name": "person", "keypoints": list(keypoints.layout(layout).names)}]}
    return CocoKeypoints(images, people, image_dir, raw, annotations, name)


def _one_person_each(entries: list[tuple[int, str, int, int, np.ndarray]], image_dir: Path, layout: str,
                     name: str) -> CocoKeypoints:
    """A set of one person per image from ``(image id, file name, width, height, keypoints)`` entries."""
    images, people, anns = {}, {}, []
    for image_id, file_name, width, height, kp in entries:
        images[image_id] = {"id": image_id, "file_name": file_name, "width": width, "height": height}
        person, ann = _person(image_id, image_id, kp)
        people[image_id] = [person]
        anns.append(ann)
    return _coco(images, people, anns, image_dir, layout, name)


def _label_lines(path: Path, width: int, height: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(box [x, y, w, h], keypoints (17, 3))`` in pixels, one per line of a YOLO-pose label file."""
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            values = np.array(line.split(), float)
        except ValueError as exc:
            raise AnnotationError(f"{path.name}, line {n}: not numbers ({exc})") from exc
        if values.size != 5 + 17 * 3 or values[0] != 0:
            raise AnnotationError(f"{path.name}, line {n}: expected class 0, a box and 17 x (x, y, v) "
                                  f"(56 values), got {values.size} values, class {values[0]:g}")
        cx, cy, w, h = values[1:5] * [width, height, width, height]
        kp = values[5:].reshape(17, 3) * [width, height, 1]
        if not np.isin(kp[:, 2], (0, 1, 2)).all():
            raise AnnotationError(f"{path.name}, line {n}: visibility must be 0, 1 or 2")
        out.append((np.array([cx - w / 2, cy - h / 2, w, h]), kp))
    return out


def yolo_pose_labels(label_dir: str | os.PathLike[str], image_dir: str | os.PathLike[str],
                     annotations: str | os.PathLike[str] | None = None, name: str = "") -> CocoKeypoints:
    """COCO ground truth from a YOLO-pose label folder, joined with a COCO json where both cover an image.

    Images are the ``.jpg`` files of ``image_dir`` (ids from the COCO file names): the json's, those of a label
    file, and the others with no person; see the module docstring for what stands in for a label-only image's
    area, crowds and unlabelled people.
    """
    label_dir, image_dir = Path(label_dir), Path(image_dir)
    base = load_coco_keypoints(annotations, image_dir, name) if annotations else None
    images = dict(base.images) if base else {}
    people = {i: list(p) for i, p in base.people.items()} if base else {}
    anns = list(base.raw["annotations"]) if base else []
    next_id = 10**12  # above COCO's annotation ids
    for label in sorted(label_dir.glob("*.txt")):
        image = image_dir / f"{label.stem}.jpg"
        if not label.stem.isdigit():
            raise AnnotationError(f"{label.name}: a COCO label file is named by its image id")
        image_id = int(label.stem)
        if image_id in images:
            continue  # the official json covers this image
        if not image.is_file():
            raise AnnotationError(f"{label.name}: no image {image.name} in {image_dir}")
        width, height = _image_size(image)
        images[image_id] = {"id": image_id, "file_name": image.name, "width": width, "height": height}
        people[image_id] = []
        for box, kp in _label_lines(label, width, height):
            person, ann = _person(image_id, next_id, kp, box)
            next_id += 1
            people[image_id].append(person)
            anns.append(ann)
    for image in sorted(image_dir.glob("*.jpg")):  # neither source covers it: no person with keypoints
        if image.stem.isdigit() and int(image.stem) not in images:
            width, height = _image_size(image)
            images[int(image.stem)] = {"id": int(image.stem), "file_name": image.name, "width": width,
                                       "height": height}
            people[int(image.stem)] = []
    return _coco(images, people, anns, image_dir, "coco17", name or str(label_dir),
                 Path(annotations) if annotations else None)


def coco_val2017_set() -> CocoKeypoints:
    """The registered COCO val2017 subset: 159 images (79 with COCO's json, 43 more with YOLO-pose labels, 37 with
    no person with keypoints).

    Examples
    --------
    >>> coco = coco_val2017_set()
    >>> len(coco), sum(len(p) for p in coco.people.values())  # 118 annotations of the json, 142 from labels
    (159, 260)
    """
    images = assets.fetch_members("coco_val2017_mini", progress=False)
    labels = assets.fetch_members("coco_val2017_yolo_labels", progress=False)
    ann = images["annotations/person_keypoints_val2017.json"]
    folder = images["val2017/000000000139.jpg"].parent
    return yolo_pose_labels(next(iter(labels.values())).parent, folder, ann,
                            "COCO val2017 subset (COCO-MINI images, official json + YOLO-pose labels)")


#: COCO keypoint index of each LSP joint (R ankle, R knee, R hip, L hip, L knee, L ankle, R wrist, R elbow,
#: R shoulder, L shoulder, L elbow, L wrist); neck and head top have none.
LSP_TO_COCO = (16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9)


def lsp_joints(joints_mat: str | os.PathLike[str], image_dir: str | os.PathLike[str], first: int | None = None,
               name: str = "") -> CocoKeypoints:
    """LSP Extended's ``joints.mat`` (14 x 3 x N) for the images ``im00001.jpg``... found in ``image_dir``.

    Each person is in COCO's 17 keypoints (12 limb joints labelled where LSP says visible), with the set's
    own 14 joints in ``CocoKeypoints.raw["extra"][image_id]`` for the torso (PCK) and the neck and head top.
    """
    from scipy.io import loadmat

    image_dir = Path(image_dir)
    try:
        joints = np.asarray(loadmat(str(joints_mat))["joints"], float)
    except (OSError, ValueError, KeyError) as exc:
        raise AnnotationError(f"{joints_mat} is not LSP's joints.mat (a 'joints' matrix): {exc}") from exc
    if joints.ndim != 3 or joints.shape[:2] != (14, 3):
        raise AnnotationError(f"{joints_mat}: 'joints' must be 14 x 3 x N, got {joints.shape}")
    entries, extra = [], {}
    count = joints.shape[2] if first is None else min(first, joints.shape[2])
    for n in range(count):
        image = image_dir / f"im{n + 1:05d}.jpg"
        if not image.is_file():
            continue
        own = joints[:, :, n].copy()
        own[:, 2] = np.where(own[:, 2] > 0, 2.0, 0.0)  # LSP's 1 = visible
        kp = np.zeros((17, 3))
        kp[list(LSP_TO_COCO)] = own[:12]
        entries.append((n + 1, image.name, *_image_size(image), kp))
        extra[n + 1] = own
    coco = _one_person_each(entries, image_dir, "coco17", name or str(image_dir))
    coco.raw["extra"] = extra
    return coco


def lsp_extended_set() -> CocoKeypoints:
    """The registered LSP Extended images ``im00001``-``im02000`` with their joints."""
    files = assets.fetch_members("lsp_extended_2000", progress=False)
    return lsp_joints(files["joints.mat"], files["images/im00001.jpg"].parent, 2000,
                      "LSP Extended (2,000 images, one person each)")


def hand_test_frames(params_mat: str | os.PathLike[str], pose_mat: str | os.PathLike[str],
                     image_dir: str | os.PathLike[str], crop: int = 256, name: str = "") -> CocoKeypoints:
    """hand-graph-cnn's real-world frames with their 3D joints projected into each ``crop`` x ``crop`` image."""
    from scipy.io import loadmat

    image_dir = Path(image_dir)
    try:
        params, pose = loadmat(str(params_mat)), np.asarray(loadmat(str(pose_mat))["pose_gt"], float)
        cam, box, paths = params["cam_param"], params["bbox"], [str(p).strip() for p in params["image_path"]]
    except (OSError, ValueError, KeyError) as exc:
        raise AnnotationError(f"{params_mat} / {pose_mat} are not hand-graph-cnn's params.mat / pose_gt.mat: "
                              f"{exc}") from exc
    z = pose[..., 2]
    uv = np.stack([cam[:, None, 0] * pose[..., 0] / z + cam[:, None, 2],
                   cam[:, None, 1] * pose[..., 1] / z + cam[:, None, 3]], -1)
    uv = (uv - box[:, None, :2]) * (crop / box[:, None, 2:3])
    entries = [(int(Path(rel).stem), Path(rel).name, crop, crop, np.concatenate([uv[n], np.full((21, 1), 2.0)], -1))
               for n, rel in enumerate(paths) if (image_dir / Path(rel).name).is_file()]
    return _one_person_each(entries, image_dir, "hand21", name or str(image_dir))


def hand_test_set() -> CocoKeypoints:
    """The registered hand-graph-cnn frames ``00000``-``00291`` (consecutive frames of one video)."""
    files = assets.fetch_members("hand_graph_cnn_real_test", progress=False)
    root = "data/real_world_testset"
    return hand_test_frames(files[f"{root}/params.mat"], files[f"{root}/pose_gt.mat"],
                            files[f"{root}/images/00000.jpg"].parent,
                            name="hand-graph-cnn real-world test frames (292)")


def aflw2000_3d(folder: str | os.PathLike[str], name: str = "") -> CocoKeypoints:
    """AFLW2000-3D faces of ``folder`` (``imageNNNNN.jpg`` with ``imageNNNNN.mat``), 68 fitted landmarks each."""
    from scipy.io import loadmat

    folder = Path(folder)
    entries = []
    for mat in sorted(folder.glob("image*.mat")):
        image = mat.with_suffix(".jpg")
        if not image.is_file():
            raise AnnotationError(f"{mat.name}: no image {image.name} beside it")
        try:
            pts = np.asarray(loadmat(str(mat))["pt3d_68"], float)
        except (OSError, ValueError, KeyError) as exc:
            raise AnnotationError(f"{mat.name} holds no 'pt3d_68' landmarks: {exc}") from exc
        if pts.shape != (3, 68):
            raise AnnotationError(f"{mat.name}: 'pt3d_68' must be 3 x 68, got {pts.shape}")
        kp = np.concatenate([pts[:2].T, np.full((68, 1), 2.0)], -1)
        entries.append((int(mat.stem.removeprefix("image")), image.name, *_image_size(image), kp))
    return _one_person_each(entries, folder, "face68", name or str(folder))


def aflw2000_3d_set() -> CocoKeypoints:
    """The registered 16 AFLW2000-3D faces (PRNet's test images)."""
    files = assets.fetch_members("aflw2000_3d_prnet", progress=False)
    return aflw2000_3d(next(iter(files.values())).parent, "AFLW2000-3D (16 faces, fitted 68-point landmarks)")
