"""Card tables from data: published figures beside our measurements, every number sourced.

Published figures live in the card files, ``zoo_helpers/data/cards/<card>.yaml`` (every table of the cards, checked
against the card text by the tests); measurements come from result records
(:class:`zoo_helpers.results.Record`), the data a chapter writes of what it measured. The renderers put
them side by side with units in the headers, the metric named, the source of each measured
number (``host CPU``, ``emulated board`` or ``board``) and, for a cell we could not measure, why.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import zoo_helpers.book.recipe_table as recipe_table
from zoo_helpers.deploy.placement import place
from zoo_helpers.registry import published
from zoo_helpers.registry.catalog import status
from zoo_helpers.results import ANALYSIS, TFLM_ARENA, Record, check_source


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
    50.0
    """
    data = published.card_data(card)
    metric = data["metric"]
    by_key = {r.key: r for r in records if r.variant.startswith("published") and metric in r.metrics}
    later = published.newest(card, "accuracy")
    newer = published.successors(card, "accuracy")
    out = []
    for row in data["accuracy"]["rows"]:
        r = by_key.get(row.get("catalog")) if row.get("catalog") else None
        b = newer.get(id(row))
        new = {f"published {published.release(card, later)} {metric} (%)":
               "not in this release" if b is None else float(b["value"])} if later else {}
        m = {"value": r.metrics[metric], "people": r.samples, "images": r.images,
             "ci": recipe_table.interval_of(r, metric),
             "source": ", ".join(x for x in (r.measured_on, r.kind, r.split) if x)} if r else None
        out.append({
            "model": row["model"], "input": f"{row['resolution']}x{row['resolution']}",
            **({"kpt": row["keypoints"]} if "keypoints" in row else {}),
            f"published {metric} (%)": float(row["value"]), **new,
            f"measured {metric} (%)": 100 * m["value"] if m else None,
            "95 % CI": m["ci"].span() if m and m["ci"] else "",
            "scored on": (f"{m['people']} people / {m['images']} images" if m
                          else why_missing or _why(row.get("catalog"))),
            "measured on": check_source(m["source"]) if m else "—",
            "reproduce": r.command if r else "",
        })
    table = pd.DataFrame(out)
    table.attrs["caption"] = f"{metric} — published: {data['source']}" + (
        f"; release {published.release(card, later)}: {data[later]['file']} (a row of another file is another model)"
        if later else "")
    return table


def reproduce(records: list[Record]) -> pd.DataFrame:
    """The command that reproduces each measured row: one row per command, with what it measured (the records'
    variants, kinds of samples and splits) and where its records are.

    Examples
    --------
    >>> r = Record("movenet", "movenet", "k", "published int8", {}, 1, 1, {}, {}, "host CPU",
    ...            command="papermill notebooks/movenet.ipynb out.ipynb -k python3 -p n_test 500")
    >>> reproduce([r]).loc[0, "measured"]
    'k / published int8'
    """
    rows: dict[str, dict] = {}
    for r in records:
        entry = rows.setdefault(r.command or "(no command kept)", {"records": 0, "measured": [], "results": set()})
        entry["records"] += 1
        entry["measured"].append(" / ".join(x for x in (r.key, r.variant, r.kind, r.split) if x))
        entry["results"].add(f"results/{r.notebook}/")
    out = [{"command": c, "records": e["records"], "measured": "; ".join(dict.fromkeys(e["measured"])),
            "results": ", ".join(sorted(e["results"]))} for c, e in rows.items()]
    return pd.DataFrame(out)


def side_by_side(card: str, table: str, columns: dict[str, str], measured: dict[str, dict[str, float]],
                 source: str, key: str = "resolution", why_missing: str = "not measured here",
                 ratios: bool = False, boards: list[str] | None = None) -> pd.DataFrame:
    """A published table with a measured column beside each published one.

    Where a newer release gives the same row (:func:`zoo_helpers.registry.published.matched`), its figure stands
    in a ``published <release>`` column beside the seed card's, and the note says when it is another file.

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
    boards
        Only the rows of these boards (a table of several boards also gets a ``target`` column).

    Examples
    --------
    >>> t = side_by_side("movenet", "npu_inference", {"ms": "inference (ms)"}, {}, "host CPU", key="file")
    >>> list(t.columns)[2:4]
    ['published inference (ms)', 'published 4.1 inference (ms)']
    """
    check_source(source)
    later = published.newest(card, table)
    pairs = published.successors(card, table)
    out = []
    kept = [r for r in published.rows(card, table) if boards is None or r.get("board") in boards]
    several = len({r.get("board") for r in kept}) > 1
    for row in kept:
        m = measured.get(row.get(key), {})
        newer = pairs.get(id(row))
        label = f"{row['model']} ({row['quantization'].rstrip('*')})" if row.get("quantization") else row["model"]
        entry = {"model": label, **({"target": row.get("board", "")} if several else {}),
                 "input": f"{row['resolution']}x{row['resolution']}" if "resolution" in row else "—"}
        for field, header in columns.items():
            entry[f"published {header}"] = "NA" if row.get(field) is None else row[field]
            if later:  # the newest release's figure for the same row (its tool version in the caption)
                entry[f"published {published.release(card, later)} {header}"] = (
                    "not in this release" if newer is None else "NA" if newer.get(field) is None else newer[field])
            entry[f"measured {header}"] = round(m[field], 2) if field in m else "—"
            if ratios:
                both = field in m and isinstance(row.get(field), int | float) and row[field]
                entry[f"ratio {header.split(' (')[0]}"] = round(m[field] / row[field], 2) if both else "—"
        entry["measured on"] = source if m else "—"
        entry["note"] = "" if m else why_missing
        if row.get("file") and "catalog" in row and not row["catalog"]:  # a file the book cannot obtain
            entry["note"] = f"{entry['note']}; file not reachable here ({row['file']})".lstrip("; ")
        if newer is not None and newer.get("file") and row.get("file") and newer["file"] != row["file"]:
            other = f"the newer row is another file: {newer['file']}"
            entry["note"] = "; ".join(x for x in (entry["note"], other) if x)
        out.append(entry)
    result = pd.DataFrame(out)
    data = published.card_data(card)
    result.attrs["caption"] = f"published: {data['source']} ({data[table]['section']})" + (
        f"; release {published.release(card, later)}: {data[later]['file']}, {data[later].get('context', '')}"
        if later else "")
    return result


def releases(card: str) -> pd.DataFrame:
    """What changed between the seed card and the newest release, table by table (published figures only): each
    row that both releases give, with its figures before and after, the tools that measured them and whether the
    file changed; each row that disappears or appears; and each table new in the newest release.

    Examples
    --------
    >>> t = releases("yolov8n_pose")
    >>> t.loc[(t["model"] == "YOLOv8n-pose 256") & t["table"].str.startswith("npu_inference"), "figures"].item()
    'ms 35.8 -> 31.31'
    """
    data = published.card_data(card)
    out = []
    for name, table in data.items():
        if not isinstance(table, dict) or "rows" not in table or published.release(card, name) != "seed":
            continue
        later = published.newest(card, name)
        if later is None:
            continue
        for a, b in published.matched(card, name):
            row = a or b
            figures = [f for f in (a or b) if f not in published.NOT_FIGURES]
            if a is not None and b is not None:
                change = "both"
                shown = "; ".join(f"{f} {a.get(f, '—')} -> {b.get(f, '—')}" for f in figures if f in b)
            else:
                change = "disappears" if b is None else "appears"
                shown = "; ".join(f"{f} {row[f]}" for f in figures)
            out.append({"table": name, "model": _with_input(row),
                        "quantization": row.get("quantization") or "",
                        "target": row.get("board") or row.get("series") or "", "change": change,
                        "figures": shown, "tools": _tools(a, b, table.get("context", "")),
                        "file": _file_change(a, b)})
    for name, table in data.items():  # tables only the newest release has (a new card in the family)
        if isinstance(table, dict) and "rows" in table and table.get("release") and "replaces" not in table:
            for row in table["rows"]:
                figures = [f for f in row if f not in published.NOT_FIGURES]
                out.append({"table": f"{name} (new in {table['release']})", "model": _with_input(row),
                            "quantization": row.get("quantization") or "",
                            "target": row.get("board") or row.get("series") or "", "change": "appears",
                            "figures": "; ".join(f"{f} {row[f]}" for f in figures), "tools": _tools(None, row),
                            "file": row.get("file", "")})
    frame = pd.DataFrame(out)
    frame = frame[[c for c in frame.columns if (frame[c].astype(str) != "").any()]]  # no column left empty
    frame.attrs["caption"] = f"published figures only: the seed card ({data['source']}) against model zoo 4.1"
    return frame


def _with_input(row: dict) -> str:
    """A row's model name with its input size, unless the name already says it (one column fewer)."""
    size = str(row.get("resolution") or "")
    return row["model"] if not size or size in row["model"] else f"{row['model']} {size}"


def _tools(a: dict | None, b: dict | None, seed_context: str = "") -> str:
    """The tool versions of two rows of one figure, before -> after (a seed row without its own versions takes its
    table's context, e.g. "STM32N6, STEdgeAI 2.0")."""
    def of(row, context=""):
        if row is None:
            return ""
        parts = [f"ST Edge AI Core {row['stedgeai']}" if row.get("stedgeai") else "",
                 f"STM32Cube.AI {row['stm32cubeai']}" if row.get("stm32cubeai") else "",
                 f"X-LINUX-AI {row['x_linux_ai']}" if row.get("x_linux_ai") else ""]
        return ", ".join(p for p in parts if p) or context or "not given"

    if a is not None:
        a_text = of(a, seed_context)
        return a_text if b is None else f"{a_text} -> {of(b)}"
    return of(b)


def _file_change(a: dict | None, b: dict | None) -> str:
    if a is None or b is None:
        return (a or b or {}).get("file", "")
    return "same" if a.get("file") == b.get("file") else f"{a.get('file') or 'not named'} -> {b.get('file') or '?'}"


def board_times(card: str, table: str, columns: dict[str, str], boards: list[str] | None = None) -> pd.DataFrame:
    """A card's board timing table (published), with its measured columns empty until a real board answers; only
    the rows of ``boards`` when given.

    Examples
    --------
    >>> mp1 = board_times("movenet", "mpu_inference_41", {"ms": "CPU (ms)"}, ["STM32MP135F-DK"])
    >>> len(mp1), float(mp1["published CPU (ms)"].max())
    (8, 1131.3)
    """
    return side_by_side(card, table, columns, {}, "board", "catalog", "no board answered: not measured on hardware",
                        boards=boards)


def mcu_card(card: str, record: Record) -> pd.DataFrame:
    """A card's MCU footprint and time (published) beside a footprint-and-latency record (with TFLM's arena)."""
    card_row, m = published.rows(card, "mcu_footprint")[0] | published.rows(card, "mcu_inference")[0], record.metrics
    return pd.DataFrame({
        f"published (card, {card_row['board']}, float)": [card_row[k] for k in ("activation_ram", "weights_flash")]
        + [f"{card_row['ms']} ms"],
        f"measured ({record.variant})": [f"{m[ANALYSIS['activation_ram_kib']]:.2f} KiB (our planner)"
                                         + (f"; TFLM {m[TFLM_ARENA['head']]:.2f} + {m[TFLM_ARENA['tail']]:.2f} KiB"
                                            " (64-bit host)"
                                            if TFLM_ARENA["head"] in m else ""),
                                         f"{m[ANALYSIS['weights_flash_kib']]:.2f} KiB",
                                         f"{m[ANALYSIS['host_ms']]:.3f} ms"],
        "measured on": ["host CPU, offline analysis"] * 2 + [record.measured_on]},
        index=["activation RAM", "weights flash", "inference time"])


def intervals(records: list[Record], metric: str) -> pd.DataFrame:
    """Each record's ``metric`` with its 95 % interval over images, ``n`` and the chapter that recorded it (rows
    named by variant and kind of samples, and by model where the records hold several).

    Records that do not keep per-sample scores (or matches) show an empty interval.

    Examples
    --------
    >>> r = Record("m", "c", "k", "published int8", {"mean NME": 0.05}, 3, 3, {}, {}, "host CPU", kind="face crops",
    ...            split="test", per_sample={"NME": [0.04, 0.05, 0.06]}, sample_images=[1, 2, 3])
    >>> intervals([r], "mean NME").iloc[0]["mean NME (%)"]
    5.0
    """
    rows = {}
    several = len({r.key for r in records if metric in r.metrics}) > 1
    for r in records:
        if metric not in r.metrics:
            continue
        ci = recipe_table.interval_of(r, metric)
        name = metric if metric.endswith(")") else f"{metric} (%)"
        rows[" / ".join(x for x in (r.key if several else "", r.variant, r.kind) if x)] = {
            name: round(r.metrics[metric] * (1 if metric.endswith(")") else 100), 2),
            "95 % CI": ci.span() if ci else "", "n": r.samples,
            "measured on": check_source(r.measured_on), "recorded by": r.notebook}
    if not rows:
        raise ValueError(f"no record of {metric}")
    return pd.DataFrame(rows).T


def differences(records: list[Record], metric: str, reference: str) -> pd.DataFrame:
    """Every variant's ``metric`` minus the ``reference`` variant's on the same samples, with the paired 95 % interval
    (bootstrap over images of the per-sample differences), one row per variant and kind of samples.

    ``distinguishable`` says whether the interval excludes 0.

    Examples
    --------
    >>> mk = lambda v, xs: Record("m", "c", "k", v, {"mean NME": sum(xs) / 4}, 4, 4, {}, {}, "host CPU",
    ...                          kind="faces", split="test", per_sample={"NME": xs}, sample_images=[1, 2, 3, 4])
    >>> t = differences([mk("float", [0.05, 0.06, 0.07, 0.08]), mk("int8", [0.06, 0.07, 0.08, 0.09])], "mean NME",
    ...                 "float")
    >>> t.iloc[0]["difference (points)"], t.iloc[0]["distinguishable"]
    (1.0, 'yes')
    """
    rows = {}
    for kind in dict.fromkeys(r.kind for r in records):
        same = [r for r in records if r.kind == kind and metric in r.metrics]
        for r in same:
            if r.variant == reference:
                continue
            d = recipe_table.paired(same, r.variant, reference, metric)
            if d is not None:
                rows[f"{r.variant} / {kind}" if kind else r.variant] = {
                    "difference (points)": round(d.value, 2), "95 % CI": d.span(), "n": d.n,
                    "distinguishable": "yes" if d.low > 0 or d.high < 0 else "no"}
    if not rows:
        raise ValueError(f"no pair of records with per-sample {metric!r} against {reference!r}")
    table = pd.DataFrame(rows).T
    table.attrs["caption"] = f"{metric}: each model minus {reference}, paired on the same samples"
    return table


def metrics_table(records: list[Record], extra: dict[str, dict[str, float]] | None = None) -> pd.DataFrame:
    """One row per record, one column per metric.

    A row is labelled by what tells the records apart: the variant and the kind of samples, and the
    model (catalog key) where those are not enough. Fractions are shown in %; metrics whose name
    carries a unit, e.g. ``mean EPE (px)``, as they are. ``extra`` adds columns by row label (e.g. an
    agreement measure computed beside the records).

    Examples
    --------
    >>> r = Record("m", "movenet", "k", "published int8", {"ST mean OKS": 0.5, "mean EPE (px)": 3.0}, 1, 1, {}, {},
    ...            "host CPU")
    >>> t = metrics_table([r])
    >>> list(t.columns), list(t.index), float(t.iloc[0, 0])
    (['ST mean OKS (%)', 'mean EPE (px)', 'measured on'], ['published int8'], 50.0)
    """
    if not records:
        raise ValueError("no records to show")
    differ = [f for f in ("variant", "kind") if len({getattr(r, f) for r in records}) > 1]
    if len({tuple(getattr(r, f) for f in differ) for r in records}) < len(records) or not differ:
        differ = ["key", *differ] if len({r.key for r in records}) > 1 else differ or ["variant"]
    rows_ = {}
    for r in records:
        label = " / ".join(getattr(r, f) for f in differ)
        values = {**r.metrics, **(extra or {}).get(label, {})}
        rows_[label] = {(k if k.endswith(")") else f"{k} (%)"): (v if k.endswith(")") else 100 * v)
                        for k, v in values.items()}
    table = pd.DataFrame(rows_).T.astype(float).round(2)
    table["measured on"] = [check_source(r.measured_on) for r in records]
    return table


def metric_frame(records: list[Record], names: list[str]) -> pd.DataFrame:
    """The ``names`` metrics of each record as numbers, fractions in %, rows as :func:`metrics_table`'s."""
    table = metrics_table(records)
    columns = [n if n.endswith(")") else f"{n} (%)" for n in names]
    return table[[c for c in columns if c in table.columns]].astype(float)


def footprint_ratios(card: str, table: str, records: list[Record]) -> pd.DataFrame:
    """Measured / published ratio of each footprint quantity, per model of the card's table (a figure's data)."""
    full = footprint(card, table, records, ratios=True)
    ratio = [c for c in full.columns if c.startswith("ratio ")]
    frame = full[ratio].apply(pd.to_numeric, errors="coerce")
    frame.index = [f"{m} {i}" for m, i in zip(full["model"], full["input"], strict=True)]
    frame.columns = [c.removeprefix("ratio ") for c in ratio]
    return frame.dropna(how="all")


#: The targets of :mod:`zoo_helpers.deploy.placement`, as the tables name them.
TARGETS = {"n6": "STM32N6 (Neural-ART)", "mp2": "STM32MP2 (VIP)"}


def off_npu_operators(files: dict[str, Any]) -> pd.DataFrame:
    """Operators of each file (label -> path) that leave the NPU, grouped by operator, unit and reason.

    Predicted from :mod:`zoo_helpers.deploy.placement`'s rules (some only inferred: the column says so), not
    measured on a board. ``MACs (%)`` is the group's share of the file's MACs.
    """

    out = []
    for label, path in files.items():
        p = place(path)
        total = sum(o.macs for o in p.operators) or 1
        for target, name in TARGETS.items():
            for (op, unit, reason, inferred), g in p.table(target).groupby(["op", "unit", "reason", "inferred"]):
                out.append({"file": label, "target": name, "operator": op, "runs on": unit, "count": len(g),
                            "MACs (%)": 100 * g["MACs"].sum() / total, "inferred": "yes" if inferred else "no",
                            "reason": reason})
    table = pd.DataFrame(out, columns=["file", "target", "operator", "runs on", "count", "MACs (%)", "inferred",
                                       "reason"])
    table.attrs["caption"] = "operators that leave the NPU, predicted from the placement rules (not measured)"
    return table


def difference(card: str, records: list[Record], a: str, b: str) -> pd.DataFrame:
    """Metrics of catalog models ``a`` and ``b`` (their published-file records), the difference in points with its
    paired 95 % interval where the records keep what it needs (per-sample scores, or ST's matches), and beside the
    card's metric the difference of the published figures (one per source of ``a``'s).
    """
    data = published.card_data(card)
    recs = {r.key: r for r in records if r.variant.startswith("published") and r.key in (a, b)}
    got = {k: r.metrics for k, r in recs.items()}
    if set(got) != {a, b}:
        raise ValueError(f"need records of both {a!r} and {b!r}, have {sorted(got)}")
    pub = {k: [r for r in data["accuracy"]["rows"] if r.get("catalog") == k] for k in (a, b)}
    published_diff = "; ".join(f"{ra['value']} - {rb['value']} = {ra['value'] - rb['value']:.2f} ({ra['from']})"
                               for ra in pub[a] for rb in pub[b]) or "—"
    ks = [k for k in got[a] if k in got[b]]  # metrics both records have (one may carry more, e.g. agreement)
    table = pd.DataFrame({f"{a} (%)": {k: 100 * got[a][k] for k in ks}, f"{b} (%)": {k: 100 * got[b][k] for k in ks},
                          "difference (points)": {k: 100 * (got[a][k] - got[b][k]) for k in ks}}).round(2)
    table["published difference (points)"] = [published_diff if k == data["metric"] else "—" for k in table.index]
    cis = {k: recipe_table.paired_records(recs[a], recs[b], k) for k in table.index}
    table["95 % CI (paired)"] = [c.span() if c else "" for c in cis.values()]
    table["verdict"] = [("a difference" if c.low > 0 or c.high < 0 else f"not distinguishable at n = {c.n}")
                        if c else "" for c in cis.values()]
    return table


def footprint(card: str, table: str, records: list[Record], why_missing: str = "",
              ratios: bool = False) -> pd.DataFrame:
    """A card's footprint table (``overview``'s per-family tables, or ``npu_footprint``) beside our offline
    analysis, from footprint-and-latency records (:func:`zoo_helpers.cards.loop.measure_models`), with
    TFLM's measured arena beside it; for ``npu_footprint`` our arena stands for the NPU's internal RAM.
    """
    fields = {v: k for k, v in ANALYSIS.items()}
    summaries = {r.key: {fields[m]: v for m, v in r.metrics.items() if m in fields} for r in records
                 if r.variant.startswith("published") and set(fields) <= set(r.metrics)}
    if table == "npu_footprint":
        columns = {"weights_flash_kib": "weights (KiB)", "internal_ram_kib": "internal RAM (KiB)"}
        summaries = {k: {**s, "internal_ram_kib": s["activation_ram_kib"]} for k, s in summaries.items()}
    else:
        columns = {"maccs_m": "MACCs (M)", "weights_flash_kib": "weights (KiB)",
                   "activation_ram_kib": "activation RAM (KiB)"}
    out = side_by_side(card, table, columns, summaries, "host CPU, offline analysis", key="catalog",
                       why_missing=why_missing or "file not available here", ratios=ratios)
    tflm = {r.key: f"{r.metrics[TFLM_ARENA['head']]:,.1f} + {r.metrics[TFLM_ARENA['tail']]:,.1f}" for r in records
            if TFLM_ARENA["head"] in r.metrics and r.variant.startswith("published")}
    if tflm:  # TFLM's own allocator where TFLM runs the file, on this 64-bit host (a 32-bit MCU's tail is smaller)
        out.insert(out.columns.get_loc("measured on"), ARENA_COLUMN,
                   [tflm.get(r.get("catalog"), "—") for r in published.rows(card, table)])
    return out


#: TFLM's arena as measured here: on a 64-bit host, whose persistent tail (pointers, structs) is larger than a
#: 32-bit Cortex-M's; the tflite-micro package runs on the host only, so no 32-bit figure is measured.
ARENA_COLUMN = "TFLM arena head + tail (KiB, measured on this 64-bit host)"


def _why(catalog_key: str | None) -> str:
    if catalog_key is None:
        return "not run: the model file is not published in a form we can obtain"

    if (where := status(catalog_key)) == "download needed":
        return f"not run: file not mirrored (variant={catalog_key!r} downloads it with network)"
    return f"not run in this run (variant={catalog_key!r}, file in {where})"


def point_distances(points: dict[str, np.ndarray], reference: str, name: str = "mean distance to the float model (px)"):
    """Mean distance of each variant's ``(N, K, 2)`` points (original pixels) to the ``reference`` variant's."""
    ref = np.asarray(points[reference])[..., :2]
    return pd.Series({label: float(np.linalg.norm(np.asarray(p)[..., :2] - ref, axis=-1).mean())
                      for label, p in points.items() if label != reference}, name=name).round(2).to_frame()
