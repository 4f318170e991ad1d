"""YOLOv8-pose: decoding, batched NMS against brute force and TensorFlow, ST mAP and COCO AP, real models."""

import numpy as np
import pytest

from zoo_helpers.cards import loop, multipose
from zoo_helpers.evaluation import codecs, datasets, metrics
from zoo_helpers.registry import keypoints
from zoo_helpers.registry.assets import fetch


def _greedy(boxes, scores, iou_thr, score_thr, max_det):
    """Brute-force reference: the textbook greedy loop."""
    order = [i for i in sorted(range(len(scores)), key=lambda i: (-scores[i], i)) if scores[i] > score_thr]
    kept = []
    for i in order:
        if all(codecs.box_iou(boxes[i][None], boxes[j][None])[0, 0] <= iou_thr for j in kept):
            kept.append(i)
        if len(kept) == max_det:
            break
    return kept


def _random_boxes(rng, b, a):
    xy = rng.uniform(0, 1, (b, a, 2))
    wh = rng.uniform(0.02, 0.4, (b, a, 2))
    boxes = np.concatenate([xy, xy + wh], -1).astype(np.float32)
    scores = rng.choice([0.2, 0.5, 0.9], (b, a)).astype(np.float32)  # many exact ties
    scores += rng.uniform(0, 1, (b, a)).astype(np.float32) * (rng.uniform(size=(b, a)) > 0.5)
    return boxes, scores


@pytest.mark.parametrize("iou_thr", [0.1, 0.5, 0.7])
def test_nms_matches_brute_force_with_ties(iou_thr):
    rng = np.random.default_rng(int(iou_thr * 10))
    boxes, scores = _random_boxes(rng, 6, 120)
    got = codecs.batched_nms(boxes, scores, iou_thr, 0.3, 40)
    for i in range(len(boxes)):
        ref = _greedy(boxes[i], scores[i], iou_thr, 0.3, 40)
        assert got[i][got[i] >= 0].tolist() == ref


def test_nms_matches_tensorflow():
    import tensorflow as tf  # pinned: a broken install fails, it is not skipped
    rng = np.random.default_rng(7)
    boxes, scores = _random_boxes(rng, 3, 200)
    got = codecs.batched_nms(boxes, scores, 0.45, 0.25, 50)
    for i in range(3):
        yxyx = boxes[i][:, [1, 0, 3, 2]]
        ref = tf.image.non_max_suppression(yxyx, scores[i], 50, 0.45, 0.25).numpy().tolist()
        assert got[i][got[i] >= 0].tolist() == ref


def test_iou_of_disjoint_and_degenerate_boxes_is_zero():
    a = np.array([[0, 0, 1, 1], [0, 0, 0, 1]], np.float32)
    b = np.array([[2, 2, 3, 3], [-3, -3, -2, -2]], np.float32)
    assert (codecs.box_iou(a, b) == 0).all()


def test_decoding_a_hand_built_output():
    raw = np.zeros((2, 56, 3), np.float32)
    raw[1, :5, 2] = [0.25, 0.5, 0.1, 0.2, 0.8]
    raw[1, 5:8, 2] = [0.3, 0.45, 0.9]        # nose
    raw[1, 5 + 3 * 16:, 2] = [0.2, 0.6, 0.4]  # right ankle
    boxes, scores, kpts = codecs.decode_yolo_pose(raw)
    assert boxes.shape == (2, 3, 4) and scores.shape == (2, 3) and kpts.shape == (2, 3, 17, 3)
    assert np.allclose(boxes[1, 2], [0.2, 0.4, 0.3, 0.6]) and scores[1, 2] == pytest.approx(0.8)
    assert np.allclose(kpts[1, 2, 0], [0.3, 0.45, 0.9]) and np.allclose(kpts[1, 2, 16], [0.2, 0.6, 0.4])
    with pytest.raises(ValueError, match="YOLO-pose output"):
        codecs.decode_yolo_pose(np.zeros((1, 55, 3)))


def _case(noise, rng):
    gt = rng.uniform(0.2, 0.8, (2, 3, 17, 2))
    vis = np.ones((2, 3, 17))
    area = np.full((2, 3), 0.1)
    pred = gt + rng.normal(0, noise, gt.shape)
    return metrics.oks_matrix(pred, gt, vis, area, keypoints.layout("coco17").sigmas)


def test_st_map_perfect_and_perturbed():
    rng = np.random.default_rng(0)
    valid = np.ones((2, 3), bool)
    scores = rng.uniform(0.5, 1, (2, 3))
    perfect = metrics.st_multipose_map(_case(0.0, rng), valid, scores, 6)
    assert perfect["mAP@0.5"] == pytest.approx(1.0) and perfect["mAP@[0.5:0.95]"] == pytest.approx(1.0)
    noisy = metrics.st_multipose_map(_case(0.02, rng), valid, scores, 6)
    assert 0 < noisy["mAP@[0.5:0.95]"] < noisy["mAP@0.5"] <= 1.0
    # a duplicate of a matched detection is a false positive and lowers AP
    oks = _case(0.0, rng)
    dup = np.concatenate([oks, oks[:, :, :1]], axis=2)
    lower = metrics.st_multipose_map(dup, np.ones((2, 4), bool), np.c_[scores, np.full(2, 0.99)], 6)
    assert lower["mAP@0.5"] < 1.0


@pytest.fixture(scope="module")
def coco(mirror):
    ann = fetch("mmpose_coco_annotations")
    return datasets.load_coco_keypoints(ann, ann.parent)


def test_ground_truth_as_detections_scores_one_on_both_metrics(coco):
    samples = multipose.prepare_images(coco, (256, 256))
    people = [[p for p in persons if not p.iscrowd] for persons in samples.truth]
    d = max(len(p) for p in people)
    kp = np.zeros((len(people), d, 17, 3))
    valid = np.zeros((len(people), d), bool)
    for r, persons in enumerate(people):
        for c, p in enumerate(persons):
            if (p.keypoints[:, 2] > 0).any():
                kp[r, c], valid[r, c] = p.keypoints, True
    kp[..., 2] = valid[..., None]
    dets = multipose.Detections(np.zeros((*valid.shape, 4)), valid * 0.9, kp, valid)
    m = multipose.evaluate(dets, samples, coco).metrics
    assert m["ST mAP@0.5"] == pytest.approx(1.0) and m["COCO AP"] == pytest.approx(1.0)


def test_real_model_end_to_end(coco):
    runs = loop.evaluate_catalog(coco, ["yolov8n_pose_256_pc"], loop.Options(limit=2))
    run = runs["yolov8n_pose_256_pc"]
    assert run.detections.keypoints.shape[2:] == (17, 3)
    assert 0.5 < run.metrics["ST mAP@0.5"] <= 1.0 and 0 < run.metrics["COCO AP"] <= 1.0
    w, h = coco.images[run.batch.ids[0]]["width"], coco.images[run.batch.ids[0]]["height"]
    kept = run.detections.keypoints[0][run.detections.valid[0]]
    assert (kept[..., 0].max() <= w * 1.1) and (kept[..., 1].max() <= h * 1.1)  # mapped to original pixels


def test_unreadable_images_are_named(coco, tmp_path):
    for name in ("000000000785.jpg", "000000040083.jpg", "000000196141.jpg"):
        (tmp_path / name).symlink_to(coco.image_dir / name)
    (tmp_path / "000000197388.jpg").write_bytes(b"not a jpeg")
    broken = datasets.CocoKeypoints(coco.images, coco.people, tmp_path, coco.raw)
    for mode in ("fit", "padding"):
        batch = multipose.prepare_images(broken, (256, 256), mode)
        assert len(batch) == 3 and len(batch.skipped) == 1 and "000000197388.jpg" in batch.skipped[0]
        assert "skipped: cannot read image 000000197388.jpg" in loop.describe(batch)
