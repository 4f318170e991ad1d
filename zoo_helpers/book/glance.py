"""A chapter's "at a glance" block: its three or four findings, written from its result records.

Each finding is a sentence built from the numbers of this run's records (what scored best and worst,
how far the published file is from the card's figure, what per-tensor quantization costs, which
variant is fastest), with the samples and what they were measured on, so the block stays true when a
chapter runs with other parameters. :func:`glue` hands the block to myst-nb under a name; the chapter's
first cell shows it with ``{glue:md}``, although it is computed at the end.
"""

from __future__ import annotations

import zoo_helpers.book.recipe_table as recipe_table
from zoo_helpers.results import ANALYSIS, ANALYSIS_KIND, Record

#: Metrics where a lower value is better.
LOWER_IS_BETTER = ("EPE", "NME", "latency")


def _better(metric: str) -> int:
    return -1 if any(word in metric for word in LOWER_IS_BETTER) else 1


def _value(metric: str, value: float) -> str:
    return f"{value:.2f}" if metric.endswith(")") else f"{100 * value:.1f} %"


def findings(records: list[Record], metric: str, published: float | None = None,
             choose_by: str | None = None) -> list[str]:
    """Sentences on ``metric`` across the records (variants of one model, or models of one card).

    ``published`` is the card's figure for the first published record, in %, when the card has one. With splits,
    the sentences read the ``test`` records, and the best recipes are those the recipe table chooses on ``dev``
    (by ``choose_by``, ``metric`` by default).

    Examples
    --------
    >>> r = [Record("m", "c", "k", "published int8", {"OKS": 0.8}, 12, 4, {}, {}, "host CPU", kind="crops"),
    ...      Record("m", "c", "k", "our per-tensor", {"OKS": 0.1}, 12, 4, {}, {}, "host CPU", kind="crops")]
    >>> findings(r, "OKS")[1]
    'Best: published int8 (80.0 %); worst: our per-tensor (10.0 %), a gap of 70.0 points.'
    """
    every = [r for r in records if metric in r.metrics and r.kind != ANALYSIS_KIND]
    scored = [r for r in every if r.split == "test"] if any(r.split for r in every) else every  # dev only chooses
    if not scored:
        return [f"No record of {metric} in this run."]
    label = {id(r): r.variant if len({x.key for x in scored}) == 1 else f"{r.key} ({r.variant})" for r in scored}
    first = next((r for r in scored if r.variant.startswith("published")), scored[0])
    ci = recipe_table.interval_of(first, metric)
    out = [f"{label[id(first)]} scores {_value(metric, first.metrics[metric])} {metric}"
           + (f" (95 % CI {ci.low:.1f} to {ci.high:.1f})" if ci and not metric.endswith(")") else "")
           + f" on {first.samples} samples from {first.images} images ({first.measured_on}"
           f"{', ' + first.kind if first.kind else ''}{', ' + first.split if first.split else ''})"
           + (f"; the card publishes {published:.2f} % on its own, larger data set." if published is not None
              else ".")]
    if len(scored) > 1:
        order = sorted(scored, key=lambda r: _better(metric) * r.metrics[metric], reverse=True)
        best, worst = order[0], order[-1]
        gap = abs(best.metrics[metric] - worst.metrics[metric])
        gap_text = f"{gap:.2f}" if metric.endswith(")") else f"{100 * gap:.1f} points"
        out.append(f"Best: {label[id(best)]} ({_value(metric, best.metrics[metric])}); worst: {label[id(worst)]} "
                   f"({_value(metric, worst.metrics[metric])}), a gap of {gap_text}.")
    by_variant = {r.variant: r for r in scored}
    if recipe_table.calibration_overlaps(records):
        out.append("Our recipes were calibrated on images of the evaluated sample (calibration not disjoint): their "
                   "numbers are shown but no recipe goal is judged.")
    recipe = _recipe_finding(records, metric, by_variant, choose_by)
    if recipe:
        out.append(recipe)
    elif "our per-channel" in by_variant and "our per-tensor" in by_variant:
        pc, pt = by_variant["our per-channel"].metrics[metric], by_variant["our per-tensor"].metrics[metric]
        moved = "loses" if _better(metric) * (pt - pc) < 0 else "keeps"
        out.append(f"Our per-tensor int8 {moved} against our per-channel: {_value(metric, pt)} against "
                   f"{_value(metric, pc)}.")
    timed = [r for r in records if r.kind == ANALYSIS_KIND and ANALYSIS["host_ms"] in r.metrics]
    if len(timed) > 1:
        fast = min(timed, key=lambda r: r.metrics[ANALYSIS["host_ms"]])
        slow = max(timed, key=lambda r: r.metrics[ANALYSIS["host_ms"]])
        out.append(f"Fastest on the {fast.measured_on}: {fast.variant if fast.key == slow.key else fast.key} "
                   f"({fast.metrics[ANALYSIS['host_ms']]:.3g} ms per sample, slowest "
                   f"{slow.metrics[ANALYSIS['host_ms']]:.3g} ms); board times are the card's.")
    return out


def _recipe_finding(records: list[Record], metric: str, by_variant: dict, choose_by: str | None = None) -> str:
    """Our best per-tensor recipe against our best per-channel one, when the records hold recipes."""

    try:
        pt, pc = (recipe_table.best(records, choose_by or metric, g) for g in ("per-tensor", "per-channel"))
    except ValueError:  # no recipe records, or a metric where lower is better
        return ""
    if (pt, pc) == ("our per-tensor", "our per-channel") or not {pt, pc} <= set(by_variant):
        return ""  # the plain pair (the sentence below says it), or a choice with no shown record
    a, b = by_variant[pt].metrics[metric], by_variant[pc].metrics[metric]
    plain = by_variant.get("our per-tensor")
    return (f"Our best per-tensor int8 ({pt}) scores {_value(metric, a)} against {_value(metric, b)} for our best "
            f"per-channel ({pc})" + (f"; plain per-tensor {_value(metric, plain.metrics[metric])}." if plain else "."))


def block(lines: list[str]) -> str:
    """The findings as a Markdown admonition titled "At a glance"."""
    body = "\n".join(f"- {line}" for line in lines)
    return f":::{{admonition}} At a glance\n:class: tip\n{body}\n:::\n"


def glue(name: str, records: list[Record], metric: str, published: float | None = None,
         choose_by: str | None = None) -> str:
    """Hand the block to myst-nb as ``name`` (shown where a ``{glue:md}`` directive names it); returns its text."""
    text = block(findings(records, metric, published, choose_by))
    try:
        from IPython.display import Markdown
        from myst_nb import glue as nb_glue
    except ImportError:  # outside a notebook build the text is still returned
        return text
    nb_glue(name, Markdown(text), display=False)
    return text
