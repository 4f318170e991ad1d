"""Heatmap decoding speed: zoo_helpers vs an ST-style TensorFlow eager reference vs a plain copy.

Batch 64 of 48x48x17 float32 heatmaps; medians over interleaved rounds, in one run. Not a test.
Run: .venv/bin/python benchmarks/bench_heatmaps.py
"""

import numpy as np
from common import interleaved_ms, machine

from zoo_helpers.evaluation.codecs import decode_heatmaps

PAIRS = 7


def st_style(hm, tf):
    """Written like ST's services: TF ops in eager mode on the NumPy array the interpreter returns."""
    b, h, w, k = hm.shape
    flat = tf.reshape(hm, (b, h * w, k))
    idx = tf.argmax(flat, axis=1)
    conf = tf.reduce_max(flat, axis=1)
    x = (tf.cast(idx % w, tf.float32) + 0.5) / w
    y = (tf.cast(idx // w, tf.float32) + 0.5) / h
    return tf.stack([x, y, conf], axis=-1).numpy()


def main():
    import tensorflow as tf

    hm = np.random.default_rng(0).random((64, 48, 48, 17), dtype=np.float32)
    assert np.allclose(decode_heatmaps(hm), st_style(hm, tf), atol=1e-6), "keypoints differ"
    quantized = np.round(hm * 16).astype(np.float32)  # int8-like maps: many tied peaks
    assert np.allclose(decode_heatmaps(quantized), st_style(quantized, tf), atol=1e-6), "tied keypoints differ"
    # TF's eager thread pool keeps spinning after each op and would slow whatever runs next on
    # 2 cores, so the reference is timed in its own block. The VM's speed drifts within seconds:
    # blocks alternate (ours and the copy interleaved, then the reference) and each pair of
    # neighbouring blocks gives one ratio; the median ratio over the pairs is reported.
    pairs = []
    for _ in range(PAIRS):
        t = interleaved_ms({"ours": lambda: decode_heatmaps(hm), "copy": lambda: hm.copy()}, rounds=100)
        t.update(interleaved_ms({"ref": lambda: st_style(hm, tf)}, rounds=40))
        pairs.append(t)
    ours, ref, copy = (float(np.median([p[name] for p in pairs])) for name in ("ours", "ref", "copy"))
    vs_ref = [p["ref"] / p["ours"] for p in pairs]
    vs_copy = [p["ours"] / p["copy"] for p in pairs]
    print(machine())
    print(f"medians over {PAIRS} block pairs: zoo_helpers {ours:.3f} ms | ST-style TF eager {ref:.3f} ms | "
          f"copy {copy:.3f} ms")
    print(f"speed-up vs ST-style: median {np.median(vs_ref):.1f}x (pairs {min(vs_ref):.1f}-{max(vs_ref):.1f}x; "
          f"target >= 8x); vs copy: median {np.median(vs_copy):.2f}x (pairs {min(vs_copy):.2f}-"
          f"{max(vs_copy):.2f}x; target <= 2x)")


if __name__ == "__main__":
    main()
