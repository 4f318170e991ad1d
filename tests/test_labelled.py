"""The larger labelled sets, their dev/test splits and the bootstrap intervals, on the real mirrored files."""

import json
import re

import numpy as np
import pytest

from zoo_helpers.evaluation import labelled, metrics, photos, splits, uncertainty
from zoo_helpers.evaluation.datasets import AnnotationError
from zoo_helpers.registry import assets


@pytest.fixture(scope="module")
def coco(mirror):
    return labelled.coco_val2017_set()


@pytest.fixture(scope="module")
def lsp(mirror):
    return labelled.lsp_extended_set()


def test_coco_subset_joins_the_official_json_and_the_yolo_labels(coco):
    official = json.loads(assets.fetch("coco_val2017_mini/annotations/person_keypoints_val2017.json").read_text())
    covered = {im["id"] for im in official["images"]}
    labels = {int(f.stem) for f in assets.fetch_members("coco_val2017_yolo_labels", progress=False).values()}
    assert (len(coco), len(covered), len(labels - covered)) == (159, 79, 43)  # and 37 images with no person
    from_labels = [p for i, people in coco.people.items() if i not in covered for p in people]
    assert len(from_labels) == 142 and not any(p.iscrowd for p in from_labels)
    # 000000012280.txt, first line, by hand: image 480 x 640, box cx 0.350333 w 0.104292, cy 0.477578 h 0.200969
    first = coco.people[12280][0]
    assert first.bbox == pytest.approx([168.16 - 25.03, 305.65 - 64.31, 50.06, 128.62], abs=0.01)
    assert first.keypoints[0] == pytest.approx([156.0, 257.0, 2.0], abs=0.01)
    assert first.area == pytest.approx(50.06 * 128.62 * labelled.AREA_PER_BOX, rel=1e-3)
    # where the json covers an image it wins: its people keep their official ids and areas
    assert {p.ann_id for p in coco.people[139]} == {a["id"] for a in official["annotations"] if a["image_id"] == 139}


def test_the_area_stand_in_matches_the_official_areas(coco):
    """The json's own people: segmentation area over box area sits around AREA_PER_BOX (an independent check)."""
    people = [p for i in coco.images for p in coco.people[i] if p.ann_id < 10**12 and not p.iscrowd
              and (p.keypoints[:, 2] > 0).any()]
    ratios = np.array([p.area / (p.bbox[2] * p.bbox[3]) for p in people])
    assert len(ratios) == 68
    assert abs(np.median(ratios) - labelled.AREA_PER_BOX) < 0.05


def test_lsp_joints_land_on_coco_keypoints(lsp):
    assert len(lsp) == 2000
    first = lsp.people[1][0]
    # joints.mat[:, :, 0] read by hand: the right knee at (26.03, 86.41), the right ankle unlabelled
    assert first.keypoints[14] == pytest.approx([26.03094352, 86.41022512, 2.0])
    assert first.keypoints[16, 2] == 0 and (first.keypoints[:5, 2] == 0).all()
    assert lsp.raw["extra"][1][12] == pytest.approx([96.88513933, 56.61143933, 2.0])  # the neck, kept aside
    torso = metrics.torso_lsp(np.stack([lsp.raw["extra"][1]]))
    assert torso[0] == pytest.approx(np.hypot(102.38837784 - 50.60790641, 68.46216316 - 75.70079791))


def test_hand_joints_are_projected_into_the_crops(mirror):
    hands = labelled.hand_test_set()
    assert len(hands) == 292
    # frame 0's wrist by hand: u = 923.648 * 0.41856557 / 42.429573 + 640.047 = 649.159, minus the box corner
    # 380, times 256 / 493; v likewise with 923.759, 11.017581, 362.336 and 164
    wrist = hands.people[0][0].keypoints[0]
    assert wrist[:2] == pytest.approx([(649.159 - 380) * 256 / 493, (602.204 - 164) * 256 / 493], abs=0.05)
    inside = np.stack([p[0].keypoints[:, :2] for p in hands.people.values()])
    assert ((inside > -20) & (inside < 276)).mean() > 0.99  # the hands lie in their crops


def test_aflw_faces_have_68_fitted_points(mirror):
    faces = labelled.aflw2000_3d_set()
    assert len(faces) == 16
    assert faces.people[50][0].keypoints[0] == pytest.approx([125.84849, 209.62408, 2.0], abs=1e-4)


def test_bad_files_are_named(tmp_path):
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "000000000001.txt").write_text("0 0.5 0.5 0.1 0.1 1 2\n")
    with pytest.raises(AnnotationError, match="000000000001.txt: no image"):
        labelled.yolo_pose_labels(tmp_path / "labels", tmp_path)
    from PIL import Image

    Image.new("RGB", (10, 10)).save(tmp_path / "000000000001.jpg")
    with pytest.raises(AnnotationError, match="000000000001.txt, line 1: expected class 0, a box and 17"):
        labelled.yolo_pose_labels(tmp_path / "labels", tmp_path)
    from scipy.io import savemat

    savemat(tmp_path / "joints.mat", {"joints": np.zeros((3, 14, 5))})
    with pytest.raises(AnnotationError, match="must be 14 x 3 x N"):
        labelled.lsp_joints(tmp_path / "joints.mat", tmp_path)


def test_splits_are_stable_disjoint_and_keep_frames_together(lsp):
    ids = sorted(lsp.images)
    sides = splits.split("lsp_extended_2000", ids)
    assert not set(sides["dev"]) & set(sides["test"]) and len(sides["test"]) >= 500
    # the same rule, computed here from its definition: sha256("<set>/<group>")'s first 8 bytes below the share
    import hashlib

    def by_hand(i):
        return int.from_bytes(hashlib.sha256(f"lsp_extended_2000/{i}".encode()).digest()[:8], "big") < 2**63

    assert sides["test"] == [i for i in ids if by_hand(i)]
    # a side depends on nothing but the image: reversed and halved sets keep every image's side
    assert splits.split("lsp_extended_2000", ids[::-1])["test"] == sides["test"][::-1]
    assert splits.split("lsp_extended_2000", ids[:700])["test"] == [i for i in sides["test"] if i <= 700]
    frames = splits.split("hand_graph_cnn_real_test", range(292))
    for side in frames.values():
        groups = {f // splits.FRAMES_PER_GROUP for f in side}
        assert all(f in side for g in groups for f in range(g * 25, min(g * 25 + 25, 292)))
    assert len(frames["test"]) >= 100


def test_the_calibration_pool_is_disjoint_from_every_evaluation_set(coco, lsp):
    calib = [assets.fetch(name) for name in photos.calibration_assets()]
    for data in (coco, lsp):
        files = [data.image_path(i) for i in data.images]
        assert photos.disjoint(calib, files)


def test_the_interval_of_a_known_distribution_covers_its_mean():
    rng = np.random.default_rng(1)
    covered = 0
    for trial in range(60):
        sample = rng.exponential(10.0, 150)  # skewed, mean 10
        ci = uncertainty.interval(sample, resamples=500, seed=trial)
        covered += ci.low <= 10.0 <= ci.high
    assert 0.85 <= covered / 60 <= 1.0


def test_people_are_resampled_with_their_image():
    """Ten identical people in each of 20 images are 20 observations, not 200: the interval says so."""
    rng = np.random.default_rng(2)
    per_image = rng.normal(50, 10, 20)
    values, ids = np.repeat(per_image, 10), np.repeat(np.arange(20), 10)
    by_image = uncertainty.interval(values, ids)
    as_if_independent = uncertainty.interval(values)
    assert (by_image.n, by_image.images) == (200, 20)
    assert (by_image.high - by_image.low) > 2 * (as_if_independent.high - as_if_independent.low)


def test_a_paired_difference_is_tighter_than_two_intervals_and_verdicts_say_so():
    rng = np.random.default_rng(3)
    base = rng.uniform(0, 100, 300)
    a, b = base + rng.normal(1.0, 1.0, 300), base
    d = uncertainty.difference(a, b)
    assert d.low > 0.5 and uncertainty.verdict(d) == "met"
    separate = uncertainty.interval(a)
    assert (d.high - d.low) < (separate.high - separate.low) / 5
    same = uncertainty.difference(base + rng.normal(0, 1.0, 300), base)
    assert uncertainty.verdict(same).startswith("not distinguishable at n = 300")
    worse = uncertainty.difference(base - 5 + rng.normal(0, 1.0, 300), base)
    words = uncertainty.verdict(worse, target=-3)
    missed, low, high = (float(x) for x in re.findall(r"\d+\.\d+", words))
    assert words.startswith("missed by") and low <= 2.0 <= high and abs(missed - 2.0) < 0.15


def _st_map(oks, valid, scores, num_gt_per_image):
    """ST's mAP@0.5 on a subset of images (rows), as a whole-set statistic of image indices."""
    return lambda idx: metrics.st_multipose_map(oks[idx], valid[idx], scores[idx],
                                                int(num_gt_per_image[idx].sum()))["mAP@0.5"]


def test_a_whole_set_metric_gets_an_interval_from_resampled_images():
    rng = np.random.default_rng(4)
    images, people = 120, 2
    # each image: two people, each detected once; a detection matches (OKS 0.9) with probability 0.8
    hit = rng.random((images, people)) < 0.8
    oks = np.zeros((images, people, people))
    oks[:, np.arange(people), np.arange(people)] = np.where(hit, 0.9, 0.1)
    valid, scores = np.ones((images, people), bool), rng.random((images, people))
    gt = np.full(images, people)
    ci = uncertainty.resampled(_st_map(oks, valid, scores, gt), images, samples=images * people, resamples=300)
    assert ci.low < ci.value < ci.high and ci.n == 240 and ci.images == 120
    assert 0.02 < ci.high - ci.low < 0.3
    same = uncertainty.resampled_difference(_st_map(oks, valid, scores, gt), _st_map(oks, valid, scores, gt),
                                            images, resamples=200)
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)  # the same model on every resample
    assert uncertainty.verdict(same) == "met"  # equal, exactly: an "at least" goal holds
    assert uncertainty.verdict(same, target=0.01).startswith("missed by 0.01")


def test_a_split_is_a_subset_of_the_set_with_its_own_json(coco):
    sides = splits.split("coco_val2017_mini", sorted(coco.images))
    test = coco.subset(sides["test"], "COCO val2017 subset, test")
    assert len(test) == len(sides["test"]) and test.name.endswith("test")
    assert {a["image_id"] for a in test.raw["annotations"]} <= set(sides["test"])
    assert sum(len(p) for p in test.people.values()) + sum(len(coco.people[i]) for i in sides["dev"]) == 260
    with pytest.raises(KeyError, match="are not in"):
        coco.subset([1, 2, 3])
