"""Single-pose pipeline on real models: catalog runs, agreement measure, card table reasons, asset status."""

import numpy as np
import pytest

from zoo_helpers.book import tables
from zoo_helpers.cards import loop, singlepose
from zoo_helpers.evaluation import datasets
from zoo_helpers.registry import assets, catalog


@pytest.fixture(scope="module")
def coco(mirror):
    ann = assets.fetch("mmpose_coco_annotations")
    return datasets.load_coco_keypoints(ann, ann.parent)


def test_catalog_runs_only_what_is_local(coco, isolated_cache):
    keys = ["movenet_lightning_192", "st_movenet_heatmaps_192", "movenet_thunder_256"]
    runs = loop.evaluate_catalog(coco, keys, loop.Options(limit=4))
    assert set(runs) == {"movenet_lightning_192", "st_movenet_heatmaps_192"}  # Thunder is not mirrored
    for ev in runs.values():
        assert ev.num_samples == 4 and 0.3 < ev.metrics["ST mean OKS"] <= 1.0
        assert {"COCO AP", "PCK@0.1"} <= set(ev.metrics)
    assert runs["st_movenet_heatmaps_192"].predictions.shape == (4, 13, 3)


def test_catalog_matches_the_plain_path(coco, mirror):
    """Samples shared across variants and prepared by worker threads give what one model alone gives."""
    from zoo_helpers.runtime.models import load_model

    key = "st_movenet_heatmaps_192"
    streamed = loop.evaluate_catalog(coco, [key])[key]
    model = load_model(catalog.path(key))
    samples = singlepose.prepare_samples(coco, model.input_size, workers=1)
    plain = singlepose.evaluate(singlepose.decode(model.predict(samples.images), "heatmaps"), samples, coco, "st13")
    assert np.array_equal(streamed.predictions, plain.predictions)
    assert streamed.metrics == plain.metrics


def test_status_and_table_reasons(mirror, isolated_cache):
    assert assets.status("movenet_lightning_192_int8") == "mirror"
    assert assets.status("movenet_thunder_256_int8") == "download needed"
    table = tables.accuracy_table("movenet", [])
    reasons = dict(zip(table["model"] + " " + table["input"], table["scored on"], strict=True))
    assert "not mirrored" in reasons["MoveNet Thunder 256x256"]
    assert "variant='movenet_lightning_192'" in reasons["MoveNet Lightning 192x192"]
    assert "not published" in reasons["ST MoveNet Lightning heatmaps per-tensor 192x192"]


def test_catalog_reuses_a_batch_already_prepared(coco, monkeypatch):
    batch = singlepose.prepare_samples(coco, (192, 192), "person_crops")
    monkeypatch.setattr(loop, "prepare", lambda *a, **k: pytest.fail("the batch was prepared again"))
    runs = loop.evaluate_catalog(coco, ["movenet_lightning_192", "st_movenet_heatmaps_192"], batches=(batch,))
    assert all(ev.batch is batch for ev in runs.values())
