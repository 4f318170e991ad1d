"""The book's one table presenter, and the small tables of a chapter that are not card tables.

Every DataFrame a chapter shows is rendered here, the same way.
:func:`install` registers :func:`html` as the notebook's HTML formatter for pandas objects, so a cell
that ends in a DataFrame (or a Series) is shown through it; :func:`style` gives the
``pandas.io.formats.style.Styler`` itself. The rules, so that every table fits the book's content column
and reads the same:

* no index column unless it carries meaning (a ``RangeIndex`` is hidden);
* numbers formatted by the unit in their header: ``(%)`` and ``(dB)`` one decimal, ``(ms)`` three
  significant digits, ``(KiB)`` and ``(M)`` one decimal with thousands separators, ``(px)`` two decimals,
  ratios two decimals, whole numbers without a decimal point, anything else three significant digits;
* columns with one value in every row that say where or on what a number was measured (``measured on``,
  ``runs``, ``threads``) move into the caption, with the caption in ``df.attrs["caption"]``;
* no text is cut: a long name in the index or the first column is shortened in the middle with the full
  name in a tooltip; other long text becomes a numbered note under the table;
* the table sits in a box that scrolls by itself on a narrow screen, never the page.

The chapter's own small tables are here too (:func:`licences`, :func:`spec_table`, :func:`files`,
:func:`counts`, :func:`mapping`): they take data already looked up
and measure nothing. Card tables and tables of result records are :mod:`zoo_helpers.book.tables`.

Pandas' own HTML has none of this (its truncation is what the book must not show), and great-tables
needs a browser-side stylesheet the offline Jupyter Book 1 build does not load, so the presenter is a
thin layer over pandas' Styler.
"""

from __future__ import annotations

import html as _html
import math
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from zoo_helpers.registry import assets, catalog
from zoo_helpers.registry.keypoints import layout as find

#: Columns that move into the caption when they hold one value.
CAPTION_COLUMNS = ("measured on", "runs", "threads")
#: Text longer than this becomes a numbered note under the table (names in the index or first column
#: are shortened in the middle past :data:`MAX_NAME` instead, the full name in a tooltip).
MAX_TEXT = 40
MAX_NAME = 48
_CSS = ("<style>.zoo-table{overflow-x:auto;max-width:100%;margin:0 0 1em}"
        ".zoo-table table{font-size:0.75em;border-collapse:collapse}"
        ".zoo-table th,.zoo-table td{padding:2px 4px;white-space:normal;vertical-align:top}"
        ".zoo-table th,.zoo-table td{overflow-wrap:anywhere}"
        ".zoo-table th{text-align:left}.zoo-table td.num{text-align:right;white-space:nowrap}"
        ".zoo-table caption{caption-side:top;text-align:left;font-size:0.85em;color:#555}"
        ".zoo-table ol{font-size:0.75em;color:#555;margin:0.3em 0 0 1.2em}</style>")


def number(value: Any, column: str) -> str:
    """One number as the book shows it in a column named ``column`` (see the module docstring).

    Examples
    --------
    >>> number(1.853922, "median (ms)"), number(20.0, "runs"), number(72.04, "ST mean OKS (%)")
    ('1.85', '20', '72.0')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    unit = column.rsplit("(", 1)[-1] if column.endswith(")") else ""
    if unit in ("%)", "dB)"):
        return f"{value:.1f}"
    if unit == "px)":
        return f"{value:.2f}"
    if unit in ("KiB)", "M)"):
        return f"{value:,.1f}"
    if column.startswith("ratio") or column.endswith("ratio"):
        return f"{value:.2f}"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    return f"{value:.3g}"


def _short(text: str, limit: int = MAX_NAME) -> str:
    """``text`` shortened in the middle to about ``limit`` characters, the full text in a tooltip."""
    if len(text) <= limit:
        return _html.escape(text)
    head, tail = text[: limit // 2], text[-(limit // 2 - 1):]
    return f'<abbr title="{_html.escape(text)}">{_html.escape(head)}…{_html.escape(tail)}</abbr>'


def _prepare(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str], bool]:
    """Move constant context columns to the caption; say whether the index carries meaning."""
    caption = [str(df.attrs["caption"])] if df.attrs.get("caption") else []
    keep = []
    for col in df.columns:
        values = df[col].dropna().astype(str).unique() if len(df) else []
        if str(col) in CAPTION_COLUMNS and len(values) == 1:
            caption.append(f"{col}: {values[0]}")
        else:
            keep.append(col)
    meaningful = not isinstance(df.index, pd.RangeIndex)
    return df[keep], caption, meaningful


def style(df: pd.DataFrame | pd.Series, caption: str = "", wrap: bool = False) -> tuple[Any, list[str]]:
    """The Styler of ``df`` by the book's rules, and the notes that go under it.

    ``wrap`` keeps long text in its cell, wrapped, instead of moving it to a note (for a table of prose).
    """
    if isinstance(df, pd.Series):
        df = df.to_frame()
    if not df.index.is_unique:  # repeated labels (e.g. three faces of one image) become a plain first column
        df = df.reset_index(names=df.index.name or "")
    attrs = dict(df.attrs)
    df, parts, meaningful = _prepare(df)
    df.attrs.update(attrs)
    notes: list[str] = []

    def cell(value: Any, column: str, first: bool) -> str:
        if isinstance(value, str) and len(value) > MAX_TEXT and not first and not wrap:
            if value not in notes:
                notes.append(value)
            return f"see note {notes.index(value) + 1}"
        if isinstance(value, str):
            return _short(value) if first else _html.escape(value)
        return number(value, column)

    first_col = None if meaningful else (df.columns[0] if len(df.columns) else None)
    styler = df.style.format({c: (lambda v, c=c: cell(v, str(c), c == first_col)) for c in df.columns})
    styler = styler.format_index(lambda v: _short(str(v)), axis=0).format_index(lambda v: _html.escape(str(v)), axis=1)
    if not meaningful:
        styler = styler.hide(axis="index")
    numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])]
    styler = styler.set_td_classes(pd.DataFrame({c: ["num" if c in numeric else ""] * len(df) for c in df.columns},
                                                index=df.index))
    text = "; ".join(p for p in [caption, *parts] if p)
    return (styler.set_caption(_html.escape(text)) if text else styler), notes


def html(df: pd.DataFrame | pd.Series, caption: str = "", wrap: bool = False) -> str:
    """The HTML a chapter shows for ``df``: the styled table in its own scroll box, and its notes.

    Examples
    --------
    >>> out = html(pd.DataFrame({"model": ["a"], "median (ms)": [1.853922], "measured on": ["host CPU"]}))
    >>> "1.85" in out and "measured on: host CPU" in out and "<th" in out
    True
    """
    styler, notes = style(df, caption, wrap)
    body = styler.to_html(exclude_styles=False)
    listed = "".join(f"<li>{_link(n)}</li>" for n in notes)
    return f'{_CSS}<div class="zoo-table">{body}{f"<ol>{listed}</ol>" if notes else ""}</div>'


def _link(text: str) -> str:
    """A note's text, with URLs as links."""
    escaped = _html.escape(text)
    return re.sub(r"(https?://[^\s;,()]+)", r'<a href="\1">\1</a>', escaped)


def install() -> None:
    """Show every pandas DataFrame and Series of this notebook through :func:`html`.

    Does nothing outside IPython (e.g. in a script or a test).
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    formatter = shell.display_formatter.formatters["text/html"]
    formatter.for_type(pd.DataFrame, html)
    formatter.for_type(pd.Series, html)


def licences(names: list[str]) -> pd.DataFrame:
    """Where each registry file comes from and its licence (asset names, or catalog keys of models).

    Examples
    --------
    >>> list(licences(["movenet_lightning_192", "mmpose_coco_annotations"])["name"])
    ['movenet_lightning_192_int8', 'mmpose_coco_annotations']
    """

    known = catalog.entries()
    names = [known[n].asset if n in known else n for n in names]
    found = [assets.lookup(n) for n in dict.fromkeys(names)]
    return pd.DataFrame([{"name": a.name, "source": a.source, "licence": a.licence} for a in found])


def files(models: dict) -> pd.DataFrame:
    """File name and size of each model variant (label -> loaded model)."""
    return pd.DataFrame({"file": [m.path.name for m in models.values()],
                         "size (KiB)": [round(m.path.stat().st_size / 1024, 1) for m in models.values()]},
                        index=list(models))


def spec_table(model) -> pd.DataFrame:
    """Inputs and outputs of a model as a table (name, shape, dtype, layout, quantization)."""
    def q(s) -> str:
        if not s.quantized:
            return "float"
        if s.per_axis:
            return f"per-axis ({s.scale.size} scales, axis {s.axis})"
        return f"scale {s.scale[0]:.6g}, zero point {int(s.zero_point[0])}"

    rows = [{"role": role, "name": s.name, "shape": str(list(s.shape)), "dtype": str(s.dtype),
             "layout": s.layout or "—", "quantization": q(s)}
            for role, specs in (("input", model.inputs), ("output", model.outputs)) for s in specs]
    return pd.DataFrame(rows)


def counts(values: Sequence[str], name: str) -> pd.DataFrame:
    """How many of each value, e.g. samples per dataset.

    Examples
    --------
    >>> counts(["a", "b", "a"], "hands")["hands"].tolist()
    [2, 1]
    """
    return pd.Series(list(values)).value_counts().rename(name).to_frame()


def mapping(name: str, source: str, label: str) -> pd.DataFrame:
    """Keypoint layout ``name``'s mapping from ``source``: one row per scored point, its source point beside it.

    Examples
    --------
    >>> mapping("face68", "face468", "mesh vertex").shape
    (51, 1)
    """

    layout = find(name)
    points = layout.scored(source)
    series = pd.Series({i: layout.maps[source][i] for i in points}, name=label)
    return series.rename_axis(f"{layout.name} index").to_frame()
