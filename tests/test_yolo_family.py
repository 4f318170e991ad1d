"""The YOLO pose family (YOLOv8n, YOLO11n, YOLO26): each file decoded by the one YOLO codec lands on real people.

The check is independent of the decoder's own idea of the layout: the confident detections of each file on the
COCO test images must overlap the annotated person boxes (COCO's ground truth), and the keypoints of a matched
detection must lie near the annotated keypoints, in original image pixels.
"""

import numpy as np
import pytest

from zoo_helpers import runtime
from zoo_helpers.cards import multipose, protocol
from zoo_helpers.evaluation import codecs


@pytest.fixture(scope="module")
def coco_test(mirror):
    return protocol.multi_pose((256, 256), "fit", 10)["COCO test"]


@pytest.mark.parametrize("key", ["yolov8n_pose_256_pc", "yolo11n_pose_256", "yolo26_pose_256"])
def test_confident_detections_sit_on_annotated_people(coco_test, key):
    model = runtime.load(key)
    batch = coco_test.batch  # the 140 COCO test images
    dets = multipose.detect(model.predict_one(batch.images), batch, 0.5, 0.5, 20)
    ious, errors = [], []
    for i, image_id in enumerate(batch.ids):
        people = [p for p in coco_test.coco.people.get(image_id, []) if not p.iscrowd]
        found = dets.boxes[i][dets.valid[i]]
        if not people or not len(found):
            continue
        truth = np.array([[x, y, x + w, y + h] for x, y, w, h in (p.bbox for p in people)])
        iou = codecs.box_iou(found, truth)  # (detections, people), original pixels
        ious += list(iou.max(1))
        for d, j in enumerate(iou.argmax(1)):
            if iou[d, j] < 0.5:
                continue
            kp, gt = dets.keypoints[i][dets.valid[i]][d], people[j].keypoints
            seen = gt[:, 2] > 0
            scale = np.sqrt(people[j].bbox[2] * people[j].bbox[3])
            errors += list(np.linalg.norm(kp[seen, :2] - gt[seen, :2], axis=1) / scale)
    assert len(ious) >= 15, f"{key}: too few confident detections to judge ({len(ious)})"
    assert np.median(ious) > 0.7, f"{key}: confident boxes do not sit on people (median IoU {np.median(ious):.2f})"
    assert np.median(errors) < 0.1, f"{key}: keypoints off by {np.median(errors):.2f} of the person's size"


def test_yolo26_float_graph_is_recovered_from_its_own_qdq_file(coco_test, tmp_path):
    """YOLO26 is published as QDQ ONNX: the recipes start from its weights dequantized (no tf2onnx step)."""
    import onnx

    from zoo_helpers.quant import recover

    path = runtime.load("yolo26_pose_256").path
    graph = recover.float_graph(path, tmp_path)
    assert graph["qdq"] == path
    ops = {n.op_type for n in onnx.load(str(graph["float"])).graph.node}
    assert not ops & {"QuantizeLinear", "DequantizeLinear"}
    qdq = runtime.load("yolo26_pose_256")
    flt = runtime.load_model(graph["float"], rescale=qdq.rescale)
    images = coco_test.batch.images[:8]
    a, b = qdq.predict_one(images), flt.predict_one(images)
    assert a.shape == b.shape == (8, 56, 1344)
    assert np.median(np.abs(a - b)) < 0.02 and not np.array_equal(a, b)  # int8 rounding, nothing more
