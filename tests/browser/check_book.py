"""Browser lane: the built book as a reader sees it, in headless Chromium driven by playwright.

Run it
------
    make test-browser                      # installs Debian's chromium when missing (root), then runs this
    python tests/browser/check_book.py     # same check on _build/html; needs `make book` first
    python tests/browser/check_book.py BUILD_DIR --screens DIR --chromium /usr/bin/chromium

The pages are every ``*.html`` under the build directory except ``_static/``, ``_sources/``, ``_images/``
(any folder starting with ``_``), ``genindex``, ``search`` and ``py-modindex``. They are served by a
``http.server`` on 127.0.0.1 with an ephemeral port for the duration of the run; requests to any other
address are aborted by the browser (the book is built offline, nothing should be fetched elsewhere).
Chromium is the system browser (``chromium`` on PATH, or ``--chromium``/``$CHROMIUM``), headless, with a
fresh temporary profile; playwright never downloads a browser here.

Checks at 1280 px width (the desktop pass)
------------------------------------------
- ``wide-output``: the content column is the first of ``article.bd-article``, ``.bd-article``, ``main``,
  ``body``; its width is its ``clientWidth`` less its horizontal padding. Every rendered element matched by
  ``.cell_output > *``, ``table``, ``img``, ``pre`` inside the column is measured as
  ``max(scrollWidth, getBoundingClientRect().width)``; wider than the column by more than 1 px fails.
  When a wide element contains another wide one, only the innermost is reported.
- ``truncated-cell``: a ``td``/``th`` whose text, stripped, ends in ``...`` or ``…`` (one line per table).
- ``broken-image``: an ``img`` whose ``naturalWidth`` is 0 once ``img.decode()`` settled (10 s bound).
- ``log-text``: the rendered text of each ``.cell_output`` matched against ``LOG_PATTERNS`` below, and any
  ``stderr`` or ``traceback`` output block.
- ``dead-link``: an ``<a href>`` that resolves on the local server to a file that does not exist, or to an
  ``#anchor`` that no ``id``/``name`` in the target file carries. http(s) links elsewhere, ``mailto:``,
  ``tel:``, ``javascript:`` and ``data:`` links are ignored.
- ``missing-resource``: a request to the local server answered with HTTP status >= 400 (CSS, script, image).
- ``load``: the page did not load, or the checker's script failed on it.

Checks at 412 px width (the phone pass)
---------------------------------------
- ``phone-scroll``: ``document.documentElement.scrollWidth`` (or ``body.scrollWidth``) exceeds the viewport
  (``documentElement.clientWidth``): the page scrolls sideways. Tables must scroll inside their own box. The
  line names the widest offender: the element reaching furthest right that is not inside a box that clips
  or scrolls horizontally (``overflow-x`` other than ``visible``), outermost first.

``index.html`` is Jupyter Book's redirect stub: it passes when the browser lands on its target; it gets a
screenshot, not the layout checks (the target page gets them).

Full-page screenshots: ``<screens>/<page path with / as ->.png`` (1280 px) and ``<screens>/phone/`` (412 px);
``<screens>`` defaults to ``screens/`` beside the build directory (``_build/screens``).

Output: one line per failure, ``page: check: detail``, then ``N passed, M failed`` counting pages. The exit
code is 0 only when no page failed and at least one page was checked. No Chromium, no playwright, or no page
found is said plainly and fails.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import html.parser
import http.server
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

DESKTOP_WIDTH = 1280
DESKTOP_HEIGHT = 900
PHONE_WIDTH = 412
PHONE_HEIGHT = 915
WIDTH_TOLERANCE_PX = 1.0
PAGE_TIMEOUT_MS = 30_000
IMAGE_DECODE_TIMEOUT_MS = 10_000

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "/usr/bin/chromium")
INSTALL_HINT = "install it with `apt-get install -y chromium` (as root; `make test-browser` does it)"

SKIP_NAMES = {"genindex.html", "search.html", "py-modindex.html"}
IGNORED_SCHEMES = {"mailto", "tel", "javascript", "data", "about", "blob"}

# What a reader must never see in a cell's output: (label, regex). Case-sensitive on purpose.
LOG_PATTERNS: list[tuple[str, str]] = [
    ("traceback", r"Traceback \(most recent call last\)"),
    ("TensorFlow log", r"INFO: Created TensorFlow Lite|tensorflow/(?:core|lite|compiler)/"),
    ("logging line", r"(?m)^(?:DEBUG|INFO|WARNING|ERROR|CRITICAL):[\w.]+:"),
    ("absl/glog line", r"(?m)^[IWEF]\d{4} \d\d:\d\d:\d\d"),
    ("WARNING", r"\bWARNING\b"),
    ("Python warning", r"\b[A-Z][A-Za-z]*Warning\b"),
    ("temp path", r"/tmp/|/var/folders/"),
    ("tempfile folder", r"\btmp[a-z0-9_]{8}\b"),
    ("home path", r"/root/|/home/[^/\s]+/|site-packages"),
]
_LOG_RES = [(label, re.compile(rx)) for label, rx in LOG_PATTERNS]
TRUNCATION_SUFFIXES = ("...", "…")

# ---------------------------------------------------------------- pure logic (unit-tested without a browser)


def find_pages(build_dir: Path) -> list[str]:
    """The book's pages under ``build_dir``, as sorted POSIX paths relative to it (``index.html``,
    ``book/*.html``, ``notebooks/*.html``): not in a folder starting with ``_`` or ``.``, not in SKIP_NAMES."""
    pages = []
    for path in build_dir.rglob("*.html"):
        rel = path.relative_to(build_dir)
        if any(part.startswith(("_", ".")) for part in rel.parts[:-1]) or rel.name in SKIP_NAMES:
            continue
        pages.append(rel.as_posix())
    return sorted(pages)


def screenshot_name(page: str) -> str:
    """``notebooks/movenet.html`` -> ``notebooks-movenet.png``.

    >>> screenshot_name("notebooks/movenet.html"), screenshot_name("index.html")
    ('notebooks-movenet.png', 'index.png')
    """
    stem = page[: -len(".html")] if page.endswith(".html") else page
    return stem.replace("/", "-") + ".png"


_REFRESH_RE = re.compile(
    r"""<meta\s[^>]*http-equiv\s*=\s*["']?refresh["']?[^>]*content\s*=\s*["']\s*\d+\s*;\s*url\s*=\s*([^"'>\s]+)""",
    re.IGNORECASE,
)


def redirect_target(html_text: str) -> str | None:
    """The URL of a ``<meta http-equiv="refresh">`` redirect stub, else None.

    >>> redirect_target('<meta http-equiv="Refresh" content="0; url=book/intro.html" />')
    'book/intro.html'
    >>> redirect_target("<p>hello</p>") is None
    True
    """
    m = _REFRESH_RE.search(html_text)
    return m.group(1) if m else None


class _AnchorCollector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if value and (key == "id" or (key == "name" and tag == "a")):
                self.anchors.add(value)


@functools.lru_cache(maxsize=256)
def anchors_of(path: Path) -> frozenset[str]:
    """Every ``id`` (and ``<a name>``) in an HTML file."""
    collector = _AnchorCollector()
    collector.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(collector.anchors)


def check_link(resolved: str, origin: str, build_dir: Path) -> str | None:
    """Why ``resolved`` (an absolute URL as the browser resolved an href) is dead, or None when it is fine.

    Only URLs on ``origin`` (the local server) are checked; anything else is ignored.
    """
    parts = urlsplit(resolved)
    if parts.scheme in IGNORED_SCHEMES or f"{parts.scheme}://{parts.netloc}" != origin:
        return None
    rel = unquote(parts.path).lstrip("/")
    target = build_dir / rel
    if rel == "" or rel.endswith("/") or target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return f"missing file {target.relative_to(build_dir).as_posix()}"
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html" and fragment not in anchors_of(target):
        return f"no anchor #{fragment} in {target.relative_to(build_dir).as_posix()}"
    return None


def log_hits(text: str) -> list[tuple[str, str]]:
    """(label, offending line) for every LOG_PATTERNS entry found in ``text``.

    >>> log_hits("ok\\nINFO: Created TensorFlow Lite XNNPACK delegate for CPU.")
    [('TensorFlow log', 'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.')]
    >>> log_hits("accuracy 0.91 warning-free")
    []
    """
    hits = []
    for label, rx in _LOG_RES:
        m = rx.search(text)
        if m:
            start = text.rfind("\n", 0, m.start()) + 1
            end = text.find("\n", m.end())
            hits.append((label, text[start : end if end >= 0 else len(text)].strip()))
    return hits


def is_truncated(cell_text: str) -> bool:
    """True for a table cell cut short by an ellipsis.

    >>> is_truncated("MoveNet Lightn..."), is_truncated("…"), is_truncated("1.0"), is_truncated("a. b")
    (True, True, False, False)
    """
    return cell_text.strip().endswith(TRUNCATION_SUFFIXES)


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def wide_outputs(facts: dict, include_code: bool = False) -> list[str]:
    """``wide-output`` details from the desktop facts: innermost elements wider than the column + tolerance.

    ``code`` items (a code cell's source, a literal block outside outputs) count only with ``include_code``.
    """
    column = facts["column"]["width"]
    items = facts["outputs"]
    wide = {
        i
        for i, it in enumerate(items)
        if it["width"] > column + WIDTH_TOLERANCE_PX and (include_code or it["kind"] != "code")
    }
    has_wide_descendant = {a for i in wide for a in items[i]["ancestors"] if a in wide}
    details = []
    for i in sorted(wide - has_wide_descendant):
        it = items[i]
        details.append(
            f"{it['kind']} {it['desc']}: {it['width']:.0f} px wide (scrollWidth {it['scrollWidth']:.0f}, box "
            f"{it['boxWidth']:.0f}) > column {column:.0f} px ({facts['column']['desc']})"
        )
    return details


def truncated_cells(facts: dict) -> list[str]:
    """``truncated-cell`` details, one per table: count and the first cut cell."""
    per_table: dict[int, list[dict]] = {}
    for cell in facts["cells"]:
        if is_truncated(cell["text"]):
            per_table.setdefault(cell["table"], []).append(cell)
    details = []
    for table, cells in sorted(per_table.items()):
        first = cells[0]
        details.append(
            f"table #{table + 1} {first['where']}: {len(cells)} cell(s) end in an ellipsis, first at row "
            f"{first['row'] + 1} col {first['col'] + 1}: {_short(first['text'])!r}"
        )
    return details


def _why(img: dict) -> str:
    return f"; {img['error']}" if img["error"] else ""


def broken_images(facts: dict) -> list[str]:
    return [
        f"image {_short(img['src'], 120)!r} did not decode (naturalWidth 0{_why(img)})"
        for img in facts["images"]
        if img["naturalWidth"] == 0
    ]


def log_texts(facts: dict) -> list[str]:
    details = []
    for out in facts["logs"]:
        labels = [f"{c} output block" for c in out["blocks"]]
        hits = log_hits(out["text"])
        labels += [label for label, _ in hits]
        if labels:
            line = hits[0][1] if hits else out["text"]
            details.append(f"{out['where']} shows {', '.join(labels)}: {_short(line, 120)!r}")
    return details


def dead_links(facts: dict, origin: str, build_dir: Path) -> list[str]:
    """``dead-link`` details, one per distinct href (the sidebar repeats links)."""
    dead: dict[str, list] = {}
    for link in facts["links"]:
        if link["href"] in dead:
            dead[link["href"]][2] += 1
            continue
        reason = check_link(link["resolved"], origin, build_dir)
        if reason:
            dead[link["href"]] = [link["text"], reason, 1]
    return [
        f"href {href!r} (text {_short(text, 40)!r}){f' ({count} links)' if count > 1 else ''}: {reason}"
        for href, (text, reason, count) in dead.items()
    ]


def phone_scroll(facts: dict) -> list[str]:
    """``phone-scroll`` detail when the page is wider than the phone viewport."""
    viewport = facts["viewport"]
    page_width = max(facts["scrollWidth"], facts["bodyScrollWidth"])
    if page_width <= viewport:
        return []
    off = facts["offender"]
    if off:
        via = f" via {off['via']}" if off.get("via") else ""
        word = f", word {off['word']!r}" if off.get("word") else ""
        who = f"widest offender {off['desc']} {_short(off['text'], 60)!r}{via}{word} reaches {off['right']:.0f} px"
    else:
        who = "no unclipped element reaches past the viewport"
    return [f"page scrolls sideways: scrollWidth {page_width} px > viewport {viewport} px; {who}"]


@dataclass
class PageResult:
    page: str
    failures: list[tuple[str, str]] = field(default_factory=list)

    def fail(self, check: str, details: list[str]) -> None:
        self.failures.extend((check, d) for d in details)


def summary(results: list[PageResult]) -> tuple[str, int]:
    """The closing line and the exit code.

    >>> summary([PageResult("a.html"), PageResult("b.html", [("dead-link", "x")])])
    ('1 passed, 1 failed', 1)
    >>> summary([])
    ('0 passed, 0 failed', 1)
    """
    failed = sum(1 for r in results if r.failures)
    passed = len(results) - failed
    return f"{passed} passed, {failed} failed", 0 if results and not failed else 1


# ---------------------------------------------------------------- the browser side

# Shared by both scripts: a short name for an element and where it sits (cell number, section id).
_HELPERS_JS = """
  const cellsOfPage = Array.from(document.querySelectorAll('div.cell'));
  const describe = el => {
    let d = el.tagName.toLowerCase();
    if (el.id && !/^codecell\\d+$/.test(el.id)) d += '#' + el.id;  // codecellN: ids added by copybutton.js
    const cls = Array.from(el.classList).filter(c => c !== 'docutils' && c !== 'notranslate').slice(0, 2);
    if (cls.length) d += '.' + cls.join('.');
    const where = [];
    const cell = el.closest('div.cell');
    if (cell) where.push(`cell ${cellsOfPage.indexOf(cell) + 1} ${el.closest('.cell_output') ? 'output' : 'input'}`);
    const section = el.closest('section[id]');
    if (section) where.push('#' + section.id);
    return where.length ? d + ' (' + where.join(', ') + ')' : d;
  };
"""

# Returns the desktop facts of the current page; the verdicts are taken in Python (functions above).
DESKTOP_JS = """
async ([decodeTimeout]) => {
""" + _HELPERS_JS + """
  const imgs = Array.from(document.images);
  imgs.forEach(i => { if (i.loading === 'lazy') i.loading = 'eager'; });
  const settle = i => Promise.race([
    i.decode().then(() => '', e => String((e && e.message) || e)),
    new Promise(r => setTimeout(() => r('decode timed out'), decodeTimeout)),
  ]);
  const errors = await Promise.all(imgs.map(settle));
  const col = document.querySelector('article.bd-article') || document.querySelector('.bd-article')
    || document.querySelector('main') || document.body;
  const cs = getComputedStyle(col);
  const colWidth = col.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  const cands = Array.from(col.querySelectorAll('.cell_output > *, table, img, pre'));
  const index = new Map(cands.map((el, i) => [el, i]));
  const outputs = cands.map(el => {
    const r = el.getBoundingClientRect();
    const ancestors = [];
    for (let p = el.parentElement; p && p !== col; p = p.parentElement) if (index.has(p)) ancestors.push(index.get(p));
    const tag = el.tagName.toLowerCase();
    const code = tag === 'pre' && !el.closest('.cell_output');  // a code cell's source or a literal block
    const kind = tag === 'table' ? 'table' : tag === 'img' ? 'image' : tag === 'pre' ? (code ? 'code' : 'pre')
      : 'output';
    const scrollW = tag === 'img' ? 0 : el.scrollWidth;
    const rendered = r.width > 0 || r.height > 0;
    return { kind, desc: describe(el), width: rendered ? Math.max(scrollW, r.width) : 0, scrollWidth: scrollW,
             boxWidth: r.width, ancestors };
  });
  const cells = [];
  document.querySelectorAll('table').forEach((t, ti) => {
    Array.from(t.rows).forEach((row, ri) => Array.from(row.cells).forEach((c, ci) => {
      const text = c.innerText.trim();
      if (text.endsWith('...') || text.endsWith('\u2026')) {
        cells.push({ table: ti, where: describe(t), row: ri, col: ci, text });
      }
    }));
  });
  const logs = Array.from(col.querySelectorAll('.cell_output')).map((o, i) => ({
    index: i, where: describe(o), text: o.innerText,
    blocks: ['stderr', 'traceback'].filter(c => o.querySelector('.' + c) || o.classList.contains(c)),
  }));
  const images = imgs.map((i, k) => ({ src: i.getAttribute('src') || '', naturalWidth: i.naturalWidth,
                                        error: errors[k] }));
  const links = Array.from(document.querySelectorAll('a[href]')).map(a => ({
    href: a.getAttribute('href'), resolved: a.href, text: a.innerText || a.title || '' }));
  return { column: { width: colWidth, desc: describe(col) }, outputs, cells, logs, images, links };
}
"""

# The phone facts: page and viewport widths, and the element that pushes the page widest.
# An element counts when nothing clips it: no ancestor in its containing-block chain has overflow-x other than
# visible, and neither it nor that chain is position: fixed. Its reach is its box's right edge, or, when its own
# overflow-x is visible, its left edge plus its scrollWidth (text that does not wrap sticks out of its box).
# The offender is the deepest element whose reach is within 1 px of the largest, named by its nearest block.
PHONE_JS = """
() => {
""" + _HELPERS_JS + """
  const de = document.documentElement;
  const vw = de.clientWidth;
  const free = el => {
    const s = getComputedStyle(el);
    if (s.position === 'fixed') return false;
    let needBlock = s.position === 'absolute';
    for (let p = el.parentElement; p && p !== document.body && p !== de; p = p.parentElement) {
      const ps = getComputedStyle(p);
      if (needBlock && ps.position === 'static' && ps.transform === 'none') continue;
      needBlock = ps.position === 'absolute';
      if (ps.overflowX !== 'visible' || ps.position === 'fixed') return false;
    }
    return true;
  };
  const reached = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    const visible = getComputedStyle(el).overflowX === 'visible';
    const reach = window.scrollX + Math.max(r.right, visible ? r.left + el.scrollWidth : r.right);
    if (reach > vw + 1 && free(el)) reached.push([el, reach, r.width]);
  }
  let offender = null;
  if (reached.length) {
    const most = Math.max(...reached.map(x => x[1]));
    const top = reached.filter(x => x[1] >= most - 1);
    const depth = el => { let d = 0; for (let p = el; p; p = p.parentElement) d++; return d; };
    const [el, reach, width] = top.reduce((a, b) => (depth(b[0]) > depth(a[0]) ? b : a));
    const block = el.closest('table, pre, img, figure, h1, h2, h3, h4, h5, h6, p, li, dt, dd, a, .cell_output') || el;
    const text = (block.innerText || block.getAttribute('alt') || '').trim().replace(/\\s+/g, ' ').slice(0, 70);
    // The word that sticks out furthest, when the overflow is text that cannot wrap.
    let word = '';
    const range = document.createRange();
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let wordRight = vw + 1;
    for (let node = walker.nextNode(), n = 0; node && n < 5000; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/\\S+/g)) {
        if (n++ >= 5000) break;
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const right = window.scrollX + range.getBoundingClientRect().right;
        if (right > wordRight) { wordRight = right; word = m[0]; }
      }
    }
    offender = { desc: describe(block), text, right: reach, width: block.getBoundingClientRect().width,
                 via: block === el ? '' : describe(el), word: word.slice(0, 60) };
  }
  return { viewport: vw, scrollWidth: de.scrollWidth, bodyScrollWidth: document.body.scrollWidth, offender };
}
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A browser that drops a connection it no longer needs is no failure of the book.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve(build_dir: Path) -> Iterator[str]:
    """Serve ``build_dir`` on 127.0.0.1 with an ephemeral port; yields the origin, shuts down on exit."""
    handler = functools.partial(_QuietHandler, directory=str(build_dir))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def find_chromium(explicit: str | None) -> str | None:
    """``explicit``, else ``$CHROMIUM``, else the first of CHROMIUM_CANDIDATES found; None when none runs."""
    wanted = explicit or os.environ.get("CHROMIUM")
    for candidate in [wanted] if wanted else CHROMIUM_CANDIDATES:
        found = shutil.which(candidate) or (candidate if os.path.isfile(candidate) and os.access(candidate, os.X_OK)
                                            else None)
        if found:
            return found
    return None


class _Watcher:
    """Collects, for one browser tab, local responses >= 400 and requests the route blocked (not local)."""

    def __init__(self, page, origin: str) -> None:
        self.origin = origin
        self.bad: set[str] = set()
        self.blocked: set[str] = set()
        page.on("response", self._response)
        page.on("requestfailed", self._failed)

    def _response(self, response) -> None:
        if response.url.startswith(self.origin + "/") and response.status >= 400:
            self.bad.add(f"HTTP {response.status} for {response.url[len(self.origin):]}")

    def _failed(self, request) -> None:
        if not request.url.startswith(self.origin + "/") and not request.url.startswith("data:"):
            self.blocked.add(request.url)

    def reset(self) -> None:
        self.bad.clear()
        self.blocked.clear()

    def report(self, result: PageResult) -> None:
        result.fail("missing-resource", sorted(self.bad))
        result.fail("external-request", [f"the page asks for {_short(u, 120)} (blocked: the book must work offline)"
                                         for u in sorted(self.blocked)])


def _open(page, url: str, result: PageResult, origin: str, settle: bool = True) -> bool:
    try:
        response = page.goto(url, wait_until="load", timeout=PAGE_TIMEOUT_MS)
        if settle:
            page.evaluate("document.fonts ? document.fonts.ready.then(() => true) : true")
    except Exception as exc:  # any browser error is this page's failure
        result.fail("load", [f"{type(exc).__name__}: {_short(str(exc), 160)}"])
        return False
    if response is None or response.status >= 400:
        result.fail("load", [f"HTTP {response.status if response else 'no response'} for {url[len(origin):]}"])
        return False
    return True


def _check_redirect(tabs, origin: str, build_dir: Path, page_path: str, target: str, result: PageResult) -> None:
    url = f"{origin}/{page_path}"
    target_url = urljoin(url, target).split("#")[0]
    reason = check_link(target_url, origin, build_dir)
    if reason:
        result.fail("dead-link", [f"redirect to {target!r}: {reason}"])
        return
    for tab, folder in tabs:
        if not _open(tab, url, result, origin, settle=False):
            continue
        try:
            tab.wait_for_url(lambda u: u.split("#")[0] == target_url, timeout=PAGE_TIMEOUT_MS)
            tab.wait_for_load_state("load")
            tab.screenshot(path=str(folder / screenshot_name(page_path)), full_page=True)
        except Exception as exc:
            why = f"{type(exc).__name__}: {_short(str(exc), 120)}"
            result.fail("load", [f"redirect to {target!r} did not land ({why})"])


def check_page(desktop, phone, origin: str, build_dir: Path, page_path: str, screens: Path,
               include_code: bool = False) -> PageResult:
    """Both passes on one page; ``desktop`` and ``phone`` are (tab, watcher) pairs at the two widths."""
    result = PageResult(page_path)
    url = f"{origin}/{page_path}"
    for _, watcher in (desktop, phone):
        watcher.reset()
    target = redirect_target((build_dir / page_path).read_text(encoding="utf-8", errors="replace"))
    if target is not None:
        _check_redirect([(desktop[0], screens), (phone[0], screens / "phone")], origin, build_dir, page_path,
                        target, result)
        return result
    tab = desktop[0]
    if _open(tab, url, result, origin):
        try:
            facts = tab.evaluate(DESKTOP_JS, [IMAGE_DECODE_TIMEOUT_MS])
            result.fail("wide-output", wide_outputs(facts, include_code))
            result.fail("truncated-cell", truncated_cells(facts))
            result.fail("broken-image", broken_images(facts))
            result.fail("log-text", log_texts(facts))
            result.fail("dead-link", dead_links(facts, origin, build_dir))
            tab.screenshot(path=str(screens / screenshot_name(page_path)), full_page=True)
        except Exception as exc:
            result.fail("load", [f"desktop checks: {type(exc).__name__}: {_short(str(exc), 160)}"])
    tab = phone[0]
    if _open(tab, url, result, origin):
        try:
            result.fail("phone-scroll", phone_scroll(tab.evaluate(PHONE_JS)))
            tab.screenshot(path=str(screens / "phone" / screenshot_name(page_path)), full_page=True)
        except Exception as exc:
            result.fail("load", [f"phone checks: {type(exc).__name__}: {_short(str(exc), 160)}"])
    desktop[1].report(result)
    return result


def run(build_dir: Path, screens: Path, chromium: str, out=sys.stdout, include_code: bool = False) -> list[PageResult]:
    """Serve ``build_dir``, check every page in one Chromium, print one line per failure; the page results."""
    from playwright.sync_api import sync_playwright

    pages = find_pages(build_dir)
    for folder in (screens, screens / "phone"):
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()
    results = []
    with serve(build_dir) as origin, tempfile.TemporaryDirectory(prefix="browser-lane-") as profile, \
            sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": DESKTOP_WIDTH, "height": DESKTOP_HEIGHT}, device_scale_factor=1,
        )
        try:
            context.route(lambda url: not url.startswith(origin + "/"), lambda route: route.abort())
            tabs = []
            for i, (width, height) in enumerate(((DESKTOP_WIDTH, DESKTOP_HEIGHT), (PHONE_WIDTH, PHONE_HEIGHT))):
                tab = context.pages[0] if i == 0 and context.pages else context.new_page()
                tab.set_viewport_size({"width": width, "height": height})
                tabs.append((tab, _Watcher(tab, origin)))
            for page_path in pages:
                result = check_page(tabs[0], tabs[1], origin, build_dir, page_path, screens, include_code)
                for check, detail in result.failures:
                    print(f"{page_path}: {check}: {detail}", file=out, flush=True)
                results.append(result)
        finally:
            context.close()
    return results


def main(argv: list[str] | None = None, out=sys.stdout) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("build_dir", nargs="?", default="_build/html", type=Path)
    parser.add_argument("--screens", type=Path, help="screenshot folder (default: screens/ beside build_dir)")
    parser.add_argument("--chromium", help="Chromium executable (default: $CHROMIUM, else chromium on PATH)")
    parser.add_argument("--code", action="store_true", help="also fail on code cells and literal blocks wider than "
                        "the column (they scroll in their own box)")
    args = parser.parse_args(argv)
    build_dir = args.build_dir.resolve()
    screens = (args.screens or build_dir.parent / "screens").resolve()
    start = time.monotonic()

    pages = find_pages(build_dir) if build_dir.is_dir() else []
    if not pages:
        print(f"browser: no page found under {build_dir} (run `make book` first)", file=out)
        print("0 passed, 0 failed", file=out)
        return 1
    chromium = find_chromium(args.chromium)
    problem = None
    if chromium is None:
        problem = f"no Chromium found ({args.chromium or os.environ.get('CHROMIUM') or 'chromium'}); {INSTALL_HINT}"
    else:
        try:
            import playwright.sync_api  # noqa: F401 - only: is it installed?
        except ImportError:
            problem = "playwright is not installed in this Python; run `make env` (pip install -r requirements.txt)"
    if problem is None:
        try:
            results = run(build_dir, screens, chromium, out, args.code)
        except Exception as exc:  # a browser that cannot start fails loudly
            problem = f"the browser could not run ({chromium}): {type(exc).__name__}: {_short(str(exc), 300)}"
    if problem is not None:
        print(f"browser: {problem}", file=out)
        print(f"browser: none of the {len(pages)} pages could be checked", file=out)
        print(f"0 passed, {len(pages)} failed", file=out)
        return 1
    line, code = summary(results)
    print(f"browser: {len(results)} pages at {DESKTOP_WIDTH} and {PHONE_WIDTH} px in {time.monotonic() - start:.0f} s; "
          f"screenshots in {screens}", file=out)
    print(line, file=out)
    return code


if __name__ == "__main__":
    sys.exit(main())
