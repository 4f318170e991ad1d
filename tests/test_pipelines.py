"""The four pipelines give the metrics they gave before the catalog refactor, to 6 decimals, on the default data.

``tests/data/pipeline_baseline.json`` was measured with main at 7e7967c (``evaluation``, ``multipose.Images``,
``landmark_eval``'s tuples); the same models on the same data must score the same through the catalog, the
batch type and the batched transforms.
"""

import json

import numpy as np
import pytest
from conftest import ROOT

from zoo_helpers import catalog, datasets, landmark_eval, pipelines

BASELINE = json.loads((ROOT / "tests" / "data" / "pipeline_baseline.json").read_text())


@pytest.fixture(scope="module")
def coco(mirror):
    return datasets.load_coco()


def _same(got: dict, want: dict) -> None:
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-6), name


@pytest.mark.parametrize("mode", ["person_crops", "st_subset"])
def test_single_pose(coco, mode):
    want = BASELINE["single_pose"][mode]
    runs = pipelines.evaluate_catalog(coco, list(want), pipelines.Options(sample_mode=mode))
    for key, w in want.items():
        ev = runs[key]
        assert (ev.num_samples, ev.num_images) == (w.pop("people"), w.pop("images"))
        _same(ev.metrics, w)


def test_multi_pose(coco):
    want = BASELINE["multi_pose"]
    runs = pipelines.evaluate_catalog(coco, list(want))
    for key, w in want.items():
        assert len(runs[key].batch) == w.pop("images")
        _same(runs[key].metrics, w)


@pytest.fixture(scope="module")
def hands(mirror):
    samples = landmark_eval.hand_samples()
    palm = catalog.load("st_palm_detection_192")
    palm_in = landmark_eval.palm_inputs(samples, palm.input_size)
    return {"gt": landmark_eval.hand_crops(samples, "gt"),
            "palm": landmark_eval.hand_crops(samples, "palm", palm.predict(palm_in.images), palm_in)}


@pytest.mark.parametrize("label,key", [("MediaPipe float", "mediapipe_hand_landmark_full"),
                                       ("ST int8", "st_hand_landmarks_224")])
def test_hands(hands, label, key):
    want = BASELINE["hands"]
    model = catalog.load(key)
    for mode, batch in hands.items():
        assert [f"{s.dataset} {s.image_id}" for s in batch.truth] == want["ids"]
        w = want["scores"][f"{mode}/{label}"]
        ev = pipelines.evaluate(model, key, batch)
        assert int(batch.found.sum()) == w["found"]
        assert np.allclose(ev.per_sample["EPE (px)"], w["epe"], atol=1e-6, rtol=0)
        assert np.allclose(ev.per_sample["PCK@0.2"], w["pck"], atol=1e-6, rtol=0)


def test_faces(mirror):
    want = BASELINE["faces"]
    batch = landmark_eval.face_crops(landmark_eval.face_samples())
    assert [f"{s.dataset} {s.image_id}" for s in batch.truth] == want["ids"]
    for label, key in (("MediaPipe float", "mediapipe_face_landmark"), ("ST int8", "st_face_landmarks_192")):
        ev = pipelines.evaluate(catalog.load(key), key, batch)
        assert np.allclose(ev.per_sample["NME"], want["nme"][label], atol=1e-6, rtol=0)
        assert ev.metrics["mean NME"] == pytest.approx(np.mean(want["nme"][label]), abs=1e-6)
