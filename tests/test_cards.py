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
    data = tables.card_data("movenet")["oks"]
    assert len(rows) == len(data)
    for row, line in zip(data, rows, strict=True):
        name = re.match(r"\| \[([^\]]+)\]", line).group(1)
        value = float(re.search(r"\*?([\d.]+)\s*%", line.split("|")[-2]).group(1))
        assert (row["model"], row["oks"]) == (name, value)
        assert f"{row['resolution']}x{row['resolution']}x3" in line
        assert (row["keypoints"] == 13) == line.split("|")[-2].strip().startswith("*")


def test_every_published_npu_time_is_in_the_card(movenet_card):
    section = movenet_card.split("### Reference **NPU**  inference time", 1)[1].split("###", 1)[0]
    for row in tables.card_data("movenet")["npu_inference_ms"]:
        hits = [line for line in section.splitlines() if f"| {row['ms']:.2f} " in line.replace("  ", " ")
                or f" {row['ms']} " in line]
        assert hits, f"{row} not in the card"


def test_catalog_keys_exist():
    for row in tables.card_data("movenet")["oks"]:
        assert row["catalog"] is None or row["catalog"] in model_catalog()


def test_table_explains_missing_cells():
    t = tables.oks_table("movenet", {"st_movenet_heatmaps_192": {"value": 0.5012, "people": 12, "images": 4,
                                                                 "source": "host CPU"}}, "not mirrored")
    st = t[t["model"] == "ST MoveNet Lightning heatmaps per-channel"].iloc[0]
    assert (st["measured (%)"], st["scored on"], st["measured on"]) == ("50.12", "12 people / 4 images", "host CPU")
    thunder = t[t["model"] == "MoveNet Thunder"].iloc[0]
    assert thunder["measured (%)"] == "—" and thunder["scored on"] == "not mirrored"
    assert "ST mean OKS" in t.attrs["caption"]
