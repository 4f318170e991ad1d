"""Card tables from data: published figures beside our measurements, every number sourced.

Published figures live in ``zoo_helpers/data/published.yaml`` (every table of the cards, checked
against the card text by the tests); measurements come from result records
(:class:`zoo_helpers.results.Record`), the data a chapter writes of what it measured. The renderers put
them side by side with units in the headers, the metric named, the source of each measured
number (``host CPU``, ``emulated board`` or ``board``) and, for a cell we could not measure, why.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import pandas as pd

from zoo_helpers.results import SOURCES, Record, check_source

__all__ = ["SOURCES", "accuracy_table", "card_data", "metrics_table", "overview", "published", "rows", "side_by_side"]


@cache
def published() -> dict[str, Any]:
    """Every published card table (see ``zoo_helpers/data/published.yaml``)."""
    import yaml

    return yaml.safe_load(resources.files("zoo_helpers").joinpath("data/published.yaml").read_text())


def card_data(card: str) -> dict[str, Any]:
    """Published tables of one card (``movenet``, ``yolov8n_pose``, ``hand_landmarks``, ...).

    Examples
    --------
    >>> card_data("movenet")["metric"]
    'ST mean OKS'
    """
    data = published()
    if card not in data:
        raise KeyError(f"no published data for card {card!r}; known: {sorted(data)}")
    return data[card]


def rows(card: str, table: str) -> list[dict[str, Any]]:
    """Rows of one published table, e.g. ``rows("movenet", "npu_inference")``."""
    data = card_data(card)
    if table not in data or not isinstance(data[table], dict):
        raise KeyError(f"card {card!r} has no table {table!r}")
    return data[table]["rows"]


def accuracy_table(card: str, records: list[Record], why_missing: str | None = None) -> pd.DataFrame:
    """The card's accuracy table (its own metric, named in the headers), published beside measured.

    Parameters
    ----------
    card
        Card name (``movenet``, ``yolov8n_pose``).
    records
        Result records of the card's models (the last record of a catalog key is shown).
    why_missing
        Text for rows that were not measured; by default each row says why (no obtainable file, or
        which ``variant`` runs it and whether its file is mirrored, cached or needs a download).

    Examples
    --------
    >>> r = Record("movenet", "movenet", "movenet_lightning_192", "published int8", {"ST mean OKS": 0.5}, 3, 1,
    ...            {}, {}, "host CPU", kind="person_crops")
    >>> t = accuracy_table("movenet", [r], "not run")
    >>> t.loc[t["model"] == "MoveNet Lightning", "measured ST mean OKS (%)"].item()
    '50.00'
    """
    data = card_data(card)
    metric = data["metric"]
    by_key = {r.key: r for r in records if metric in r.metrics}
    out = []
    for row in data["accuracy"]["rows"]:
        r = by_key.get(row.get("catalog")) if row.get("catalog") else None
        m = {"value": r.metrics[metric], "people": r.samples, "images": r.images,
             "source": f"{r.measured_on}, {r.kind}" if r.kind else r.measured_on} if r else None
        out.append({
            "model": row["model"], "input": f"{row['resolution']}x{row['resolution']}",
            **({"kpt": row["keypoints"]} if "keypoints" in row else {}),
            f"published {metric} (%)": f"{row['value']:.2f}",
            f"measured {metric} (%)": f"{100 * m['value']:.2f}" if m else "—",
            "scored on": (f"{m['people']} people / {m['images']} images" if m
                          else why_missing or _why(row.get("catalog"))),
            "measured on": check_source(m["source"]) if m else "—",
        })
    table = pd.DataFrame(out)
    table.attrs["caption"] = f"{metric} — published: {data['source']}"
    return table


def side_by_side(card: str, table: str, columns: dict[str, str], measured: dict[str, dict[str, float]],
                 source: str, key: str = "resolution", why_missing: str = "not measured here",
                 ratios: bool = False) -> pd.DataFrame:
    """A published table with a measured column beside each published one.

    Parameters
    ----------
    card, table
        Which published table (see :func:`rows`).
    columns
        Published field -> header with its unit, e.g. ``{"weights_flash_kib": "weights flash (KiB)"}``.
    measured
        Row key (the value of ``key`` in the published row) -> {published field: measured value}.
    source
        What the measured numbers were measured on (starts with one of :data:`SOURCES`, plus any detail).
    key
        The published field that identifies a row.
    why_missing
        Shown in the note column of rows with no measurement.
    ratios
        Add a ``measured / published`` column per field where both are numbers.

    Examples
    --------
    >>> t = side_by_side("movenet", "npu_inference", {"ms": "inference (ms)"}, {}, "host CPU", key="file")
    >>> list(t.columns)
    ['model', 'input', 'published inference (ms)', 'measured inference (ms)', 'measured on', 'note']
    """
    check_source(source)
    out = []
    for row in rows(card, table):
        m = measured.get(row.get(key), {})
        label = f"{row['model']} ({row['quantization'].rstrip('*')})" if row.get("quantization") else row["model"]
        entry = {"model": label, "input": f"{row['resolution']}x{row['resolution']}" if "resolution" in row
                 else "—"}
        for field, header in columns.items():
            entry[f"published {header}"] = "NA" if row.get(field) is None else row[field]
            entry[f"measured {header}"] = round(m[field], 2) if field in m else "—"
            if ratios:
                both = field in m and isinstance(row.get(field), int | float) and row[field]
                entry[f"ratio {header.split(' (')[0]}"] = round(m[field] / row[field], 2) if both else "—"
        entry["measured on"] = source if m else "—"
        entry["note"] = "" if m else why_missing
        out.append(entry)
    result = pd.DataFrame(out)
    result.attrs["caption"] = f"published: {card_data(card)['source']} ({card_data(card)[table]['section']})"
    return result


def metrics_table(records: list[Record], extra: dict[str, dict[str, float]] | None = None) -> pd.DataFrame:
    """One row per record (its variant, or its key when the records are of several models), one column per metric.

    Fractions are shown in %; metrics whose name carries a unit, e.g. ``mean EPE (px)``, as they are.
    ``extra`` adds columns by row label (e.g. an agreement measure computed beside the records).

    Examples
    --------
    >>> r = Record("m", "movenet", "k", "published int8", {"ST mean OKS": 0.5, "mean EPE (px)": 3.0}, 1, 1, {}, {},
    ...            "host CPU")
    >>> metrics_table([r]).loc["published int8"].tolist()
    [50.0, 3.0, 'host CPU']
    """
    by_variant = len({r.key for r in records}) <= 1
    rows_ = {}
    for r in records:
        values = {**r.metrics, **(extra or {}).get(r.variant if by_variant else r.key, {})}
        rows_[r.variant if by_variant else r.key] = {
            (k if k.endswith(")") else f"{k} (%)"): (v if k.endswith(")") else 100 * v) for k, v in values.items()}
    table = pd.DataFrame(rows_).T.astype(float).round(2)
    table["measured on"] = [check_source(r.measured_on) for r in records]
    return table


def _why(catalog_key: str | None) -> str:
    if catalog_key is None:
        return "not run: the model file is not published in a form we can obtain"
    from zoo_helpers import catalog

    where = catalog.status(catalog_key)
    if where == "download needed":
        return f"not run: file not mirrored (variant={catalog_key!r} downloads it with network)"
    return f"not run in this run (variant={catalog_key!r}, file in {where})"


def overview(measured: dict[str, dict[str, float]], source: str) -> pd.DataFrame:
    """The pose-estimation overview card regenerated from data, with our measurements beside it.

    One row per overview model (MoveNet family and YOLOv8n-pose). Published columns come from the
    overview card and the STM32N6 inference tables; measured columns from ``measured``, keyed by
    model-catalog key with any of ``accuracy`` (fraction, in the card's own metric), ``maccs_m``,
    ``weights_flash_kib``, ``activation_ram_kib``, ``host_ms``.

    Examples
    --------
    >>> t = overview({}, "host CPU")
    >>> t.loc[0, "metric"], float(t.loc[0, "published N6 NPU (ms)"])
    ('ST mean OKS', 18.44)
    """
    check_source(source)
    from zoo_helpers import catalog

    n6 = {r.get("catalog"): r["ms"] for r in rows("movenet", "npu_inference")}
    yolo_ms = {r["resolution"]: r["ms"] for r in rows("yolov8n_pose", "npu_inference")}
    n6.update({k: yolo_ms.get(e.resolution) for k, e in catalog.entries("yolov8n_pose").items()})
    out = []
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
                "published N6 NPU (ms)": n6.get(key), "measured host (ms)": _r(m.get("host_ms")),
                "measured on": source if m else "— (file not available here)",
            })
    return pd.DataFrame(out)


def _pct(v: float | None) -> float | None:
    return None if v is None else round(100 * v, 2)


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)
