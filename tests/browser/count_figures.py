"""The built book's figure-to-table ratio: at least one figure for every two tables (issue "as a reader sees it").

Counts, over every page of the book, the tables the presenter rendered (``div.zoo-table``) and the figures
(PNG images in cell outputs), and fails when figures * 2 < tables. Usage: ``python count_figures.py _build/html``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from check_book import find_pages  # noqa: E402  (the lane's own page list)


def count(build_dir: Path) -> tuple[int, int]:
    """(tables, figures) over the book's pages, as the browser lane finds them."""
    tables = figures = 0
    for page in find_pages(build_dir):
        text = (build_dir / page).read_text(errors="replace")
        tables += len(re.findall(r'<div class="zoo-table">', text))
        figures += len(re.findall(r'<img [^>]*src="[^"]+\.png"', text))
    return tables, figures


def main(argv: list[str]) -> int:
    build = Path(argv[1] if len(argv) > 1 else "_build/html")
    tables, figures = count(build)
    ok = tables > 0 and 2 * figures >= tables
    print(f"book: {tables} tables, {figures} figures ({'at least' if ok else 'fewer than'} one figure per two tables)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
