"""Published card figures as data: each value appears in the card text; tables render missing cells."""

import re
from pathlib import Path

import pytest

from zoo_helpers import tables
from zoo_helpers.evaluation import model_catalog

CARDS = Path(__file__).resolve().parents[2] / "shared" / "model_cards"


@pytest.fixture(scope="module")
def movenet_card():
    path = CARDS / "movenet.md"
    if not path.exists():
        pytest.fail(f"the model cards are expected at {CARDS}")
    return path.read_text()


def test_every_published_oks_is_in_the_card(movenet_card):
    section = movenet_card.split("### OKS on COCO Person dataset", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| [")]
    data = tables.card_data("movenet")["accuracy"]
    assert len(rows) == len(data)
    for row, line in zip(data, rows, strict=True):
        name = re.match(r"\| \[([^\]]+)\]", line).group(1)
        value = float(re.search(r"\*?([\d.]+)\s*%", line.split("|")[-2]).group(1))
        assert (row["model"], row["value"]) == (name, value)
        assert f"{row['resolution']}x{row['resolution']}x3" in line
        assert (row["keypoints"] == 13) == line.split("|")[-2].strip().startswith("*")


def test_every_published_npu_time_is_in_the_card(movenet_card):
    section = movenet_card.split("### Reference **NPU**  inference time", 1)[1].split("###", 1)[0]
    for row in tables.card_data("movenet")["npu_inference_ms"]:
        hits = [line for line in section.splitlines() if f"| {row['ms']:.2f} " in line.replace("  ", " ")
                or f" {row['ms']} " in line]
        assert hits, f"{row} not in the card"


def test_catalog_keys_exist():
    for row in tables.card_data("movenet")["accuracy"]:
        assert row["catalog"] is None or row["catalog"] in model_catalog()


def test_table_explains_missing_cells():
    t = tables.accuracy_table("movenet", {"st_movenet_heatmaps_192": {"value": 0.5012, "people": 12, "images": 4,
                                                                 "source": "host CPU"}}, "not mirrored")
    st = t[t["model"] == "ST MoveNet Lightning heatmaps per-channel"].iloc[0]
    got = (st["measured ST mean OKS (%)"], st["scored on"], st["measured on"])
    assert got == ("50.12", "12 people / 4 images", "host CPU")
    thunder = t[t["model"] == "MoveNet Thunder"].iloc[0]
    assert thunder["measured ST mean OKS (%)"] == "—" and thunder["scored on"] == "not mirrored"
    assert "ST mean OKS" in t.attrs["caption"]


def test_yolo_figures_are_in_their_sources():
    overview = (CARDS / "pose_estimation_overview.md").read_text()
    study = (CARDS.parent / "reference" / "st_services_study.md").read_text()
    data = tables.card_data("yolov8n_pose")
    for row in data["accuracy"]:
        text = overview if row["from"] == "card" else study
        assert f"{row['value']:.2f}" in text, row
    for row in data["overview"]:
        line = next(line for line in overview.splitlines() if line.startswith(f"| {row['model']} "))
        for key in ("map50", "maccs_m", "activation_ram_kib", "weights_flash_kib"):
            assert str(row[key]) in line, (row["model"], key)
    study_53 = study.split("### 5.3", 1)[1].split("## 6.", 1)[0]
    for row in data["npu_footprint_kib"]:
        assert f"| YOLOv8n-pose {row['resolution']} | {row['internal_ram']} | 0 | {row['weights']} |" in study_53
    for row in data["npu_inference_ms"]:
        assert f"| YOLOv8n-pose {row['resolution']} | {row['ms']} |" in study_53
    for row in data["mpu_inference_ms"]:
        assert f"| YOLOv8n-pose {row['resolution']} | {row['per_channel']} | {row['per_tensor']} |" in study_53
