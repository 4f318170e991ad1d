"""COCO loader on the real mmpose sample, ST's subset rule, 17->13 mapping, robust image reading."""

import numpy as np
import pytest
from PIL import Image

from zoo_helpers.cards import singlepose
from zoo_helpers.evaluation import datasets, photos
from zoo_helpers.registry import keypoints
from zoo_helpers.registry.assets import fetch


@pytest.fixture(scope="module")
def coco(mirror):
    ann = fetch("mmpose_coco_annotations")
    return datasets.load_coco_keypoints(ann, ann.parent)


def test_loader_and_rules(coco):
    assert len(coco) == 4 and sum(len(p) for p in coco.people.values()) == 14
    subset = datasets.st_single_pose_subset(coco)
    assert [p.image_id for p in subset] == [785]  # the only image with exactly one person
    people = datasets.person_samples(coco)
    assert len(people) == 12  # two annotations have no labelled keypoint


def test_st13_mapping():
    kp = np.zeros((17, 3))
    kp[0] = [10, 10, 2]
    kp[3] = [20, 30, 1]
    kp[5:] = np.c_[np.arange(12), np.arange(12), np.full(12, 2)]
    st = keypoints.layout("st13").convert(kp, "coco17")
    assert st.shape == (13, 3) and st[0].tolist() == [15.0, 20.0, 2.0]
    assert np.array_equal(st[1:], kp[5:])
    assert keypoints.layout("st13").convert(np.zeros((17, 3)), "coco17")[0, 2] == 0


def test_odd_images_are_read_or_rejected(mirror, tmp_path):
    gray = tmp_path / "gray.png"
    Image.fromarray(np.full((4, 5), 77, np.uint8)).save(gray)
    rgba = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([np.full((4, 5, 3), 200, np.uint8), np.full((4, 5), 0, np.uint8)])).save(rgba)
    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 5), 65535, np.uint16)).save(deep)
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(fetch("mmpose_coco_000000000785").read_bytes()[:2000])
    assert datasets.read_image(gray)[0, 0].tolist() == [77, 77, 77]
    assert datasets.read_image(rgba)[0, 0].tolist() == [0, 0, 0]
    assert datasets.read_image(deep)[0, 0].tolist() == [255, 255, 255]
    with pytest.raises(datasets.ImageError, match="corrupt.jpg"):
        datasets.read_image(corrupt)


def test_one_bad_file_never_stops_an_evaluation(coco, tmp_path):
    for name in ("000000000785.jpg", "000000040083.jpg", "000000196141.jpg"):
        (tmp_path / name).symlink_to(coco.image_dir / name)
    (tmp_path / "000000197388.jpg").write_bytes(b"not a jpeg")
    broken = datasets.CocoKeypoints(coco.images, coco.people, tmp_path, coco.raw)
    samples = singlepose.prepare_samples(broken, (192, 192), "person_crops")
    assert len(samples) == 7 and len(samples.skipped) == 1 and "000000197388.jpg" in samples.skipped[0]
    full = singlepose.prepare_samples(coco, (192, 192), "person_crops", workers=1)
    kept = [i for i, p in enumerate(full.truth) if coco.images[p.image_id]["file_name"] != "000000197388.jpg"]
    assert [p.ann_id for p in samples.truth] == [full.truth[i].ann_id for i in kept]
    assert np.array_equal(samples.images, full.images[kept])  # the hole left by the bad image is closed up
    assert samples.transforms == [full.transforms[i] for i in kept]


@pytest.mark.parametrize("field,value,message", [
    ("keypoints", "nan", "holds NaN"),
    ("keypoints", "negative", "negative coordinate"),
    ("keypoints", "visibility", r"visibility \[-1.0\]"),
    ("keypoints", "short", "has 48 values, expected 3 x 17"),
    ("keypoints", "strings", "must be a list of numbers"),
    ("bbox", None, "field 'bbox' is missing"),
])
def test_broken_ground_truth_is_named_at_load_time(coco, tmp_path, field, value, message):
    import json

    raw = json.loads(coco.annotations.read_text())
    ann = next(a for a in raw["annotations"] if a.get("num_keypoints", 0) > 2)
    kp = list(ann["keypoints"])
    labelled = next(i for i in range(0, len(kp), 3) if kp[i + 2] > 0)
    if value == "nan":
        kp[labelled] = float("nan")
    elif value == "negative":
        kp[labelled] = -5
    elif value == "visibility":
        kp[labelled + 2] = -1
    elif value == "short":
        kp = kp[:48]
    elif value == "strings":
        kp = [str(v) for v in kp]
    if field == "bbox":
        del ann["bbox"]
    else:
        ann["keypoints"] = kp
    bad = tmp_path / "person_keypoints.json"
    bad.write_text(json.dumps(raw))  # json writes NaN as NaN, which Python's reader accepts
    with pytest.raises(datasets.AnnotationError, match=f"person_keypoints.json, annotation {ann['id']}: .*{message}"):
        datasets.load_coco_keypoints(bad, coco.image_dir)


def test_calibration_images_are_never_evaluation_images(mirror):
    from zoo_helpers.registry import assets

    calibration = {assets.lookup(n).sha256 for n in photos.calibration_assets()}
    evaluated = {a.sha256 for name, a in assets.registry().items() if name.startswith(
        ("mmpose_coco_", "mmpose_freihand_", "mmpose_onehand10k_", "mmpose_panoptic_", "mmpose_300w_", "mmpose_wflw_"))}
    assert len(calibration) == 25 and not calibration & evaluated
    images = photos.calibration_images("", 3, (192, 192))
    assert images.shape == (3, 192, 192, 3) and images.dtype == np.uint8
    with pytest.raises(ValueError, match="hold 25 images; set calib_dir"):
        photos.calibration_images("", 26, (192, 192))


def _broken_annotations(coco, tmp_path, edit):
    """The sample's annotation file with ``edit(raw)`` applied, beside nothing: its path."""
    import json

    raw = json.loads(coco.annotations.read_text())
    edit(raw)
    bad = tmp_path / "person_keypoints.json"
    bad.write_text(json.dumps(raw))
    return bad


def _first_person(raw):
    return next(a for a in raw["annotations"] if a.get("num_keypoints", 0) > 2)


@pytest.mark.parametrize("edit,message", [
    (lambda raw: _first_person(raw).pop("id"), r"annotation at index \d+: field 'id' is missing"),
    (lambda raw: _first_person(raw).pop("image_id"), r"annotation \d+: field 'image_id' is missing"),
    (lambda raw: _first_person(raw).update(image_id="abc"), r"annotation \d+: field 'image_id' must be a whole "
                                                            "number, got 'abc'"),
    (lambda raw: raw["images"][1].pop("file_name"), r"image \d+: field 'file_name' must be the image's file name"),
    (lambda raw: raw["images"][2].pop("id"), "image at index 2: field 'id' is missing"),
    (lambda raw: raw["images"][2].update(id="abc"), "image at index 2: field 'id' must be a whole number, got 'abc'"),
    (lambda raw: _first_person(raw).update(area="big"), r"annotation \d+: field 'area' must be a number"),
    (lambda raw: raw["categories"][0].update(keypoints=[f"point {i}" for i in range(21)]),
     r"annotation \d+: field 'keypoints' has 51 values, expected 3 x 21 \(x, y, visibility per point: category 1 "
     r"\('person'\) of person_keypoints.json names 21 keypoints\)"),
])
def test_an_annotation_file_without_a_field_it_needs_is_named_with_the_entry_and_field(coco, tmp_path, edit, message):
    bad = _broken_annotations(coco, tmp_path, edit)
    with pytest.raises(datasets.AnnotationError, match=f"person_keypoints.json, {message}"):
        datasets.load_coco_keypoints(bad, coco.image_dir)


def _coco_dir(coco, folder, edit=lambda raw: None, images=None):
    """A ``coco_dir`` (val2017 layout) of the sample: its annotation file with ``edit``, ``images`` (name -> bytes,
    ``None`` for a missing one) instead of the real files where given."""
    import json

    raw = json.loads(coco.annotations.read_text())
    edit(raw)
    (folder / "annotations").mkdir(parents=True)
    (folder / "annotations" / "person_keypoints_val2017.json").write_text(json.dumps(raw))
    (folder / "val2017").mkdir()
    for im in raw["images"]:
        content = (images or {}).get(im["file_name"], (coco.image_dir / im["file_name"]).read_bytes())
        if content is not None:
            (folder / "val2017" / im["file_name"]).write_bytes(content)
    return folder


def test_a_coco_dir_whose_people_are_all_crowd_is_refused_when_it_is_read(coco, tmp_path):
    def all_crowd(raw):
        for a in raw["annotations"]:
            a["iscrowd"] = 1

    folder = _coco_dir(coco, tmp_path / "crowd", all_crowd)
    with pytest.raises(datasets.AnnotationError, match=r"coco_dir='.*crowd': annotations/person_keypoints_val2017.json "
                                                       r"has no usable person \(14 person annotations on its 4 "
                                                       r"images, 14 of them crowd regions"):
        datasets.load_coco(folder)
    assert len(datasets.load_coco(_coco_dir(coco, tmp_path / "fine"))) == 4


def test_a_coco_dir_is_checked_fully_up_front(coco, tmp_path):
    good = datasets.check_coco_dir(_coco_dir(coco, tmp_path / "good"))
    assert len(good) == 4 and sum(len(p) for p in good.people.values()) == 14
    names = sorted(im["file_name"] for im in coco.images.values())
    cut = (coco.image_dir / names[2]).read_bytes()
    broken = _coco_dir(coco, tmp_path / "broken", images={names[0]: None, names[1]: b"not a jpeg",
                                                          names[2]: cut[: len(cut) // 2]})
    listed = "annotations/person_keypoints_val2017.json lists"
    with pytest.raises(datasets.ImageError, match=rf"coco_dir='.*broken': 3 of the 4 images {listed} cannot be read "
                                                  rf"from .*val2017: {names[0]} \(missing\); {names[1]} \(cannot "
                                                  rf"identify.*; {names[2]} \(truncated: no JPEG end-of-image"):
        datasets.check_coco_dir(broken)
    assert datasets.check_coco_dir("") is None
