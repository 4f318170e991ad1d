"""Re-quantization of a real int8 MoveNet heatmap model: recovered float agrees, per-tensor collapses."""

import numpy as np
import pytest

from zoo_helpers.cards import singlepose
from zoo_helpers.evaluation import datasets
from zoo_helpers.quant import debug, equalize, ortquant, recover
from zoo_helpers.registry.assets import fetch
from zoo_helpers.runtime.models import load_model


@pytest.fixture(scope="module")
def requantized(mirror, tmp_path_factory):
    ann = fetch("mmpose_coco_annotations")
    coco = datasets.load_coco_keypoints(ann, ann.parent)
    samples = singlepose.prepare_samples(coco, (192, 192), "person_crops")
    tflite = fetch("movenet_heatmaps_192_int8_pc")
    work = tmp_path_factory.mktemp("q")
    paths = recover.float_graph(tflite, work)
    calib = load_model(paths["float"], rescale=recover.float_input_rescale(load_model(tflite))).prepare(
        samples.images[:4]).astype(np.float32)
    for name, per_channel in (("per_channel", True), ("per_tensor", False)):
        paths[name] = ortquant.quantize_onnx(paths["float"], work / f"{name}.onnx", calib, per_channel)
    paths["equalized_float"] = equalize.equalize(paths["float"], work / "float_cle.onnx")["path"]
    paths["per_tensor_cle"] = ortquant.quantize_onnx(paths["equalized_float"], work / "cle.onnx", calib, False)
    return tflite, paths, samples


def _peaks(model, images):
    return singlepose.decode(model.predict(images), "heatmaps")[..., :2] * 48


def test_recovered_float_agrees_with_the_int8_model(requantized):
    import onnx

    tflite, paths, samples = requantized
    graph = onnx.load(str(paths["float"])).graph
    assert not [n for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    int8 = load_model(tflite)
    flt = load_model(paths["float"], rescale=recover.float_input_rescale(int8))
    within_one_cell = (np.abs(_peaks(int8, samples.images) - _peaks(flt, samples.images)) <= 1.0).all(-1)
    assert within_one_cell.mean() > 0.8


def _agreement_with_float(requantized, *keys):
    """Share of heatmap peaks within one cell of the recovered float model's, per requantized model."""
    tflite, paths, samples = requantized
    rescale = recover.float_input_rescale(load_model(tflite))
    flt = _peaks(load_model(paths["float"], rescale=rescale), samples.images)
    return [(np.abs(_peaks(load_model(paths[k], rescale=rescale), samples.images) - flt) <= 1.0).all(-1).mean()
            for k in keys]


def test_per_channel_works_and_per_tensor_collapses(requantized):
    agree_pc, agree_pt = _agreement_with_float(requantized, "per_channel", "per_tensor")
    assert agree_pc > 0.6 and agree_pt < 0.2


def test_sqnr_is_infinite_for_identical_models(requantized):
    _, paths, samples = requantized
    x = load_model(paths["float"], rescale=(1 / 127.5, -1.0)).prepare(samples.images[:1])
    sqnr = debug.onnx_tensor_sqnr(paths["float"], paths["float"], x)
    assert sqnr and all(v == float("inf") for v in sqnr.values())


def test_empty_calibration_is_refused(requantized):
    _, paths, _ = requantized
    with pytest.raises(ValueError, match="empty"):
        ortquant.quantize_onnx(paths["float"], paths["float"].with_name("x.onnx"), np.zeros((0, 192, 192, 3)), True)


def test_equalization_keeps_the_float_function_and_evens_the_ranges(requantized):
    from zoo_helpers.quant import equalize

    tflite, paths, samples = requantized
    rescale = recover.float_input_rescale(load_model(tflite))
    a = load_model(paths["float"], rescale=rescale).predict(samples.images[:3])
    b = load_model(paths["equalized_float"], rescale=rescale).predict(samples.images[:3])
    name = next(iter(a))
    assert np.abs(a[name] - b[name]).max() < 1e-4  # exact up to float rounding
    before = equalize.channel_range_ratios(paths["float"])
    after = equalize.channel_range_ratios(paths["equalized_float"])
    assert np.median(list(after.values())) < np.median(list(before.values())) / 2


def test_equalization_helps_per_tensor(requantized):
    agree_pt, agree_cle = _agreement_with_float(requantized, "per_tensor", "per_tensor_cle")
    assert agree_cle > agree_pt


def test_equalize_keeps_a_graph_without_pairs_as_it_is(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from zoo_helpers.quant import equalize

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    summary = equalize.equalize(path, tmp_path / "out.onnx")
    assert summary["pairs"] == 0
    assert onnx.load(str(summary["path"])).graph == onnx.load(str(path)).graph
