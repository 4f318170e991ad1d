"""Chapter parameters: every notebook's parameters have rules, defaults pass, the mistakes users make are named."""

import papermill as pm
import pytest
import yaml
from conftest import ROOT

from zoo_helpers.book import chapter

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_parameter_has_a_rule_and_the_defaults_pass(path):
    defaults = {name: eval(p["default"]) for name, p in pm.inspect_notebook(str(path)).items()}  # literals only
    assert chapter.check(path.stem, defaults) == defaults


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_chapter_has_rules_for_exactly_the_parameters_it_defines(path):
    assert set(chapter.specs()["notebooks"][path.stem]) == set(pm.inspect_notebook(str(path)))


PRESETS = sorted((ROOT / "params").glob("*/*.yaml"))


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_preset_passes_its_chapter_check(preset):
    values = yaml.safe_load(preset.read_text()) or {}
    values = {k: v for k, v in values.items() if k not in ("coco_dir", "calib_dir")}  # folders of the user's machine
    assert chapter.check(preset.parent.name, values) == values


@pytest.mark.parametrize("notebook,unused", [
    ("head_landmarks", {"coco_dir": ""}), ("yolov8n_pose", {"calib_dir": ""}),
    ("hand_posture", {"board": "serial:/dev/ttyACM0:921600"}), ("hand_landmarks", {"coco_dir": "", "limit": 3}),
    ("movenet", {"port": "/dev/ttyACM0"}), ("overview", {"quant_recipes": "all"}), ("overview", {"limt": 3}),
])
def test_a_shared_parameter_the_chapter_does_not_use_is_refused(notebook, unused):
    with pytest.raises(chapter.ParameterError) as err:
        chapter.check(notebook, unused)
    assert str(err.value).count("not a parameter of this chapter") == len(unused)
    listed = str(err.value).split("its parameters: ")[1]
    assert not any(name in listed.split(", ") for name in unused)


@pytest.mark.parametrize("notebook,bad,message", [
    ("movenet", {"n_test": -1}, r"n_test=-1: must be within \[0, inf\]"),
    ("movenet", {"variant": "movenet_nope"}, r"unknown variant 'movenet_nope' for card 'movenet'; variants: .*"
                                             r"movenet_heatmaps_192"),
    ("movenet", {"variant": "yolov8n_pose_256_pc"}, "'yolov8n_pose_256_pc' is a yolov8n_pose model"),
    ("movenet", {"n_board": 0}, r"n_board=0: must be within \[1, inf\]"),
    ("movenet", {"num_threads": 0}, r"num_threads=0: must be within \[1, 64\]"),
    ("movenet", {"coco_dir": "/no/such/coco"}, "coco_dir='/no/such/coco': no such folder"),
    ("movenet", {"heatmap": "st"}, "heatmap='st': not a parameter of this chapter"),
    ("hand_landmarks", {"palm_detector": "mediapip"}, r"palm_detector='mediapip': choose one of \['st', 'mediapipe'\]"),
    ("hand_landmarks", {"crop_mode": "plam"}, r"crop_mode='plam': choose one of \['palm', 'gt'\]"),
    ("hand_posture", {"epochs": 0}, r"epochs=0: must be within \[1, inf\]"),
    ("hand_posture", {"validation": 1.5}, r"validation=1.5"),
    ("yolov8n_pose", {"nms_iou": "0.5"}, "nms_iou='0.5': must be a number"),
])
def test_a_wrong_parameter_is_named_with_what_it_may_be(notebook, bad, message):
    with pytest.raises(chapter.ParameterError, match=message):
        chapter.check(notebook, bad)


def test_every_problem_is_reported_at_once():
    with pytest.raises(chapter.ParameterError) as err:
        chapter.check("hand_posture", {"epochs": 0, "louo_epochs": -2, "stream_frames": 1.5})
    assert str(err.value).count(";") == 2


def test_recipes_that_do_not_fit_the_chapter_fail_in_setup():
    with pytest.raises(chapter.ParameterError, match="do not apply to a Keras model"):
        chapter.check("hand_posture", {"quant_recipes": "minmax_pc"})
    with pytest.raises(chapter.ParameterError, match="do not apply to a model file"):
        chapter.check("movenet", {"quant_recipes": "tflite_pc"})
    assert chapter.check("hand_posture", {"quant_recipes": "default"}) == {"quant_recipes": "default"}


def test_setup_refuses_what_a_parameter_points_at_before_any_slow_work(tmp_path, mirror):
    """What the values point at (a device, a COCO folder's images, calibration images) is checked when the chapter
    makes its recorder in Setup; each failure is the project's own error type, naming the parameter."""
    import shutil

    from zoo_helpers.board.ports import DescriptorError
    from zoo_helpers.cards.protocol import CalibrationOverlap
    from zoo_helpers.evaluation import datasets, labelled
    from zoo_helpers.registry.assets import fetch

    takes = chapter.specs()["notebooks"]
    with_board = sorted(n for n, rules in takes.items() if "board" in rules)
    assert with_board == ["hand_landmarks", "head_landmarks", "movenet", "yolov8n_pose"]
    for notebook in with_board:
        with pytest.raises(DescriptorError, match=r"board='serial:/dev/ttyNOPE0:921600': no such serial device"):
            chapter.recorder(notebook, notebook, {"board": "serial:/dev/ttyNOPE0:921600"}, tmp_path)
    with pytest.raises(DescriptorError, match=r"port='/dev/ttyNOPE0'"):
        chapter.recorder("hand_posture", "cnn2d_st_handposture", {"port": "/dev/ttyNOPE0"}, tmp_path)

    ann = fetch("mmpose_coco_annotations")  # a COCO folder whose first image is not an image
    coco_dir = tmp_path / "coco"
    (coco_dir / "annotations").mkdir(parents=True)
    shutil.copy(ann, coco_dir / "annotations" / "person_keypoints_val2017.json")
    shutil.copytree(datasets.load_coco_keypoints(ann, ann.parent).image_dir, coco_dir / "val2017",
                    ignore=lambda d, names: [n for n in names if not n.endswith(".jpg")])
    first = sorted((coco_dir / "val2017").iterdir())[0]
    first.write_bytes(b"not a jpeg")
    for notebook in ("movenet", "yolov8n_pose"):
        with pytest.raises(datasets.ImageError, match=first.name):
            chapter.recorder(notebook, notebook, {"coco_dir": str(coco_dir)}, tmp_path)

    calib = tmp_path / "calib"  # calibration images that are LSP Extended images
    calib.mkdir()
    lsp = labelled.lsp_extended_set()
    for i in sorted(lsp.images)[:2]:
        shutil.copy(lsp.image_path(i), calib / f"{i}.jpg")
    with pytest.raises(CalibrationOverlap, match="2 of the 2 calibration images are evaluation images"):
        chapter.recorder("movenet", "movenet", {"calib_dir": str(calib), "n_calib": 2}, tmp_path)


def test_the_thread_bound_of_the_parameters_is_the_runtime_loaders():
    from zoo_helpers.runtime import models

    assert chapter.specs()["common"]["num_threads"]["int"]["max"] == models.MAX_THREADS


@pytest.mark.parametrize("name,value,message", [
    ("n_calib", [1, 2], r"n_calib=\[1, 2\]: must be a whole number"),
    ("quant_recipes", ["minmax_pc", "minmax_pt"], r"quant_recipes=\['minmax_pc', 'minmax_pt'\]: give text"),
    ("variant", ["movenet_heatmaps_192"], "must be a model key of the card"),
    ("sample_mode", None, "sample_mode=None: choose one of"),
    ("n_tset", [1, 2], r"n_tset=\[1, 2\]: not a parameter of this chapter"),
    ("limt", None, "limt=None: not a parameter of this chapter"),
])
def test_a_parameter_of_another_type_in_the_namespace_is_checked_not_skipped(name, value, message):
    """papermill -y puts lists and None into the notebook; the recorder reads its parameters from globals()."""
    with pytest.raises(chapter.ParameterError, match=message):
        chapter.recorder("movenet", "movenet", {"n_test": 3, name: value, "np": object(), "In": [""], "Out": {}})
