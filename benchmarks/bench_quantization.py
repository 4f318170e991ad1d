"""Quantization recipes on the five models of the Quantize goals: metric, label-free agreement, seconds.

For MoveNet heatmaps 192 (17 kpt), ST MoveNet heatmaps 192 (13 kpt), MoveNet Lightning, the hand landmark
model and YOLOv8n-pose 256, every recipe of ``zoo_helpers/data/recipes.yaml`` (or ``--recipes``) is built
from calibration images disjoint from the labelled sample, scored on the chapter's labelled default sample
(ST mean OKS, PCK@0.2, ST mAP@0.5) and compared with the float model on every reachable unlabelled image
of the card's kind. The published file and the float reference are rows too. A model whose float graph
cannot be recovered is reported with the reason, not dropped silently. Not a test.

Run: .venv/bin/python benchmarks/bench_quantization.py --json results/bench_quantization.json
Output: a JSON list of objects with the keys model, recipe, granularity, metric, value (%), agreement (%),
images, seconds, plus machine and threads.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from common import machine

from zoo_helpers import runtime
from zoo_helpers.cards import landmarks, loop, quantized
from zoo_helpers.cards.quantized import AGREEMENT, SECONDS
from zoo_helpers.evaluation import datasets, photos
from zoo_helpers.quant import recipes
from zoo_helpers.registry import catalog

MODELS = {"movenet_heatmaps_192": "ST mean OKS", "st_movenet_heatmaps_192": "ST mean OKS",
          "movenet_lightning_192": "ST mean OKS", "st_hand_landmarks_224": "PCK@0.2",
          "yolov8n_pose_256_pc": "ST mAP@0.5"}


def data(key: str, size: tuple[int, int], n_calib: int):
    """(labelled batch, coco, calibration Images, agreement images, sample files) for one model."""
    if catalog.entry(key).decoder == "hand_landmarks":
        hands = landmarks.hand_samples()
        batch = landmarks.hand_crops(hands, "gt", size=size[0])
        pool = photos.hands(size[0])
        return batch, None, pool.first(min(n_calib, len(pool))), np.concatenate([pool.images, batch.images]), \
            landmarks.sample_files(hands)
    coco = datasets.load_coco()
    batch = loop.prepare(key, coco, size)
    calib = photos.calibration("", n_calib, size)
    return batch, coco, calib, photos.people(size, coco).images, None


def bench(key: str, metric: str, chosen: list, n_calib: int, threads: int, workdir: Path) -> list[dict]:
    published = runtime.load(key, threads)
    source = published
    if catalog.entry(key).decoder == "hand_landmarks":  # re-quantize MediaPipe's float model, as the chapter
        source = runtime.load(catalog.published("hand_landmarks", "hand_landmarks")["published float"], threads)
    batch, coco, calib, images, files = data(key, published.input_size, n_calib)
    made = recipes.make(source, workdir / key, calib, chosen, threads, progress=False)
    start = time.perf_counter()
    evals = quantized.evaluate(made, {"published int8": published}, key, batch, images, coco, loop.Options(),
                             data={"sample": "default"}, sample_files=files)
    print(f"{key}: evaluated in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    rows = []
    for label, ev in evals.items():
        recipe = made.recipes.get(label)
        rows.append({"model": key, "recipe": recipe.key if recipe else label,
                     "granularity": recipes.granularity(label),
                     "metric": metric, "value": round(100 * ev.metrics[metric], 2),
                     "agreement": round(ev.metrics[AGREEMENT], 2), "images": len(images),
                     "seconds": round(ev.metrics.get(SECONDS, 0.0), 2)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--recipes", default="all", help="'default', 'all' or recipe keys separated by commas")
    parser.add_argument("--models", default=",".join(MODELS), help="catalog keys separated by commas")
    parser.add_argument("--n-calib", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("_build/work/bench_quantization"))
    args = parser.parse_args()
    chosen = recipes.applicable(args.recipes, keras=False)
    rows, problems = [], []
    for key in args.models.split(","):
        try:
            rows += bench(key, MODELS[key], chosen, args.n_calib, args.threads, args.workdir)
        except Exception as exc:  # noqa: BLE001 - a model that cannot be re-quantized is reported, not fatal
            problems.append({"model": key, "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
            print(f"{key}: {problems[-1]['error']}", file=sys.stderr)
    info = {"machine": machine(args.threads), "threads": args.threads}
    for row in rows:
        print(f"{row['model']:26s} {row['recipe']:22s} {row['granularity']:11s} {row['metric']} {row['value']:6.2f} "
              f"agreement {row['agreement']:6.2f} on {row['images']} images, {row['seconds']:.1f} s")
    print(info["machine"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([{**r, **info} for r in rows] + [{**p, **info} for p in problems], indent=1))


if __name__ == "__main__":
    main()
