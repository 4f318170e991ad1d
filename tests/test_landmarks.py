"""Hand and face landmarks: decoders on known outputs, rotated crops, metrics by hand, real models."""

import numpy as np
import pytest

from zoo_helpers.cards import landmarks
from zoo_helpers.evaluation import codecs, metrics, preprocess, transforms
from zoo_helpers.registry import keypoints


def test_hand_outputs_are_found_by_name_not_position():
    screen = np.arange(63, dtype=np.float32)[None]
    world = -screen / 1000
    outputs = {"Identity_3:0": world, "Identity_1:0": np.array([[0.0]]), "Identity:0": screen,
               "Identity_2:0": np.array([[10.0]])}
    d = codecs.decode_hand(outputs)
    assert np.array_equal(d["landmarks"][0, 1], [3, 4, 5]) and np.allclose(d["world"][0, 1], [-0.003, -0.004, -0.005])
    assert d["presence"][0] == pytest.approx(0.5) and d["handedness"][0] > 0.99
    with pytest.raises(ValueError, match="Identity_3"):
        codecs.decode_hand({k: v for k, v in outputs.items() if k != "Identity_3:0"})


def test_face_outputs_by_size():
    st = {"landmarks": np.arange(936, dtype=np.float32).reshape(1, 1, 1, 936)}
    mp = {"conv2d_21": np.arange(1404, dtype=np.float32).reshape(1, 1, 1, 1404), "conv2d_31": np.zeros((1, 1, 1, 1))}
    assert codecs.decode_face(st)[0, 1].tolist() == [2, 3]
    assert codecs.decode_face(mp)[0, 1].tolist() == [3, 4]


def test_palm_decoding_on_a_hand_built_output():
    anchors = codecs.palm_anchors()
    assert anchors.shape == (2016, 2) and np.allclose(anchors[0], [0.5 / 24, 0.5 / 24])
    assert np.allclose(anchors[1152], [0.5 / 12, 0.5 / 12]) and np.allclose(anchors[-1], [11.5 / 12, 11.5 / 12])
    reg = np.zeros((1, 2016, 18), np.float32)
    logits = np.full((1, 2016, 1), -20.0, np.float32)
    k = 1152 + 6 * (5 * 12 + 7)  # a stride-16 anchor at row 5, column 7
    reg[0, k, :4] = [9.6, -19.2, 38.4, 57.6]       # pixels of the 192 input: dx, dy, w, h
    reg[0, k, 4:6] = [0.0, 19.2]                   # wrist keypoint 0.1 below the anchor
    logits[0, k] = 5.0
    palms = codecs.decode_palms(reg, logits)[0]
    cx, cy = (7.5 / 12 + 0.05, 5.5 / 12 - 0.1)
    assert palms.boxes.shape == (1, 4) and np.allclose(palms.boxes[0], [cx - 0.1, cy - 0.15, cx + 0.1, cy + 0.15])
    assert np.allclose(palms.keypoints[0, 0], [7.5 / 12, 5.5 / 12 + 0.1], atol=1e-6)
    assert palms.scores[0] == pytest.approx(1 / (1 + np.exp(-5)))


@pytest.mark.parametrize("angle", [0.0, 0.7, -2.5, np.pi])
def test_rotated_crop_round_trip(angle):
    img = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    _, t = preprocess.crop_rotated(img, (180.3, 140.7), 120.0, angle, (224, 224))
    pts = np.random.default_rng(1).uniform(100, 250, (21, 2))
    back = t.to_original(t.to_input(pts))
    assert np.abs(back - pts).max() < 0.5 and np.abs(back - pts).max() < 1e-9
    # and the pixel content really is there: a bright dot lands where the transform says
    dot = np.zeros((300, 400, 3), np.uint8)
    dot[150:153, 200:203] = 255
    crop, t = preprocess.crop_rotated(dot, (180.3, 140.7), 120.0, angle, (224, 224))
    ys, xs = np.nonzero(crop[..., 0] > 60)
    assert np.abs(t.to_original(np.array([xs.mean() + 0.5, ys.mean() + 0.5])) - [201.5, 151.5]).max() < 1.0


def test_palm_rect_points_fingers_up():
    box = np.array([100.0, 100.0, 140.0, 140.0])
    kp = np.array([[120.0, 140.0], [0, 0], [120.0, 100.0]] + [[0, 0]] * 4)  # wrist below the middle MCP
    (cx, cy), side, angle = transforms.palm_to_rect(box, kp)
    assert angle == pytest.approx(0.0) and side == pytest.approx(104.0)
    assert (cx, cy) == pytest.approx((120.0, 100.0))  # shifted half a box towards the fingers
    kp_right = np.array([[100.0, 120.0], [0, 0], [140.0, 120.0]] + [[0, 0]] * 4)  # fingers to the right
    assert transforms.palm_to_rect(box, kp_right)[2] == pytest.approx(np.pi / 2)


def test_metrics_by_hand():
    gt = np.zeros((2, 3, 2))
    pred = np.array([[[3, 4], [0, 0], [100, 100]], [[0, 6], [8, 0], [0, 0]]], float)
    vis = np.array([[1, 1, 0], [1, 1, 1]], bool)
    assert metrics.epe(pred, gt, vis).tolist() == [2.5, pytest.approx(14 / 3)]
    per_point = metrics.pck_per_point(pred, gt, vis, np.array([30.0, 30.0]), alpha=0.2)  # threshold 6 px
    assert per_point.tolist() == [1.0, 0.5, 1.0]
    gt68 = np.zeros((1, 68, 2))
    gt68[0, 45] = [100, 0]  # inter-ocular distance 100
    pred68 = gt68.copy()
    pred68[0, [20, 30]] += [5, 0]
    assert metrics.nme_interocular(pred68, gt68, [20, 30, 40], (36, 45))[0] == pytest.approx(10 / 3 / 100)


def test_correspondence_tables():
    face68 = keypoints.layout("face68")
    mesh = [face68.maps["face468"][i] for i in face68.scored("face468")]
    assert len(mesh) == 51 and min(face68.scored("face468")) == 17  # no jaw
    assert len(set(mesh)) == 51 and max(mesh) < 468
    assert face68.scored("wflw98") == list(range(68)) and max(face68.maps["wflw98"]) == 95


def test_real_models_on_the_samples(mirror):
    from zoo_helpers.registry.assets import fetch
    from zoo_helpers.runtime.models import load_model

    hands = landmarks.hand_crops(landmarks.hand_samples(("onehand10k",)), "gt")
    r = landmarks.hand_scores(load_model(fetch("st_hand_landmarks_224_int8_pc")).predict(hands.images), hands)
    assert np.median(r.per_sample["EPE (px)"]) < 15 and r.metrics["PCK@0.2"] > 0.8
    faces = landmarks.face_crops([f for f in landmarks.face_samples() if f.dataset == "300w"])
    model = load_model(fetch("st_face_landmarks_192_int8_pc"), rescale=(1 / 255, 0.0))
    assert landmarks.face_scores(model.predict(faces.images), faces).per_sample["NME"].max() < 0.1
