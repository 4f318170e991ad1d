"""Single-pose evaluation loop: load, preprocess, invoke, decode, map back, score.

:func:`prepare_samples` reads each image once and builds the model inputs for one input size
(whole image with ST's ``fit`` resize, or one square crop per annotated person), keeping the
transform back to original pixels; the same prepared samples serve every model variant of that
size. :func:`evaluate_single_pose` runs a model over them and returns predictions in original
pixels plus the three metrics of :mod:`zoo_helpers.metrics`, each under its own name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import numpy as np

from zoo_helpers import datasets, decoders, metrics, preprocess

SampleMode = Literal["st_subset", "person_crops"]
#: Person crops are squares around the GT box, this much larger than its longer side.
CROP_MARGIN = 1.25


@lru_cache(maxsize=1)
def model_catalog() -> dict[str, dict[str, Any]]:
    """Per-model metadata from ``zoo_helpers/data/models.yaml`` (asset, decoder, keypoints, card row)."""
    import yaml

    return yaml.safe_load(resources.files("zoo_helpers").joinpath("data/models.yaml").read_text())["models"]


@dataclass
class Samples:
    """Prepared model inputs for one input size, with what is needed to score them."""

    images: np.ndarray                      # (N, H, W, 3) uint8 model inputs
    transforms: list[preprocess.Transform]  # input pixels -> original pixels, per sample
    people: list[datasets.Person]           # the GT person of each sample
    mode: SampleMode
    skipped: list[str] = field(default_factory=list)  # images that could not be read, with the reason

    def __len__(self) -> int:
        return len(self.people)

    def subset(self, n: int) -> Samples:
        """The first ``n`` samples."""
        return Samples(self.images[:n], self.transforms[:n], self.people[:n], self.mode, self.skipped)


def prepare_samples(coco: datasets.CocoKeypoints, size: tuple[int, int], mode: SampleMode = "person_crops",
                    limit: int | None = None, progress: bool = False, workers: int = 2) -> Samples:
    """Build model inputs from a COCO keypoints set; unreadable images are skipped and listed.

    Each image is read and decoded once, however many people it holds; ``workers`` threads read
    and crop images in parallel (JPEG decoding and the resampling release the GIL) and write
    straight into one preallocated batch, in the dataset's order.

    Examples
    --------
    >>> from zoo_helpers.assets import fetch
    >>> ann = fetch("mmpose_coco_annotations")
    >>> s = prepare_samples(datasets.load_coco_keypoints(ann, ann.parent), (192, 192))
    >>> s.images.shape
    (12, 192, 192, 3)
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    if mode not in ("st_subset", "person_crops"):
        raise ValueError(f"unknown sample mode {mode!r}; use 'st_subset' or 'person_crops'")
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

    def prepare(job) -> list[preprocess.Transform] | str:
        image_id, persons, first = job
        try:
            image = datasets.read_image(coco.image_path(image_id))
        except (datasets.ImageError, FileNotFoundError) as exc:
            return str(exc)
        return [_model_input(image, p, size, mode, batch[first + j]) for j, p in enumerate(persons)]

    transforms, kept, skipped = [], [], []
    keep = np.zeros(len(people), bool)
    with ThreadPoolExecutor(workers) as pool:
        done = tqdm(zip(jobs, pool.map(prepare, jobs), strict=True), total=len(jobs), disable=not progress,
                    desc="images", unit="img")
        for (_, persons, first), result in done:
            if isinstance(result, str):
                skipped.append(result)
                continue
            transforms += result
            kept += persons
            keep[first:first + len(persons)] = True
    return Samples(batch if keep.all() else batch[keep], transforms, kept, mode, skipped)


def _model_input(image: np.ndarray, person: datasets.Person, size: tuple[int, int], mode: SampleMode,
                 out: np.ndarray) -> preprocess.Transform:
    """Write one model input (whole image, or a square crop around ``person``) into ``out``."""
    if mode == "st_subset":
        return preprocess.resize(image, size, mode="fit", out=out)[1]
    side = CROP_MARGIN * max(person.bbox[2], person.bbox[3])
    cx, cy = person.bbox[0] + person.bbox[2] / 2, person.bbox[1] + person.bbox[3] / 2
    return preprocess.crop_box(image, (cx - side / 2, cy - side / 2, side, side), size, out=out)[1]


def decode(outputs: dict[str, np.ndarray], decoder: str, heatmap_mode: decoders.HeatmapMode = "st") -> np.ndarray:
    """Decode a single-pose model's outputs to ``(N, K, 3)`` normalised [x, y, score]."""
    out = next(iter(outputs.values()))
    if decoder == "singlepose":
        return decoders.decode_singlepose(out)
    if decoder == "heatmaps":
        return decoders.decode_heatmaps(out, mode=heatmap_mode)
    raise ValueError(f"unknown decoder {decoder!r}")


@dataclass
class Evaluation:
    """Predictions in original pixels and the metrics, each under its own name."""

    keypoints: np.ndarray        # (N, K, 3) [x, y, score] in original pixels
    metrics: dict[str, float]
    num_people: int
    num_images: int


def evaluate_single_pose(keypoints_norm: np.ndarray, samples: Samples, coco: datasets.CocoKeypoints) -> Evaluation:
    """Score decoded keypoints (normalised to each sample's input) against the GT people.

    Returns ST's mean OKS (frame-normalised, as the card), COCO keypoint AP/AR from pycocotools
    on the same predictions (in original pixels) and PCK@0.1 of the box.
    """
    n, k = keypoints_norm.shape[:2]
    if n != len(samples):
        raise ValueError(f"{n} predictions for {len(samples)} samples")
    if n == 0:
        raise ValueError("no samples to evaluate")
    gt = np.stack([p.keypoints for p in samples.people])
    gt = datasets.to_st13(gt) if k == 13 else gt
    if gt.shape[1] != k:
        raise ValueError(f"model gives {k} keypoints, ground truth has {gt.shape[1]}")
    scale = np.array([t.scale for t in samples.transforms])[:, None, :]
    offset = np.array([t.offset for t in samples.transforms])[:, None, :]
    size = np.array([t.input_size for t in samples.transforms])[:, None, :]
    pred_px = keypoints_norm[..., :2] * size * scale + offset
    frame = size * scale  # the original-pixel extent the model saw
    gt_norm = (gt[..., :2] - offset) / frame
    boxes = np.stack([p.bbox for p in samples.people])
    area_norm = boxes[:, 2] * boxes[:, 3] / frame[:, 0, 0] / frame[:, 0, 1]
    vis = gt[..., 2] > 0
    oks = metrics.st_oks(keypoints_norm[..., :2], gt_norm, vis, area_norm)
    out = {"ST mean OKS": float(oks.mean()),
           "PCK@0.1": metrics.pck(pred_px, gt[..., :2], vis, boxes[:, 2:])}
    coco_ap = metrics.coco_keypoint_eval(*_coco_inputs(pred_px, keypoints_norm[..., 2], samples, coco, k),
                                         sigmas=None if k == 17 else metrics.ST13_SIGMAS, sizes=False)
    out.update({f"COCO {name}": v for name, v in coco_ap.items() if name in ("AP", "AP50", "AP75", "AR")})
    keypoints = np.concatenate([pred_px, keypoints_norm[..., 2:]], axis=-1)
    return Evaluation(keypoints, out, n, len({p.image_id for p in samples.people}))


def _coco_inputs(pred_px, scores, samples: Samples, coco: datasets.CocoKeypoints, k: int):
    gt = coco.gt_json(p.image_id for p in samples.people)
    anns = gt["annotations"]
    if k == 13 and anns:  # all annotations mapped in one call
        st13 = datasets.to_st13(np.array([a["keypoints"] for a in anns], float).reshape(-1, 17, 3))
        gt["annotations"] = [dict(a, keypoints=kp) for a, kp in zip(anns, st13.reshape(len(anns), -1).tolist(),
                                                                     strict=True)]
    flat = np.concatenate([pred_px, scores[..., None]], axis=-1).reshape(len(pred_px), -1)
    results = [{"image_id": p.image_id, "category_id": 1, "keypoints": flat[i].tolist(),
                "score": float(scores[i].mean())} for i, p in enumerate(samples.people)]
    return gt, results


def peak_agreement(keypoints: np.ndarray, reference: np.ndarray, grid: tuple[int, int], cells: float = 1.0) -> float:
    """Share of keypoints within ``cells`` heatmap cells of a reference model's (both ``(N, K, 3)`` normalised).

    ``grid`` is the heatmap's ``(height, width)``, as in the output shape ``(B, H, W, K)``.

    Exact argmax agreement is too strict for int8 heatmap models (even TFLite's two kernel sets
    disagree on exact peaks); one cell is the resolution of ST's decoding.

    Examples
    --------
    >>> a = np.array([[[0.50, 0.50, 1.0]]]); b = np.array([[[0.52, 0.50, 1.0]]])
    >>> peak_agreement(a, b, (48, 48))
    1.0
    """
    diff = np.abs(np.asarray(keypoints)[..., :2] - np.asarray(reference)[..., :2]) * np.asarray(grid[::-1])
    return float((diff <= cells + 1e-6).all(-1).mean())


def calibration_images(samples: Samples, calib_dir: str, n: int, size: tuple[int, int]) -> np.ndarray:
    """``n`` uint8 calibration images at ``size``: from ``calib_dir`` (``*.jpg``, ``fit``) or the samples."""
    if n < 1:
        raise ValueError("n_calib must be at least 1")
    if not calib_dir:
        if len(samples) == 0:
            raise ValueError("no samples to calibrate with; set calib_dir")
        return samples.images[np.arange(n) % len(samples)]
    from pathlib import Path

    files = sorted(Path(calib_dir).glob("*.jpg"))[:n]
    if not files:
        raise ValueError(f"no .jpg images in calib_dir={calib_dir!r}")
    return np.stack([preprocess.resize(datasets.read_image(f), size, mode="fit")[0] for f in files])


def coral_golden_check(tolerance: float = 0.05):
    """Run MoveNet Lightning int8 on Coral's ``squat.bmp`` and compare with Coral's reference keypoints.

    Returns a table with our and Coral's normalised x, y per keypoint and the largest deviation;
    raises ``AssertionError`` when any keypoint is off by more than ``tolerance``.
    """
    import csv

    import pandas as pd

    from zoo_helpers.assets import fetch
    from zoo_helpers.runtime import load_model

    model = load_model(fetch("movenet_lightning_192_int8"))
    x, _ = preprocess.resize(datasets.read_image(fetch("coral_squat_image")), model.input_size, mode="fit")
    ours = decoders.decode_singlepose(model.predict(x[None])[model.outputs[0].name])[0]
    with open(fetch("coral_squat_lightning_reference")) as fh:
        ref = sorted(csv.DictReader(fh), key=lambda r: int(r["keypoint_id"]))
    table = pd.DataFrame({"keypoint": datasets.COCO_KEYPOINTS, "x (ours)": ours[:, 0], "y (ours)": ours[:, 1],
                          "x (Coral)": [float(r["keypoint_x"]) for r in ref],
                          "y (Coral)": [float(r["keypoint_y"]) for r in ref]})
    table["max |diff|"] = np.maximum(abs(table["x (ours)"] - table["x (Coral)"]),
                                     abs(table["y (ours)"] - table["y (Coral)"]))
    worst = float(table["max |diff|"].max())
    assert worst <= tolerance, f"golden test failed: a keypoint is {worst:.3f} off (tolerance {tolerance})"
    return table


def evaluate_catalog(coco: datasets.CocoKeypoints, keys: list[str], mode: SampleMode = "person_crops",
                     limit: int | None = None, heatmap_mode: decoders.HeatmapMode = "st",
                     num_threads: int = 2) -> dict[str, Evaluation]:
    """Evaluate several catalog models on the same data, preparing samples once per input size.

    Only models whose file is already local (mirror or cache) are run; the others are left out,
    and :func:`zoo_helpers.tables.accuracy_table` says why.
    """
    from zoo_helpers.assets import fetch, status
    from zoo_helpers.runtime import load_model

    catalog = model_catalog()
    prepared: dict[tuple[int, int], Samples] = {}
    out = {}
    for key in keys:
        meta = catalog[key]
        if status(meta["asset"]) == "download needed":
            continue
        model = load_model(fetch(meta["asset"]), num_threads=num_threads,
                           rescale=tuple(meta["rescale"]) if meta["rescale"] else None)
        if model.input_size not in prepared:
            prepared[model.input_size] = prepare_samples(coco, model.input_size, mode, limit)
        samples = prepared[model.input_size]
        keypoints = decode(model.predict(samples.images), meta["decoder"], heatmap_mode)
        out[key] = evaluate_single_pose(keypoints, samples, coco)
    return out
