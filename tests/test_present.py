"""The table presenter and the at-a-glance block, on the book's own tables and records."""

import pandas as pd

from zoo_helpers import results
from zoo_helpers.book import glance, present, tables


def test_numbers_follow_their_unit():
    cases = [(72.0412, "ST mean OKS (%)"), (1.853922, "median ms (ms)"), (20.0, "runs"), (2301.14, "weights (KiB)"),
             (0.987, "ratio MACCs"), (8.4567, "mean EPE (px)"), (float("nan"), "x"), (float("inf"), "SQNR (dB)")]
    assert [present.number(v, c) for v, c in cases] == ["72.0", "1.85", "20", "2,301.1", "0.99", "8.46", "—", "∞"]


def test_card_table_fits_rules():
    t = tables.accuracy_table("movenet", [])
    out = present.html(t)
    assert out.count("<tr>") == len(t) + 1 and "...</td>" not in out  # every row, nothing cut by pandas
    assert 'class="zoo-table"' in out and "overflow-x:auto" in out     # scrolls in its own box
    assert "see note 1" in out and "<ol><li>not run" in out              # long reasons become notes
    assert "row_heading" not in out                                     # RangeIndex hidden
    assert "ST mean OKS — published:" in out                            # caption from the table's attrs


def test_constant_context_moves_to_the_caption_and_long_names_keep_a_tooltip():
    name = "movenet_192_model/re_lu_29/Relu6;movenet_192_model/depthwise_conv2d_12/depthwise"
    df = pd.DataFrame({"SQNR (dB)": [3.25, -1.5], "measured on": ["host CPU", "host CPU"]}, index=[name, "b"])
    out = present.html(df)
    assert "measured on: host CPU" in out and "<th" in out and ">measured on<" not in out
    assert f'title="{name}"' in out and "…" in out and "3.2" in out


def test_install_registers_the_presenter_in_ipython_and_nothing_outside(monkeypatch):
    import IPython
    import pandas as pd

    registered = []
    formatter = type("F", (), {"for_type": lambda self, t, f: registered.append((t, f))})()
    shell = type("S", (), {"display_formatter": type("D", (), {"formatters": {"text/html": formatter}})()})()
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    present.install()
    assert registered == []  # a script or a test: nothing registered
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    present.install()
    assert registered == [(pd.DataFrame, present.html), (pd.Series, present.html)]


def test_glance_says_what_the_records_say():
    r = [results.Record("hp", "c", "k", "published int8", {"PCK@0.2": 0.94}, 16, 12, {}, {}, "host CPU", kind="gt"),
         results.Record("hp", "c", "k", "our per-channel", {"PCK@0.2": 0.93}, 16, 12, {}, {}, "host CPU", kind="gt"),
         results.Record("hp", "c", "k", "our per-tensor", {"PCK@0.2": 0.39}, 16, 12, {}, {}, "host CPU", kind="gt")]
    lines = glance.findings(r, "PCK@0.2")
    assert lines[0].startswith("published int8 scores 94.0 % PCK@0.2 on 16 samples from 12 images (host CPU, gt)")
    assert "worst: our per-tensor (39.0 %)" in lines[1]
    assert lines[2] == "Our per-tensor int8 loses against our per-channel: 39.0 % against 93.0 %."
    text = glance.glue("x", r, "PCK@0.2")
    assert text.startswith(":::{admonition} At a glance") and text.count("\n- ") == 3
    nme = [results.Record("h", "c", "k", v, {"mean NME": x}, 10, 6, {}, {}, "host CPU") for v, x in
           (("published int8", 0.16), ("our per-tensor", 0.15))]
    assert "Best: our per-tensor" in glance.findings(nme, "mean NME")[1]  # lower NME is better
