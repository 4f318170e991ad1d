"""Evaluation of the hand and face landmark models on the mmpose samples.

Hands: FreiHAND, OneHand10K and CMU Panoptic (21 keypoints each). Crops come from the two-stage
pipeline (palm detector -> rotated square crop, the palm nearest the annotated hand) or from the
ground-truth keypoints (same crop rule, isolates the landmark model). Scores: end-point error in
pixels and PCK@0.2 of the hand box's longer side, per sample and per keypoint.

Faces: 300W (68 points), WFLW (98 points, mapped to 68) and COCO-WholeBody faces (68 points). Each
face is cropped from its ground-truth box, squared and enlarged by :data:`FACE_MARGIN` (1.5 x the
longer side, about MediaPipe's 25 % margin on each side). Score: inter-ocular NME over the 68-point
indices with a mesh counterpart (the ``face68`` layout built from ``face468``; the jaw is left out).

Crops come back as one :class:`~zoo_helpers.evaluation.batches.Batch` (truth: the :class:`Sample` of each crop);
:func:`hand_scores` and :func:`face_scores` take the model's outputs for that batch, never the model,
and return an :class:`~zoo_helpers.evaluation.batches.Evaluation`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo_helpers.evaluation import codecs, datasets, metrics, photos, preprocess, transforms
from zoo_helpers.evaluation.batches import Batch, Evaluation
from zoo_helpers.registry import keypoints
from zoo_helpers.registry.assets import fetch, lookup, registry

HAND_SETS = ("freihand", "onehand10k", "panoptic")
CROP_MODES = ("gt", "palm")
#: The ``palm_detector`` choices: catalog keys of ST's int8 and MediaPipe's float palm detectors.
PALM_DETECTORS = {"st": "st_palm_detection_192", "mediapipe": "mediapipe_palm_detection_full"}
FACE_MARGIN = photos.FACE_MARGIN  # one value for the sample's crops and the calibration crops
#: A face whose NME is above this is counted as a failure (the model placed the mesh on something else or
#: far off), reported apart from the mean of the others: a mean over eight good faces and two failures says
#: neither how good the good ones are nor how often the model fails.
FAILURE_NME = 0.3


@dataclass
class Sample:
    """One annotated hand or face: its image, keypoints ``(K, 3)`` in pixels and box ``[x, y, w, h]``."""

    dataset: str
    image_id: int
    image: np.ndarray
    keypoints: np.ndarray
    bbox: np.ndarray


def _mmpose(name: str, annotations: str | None = None) -> datasets.CocoKeypoints:
    for key in registry():
        if key.startswith(f"mmpose_{name}_"):
            fetch(key)  # every file of the set, from the mirror or the cache, lands next to its json
    ann = fetch(annotations or f"mmpose_{name}_annotations")
    return datasets.load_coco_keypoints(ann, ann.parent)


#: The registry's annotation files of :func:`hand_samples` and :func:`face_samples`.
HAND_ANNOTATIONS = tuple(f"mmpose_{name}_annotations" for name in HAND_SETS)
FACE_ANNOTATIONS = ("mmpose_300w_annotations", "mmpose_wflw_annotations", "mmpose_coco_wholebody_annotations")


def source(annotations: tuple[str, ...]) -> dict[str, str]:
    """The data source of a landmark evaluation, for result records: the annotation files and their sha256.

    Examples
    --------
    >>> source(("mmpose_freihand_annotations",))["data"]
    'mmpose samples: mmpose_freihand_annotations'
    """

    return {"data": f"mmpose samples: {', '.join(annotations)}", "annotations": ", ".join(annotations),
            "annotations_sha256": ", ".join(lookup(n).sha256 for n in annotations)}


def hand_source() -> dict[str, str]:
    """:func:`source` of :func:`hand_samples`' data."""
    return source(HAND_ANNOTATIONS)


def face_source() -> dict[str, str]:
    """:func:`source` of :func:`face_samples`' data (300W, WFLW and the COCO-WholeBody faces)."""
    return source(FACE_ANNOTATIONS)


def hand_samples(sets: tuple[str, ...] = HAND_SETS) -> list[Sample]:
    """Every annotated hand of the mmpose hand samples."""
    return [s for name in sets for s in samples_of(_mmpose(name), name)]


def samples_of(coco: datasets.CocoKeypoints, name: str) -> list[Sample]:
    """One :class:`Sample` per annotated person of a labelled set (:mod:`zoo_helpers.evaluation.labelled`), its
    image read once.

    Examples
    --------
    >>> from zoo_helpers.evaluation import labelled
    >>> hands = samples_of(labelled.hand_test_set().subset([0, 1]), "real hands")
    >>> len(hands), hands[0].keypoints.shape, hands[0].image.shape
    (2, (21, 3), (256, 256, 3))
    """
    out = []
    for image_id, people in coco.people.items():
        image = datasets.read_image(coco.image_path(image_id))
        out += [Sample(name, image_id, image, p.keypoints, p.bbox) for p in people]
    return out


def sample_files(samples: list[Sample]) -> list:
    """The image file of each sample (for calibration disjointness checks)."""
    def load(name: str) -> datasets.CocoKeypoints:  # COCO-WholeBody faces come from the COCO fixture's images
        return _mmpose("coco", "mmpose_coco_wholebody_annotations") if name == "coco-wholebody" else _mmpose(name)

    sets = {name: load(name) for name in dict.fromkeys(s.dataset for s in samples)}
    return [sets[s.dataset].image_path(s.image_id) for s in samples]


def face_samples() -> list[Sample]:
    """Every annotated face: 300W, WFLW (98 -> 68) and the COCO-WholeBody faces marked valid."""
    out = []
    face68 = keypoints.layout("face68")
    for name, source in (("300w", "face68"), ("wflw", "wflw98")):
        coco = _mmpose(name)
        for image_id, people in coco.people.items():
            image = datasets.read_image(coco.image_path(image_id))
            out += [Sample(name, image_id, image, face68.convert(p.keypoints, source), p.bbox) for p in people]
    whole = _mmpose("coco", "mmpose_coco_wholebody_annotations")
    for a in whole.raw["annotations"]:
        if a.get("face_valid"):
            image = datasets.read_image(whole.image_path(a["image_id"]))
            out.append(Sample("coco-wholebody", a["image_id"], image, np.asarray(a["face_kpts"], float).reshape(68, 3),
                              np.asarray(a["face_box"], float)))
    return out


def hand_crops(samples: list[Sample], mode: str = "gt", palm_outputs=None, palm_batch: Batch | None = None,
               size: int = 224) -> Batch:
    """Rotated square crops for the landmark model, one per hand.

    ``mode`` is ``"gt"`` (from the annotated keypoints) or ``"palm"`` (the two-stage pipeline: pass the
    palm detector's outputs for :func:`palm_inputs`' batch). In ``palm`` mode a hand whose palm is not
    found keeps its ground-truth crop, and ``found`` says which.
    """
    if mode not in CROP_MODES:
        raise ValueError(f"unknown crop mode {mode!r}; use one of {CROP_MODES}")
    rects = [transforms.hand_rect_from_keypoints(s.keypoints[:, :2], s.keypoints[:, 2] > 0) for s in samples]
    found = np.ones(len(samples), bool)
    if mode == "palm":
        if palm_outputs is None or palm_batch is None:
            raise ValueError("crop mode 'palm' needs the palm detector's outputs and its input batch")
        for i, rect in enumerate(_palm_rects(palm_outputs, palm_batch)):
            if rect is not None:
                rects[i] = rect
            found[i] = rect is not None
    crops, ts = zip(*(preprocess.crop_rotated(s.image, *r, (size, size)) for s, r in zip(samples, rects, strict=True)),
                    strict=True)
    return Batch(np.stack(crops), list(ts), [s.image_id for s in samples], list(samples), [], f"hand crops ({mode})",
                 found)


def palm_inputs(samples: list[Sample], size: tuple[int, int]) -> Batch:
    """Each hand's whole image letterboxed for the palm detector (one sample per hand)."""
    xs, ts = zip(*(preprocess.resize(s.image, size, mode="padding") for s in samples), strict=True)
    return Batch(np.stack(xs), list(ts), [s.image_id for s in samples], list(samples), [], "palm detector inputs")


def _palm_rects(outputs: dict[str, np.ndarray], batch: Batch) -> list:
    """The hand crop of the palm nearest each annotated hand, or ``None`` where no palm was found."""
    rects = []
    for palms, t, s in zip(codecs.codec("palms").decode(outputs), batch.transforms, batch.truth, strict=True):
        if not len(palms.scores):
            rects.append(None)
            continue
        target = s.keypoints[s.keypoints[:, 2] > 0, :2].mean(0)
        centres = t.normalized_to_original((palms.boxes[:, :2] + palms.boxes[:, 2:]) / 2)
        best = int(np.argmin(np.linalg.norm(centres - target, axis=1)))  # the palm of the annotated hand
        box = t.normalized_to_original(palms.boxes[best].reshape(2, 2)).ravel()
        rects.append(transforms.palm_to_rect(box, t.normalized_to_original(palms.keypoints[best])))
    return rects


def hand_scores(outputs: dict[str, np.ndarray], batch: Batch) -> Evaluation:
    """Score a hand landmark model's outputs for ``batch``: EPE (px), PCK@0.2, per sample and per keypoint."""
    decoded = codecs.decode_hand(outputs)
    pred = batch.to_original(decoded["landmarks"][..., :2])
    gt = np.stack([s.keypoints for s in batch.truth])
    vis = gt[..., 2] > 0
    size = np.array([max(s.bbox[2], s.bbox[3]) for s in batch.truth])
    d = np.linalg.norm(pred - gt[..., :2], axis=-1)
    epe = metrics.epe(pred, gt[..., :2], vis)
    pck = ((d <= 0.2 * size[:, None]) & vis).sum(1) / vis.sum(1)
    scores = {"mean EPE (px)": float(epe.mean()), "median EPE (px)": float(np.median(epe)),
              "PCK@0.2": float(pck.mean())}
    per = {"EPE (px)": epe, "PCK@0.2": pck,
           "PCK@0.2 per keypoint": metrics.pck_per_point(pred, gt[..., :2], vis, size)}
    return Evaluation(scores, pred, batch, len(batch), batch.num_images, per)


def face_crops(samples: list[Sample], size: int = 192) -> Batch:
    """Square crops around each face box, :data:`FACE_MARGIN` x its longer side."""
    crops, ts = zip(*(preprocess.crop_box(s.image, transforms.square_box(s.bbox, FACE_MARGIN), (size, size))
                      for s in samples), strict=True)
    return Batch(np.stack(crops), list(ts), [s.image_id for s in samples], list(samples), [], "face crops")


def face_scores(outputs: dict[str, np.ndarray], batch: Batch) -> Evaluation:
    """Score a face mesh model's outputs for ``batch``: per-face inter-ocular NME over the scored 68 points."""
    face68 = keypoints.layout("face68")
    mesh_px = batch.to_original(codecs.decode_face(outputs))
    points = face68.scored("face468")
    pred68 = face68.convert(mesh_px, "face468")
    gt68 = np.stack([s.keypoints[:, :2] for s in batch.truth])
    nme = metrics.nme_interocular(pred68, gt68, points, face68.eyes)
    good = nme <= FAILURE_NME
    scores = {"mean NME": float(nme.mean()), "median NME": float(np.median(nme)),
              f"failures at NME > {FAILURE_NME}": float((~good).mean()),
              "mean NME without failures": float(nme[good].mean()) if good.any() else float("nan")}
    return Evaluation(scores, mesh_px, batch, len(batch), batch.num_images, {"NME": nme})
