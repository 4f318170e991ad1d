"""The browser lane's checker (tests/browser/check_book.py) on small hand-made pages, without the book.

The pure verdicts run everywhere; the end-to-end run over a hand-made book needs Chromium and playwright, and
fails without them, never skips: `make test` installs Debian's chromium before the unit lane.
"""

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
import check_book as cb  # noqa: E402

ORIGIN = "http://127.0.0.1:8000"


def _write(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- pages, names, links


def test_find_pages_keeps_the_book_pages_only(tmp_path):
    for rel in ["index.html", "book/intro.html", "notebooks/movenet.html", "_static/x.html", "_sources/a.html",
                "_images/b.html", "genindex.html", "search.html", "py-modindex.html", "notebooks/data.json"]:
        _write(tmp_path, rel, "")
    assert cb.find_pages(tmp_path) == ["book/intro.html", "index.html", "notebooks/movenet.html"]


def test_screenshot_names_follow_the_page_path():
    assert cb.screenshot_name("notebooks/hand_posture.html") == "notebooks-hand_posture.png"
    assert cb.screenshot_name("index.html") == "index.png"


def test_redirect_stub_is_recognised():
    assert cb.redirect_target('<meta http-equiv="Refresh" content="0; url=book/intro.html" />') == "book/intro.html"
    assert cb.redirect_target("<html><body><p>refresh</p></body></html>") is None


@pytest.fixture()
def site(tmp_path):
    _write(tmp_path, "a.html", '<h2 id="here">x</h2><a name="old"></a><p id="caf%C3%A9">y</p><p id="café">z</p>')
    _write(tmp_path, "sub/index.html", "<p>sub</p>")
    _write(tmp_path, "_static/s.css", "")
    return tmp_path


@pytest.mark.parametrize(
    ("url", "dead"),
    [
        (f"{ORIGIN}/a.html", None),
        (f"{ORIGIN}/a.html#here", None),
        (f"{ORIGIN}/a.html#old", None),
        (f"{ORIGIN}/a.html#caf%C3%A9", None),
        (f"{ORIGIN}/a.html#", None),
        (f"{ORIGIN}/sub/", None),
        (f"{ORIGIN}/sub", None),
        (f"{ORIGIN}/_static/s.css", None),
        (f"{ORIGIN}/b.html", "missing file b.html"),
        (f"{ORIGIN}/a.html#gone", "no anchor #gone in a.html"),
        (f"{ORIGIN}/nosub/", "missing file nosub/index.html"),
        ("https://github.com/STMicroelectronics/stm32ai-modelzoo", None),
        ("http://127.0.0.1:9999/b.html", None),
        ("mailto:someone@example.org", None),
        ("javascript:void(0)", None),
    ],
)
def test_check_link(site, url, dead):
    cb.anchors_of.cache_clear()
    assert cb.check_link(url, ORIGIN, site) == dead


def test_dead_links_are_reported_once_per_href(site):
    links = [{"href": "b.html", "resolved": f"{ORIGIN}/b.html", "text": "B"}] * 3
    links += [{"href": "a.html#here", "resolved": f"{ORIGIN}/a.html#here", "text": "ok"}]
    assert cb.dead_links({"links": links}, ORIGIN, site) == ["href 'b.html' (text 'B') (3 links): missing file b.html"]


# ---------------------------------------------------------------- text checks


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Traceback (most recent call last):\n  File x", "traceback"),
        ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", "TensorFlow log"),
        ("INFO:tensorflow:Assets written to: somewhere", "logging line"),
        ("W0000 00:00:1712.5 123 tf_tfl_flatbuffer_helpers.cc:365] Ignored", "absl/glog line"),
        ("2026 WARNING | kernel", "WARNING"),
        ("/x.py:3: UserWarning: careful", "Python warning"),
        ("DeprecationWarning: old", "Python warning"),
        ("saved to /tmp/model.tflite", "temp path"),
        ("saved in tmpab12_x9z/model", "tempfile folder"),
        ("cache /root/.cache/zoo", "home path"),
        ("File /usr/lib/python3/site-packages/x.py", "home path"),
    ],
)
def test_log_patterns_catch(text, label):
    assert label in [found for found, _ in cb.log_hits(f"accuracy 0.91\n{text}\nmore")]


@pytest.mark.parametrize(
    "text",
    ["accuracy 0.91, no warnings", "Warning signs in the data", "template folder", "tmp is short", "attempt 12"],
)
def test_log_patterns_leave_ordinary_text_alone(text):
    assert cb.log_hits(text) == []


def test_log_hit_quotes_the_whole_offending_line():
    assert cb.log_hits("a\nINFO:tensorflow:Assets written to: x/assets\nb")[0][1] == (
        "INFO:tensorflow:Assets written to: x/assets"
    )


def test_log_texts_name_stderr_and_traceback_blocks():
    facts = {"logs": [
        {"index": 0, "where": "div.cell_output (cell 2 output)", "text": "0.5", "blocks": []},
        {"index": 1, "where": "div.cell_output (cell 3 output)", "text": "progress 10%", "blocks": ["stderr"]},
    ]}
    assert cb.log_texts(facts) == ["div.cell_output (cell 3 output) shows stderr output block: 'progress 10%'"]


@pytest.mark.parametrize(
    ("text", "cut"), [("abc...", True), ("abc…", True), ("...", True), (" x… ", True), ("1.5", False), ("", False)]
)
def test_truncated(text, cut):
    assert cb.is_truncated(text) is cut


def test_truncated_cells_one_line_per_table():
    cells = [
        {"table": 0, "where": "table.dataframe (cell 3 output)", "row": 1, "col": 2, "text": "https://raw.git..."},
        {"table": 0, "where": "table.dataframe (cell 3 output)", "row": 2, "col": 2, "text": "…"},
        {"table": 2, "where": "table.dataframe (cell 9 output)", "row": 0, "col": 0, "text": "ok..."},
    ]
    lines = cb.truncated_cells({"cells": cells})
    assert lines == [
        "table #1 table.dataframe (cell 3 output): 2 cell(s) end in an ellipsis, first at row 2 col 3: "
        "'https://raw.git...'",
        "table #3 table.dataframe (cell 9 output): 1 cell(s) end in an ellipsis, first at row 1 col 1: 'ok...'",
    ]


def test_broken_images_are_those_with_no_natural_width():
    images = [{"src": "a.png", "naturalWidth": 640, "error": ""},
              {"src": "b.png", "naturalWidth": 0, "error": "The source image cannot be decoded."}]
    assert cb.broken_images({"images": images}) == [
        "image 'b.png' did not decode (naturalWidth 0; The source image cannot be decoded.)"
    ]


# ---------------------------------------------------------------- widths


def _item(kind, width, ancestors=(), desc="el"):
    return {"kind": kind, "desc": desc, "width": width, "scrollWidth": width, "boxWidth": width,
            "ancestors": list(ancestors)}


def _facts(*items, column=688.0):
    return {"column": {"width": column, "desc": "article.bd-article"}, "outputs": list(items)}


def test_wide_output_tolerance_is_one_pixel():
    assert cb.wide_outputs(_facts(_item("table", 689.0))) == []
    assert len(cb.wide_outputs(_facts(_item("table", 689.5)))) == 1


def test_wide_output_reports_the_innermost_wide_element():
    facts = _facts(_item("output", 900, desc="div.output"), _item("table", 900, [0], desc="table.dataframe"),
                   _item("output", 700, desc="div.other"), _item("image", 300, [2]))
    assert cb.wide_outputs(facts) == [
        "table table.dataframe: 900 px wide (scrollWidth 900, box 900) > column 688 px (article.bd-article)",
        "output div.other: 700 px wide (scrollWidth 700, box 700) > column 688 px (article.bd-article)",
    ]


def test_code_cells_count_only_when_asked():
    facts = _facts(_item("code", 1000))
    assert cb.wide_outputs(facts) == []
    assert len(cb.wide_outputs(facts, include_code=True)) == 1


def test_phone_scroll():
    fits = {"viewport": 412, "scrollWidth": 412, "bodyScrollWidth": 412, "offender": None}
    assert cb.phone_scroll(fits) == []
    off = {"desc": "h1 (#top)", "text": "Hand posture", "right": 559.4, "width": 380, "via": "", "word": "(CNN2D,"}
    lines = cb.phone_scroll({"viewport": 412, "scrollWidth": 559, "bodyScrollWidth": 412, "offender": off})
    assert lines == ["page scrolls sideways: scrollWidth 559 px > viewport 412 px; widest offender h1 (#top) "
                     "'Hand posture', word '(CNN2D,' reaches 559 px"]


def test_summary_counts_pages():
    ok, bad = cb.PageResult("a.html"), cb.PageResult("b.html", [("dead-link", "x"), ("wide-output", "y")])
    assert cb.summary([ok, ok]) == ("2 passed, 0 failed", 0)
    assert cb.summary([ok, bad]) == ("1 passed, 1 failed", 1)
    assert cb.summary([]) == ("0 passed, 0 failed", 1)


# ---------------------------------------------------------------- the lane's refusals


def test_no_page_fails(tmp_path):
    out = io.StringIO()
    assert cb.main([str(tmp_path / "html"), "--chromium", "/nonexistent/chromium"], out) == 1
    assert "no page found" in out.getvalue()
    assert out.getvalue().splitlines()[-1] == "0 passed, 0 failed"


def test_no_chromium_fails_loudly(tmp_path):
    _write(tmp_path, "html/index.html", "<p>x</p>")
    _write(tmp_path, "html/book/intro.html", "<p>x</p>")
    out = io.StringIO()
    assert cb.main([str(tmp_path / "html"), "--chromium", "/nonexistent/chromium"], out) == 1
    text = out.getvalue()
    assert "no Chromium found (/nonexistent/chromium)" in text and "apt-get install -y chromium" in text
    assert text.splitlines()[-1] == "0 passed, 2 failed"


def test_serve_binds_loopback_and_shuts_down(tmp_path):
    import urllib.request

    _write(tmp_path, "a.html", "hello")
    with cb.serve(tmp_path) as origin:
        assert origin.startswith("http://127.0.0.1:")
        assert urllib.request.urlopen(f"{origin}/a.html", timeout=5).read() == b"hello"
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{origin}/a.html", timeout=2)


# ---------------------------------------------------------------- end to end in Chromium, on a hand-made book

CSS = """<style>
body { margin: 0; font: 16px/1.4 sans-serif; }
article.bd-article { max-width: 600px; padding: 0 10px; }
pre { overflow-x: auto; }
.cell_output .output.text_html { overflow-x: auto; }
</style>"""


def _page(body: str, head: str = "") -> str:
    return f"<!doctype html><html><head><meta charset='utf-8'>{CSS}{head}</head><body>" \
           f"<article class='bd-article'>{body}</article></body></html>"


def _cell(source: str, output: str) -> str:
    return (f"<div class='cell'><div class='cell_input'><pre>{source}</pre></div>"
            f"<div class='cell_output'>{output}</div></div>")


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _hand_made_book(root: Path, broken: bool) -> Path:
    html = root / "html"
    _write(html, "index.html", '<meta http-equiv="Refresh" content="0; url=book/good.html" />')
    _write(html, "_images/dot.png", _png())
    _write(html, "book/good.html", _page(
        "<h1 id='top'>Good</h1><p>A page that passes: <a href='../notebooks/wide.html#wide'>wide</a>, "
        "<a href='#top'>top</a>, <a href='https://example.org/x'>out</a>, <a href='mailto:a@b.c'>mail</a>.</p>"
        + _cell("x = 1" + " " * 10 + "# a long source line " * 10,
                "<div class='output text_html'><table><tr><th>a</th><td>1.0</td></tr></table></div>"
                "<img src='../_images/dot.png' alt='dot'>")))
    _write(html, "_static/not_a_page.html", "<a href='nowhere.html'>x</a>")
    _write(html, "search.html", "<a href='nowhere.html'>x</a>")
    if not broken:
        _write(html, "notebooks/wide.html", _page("<h1 id='wide'>Wide</h1>"))
        return html
    _write(html, "notebooks/wide.html", _page(
        "<h1 id='wide'>Wide</h1>"
        + _cell("show()", "<div class='output text_html'><table style='width:900px'><tr><td>a</td></tr></table></div>")
        + _cell("log()", "<div class='output stream'><pre>" + "long-output-line " * 60 + "</pre></div>")))
    _write(html, "notebooks/cut.html", _page(
        "<table><tr><th>name</th><td>MoveNet Lightn...</td></tr><tr><td>…</td><td>1</td></tr></table>"
        "<table><tr><td>fine</td></tr></table><table><tr><td>x…</td></tr></table>"))
    _write(html, "_images/bad.png", b"this is not a png")
    _write(html, "notebooks/images.html", _page(
        "<img src='../_images/dot.png' alt='ok'><img src='../_images/bad.png' alt='bad'>"
        "<img src='../_images/gone.png' alt='gone'>"))
    _write(html, "notebooks/logs.html", _page(
        _cell("fit()", "<div class='output stream'><pre>INFO:tensorflow:Assets written to: /tmp/tmpn0cayipx/assets"
                       "</pre></div>")
        + _cell("boom()", "<div class='output traceback'><pre>Traceback (most recent call last):\n  File x</pre></div>")
        + _cell("ok()", "<div class='output stream'><pre>accuracy 0.91</pre></div>")))
    _write(html, "notebooks/links.html", _page(
        "<h2 id='here'>Here</h2><a href='#here'>ok</a> <a href='#gone'>gone</a> <a href='missing.html'>m</a>"
        " <a href='../book/good.html#nope'>nope</a> <a href='../book/good.html#top'>ok</a>"
        " <a href='http://example.org/'>ext</a>"))
    _write(html, "notebooks/phone_word.html", _page(
        "<h1 style='font-size:32px'>Hand posture (CNN2D_ST_HandPosture_Long_Word)</h1>"
        + _cell("t", "<div class='output text_html'><table style='width:1500px'><tr><td>x</td></tr></table></div>")))
    _write(html, "notebooks/phone_table.html", _page(
        "<p>short</p><table style='width:500px' class='dataframe'><tr><td>a</td><td>b</td></tr></table>"))
    _write(html, "notebooks/external.html", _page(
        "<p>x</p>", head="<script src='https://cdn.example.org/lib.js'></script>"))
    return html


def _chromium() -> str:
    import playwright.sync_api  # noqa: F401  (pinned: a broken install fails here, it is not skipped)

    chromium = cb.find_chromium(None)
    if chromium is None:
        pytest.fail("no Chromium on this machine: `make chromium` (or apt-get install -y chromium) installs it")
    return chromium


@pytest.fixture(scope="module")
def lane_run(tmp_path_factory):
    chromium = _chromium()
    root = tmp_path_factory.mktemp("book")
    html = _hand_made_book(root, broken=True)
    out = io.StringIO()
    code = cb.main([str(html), "--screens", str(root / "screens"), "--chromium", chromium], out)
    lines = out.getvalue().splitlines()
    failures: dict[str, list[str]] = {}
    for line in lines:
        page, _, rest = line.partition(": ")
        if page.endswith(".html"):
            failures.setdefault(page, []).append(rest)
    return {"code": code, "lines": lines, "failures": failures, "root": root}


def _checks(lane_run, page):
    return sorted({f.split(": ", 1)[0] for f in lane_run["failures"].get(page, [])})


def test_lane_closes_with_page_counts(lane_run):
    assert lane_run["lines"][-1] == "2 passed, 8 failed"
    assert lane_run["code"] == 1


def test_good_page_and_redirect_pass(lane_run):
    assert "book/good.html" not in lane_run["failures"]
    assert "index.html" not in lane_run["failures"]
    assert not any(p.startswith(("_static", "search")) for p in lane_run["failures"])


def test_wide_table_and_pre_fail_at_desktop_but_scroll_in_their_box_on_a_phone(lane_run):
    lines = lane_run["failures"]["notebooks/wide.html"]
    assert _checks(lane_run, "notebooks/wide.html") == ["wide-output"]
    assert any(line.startswith("wide-output: table table (cell 1 output") and "900 px wide" in line
               and "> column 600 px" in line for line in lines)
    assert any(line.startswith("wide-output: pre pre (cell 2 output") for line in lines)
    assert len(lines) == 2  # innermost only: not the wrapping div.output


def test_truncated_cells(lane_run):
    lines = lane_run["failures"]["notebooks/cut.html"]
    assert lines == [
        "truncated-cell: table #1 table: 2 cell(s) end in an ellipsis, first at row 1 col 2: 'MoveNet Lightn...'",
        "truncated-cell: table #3 table: 1 cell(s) end in an ellipsis, first at row 1 col 1: 'x…'",
    ]


def test_images(lane_run):
    lines = lane_run["failures"]["notebooks/images.html"]
    assert _checks(lane_run, "notebooks/images.html") == ["broken-image", "missing-resource"]
    assert any("'../_images/bad.png' did not decode" in line for line in lines)
    assert any("'../_images/gone.png' did not decode" in line for line in lines)
    assert not any("dot.png" in line for line in lines)
    assert "missing-resource: HTTP 404 for /_images/gone.png" in lines


def test_logs(lane_run):
    lines = lane_run["failures"]["notebooks/logs.html"]
    assert len(lines) == 2
    assert lines[0].startswith("log-text: div.cell_output (cell 1 output) shows logging line, temp path, tempfile "
                               "folder: 'INFO:tensorflow:Assets written to: /tmp/tmpn0cayipx/assets'")
    assert lines[1].startswith("log-text: div.cell_output (cell 2 output) shows traceback output block, traceback")


def test_dead_links(lane_run):
    lines = lane_run["failures"]["notebooks/links.html"]
    assert sorted(lines) == [
        "dead-link: href '#gone' (text 'gone'): no anchor #gone in notebooks/links.html",
        "dead-link: href '../book/good.html#nope' (text 'nope'): no anchor #nope in book/good.html",
        "dead-link: href 'missing.html' (text 'm'): missing file notebooks/missing.html",
    ]


def test_phone_scroll_names_the_word_that_does_not_wrap(lane_run):
    assert _checks(lane_run, "notebooks/phone_word.html") == ["phone-scroll", "wide-output"]  # 1500 px table
    (line,) = [f for f in lane_run["failures"]["notebooks/phone_word.html"] if f.startswith("phone-scroll")]
    assert "table" not in line  # it scrolls in its own box
    assert line.startswith("phone-scroll: page scrolls sideways: scrollWidth ")
    assert "widest offender h1 'Hand posture (CNN2D_ST_HandPosture_Long_Word)'" in line
    assert "word '(CNN2D_ST_HandPosture_Long_Word)'" in line


def test_phone_scroll_names_a_table_outside_a_scroll_box(lane_run):
    (line,) = lane_run["failures"]["notebooks/phone_table.html"]
    assert "> viewport 412 px; widest offender table.dataframe" in line


def test_external_requests_are_blocked_and_reported(lane_run):
    assert lane_run["failures"]["notebooks/external.html"] == [
        "external-request: the page asks for https://cdn.example.org/lib.js (blocked: the book must work offline)"
    ]


def test_screenshots_for_every_page_at_both_widths(lane_run):
    from PIL import Image

    screens = lane_run["root"] / "screens"
    names = sorted(p.name for p in screens.glob("*.png"))
    assert names == sorted(p.name for p in (screens / "phone").glob("*.png"))
    assert len(names) == 10 and "index.png" in names and "notebooks-phone_word.png" in names
    assert Image.open(screens / "book-good.png").width == cb.DESKTOP_WIDTH
    assert Image.open(screens / "phone" / "book-good.png").width == cb.PHONE_WIDTH
    assert Image.open(screens / "phone" / "notebooks-phone_word.png").width > cb.PHONE_WIDTH


def test_a_clean_book_passes(tmp_path):
    chromium = _chromium()
    html = _hand_made_book(tmp_path, broken=False)
    out = io.StringIO()
    assert cb.main([str(html), "--chromium", chromium], out) == 0, out.getvalue()
    assert out.getvalue().splitlines()[-1] == "3 passed, 0 failed"
    assert (tmp_path / "screens" / "phone" / "notebooks-wide.png").is_file()
