"""Evaluation-loop throughput (load, preprocess, invoke, decode, metric) vs invoking the model alone.

The mmpose COCO sample (12 scored people in 4 images) is repeated until at least 200 people are
scored; the loop is zoo_helpers' MoveNet heatmap evaluation with person crops. The reference invokes
the same model, with the same threads, on the same number of pre-made inputs.
Run: .venv/bin/python benchmarks/bench_eval_loop.py   (needs ZOO_ASSETS_DIR, as `make` sets it)
"""

import time
from dataclasses import replace

from common import machine

from zoo_helpers import datasets, evaluation
from zoo_helpers.assets import fetch
from zoo_helpers.runtime import load_model

THREADS = 2


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


def main():
    coco = repeated_coco(17)
    model = load_model(fetch("movenet_heatmaps_192_int8_pc"), num_threads=THREADS)
    start = time.perf_counter()
    samples = evaluation.prepare_samples(coco, model.input_size, "person_crops")
    keypoints = evaluation.decode(model.predict(samples.images), "heatmaps")
    result = evaluation.evaluate_single_pose(keypoints, samples, coco)
    loop = time.perf_counter() - start
    n = len(samples)
    start = time.perf_counter()
    model.predict(samples.images)
    invoke = time.perf_counter() - start
    print(machine(THREADS))
    print(f"{n} people in {result.num_images} images; loop {n / loop:.0f} people/s, invoke only {n / invoke:.0f}/s")
    print(f"loop reaches {100 * invoke / loop:.0f}% of invoke-only throughput (target >= 85%)")


if __name__ == "__main__":
    main()
