"""TensorFlow Lite Micro on the real zoo files: arena size against our planner, outputs against LiteRT, errors."""

import flatbuffers
import numpy as np
import pytest

from zoo_helpers import runtime
from zoo_helpers.cards import loop
from zoo_helpers.evaluation import datasets
from zoo_helpers.registry import catalog
from zoo_helpers.runtime import footprint, tflm


@pytest.fixture(scope="module")
def coco_batch(mirror):
    coco = datasets.load_coco()
    return coco, loop.prepare("st_movenet_heatmaps_192", coco, (192, 192))


def test_arena_head_equals_our_planner_for_st_movenet(mirror):
    path = catalog.path("st_movenet_heatmaps_192")
    used = tflm.arena(path)
    fp = footprint.analyze(path)
    assert used["head"] == 1_788_000 == fp.arena_bytes  # 1746.09 KiB = footprint's activation_ram_kib
    assert used["head"] / 1024 == pytest.approx(fp.summary()["activation_ram_kib"])
    assert used["total"] == used["head"] + used["tail"] and 0 < used["tail"] < used["head"]


def test_arena_of_yolov8_pose_is_a_little_above_our_planner(mirror):
    path = catalog.path("yolov8n_pose_256_pt")
    head, planned = tflm.arena(path)["head"], footprint.analyze(path).arena_bytes
    assert planned < head < 1.02 * planned  # TFLM adds kernel scratch buffers that our planner does not know


def test_outputs_match_litert_reference_kernels_and_stay_close_to_litert(coco_batch):
    coco, batch = coco_batch
    model = runtime.load("st_movenet_heatmaps_192")
    x = model.prepare(batch.images)
    micro = tflm.run(catalog.path("st_movenet_heatmaps_192"), x)
    name = model.outputs[0].name
    assert micro[name].shape == (len(batch), 48, 48, 13) and micro[name].dtype == np.float32
    reference = tflm.litert_reference(catalog.path("st_movenet_heatmaps_192"), x)
    assert np.array_equal(micro[name], reference[name])  # same integer arithmetic, bit for bit
    host = model.predict(batch.images)
    diff = np.abs(micro[name] - host[name])
    print(f"max |TFLM - LiteRT| = {diff.max():.4f}, share of values off by more than 1 LSB = "
          f"{(diff > 1.5 / 256).mean():.4f}")
    assert 0 < diff.max() < 0.6 and (diff > 1.5 / 256).mean() < 0.05  # LiteRT's optimized kernels round differently
    oks = [loop.score(out, "st_movenet_heatmaps_192", batch, coco).metrics["ST mean OKS"] for out in (micro, host)]
    assert abs(oks[0] - oks[1]) < 0.02


def test_compare_litert_names_both_comparisons(coco_batch):
    _, batch = coco_batch
    diffs = tflm.compare_litert("st_movenet_heatmaps_192", batch.images[:2])
    assert set(diffs) == {"litert", "litert_reference"} and diffs["litert_reference"] == 0.0


def test_inputs_of_the_wrong_type_are_refused(mirror):
    with pytest.raises(TypeError, match="uint8"):
        tflm.run(catalog.path("st_movenet_heatmaps_192"), np.zeros((1, 192, 192, 3), np.float32))


@pytest.mark.parametrize(("key", "op", "stage"), [("movenet_lightning_192", "CAST", "invoke"),
                                                   ("mediapipe_hand_landmark_full", "DEQUANTIZE", "prepare")])
def test_a_model_tflm_cannot_run_names_the_operator(mirror, key, op, stage):
    model = runtime.load(key)
    w, h = model.input_size
    x = np.zeros((1, h, w, 3), model.inputs[0].dtype)
    with pytest.raises(tflm.TFLMError, match=rf"operator {op} \(node 0\) failed to {stage}") as info:
        tflm.run(catalog.path(key), x)
    assert info.value.op == op and info.value.node == 0 and info.value.detail


def test_an_operator_without_a_tflm_kernel_is_named(mirror, tmp_path):
    """The ST MoveNet file with its LOGISTIC opcode renamed to UNIQUE, which TFLM does not implement."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(catalog.path("st_movenet_heatmaps_192").read_bytes(), 0)
    for code in model.operatorCodes:
        if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.LOGISTIC:
            code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.UNIQUE
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path = tmp_path / "unique.tflite"
    path.write_bytes(builder.Output())
    with pytest.raises(tflm.TFLMError, match="TFLM has no kernel for operator UNIQUE") as info:
        tflm.arena(path)
    assert info.value.op == "UNIQUE"
