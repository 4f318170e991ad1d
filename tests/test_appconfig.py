"""The STM32N6 application's app_config.h, parsed back and checked against the real model files' tensors."""

import re
import shlex

import pytest

from zoo_helpers.deploy import appconfig
from zoo_helpers.registry import catalog
from zoo_helpers.runtime.models import load_model


def _int(value: str) -> int:
    assert re.fullmatch(r"\(\d+\)", value), value
    return int(value[1:-1])


@pytest.mark.parametrize(("key", "keypoints"), [("movenet_heatmaps_192", 17), ("st_movenet_heatmaps_192", 13)])
def test_movenet_heatmaps_header_matches_the_model(mirror, key, keypoints):
    model = load_model(catalog.path(key))
    _, height, width, channels = model.inputs[0].shape
    _, hm_h, hm_w, hm_k = model.outputs[0].shape
    d = appconfig.parse(appconfig.for_catalog(key))
    assert d["POSTPROCESS_TYPE"] == "POSTPROCESS_SPE_MOVENET_UF"
    assert (_int(d["NN_HEIGHT"]), _int(d["NN_WIDTH"]), int(d["NN_BPP"])) == (height, width, channels) == (192, 192, 3)
    assert _int(d["AI_POSE_PP_POSE_KEYPOINTS_NB"]) == hm_k == keypoints
    assert (_int(d["AI_SPE_MOVENET_POSTPROC_HEATMAP_HEIGHT"]), _int(d["AI_SPE_MOVENET_POSTPROC_HEATMAP_WIDTH"])) == (
        hm_h, hm_w) == (height // 4, width // 4)
    assert d["AI_SPE_MOVENET_POSTPROC_NB_KEYPOINTS"] == "(AI_POSE_PP_POSE_KEYPOINTS_NB)"
    assert float(d["AI_POSE_PP_CONF_THRESHOLD"].strip("()")) == 0.5
    assert d["COLOR_MODE"] == "COLOR_RGB" and d["ASPECT_RATIO_MODE"] == "ASPECT_RATIO_CROP"
    assert not any(k.startswith("AI_MPE_YOLOV8") for k in d)


def test_yolov8_pose_header_matches_the_model(mirror):
    model = load_model(catalog.path("yolov8n_pose_256_pc"))
    _, rows, boxes = model.outputs[0].shape
    text = appconfig.header(catalog.path("yolov8n_pose_256_pc"), "yolo_pose", conf_threshold=0.25,
                            iou_threshold=0.7, max_boxes=20)
    d = appconfig.parse(text)
    assert d["POSTPROCESS_TYPE"] == "POSTPROCESS_MPE_YOLO_V8_UF"
    assert (_int(d["NN_HEIGHT"]), _int(d["NN_WIDTH"])) == tuple(model.inputs[0].shape[1:3]) == (256, 256)
    assert _int(d["AI_MPE_YOLOV8_PP_TOTAL_BOXES"]) == boxes == 32 * 32 + 16 * 16 + 8 * 8
    assert 5 + 3 * _int(d["AI_POSE_PP_POSE_KEYPOINTS_NB"]) == rows == 56
    assert _int(d["AI_MPE_YOLOV8_PP_MAX_BOXES_LIMIT"]) == 20 and _int(d["AI_MPE_YOLOV8_PP_NB_CLASSES"]) == 1
    assert d["AI_MPE_YOLOV8_PP_IOU_THRESHOLD"] == "(0.7)" and d["AI_MPE_YOLOV8_PP_CONF_THRESHOLD"] == "(0.25)"
    assert text.count("#ifndef APP_CONFIG") == 1 and text.rstrip().endswith("#endif /* APP_CONFIG */")
    assert not any(k.startswith("AI_SPE_MOVENET") for k in d)


@pytest.mark.parametrize("key", ["movenet_lightning_192", "st_hand_landmarks_224", "st_face_landmarks_192"])
def test_other_decoders_have_no_header(mirror, key):
    with pytest.raises(appconfig.NoAppConfigError, match=catalog.entry(key).decoder):
        appconfig.for_catalog(key)


def test_bad_options_are_refused(mirror):
    with pytest.raises(ValueError, match="aspect_ratio"):
        appconfig.header(catalog.path("st_movenet_heatmaps_192"), "heatmaps", aspect_ratio="stretch")


def test_write_puts_the_header_in_the_folder(mirror, tmp_path):
    out = appconfig.write(catalog.path("st_movenet_heatmaps_192"), "heatmaps", tmp_path / "C_header")
    assert out.name == "app_config.h" and appconfig.parse(out.read_text())["NN_WIDTH"] == "(192)"


def test_generate_command_for_the_model(mirror):
    path = catalog.path("yolov8n_pose_256_pc")
    args = shlex.split(appconfig.generate_command(path, neural_art="user_neuralart.json", output="out"))
    assert args[:2] == ["stedgeai", "generate"] and args[args.index("--model") + 1] == str(path)
    assert args[args.index("--target") + 1] == "stm32n6"
    assert args[args.index("--st-neural-art") + 1] == "default@user_neuralart.json"
    assert args[args.index("--input-data-type") + 1] == load_model(path).inputs[0].dtype.name == "uint8"
    assert args[args.index("--inputs-ch-position") + 1] == "chlast" and args[-2:] == ["--output", "out"]
