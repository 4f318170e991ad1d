"""Multi-pose evaluation (YOLOv8n-pose): prepare images, detect, map back, score with two metrics.

:func:`prepare_images` reads every image that holds at least one person annotation once and
resizes it (``fit`` exactly as ST's evaluation does, :func:`~zoo_helpers.evaluation.preprocess.resize_like_st`, or
``padding``, our letterbox with the grey 114 border of Ultralytics). :func:`detect` decodes a batch of
YOLO-pose outputs, runs the vectorised batched NMS of :mod:`zoo_helpers.evaluation.codecs` and maps boxes
and keypoints back to original pixels. :func:`evaluate` reports ST's multi-pose mAP (their OKS
matching and 101-point AP, on normalised coordinates, crowd annotations removed as ST's converter
does) and, on the same detections, COCO keypoint AP/AR from pycocotools (maxDets 20, crowd and
unlabelled persons handled the COCO way). The names say which is which. Both take detections (model
outputs), never models; the loop over catalog models lives in :mod:`zoo_helpers.cards.loop`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo_helpers.evaluation import codecs, datasets, metrics, preprocess
from zoo_helpers.evaluation.batches import Batch, Evaluation
from zoo_helpers.registry import keypoints


@dataclass
class Detections:
    """Kept detections per image in original pixels, padded to the same count (``valid`` marks real ones)."""

    boxes: np.ndarray      # (I, D, 4) x1, y1, x2, y2
    scores: np.ndarray     # (I, D)
    keypoints: np.ndarray  # (I, D, K, 3) x, y, conf
    valid: np.ndarray      # (I, D) bool


def prepare_images(coco: datasets.CocoKeypoints, size: tuple[int, int], mode: preprocess.Mode = "fit",
                   limit: int | None = None, decoder: str | None = None) -> Batch:
    """Resize every image of the set (people or not: a detector is judged on images without people too);
    unreadable files are skipped and listed. JPEGs are decoded as the mode's metric does (``fit``: TensorFlow's
    decoder, ST's; ``padding``: Pillow's), or by ``decoder`` (a name of
    :data:`zoo_helpers.evaluation.datasets.DECODERS`).

    Examples
    --------
    >>> from zoo_helpers.registry.assets import fetch
    >>> ann = fetch("mmpose_coco_annotations")
    >>> prepare_images(datasets.load_coco_keypoints(ann, ann.parent), (256, 256)).images.shape
    (4, 256, 256, 3)
    """
    ids = list(coco.images)[: limit or None]
    images, found, kept, skipped = [], [], [], []
    for image_id in ids:
        try:
            path = coco.image_path(image_id)
            image = datasets.decoder(decoder or ("tensorflow" if mode == "fit" else "pillow"))(path)
            x, t = (preprocess.resize_like_st(image, size) if mode == "fit"  # ST's metric: ST's resize
                    else preprocess.resize(image, size, mode=mode, pad_value=114))
        except (datasets.ImageError, FileNotFoundError) as exc:
            skipped.append(str(exc))
            continue
        images.append(x)
        found.append(t)
        kept.append(image_id)
    stacked = np.stack(images) if images else np.zeros((0, size[1], size[0], 3), np.uint8)
    return Batch(stacked, found, kept, [coco.people.get(i, []) for i in kept], skipped, mode)


def detect(output: np.ndarray, batch: Batch, iou_threshold: float = 0.1,
           score_threshold: float = 0.001, max_detections: int = 100) -> Detections:
    """Decode ``(I, 56, A)`` YOLO-pose outputs, apply batched NMS and map to original pixels."""
    boxes, scores, kpts, valid = codecs.yolo_detections(output, iou_threshold, score_threshold, max_detections)
    boxes_px = batch.to_original(boxes.reshape(*boxes.shape[:2], 2, 2), normalized=True).reshape(boxes.shape)
    kxy = batch.to_original(kpts[..., :2], normalized=True)
    return Detections(np.where(valid[..., None], boxes_px, 0.0), scores,
                      np.concatenate([kxy, kpts[..., 2:]], -1) * valid[..., None, None], valid)


def evaluate(dets: Detections, batch: Batch, coco: datasets.CocoKeypoints, coco_max_dets: int = 20,
             layout: str | keypoints.Layout = "coco17") -> Evaluation:
    """ST's mAP (their matching, normalised coordinates) and COCO keypoint AP/AR, with the layout's sigmas.

    The evaluation keeps ST's matches (``matches``: each detection's image, score and matched OKS, and each image's
    scored people), from which a bootstrap over images rescores ST's mAP without matching again
    (:func:`zoo_helpers.evaluation.metrics.st_map_of_images`)."""
    people = [[p for p in persons if not p.iscrowd and p.bbox[2] > 0 and p.bbox[3] > 0] for persons in batch.truth]
    n = max((len(p) for p in people), default=0)
    if n == 0:
        raise ValueError("no ground-truth persons in the evaluated images")
    wh = np.array([[coco.images[i]["width"], coco.images[i]["height"]] for i in batch.ids], np.float64)
    gt = np.zeros((len(people), n, 17, 3))
    area = np.zeros((len(people), n))
    for r, persons in enumerate(people):  # one row per image: building padded arrays, not scoring
        for c, p in enumerate(persons):
            gt[r, c] = p.keypoints
            area[r, c] = p.bbox[2] * p.bbox[3] / wh[r].prod()
    num_gt = int((gt[..., 2] > 0).any(-1).sum())
    sigmas = (keypoints.layout(layout) if isinstance(layout, str) else layout).sigmas
    oks = metrics.oks_matrix(dets.keypoints[..., :2] / wh[:, None, None], gt[..., :2] / wh[:, None, None],
                             gt[..., 2], area, sigmas)
    out = {f"ST {k}": v for k, v in metrics.st_multipose_map(oks, dets.valid, dets.scores, num_gt).items()}
    image, score, matched = metrics.st_matches(oks, dets.valid, dets.scores)
    matches = {"image": image.tolist(), "score": score.tolist(), "oks": matched.tolist(),
               "gt_per_image": (gt[..., 2] > 0).any(-1).sum(-1).tolist()}
    results = [{"image_id": image_id, "category_id": 1, "keypoints": dets.keypoints[r, d].ravel().tolist(),
                "score": float(dets.scores[r, d])}
               for r, image_id in enumerate(batch.ids) for d in np.flatnonzero(dets.valid[r])]
    coco_ap = metrics.coco_keypoint_eval(coco.gt_json(batch.ids), results, sigmas=sigmas, max_dets=coco_max_dets,
                                         sizes=False)
    out.update({f"COCO {k}": coco_ap[k] for k in ("AP", "AP50", "AP75", "AR")})
    scored = sum(len(p) for p in people)
    return Evaluation(out, dets.keypoints, batch, scored, len(batch), {}, results, dets, matches)
