"""NPU placement on real model files: the rules file's form, MACs, known epoch lists and the MP2 card verdicts."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from zoo_helpers.deploy import placement
from zoo_helpers.registry import catalog, published
from zoo_helpers.runtime import footprint

LOCAL_TFLITE = ["st_movenet_heatmaps_192", "movenet_heatmaps_192", "movenet_lightning_192", "yolov8n_pose_192",
                "yolov8n_pose_256_pc", "yolov8n_pose_256_pt", "st_hand_landmarks_224", "mediapipe_hand_landmark_full"]
ALL_LOCAL = [*LOCAL_TFLITE, "st_face_landmarks_192"]
FLOAT_ONLY = "mediapipe_hand_landmark_full"  # no integer weights: no per-tensor or per-channel verdict


@pytest.fixture(scope="module")
def placed(mirror):
    return {key: placement.place(catalog.path(key)) for key in ALL_LOCAL}


def test_rules_file_is_well_formed():
    data = placement.rules()
    keys = {"id", "ops", "when", "flag", "unit", "reason", "built_from", "evidence", "inferred"}
    ids = [r["id"] for rs in data["rules"].values() for r in rs]
    assert len(ids) == len(set(ids)), "duplicate rule ids"
    for target, rs in data["rules"].items():
        for r in rs:
            assert set(r) <= keys and {"id", "unit", "reason", "built_from", "evidence", "inferred"} <= set(r), r
            assert r["unit"] in [*data["targets"][target]["units"], "folded"], r["id"]
            assert r["built_from"] and set(r["built_from"]) <= set(data["sources"]), r["id"]
            assert r["evidence"] in ("seen", "seen-3p", "inferred") and r["inferred"] == (r["evidence"] == "inferred")
            assert all(g[1:] in data["groups"] for g in r.get("ops", []) if g.startswith("@")), r["id"]
            assert isinstance(r["reason"], str) and len(r["reason"]) > 10, r["id"]


@pytest.mark.parametrize("key", ALL_LOCAL)
def test_per_operator_macs_add_up_to_the_footprint_count(placed, key):
    p = placed[key]
    assert sum(o.macs for o in p.operators) == footprint.analyze(p.path).maccs > 0
    assert [o.index for o in p.operators] == list(range(len(p.operators)))  # nothing dropped


@pytest.mark.parametrize("key", ALL_LOCAL)
def test_shares_sum_to_one_per_target(placed, key):
    summary = placed[key].summary()
    assert set(summary) == {"n6", "mp2", "mp1"} and summary["mp1"] == {"cpu": 1.0}  # no NPU or GPU on an MP1
    for target, shares in summary.items():
        units = {o.verdicts[target].unit for o in placed[key].operators}
        assert set(shares) == {*placement.rules()["targets"][target]["units"], *({"unknown"} & units)}
        assert sum(shares.values()) == pytest.approx(1.0)


def test_st_movenet_software_epochs_on_n6_are_the_published_four(placed):
    """S21: 75 epochs = 71 HW + 4 SW, the SW ones three bilinear Resize and the final DequantizeLinear."""
    table = placed["st_movenet_heatmaps_192"].table("n6")
    assert sorted(table["op"]) == ["DEQUANTIZE", "RESIZE_BILINEAR", "RESIZE_BILINEAR", "RESIZE_BILINEAR"]
    assert set(table["unit"]) == {"mcu"} and table["MACs"].sum() == 0
    assert placed["st_movenet_heatmaps_192"].summary()["n6"] == {"npu": 1.0, "mcu": 0.0}


def test_float_model_runs_in_software_on_the_n6(placed):
    p = placed["mediapipe_hand_landmark_full"]
    assert p.summary()["n6"]["mcu"] == 1.0
    fp16 = [o for o in p.operators if o.op == "DEQUANTIZE"]  # float16 weights, decompressed once
    assert fp16 and {o.verdicts["n6"].unit for o in fp16} == {"folded"}


def test_qdq_onnx_boundary_casts_in_software_and_inner_pairs_folded(placed):
    p = placed["st_face_landmarks_192"]
    units = {(o.op, o.verdicts["n6"].unit, o.verdicts["n6"].rule) for o in p.operators}
    assert ("QuantizeLinear", "mcu", "n6.boundary-cast") in units
    assert ("DequantizeLinear", "mcu", "n6.boundary-cast-out") in units
    assert {o.verdicts["n6"].unit for o in p.operators if o.op == "Conv"} == {"npu"}
    casts = [o for o in p.operators if o.op in placement.CASTS]
    assert sum(o.verdicts["n6"].unit == "folded" for o in casts) == len(casts) - 2
    assert {o.facts.get("weights") for o in p.operators if o.op == "Conv"} == {"per-channel"}


def test_an_operator_without_a_rule_is_unknown_and_named(placed):
    data = copy.deepcopy(placement.rules())
    data["rules"]["n6"] = [r for r in data["rules"]["n6"] if r["id"] != "n6.eltwise"]
    p = placement.place(catalog.path("st_movenet_heatmaps_192"), data=data)
    unknown = p.table("n6").query("unit == 'unknown'")
    assert set(unknown["op"]) == {"ADD"} and len(unknown) == 13
    assert set(unknown["reason"]) == {"no rule for operator ADD"}
    assert "unknown" in p.summary()["n6"] and len(p.operators) == len(placed["st_movenet_heatmaps_192"].operators)
    assert "unknown" not in placed["st_movenet_heatmaps_192"].summary()["n6"]


def test_resize_and_softmax_rules_follow_the_file_and_the_flags(placed, mirror):
    nearest = {k: {o.verdicts["n6"].unit for o in placement.place(catalog.path(k)).operators
                   if o.op == "RESIZE_NEAREST_NEIGHBOR"} for k in ("yolov8n_pose_192", "yolov8n_pose_256_pt")}
    assert nearest == {"yolov8n_pose_192": {"mcu"}, "yolov8n_pose_256_pt": {"npu"}}  # half-pixel vs asymmetric
    softmax = {o.verdicts["n6"].unit for o in placed["yolov8n_pose_256_pt"].operators if o.op == "SOFTMAX"}
    expanded = placement.place(catalog.path("yolov8n_pose_256_pt"), flags=("--expand-softmax",))
    assert softmax == {"mcu"} and {o.verdicts["n6"].unit for o in expanded.operators if o.op == "SOFTMAX"} == {"npu"}


@pytest.mark.parametrize("key", [k for k in LOCAL_TFLITE if k != FLOAT_ONLY])
def test_mp2_per_tensor_files_mostly_npu_per_channel_mostly_gpu(placed, key):
    """S12: the VIP NPU takes per-tensor 8-bit only; per-channel models run mainly on the GPU (the file decides)."""
    p = placed[key]
    kinds = {o.facts.get("weights") for o in p.operators} - {None}
    mp2 = p.summary()["mp2"]
    if "per-channel" in kinds:
        assert mp2["gpu"] > 0.99
    else:
        assert kinds == {"per-tensor"} and mp2["npu"] > 0.99


def test_published_mp2_rows_beside_predictions(mirror):
    table = placement.published_mp2()
    assert len(table) == 12 and {"predicted %NPU (share of MACs)", "published %NPU (share of time)"} <= set(table)
    here = table[table["file"].isin(["mirror", "cache"])]
    assert set(here["catalog"]) >= {"st_movenet_heatmaps_192", "movenet_heatmaps_192", "movenet_lightning_192",
                                    "yolov8n_pose_256_pc", "yolov8n_pose_256_pt"}
    assert here["same majority"].all() and table.loc[~table.index.isin(here.index), "same majority"].isna().all()
    pt = here[here["card quantization"] == "per-tensor"]
    assert (pt["predicted %NPU (share of MACs)"] > 99).all() and (pt["published %NPU (share of time)"] > 80).all()
    assert (here.query("`card quantization` == 'per-channel'")["predicted %NPU (share of MACs)"] < 1).all()
    row256 = table[(table["resolution"] == 256) & (table["card quantization"] == "per-tensor")
                   & (table["card"] == "movenet")]
    assert row256["note"].item() == "the row links a per-channel file"  # the card's 256 "per-tensor" row


def test_cli_json_is_the_summary(placed):
    path = placed["yolov8n_pose_256_pc"].path
    module = [sys.executable, "-m", "zoo_helpers.deploy.placement_report"]
    done = subprocess.run([*module, str(path), "--json"], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == placed["yolov8n_pose_256_pc"].summary()
    text = subprocess.run([*module, "yolov8n_pose_256_pc"], capture_output=True,
                          text=True, check=True).stdout
    assert "STM32MP2" in text and "SOFTMAX" in text and "MAC share" in text


@pytest.fixture(scope="module")
def bad_models(mirror, tmp_path_factory):
    """Files that are not whole models, each built from a real one (or a real JPEG) of the mirror."""
    from zoo_helpers.registry.assets import fetch

    folder = tmp_path_factory.mktemp("bad_models")
    tflite, onnx = (catalog.path(k).read_bytes() for k in ("st_movenet_heatmaps_192", "st_face_landmarks_192"))
    files = {"photo.tflite": fetch("mmpose_coco_000000000785").read_bytes(), "half.tflite": tflite[:len(tflite) // 2],
             "empty.tflite": b"", "text.onnx": b"ir_version: 8\ngraph { name: 'not a model' }\n",
             "half.onnx": onnx[:len(onnx) // 2], "empty.onnx": b""}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "folder.tflite").mkdir()
    return folder


BAD = [("photo.tflite", "is not a TFLite model"), ("half.tflite", "is not a whole TFLite model"),
       ("empty.tflite", "is empty (0 bytes)"), ("text.onnx", "is not a whole ONNX model"),
       ("half.onnx", "is not a whole ONNX model"), ("empty.onnx", "is empty (0 bytes)"),
       ("missing.tflite", "model file not found"), ("no_such_folder/model", "model file not found"),
       ("folder.tflite", "is a folder, not a model file"), (".", "is a folder, not a model file")]


@pytest.mark.parametrize(("name", "what"), BAD, ids=[b[0] for b in BAD])
def test_cli_on_a_bad_model_file_says_which_and_what_in_one_line(bad_models, name, what, capsys):
    from zoo_helpers.deploy import placement_report

    path = str(bad_models / name)
    with pytest.raises(SystemExit) as stop:
        placement_report.main([path, "--json"])
    captured = capsys.readouterr()
    assert stop.value.code == 2 and captured.out == ""
    err = captured.err.strip()
    assert "\n" not in err and err.startswith("zoo-placement: error: ") and what in err, err
    assert str(bad_models / name) in err  # the file is named


def test_cli_on_a_truncated_model_has_no_traceback(bad_models):
    done = subprocess.run([sys.executable, "-m", "zoo_helpers.deploy.placement_report", str(bad_models / "half.onnx")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert str(bad_models / "half.onnx") in done.stderr


@pytest.mark.parametrize(("name", "what"), [b for b in BAD if b[0] != "."], ids=[b[0] for b in BAD if b[0] != "."])
def test_divergence_cli_on_a_bad_model_file_says_which_and_what(bad_models, name, what, capsys):
    from zoo_helpers.cards import divergence_report
    from zoo_helpers.registry.assets import fetch

    with pytest.raises(SystemExit) as stop:  # the file is checked before the (default, LiteRT) runtimes are
        divergence_report.main([str(bad_models / name), str(fetch("mmpose_coco_000000000785"))])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "\n" not in err and what in err and str(bad_models / name) in err, err


def test_every_check_names_what_checks_it_and_how_it_is_run():
    data = placement.rules()
    names = {"what", "target", "decided_by", "reported_by", "tested_by", "checked_against", "files"}
    here = open(__file__).read()
    for name, check in data["checks"].items():
        assert set(check) <= names and check["target"] in data["targets"], name
        assert check["decided_by"] in ("macs", "operators") and check["checked_against"], name
        assert {c["source"] for c in check["checked_against"]} <= set(data["sources"]), name
        for c in check["checked_against"]:
            assert "card" not in c or c["table"] in published.card_data(c["card"]), (name, c)
        assert check["tested_by"].startswith("tests/test_placement.py::"), name
        assert f"def {check['tested_by'].split('::')[1]}(" in here, name  # the named test exists
    assert data["checks"]["mp2-granularity"]["files"] == [k for k in LOCAL_TFLITE if k != FLOAT_ONLY]
    assert data["checks"]["n6-st-movenet-epochs"]["files"] == ["st_movenet_heatmaps_192"]


def test_a_rule_built_from_the_card_it_is_checked_against_is_consistency_not_agreement(mirror):
    """The MP2 per-channel rule cites the MoveNet and YOLOv8n-pose cards (S16, S17) and is checked against their
    rows; the per-tensor verdict comes from the VeriSilicon table (S15) only; the N6 epoch rules cite the
    third-party epoch list (S21) they are tested against."""
    pc = placement.provenance("mp2-card-shares", catalog.path("yolov8n_pose_256_pc"), ["S17"])
    assert pc["rules"][0] == "mp2.per-channel" and {"S16", "S17"} <= set(pc["built from"])
    assert pc["relation"] == "consistent with"
    pt = placement.provenance("mp2-card-shares", catalog.path("yolov8n_pose_256_pt"), ["S17"])
    assert pt["rules"] == ["mp2.nn"] and pt["built from"] == ["S15"] and pt["relation"] == "agrees with"
    n6 = placement.provenance("n6-st-movenet-epochs", catalog.path("st_movenet_heatmaps_192"))
    assert {"n6.resize-linear", "n6.boundary-cast-out"} <= set(n6["rules"]) and "S21" in n6["built from"]
    assert n6["checked against"] == ["S21"] and n6["relation"] == "consistent with"


def test_the_mp2_check_says_consistent_where_the_rule_came_from_the_card(mirror):
    table = placement.mp2_check()
    here = table[table["built from"] != "—"]
    assert len(here) == 5 and (table.drop(here.index)["beside the card"] == "—").all()
    for built, said in zip(here["built from"], here["beside the card"], strict=True):
        card = said.split("(")[1].split(")")[0]
        assert said.startswith("consistent with" if card in built.split(", ") else "agrees with"), (built, said)
    said = dict(zip(here["card quantization"] + " " + here["model"], here["beside the card"], strict=True))
    assert said["per-channel YOLOv8n-pose"] == "consistent with the card (S17)"
    assert said["per-tensor YOLOv8n-pose"] == "agrees with the card (S17)"
    assert said["per-channel ST MoveNet Lightning heatmaps"] == "consistent with the card (S16)"
    assert "consistent with" in table.attrs["caption"]
    checks = placement.checks()
    assert set(checks["check"]) == set(placement.rules()["checks"])
    assert (checks["relation"] == [placement.relation(b.split(", "), a.split(", "))
                                   for b, a in zip(checks["built from"], checks["checked against"], strict=True)]).all()


def test_the_mp2_check_reads_yolo_npu_shares_found_in_the_card_text(mirror):
    """The YOLOv8n-pose %NPU / %GPU rows the MP2 check compares with are read off the 4.1 card's own table line."""
    import re

    check = placement.rules()["checks"]["mp2-card-shares"]
    yolo = [c for c in check["checked_against"] if c.get("card") == "yolov8n_pose"]
    assert yolo, "the MP2 check is not checked against the YOLOv8n-pose card"
    table = published.card_data("yolov8n_pose")[yolo[0]["table"]]
    card = (Path(__file__).resolve().parents[2] / "shared" / table["file"]).read_text()  # as test_cards reads it
    section = card.split(table["section"], 1)[1]
    for row in table["rows"]:
        line = next(x for x in section.splitlines() if x.startswith("|") and all(m in x for m in row["match"]))
        numbers = {float(n) for n in re.findall(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])", line)}
        assert {row["npu_pct"], row["gpu_pct"], row["ms"]} <= numbers, (row, line)
    used = placement.published_mp2().query("card == 'yolov8n_pose'")
    assert used["published %NPU (share of time)"].tolist() == [r["npu_pct"] for r in table["rows"]]
