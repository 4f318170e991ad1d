"""Model catalog, keypoint layouts, batched transforms and the batch type, on real files and by hand."""

import numpy as np
import pytest

from zoo_helpers import runtime
from zoo_helpers.evaluation import batches, preprocess, transforms
from zoo_helpers.registry import assets, catalog, keypoints, published


def test_every_entry_names_a_registered_asset_a_card_and_a_known_layout():
    cards = set(published.published())
    for key, e in catalog.entries().items():
        assert assets.lookup(e.asset).name == e.asset, key
        assert e.card in cards, key
        assert e.layout is None or len(e.keypoints) > 0, key
        assert e.granularity in ("per-channel", "per-tensor", "float"), key
    kinds = {e.decoder for e in catalog.entries().values()}
    assert {"hand_landmarks", "palms", "face_landmarks", "classifier"} <= kinds  # MediaPipe and hand posture too


def test_granularity_is_what_the_file_holds(mirror):
    from zoo_helpers.quant.debug import granularity

    for key in catalog.local("yolov8n_pose") + catalog.local("movenet"):  # .tflite files and YOLO26's QDQ ONNX
        assert granularity(catalog.path(key))["granularity"] == catalog.entry(key).granularity, key


def test_unknown_or_foreign_variant_lists_the_card_variants():
    with pytest.raises(catalog.UnknownModelError, match="unknown variant 'movenet_nope' for card 'movenet'.*"
                                                        "movenet_heatmaps_192"):
        catalog.entry("movenet_nope", card="movenet")
    with pytest.raises(catalog.UnknownModelError, match="'yolov8n_pose_256_pc' is a yolov8n_pose model"):
        catalog.entry("yolov8n_pose_256_pc", card="movenet")
    with pytest.raises(catalog.UnknownModelError, match="no catalog models for card 'posenet'"):
        catalog.entries("posenet")


def test_load_applies_the_input_domain(mirror):
    face = runtime.load("mediapipe_face_landmark")
    assert face.rescale == pytest.approx((1 / 255, 0.0))
    x = face.prepare(np.full((1, 192, 192, 3), 255, np.uint8))
    assert x.dtype == np.float32 and x.max() == pytest.approx(1.0)
    assert runtime.load("st_hand_landmarks_224").rescale is None  # the raw pixel is the int8 model's input
    assert catalog.status("movenet_thunder_256") == "download needed"
    assert catalog.status("movenet_lightning_192") == "mirror"
    assert catalog.published("head_landmarks", "face_landmarks") == {"published int8": "st_face_landmarks_192",
                                                                     "published float": "mediapipe_face_landmark"}


def test_layout_conversions():
    st13, face68 = keypoints.layout("st13"), keypoints.layout("face68")
    kp = np.zeros((2, 17, 3))
    kp[0, [1, 3]] = [[10, 20, 2], [30, 40, 1]]  # person 0: two labelled face keypoints; person 1: none
    kp[:, 5:] = np.c_[np.arange(12), np.arange(12), np.full(12, 2)]
    out = st13.convert(kp, "coco17")
    assert out.shape == (2, 13, 3) and out[0, 0].tolist() == [20.0, 30.0, 2.0] and out[1, 0].tolist() == [0, 0, 0]
    assert np.array_equal(out[:, 1:], kp[:, 5:])
    mesh = np.random.default_rng(0).uniform(size=(3, 468, 2))
    pts = face68.convert(mesh, "face468")
    assert np.isnan(pts[:, :17]).all() and np.array_equal(pts[:, 36], mesh[:, 33])  # jaw has no mesh vertex
    assert len(st13.sigmas) == 13 and keypoints.layout("hand21").sigmas is None
    with pytest.raises(ValueError, match="cannot be built from 'coco17'"):
        face68.convert(kp, "coco17")
    with pytest.raises(ValueError, match=r"expected \(\.\.\., 17, 2 or 3\) coco17 points"):
        st13.convert(np.zeros((13, 3)), "coco17")
    with pytest.raises(ValueError, match="unknown keypoint layout 'coco18'"):
        keypoints.layout("coco18")


def test_batched_mapping_equals_each_transform():
    rng = np.random.default_rng(1)
    ts = [transforms.geometry((640, 480), (192, 192), "padding"),
          transforms.box(transforms.square_box([50, 60, 100, 40], 1.25), (192, 192), (640, 480)),
          transforms.rotated((300, 200), 150, 0.7, (224, 224), (640, 480))]
    xy = rng.uniform(0, 192, (3, 5, 2))
    batched = transforms.to_original(ts, xy)
    assert np.allclose(batched, np.stack([t.to_original(p) for t, p in zip(ts, xy, strict=True)]))
    assert np.allclose(transforms.to_input(ts, batched), xy)
    norm = transforms.to_input(ts, batched, normalized=True)
    assert np.allclose(transforms.to_original(ts, norm, normalized=True), batched)
    with pytest.raises(ValueError, match="2 samples of coordinates for 3 transforms"):
        transforms.to_original(ts, xy[:2])


def test_crops_and_their_transforms_agree():
    img = np.random.default_rng(2).integers(0, 255, (120, 160, 3), np.uint8)
    _, t = preprocess.crop_rotated(img, (80, 60), 50, 0.3, (32, 32))
    assert t == transforms.rotated((80, 60), 50, 0.3, (32, 32), (160, 120))
    _, t = preprocess.resize(img, (64, 64), "crop")
    assert t == transforms.geometry((160, 120), (64, 64), "crop")


def test_batch_checks_its_lengths():
    t = transforms.Transform((1.0, 1.0), (0.0, 0.0), (2, 2), (2, 2))
    with pytest.raises(ValueError, match="3 images, 2 transforms"):
        batches.Batch(np.zeros((3, 2, 2, 3), np.uint8), [t, t], [1, 2, 3], [None] * 3)
    b = batches.Batch(np.zeros((3, 2, 2, 3), np.uint8), [t] * 3, [1, 1, 2], ["a", "b", "c"])
    with pytest.raises(ValueError, match="at least one sample"):
        b.subset(0)
