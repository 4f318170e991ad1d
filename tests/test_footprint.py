"""Footprint analysis on small models built here, whose MACCs and memory are computed by hand."""

import numpy as np
import pytest

from zoo_helpers.runtime import footprint


def test_planner_reuses_memory_of_dead_tensors():
    assert footprint.plan_arena([(64, 0, 1), (32, 1, 2), (64, 2, 3)], align=1) == 96
    assert footprint.plan_arena([(10, 0, 0)], align=16) == 16
    assert footprint.plan_arena([(64, 0, 5), (64, 1, 2), (64, 3, 4)], align=1) == 128


@pytest.fixture()
def branchy_onnx(tmp_path):
    """X -> Conv1 -> A -> Relu -> B -> Conv2 -> Y;  A -> Conv3 -> Z;  Y + Z -> O (float32, 8x8)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=s).astype(np.float32), n)
             for n, s in (("W1", (4, 3, 3, 3)), ("W2", (2, 4, 1, 1)), ("W3", (2, 4, 1, 1)))]
    nodes = [helper.make_node("Conv", ["X", "W1"], ["A"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["A"], ["B"]),
             helper.make_node("Conv", ["B", "W2"], ["Y"]),
             helper.make_node("Conv", ["A", "W3"], ["Z"]),
             helper.make_node("Add", ["Y", "Z"], ["O"])]
    graph = helper.make_graph(nodes, "branchy", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("O", TensorProto.FLOAT, [1, 2, 8, 8])], inits)
    path = tmp_path / "branchy.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_onnx_by_hand(branchy_onnx):
    fp = footprint.analyze(branchy_onnx, align=1)
    assert fp.maccs_by_op == {"Conv": 4 * 64 * 27 + 2 * 64 * 4 + 2 * 64 * 4}  # 7936
    assert fp.weights_by_dtype == {"float32": (108 + 8 + 8) * 4}
    # live sets by step: {X, A}, {A, B}, {A, B, Y} = 1024 + 1024 + 512, {A, Y, Z}, {Y, Z, O}
    assert fp.live_lower_bound == 2560
    assert fp.arena_bytes == 2560  # greedy placement reaches the bound here (worked out in the test's notes)
    assert fp.io_bytes == 768 + 512
    assert fp.elementwise_ops == 4 * 64 + 2 * 64  # Relu and Add outputs


def test_tflite_by_hand(tmp_path):
    import tensorflow as tf  # pinned: a broken install fails, it is not skipped
    keras = tf.keras
    inp = keras.Input((8, 8, 3), batch_size=1)
    const = keras.initializers.Constant  # distinct biases: the converter shares identical constants
    x = keras.layers.Conv2D(4, 3, padding="same", bias_initializer=const(0.1))(inp)
    x = keras.layers.DepthwiseConv2D(3, padding="same", bias_initializer=const(0.2))(x)
    out = keras.layers.Dense(5, bias_initializer=const(0.3))(keras.layers.Flatten()(x))
    path = tmp_path / "small.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(keras.Model(inp, out)).convert())
    fp = footprint.analyze(path, align=1)
    assert fp.maccs_by_op == {"CONV_2D": 64 * 4 * 27, "DEPTHWISE_CONV_2D": 64 * 4 * 9, "FULLY_CONNECTED": 5 * 256}
    float_params = (108 + 4) + (36 + 4) + (1280 + 5)
    assert fp.weights_by_dtype["float32"] == 4 * float_params
    # the two 8x8x4 float maps (1 KiB each) are alive together while the depthwise conv runs
    assert fp.live_lower_bound >= 2 * 1024 and fp.arena_bytes >= fp.live_lower_bound


def test_refuses_other_formats(tmp_path):
    with pytest.raises(ValueError, match=r"reads \.tflite or \.onnx"):
        footprint.analyze(tmp_path / "model.h5")


def test_real_models_against_the_cards(mirror):
    from zoo_helpers.registry.assets import fetch

    st = footprint.analyze(fetch("st_movenet_heatmaps_192_int8_pc"))
    assert st.maccs / 1e6 == pytest.approx(237.887, rel=0.01)        # card: 237.887 M
    assert st.weights_bytes / 1024 == pytest.approx(2300.69, rel=0.01)  # overview card weights flash
    yolo = footprint.analyze(fetch("yolov8n_pose_256_int8_pc"))
    assert yolo.maccs / 1e6 == pytest.approx(741.778, rel=0.02)      # card: 741.778 M
