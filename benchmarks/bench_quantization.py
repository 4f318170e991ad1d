"""Quantization recipes on the five models of the Quantize goals: metric on test with its interval, agreement, seconds.

For MoveNet heatmaps 192 (17 kpt), ST MoveNet heatmaps 192 (13 kpt), MoveNet Lightning, the hand landmark
model and YOLOv8n-pose 256, every recipe of ``zoo_helpers/data/recipes.yaml`` (or ``--recipes``) is built
from calibration images disjoint from every part, and run on the chapter's parts of the book's protocol
(:mod:`zoo_helpers.cards.protocol`): scored on ``test`` (ST mean OKS on the LSP Extended test photos, PCK@0.2 on
the real hand test frames, ST mAP@0.5 on the COCO val2017 subset's test images) with its 95 % interval over
images, and compared with the float model on the ``dev`` images (label-free agreement). The published file and
the float reference are rows too. A model whose float graph cannot be recovered is reported with the reason,
not dropped silently. Not a test.

Run: .venv/bin/python benchmarks/bench_quantization.py --json results/bench_quantization.json
Output: a JSON list of objects with the keys model, recipe, granularity, metric, value (%), agreement (%),
images (agreement images), seconds, split (``test``), n (samples scored), ci_low, ci_high (95 % interval of
value), chosen on dev (the best of its granularity as the chapter chooses it, on ``dev``), plus machine and threads.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from common import machine

from zoo_helpers import results, runtime
from zoo_helpers.book import recipe_table
from zoo_helpers.cards import protocol, quantized
from zoo_helpers.cards.quantized import AGREEMENT, AGREEMENT_IMAGES, SECONDS
from zoo_helpers.evaluation import photos
from zoo_helpers.quant import recipes
from zoo_helpers.registry import catalog

MODELS = {"movenet_heatmaps_192": "ST mean OKS", "st_movenet_heatmaps_192": "ST mean OKS",
          "movenet_lightning_192": "ST mean OKS", "st_hand_landmarks_224": "PCK@0.2",
          "yolov8n_pose_256_pc": "ST mAP@0.5"}
#: The test part each model's rows report.
SHOWN = {"hand_landmarks": "real hands test", "yolo_pose": "COCO test"}


def data(key: str, size: tuple[int, int], n_calib: int, n_test: int):
    """(protocol parts, calibration Images, the part the rows report) for one model."""
    decoder = catalog.entry(key).decoder
    if decoder == "hand_landmarks":
        pool = photos.hands(size[0])
        n = min(n_calib, len(pool))
        return protocol.hands(size[0], n), pool.first(n), SHOWN[decoder]
    calib = photos.calibration("", n_calib, size)
    if decoder in SHOWN:
        return protocol.multi_pose(size), calib, SHOWN[decoder]
    return protocol.single_pose(size, n_test=n_test), calib, "LSP test"


def bench(key: str, metric: str, chosen: list, n_calib: int, threads: int, workdir: Path,
          n_test: int = 0) -> list[dict]:
    published = runtime.load(key, threads)
    source = published
    if catalog.entry(key).decoder == "hand_landmarks":  # re-quantize MediaPipe's float model, as the chapter
        source = runtime.load(catalog.published("hand_landmarks", "hand_landmarks")["published float"], threads)
    parts, calib, shown = data(key, published.input_size, n_calib, n_test)
    made = recipes.make(source, workdir / key, calib, chosen, threads, progress=False)
    run = results.Recorder("bench", "bench", {}, tempfile.mkdtemp())
    start = time.perf_counter()
    quantized.evaluate_parts(made, {"published int8": published}, key, parts, recorder=run, progress=False)
    print(f"{key}: evaluated in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    choose_by = AGREEMENT if SHOWN.get(catalog.entry(key).decoder) == "COCO test" else metric  # as the chapters
    chosen = {recipe_table.best(run.records, choose_by, g) for g in ("per-channel", "per-tensor")}
    rows = []
    for rec in protocol.shown(run.records, parts[shown].name):
        recipe = made.recipes.get(rec.variant)
        ci = recipe_table.interval_of(rec, metric)
        rows.append({"model": key, "recipe": recipe.key if recipe else rec.variant,
                     "granularity": recipes.granularity(rec.variant),
                     "metric": metric, "value": round(100 * rec.metrics[metric], 2),
                     "agreement": round(rec.metrics[AGREEMENT], 2), "images": int(rec.metrics[AGREEMENT_IMAGES]),
                     "seconds": round(rec.metrics.get(SECONDS, 0.0), 2), "split": rec.split, "n": rec.samples,
                     "ci_low": round(ci.low, 2) if ci else None, "ci_high": round(ci.high, 2) if ci else None,
                     "chosen on dev": rec.variant in chosen})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--recipes", default="all", help="'default', 'all' or recipe keys separated by commas")
    parser.add_argument("--models", default=",".join(MODELS), help="catalog keys separated by commas")
    parser.add_argument("--n-calib", type=int, default=8)
    parser.add_argument("--n-test", type=int, default=0, help="LSP test photos for the single-pose models, 0: all")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("_build/work/bench_quantization"))
    args = parser.parse_args()
    chosen = recipes.applicable(args.recipes, keras=False)
    rows, problems = [], []
    for key in args.models.split(","):
        try:
            rows += bench(key, MODELS[key], chosen, args.n_calib, args.threads, args.workdir, args.n_test)
        except Exception as exc:  # noqa: BLE001 - a model that cannot be re-quantized is reported, not fatal
            problems.append({"model": key, "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
            print(f"{key}: {problems[-1]['error']}", file=sys.stderr)
    info = {"machine": machine(args.threads), "threads": args.threads}
    for row in rows:
        print(f"{row['model']:26s} {row['recipe']:22s} {row['granularity']:11s} {row['metric']} {row['value']:6.2f} "
              f"({row['ci_low']} to {row['ci_high']}, {row['split']}, n = {row['n']}) "
              f"agreement {row['agreement']:6.2f} on {row['images']} images, {row['seconds']:.1f} s")
    print(info["machine"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([{**r, **info} for r in rows] + [{**p, **info} for p in problems], indent=1))


if __name__ == "__main__":
    main()
