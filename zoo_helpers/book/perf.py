"""One machine-readable performance file per model, from the records and the published tables (``perf.yaml``).

The shape follows quic/ai-hub-models' ``perf.yaml``: ``supported_devices``, then ``precisions`` -> a precision ->
``components`` -> the model -> ``universal_assets`` (the file, by runtime, with its tool versions) and
``performance_metrics`` (by device, then runtime: ``inference_time_milliseconds``, ``tool_versions``...). Two things
are added, because this book needs them: every entry says its ``source`` (``published`` with the card, release and
section; or ``measured`` with what it was measured on, ``n`` and the ``command`` that reproduces it), and an
``accuracy_metrics`` block gives each accuracy figure with its unit, split, ``n`` and 95 % interval.

:func:`model_perf` builds the dictionary of one catalog model, :func:`export` writes one file per model, and
:func:`book_dir` is where the book serves them from (``_static/perf/`` of the checkout, copied into the built
site, so a page links them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import zoo_helpers.book.recipe_table as recipe_table
from zoo_helpers.registry import catalog, published
from zoo_helpers.results import ANALYSIS, Record, write_texts

#: The published tables whose rows are board times, and the runtime each names.
_TIMES = {"npu_inference": "st_edge_ai_core", "mpu_inference": "x_linux_ai", "mcu_inference": "stm32cubeai"}


def _time_rows(card: str, key: str) -> list[tuple[str, str, dict, dict]]:
    """(table name, runtime, table, row) of every published board time of catalog model ``key``."""
    out = []
    for name, table in published.card_data(card).items():
        runtime = next((r for k, r in _TIMES.items() if k in name), None)
        if not isinstance(table, dict) or "rows" not in table or runtime is None:
            continue
        out += [(name, runtime, table, row) for row in table["rows"] if row.get("catalog") == key and "ms" in row]
    return out


def model_perf(key: str, records: list[Record]) -> dict[str, Any]:
    """The ``perf.yaml`` dictionary of catalog model ``key``: its published board times and accuracy (every
    release that gives them) and what the records measured (host latency, accuracy with intervals).

    Examples
    --------
    >>> perf = model_perf("yolov8n_pose_256_pc", [])
    >>> perf["precisions"]["int8 per-channel"]["components"]["YOLOv8n-pose 256 per-channel"][
    ...     "performance_metrics"]["STM32N6570-DK"]["st_edge_ai_core 4.1"]["inference_time_milliseconds"]
    31.31
    """
    entry = catalog.entry(key)
    devices: dict[str, dict] = {}
    for name, runtime, table, row in _time_rows(entry.card, key):
        rel = published.release(entry.card, name)
        tools = {t: str(row[t]) for t in ("stedgeai", "stm32cubeai", "x_linux_ai", "framework") if row.get(t)}
        board = row.get("board") or (table.get("context", "").split(",")[0] or "board")
        devices.setdefault(board, {})[f"{runtime} {rel}"] = {
            "inference_time_milliseconds": row["ms"], "source": "published",
            "card": table["file"], "section": table["section"], "release": rel, "tool_versions": tools,
            **({"npu_percent": row["npu_pct"]} if row.get("npu_pct") is not None else {})}
    accuracy: dict[str, list] = {}
    data = published.card_data(entry.card)
    metric = data.get("metric", "accuracy")
    for name, table in data.items():
        if isinstance(table, dict) and name.startswith("accuracy"):
            for row in table["rows"]:
                if row.get("catalog") == key:
                    accuracy.setdefault(metric, []).append({
                        "value": row["value"], "unit": "%", "source": "published", "card": table["file"],
                        "release": published.release(entry.card, name)})
    mine = [r for r in records if r.key == key and r.variant.startswith("published")]
    for r in mine:
        if r.kind == "offline analysis and host latency":
            ms = r.metrics.get(ANALYSIS["host_ms"])
            if ms is not None:
                devices.setdefault("host CPU", {})[r.measured_on] = {
                    "inference_time_milliseconds": round(ms, 3), "source": "measured", "n": r.samples,
                    "tool_versions": dict(r.versions), "command": r.command}
            continue
        for name in r.metrics:
            if name != metric and not name.startswith("COCO AP"):
                continue
            ci = recipe_table.interval_of(r, name)
            accuracy.setdefault(name, []).append({
                "value": round(recipe_table.value(r, name), 2), "unit": "%", "source": "measured",
                "measured_on": r.measured_on, "split": r.split, "kind": r.kind, "n": r.samples,
                **({"ci_low": round(ci.low, 2), "ci_high": round(ci.high, 2)} if ci else {}),
                "command": r.command})
    path = catalog.path(key) if catalog.status(key) != "download needed" else None
    asset = {"file": Path(path).name if path else entry.asset,
             "tool_versions": {"format": Path(path).suffix.lstrip(".") if path else "unknown"}}
    component = {"universal_assets": {asset["tool_versions"]["format"]: asset}, "performance_metrics": devices,
                 "accuracy_metrics": accuracy}
    return {"supported_devices": sorted(d for d in devices if d != "host CPU"),
            "precisions": {f"int8 {entry.granularity}" if entry.granularity != "float" else "float":
                           {"components": {entry.title: component}}}}


def book_dir() -> Path | None:
    """``_static/perf/`` of the checkout the package runs from (the built book serves it), or None outside one."""
    root = Path(__file__).resolve().parents[2]
    return root / "_static" / "perf" if (root / "_toc.yml").is_file() else None


def export(records: list[Record], out_dir: str | os.PathLike[str], keys: list[str] | None = None) -> list[Path]:
    """Write ``<out_dir>/<key>.perf.yaml`` for each catalog model (``keys``, default every model the records or
    the published tables name); returns the files written."""
    import yaml

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keys = keys or sorted({r.key for r in records if r.key in catalog.entries_all()})
    written = []
    for key in keys:
        path = out / f"{key}.perf.yaml"
        write_texts({path: yaml.safe_dump(model_perf(key, records), sort_keys=False, allow_unicode=True)})
        written.append(path)
    return written
