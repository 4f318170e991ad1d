"""Published card figures as data: every value appears in its card line; renderers explain missing cells."""

import re
from pathlib import Path

import pandas as pd
import pytest

from zoo_helpers import results
from zoo_helpers.book import overview, tables
from zoo_helpers.registry import catalog, published

SHARED = Path(__file__).resolve().parents[2] / "shared"
SKIP = {"model", "file", "match", "catalog", "from", "source_file", "section", "keypoints", "seed_model"}


def _tables():
    for card, data in published.published().items():
        for name, table in data.items():
            if isinstance(table, dict) and "rows" in table:
                yield card, name, table


def _line(row, table) -> str:
    path = SHARED / row.get("source_file", table["file"])
    if not path.exists():
        pytest.fail(f"the cards are expected beside the project, at {path}")
    section = path.read_text().split(row.get("section", table["section"]), 1)[1]
    lines = [line for line in section.splitlines()
             if line.lstrip().startswith("|") and all(m in line for m in row["match"])]
    assert lines, f"no line in {path.name} for {row['match']}"
    return lines[0]  # the first table after the section heading


def _holds(line: str, value) -> bool:
    """The line holds ``value``: as one of its numbers (3.8 is the card's 3.80, never a digit of 13.85 or 0 of 10.0),
    or, for text, as a whole word."""
    if isinstance(value, int | float):
        return any(float(n) == float(value) for n in re.findall(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])", line))
    return re.search(rf"(?<![\w.]){re.escape(str(value))}(?![\w.])", line) is not None


def test_holds_matches_whole_numbers_only():
    assert _holds("| 3.80 | 96.20 |", 3.8) and _holds("| 192x192x3 |", 192) and _holds("| 0 |", 0)
    assert not _holds("| 13.85 |", 3.85) and not _holds("| 10.0.0 |", 0) and not _holds("| 1.520 ms |", 1.5)


@pytest.mark.parametrize(("card", "name", "table"), list(_tables()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_published_value_is_in_its_card_line(card, name, table):
    assert table["rows"]
    for row in table["rows"]:
        line = _line(row, table)
        for field, value in row.items():
            if field in SKIP:
                continue
            if value is None:
                assert "NA" in line, (card, name, row["model"], field)
                continue
            assert _holds(line, value), f"{card}.{name} {row['model']}: {field}={value!r} not in {line!r}"


def test_every_card_table_is_covered():
    """Each '### Reference' / accuracy table of each card has a published table naming its section."""
    sections = {(t["file"], t["section"]) for _, _, t in _tables()}
    cards = [*(SHARED / "model_cards").glob("*.md"), *(SHARED / "model_cards" / "zoo_4.1").glob("*.md")]
    for card in cards:
        name = card.relative_to(SHARED).as_posix()
        for heading in [h for h in card.read_text().splitlines() if h.startswith("### ")]:
            if any(word in heading for word in ("Reference", "OKS", "Accuracy", "AP0.5")):
                assert any(f == name and heading.startswith(s) for f, s in sections), (name, heading)


def test_newest_release_tables_name_their_release_and_the_seed_table_they_follow():
    for card, name, table in _tables():
        if "zoo_4.1" in table["file"] and name != "mpu_npu_share":
            assert table["release"] == "4.1", (card, name)
            replaced = table.get("replaces")
            assert replaced is None or replaced in published.card_data(card), (card, name, replaced)
            if not name.startswith("accuracy"):  # an accuracy is not a tool's figure
                assert all("stedgeai" in row or "x_linux_ai" in row for row in table["rows"]), (card, name)


def test_catalog_keys_exist():
    for card, _, table in _tables():
        for row in table["rows"]:
            assert row.get("catalog") is None or row["catalog"] in catalog.entries(), (card, row)


def test_accuracy_table_explains_missing_cells():
    record = results.Record("movenet", "movenet", "st_movenet_heatmaps_192", "published int8", {"ST mean OKS": 0.5012},
                            12, 4, {}, {}, "host CPU")
    t = tables.accuracy_table("movenet", [record], "not mirrored")
    st = t[t["model"] == "ST MoveNet Lightning heatmaps per-channel"].iloc[0]
    got = (st["measured ST mean OKS (%)"], st["scored on"], st["measured on"])
    assert got == (pytest.approx(50.12), "12 people / 4 images", "host CPU")
    thunder = t[t["model"] == "MoveNet Thunder"].iloc[0]
    assert pd.isna(thunder["measured ST mean OKS (%)"]) and thunder["scored on"] == "not mirrored"
    assert "ST mean OKS" in t.attrs["caption"]


def test_side_by_side_with_missing_cells_and_sources():
    t = tables.side_by_side("overview", "movenet", {"maccs_m": "MACCs (M)"},
                            {"st_movenet_lightning_heatmaps_192_int8.tflite": {"maccs_m": 237.9}},
                            "host CPU, offline analysis", key="file", why_missing="file not available")
    first, thunder = t.iloc[0], t[t["model"] == "MoveNet Thunder"].iloc[0]
    assert (first["published MACCs (M)"], first["measured MACCs (M)"], first["note"]) == (237.887, 237.9, "")
    assert thunder["published MACCs (M)"] == "NA" and thunder["measured MACCs (M)"] == "—"
    assert thunder["note"] == "file not available"
    with pytest.raises(ValueError, match="measured-on label must start with"):
        tables.side_by_side("overview", "movenet", {"maccs_m": "MACCs (M)"}, {}, "my laptop")


def _record(key, notebook, metrics, kind):
    return results.Record(notebook, "overview", key, "published int8", metrics, 4, 4, {}, {}, "host CPU", kind=kind)


def test_overview_regenerated_from_data():
    t = overview.table([_record("yolov8n_pose_256_pc", "yolov8n_pose", {"ST mAP@0.5": 0.5}, "fit"),
                         _record("yolov8n_pose_256_pc", "overview", {"MACCs (M)": 734.2, "host latency (ms)": 2.0},
                                 results.ANALYSIS_KIND)])
    assert len(t) == len(published.rows("overview", "movenet")) + len(published.rows("overview", "yolov8n_pose"))
    yolo = t[t["catalog"] == "yolov8n_pose_256_pc"].iloc[0]
    got = (yolo["metric"], yolo["published accuracy (%)"], yolo["measured accuracy (%)"])
    assert got == ("ST mAP@0.5", 51.06, 50.0)
    assert yolo["published N6 NPU (ms)"] == 35.8 and yolo["measured on"] == "host CPU"
    assert (yolo["measured MACCs (M)"], yolo["measured host (ms)"]) == (734.2, 2.0)
    assert yolo["accuracy from"] == "yolov8n_pose (host CPU)"
    thunder = t[t["model"] == "MoveNet Thunder"].iloc[0]
    assert thunder["measured on"].startswith("—") and pd.isna(thunder["published MACCs (M)"])  # card: NA


def test_pareto_figure_marks_both_kinds():
    from zoo_helpers.book import plots

    t = overview.table([_record("movenet_heatmaps_192", "movenet", {"ST mean OKS": 0.7}, "person_crops"),
                         _record("movenet_heatmaps_192", "overview",
                                 {"activation RAM (KiB)": 1700.0, "host latency (ms)": 1.2}, results.ANALYSIS_KIND)])
    fig = plots.pareto(t, "test")
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "published, ST mean OKS" in labels and "measured, ST mean OKS" in labels


def test_side_by_side_ratios():
    t = tables.side_by_side("overview", "yolov8n_pose", {"maccs_m": "MACCs (M)"},
                            {"yolov8n_pose_256_pc": {"maccs_m": 741.778 / 2}}, "host CPU", key="catalog", ratios=True)
    assert t.iloc[0]["ratio MACCs"] == 0.5 and t.iloc[1]["ratio MACCs"] == "—"


def test_what_changed_between_releases_pairs_the_rows_the_issue_names():
    """Figures read off the two cards by hand: head landmarks 20.52 ms on the N6 with ST Edge AI Core 2.2 against
    5.48 ms with 4.0; YOLOv8n-pose 24.5 / 35.8 / 51.4 against 21.33 / 31.31 / 44.87 ms; the MP1 rows are new."""
    head = tables.releases("head_landmarks")
    times = head[head["table"].str.startswith("npu_inference")].iloc[0]
    assert times["figures"] == "ms 20.52 -> 5.48" and times["tools"].endswith("-> ST Edge AI Core 4.0.0")
    assert "2.2.0" in times["tools"] and times["file"].startswith("face_landmarks_v1_192_int8_pc.onnx ->")
    yolo = tables.releases("yolov8n_pose")
    n6 = yolo[yolo["table"].str.startswith("npu_inference")]["figures"].tolist()
    assert n6 == ["ms 24.5 -> 21.33", "ms 35.8 -> 31.31", "ms 51.4 -> 44.87"]
    assert set(yolo.loc[yolo["table"].str.startswith("yolo11n"), "change"]) == {"appears"}
    movenet = tables.releases("movenet")
    mp1 = movenet[movenet["target"].isin(["STM32MP157F-DK2", "STM32MP135F-DK"])]
    assert len(mp1) == 16 and set(mp1["change"]) == {"appears"}
    posture = tables.releases("cnn2d_st_handposture")
    assert "value 98.47" in posture.loc[posture["change"] == "appears", "figures"].item()


def test_card_tables_show_the_newest_figure_beside_the_seed_figure():
    t = tables.board_times("yolov8n_pose", "npu_inference", {"ms": "N6 (ms)"})
    assert t["published N6 (ms)"].tolist() == [24.5, 35.8, 51.4]
    assert t["published 4.1 N6 (ms)"].tolist() == [21.33, 31.31, 44.87]
    mv = tables.board_times("movenet", "npu_inference", {"ms": "N6 (ms)"})
    assert mv.loc[0, "published 4.1 N6 (ms)"] == 22.17 and "another file" in mv.loc[0, "note"]
    assert mv.loc[1, "published 4.1 N6 (ms)"] == "not in this release"


def test_a_newest_row_whose_file_is_not_reachable_says_so():
    mp1 = tables.board_times("movenet", "mpu_inference_41", {"ms": "CPU (ms)"}, ["STM32MP157F-DK2"])
    assert len(mp1) == 8 and mp1["note"].str.contains("file not reachable here").all()
    assert "st_movenet_lightning_a100_heatmaps_192_int8.tflite" in mp1.loc[0, "note"]


def test_release_and_family_figures_draw_what_the_data_holds():
    import matplotlib

    matplotlib.use("Agg")
    from zoo_helpers.book import plots

    fig = plots.releases("yolov8n_pose")
    assert [ax.get_title() for ax in fig.axes] == ["accuracy", "npu_footprint", "npu_inference"]
    times = published.n6_times("yolov8n_pose")
    r = results.Record("y", "yolov8n_pose", "yolo26_pose_256", "published int8", {"ST mAP@0.5": 0.43}, 10, 10, {},
                       {}, "host CPU")
    fig = plots.family([r], "ST mAP@0.5", times)
    assert "no card figure" in fig.axes[0].texts[0].get_text()  # YOLO26 has no card
