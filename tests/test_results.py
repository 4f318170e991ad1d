"""Result records: written as they are made, read back, COCO results files pycocotools reads, tables from records."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from zoo_helpers import results, runtime
from zoo_helpers.book import chapter, overview, tables
from zoo_helpers.cards import loop
from zoo_helpers.evaluation import datasets
from zoo_helpers.registry import catalog


@pytest.fixture(scope="module")
def coco(mirror):
    return datasets.load_coco()


def test_an_evaluation_becomes_a_record_and_a_coco_results_file(coco, tmp_path):
    from pycocotools.coco import COCO

    rec = results.Recorder("movenet", "movenet", {"variant": "movenet_lightning_192", "limit": 0}, tmp_path)
    runs = loop.evaluate_catalog(coco, ["movenet_lightning_192", "movenet_thunder_256"], recorder=rec)
    assert list(runs) == ["movenet_lightning_192"]  # Thunder needs a download: not run, not recorded
    [record] = results.load(tmp_path, "movenet")
    ev = runs["movenet_lightning_192"]
    assert record.metrics == ev.metrics and (record.samples, record.images) == (12, 4)
    assert record.variant == "published int8" and record.kind == "person_crops" and record.measured_on == "host CPU"
    assert record.model_sha256 == assets_sha("movenet_lightning_192")
    assert record.data["annotations_sha256"] == "6dbaa1cc67f0bbe7a761abbaeb7e639c91aacbfc7e34dba146352303a528628f"
    assert record.parameters == {"variant": "movenet_lightning_192", "limit": 0}
    assert record.versions["numpy"] == np.__version__ and record.time
    gt = COCO(str(coco.annotations))
    dt = gt.loadRes(str(rec.coco_results_path("movenet_lightning_192", "published int8")))
    assert len(dt.anns) == 12 and {a["image_id"] for a in dt.anns.values()} == set(coco.images)


def assets_sha(key):
    from zoo_helpers.registry.assets import lookup

    return lookup(catalog.entry(key).asset).sha256


def test_tables_render_records(coco, tmp_path):
    rec = results.Recorder("yolov8n_pose", "yolov8n_pose", {}, tmp_path)
    loop.evaluate_catalog(coco, ["yolov8n_pose_256_pc", "yolov8n_pose_256_pt"], loop.Options(limit=2),
                               recorder=rec)
    shown = tables.metrics_table(rec.records)
    assert list(shown.index) == ["yolov8n_pose_256_pc", "yolov8n_pose_256_pt"]
    want = 100 * rec.records[0].metrics["ST mAP@0.5"]
    assert shown.loc["yolov8n_pose_256_pc", "ST mAP@0.5 (%)"] == pytest.approx(want, abs=0.005)
    card = tables.accuracy_table("yolov8n_pose", rec.records)
    pt = card[card["model"] == "YOLOv8n-pose per-tensor"].iloc[0]
    assert pt["measured ST mAP@0.5 (%)"] == pytest.approx(100 * rec.records[1].metrics["ST mAP@0.5"])
    assert pt["measured on"] == "host CPU, fit"
    diff = tables.difference("yolov8n_pose", rec.records, "yolov8n_pose_256_pc", "yolov8n_pose_256_pt")
    assert "51.06 - 48.43 = 2.63 (card)" in diff.loc["ST mAP@0.5", "published difference (points)"]


def test_overview_reuses_only_matching_chapter_records(coco, tmp_path):
    chapter = results.Recorder("yolov8n_pose", "yolov8n_pose", {"limit": 2, "nms_iou": 0.1}, tmp_path)
    loop.evaluate_catalog(coco, ["yolov8n_pose_256_pc"], loop.Options(limit=2), recorder=chapter)
    own = results.Recorder("overview", "overview", {}, tmp_path)
    found = loop.evaluate_or_reuse(coco, ["yolov8n_pose_256_pc", "movenet_lightning_192"],
                                        loop.Options(limit=2), own, str(tmp_path))
    assert found["yolov8n_pose_256_pc"].notebook == "yolov8n_pose"  # same data, kind and options: reused
    assert found["movenet_lightning_192"].notebook == "overview"    # no chapter record: measured here
    other = loop.evaluate_or_reuse(coco, ["yolov8n_pose_256_pc"], loop.Options(limit=3),
                                        results.Recorder("overview", "overview", {}, tmp_path / "o"), str(tmp_path))
    assert other["yolov8n_pose_256_pc"].notebook == "overview"      # another limit: not the same measurement


def test_records_are_whole_files_and_bad_ones_are_named(tmp_path):
    rec = results.Recorder("m", "movenet", {}, tmp_path)
    rec.add("k", "published int8", {"ST mean OKS": 0.5}, samples=1, images=1, data={})
    rec.add("k", "published int8", {"ST mean OKS": 0.6}, samples=1, images=1, data={})  # same slug: replaced
    assert [r.metrics["ST mean OKS"] for r in results.load(tmp_path)] == [0.6] and len(rec.records) == 1
    assert not list(tmp_path.rglob("*.tmp"))
    (tmp_path / "m" / "broken.json").write_text(json.dumps({"notebook": "m"}))
    with pytest.raises(ValueError, match="broken.json is not a result record"):
        results.load(tmp_path)
    with pytest.raises(ValueError, match="measured-on label must start with"):
        results.Recorder("m", "movenet", {}, tmp_path, measured_on="my laptop")


@pytest.mark.parametrize("where", ["a file", "/proc"])
def test_an_unwritable_results_dir_is_named_when_the_recorder_is_made(tmp_path, where):
    folder = tmp_path / "file" if where == "a file" else "/proc/zoo-results"
    if where == "a file":
        folder.write_text("")
    with pytest.raises(OSError, match=re.escape(f"results_dir '{folder}' is not a folder records can be written "
                                                "to: cannot write ")) as err:
        results.Recorder("m", "movenet", {}, folder)
    assert isinstance(err.value, results.ResultsDirError)
    with pytest.raises(OSError, match="Set results_dir"):  # the chapters' Setup cell: before any measurement
        chapter.recorder("movenet", "movenet", {"sample_mode": "person_crops"}, folder)


def test_a_chapter_recorder_checks_the_namespace_it_is_given(tmp_path):
    ns = {"variant": "movenet_heatmaps_192", "n_test": 0, "_i1": "code", "In": [], "np": np, "rec": object()}
    rec = chapter.recorder("movenet", "movenet", ns, tmp_path)
    assert rec.parameters == {"variant": "movenet_heatmaps_192", "n_test": 0}
    with pytest.raises(ValueError, match="n_test=-1"):
        chapter.recorder("movenet", "movenet", dict(ns, n_test=-1), tmp_path)


def test_work_dir_is_emptied_and_reused():
    first = results.work_dir("pytest-work")
    (first / "leftover.onnx").write_text("x")
    again = results.work_dir("pytest-work")
    assert again == first and not list(again.iterdir())
    assert "_build" in again.parts  # inside the checkout's build folder, not the system temp dir


def test_footprint_records_carry_tflm_arena_and_the_n6_table_shows_it(tmp_path):
    from zoo_helpers.runtime import tflm

    rec = results.Recorder("hand_landmarks", "hand_landmarks", {}, tmp_path)
    [r] = loop.measure_models({"st_hand_landmarks_224": runtime.load("st_hand_landmarks_224")}, 2, rec)
    want = tflm.arena(catalog.path("st_hand_landmarks_224"))
    assert r.metrics[results.TFLM_ARENA["head"]] == pytest.approx(want["head"] / 1024)
    table = tables.footprint("hand_landmarks", "npu_footprint", rec.records)
    assert table.loc[0, tables.ARENA_COLUMN] == f"{want['head'] / 1024:,.1f} + {want['tail'] / 1024:,.1f}"
    onnx = loop.measure_models({"st_face_landmarks_192": runtime.load("st_face_landmarks_192")}, 2, rec)
    assert results.TFLM_ARENA["head"] not in onnx[0].metrics  # TFLM runs .tflite files only


def test_a_re_scored_file_keeps_what_only_the_first_record_measured(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"same file")
    rec = results.Recorder("movenet", "movenet", {}, tmp_path / "r")
    data = {"annotations_sha256": "a"}
    rec.add("k", "published int8", {"OKS": 0.7, "agreement with float (%)": 60.0}, samples=12, images=4, data=data,
            model=model, kind="crops")
    rec.add("k", "published int8", {"OKS": 0.71}, samples=12, images=4, data=data, model=model, kind="crops")
    [kept] = results.load(tmp_path / "r", "movenet")
    assert kept.metrics == {"OKS": 0.71, "agreement with float (%)": 60.0}
    rec.add("k", "published int8", {"OKS": 0.5}, samples=40, images=9, data=data, model=model, kind="crops")
    [other] = results.load(tmp_path / "r", "movenet")  # other samples: nothing carried over
    assert other.metrics == {"OKS": 0.5}


def test_records_keep_per_sample_scores_and_the_split(tmp_path):
    rec = results.Recorder("movenet", "movenet", {}, tmp_path)
    scores, images = [0.5, float("nan"), 0.9], [7, 7, 8]
    dev = rec.add("k", "published int8", {"ST mean OKS": 0.7}, samples=3, images=2, data={"data": "x"},
                  split="dev", per_sample={"ST OKS": scores}, sample_images=images)
    rec.add("k", "published int8", {"ST mean OKS": 0.6}, samples=3, images=2, data={"data": "x"}, split="test",
            per_sample={"ST OKS": [0.1, 0.2, 0.3]}, sample_images=images)
    assert dev.slug.endswith("--dev") and len(rec.records) == 2  # dev and test do not replace each other
    text = (tmp_path / "movenet" / f"{dev.slug}.json").read_text()
    assert "NaN" not in text  # strict JSON: a sample with nothing to score is null
    [back] = [r for r in results.load(tmp_path, "movenet") if r.split == "dev"]
    assert back.per_sample["ST OKS"] == [0.5, None, 0.9] and back.sample_images == images
    with pytest.raises(ValueError, match="differ in length"):
        rec.add("k", "v", {"m": 1.0}, samples=3, images=2, data={}, per_sample={"m": [1.0]}, sample_images=images)


def test_records_written_before_splits_still_load(tmp_path):
    old = {"notebook": "m", "card": "movenet", "key": "k", "variant": "v", "metrics": {"x": 1.0}, "samples": 1,
           "images": 1, "data": {}, "parameters": {}, "measured_on": "host CPU"}
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "k--v.json").write_text(json.dumps(old))
    [r] = results.load(tmp_path, "m")
    assert (r.split, r.per_sample, r.sample_images) == ("", {}, [])


def test_perf_files_carry_published_and_measured_figures_with_source_interval_and_command(tmp_path):
    import yaml

    from zoo_helpers.book import perf

    scores = [1.0, 0.0, 1.0, 1.0] * 10
    rec = results.Record("yolov8n_pose", "yolov8n_pose", "yolov8n_pose_256_pc", "published int8",
                         {"ST mAP@0.5": 0.75}, 40, 40, {}, {}, "host CPU", kind="fit, COCO", split="test",
                         per_sample={"ST mAP@0.5": scores}, sample_images=list(range(40)),
                         command="papermill notebooks/yolov8n_pose.ipynb out.ipynb -k python3")
    [path] = perf.export([rec], tmp_path, ["yolov8n_pose_256_pc"])
    data = yaml.safe_load(path.read_text())
    component = data["precisions"]["int8 per-channel"]["components"]["YOLOv8n-pose 256 per-channel"]
    board = component["performance_metrics"]["STM32N6570-DK"]
    assert board["st_edge_ai_core 4.1"]["inference_time_milliseconds"] == 31.31  # the 4.1 card's line
    assert board["st_edge_ai_core seed"]["inference_time_milliseconds"] == 35.8  # the seed figure
    measured = [a for a in component["accuracy_metrics"]["ST mAP@0.5"] if a["source"] == "measured"]
    assert measured[0]["value"] == 75.0 and measured[0]["ci_low"] < 75.0 < measured[0]["ci_high"]
    assert measured[0]["command"].startswith("papermill notebooks/yolov8n_pose.ipynb")
    assert {a["release"] for a in component["accuracy_metrics"]["ST mAP@0.5"] if a["source"] == "published"} == {
        "seed", "4.1"}
    assert data["supported_devices"] == ["STM32N6570-DK"]


def test_every_record_keeps_the_command_that_reproduces_it(tmp_path):
    rec = results.Recorder("movenet", "movenet", {"n_test": 20, "sample_mode": "person_crops"}, tmp_path)
    r = rec.add("k", "v", {"x": 1.0}, samples=1, images=1, data={})
    assert r.command == ("papermill notebooks/movenet.ipynb _build/rerun/movenet.ipynb -k python3 "
                         "-p n_test 20 -p sample_mode person_crops")
    assert results.load(tmp_path)[0].command == r.command
    assert tables.reproduce([r]).loc[0, "command"] == r.command


def _stored_record(folder, **changes):
    """A record file as a Recorder writes it, with ``changes`` to its fields."""
    r = results.Recorder("m", "movenet", {"limit": 0}, folder).add(
        "k", "published int8", {"ST mean OKS": 0.5}, samples=1, images=1, data={"data": "x"})
    path = folder / "m" / f"{r.slug}.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return path


@pytest.mark.parametrize("field,value,message", [
    ("metrics", "0.5", "field 'metrics' must be a JSON object, got str"),
    ("metrics", {"ST mean OKS": "high"}, "field 'metrics' must be names with numbers, got 'ST mean OKS'"),
    ("data", ["mmpose"], "field 'data' must be a JSON object, got list"),
    ("time", 1700000000, "field 'time' must be a JSON string, got int"),
    ("parameters", None, "field 'parameters' must be a JSON object, got NoneType"),
    ("samples", "12", "field 'samples' must be a JSON whole number, got str"),
    ("per_sample", {"ST OKS": "0.5"}, "field 'per_sample' must be names with lists of numbers"),
    ("colour", "red", "unknown field 'colour'"),
])
def test_a_fuzzed_record_is_refused_naming_its_file_and_field(tmp_path, field, value, message):
    path = _stored_record(tmp_path, **{field: value})
    with pytest.raises(ValueError, match=f"{re.escape(str(path))} is not a result record: {message}") as err:
        results.load(tmp_path)
    assert isinstance(err.value, results.RecordError)


def test_a_record_file_that_is_not_an_object_is_named(tmp_path):
    path = _stored_record(tmp_path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=f"{re.escape(str(path))} is not a result record: .*JSON list"):
        results.load(tmp_path)


def test_two_runs_of_one_chapter_at_once_write_the_same_record_without_a_race(tmp_path, monkeypatch):
    import os
    import threading

    runs = [results.Recorder("m", "movenet", {"run": n}, tmp_path) for n in range(2)]
    both_written = threading.Barrier(2, timeout=20)
    replace = os.replace

    def replace_when_both_have_written(src, dst):  # both runs' files are written before either is moved
        both_written.wait()
        replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_when_both_have_written)
    errors = []

    def run(rec):
        try:
            rec.add("k", "published int8", {"ST mean OKS": 0.5}, samples=1, images=1, data={})
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(rec,)) for rec in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    monkeypatch.undo()
    assert errors == []
    [record] = results.load(tmp_path)
    assert record.parameters in ({"run": 0}, {"run": 1})  # one whole record, the last one moved in
    assert [p.name for p in (tmp_path / "m").iterdir()] == [f"{record.slug}.json"]


def test_a_full_disk_leaves_neither_the_record_nor_its_coco_file(tmp_path):
    from conftest import file_size_limit

    rec = results.Recorder("movenet", "movenet", {}, tmp_path)
    coco_results = [{"image_id": i, "category_id": 1, "keypoints": [1.5] * 51, "score": 0.9} for i in range(400)]
    assert len(json.dumps(coco_results)) > 64 * 1024  # the COCO file does not fit, the record would
    with file_size_limit(64 * 1024), pytest.raises(OSError, match="no space left there.*the record was not written"):
        rec.add("k", "published int8", {"ST mean OKS": 0.5}, samples=1, images=1, data={},
                coco_results=coco_results)
    assert list((tmp_path / "movenet").iterdir()) == [] and rec.records == []  # no record, no COCO file, no temp
    rec.add("k", "published int8", {"ST mean OKS": 0.5}, samples=1, images=1, data={}, coco_results=coco_results)
    assert sorted(p.name for p in (tmp_path / "movenet").iterdir()) == [
        "k--published-int8.coco.json", "k--published-int8.json"]  # with room: both


def test_records_carry_the_id_of_the_code_that_made_them(tmp_path):
    r = results.Recorder("m", "movenet", {}, tmp_path / "r").add("k", "v", {"x": 1.0}, samples=1, images=1, data={})
    assert r.code == results.code_id() == results.content_id(Path(results.__file__).parent)
    assert results.load(tmp_path / "r")[0].code == r.code

    tree = tmp_path / "pkg"  # what the id covers: .py files and the data folder, by path and content
    for rel, text in {"a.py": "x = 1", "sub/b.py": "y = 2", "data/t.yaml": "k: 1", "notes.txt": "n",
                      "__pycache__/a.pyc": "c"}.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(text)
    first = results.content_id(tree)
    (tree / "notes.txt").write_text("other notes")
    (tree / "__pycache__" / "a.pyc").write_text("other bytecode")
    assert results.content_id(tree) == first  # neither code nor data
    for rel, text in {"sub/b.py": "y = 3", "data/t.yaml": "k: 2"}.items():
        old = (tree / rel).read_text()
        (tree / rel).write_text(text)
        assert results.content_id(tree) != first, rel
        (tree / rel).write_text(old)
    assert results.content_id(tree) == first
    (tree / "sub" / "b.py").rename(tree / "sub" / "c.py")  # the same bytes under another name
    assert results.content_id(tree) != first


def _reused_setup(coco, folder):
    """A YOLOv8n-pose chapter's record (2 images) under ``folder``; the path of its file."""
    chapter_rec = results.Recorder("yolov8n_pose", "yolov8n_pose", {"limit": 2}, folder)
    loop.evaluate_catalog(coco, ["yolov8n_pose_256_pc"], loop.Options(limit=2), recorder=chapter_rec)
    return folder / "yolov8n_pose" / f"{chapter_rec.records[0].slug}.json"


DROP = object()


def _forge(path, notebook, **changes):
    """A copy of record ``path`` made by ``notebook``, newer than it, with ``changes`` (``DROP``: without the field);
    its path."""
    payload = {**json.loads(path.read_text()), "notebook": notebook, "time": "9999-01-01T00:00:00+00:00", **changes}
    payload = {k: v for k, v in payload.items() if v is not DROP}
    out = path.parent.parent / notebook / path.name
    out.parent.mkdir()
    out.write_text(json.dumps(payload))
    return out


def test_the_overview_never_reuses_a_record_of_another_model_file(coco, tmp_path):
    real = _reused_setup(coco, tmp_path)
    other = assets_sha("movenet_lightning_192")
    _forge(real, "forged", model_file="movenet_lightning.tflite", model_sha256=other, metrics={"ST mAP@0.5": 0.99})
    found = loop.evaluate_or_reuse(coco, ["yolov8n_pose_256_pc"], loop.Options(limit=2),
                                   results.Recorder("overview", "overview", {}, tmp_path), str(tmp_path))
    assert found["yolov8n_pose_256_pc"].notebook == "yolov8n_pose"  # the real record, not the newer forged one
    assert found["yolov8n_pose_256_pc"].metrics["ST mAP@0.5"] != 0.99


@pytest.mark.parametrize("change,reason", [
    ({"code": DROP, "versions": {"zoo-helpers": "0.0.1"}}, "made by other code (code id none, this code "),
    ({"metrics": {"ST mAP@0.5": float("nan")}}, "ST mAP@0.5 is nan, not a measurement"),
    ({"data": {"annotations_sha256": "0" * 64}}, "other data (annotations sha256 000000000000"),
    ({"parameters": {"limit": 3}}, "another limit (3, here 2)"),
    ({"model_file": "yolov8n_pose_256_int8_pt.tflite"}, "another model file (yolov8n_pose_256_int8_pt.tflite"),
])
def test_the_overview_measures_anew_and_says_why_a_record_was_not_reused(coco, tmp_path, change, reason):
    real = _reused_setup(coco, tmp_path / "chapter")
    forged = _forge(real, "older", **change)
    real.unlink()  # only the record that does not match is there
    own = results.Recorder("overview", "overview", {}, tmp_path / "chapter")
    found = loop.evaluate_or_reuse(coco, ["yolov8n_pose_256_pc"], loop.Options(limit=2), own, str(tmp_path / "chapter"))
    assert found["yolov8n_pose_256_pc"].notebook == "overview"  # measured here
    why = found.not_reused["yolov8n_pose_256_pc"]
    assert why.startswith(f"{forged}: ") and reason in why
    row = overview.table(list(found.values()), found.not_reused).set_index("catalog").loc["yolov8n_pose_256_pc"]
    assert row["accuracy from"] == f"overview (host CPU); not reused: {why}"
    assert row["measured accuracy (%)"] == pytest.approx(100 * found["yolov8n_pose_256_pc"].metrics["ST mAP@0.5"],
                                                         abs=0.005)


def test_the_overview_never_shows_a_nan_as_a_measurement(tmp_path):
    rec = results.Recorder("yolov8n_pose", "yolov8n_pose", {}, tmp_path)
    r = rec.add("yolov8n_pose_256_pc", "published int8", {"ST mAP@0.5": float("nan")}, samples=2, images=2, data={})
    [back] = results.load(tmp_path)
    row = overview.table([back]).set_index("catalog").loc["yolov8n_pose_256_pc"]
    assert row["measured accuracy (%)"] is None
    path = tmp_path / "yolov8n_pose" / f"{r.slug}.json"
    assert row["accuracy from"] == f"yolov8n_pose: ST mAP@0.5 is nan in {path}, not shown"
