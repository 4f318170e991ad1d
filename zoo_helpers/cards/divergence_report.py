"""The divergence report: where two runtimes part on one model file, operator by operator, from the shell.

``zoo-divergence MODEL IMAGES... [--runtimes A B] [--all]`` (or ``python -m zoo_helpers.cards.divergence_report``)
takes a catalog key or a ``.tflite`` / ``.onnx`` file and image files or folders (each resized to the input,
``fit``), runs them with both runtimes (:mod:`zoo_helpers.runtime.engines`; default LiteRT's built-in optimized
kernels against its reference kernels) and prints, for every operator that differs, the share of its elements that
differ and the largest difference in LSB (:func:`zoo_helpers.cards.runtimes.layers`), then the first operator where
they part. A missing, empty, truncated or renamed model file, a folder or an unknown key is one line on stderr
naming it, and exit code 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import zoo_helpers.cards.runtimes as runtimes
from zoo_helpers.evaluation import datasets, preprocess
from zoo_helpers.registry import catalog
from zoo_helpers.registry.hashing import AssetError
from zoo_helpers.runtime import divergence, engines, models
from zoo_helpers.runtime.tflm import TFLMError


def _images(paths: list[str], size: tuple[int, int]) -> np.ndarray:
    files = [f for p in map(Path, paths) for f in (sorted(p.iterdir()) if p.is_dir() else [p])
             if f.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp")]
    if not files:
        raise SystemExit(f"no image files (.jpg, .jpeg, .png, .bmp) in {', '.join(paths)}")
    return np.stack([preprocess.resize(datasets.read_image(f), size, mode="fit")[0] for f in files])


def main(argv: list[str] | None = None) -> int:
    """The divergence tool's command line (see the module docstring); prints one row per operator that differs."""
    import argparse

    import pandas as pd

    parser = argparse.ArgumentParser(prog="zoo-divergence",
                                     description="Where two runtimes part on one model file, operator by operator.")
    parser.add_argument("model", help="a catalog key (e.g. st_movenet_heatmaps_192) or a .tflite / .onnx file")
    parser.add_argument("images", nargs="+", help="image files or folders (resized to the input, 'fit')")
    parser.add_argument("--runtimes", nargs=2, metavar=("A", "B"), default=["litert_builtin", "litert_reference"],
                        help=f"two of {', '.join(engines.names())} (default: litert_builtin litert_reference)")
    parser.add_argument("--all", action="store_true", help="print every operator, not only those that differ")
    args = parser.parse_args(argv)
    try:
        f = runtimes.File("", Path(args.model)) if models.names_a_file(args.model) else runtimes.published(args.model)
        models.check_file(f.path)  # a missing, empty, truncated or renamed file, or a folder, before any runtime
        for name in args.runtimes:
            if name not in engines.for_file(f.path):
                raise ValueError(f"runtime {name!r} cannot run {f.path.name}; use one of "
                                 f"{', '.join(engines.for_file(f.path))}")
        model = engines.load(f.path, args.runtimes[0], f.rescale)
        x = model.prepare(_images(args.images, model.input_size))
        rows = runtimes.layers(f.path, x, *args.runtimes)
    except (ValueError, TypeError, OSError, TFLMError, catalog.UnknownModelError, AssetError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    first = divergence.first_parting(rows)
    shown = rows if args.all else [r for r in rows if r["differ (%)"] > 0]
    table = pd.DataFrame(shown, columns=["operator", "op", "differ (%)", "max diff (LSB)", "elements", "tensor"])
    print(f"{f.path.name}, {len(x)} image(s): {args.runtimes[0]} vs {args.runtimes[1]}")
    print(table.to_string(index=False, max_colwidth=60) if len(table) else "no operator differs")
    print("first operator where they part: " + (f"{first['operator']} ({first['op']}), {first['differ (%)']:.3g} % of "
                                                f"its elements, up to {first['max diff (LSB)']:g} LSB"
                                                if first else "none (bit-identical)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
