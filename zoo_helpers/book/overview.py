"""The pose-estimation overview card regenerated from data, with this book's measurements beside it.

One row per model of the overview card (the MoveNet family and YOLOv8n-pose): the published accuracy
(each family in its card's own metric), MACCs, activation RAM, weights and STM32N6 NPU time, beside
the measured ones, all read from result records (:mod:`zoo_helpers.results`): the accuracy records the
chapters (or the overview itself) wrote, and the footprint-and-latency records of
:func:`zoo_helpers.cards.loop.measure_models`. A metric that is not a finite number is not shown as a measurement
(the row names the record's file), and the row of a model measured here although a chapter's record was there says
why that record was not reused (:func:`zoo_helpers.cards.loop.evaluate_or_reuse`'s ``not_reused``).
:func:`zoo_helpers.book.plots.pareto` draws the result.
"""

from __future__ import annotations

import math

import pandas as pd

from zoo_helpers.registry import catalog
from zoo_helpers.registry.published import card_data, n6_times, rows
from zoo_helpers.results import ANALYSIS, Record, check_source


def table(records: list[Record], not_reused: dict[str, str] | None = None) -> pd.DataFrame:
    """The pose-estimation overview card regenerated from data, with our measurements beside it.

    One row per overview model (MoveNet family and YOLOv8n-pose). Published columns come from the
    overview card and the STM32N6 inference tables; measured columns from result records: per catalog
    key, the accuracy record in the card's own metric (``accuracy from`` names the notebook that
    measured it; a value that is not a finite number is left out and ``accuracy from`` names the record's
    file) and the footprint-and-latency record (metrics named as in ``results.ANALYSIS``). ``not_reused``
    (catalog key -> why a chapter's record was not reused) is added to ``accuracy from``.

    Examples
    --------
    >>> t = table([])
    >>> t.loc[0, "metric"], float(t.loc[0, "published N6 NPU (ms)"])
    ('ST mean OKS', 18.44)
    >>> r = Record("movenet", "movenet", "movenet_lightning_192", "published int8", {"ST mean OKS": float("nan")},
    ...            12, 4, {}, {}, "host CPU", path="results/movenet/x.json")
    >>> row = table([r]).set_index("catalog").loc["movenet_lightning_192"]
    >>> row["measured accuracy (%)"], row["accuracy from"]
    (None, 'movenet: ST mean OKS is nan in results/movenet/x.json, not shown')
    """

    measured: dict[str, dict] = {}
    for r in records:
        m = measured.setdefault(r.key, {})
        card = catalog.entry(r.key).card if r.key in catalog.entries() else r.card
        metric = card_data(card)["metric"] if card in ("movenet", "yolov8n_pose") else None
        if metric in r.metrics and math.isfinite(r.metrics[metric]):
            m.update(accuracy=r.metrics[metric], accuracy_from=f"{r.notebook} ({r.measured_on})")
        elif metric in r.metrics and "accuracy" not in m:
            m["accuracy_from"] = f"{r.notebook}: {metric} is {r.metrics[metric]} in {r.path or 'a record'}, not shown"
        m.update({k: r.metrics[name] for k, name in ANALYSIS.items() if name in r.metrics})
        m.setdefault("source", check_source(r.measured_on))

    n6 = {r.get("catalog"): r["ms"] for r in rows("movenet", "npu_inference")}
    yolo_ms = {r["resolution"]: r["ms"] for r in rows("yolov8n_pose", "npu_inference")}
    n6.update({k: yolo_ms.get(e.resolution) for k, e in catalog.entries("yolov8n_pose").items()})
    newest = {**n6_times("movenet"), **n6_times("yolov8n_pose")}  # each model's newest published N6 time
    why, out = not_reused or {}, []
    for family, metric in (("movenet", card_data("movenet")["metric"]),
                           ("yolov8n_pose", card_data("yolov8n_pose")["metric"])):
        for row in rows("overview", family):
            key, m = row.get("catalog"), measured.get(row.get("catalog"), {})
            out.append({
                "model": row["model"], "input": row["resolution"], "metric": metric, "catalog": key,
                "published accuracy (%)": row.get("value"), "measured accuracy (%)": _pct(m.get("accuracy")),
                "published MACCs (M)": row.get("maccs_m"), "measured MACCs (M)": _r(m.get("maccs_m")),
                "published activation RAM (KiB)": row.get("activation_ram_kib"),
                "measured activation RAM (KiB)": _r(m.get("activation_ram_kib")),
                "published weights (KiB)": row.get("weights_flash_kib"),
                "measured weights (KiB)": _r(m.get("weights_flash_kib")),
                "published N6 NPU (ms)": n6.get(key),
                "N6 time release": "seed" if n6.get(key) is not None else "—",
                "published 4.1 N6 NPU (ms)": newest[key]["ms"] if newest.get(key, {}).get("release") == "4.1"
                else None,
                "measured host (ms)": _r(m.get("host_ms")),
                "accuracy from": m.get("accuracy_from", "—") + (f"; not reused: {why[key]}" if key in why else ""),
                "measured on": m["source"] if m else "— (file not available here)",
            })
    return pd.DataFrame(out)


def _pct(v: float | None) -> float | None:
    return None if v is None else round(100 * v, 2)


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


#: The columns of each half of the overview table, which is too wide for the book's column in one piece.
PARTS = {"accuracy and time": ["model", "input", "metric", "published accuracy (%)", "measured accuracy (%)",
                               "accuracy from", "published N6 NPU (ms)", "N6 time release", "published 4.1 N6 NPU (ms)",
                               "measured host (ms)", "measured on"],
         "footprint": ["model", "input", "published MACCs (M)", "measured MACCs (M)", "published activation RAM (KiB)",
                       "measured activation RAM (KiB)", "published weights (KiB)", "measured weights (KiB)"]}


def part(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """One half of :func:`table` (``accuracy and time`` or ``footprint``), for display.

    Examples
    --------
    >>> list(part(table([]), "footprint").columns)[:3]
    ['model', 'input', 'published MACCs (M)']
    """
    if name not in PARTS:
        raise ValueError(f"unknown part {name!r}; use one of {list(PARTS)}")
    out = table[PARTS[name]].copy()
    out.attrs["caption"] = f"the overview card, {name}: published beside measured"
    return out
