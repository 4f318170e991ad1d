"""Evaluation throughput, images per second per model: one sample per invoke against batched, against invoke-only.

For each model, on the same 256 LSP Extended person crops (dev split), in interleaved rounds:

* ``invoke only``: the runtime's invoke on inputs already in the model's dtype, one sample per call (the floor
  of any evaluation that runs one sample at a time);
* ``predict, batch 1`` and ``predict, batch 16``: :meth:`zoo_helpers.runtime.models.Model.predict` (input
  mapping, invoke, dequantized outputs) with ``batch_size`` 1 and 16; a model whose batch axis cannot be resized
  runs one sample per invoke either way (its ``batching()`` is printed);
* ``evaluate``: what a chapter does per model, read and crop the images (two threads), predict and score
  (``cards.loop.score``: decode, ST OKS, PCK, pycocotools).

Models: the published MoveNet heatmaps 192 int8 (LiteRT), our recovered float and two of our int8 recipes of it
(onnxruntime, QDQ), and ST's hand landmarks 224 (LiteRT).
Run: .venv/bin/python benchmarks/bench_throughput.py   (needs ZOO_ASSETS_DIR, as `make` sets it)
"""

import tempfile
import time
from pathlib import Path

import numpy as np
from common import machine

from zoo_helpers import runtime
from zoo_helpers.cards import loop, singlepose
from zoo_helpers.evaluation import labelled, photos, splits
from zoo_helpers.quant import recipes

THREADS = 2
ROUNDS = 3
N = 256


def rate(fn, n: int) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def measure(model, x: np.ndarray, scored=None) -> dict[str, float]:
    """Images per second of one model on ``x``: invoke only, predict at batch 1 and 16, and (``scored``:
    ``(key, batch, coco)``) a chapter's evaluation, images read and cropped again."""
    feed, spec = model.prepare(x), model.inputs[0].name
    got = {"invoke only": rate(lambda: [model._run({spec: feed[i:i + 1]}) for i in range(len(x))], len(x))}
    for size in (1, 16):
        model.batch_size, model._batch_state = size, None
        model.predict(x[:2])  # the batch check, outside the timing
        got[f"predict, batch {size}"] = rate(lambda: model.predict(x), len(x))
    if scored is not None:
        key, batch, coco = scored
        got["evaluate (batch 16)"] = rate(lambda: loop.score(model.predict(
            singlepose.prepare_samples(coco, (192, 192)).images), key, batch, coco), len(x))
    return got


def main() -> None:
    print(machine(THREADS))
    lsp = labelled.lsp_extended_set()
    dev = lsp.subset(splits.split("lsp_extended_2000", sorted(lsp.images))["dev"][:N], "LSP dev")
    published = runtime.load("movenet_heatmaps_192", THREADS)
    made = recipes.make(published, Path(tempfile.mkdtemp()), photos.calibration("", 8, (192, 192)),
                        "minmax_pc,nncf_cle_pt", THREADS)
    models = {"published int8 (LiteRT)": ("movenet_heatmaps_192", published),
              **{f"{k} (onnxruntime)": ("movenet_heatmaps_192", m) for k, m in made.models.items()},
              "ST hand landmarks 224 (LiteRT)": ("st_hand_landmarks_224", runtime.load("st_hand_landmarks_224",
                                                                                         THREADS))}
    batch = singlepose.prepare_samples(dev, (192, 192))
    hand_images = np.ascontiguousarray(np.resize(batch.images, (N, 224, 224, 3)))  # pixels only feed the invokes
    rows = {name: {} for name in models}
    for _ in range(ROUNDS):
        for name, (key, model) in models.items():
            got = measure(model, hand_images if "hand" in name else batch.images,
                          None if "hand" in name else (key, batch, dev))
            for k, v in got.items():
                rows[name].setdefault(k, []).append(v)
            rows[name]["batching"] = model.batching()
    for name, row in rows.items():
        batching = row.pop("batching")
        cells = ", ".join(f"{k} {np.median(v):.0f}" for k, v in row.items())
        print(f"{name}: {cells} images/s (median of {ROUNDS} rounds); {batching}")


if __name__ == "__main__":
    main()
