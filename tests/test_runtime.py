"""Model runtime on real zoo files: specs, quantization round trip, errors, the Coral golden test."""

import numpy as np
import pytest

from zoo_helpers.cards import singlepose
from zoo_helpers.registry.assets import fetch
from zoo_helpers.runtime.models import ModelFileError, load_model
from zoo_helpers.runtime.tensors import TensorSpec


def test_specs_of_a_quantized_heatmap_model(mirror):
    m = load_model(fetch("movenet_heatmaps_192_int8_pc"))
    spec = m.inputs[0]
    assert spec.shape == (1, 192, 192, 3) and spec.dtype == np.uint8 and spec.layout == "NHWC"
    assert spec.quantized and not spec.per_axis
    assert spec.scale[0] == pytest.approx(1 / 127.5) and spec.zero_point[0] == 127
    assert m.outputs[0].shape == (1, 48, 48, 17) and not m.outputs[0].quantized


def test_onnx_specs_and_layout(mirror):
    m = load_model(fetch("st_face_landmarks_192_int8_pc"), rescale=(1 / 255, 0.0))
    assert m.inputs[0].layout == "NCHW" and m.input_size == (192, 192)
    out = m.predict(np.full((2, 192, 192, 3), 128, np.uint8))
    assert out["landmarks"].shape == (2, 1, 1, 936) and out["landmarks"].dtype == np.float32


def test_quantization_round_trip_per_tensor_and_per_axis():
    spec = TensorSpec("x", (1, 8), np.dtype(np.uint8), None, np.array([1 / 127.5]), np.array([127]))
    q = np.arange(256, dtype=np.uint8)
    assert np.array_equal(spec.quantize(spec.dequantize(q)), q)
    # this model's zero point (127, not 127.5) puts every pixel rescaled to [-1, 1] half a code away from a
    # code, so rounding may go either way: within one code of the pixel, never further
    assert np.abs(spec.quantize(q / 127.5 - 1.0).astype(int) - q).max() <= 1
    assert spec.quantize(np.array([0.5 * spec.scale[0], -0.5 * spec.scale[0]])).tolist() == [128, 126]  # half away
    axis = TensorSpec("w", (3, 4), np.dtype(np.int8), None, np.array([0.1, 0.01, 1.0]), np.zeros(3, np.int64), 0)
    w = np.array([[0.1, -0.2, 12.7, -12.8]] * 3)
    qw = axis.quantize(w)
    assert qw.tolist() == [[1, -2, 127, -128], [10, -20, 127, -128], [0, 0, 13, -13]]
    assert np.allclose(axis.dequantize(qw)[0], w[0])


def test_predict_applies_the_input_quantization(mirror):
    m = load_model(fetch("yolov8n_pose_256_int8_pt"), rescale=(1 / 255, 0.0))
    x = np.random.default_rng(0).integers(0, 256, (1, 256, 256, 3), dtype=np.uint8)
    assert np.array_equal(m.prepare(x), x)  # scale 1/255, zero point 0: the pixel is the code
    raw = m.invoke({m.inputs[0].name: x})
    assert np.allclose(m.predict(x)[m.outputs[0].name], raw[m.outputs[0].name])


def test_bad_inputs_are_clear_errors(mirror, tmp_path):
    m = load_model(fetch("movenet_lightning_192_int8"))
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 192, 192, 3\)"):
        m.predict(np.zeros((1, 256, 256, 3), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        m.predict(np.zeros((1, 192, 192, 3), np.float32))
    fake = tmp_path / "model.tflite"
    fake.write_bytes(fetch("coral_squat_image").read_bytes())
    with pytest.raises(ModelFileError, match="not a TFLite flatbuffer"):
        load_model(fake)
    with pytest.raises(ModelFileError, match="unsupported model format"):
        load_model(fetch("coral_squat_lightning_reference"))
    float_model = load_model(fetch("mediapipe_hand_landmark_full"))
    with pytest.raises(ValueError, match="pass rescale"):
        float_model.predict(np.zeros((1, 224, 224, 3), np.uint8))


def test_coral_golden_squat(mirror):
    """MoveNet Lightning int8 on squat.bmp agrees with Coral's reference keypoints (x, y within 0.05)."""
    table = singlepose.coral_golden_check(tolerance=0.05)
    assert len(table) == 17 and table["max |diff|"].max() < 0.05


def test_zero_threads_is_a_parameter_error_not_a_bad_file(mirror):
    with pytest.raises(ValueError, match="num_threads must be a whole number from 1 to 64 .*, got 0"):
        load_model(fetch("movenet_lightning_192_int8"), num_threads=0)


@pytest.mark.parametrize("threads", [10**6, 65, True, 2.0])
def test_a_thread_count_past_the_maximum_is_refused_before_a_runtime_starts(mirror, threads):
    from zoo_helpers import runtime
    from zoo_helpers.runtime import models

    with pytest.raises(ValueError, match=f"num_threads must be a whole number from 1 to 64 .*, got {threads!r}"):
        runtime.load("handposture_h5_thirdparty", threads)  # a Keras file takes no thread count: checked all the same
    with pytest.raises(ValueError, match="num_threads must be a whole number from 1 to 64 .*, got 65"):
        runtime.load("movenet_lightning_192", 65)  # (not 10**6 here: today's main would start that many threads)
    assert runtime.load("movenet_lightning_192", 64).num_threads == 64 == models.MAX_THREADS


def test_non_finite_inputs_are_refused_not_quantized(mirror):
    model = load_model(fetch("movenet_heatmaps_192_int8_pc"))
    x = np.zeros((3, 192, 192, 3))
    x[1, 5, 5, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite values \(samples \[1\]\)"):
        model.predict_array(x)


def test_batched_predict_equals_one_sample_per_invoke_on_real_crops(mirror):
    from zoo_helpers.evaluation import datasets

    ann = fetch("mmpose_coco_annotations")
    crops = singlepose.prepare_samples(datasets.load_coco_keypoints(ann, ann.parent), (192, 192)).images
    path = fetch("movenet_heatmaps_192_int8_pc")
    batched, single = load_model(path), load_model(path)
    batched.batch_size, single.batch_size = 5, 1  # 12 crops: two full batches and a padded one
    a, b = batched.predict(crops), single.predict(crops)
    assert batched.batching() == "batched (5 per invoke)" and single.batching().startswith("not checked")
    name = batched.outputs[0].name
    assert a[name].shape == (12, 48, 48, 17) and np.array_equal(a[name], b[name])


def test_a_graph_with_a_fixed_batch_falls_back_to_one_sample_per_invoke(mirror):
    m = load_model(fetch("st_face_landmarks_192_int8_pc"), rescale=(1 / 255, 0.0))  # Reshape to (1, 1, 1, 936)
    x = np.random.default_rng(0).integers(0, 255, (3, 192, 192, 3), dtype=np.uint8)
    out = m.predict(x)["landmarks"]
    assert m.batching().startswith("one sample per invoke (the batch axis cannot be resized")
    assert np.array_equal(out[2], m.predict(x[2:])["landmarks"][0])
