"""Keypoint metrics: ST's card "OKS", COCO keypoint AP/AR (pycocotools) and PCK.

Three different numbers, never to be mixed; every table names the one it shows.

``ST mean OKS``
    What the MoveNet card calls "OKS" (ST services ``single_pose_oks``): for each evaluated
    person, ``sum_k exp(-d_k^2 / (2 * (2 sigma_k)^2 * (area + eps))) v_k / (sum_k v_k + eps)`` with
    coordinates normalised to the evaluated frame, ``area`` = GT box ``w * h`` (normalised) * 0.53,
    ``v_k`` = labelled mask; then the mean over persons. Reproduced without ST's defects: no tail
    batch is dropped, and a keypoint count without sigmas raises instead of scoring 0.
``COCO keypoint AP / AR``
    The standard metric, computed by pycocotools on the same predictions in original pixels.
``PCK@alpha``
    Fraction of labelled keypoints within ``alpha * max(box w, box h)`` of the ground truth.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

ST_AREA_FACTOR = 0.53
_EPS = np.spacing(1)


def st_oks(pred_xy: np.ndarray, gt_xy: np.ndarray, visible: np.ndarray, box_area: np.ndarray,
           sigmas: np.ndarray) -> np.ndarray:
    """Per-person OKS as ST computes it; its mean over persons is the card's "OKS".

    Parameters
    ----------
    pred_xy, gt_xy
        ``(N, K, 2)`` coordinates normalised to the evaluated frame.
    visible
        ``(N, K)`` ground-truth labelled mask (v > 0).
    box_area
        ``(N,)`` ground-truth box ``w * h`` in normalised units (the 0.53 factor is applied here).
    sigmas
        ``(K,)`` per-keypoint sigmas: the layout's (:mod:`zoo_helpers.registry.keypoints`); a layout without
        sigmas cannot be scored (ST silently scores such keypoints 0).

    Examples
    --------
    >>> gt = np.random.default_rng(0).uniform(size=(3, 17, 2))
    >>> st_oks(gt, gt, np.ones((3, 17)), np.full(3, 0.2), np.full(17, 0.05)).round(6).tolist()
    [1.0, 1.0, 1.0]
    """
    pred_xy, gt_xy = np.asarray(pred_xy, np.float64), np.asarray(gt_xy, np.float64)
    if pred_xy.shape != gt_xy.shape or pred_xy.ndim != 3 or pred_xy.shape[-1] != 2:
        raise ValueError(f"pred and gt must both be (N, K, 2), got {pred_xy.shape} and {gt_xy.shape}")
    sig = _sigmas(sigmas, gt_xy.shape[1])
    v = (np.asarray(visible) > 0).astype(np.float64)
    area = np.asarray(box_area, np.float64)[:, None] * ST_AREA_FACTOR
    d2 = ((pred_xy - gt_xy) ** 2).sum(-1)
    e = d2 / ((2 * sig[None]) ** 2 * (area + _EPS) * 2)
    return (np.exp(-e) * v).sum(-1) / (v.sum(-1) + _EPS)


def _sigmas(sigmas: np.ndarray | None, k: int) -> np.ndarray:
    if sigmas is None:
        raise ValueError(f"no OKS sigmas for these {k} keypoints: their layout has none")
    sig = np.asarray(sigmas, np.float64)
    if sig.shape != (k,):
        raise ValueError(f"{sig.size} OKS sigmas for {k} keypoints")
    return sig


def pck(pred_xy: np.ndarray, gt_xy: np.ndarray, visible: np.ndarray, box_wh: np.ndarray,
        alpha: float = 0.1) -> float:
    """PCK@alpha: share of labelled keypoints within ``alpha * max(w, h)`` of the box (pixels).

    Examples
    --------
    >>> pck(np.array([[[10., 0.]]]), np.zeros((1, 1, 2)), np.ones((1, 1)), np.array([[100., 50.]]))
    1.0
    """
    v = np.asarray(visible) > 0
    if not v.any():
        raise ValueError("no labelled keypoints to score")
    dist = np.linalg.norm(np.asarray(pred_xy, np.float64) - np.asarray(gt_xy, np.float64), axis=-1)
    thr = alpha * np.asarray(box_wh, np.float64).max(axis=-1, keepdims=True)
    return float((dist <= thr)[v].mean())


def pck_torso(pred_xy: np.ndarray, gt_xy: np.ndarray, visible: np.ndarray, torso: np.ndarray,
              alpha: float = 0.2) -> np.ndarray:
    """Per-sample PCK@alpha of the torso: the share of a sample's labelled keypoints within ``alpha`` x its torso.

    ``torso`` ``(N,)`` is each person's torso diameter in pixels (LSP's rule: left shoulder to right hip,
    :func:`torso_lsp`); a sample with no labelled keypoint or no torso scores NaN (left out of means and
    intervals).

    Examples
    --------
    >>> gt = np.zeros((2, 2, 2)); pred = np.array([[[5., 0.], [30., 0.]], [[0., 0.], [0., 0.]]])
    >>> pck_torso(pred, gt, np.ones((2, 2)), np.array([100., 0.])).tolist()
    [0.5, nan]
    """
    v = np.asarray(visible) > 0
    dist = np.linalg.norm(np.asarray(pred_xy, np.float64) - np.asarray(gt_xy, np.float64), axis=-1)
    torso = np.asarray(torso, np.float64)
    ok = (dist <= alpha * torso[:, None]) & v
    with np.errstate(invalid="ignore", divide="ignore"):
        out = ok.sum(-1) / v.sum(-1)
    return np.where((v.sum(-1) > 0) & (torso > 0), out, np.nan)


def torso_lsp(lsp14: np.ndarray) -> np.ndarray:
    """Torso diameters ``(N,)`` of LSP people ``(N, 14, 3)``: left shoulder to right hip, NaN when either is
    unlabelled (the definition of PCK on LSP).

    Examples
    --------
    >>> j = np.zeros((1, 14, 3)); j[0, 9] = [0, 0, 1]; j[0, 2] = [30, 40, 1]
    >>> torso_lsp(j).tolist()
    [50.0]
    """
    j = np.asarray(lsp14, np.float64)
    d = np.linalg.norm(j[:, 9, :2] - j[:, 2, :2], axis=-1)
    return np.where((j[:, 9, 2] > 0) & (j[:, 2, 2] > 0), d, np.nan)


def coco_keypoint_eval(gt: dict, results: list[dict], sigmas: np.ndarray | None = None,
                       max_dets: int = 20, sizes: bool = True) -> dict[str, float]:
    """COCO keypoint AP/AR with pycocotools.

    Parameters
    ----------
    gt
        COCO keypoints json (dict) restricted to the evaluated images.
    results
        COCO result dicts: ``image_id``, ``category_id``, ``keypoints`` (flat x, y, score), ``score``.
    sigmas
        Per-keypoint sigmas of the layout (``None``: pycocotools' own, COCO's 17).
    max_dets
        Detections per image kept (COCO keypoints uses 20).
    sizes
        Also evaluate the medium and large area ranges (``APm``, ``APl``, ``ARm``, ``ARl``).
        ``False`` runs pycocotools on the ``all`` range only, about half the work, and returns
        the same ``AP``, ``AP50``, ``AP75``, ``AR``, ``AR50``, ``AR75``, read from its
        accumulated precision and recall exactly as its ``summarize`` does.

    Returns
    -------
    dict
        ``AP``, ``AP50``, ``AP75``, ``APm``, ``APl``, ``AR``, ``AR50``, ``AR75``, ``ARm``, ``ARl`` in [0, 1]
        (-1 where COCO has no object of that size); without the size keys when ``sizes=False``.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not results:
        raise ValueError("no predictions to evaluate")
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        # COCOeval marks annotations with an "ignore" key: copy each dict (cheap), not the whole dataset
        coco_gt.dataset = dict(gt, annotations=[dict(a) for a in gt["annotations"]])
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes([dict(r) for r in results])  # loadRes adds keys to each dict, nothing deeper
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        ev.params.imgIds = sorted({r["image_id"] for r in results} | {im["id"] for im in gt["images"]})
        ev.params.maxDets = [max_dets]
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.asarray(sigmas, np.float64)
        if not sizes:
            ev.params.areaRng, ev.params.areaRngLbl = ev.params.areaRng[:1], ev.params.areaRngLbl[:1]
        ev.evaluate()
        ev.accumulate()
        if not sizes:
            return _all_range_stats(ev)
        ev.summarize()
    names = ["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"]
    return dict(zip(names, (float(s) for s in ev.stats), strict=True))


def _all_range_stats(ev) -> dict[str, float]:
    """``COCOeval.summarize``'s all-range keypoint stats from the accumulated arrays (one area range, one maxDets)."""
    iou = ev.params.iouThrs
    precision = ev.eval["precision"][..., 0, 0]  # (T, R, K)
    recall = ev.eval["recall"][..., 0, 0]        # (T, K)

    def mean(values: np.ndarray) -> float:
        valid = values[values > -1]
        return float(np.mean(valid)) if valid.size else -1.0

    at = {name: np.flatnonzero(np.isclose(iou, t))[0] for name, t in (("50", 0.5), ("75", 0.75))}
    return {"AP": mean(precision), "AP50": mean(precision[at["50"]]), "AP75": mean(precision[at["75"]]),
            "AR": mean(recall), "AR50": mean(recall[at["50"]]), "AR75": mean(recall[at["75"]])}


def oks_matrix(pred_xy: np.ndarray, gt_xy: np.ndarray, visible: np.ndarray, box_area: np.ndarray,
               sigmas: np.ndarray) -> np.ndarray:
    """ST-style OKS between every GT and every prediction of each image: ``(I, N, M)``.

    ``pred_xy`` ``(I, M, K, 2)``, ``gt_xy`` ``(I, N, K, 2)``, ``visible`` ``(I, N, K)``, ``box_area``
    ``(I, N)``, all in normalised units (the 0.53 factor is applied here).
    """
    d2 = ((np.asarray(gt_xy, np.float64)[:, :, None] - np.asarray(pred_xy, np.float64)[:, None]) ** 2).sum(-1)
    area = np.asarray(box_area, np.float64)[:, :, None, None] * ST_AREA_FACTOR
    e = d2 / ((2 * _sigmas(sigmas, d2.shape[-1])) ** 2 * (area + _EPS) * 2)
    v = (np.asarray(visible) > 0).astype(np.float64)[:, :, None, :]
    return (np.exp(-e) * v).sum(-1) / (v.sum(-1) + _EPS)


def st_multipose_map(oks: np.ndarray, pred_valid: np.ndarray, scores: np.ndarray, num_gt: int,
                     thresholds: np.ndarray | None = None) -> dict[str, float]:
    """ST's multi-pose mAP (services ``multi_pose_oks_mAP``), reproduced.

    Matching is done once, by OKS, not by score: each prediction picks the GT where its OKS is
    highest, each GT keeps the best of the predictions that picked it, the others are false
    positives (never reassigned); a match is a true positive at threshold ``t`` when its OKS > t.
    All detections of the dataset are then sorted by score; AP is Ultralytics-style: sentinels
    (0, 1) and (1, 0), precision envelope, ``np.interp`` on 101 recall points, trapezoidal area.
    Padding predictions (``pred_valid`` False) are excluded, as ST's ``maskpad`` intends.

    Parameters
    ----------
    oks
        ``(I, N, M)`` from :func:`oks_matrix` (padded GT rows give 0).
    pred_valid
        ``(I, M)`` real (not padding) predictions.
    scores
        ``(I, M)`` detection scores.
    num_gt
        GT persons with at least one labelled keypoint (ST's ``nb_gt``).

    Returns
    -------
    dict
        ``mAP@0.5`` and ``mAP@[0.5:0.95]`` in [0, 1].
    """
    _, score, matched_oks = st_matches(oks, pred_valid, scores)
    if oks.shape[1] == 0 or num_gt == 0:
        raise ValueError("no ground truth to score against")
    return st_map_of_matches(score, matched_oks, num_gt, thresholds)


def st_matches(oks: np.ndarray, pred_valid: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, ...]:
    """ST's matching (see :func:`st_multipose_map`), image by image: ``(image, score, matched OKS)`` of every real
    detection, in image order (0 OKS for a detection that matched no person).

    Matching never looks across images, so a resample of images (a bootstrap) is scored from these arrays alone
    (:func:`st_map_of_images`), without matching again.
    """
    oks = np.where(np.asarray(pred_valid)[:, None, :], oks, -1.0)
    i_count, n, m = oks.shape
    if n == 0:
        return np.zeros(0, int), np.zeros(0), np.zeros(0)
    best_gt = oks.argmax(1)                                        # (I, M) each prediction's GT
    best_oks = np.take_along_axis(oks, best_gt[:, None, :], 1)[:, 0]
    picked = np.where(best_gt[:, None, :] == np.arange(n)[None, :, None], oks, -np.inf)  # (I, N, M)
    winner = picked.argmax(2)                                      # (I, N) best prediction per GT
    has_pick = np.isfinite(picked.max(2))
    matched = np.zeros((i_count, m), bool)
    rows = np.nonzero(has_pick)
    matched[rows[0], winner[rows]] = True
    matched_oks = np.where(matched, best_oks, 0.0)
    valid = np.asarray(pred_valid)
    return np.nonzero(valid)[0], np.asarray(scores, np.float64)[valid], matched_oks[valid]


def st_map_of_matches(score: np.ndarray, matched_oks: np.ndarray, num_gt: int,
                      thresholds: np.ndarray | None = None) -> dict[str, float]:
    """ST's AP from matched detections (:func:`st_matches`): all sorted by score, 101-point Ultralytics AP."""
    t = np.arange(0.5, 0.96, 0.05) if thresholds is None else np.asarray(thresholds)
    order = np.argsort(-np.asarray(score), kind="stable")
    tp = (np.asarray(matched_oks)[order][:, None] > t[None, :]).astype(np.float64)   # (D, T)
    tp_cum = np.cumsum(tp, 0)
    recall = tp_cum / num_gt
    precision = tp_cum / np.arange(1, len(order) + 1)[:, None]
    aps = np.array([_ultralytics_ap(recall[:, k], precision[:, k]) for k in range(len(t))])
    return {"mAP@0.5": float(aps[0]), "mAP@[0.5:0.95]": float(aps.mean())}


def st_map_of_images(image: np.ndarray, score: np.ndarray, matched_oks: np.ndarray, gt_per_image: np.ndarray,
                     images: np.ndarray) -> float:
    """ST's mAP@0.5 on a resample ``images`` (indices, repeats allowed) of the scored images, from their matches.

    ``image``, ``score``, ``matched_oks``: :func:`st_matches` (sorted by image); ``gt_per_image``: each image's
    scored people. With ``images`` = every index once it equals :func:`st_multipose_map`'s mAP@0.5.

    Examples
    --------
    >>> image, score, ok = np.array([0, 0, 1]), np.array([0.9, 0.3, 0.8]), np.array([0.9, 0.0, 0.7])
    >>> st_map_of_images(image, score, ok, np.array([1, 1]), np.arange(2)) == 1.0
    True
    """
    image, gt = np.asarray(image, int), np.asarray(gt_per_image, int)  # JSON gives [] as float
    images = np.asarray(images, int)
    start = np.searchsorted(image, np.arange(len(gt)))
    count = np.bincount(image, minlength=len(gt))
    lengths = count[images]
    first = np.repeat(start[images] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    pick = first + np.arange(lengths.sum())
    num_gt = int(gt[images].sum())
    if num_gt == 0:
        return float("nan")
    return st_map_of_matches(np.asarray(score)[pick], np.asarray(matched_oks)[pick], num_gt, [0.5])["mAP@0.5"]


def _ultralytics_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[1.0], precision, [0.0]])
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    mrec, first = np.unique(mrec, return_index=True)
    x = np.linspace(0, 1, 101)
    return float(np.trapezoid(np.interp(x, mrec, mpre[first]), x))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``(C, C)`` counts, rows = true class, columns = predicted (one ``bincount``, no loop).

    Examples
    --------
    >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), 2).tolist()
    [[1, 0], [1, 1]]
    """
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall and support per class from a confusion matrix (NaN where undefined)."""
    cm = np.asarray(cm, np.float64)
    tp = np.diag(cm)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"precision": tp / cm.sum(0), "recall": tp / cm.sum(1), "support": cm.sum(1)}


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


def nme_interocular(pred68: np.ndarray, gt68: np.ndarray, points: list[int], eyes: tuple[int, int]) -> np.ndarray:
    """Per-face mean error over ``points`` divided by the distance between the ``eyes`` points (outer corners)."""
    gt68, pred68 = np.asarray(gt68, float), np.asarray(pred68, float)
    iod = np.linalg.norm(gt68[:, eyes[0]] - gt68[:, eyes[1]], axis=-1)
    err = np.linalg.norm(pred68[:, points] - gt68[:, points], axis=-1).mean(-1)
    return err / iod
