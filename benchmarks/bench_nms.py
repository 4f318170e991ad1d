"""YOLOv8n-pose decoding + NMS on a batch of 64 real outputs: zoo_helpers vs ST-style TensorFlow.

The reference is written like ST's services: ``tf.map_fn`` over the images, each calling
``tf.image.non_max_suppression`` on yxyx boxes. Both use the card's evaluation settings (IoU 0.1,
score 0.001, 100 boxes). The kept boxes must be the same, in the same order.
Run: .venv/bin/python benchmarks/bench_nms.py   (needs ZOO_ASSETS_DIR, as `make` sets it)
"""

import numpy as np
from common import machine, median_ms

from zoo_helpers.cards import multipose
from zoo_helpers.evaluation import codecs, datasets
from zoo_helpers.registry.assets import fetch
from zoo_helpers.runtime.models import load_model


def st_style(outputs, tf):
    def one(out):
        t = tf.transpose(out)
        cx, cy, w, h, score = t[:, 0], t[:, 1], t[:, 2], t[:, 3], t[:, 4]
        boxes = tf.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=1)
        keep = tf.image.non_max_suppression(boxes, score, 100, 0.1, 0.001)
        return tf.pad(keep, [[0, 100 - tf.shape(keep)[0]]], constant_values=-1)

    return tf.map_fn(one, tf.constant(outputs), fn_output_signature=tf.int32).numpy()


def ours(outputs):
    boxes, scores, _ = codecs.decode_yolo_pose(outputs)
    return codecs.batched_nms(boxes, scores, 0.1, 0.001, 100)


def main():
    import tensorflow as tf

    ann = fetch("mmpose_coco_annotations")
    coco = datasets.load_coco_keypoints(ann, ann.parent)
    model = load_model(fetch("yolov8n_pose_256_int8_pc"))
    samples = multipose.prepare_images(coco, (256, 256))
    raw = model.predict(samples.images)[model.outputs[0].name]
    outputs = np.concatenate([raw] * 16)[:64]  # 64 real outputs (the 4 sample images, repeated)
    assert outputs.shape == (64, 56, 1344)
    ref, got = st_style(outputs, tf), ours(outputs)
    assert np.array_equal(ref, got), "kept boxes differ"
    t_ref, t_ours = median_ms(lambda: st_style(outputs, tf), 10), median_ms(lambda: ours(outputs), 30)
    print(machine())
    print(f"batch 64 x (56, 1344): ST-style tf.map_fn NMS {t_ref:.1f} ms | zoo_helpers {t_ours:.2f} ms")
    print(f"speed-up: {t_ref / t_ours:.1f}x (target >= 40x); same kept boxes in the same order: yes")


if __name__ == "__main__":
    main()
