"""The quantization recipes of a chapter as one table, and the goals they are held to, from result records.

:func:`table` gives one row per recipe (and the published and float models): its granularity, what it does,
the chapter's metric on the labelled sample, the gap to our best per-channel recipe, the label-free
agreement with the float model and on how many images, and the seconds it took. :func:`goals` checks the
three goals the Quantize sections are held to, and says by how much a missed one is missed:

* our best per-tensor int8 within :data:`PER_TENSOR_GAP` points of our best per-channel;
* our best per-channel int8 at least as good as the published int8 file;
* calibration images disjoint from the evaluation sample (the chapter passes what it checked).

Rows are found by variant label (:func:`zoo_helpers.quant.recipes.load`'s labels), metrics by the names
:mod:`zoo_helpers.cards.quantized` records; fractions are shown in %.

**Dev and test.** When the records carry splits (:mod:`zoo_helpers.evaluation.splits`), the best recipe of each
granularity is chosen on the ``dev`` records and everything shown is the ``test`` records': the values with their
95 % interval over images, and each goal judged by a paired bootstrap of the per-sample difference on ``test``
(:func:`zoo_helpers.evaluation.uncertainty.verdict`: ``met``, ``missed by N (CI ...)`` or ``not distinguishable at
n = ...``). Records without splits are read as before (one sample, plain values).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from zoo_helpers.cards.quantized import AGREEMENT, AGREEMENT_IMAGES, DISJOINT, SECONDS
from zoo_helpers.evaluation import metrics, splits, uncertainty
from zoo_helpers.quant.recipes import by_label, granularity
from zoo_helpers.results import Record

#: Largest allowed drop (points) from our best per-channel to our best per-tensor recipe.
PER_TENSOR_GAP = 3.0
#: The per-tensor goal, as :func:`goals` names it.
PER_TENSOR_GOAL = f"best per-tensor within {PER_TENSOR_GAP:g} points of best per-channel"


#: Metrics where lower is better: the goals and "best" are defined on accuracy metrics only.
LOWER_IS_BETTER = ("EPE", "NME")

#: The per-sample score a chapter metric is the mean of (records' ``per_sample``), where the names differ.
PER_SAMPLE = {"ST mean OKS": "ST OKS", "mean NME": "NME", "mean EPE (px)": "EPE (px)"}


def _split(records: list[Record], split: str) -> list[Record]:
    """The records of one split; all of them when no record has a split (the older, single-sample reading)."""
    if not any(r.split for r in records):
        return records
    found = [r for r in records if r.split == split]
    if not found:
        raise ValueError(f"the records have splits but none of {split!r}: recipes are chosen on dev and "
                         "reported on test, never chosen on test")
    return found


def _sides(records: list[Record], metric: str, choose_by: str | None = None) -> tuple[list[Record], dict[str, dict],
                                                                                    dict[str, dict]]:
    """The records that score ``metric`` shown (``test``), their rows, and the rows the best is chosen on (``dev``,
    by ``choose_by``, the same metric by default: e.g. the label-free agreement on dev images).

    Without splits, one set of records serves both. Records without the metric (a variant's footprint-and-latency
    record) are left out here, once.
    """
    choose_by = choose_by or metric
    shown = _split([r for r in records if metric in r.metrics], "test")
    chosen = _split([r for r in records if choose_by in r.metrics], "dev")
    return shown, _rows(shown, metric), _rows(chosen, choose_by)


def _scores(record: Record, metric: str):
    """``(values, resampling units)`` of a record's per-sample scores of ``metric`` (as the table shows them): the
    units are the samples' images, or their runs of frames for a video set (:func:`splits.groups`); or None."""
    values = record.per_sample.get(PER_SAMPLE.get(metric, metric))
    if not values or len(values) != len(record.sample_images):
        return None
    scale = 1.0 if metric.endswith(")") else 100.0
    units = splits.groups(record.data.get("set", ""), record.sample_images)  # a run of video frames is one unit
    return [scale * v if v is not None else float("nan") for v in values], units


def value(record: Record, metric: str) -> float:
    """``metric`` of ``record`` as the tables show it: in % for a share, in its own unit for a metric named with one
    (``mean EPE (px)``)."""
    v = record.metrics[metric]
    return 100 * v if not metric.endswith(")") else v


def _rows(records: list[Record], metric: str) -> dict[str, dict]:
    if any(word in metric for word in LOWER_IS_BETTER):
        raise ValueError(f"{metric}: the recipe table and goals take a metric where higher is better")
    recipes = by_label()
    rows = {}
    for rec in records:
        if metric not in rec.metrics:
            continue
        recipe = recipes.get(rec.variant)
        rows[rec.variant] = {
            "granularity": granularity(rec.variant),
            "recipe": recipe.summary if recipe else "as published",
            "value": value(rec, metric), AGREEMENT: rec.metrics.get(AGREEMENT),
            "images": rec.metrics.get(AGREEMENT_IMAGES), SECONDS: rec.metrics.get(SECONDS),
            "calibration disjoint from the sample": {1.0: "yes", 0.0: "no"}.get(rec.metrics.get(DISJOINT), "")}
    if not any(row["granularity"] in ("per-channel", "per-tensor") and row["recipe"] != "as published"
               for row in rows.values()):
        raise ValueError(f"no recipe record with {metric!r} among {[r.variant for r in records]}")
    return rows


def table(records: list[Record], metric: str, choose_by: str | None = None,
          runtimes: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per recipe / published / float record that has ``metric``, best per granularity first.

    The ``goal`` column says, on the best per-tensor and best per-channel rows, whether :func:`goals` are
    met, and by how many points a missed one is missed; ``95 % CI`` is the value's interval over images and ``n``
    the samples scored, where the records keep per-sample scores (module docstring). ``choose_by`` is the metric
    the best of each granularity is chosen by on ``dev`` (default ``metric``). ``runtimes`` (label -> text, from
    :func:`zoo_helpers.book.runtime_tables.stability`) adds a ``agreement across runtimes`` column: how far the
    file's outputs part between the CPU runtimes that run it.

    Examples
    --------
    >>> recs = [Record("m", "c", "k", lab, {"OKS": v, AGREEMENT: 90.0, AGREEMENT_IMAGES: 29, SECONDS: 2.0}, 12, 4,
    ...                {}, {}, "host CPU") for lab, v in (("our per-channel", 0.70), ("our per-tensor", 0.1))]
    >>> table(recs, "OKS")["OKS (%) vs best per-channel"].tolist()
    [0.0, -60.0]
    """
    shown, rows, choice = _sides(records, metric, choose_by)
    pc = _best(choice, "per-channel")
    best_pc = rows[pc[1]]["value"] if pc and pc[1] in rows else float("nan")
    frame = pd.DataFrame(rows).T
    name = metric if metric.endswith(")") else f"{metric} (%)"
    frame = frame.rename(columns={"value": name, "images": "agreement images"})
    frame[f"{name} vs best per-channel"] = (frame[name].astype(float) - best_pc).round(2)
    order = {"published": 0, "float": 1, "per-channel": 2, "per-tensor": 3}
    frame = frame.assign(_o=frame["granularity"].map(order), _v=-frame[name].astype(float))
    frame = frame.sort_values(["_o", "_v"]).drop(columns=["_o", "_v"])
    frame["goal"] = ""
    for goal, row in _goals(rows, shown, choice=choice, metric=metric).iterrows():
        if goal.startswith("best"):
            frame.loc[row["reached by"], "goal"] = f"{goal} ({row['target']:.2f}): {row['verdict']}"
    intervals = {r.variant: _interval(r, metric) for r in shown}
    samples = {r.variant: r.samples for r in shown}
    frame["95 % CI"] = [intervals.get(label) or "" for label in frame.index]
    frame["n"] = [samples.get(label, "") for label in frame.index]
    cols = ["granularity", "recipe", name, "95 % CI", "n", f"{name} vs best per-channel", "goal", AGREEMENT,
            "agreement images", SECONDS, "calibration disjoint from the sample"]
    if runtimes is not None:
        frame[RUNTIMES] = [runtimes.get(label, "") for label in frame.index]
        cols.insert(cols.index("goal") + 1, RUNTIMES)
    frame = frame[cols]
    frame.index.name = "model"
    return frame


#: The recipe table's column of :func:`zoo_helpers.book.runtime_tables.stability`.
RUNTIMES = "agreement across runtimes"


def goals(records: list[Record], metric: str, published: str = "published int8",
          choose_by: str | None = None) -> pd.DataFrame:
    """The Quantize goals (module docstring): target, best reached, met or missed and by how many points.

    With splits, the best recipes are chosen on ``dev`` and judged on ``test`` (``verdict``, paired bootstrap).
    Disjointness is read from the recipes' records (:data:`zoo_helpers.cards.quantized.DISJOINT`).
    """
    shown, rows, choice = _sides(records, metric, choose_by)
    return _goals(rows, shown, published, choice, metric)


def _whole(record: Record, metric: str):
    """``metric`` of a resample of the record's images (a function of image indices, in %), for ST's multi-pose mAP
    from the record's matches; None otherwise.

    Unmatched detections scoring below every true positive never change the AP of any resample (they come after its
    last true positive), so they are dropped once here.
    """
    if metric != "ST mAP@0.5" or not record.matches:
        return None
    m = {k: np.asarray(v) for k, v in record.matches.items()}
    hit = m["oks"] > 0.5
    keep = hit | (m["score"] >= (m["score"][hit].min() if hit.any() else np.inf))
    image, score, oks = m["image"][keep], m["score"][keep], m["oks"][keep]
    return lambda idx: 100 * metrics.st_map_of_images(image, score, oks, m["gt_per_image"], idx)


_INTERVALS: dict[tuple, uncertainty.Interval | None] = {}


def interval_of(record: Record, metric: str) -> uncertainty.Interval | None:
    """The 95 % interval over images of a record's ``metric`` (in %, as the tables show it): from its per-sample
    scores, or, for ST's multi-pose mAP, by rescoring resamples of its images from its matches; None when the
    record keeps neither. Computed once per record and metric."""
    key = (record.slug, record.time, record.model_sha256, record.samples, metric)
    if key not in _INTERVALS:
        whole = _whole(record, metric)
        if whole is not None:
            _INTERVALS[key] = uncertainty.resampled(whole, len(record.matches["gt_per_image"]), record.samples)
        else:
            scores = _scores(record, metric)
            _INTERVALS[key] = None if scores is None else uncertainty.interval(*scores)
    return _INTERVALS[key]


def _interval(record: Record, metric: str) -> str | None:
    ci = interval_of(record, metric)
    return None if ci is None else ci.span()


def paired(records: list[Record], a: str, b: str, metric: str) -> uncertainty.Interval | None:
    """The paired interval of ``a - b`` (variant labels) on the records' per-sample scores (or, for ST's multi-pose
    mAP, on resampled images), when both keep them for the same samples; None otherwise."""
    pair = {r.variant: r for r in records if r.variant in (a, b)}
    return paired_records(pair[a], pair[b], metric) if len(pair) == 2 else None


def paired_records(a: Record, b: Record, metric: str) -> uncertainty.Interval | None:
    """The paired interval of record ``a``'s ``metric`` minus ``b``'s (in points) on the same samples: a bootstrap of
    the per-sample differences, or of ST's multi-pose mAP rescored on the same resampled images; None when the
    records do not keep them for the same samples."""
    if a.sample_images != b.sample_images:
        return None
    whole = [_whole(a, metric), _whole(b, metric)]
    if None not in whole:
        return uncertainty.resampled_difference(*whole, len(a.matches["gt_per_image"]), a.samples)
    found = [_scores(a, metric), _scores(b, metric)]
    if None in found:
        return None
    return uncertainty.difference(found[0][0], found[1][0], found[0][1])


#: What a recipe goal says when the calibration images overlap the evaluated sample.
OVERLAP_VERDICT = "not judged: calibrated on images of the evaluated sample"


def _goals(rows: dict[str, dict], records: list[Record], published: str = "published int8",
           choice: dict[str, dict] | None = None, metric: str = "") -> pd.DataFrame:
    calibration_disjoint = _calibration_disjoint(records)
    choice = rows if choice is None else choice
    picked = {g: _best(choice, g) for g in ("per-channel", "per-tensor")}
    best = {g: (rows[p[1]]["value"], p[1]) if p and p[1] in rows else None for g, p in picked.items()}
    out = []
    if best["per-channel"] and best["per-tensor"]:
        target = best["per-channel"][0] - PER_TENSOR_GAP
        out.append(_goal(PER_TENSOR_GOAL, target,
                         *best["per-tensor"], paired(records, best["per-tensor"][1], best["per-channel"][1], metric),
                         -PER_TENSOR_GAP))
    if best["per-channel"] and published in rows:
        out.append(_goal("best per-channel at least the published int8", rows[published]["value"],
                         *best["per-channel"], paired(records, best["per-channel"][1], published, metric), 0.0))
    if calibration_disjoint is False:  # tuned on the images it is judged on: no recipe goal is judged
        for row in out:
            row.update({"met": "not judged", "missed by (points)": None, "verdict": OVERLAP_VERDICT})
    checked = calibration_disjoint is not None
    out.append({"goal": "calibration images disjoint from the evaluation sample", "target": "disjoint",
                "reached by": "sha256 of every calibration and sample file" if checked else "no record says",
                "value": ("disjoint" if calibration_disjoint else "overlap") if checked else "not checked",
                "met": ("yes" if calibration_disjoint else "no") if checked else "not checked",
                "missed by (points)": None})
    return pd.DataFrame(out).set_index("goal")


def calibration_overlaps(records: list[Record]) -> bool:
    """True when a record says its recipe was calibrated on images of the evaluated sample.

    Examples
    --------
    >>> r = Record("m", "c", "k", "our per-tensor", {DISJOINT: 0.0}, 4, 4, {}, {}, "host CPU")
    >>> calibration_overlaps([r])
    True
    """
    return _calibration_disjoint(records) is False


def _calibration_disjoint(records: list[Record]) -> bool | None:
    """Whether every record that says so was calibrated apart from its sample; None when no record says."""
    flags = [r.metrics[DISJOINT] for r in records if DISJOINT in r.metrics]
    return bool(min(flags)) if flags else None


def best(records: list[Record], metric: str, granularity: str) -> str:
    """Label of our best recipe of ``granularity`` (``per-channel`` or ``per-tensor``) on ``metric``.

    With splits, the choice is made on the ``dev`` records: the ``test`` labels never pick a recipe.
    """
    found = _best(_rows(_split([r for r in records if metric in r.metrics], "dev"), metric), granularity)
    if found is None:
        raise ValueError(f"no {granularity} recipe among the records")
    return found[1]


def _best(rows: dict[str, dict], granularity: str) -> tuple[float, str] | None:
    """``(value, label)`` of the best of our recipes of ``granularity`` (ties: the later label), or None."""
    return max(((r["value"], lab) for lab, r in rows.items() if r["granularity"] == granularity
                and r["recipe"] != "as published"), default=None)


def _goal(goal: str, target: float, value: float, label: str, diff: uncertainty.Interval | None = None,
          margin: float = 0.0) -> dict:
    """One goal's row; with a paired interval ``diff`` of the two models on test, its verdict in words."""
    out = {"goal": goal, "target": round(target, 2), "reached by": label, "value": round(value, 2),
           "met": "yes" if value >= target - 1e-9 else "no",
           "missed by (points)": None if value >= target - 1e-9 else round(target - value, 2)}
    out["verdict"] = "met" if out["met"] == "yes" else f"missed by {out['missed by (points)']:.2f} points"
    if diff is not None:
        words = uncertainty.verdict(diff, margin)
        out.update({"verdict": words, "met": "yes" if words == "met" else "no" if words.startswith("missed")
                    else "not distinguishable"})
    return out
