"""The benchmark scripts' references and workloads are what their READMEs claim (no timing here).

The scripts in ``benchmarks/`` compare ``zoo_helpers`` with references written like ST's code; a
ratio only means something if both sides give the same answer on the same input. These tests run
the scripts' own reference functions on small real inputs, so a script that rots fails in CI.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from zoo_helpers.cards import loop
from zoo_helpers.evaluation import datasets
from zoo_helpers.registry.assets import fetch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture()
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    yield
    for name in [m for m in sys.modules if m.startswith("bench_") or m == "common"]:
        del sys.modules[name]


def test_heatmap_reference_agrees_on_float_and_tied_maps(bench):
    import bench_heatmaps
    import tensorflow as tf  # pinned: a broken install fails, it is not skipped

    hm = np.random.default_rng(5).random((6, 48, 48, 17), dtype=np.float32)
    for maps in (hm, np.round(hm * 8).astype(np.float32)):  # the second has many tied peaks
        ours = bench_heatmaps.decode_heatmaps(maps)
        assert np.allclose(ours, bench_heatmaps.st_style(maps, tf), atol=1e-6)


def test_nms_reference_keeps_the_same_boxes_on_real_outputs(mirror, bench):
    import bench_nms
    import tensorflow as tf  # pinned: a broken install fails, it is not skipped

    from zoo_helpers.cards import multipose
    from zoo_helpers.runtime.models import load_model

    ann = fetch("mmpose_coco_annotations")
    model = load_model(fetch("yolov8n_pose_256_int8_pc"))
    samples = multipose.prepare_images(datasets.load_coco_keypoints(ann, ann.parent), (256, 256))
    outputs = model.predict_one(samples.images)
    ref, ours = bench_nms.st_style(outputs, tf), bench_nms.ours(outputs)
    assert (ref >= 0).sum() > len(outputs)  # several boxes kept per image, so the order is tested
    assert np.array_equal(ref, ours)


def test_repeated_sample_is_the_sample_again_under_new_ids(mirror, bench):
    import bench_eval_loop

    ann = fetch("mmpose_coco_annotations")
    base = datasets.load_coco_keypoints(ann, ann.parent)
    twice = bench_eval_loop.repeated_coco(2)
    assert len(twice.images) == 2 * len(base.images)
    assert len(twice.raw["annotations"]) == 2 * len(base.raw["annotations"])
    assert {twice.image_path(i) for i in twice.images} == {base.image_path(i) for i in base.images}
    one = loop.evaluate_catalog(base, ["movenet_lightning_192"])["movenet_lightning_192"]
    two = loop.evaluate_catalog(twice, ["movenet_lightning_192"])["movenet_lightning_192"]
    assert two.num_samples == 2 * one.num_samples
    assert two.metrics["ST mean OKS"] == pytest.approx(one.metrics["ST mean OKS"])
    assert two.metrics["COCO AP"] == pytest.approx(one.metrics["COCO AP"], abs=1e-6)
    # people keep their own annotation ids, so scoring cannot mix copies up
    ids = [p.ann_id for people in twice.people.values() for p in people]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("version", ["3.1", "3.2"])
def test_board_benchmark_uploads_through_the_emulator_process(mirror, bench, version):
    import bench_board

    cpu, wall, wire = bench_board.measure(fetch("movenet_heatmaps_192_int8_pc"), version, runs=1)
    assert wire == pytest.approx(192 * 192 * 3 * 10 / bench_board.BAUD, rel=0.15)  # the tensor plus framing
    assert 0 < cpu and 0 < wall


def test_handshake_floor_is_a_positive_per_packet_cost(bench):
    import bench_board

    assert 0 < bench_board.handshake_floor(packets=200) < 0.01


def test_quantization_benchmark_rows_have_the_issue_keys(mirror, bench, tmp_path):
    import bench_quantization

    from zoo_helpers.quant import recipes

    rows = bench_quantization.bench("st_hand_landmarks_224", "PCK@0.2", recipes.select("minmax_pc,minmax_pt"), 4, 2,
                                    tmp_path)
    from zoo_helpers.cards import protocol

    dev = sum(len(p.batch) for p in protocol.hands(224, 4).values() if p.split == "dev")
    assert sorted(r["granularity"] for r in rows) == ["float", "per-channel", "per-tensor", "published"]
    for row in rows:
        assert set(row) == {"model", "recipe", "granularity", "metric", "value", "agreement", "images", "seconds",
                            "split", "n", "ci_low", "ci_high", "chosen on dev"}
        assert row["model"] == "st_hand_landmarks_224" and row["metric"] == "PCK@0.2"
        assert (row["split"], row["n"], row["images"]) == ("test", 142, dev)  # test frames; agreement on dev images
        assert 0 <= row["ci_low"] <= row["value"] <= row["ci_high"] <= 100 and 0 <= row["agreement"] <= 100
    by = {r["granularity"]: r for r in rows}
    assert by["float"]["agreement"] == 100.0 and by["per-channel"]["seconds"] > 0
    assert by["per-channel"]["chosen on dev"] and by["per-tensor"]["chosen on dev"] and not by["float"]["chosen on dev"]
