"""The evaluation protocol on the real sets: dev/test parts, torso PCK, agreement only on dev, records by split."""

import numpy as np
import pytest

from zoo_helpers import results, runtime
from zoo_helpers.book import recipe_table
from zoo_helpers.cards import loop, protocol, quantized, singlepose
from zoo_helpers.evaluation import labelled, photos
from zoo_helpers.quant import recipes

KEY = "movenet_heatmaps_192"


@pytest.fixture(scope="module")
def parts(mirror):
    return protocol.single_pose((192, 192), n_test=30, n_dev=40)


def test_parts_are_disjoint_sides_of_the_fixed_split_and_record_their_set(parts):
    assert list(parts) == ["LSP dev", "LSP test", "COCO test"]
    lsp_dev, lsp_test = set(parts["LSP dev"].batch.ids), set(parts["LSP test"].batch.ids)
    assert len(lsp_dev) == 40 and len(lsp_test) == 30 and not lsp_dev & lsp_test
    # the first test images by number; every one of them is on the test side of the registered rule
    everything = labelled.lsp_extended_set()
    test_side = protocol.side(everything, "lsp_extended_2000", "test")
    assert sorted(lsp_test) == sorted(test_side.images)[:30]
    assert (len(parts["COCO test"].batch), parts["COCO test"].batch.num_images) == (179, 65)
    assert parts["LSP test"].batch.kind == "person_crops, LSP" and parts["COCO test"].data()["part"] == "COCO test"
    # the calibration photos share no content with any part
    calib = photos.calibration_files("", 8)
    assert photos.disjoint(calib, [f for p in parts.values() for f in p.files()])


def test_a_side_with_a_bad_name_or_limit_is_refused(mirror):
    coco = labelled.coco_val2017_set()
    with pytest.raises(ValueError, match="split must be 'dev' or 'test'"):
        protocol.side(coco, "coco_val2017_mini", "train")
    with pytest.raises(ValueError, match="limit must be 0"):
        protocol.side(coco, "coco_val2017_mini", "test", -1)


def test_torso_pck_on_lsp_by_hand(parts):
    """Ground truth scores 1; moving every point 0.25 torso to the right scores 0; 0.15 torso scores 1."""
    part = parts["LSP test"]
    gt = np.stack([p.keypoints for p in part.batch.truth])
    extra = np.stack([part.coco.raw["extra"][i] for i in part.batch.ids])
    torso = np.linalg.norm(extra[:, 9, :2] - extra[:, 2, :2], axis=-1)  # L shoulder to R hip, by hand
    for shift, expected in ((0.0, 1.0), (0.15, 1.0), (0.25, 0.0)):
        moved = gt[..., :2] + np.stack([shift * torso, np.zeros_like(torso)], -1)[:, None]
        norm = part.batch.to_input(moved, normalized=True)
        pred = np.concatenate([norm, np.ones((*norm.shape[:2], 1))], -1)
        ev = singlepose.evaluate(pred, part.batch, part.coco, "coco17")
        assert ev.metrics[singlepose.TORSO_PCK] == pytest.approx(expected)
        assert len(ev.per_sample[singlepose.TORSO_PCK]) == len(part.batch)


@pytest.fixture(scope="module")
def scored(parts, tmp_path_factory):
    model = runtime.load(KEY)
    made = recipes.make(model, tmp_path_factory.mktemp("recipes"), photos.calibration("", 4, (192, 192)),
                        "minmax_pc,minmax_pt", progress=False)
    run = results.Recorder("movenet", "movenet", {}, tmp_path_factory.mktemp("results"))
    evals = quantized.evaluate_parts(made, {"published int8": model}, KEY, parts, recorder=run, progress=False)
    return made, model, run, evals


def test_every_model_runs_on_every_part_with_agreement_from_dev_only(scored, parts):
    made, model, run, evals = scored
    assert set(evals) == set(parts) and all(set(e) == {"published int8", *made.models} for e in evals.values())
    splits = {(r.variant, r.kind, r.split) for r in run.records}
    assert len(splits) == 3 * 4  # 4 models x (LSP dev, LSP test, COCO test)
    for r in run.records:
        assert r.metrics[quantized.AGREEMENT_IMAGES] == 40  # the dev part's photos, in every record
        assert len(r.per_sample["ST OKS"]) == r.samples == len(r.sample_images)
    # the agreement is the same as comparing the models' outputs on the dev crops directly
    dev = parts["LSP dev"].batch.images
    direct = quantized.agreement_with_reference({"published int8": model, **made.models}, made.reference, dev,
                                                "heatmaps")
    got = {r.variant: r.metrics[quantized.AGREEMENT] for r in run.records}
    assert got == pytest.approx(direct)
    with pytest.raises(ValueError, match="never on test"):
        quantized.evaluate_parts(made, {}, KEY, parts, agreement_parts=["LSP test"])


def test_the_recipe_table_shows_test_and_chooses_on_dev(scored):
    _, _, run, _ = scored
    shown = recipe_table.table(protocol.judged(run.records, "LSP"), "ST mean OKS")
    lsp_test = {r.variant: 100 * r.metrics["ST mean OKS"] for r in protocol.shown(run.records, "LSP")}
    assert shown["ST mean OKS (%)"].astype(float).to_dict() == pytest.approx(lsp_test)
    assert set(shown["n"]) == {30}
    coco = recipe_table.table(protocol.judged(run.records, "COCO"), "ST mean OKS")
    assert set(coco["n"]) == {179}


def test_catalog_models_on_the_test_parts_are_recorded_by_part(parts, tmp_path):
    run = results.Recorder("movenet", "movenet", {}, tmp_path)
    out = loop.evaluate_parts(parts, ["movenet_lightning_192"], recorder=run)
    assert set(out) == {"LSP test", "COCO test"}
    assert sorted((r.kind, r.split, r.samples) for r in run.records) == [("person_crops, COCO", "test", 179),
                                                                         ("person_crops, LSP", "test", 30)]


def test_st_map_of_resampled_images_equals_st_map_on_those_images(mirror):
    """Rescoring a resample from the matches gives what ST's whole metric gives on the resampled set, built anew."""
    from zoo_helpers.evaluation import metrics

    rng = np.random.default_rng(3)
    n_img, n_gt, n_det = 12, 3, 6
    gt = rng.random((n_img, n_gt, 17, 2))
    vis = rng.random((n_img, n_gt, 17)) > 0.3
    area = rng.uniform(0.05, 0.3, (n_img, n_gt))
    pred = gt[:, rng.integers(0, n_gt, n_det)] + rng.normal(0, 0.03, (n_img, n_det, 17, 2))
    valid = rng.random((n_img, n_det)) > 0.2
    scores = rng.random((n_img, n_det))
    oks = metrics.oks_matrix(pred, gt, vis, area, np.full(17, 0.07))
    image, score, matched = metrics.st_matches(oks, valid, scores)
    per_image = vis.any(-1).sum(-1)
    full = metrics.st_multipose_map(oks, valid, scores, int(per_image.sum()))["mAP@0.5"]
    assert metrics.st_map_of_images(image, score, matched, per_image, np.arange(n_img)) == pytest.approx(full)
    idx = np.array([3, 3, 0, 7, 11, 5, 5, 5])
    again = metrics.st_multipose_map(oks[idx], valid[idx], scores[idx], int(per_image[idx].sum()))["mAP@0.5"]
    assert metrics.st_map_of_images(image, score, matched, per_image, idx) == pytest.approx(again)


def test_yolo_parts_keep_lsp_for_agreement_only_and_score_coco_test(mirror):
    parts = protocol.multi_pose((256, 256), n_dev=12)
    assert {k: (p.split, p.labelled, len(p.batch)) for k, p in parts.items()} == {
        "LSP dev": ("dev", False, 12), "COCO test": ("test", True, parts["COCO test"].batch.num_images)}
    assert parts["COCO test"].batch.num_images >= 100 and parts["COCO test"].batch.kind == "fit, COCO"


def test_the_metrics_figure_draws_each_records_interval(scored):
    from zoo_helpers.book import plots

    _, _, run, _ = scored
    shown = protocol.shown(run.records, "LSP")
    fig = plots.metrics(shown, ["ST mean OKS"])
    from matplotlib.container import ErrorbarContainer

    whiskers = next(c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer))
    segments = whiskers.lines[2][0].get_segments()  # one horizontal whisker per bar, low to high
    expected = [recipe_table.interval_of(r, "ST mean OKS") for r in shown]
    assert [(round(s[0][0], 6), round(s[1][0], 6)) for s in segments] == [
        (round(c.low, 6), round(c.high, 6)) for c in expected]
    assert "95 % CI" in fig.axes[0].get_title()


def test_hand_parts_keep_video_runs_together_and_add_every_other_hand_crop_for_agreement(mirror):
    from zoo_helpers.evaluation import splits

    parts = protocol.hands(224, n_calib=8)
    dev, test = (set(parts[f"real hands {s}"].batch.ids) for s in ("dev", "test"))
    assert (len(dev), len(test)) == (150, 142) and not dev & test
    runs = {s: {i // splits.FRAMES_PER_GROUP for i in ids} for s, ids in (("dev", dev), ("test", test))}
    assert not runs["dev"] & runs["test"]  # no run of 25 frames is cut in two
    photos_part = parts["hand photos dev"]
    assert not photos_part.labelled and photos_part.split == "dev" and 16 <= len(photos_part.batch) <= 16 + 14 - 8
    calibration = photos.hands(224).first(8).files
    assert photos.disjoint(calibration, [f for p in parts.values() for f in p.files()])


def test_st_map_rescored_from_a_records_matches_is_the_records_own_value(mirror, tmp_path):
    """Read back from JSON, the matches give the recorded ST mAP@0.5 on all images (the tail-dropping shortcut
    included), and a record whose model found nothing gives an interval, not a crash."""
    parts = protocol.multi_pose((256, 256), n_dev=1)
    test = parts["COCO test"]
    run = results.Recorder("yolov8n_pose", "yolov8n_pose", {}, tmp_path)
    loop.evaluate_parts({"COCO test": test}, ["yolov8n_pose_256_pc"], recorder=run)
    record = results.load(tmp_path)[0]
    rescore = recipe_table._whole(record, "ST mAP@0.5")
    assert rescore(np.arange(len(record.matches["gt_per_image"]))) == pytest.approx(100 * record.metrics["ST mAP@0.5"])
    empty = {"image": [], "score": [], "oks": [], "gt_per_image": [1, 2]}
    nothing = results.Record("y", "y", "k", "v", {"ST mAP@0.5": 0.0}, 3, 2, {}, {}, "host CPU", split="test",
                             sample_images=[1, 2], matches=empty)
    ci = recipe_table.interval_of(nothing, "ST mAP@0.5")
    from zoo_helpers.evaluation import metrics

    # no detection at all: ST's (Ultralytics') AP keeps its sentinels (0, 1) and (1, 0), whatever is resampled
    alone = 100 * metrics.st_map_of_matches(np.zeros(0), np.zeros(0), 3)["mAP@0.5"]
    assert (ci.value, ci.low, ci.high) == (alone, alone, alone)
