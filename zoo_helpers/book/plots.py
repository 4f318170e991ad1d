"""Figures: keypoints and skeletons drawn over images, labelled with where the numbers came from."""

from __future__ import annotations

import numpy as np

import zoo_helpers.book.recipe_table as recipe_table
from zoo_helpers.book.tables import footprint_ratios, metric_frame
from zoo_helpers.deploy.placement import place
from zoo_helpers.registry import published


def skeleton_grid(images: list[np.ndarray], keypoints: list[np.ndarray], edges: list[tuple[int, int]],
                  titles: list[str], suptitle: str, min_score: float = 0.2, cols: int = 4,
                  boxes: list[np.ndarray] | None = None):
    """Draw keypoints (image pixels) and their skeleton on each image; returns the matplotlib figure.

    ``keypoints[i]`` is ``(K, 3)`` [x, y, score] (or ``(K, 2)``, no score) for one person, or ``(P, K, 3)``
    for several; ``boxes[i]`` (optional) is ``(P, 4)`` [x1, y1, x2, y2]. Keypoints under ``min_score`` are
    drawn hollow.
    """
    import matplotlib.pyplot as plt

    n = len(images)
    if n == 0:
        raise ValueError("nothing to draw")
    cols = min(cols, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for i, (ax, img, title) in enumerate(zip(axes.ravel(), images, titles, strict=False)):
        ax.imshow(img)
        people = np.asarray(keypoints[i]).reshape(-1, *np.shape(keypoints[i])[-2:])
        for kp in people:
            ok = kp[:, 2] >= min_score if kp.shape[1] > 2 else np.ones(len(kp), bool)
            for a, b in edges:
                if ok[a] and ok[b]:
                    ax.plot(kp[[a, b], 0], kp[[a, b], 1], "-", color="lime", lw=1.5)
            ax.scatter(kp[ok, 0], kp[ok, 1], s=12, c="red", zorder=3)
            ax.scatter(kp[~ok, 0], kp[~ok, 1], s=12, facecolors="none", edgecolors="yellow", zorder=3)
        for x1, y1, x2, y2 in (boxes[i] if boxes is not None else []):
            ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color="cyan", lw=1))
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def pareto(table, title: str):
    """Accuracy against latency and against activation RAM, published and measured marked differently.

    ``table`` is :func:`zoo_helpers.book.overview.table`'s output. Published points (filled circles) use
    the card's accuracy, its STM32N6 NPU time and its activation RAM; measured points (hollow squares)
    use our accuracy on this run's sample, host-CPU latency and the offline arena estimate, so each
    kind is comparable with itself only. The Pareto front of each kind is drawn as a step line.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = [("published N6 NPU (ms)", "measured host (ms)", "latency (ms): published = STM32N6 NPU (seed card; "
               "triangles: model zoo 4.1, ST Edge AI Core 4.0), measured = host CPU"),
              ("published activation RAM (KiB)", "measured activation RAM (KiB)", "activation RAM (KiB)")]
    colors = {"ST mean OKS": "tab:blue", "ST mAP@0.5": "tab:orange"}
    for ax, (pub_x, meas_x, label) in zip(axes, panels, strict=True):
        for kind, x_col, y_col, style in (("published", pub_x, "published accuracy (%)", dict(marker="o")),
                                          ("measured", meas_x, "measured accuracy (%)",
                                           dict(marker="s", facecolors="none"))):
            sub = table.dropna(subset=[x_col, y_col])
            for metric, group in sub.groupby("metric"):
                ax.scatter(group[x_col], group[y_col], s=45, label=f"{kind}, {metric}",
                           **({"edgecolors": colors.get(metric, "k")} if kind == "measured"
                              else {"color": colors.get(metric, "k")}), **style)
                for _, r in group.iterrows():
                    ax.annotate(f"{r['model'].replace('MoveNet Lightning', 'ML')} {r['input']}",
                                (r[x_col], r[y_col]), fontsize=6, xytext=(3, 3), textcoords="offset points")
            if kind == "published" and x_col == "published N6 NPU (ms)" and "published 4.1 N6 NPU (ms)" in table:
                newer = table.dropna(subset=["published 4.1 N6 NPU (ms)", y_col])
                for metric, group in newer.groupby("metric"):  # the newest release's time of the same file
                    ax.scatter(group["published 4.1 N6 NPU (ms)"], group[y_col], s=40, marker="^",
                               color=colors.get(metric, "k"), alpha=0.6, label=f"published 4.1 time, {metric}")
            if len(sub):
                ordered = sub.sort_values(x_col)
                front = ordered[ordered[y_col] >= ordered[y_col].cummax()]
                ax.step(front[x_col], front[y_col], where="post", lw=0.8, color="grey",
                        ls="-" if kind == "published" else ":")
        ax.set_xlabel(label, fontsize=8)
        ax.set_ylabel("accuracy in the card's metric (%)", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def confusion(cm: np.ndarray, names: list[str], title: str):
    """A confusion matrix as an image, rows normalised to recall, counts written in the cells."""
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    rates = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(im, ax=ax, label="share of the true class")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def tof_frames(frames: np.ndarray, titles: list[str], suptitle: str):
    """Distance (top, invalid zones grey) and signal (bottom) channels of a few ``(8, 8, 2)`` normalised frames."""
    import matplotlib.pyplot as plt

    n = len(frames)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.6), squeeze=False)
    for k, (frame, title) in enumerate(zip(frames, titles, strict=True)):
        for row, (channel, cmap) in enumerate(((0, "viridis_r"), (1, "magma"))):
            values = frame[..., channel]
            if channel == 0:  # invalid and background zones sit at 4000 mm: grey them out, scale the rest
                values = np.ma.masked_greater(values, 10)
            colors = plt.get_cmap(cmap).copy()
            colors.set_bad("lightgrey")
            axes[row, k].imshow(values, cmap=colors)
            axes[row, k].set_xticks([])
            axes[row, k].set_yticks([])
        axes[0, k].set_title(title, fontsize=8)
    axes[0, 0].set_ylabel("distance", fontsize=8)
    axes[1, 0].set_ylabel("signal", fontsize=8)
    fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return fig


def _short(label: str, limit: int = 42) -> str:
    label = str(label)
    return label if len(label) <= limit else f"{label[: limit // 2]}…{label[-(limit // 2 - 1):]}"


def bars(frame, title: str, xlabel: str, source: str, reference: float | None = None, log: bool = False,
         errors: dict | None = None):
    """Grouped horizontal bars: one group per row of ``frame`` (layers, keypoints, models), one colour per column.

    ``source`` says what the numbers were measured on (``host CPU``, ``emulated board``, ``published``) and
    is written into the title; ``reference`` draws a vertical line (e.g. 1 for a measured/published ratio);
    ``errors`` maps a column to ``(low, high)`` arrays (its 95 % interval per row, NaN where none), drawn as
    whiskers. Long row names are shortened in the middle. Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    frame = frame.astype(float)
    rows, cols = frame.shape
    if rows == 0 or cols == 0:
        raise ValueError("nothing to draw")
    height = 0.8 / cols
    fig, ax = plt.subplots(figsize=(7.0, max(2.2, 0.28 * rows * max(1, cols / 2) + 1.0)))
    y = np.arange(rows)
    for j, col in enumerate(frame.columns):
        values = frame[col].to_numpy()
        xerr = None
        if errors and col in errors:
            low, high = (np.asarray(e, float) for e in errors[col])
            xerr = np.nan_to_num(np.stack([values - low, high - values]), nan=0.0).clip(0)
        ax.barh(y + (j - (cols - 1) / 2) * height, np.where(np.isfinite(values), values, np.nan), height,
                label=str(col), xerr=xerr, error_kw={"lw": 0.8, "capsize": 2})
    ax.set_yticks(y, [_short(r) for r in frame.index], fontsize=7)
    ax.invert_yaxis()
    if reference is not None:
        ax.axvline(reference, color="grey", lw=0.8, ls="--")
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel, fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    if cols > 1:
        ax.legend(fontsize=7, loc="best")
    ax.set_title(f"{title} — {source}", fontsize=9)
    fig.tight_layout()
    return fig


def family(records: list, metric: str, times: dict[str, dict], title: str = "Accuracy against N6 time"):
    """Each model's ``metric`` (one record per catalog key, with its 95 % interval) against its published STM32N6
    NPU time (``times``: key -> ``ms``, ``release``, ``tool``, e.g. :func:`zoo_helpers.registry.published.n6_times`);
    a model no card times stands in a "no card figure" column at the right. Accuracy is measured here (host CPU),
    times are ST's, measured on boards: the labels say which release each time comes from."""
    import matplotlib.pyplot as plt

    if not records:
        raise ValueError("no record to draw")
    known = [t["ms"] for t in times.values()]
    right = (max(known) if known else 10.0) * 1.25
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for r in records:
        t = times.get(r.key)
        ci = recipe_table.interval_of(r, metric)
        y = recipe_table.value(r, metric)
        x = t["ms"] if t else right
        err = None if ci is None else [[max(y - ci.low, 0)], [max(ci.high - y, 0)]]
        ax.errorbar([x], [y], yerr=err, fmt="o" if t else "s", capsize=3, color="C0" if t else "C3")
        where = "no card figure" if t is None else ", ".join(x for x in (f"{t['ms']} ms", t["release"], t["tool"]) if x)
        ax.annotate(f"{r.key}\n({where})", (x, y), textcoords="offset points", xytext=(6, 4), fontsize=7)
    ax.axvline(right * 0.94, color="grey", lw=0.6, ls=":")
    ax.set_xlim(0, right * 1.3)
    ax.set_xlabel("STM32N6570-DK NPU time (ms), published by ST")
    ax.set_ylabel(f"{metric} (%), measured here (host CPU)")
    samples = ", ".join(sorted({f"n = {r.samples}" for r in records}))
    ax.set_title(f"{title} ({samples}; whiskers: 95 % CI)", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


#: The figure of each kind of published table that :func:`releases` draws (the first field a row has).
RELEASE_FIGURES = {"inference": ("ms", "time (ms)"), "footprint": ("internal_ram_kib", "internal RAM (KiB)"),
                   "accuracy": ("value", "accuracy (%)")}


def releases(card: str, title: str = "Published figures, seed card against model zoo 4.1"):
    """Each seed table of ``card`` that the newest release follows, one panel: per row, the seed figure (circle)
    and the newest (triangle) joined by a line; a row only one release gives has its one marker. Published figures
    only (ST's, measured on boards or by ST's evaluation), as :func:`zoo_helpers.book.tables.releases` lists them."""
    import matplotlib.pyplot as plt

    panels = []
    for name, table in published.card_data(card).items():
        kind = next((k for k in RELEASE_FIGURES if k in name), None)
        seed = isinstance(table, dict) and published.release(card, name) == "seed"
        if kind and seed and published.newest(card, name):
            panels.append((name, kind, published.matched(card, name)))
    if not panels:
        raise ValueError(f"card {card!r} has no table the newest release follows")
    tallest = max(len(pairs) for _, _, pairs in panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), max(3.0, 0.17 * tallest + 1.4)),
                             squeeze=False)
    for ax, (name, kind, pairs) in zip(axes[0], panels, strict=True):
        field, label = RELEASE_FIGURES[kind]
        rows = [(a, b) for a, b in pairs if (a or b).get(field) is not None or (b or {}).get(field) is not None]
        for i, (a, b) in enumerate(rows):
            old = a.get(field) if a else None
            new = b.get(field) if b else None
            if isinstance(old, int | float) and isinstance(new, int | float):
                ax.plot([old, new], [i, i], color="grey", lw=0.8)
            if isinstance(old, int | float):
                ax.plot(old, i, "o", color="C0", label="seed card" if i == 0 else None)
            if isinstance(new, int | float):
                ax.plot(new, i, "^", color="C1", label="model zoo 4.1")
        names = [_short(f"{(a or b)['model']} {(a or b).get('resolution', '')} {(a or b).get('board', '')}", 34)
                 for a, b in rows]
        ax.set_yticks(range(len(rows)), names, fontsize=6)
        ax.invert_yaxis()
        ax.set_xlabel(label, fontsize=8)
        ax.set_title(name, fontsize=8)
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        ax.legend(unique.values(), unique.keys(), fontsize=6, loc="best")
    fig.suptitle(f"{title} (published by ST)", fontsize=9)
    fig.tight_layout()
    return fig


def _whiskers(records: list, metric: str) -> tuple[list[float], list[float]]:
    """``(lows, highs)`` of each record's 95 % interval of ``metric`` (NaN for a missing record or interval)."""
    found = [recipe_table.interval_of(r, metric) if r is not None and metric in r.metrics else None for r in records]
    return [c.low if c else np.nan for c in found], [c.high if c else np.nan for c in found]


def metrics(records, names: list[str], title: str = "Accuracy per variant"):
    """Bars of the ``names`` metrics of each record (fractions in %), labelled with what they were measured on;
    whiskers are each value's 95 % interval where the record keeps per-sample scores (or matches)."""

    source = ", ".join(sorted({r.measured_on for r in records}))
    samples = ", ".join(sorted({f"n = {r.samples}" for r in records}))
    frame = metric_frame(records, names)
    errors = {}
    if len(frame) == len(records):  # one row per record, in order
        for name in names:
            col = name if name.endswith(")") else f"{name} (%)"
            if col not in frame.columns:
                continue
            if any(recipe_table.interval_of(r, name) for r in records if name in r.metrics):
                errors[col] = _whiskers(records, name)
    title = f"{title} (95 % CI)" if errors else title
    return bars(frame, title, "metric (%)", f"{source}, {samples}", errors=errors)


def latency(records):
    """Bars of host latency from footprint-and-latency records (:func:`zoo_helpers.cards.loop.measure_models`)."""

    runs = ", ".join(sorted({str(r.samples) for r in records}))
    return bars(metric_frame(records, ["host latency (ms)"]), "Latency per model",
                f"median of {runs} single-sample invokes (ms)", records[0].measured_on if records else "host CPU")


def footprint(card: str, table: str, records):
    """Measured / published ratio of each footprint quantity (:func:`zoo_helpers.book.tables.footprint_ratios`)."""

    return bars(footprint_ratios(card, table, records), "Footprint, ours over ST's", "measured / published",
                "offline analysis vs the card", 1)


def sqnr(frame, n: int = 15):
    """The ``n`` tensors where the first column's SQNR is lowest, one bar per column (recipe).

    ``frame`` is a DataFrame (tensor x recipe) or a dict ``{recipe: {tensor: dB}}``.
    """
    import pandas as pd

    frame = pd.DataFrame(frame)
    worst = frame.dropna().sort_values(frame.columns[0]).head(n)
    return bars(worst, "Per-layer SQNR against the float model", "SQNR (dB), higher is closer to float", "host CPU", 0)


def per_point(values: dict, names: list[str], title: str, xlabel: str, source: str, percent: bool = True):
    """Bars per named point (keypoint, face) of each label's ``(K,)`` values; fractions shown in % by default."""
    import pandas as pd

    frame = pd.DataFrame({label: np.asarray(v, float) * (100 if percent else 1) for label, v in values.items()},
                         index=list(names))
    return bars(frame, title, xlabel, source)


def ranges(frame):
    """Channel range ratio per convolution before and after CLE (:func:`~zoo_helpers.quant.debug.range_ratios`).
    """
    return bars(frame, "Channel range ratio per convolution", "largest / smallest output-channel range (log)",
                "offline analysis of the float graph", 1, log=True)


def mac_shares(files: dict):
    """Share of each file's MACs per unit on the N6, the MP2 and the MP1 (CPU only), predicted
    (:func:`~zoo_helpers.deploy.place`).
    """
    import pandas as pd

    rows = {}
    for label, path in files.items():
        summary = place(path).summary()
        for target, units in summary.items():
            rows[f"{label}, {target.upper()}"] = {u: 100 * v for u, v in units.items()}
    return bars(pd.DataFrame(rows).T.fillna(0.0), "Where the MACs run", "share of the model's MACs (%)",
                "predicted from the placement rules, not measured")


def recipes(records, metric: str, choose_by: str | None = None):
    """Each recipe's ``metric`` and label-free agreement, best per granularity first; dashed: the per-tensor goal.

    The goal line is the target of the per-tensor goal (:func:`zoo_helpers.book.recipe_table.goals`): our best
    per-channel score, chosen as the table chooses it, minus :data:`zoo_helpers.book.recipe_table.PER_TENSOR_GAP`.
    """
    table = recipe_table.table(records, metric, choose_by)
    name = metric if metric.endswith(")") else f"{metric} (%)"
    target = float(recipe_table.goals(records, metric, choose_by=choose_by).loc[recipe_table.PER_TENSOR_GOAL,
                                                                                 "target"])
    frame = table[[name, recipe_table.AGREEMENT]]
    frame.index = [f"{label} ({g})" if g not in label else label for label, g in table["granularity"].items()]
    shown = {r.variant: r for r in records if metric in r.metrics and r.split in ("test", "")}
    errors = {name: _whiskers([shown.get(label) for label in table.index], metric)}
    source = ", ".join(sorted({r.measured_on for r in records if metric in r.metrics}))
    n = ", ".join(sorted({f"n = {r.samples}" for r in shown.values()}))
    return bars(frame, f"{metric} ({n}, 95 % CI), agreement with float", "%",
                f"{source}; dashed: per-tensor goal {target:.1f}", reference=target, errors=errors)
