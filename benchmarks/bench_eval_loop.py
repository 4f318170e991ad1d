"""Evaluation-loop throughput (load, preprocess, invoke, decode, metric) vs invoking the models alone.

The mmpose COCO sample (12 scored people in 4 images) is repeated until at least 200 people are
scored (each copy's images are read and decoded again). Two loops are timed, each round beside its reference:

* catalog: what the MoveNet chapter's Performance tables section runs, ``loop.evaluate_catalog`` over
  every MoveNet variant whose file is local, one input size shared, so images are decoded and
  cropped once (by worker threads) and reused across variants. This is the loop the target is for.
* single: one model, ``prepare_samples`` then predict, decode and score, nothing to reuse.

The reference invokes the same models, with the same threads, on the same pre-made inputs
(``Model.predict``, which also dequantizes the outputs). Model files are fetched once before
timing, as a notebook session has; loading the interpreter is inside the loop.
Run: .venv/bin/python benchmarks/bench_eval_loop.py   (needs ZOO_ASSETS_DIR, as `make` sets it)
"""

import time
from dataclasses import replace

import numpy as np
from common import machine

from zoo_helpers import runtime
from zoo_helpers.cards import loop, singlepose
from zoo_helpers.evaluation import datasets
from zoo_helpers.registry import catalog
from zoo_helpers.registry.assets import fetch

THREADS = 2
ROUNDS = 5


def repeated_coco(times: int) -> datasets.CocoKeypoints:
    """The sample, ``times`` over, under new ids: every copy's image is read and decoded again."""
    ann = fetch("mmpose_coco_annotations")
    base = datasets.load_coco_keypoints(ann, ann.parent)
    images, people, anns = {}, {}, []
    for k in range(times):
        for image_id, im in base.images.items():
            new = image_id + k * 10**7
            images[new] = dict(im, id=new)
            people[new] = [replace(p, image_id=new, ann_id=p.ann_id + k * 10**7) for p in base.people[image_id]]
        anns += [dict(a, id=a["id"] + k * 10**7, image_id=a["image_id"] + k * 10**7) for a in base.raw["annotations"]]
    return datasets.CocoKeypoints(images, people, base.image_dir, dict(base.raw, images=list(images.values()),
                                                                        annotations=anns))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def single_loop(coco, key: str) -> None:
    entry = catalog.entry(key)
    model = runtime.load(key, num_threads=THREADS)
    samples = singlepose.prepare_samples(coco, model.input_size, "person_crops")
    keypoints = singlepose.decode(model.predict(samples.images), entry.decoder)
    singlepose.evaluate(keypoints, samples, coco, entry.keypoints)


def main():
    coco = repeated_coco(17)
    keys = [k for k in catalog.entries("movenet") if catalog.status(k) != "download needed"]
    models = {k: runtime.load(k, num_threads=THREADS) for k in keys}
    inputs = {size: singlepose.prepare_samples(coco, size).images for size in {m.input_size for m in models.values()}}
    n = len(next(iter(inputs.values())))

    def invoke_only(subset):
        for k in subset:
            models[k].predict(inputs[models[k].input_size])

    single = keys[1] if len(keys) > 1 else keys[0]  # a heatmap model, the chapter's default
    rows = {"catalog": ([], []), "single": ([], [])}
    for _ in range(ROUNDS):
        rows["catalog"][0].append(timed(lambda: loop.evaluate_catalog(coco, keys, num_threads=THREADS)))
        rows["catalog"][1].append(timed(lambda: invoke_only(keys)))
        rows["single"][0].append(timed(lambda: single_loop(coco, single)))
        rows["single"][1].append(timed(lambda: invoke_only([single])))
    print(machine(THREADS))
    print(f"{n} people in {len(coco.images)} images per model; {ROUNDS} rounds, each loop beside its own reference")
    for name, (times, ref) in rows.items():
        ratios = [r / t for r, t in zip(ref, times, strict=True)]
        evals = n * (len(keys) if name == "catalog" else 1)
        print(f"{name}: {', '.join(keys) if name == 'catalog' else single}")
        print(f"  loop {evals / np.median(times):.0f} people/s, invoke only {evals / np.median(ref):.0f}/s; "
              f"loop at {100 * np.median(ratios):.0f}% of invoke-only (median of rounds, "
              f"{100 * min(ratios):.0f}-{100 * max(ratios):.0f}%)" + (" (target >= 85%)" if name == "catalog" else ""))

if __name__ == "__main__":
    main()
