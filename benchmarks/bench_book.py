"""Time each notebook's default run (papermill) and the whole book build (jupyter-book), in one go.

Run: .venv/bin/python benchmarks/bench_book.py   (from the repository root, with ZOO_ASSETS_DIR set)
Targets: each notebook under 3 minutes, the whole book under 10 minutes on 2 cores.
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def main():
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
            start = time.perf_counter()
            cmd = [str(BIN / "papermill"), str(nb), f"{tmp}/{nb.name}", "-k", "python3", "--log-level", "ERROR"]
            subprocess.run(cmd,
                           check=True, capture_output=True, cwd=ROOT / "notebooks")
            took = time.perf_counter() - start
            print(f"{nb.name:28s} {took:6.1f} s  {'ok' if took < 180 else 'OVER the 3-minute target'}")
    start = time.perf_counter()
    subprocess.run([str(BIN / "jupyter-book"), "build", ".", "--path-output", "."], check=True, capture_output=True,
                   cwd=ROOT)
    took = time.perf_counter() - start
    print(f"{'whole book (jupyter-book)':28s} {took:6.1f} s  {'ok' if took < 600 else 'OVER the 10-minute target'}")


if __name__ == "__main__":
    main()
