"""Single-pose pipeline pieces: prepare a batch of samples, decode, map back, score.

:func:`prepare_samples` reads each image once and builds the model inputs for one input size
(the whole image resized exactly as ST's evaluation does, :func:`~zoo_helpers.evaluation.preprocess.resize_like_st`;
or one square crop per annotated person, with our own resampler), keeping each
sample's transform back to original pixels in a :class:`~zoo_helpers.evaluation.batches.Batch`; the same batch
serves every model variant of that size. :func:`decode` turns a model's outputs into normalised
keypoints and :func:`evaluate` scores them (model outputs, never models) in the model's keypoint
layout with the three metrics of :mod:`zoo_helpers.evaluation.metrics`, each under its own name. The loop over
catalog models lives in :mod:`zoo_helpers.cards.loop`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from zoo_helpers import runtime
from zoo_helpers.evaluation import codecs, datasets, metrics, preprocess, transforms
from zoo_helpers.evaluation.batches import Batch, Evaluation
from zoo_helpers.registry import keypoints
from zoo_helpers.registry.assets import fetch

SampleMode = Literal["st_subset", "person_crops"]
SAMPLE_MODES = ("person_crops", "st_subset")
#: LSP's own metric: the share of labelled joints within 0.2 x the torso (:func:`metrics.pck_torso`).
TORSO_PCK = "PCK@0.2 torso"
#: Person crops are squares around the GT box, this much larger than its longer side.
CROP_MARGIN = 1.25


def prepare_samples(coco: datasets.CocoKeypoints, size: tuple[int, int], mode: SampleMode = "person_crops",
                    limit: int | None = None, progress: bool = False, workers: int = 2,
                    decoder: str | None = None) -> Batch:
    """Build model inputs from a COCO keypoints set; unreadable images are skipped and listed.

    JPEGs are decoded as the mode's metric does (``st_subset``: TensorFlow's decoder, ST's; ``person_crops``:
    Pillow's), or by ``decoder`` (a name of :data:`zoo_helpers.evaluation.datasets.DECODERS`).

    Each image is read and decoded once, however many people it holds; ``workers`` threads read
    and crop images in parallel (JPEG decoding and the resampling release the GIL) and write
    straight into one preallocated batch, in the dataset's order.

    Examples
    --------
    >>> from zoo_helpers.registry.assets import fetch
    >>> ann = fetch("mmpose_coco_annotations")
    >>> s = prepare_samples(datasets.load_coco_keypoints(ann, ann.parent), (192, 192))
    >>> s.images.shape
    (12, 192, 192, 3)
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    if mode not in SAMPLE_MODES:
        raise ValueError(f"unknown sample mode {mode!r}; use one of {SAMPLE_MODES}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    people = datasets.st_single_pose_subset(coco) if mode == "st_subset" else datasets.person_samples(coco)
    people = people[:limit] if limit else people
    by_image: dict[int, list[datasets.Person]] = {}
    for p in people:
        by_image.setdefault(p.image_id, []).append(p)
    batch = np.empty((len(people), size[1], size[0], 3), np.uint8)
    jobs, start = [], 0
    for image_id, persons in by_image.items():
        jobs.append((image_id, persons, start))
        start += len(persons)

    def prepare(job) -> list[transforms.Transform] | str:
        image_id, persons, first = job
        read = datasets.decoder(decoder or ("tensorflow" if mode == "st_subset" else "pillow"))  # ST's: ST's decoder
        try:
            image = read(coco.image_path(image_id))
        except (datasets.ImageError, FileNotFoundError) as exc:
            return str(exc)
        return [_model_input(image, p, size, mode, batch[first + j]) for j, p in enumerate(persons)]

    found, kept, skipped = [], [], []
    keep = np.zeros(len(people), bool)
    with ThreadPoolExecutor(workers) as pool:
        done = tqdm(zip(jobs, pool.map(prepare, jobs), strict=True), total=len(jobs), disable=not progress,
                    desc="images", unit="img")
        for (_, persons, first), result in done:
            if isinstance(result, str):
                skipped.append(result)
                continue
            found += result
            kept += persons
            keep[first:first + len(persons)] = True
    return Batch(batch if keep.all() else batch[keep], found, [p.image_id for p in kept], kept, skipped, mode)


def _model_input(image: np.ndarray, person: datasets.Person, size: tuple[int, int], mode: SampleMode,
                 out: np.ndarray) -> transforms.Transform:
    """Write one model input (whole image, or a square crop around ``person``) into ``out``."""
    if mode == "st_subset":  # the card's metric: ST's own resize, bit for bit
        x, t = preprocess.resize_like_st(image, size)
        out[...] = x
        return t
    return preprocess.crop_box(image, transforms.square_box(person.bbox, CROP_MARGIN), size, out=out)[1]


def decode(outputs: dict[str, np.ndarray], decoder: str, heatmap_mode: codecs.HeatmapMode = "st") -> np.ndarray:
    """Decode a single-pose model's outputs to ``(N, K, 3)`` normalised [x, y, score]."""
    c = codecs.codec(decoder)
    if c.task != "single pose":
        raise ValueError(f"decoder {decoder!r} is not a single-pose decoder ({c.task or 'no keypoint task'})")
    return c.decode(outputs, heatmap_mode=heatmap_mode)


def evaluate(keypoints_norm: np.ndarray, batch: Batch, coco: datasets.CocoKeypoints,
             layout: str | keypoints.Layout = "coco17") -> Evaluation:
    """Score decoded keypoints (normalised to each sample's input) against the batch's people.

    The ground truth (COCO-17) is mapped to the model's keypoint ``layout`` (e.g. ``st13``), whose
    sigmas both OKS metrics use. Returns ST's mean OKS (frame-normalised, as the card), COCO keypoint
    AP/AR from pycocotools on the same predictions (in original pixels) and PCK@0.1 of the box; on LSP (a set
    whose ``raw["extra"]`` keeps its 14 joints) also :data:`TORSO_PCK`, per sample too.
    """
    lay = keypoints.layout(layout) if isinstance(layout, str) else layout
    n, k = keypoints_norm.shape[:2]
    if n != len(batch):
        raise ValueError(f"{n} predictions for {len(batch)} samples")
    if n == 0:
        raise ValueError("no samples to evaluate")
    if k != len(lay):
        raise ValueError(f"model gives {k} keypoints, its layout {lay.name!r} has {len(lay)}")
    gt = lay.convert(np.stack([p.keypoints for p in batch.truth]), "coco17")
    pred_px = batch.to_original(keypoints_norm[..., :2], normalized=True)
    gt_norm = batch.to_input(gt[..., :2], normalized=True)
    m = transforms.matrices(batch.transforms)
    frame_area = np.abs(np.linalg.det(m[:, :, :2])) * np.prod([t.input_size for t in batch.transforms], axis=1)
    boxes = np.stack([p.bbox for p in batch.truth])
    vis = gt[..., 2] > 0
    oks = metrics.st_oks(keypoints_norm[..., :2], gt_norm, vis, boxes[:, 2] * boxes[:, 3] / frame_area, lay.sigmas)
    out = {"ST mean OKS": float(oks.mean()), "PCK@0.1": metrics.pck(pred_px, gt[..., :2], vis, boxes[:, 2:])}
    per_sample = {"ST OKS": oks}
    extra = coco.raw.get("extra")
    if extra:  # LSP: PCK@0.2 of the torso, on the joints the model and the set share
        torso = metrics.torso_lsp(np.stack([extra[i] for i in batch.ids]))
        per_sample[TORSO_PCK] = metrics.pck_torso(pred_px, gt[..., :2], vis, torso)
        out[TORSO_PCK] = float(np.nanmean(per_sample[TORSO_PCK]))
    results = _coco_results(pred_px, keypoints_norm[..., 2], batch)
    coco_ap = metrics.coco_keypoint_eval(_coco_gt(batch, coco, lay), results, sigmas=lay.sigmas, sizes=False)
    out.update({f"COCO {name}": v for name, v in coco_ap.items() if name in ("AP", "AP50", "AP75", "AR")})
    predictions = np.concatenate([pred_px, keypoints_norm[..., 2:]], axis=-1)
    return Evaluation(out, predictions, batch, n, batch.num_images, per_sample, results)


def _coco_gt(batch: Batch, coco: datasets.CocoKeypoints, lay: keypoints.Layout) -> dict:
    """The COCO ground truth of the batch's images, keypoints mapped to ``lay`` in one call."""
    gt = coco.gt_json(batch.ids)
    anns = gt["annotations"]
    if anns:
        mapped = lay.convert(np.array([a["keypoints"] for a in anns], float).reshape(len(anns), -1, 3), "coco17")
        gt["annotations"] = [dict(a, keypoints=kp) for a, kp in zip(anns, mapped.reshape(len(anns), -1).tolist(),
                                                                     strict=True)]
    return gt


def _coco_results(pred_px: np.ndarray, scores: np.ndarray, batch: Batch) -> list[dict]:
    """COCO keypoint results (one per sample) that ``pycocotools.COCO.loadRes`` reads."""
    flat = np.concatenate([pred_px, scores[..., None]], axis=-1).reshape(len(pred_px), -1)
    return [{"image_id": image_id, "category_id": 1, "keypoints": flat[i].tolist(), "score": float(scores[i].mean())}
            for i, image_id in enumerate(batch.ids)]




class GoldenCheckFailed(RuntimeError):
    """Our run of a model on a published golden input differs from the published golden output."""


def coral_golden_check(tolerance: float = 0.05):
    """Run MoveNet Lightning int8 on Coral's ``squat.bmp`` and compare with Coral's reference keypoints.

    Returns a table with our and Coral's normalised x, y per keypoint and the largest deviation;
    raises :class:`GoldenCheckFailed` when any keypoint is off by more than ``tolerance``.
    """
    import csv

    import pandas as pd

    model = runtime.load("movenet_lightning_192")
    x, _ = preprocess.resize(datasets.read_image(fetch("coral_squat_image")), model.input_size, mode="fit")
    ours = codecs.decode_singlepose(model.predict_one(x[None]))[0]
    with open(fetch("coral_squat_lightning_reference")) as fh:
        ref = sorted(csv.DictReader(fh), key=lambda r: int(r["keypoint_id"]))
    table = pd.DataFrame({"keypoint": keypoints.layout("coco17").names, "x (ours)": ours[:, 0], "y (ours)": ours[:, 1],
                          "x (Coral)": [float(r["keypoint_x"]) for r in ref],
                          "y (Coral)": [float(r["keypoint_y"]) for r in ref]})
    table["max |diff|"] = np.maximum(abs(table["x (ours)"] - table["x (Coral)"]),
                                     abs(table["y (ours)"] - table["y (Coral)"]))
    worst = float(table["max |diff|"].max())
    if worst > tolerance:
        raise GoldenCheckFailed(f"golden test failed: a keypoint is {worst:.3f} off (tolerance {tolerance}); the "
                                "runtime or the preprocessing no longer computes what Coral published")
    return table
