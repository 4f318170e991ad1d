"""Metrics: ST's OKS on a hand-computed case, pycocotools on perfect and perturbed predictions, PCK."""

import math

import numpy as np
import pytest

from zoo_helpers.evaluation import metrics
from zoo_helpers.registry import keypoints

COCO = keypoints.layout("coco17").sigmas


def test_st_oks_hand_computed():
    # one person, two labelled keypoints of 17 (nose, left shoulder), one unlabelled
    gt = np.zeros((1, 17, 2))
    pred = gt.copy()
    pred[0, 0] = [0.01, 0.0]   # nose 0.01 off
    pred[0, 5] = [0.0, 0.02]   # left shoulder 0.02 off
    vis = np.zeros((1, 17))
    vis[0, [0, 5]] = 1
    area = 0.1  # normalised box w*h
    a = area * 0.53
    e0 = 0.01**2 / ((2 * 0.026) ** 2 * a * 2)
    e5 = 0.02**2 / ((2 * 0.079) ** 2 * a * 2)
    expected = (math.exp(-e0) + math.exp(-e5)) / 2
    assert metrics.st_oks(pred, gt, vis, np.array([area]), COCO)[0] == pytest.approx(expected, rel=1e-9)


def test_st_oks_refuses_a_layout_without_sigmas_or_the_wrong_count():
    hand = keypoints.layout("hand21")
    with pytest.raises(ValueError, match="no OKS sigmas for these 21 keypoints"):
        metrics.st_oks(np.zeros((1, 21, 2)), np.zeros((1, 21, 2)), np.ones((1, 21)), np.ones(1), hand.sigmas)
    with pytest.raises(ValueError, match="17 OKS sigmas for 21 keypoints"):
        metrics.st_oks(np.zeros((1, 21, 2)), np.zeros((1, 21, 2)), np.ones((1, 21)), np.ones(1), COCO)
    assert metrics.st_oks(np.zeros((1, 21, 2)), np.zeros((1, 21, 2)), np.ones((1, 21)), np.ones(1),
                          sigmas=np.full(21, 0.05))[0] == pytest.approx(1.0)


def _gt():
    rng = np.random.default_rng(3)
    anns, images = [], []
    for i in range(3):
        images.append({"id": i + 1, "width": 640, "height": 480, "file_name": f"{i}.jpg"})
        kp = np.concatenate([rng.uniform(100, 300, (17, 2)), np.full((17, 1), 2)], axis=1)
        anns.append({"id": i + 10, "image_id": i + 1, "category_id": 1, "iscrowd": 0, "num_keypoints": 17,
                     "keypoints": kp.ravel().tolist(), "bbox": [100, 100, 200, 200], "area": 40000.0})
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}


def _results(gt, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for a in gt["annotations"]:
        kp = np.asarray(a["keypoints"], float).reshape(17, 3)
        kp[:, :2] += rng.normal(0, noise, (17, 2)) if noise else 0
        kp[:, 2] = 1.0
        out.append({"image_id": a["image_id"], "category_id": 1, "keypoints": kp.ravel().tolist(), "score": 0.9})
    return out


def test_pycocotools_perfect_prediction_scores_one():
    gt = _gt()
    m = metrics.coco_keypoint_eval(gt, _results(gt))
    assert m["AP"] == pytest.approx(1.0) and m["AR"] == pytest.approx(1.0)


def test_pycocotools_perturbed_prediction_scores_less():
    gt = _gt()
    small = metrics.coco_keypoint_eval(gt, _results(gt, noise=8.0))
    large = metrics.coco_keypoint_eval(gt, _results(gt, noise=30.0))
    assert 0 <= large["AP"] < small["AP"] < 1.0


def test_pck():
    pred = np.array([[[0.0, 9.0], [0.0, 11.0], [50.0, 50.0]]])
    gt = np.zeros((1, 3, 2))
    vis = np.array([[1, 1, 0]])
    assert metrics.pck(pred, gt, vis, np.array([[100.0, 40.0]]), alpha=0.1) == 0.5


def test_confusion_and_per_class_by_hand():
    cm = metrics.confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0]), 4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    pc = metrics.per_class(cm)
    assert pc["precision"][:3].tolist() == [0.5, 0.5, 1.0] and pc["recall"][2] == pytest.approx(2 / 3)
    assert np.isnan(pc["recall"][3]) and pc["support"].tolist() == [2, 1, 3, 0]


def test_all_range_only_gives_pycocotools_own_numbers(mirror):
    """sizes=False reads the same AP/AR from pycocotools' arrays as its summarize() prints, on real GT."""
    from zoo_helpers.evaluation import datasets
    from zoo_helpers.registry import assets

    ann = assets.fetch("mmpose_coco_annotations")
    coco = datasets.load_coco_keypoints(ann, ann.parent)
    gt = {"images": list(coco.images.values()), "annotations": coco.raw["annotations"],
          "categories": coco.raw["categories"]}
    for noise, seed in ((2.0, 1), (4.0, 2), (8.0, 3)):
        results = _results(gt, noise, seed)
        results[0]["score"] = 0.3  # unequal scores: the precision curve is not flat
        full = metrics.coco_keypoint_eval(gt, results)
        fast = metrics.coco_keypoint_eval(gt, results, sizes=False)
        assert set(fast) == {"AP", "AP50", "AP75", "AR", "AR50", "AR75"}
        assert fast == {name: full[name] for name in fast}
