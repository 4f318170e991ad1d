"""The runtime matrix as the book shows it: accuracy per runtime with intervals, how far runtimes part, and where.

:mod:`zoo_helpers.cards.runtimes` measures; this module renders: :func:`targets` (which runtime each kind of
target uses, from ``data/runtimes.yaml``), :func:`accuracy` (the chapter's metric per file and runtime, its 95 %
interval and the paired difference from the file's default runtime), :func:`pairs` (keypoints in the same output
cell, within one cell, and the output difference in LSB), :func:`stability` (the recipe table's column) and
:func:`layers` (the figure of where two runtimes part, operator by operator).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import zoo_helpers.book.recipe_table as recipe_table
from zoo_helpers.cards.runtimes import Matrix
from zoo_helpers.evaluation import uncertainty
from zoo_helpers.runtime import engines


def targets() -> pd.DataFrame:
    """Which runtime each kind of target uses, and which host runtime here (if any) computes the same.

    Examples
    --------
    >>> targets().loc["STM32N6 NPU (Neural-ART), ST Edge AI Core", "host runtime here"]
    'none'
    """
    rows = {t["target"]: {"runtime on the target": t["runtime"],
                          "host runtime here": engines.label(t["here"]) if t["here"] else "none",
                          "same arithmetic?": t["same"]} for t in engines.facts()["targets"]}
    frame = pd.DataFrame(rows).T
    frame.index.name = "target"
    return frame


def _engine(record) -> str:
    return record.variant.rsplit(" · ", 1)[1]


def accuracy(m: Matrix, metric: str) -> pd.DataFrame:
    """One row per file and runtime: ``metric`` (%), its 95 % interval over images, ``n``, and the paired
    difference from the file's first runtime (LiteRT with XNNPACK, or onnxruntime with its optimizations) with
    its interval and verdict; a runtime that could not run a file says why."""
    rows = []
    first: dict[str, object] = {}
    for r in m.records:
        file, engine = r.variant.rsplit(" · ", 1)
        ci = recipe_table.interval_of(r, metric)
        name = metric if metric.endswith(")") else f"{metric} (%)"  # "mean EPE (px)" keeps its unit
        row = {"file": file, "runtime": engines.label(engine), name: round(recipe_table.value(r, metric), 2),
               "95 % CI": ci.span() if ci else "", "n": r.samples, "vs first runtime": "", "verdict": ""}
        if file in first:
            d = recipe_table.paired_records(r, first[file], metric)
            if d is not None:
                row["vs first runtime"] = f"{d.value:+.2f} ({d.span()})"
                row["verdict"] = "not distinguishable" if d.low <= 0 <= d.high else (
                    "higher" if d.low > 0 else "lower")
        else:
            first[file] = r
        rows.append(row)
    for (file, engine), why in m.skipped.items():
        rows.append({"file": file, "runtime": engines.label(engine), "verdict": f"cannot run: {why[:120]}"})
    return pd.DataFrame(rows).astype(object).fillna("").set_index(["file", "runtime"])


def decoders(records: list, metric: str) -> pd.DataFrame:
    """One row per JPEG decoder (:func:`zoo_helpers.cards.runtimes.decoders`; the mode's own first): ``metric`` with its
    95 % interval, and the paired difference of the other decoder from the mode's own."""
    rows = {}
    for r in records:
        ci = recipe_table.interval_of(r, metric)
        d = recipe_table.paired_records(r, records[0], metric) if r is not records[0] else None
        rows[r.variant.removeprefix("decoded by ")] = {
            metric if metric.endswith(")") else f"{metric} (%)": round(recipe_table.value(r, metric), 2),
            "95 % CI": ci.span() if ci else "", "n": r.samples,
            "vs the mode's own decoder": "(the mode's own)" if r is records[0] else
            f"{d.value:+.2f} ({d.span()})" if d else
            f"{100 * (r.metrics[metric] - records[0].metrics[metric]):+.2f} (no interval: a whole-set metric)"}
    frame = pd.DataFrame(rows).T
    frame.index.name = "JPEG decoder"
    return frame


def pairs(m: Matrix) -> pd.DataFrame:
    """One row per file and pair of runtimes: keypoints in the same output cell and within one cell (of the
    second runtime against the first), the largest output difference in LSB of the output tensor, that LSB (the
    output's quantization step, in its real units), and the share of output elements that differ."""
    frame = pd.DataFrame(m.pairs).drop(columns="per image")
    frame["A"], frame["B"] = frame["A"].map(engines.label), frame["B"].map(engines.label)
    return frame.round(2).set_index(["file", "A", "B"])


def _pair(m: Matrix, file: str, a: str, b: str) -> dict | None:
    return next((p for p in m.pairs if (p["file"], p["A"], p["B"]) == (file, a, b)), None)


def _record(m: Matrix, file: str, engine: str):
    return next((r for r in m.records if r.variant == f"{file} · {engine}"), None)


def steadier(m: Matrix, metric: str, reference: str = "published int8 (as QDQ ONNX)",
             published: str = "published int8") -> pd.DataFrame:
    """Is one of our files as accurate as the published file and steadier across runtimes? One row per file that
    shares ``reference``'s pair of runtimes (onnxruntime with and without its optimizations): the same-cell
    agreement of that pair for the file and for ``reference`` (the published file in the same format, so the same
    runtimes), their paired difference over images; ``metric``'s paired difference from ``published`` (each on its
    first runtime); and the finding, which says "... and steadier" only when the agreement interval lies above 0
    and the accuracy interval does not lie below it ("as accurate (not distinguishable)" when it straddles 0)."""
    ref_pairs = [p for p in m.pairs if p["file"] == reference]
    base = next((r for r in m.records if r.variant.startswith(f"{published} · ")), None)  # its first runtime
    rows: dict[str, dict] = {}
    for ref in ref_pairs:
        for p in m.pairs:
            if p["file"] in (reference, published, f"{published} (as QDQ ONNX)") or (p["A"], p["B"]) != (
                    ref["A"], ref["B"]):
                continue
            mine, theirs = np.array(p["per image"], float), np.array(ref["per image"], float)
            keep = np.isfinite(mine) & np.isfinite(theirs)
            if not keep.any():  # no confident keypoint in these images (a smoke run's few): nothing to compare
                rows[p["file"]] = {"runtimes": f"{engines.label(p['A'])} vs {engines.label(p['B'])}",
                                   "finding": "no keypoint to compare on these samples"}
                continue
            d = uncertainty.difference(mine[keep], theirs[keep])
            steady = "steadier" if d.low > 0 else "less steady" if d.high < 0 else "no steadier (not distinguishable)"
            own = _record(m, p["file"], p["A"])
            acc = recipe_table.paired_records(own, base, metric) if own and base else None
            known = acc is not None and np.isfinite([acc.low, acc.high]).all()
            sign = -1 if any(w in metric for w in recipe_table.LOWER_IS_BETTER) else 1  # NME: lower is better
            low, high = sorted((sign * acc.low, sign * acc.high)) if known else (0.0, 0.0)
            accurate = ("accuracy not compared" if not known else "less accurate" if high < 0 else
                        "more accurate" if low > 0 else "as accurate (not distinguishable)")
            finding = f"{accurate} and steadier" if steady == "steadier" and accurate.startswith(("as", "more")) \
                else f"{steady}, {accurate}"
            rows[p["file"]] = {
                "runtimes": f"{engines.label(p['A'])} vs {engines.label(p['B'])}",
                "same cell (%)": round(p["same cell (%)"], 2), f"{reference}: same cell (%)": round(
                    ref["same cell (%)"], 2), "difference (95 % CI)": f"{d.value:+.2f} ({d.span()})",
                f"{metric} vs {published} (points)": f"{acc.value:+.2f} ({acc.span()})" if acc else "",
                "finding": finding}
    if not rows:
        raise ValueError(f"no file of the matrix shares {reference!r}'s runtimes: nothing to compare")
    frame = pd.DataFrame(rows).T.astype(object).fillna("")
    frame.index.name = "file"
    return frame


def stability(m: Matrix) -> dict[str, str]:
    """For the recipe table (:func:`zoo_helpers.book.recipe_table.table`'s ``runtimes``): each file's lowest
    same-cell agreement over its pairs of runtimes, and how many runtimes ran it."""
    out = {}
    for file in dict.fromkeys(p["file"] for p in m.pairs):
        mine = [p for p in m.pairs if p["file"] == file]
        n = len({p[k] for p in mine for k in ("A", "B")})
        lowest = np.nanmin([p["same cell (%)"] for p in mine]) if any(
            np.isfinite(p["same cell (%)"]) for p in mine) else None
        out[file] = (f"{lowest:.1f} % same cell ({n} runtimes)" if lowest is not None else
                     f"no keypoint to compare ({n} runtimes)")
    return out


def agreement(m: Matrix, title: str = "How far the runtimes part"):
    """The pairs of :func:`pairs` as a figure: per file and pair of runtimes, the share of keypoints (or classes) the
    second runtime puts in the same output cell as the first and within one cell, each bar labelled with the
    largest output difference in LSB."""
    import matplotlib.pyplot as plt

    short = {e: engines.facts()["engines"][e].get("short", e) for e in engines.names()}
    names = [f"{p['file']}: {short[p['A']]} vs {short[p['B']]}" for p in m.pairs]
    same = [p.get("same cell (%)", p.get("same class (%)")) for p in m.pairs]
    near = [p.get("within one cell (%)", np.nan) for p in m.pairs]
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(names) + 1.2))
    y = np.arange(len(names))
    ax.barh(y + 0.2, same, 0.4, label="same cell (class)")
    if not np.all(np.isnan(near)):
        ax.barh(y - 0.2, near, 0.4, label="within one cell")
    for i, p in enumerate(m.pairs):
        ax.text(101, i, f"max {p['max diff (LSB)']:.3g} LSB", va="center", fontsize=8)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 125)
    ax.set_xlabel("keypoints of the second runtime in the first runtime's cell (%)")
    ax.set_title(f"{title} (host CPU, {m.samples} samples)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def layers(rows: dict[str, list[dict]], title: str):
    """Largest difference (LSB) per operator for each named comparison (:func:`zoo_helpers.cards.runtimes.layers`),
    the first operator where they part marked; bit-identical comparisons are named in the legend."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.2))
    for name, found in rows.items():
        xs = [r["operator"] for r in found]
        ys = [r["max diff (LSB)"] for r in found]
        first = next((r for r in found if r["differ (%)"] > 0), None)
        tag = f"parts at operator {first['operator']} ({first['op']})" if first else "bit-identical"
        (line,) = ax.plot(range(len(xs)), [y + 1 for y in ys], marker=".", lw=1, label=f"{name}: {tag}")
        if first:
            ax.axvline(found.index(first), color=line.get_color(), ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("operator (in execution order)")
    ax.set_ylabel("largest difference + 1 (LSB)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
