"""Deploy helpers against the emulator: a board that runs another model is named before any output is compared."""

import numpy as np
import pytest

from zoo_helpers import deploy, runtime
from zoo_helpers.board.client import ModelMismatch
from zoo_helpers.board.emulator import start_in_thread
from zoo_helpers.deploy.validation import DIFF


def test_validate_on_a_board_running_another_model_names_the_difference(mirror):
    host = runtime.load("movenet_heatmaps_192")          # 17 heatmaps
    board = start_in_thread(runtime.load("st_movenet_heatmaps_192"))  # the board runs ST's 13-keypoint model
    with pytest.raises(ModelMismatch, match=r"\(1, 48, 48, 13\) on the board, \(1, 48, 48, 17\) expected"):
        deploy.validate(host, host.prepare(np.zeros((1, 192, 192, 3), np.uint8)), board)


def test_the_emulator_computes_with_tflm_when_it_can_and_says_why_not_otherwise(mirror):
    from zoo_helpers.runtime import tflm

    model = runtime.load("st_movenet_heatmaps_192")
    x = model.prepare(np.random.default_rng(0).integers(0, 255, (2, 192, 192, 3), np.uint8))
    result, table = deploy.validate(model, x)
    want = tflm.run(model.path, x)[model.outputs[0].name]
    assert np.array_equal(result.stacked()[model.outputs[0].name], want)  # TFLM's numbers, bit for bit
    assert table.loc[0, "kernels"].startswith("TFLM reference kernels") and table.loc[0, "measured on"] == \
        "emulated board"
    assert table.loc[0, DIFF] >= 1  # TFLM's reference kernels are not XNNPACK's: whole LSB apart
    lightning = runtime.load("movenet_lightning_192")
    _, table = deploy.validate(lightning, lightning.prepare(np.zeros((1, 192, 192, 3), np.uint8)))
    assert table.loc[0, "kernels"] == "host LiteRT kernels (XNNPACK) (TFLM cannot run it: CAST)"


def test_an_unknown_emulator_runtime_lists_the_runtimes(mirror):
    from zoo_helpers.board.emulator import Emulator

    with pytest.raises(ValueError, match="unknown runtime 'cmsis'; use one of litert, tflm"):
        Emulator(runtime.load("st_movenet_heatmaps_192"), runtime="cmsis")


def test_mp1_commands_run_tflite_files_on_the_cpu_with_the_zoos_core_counts(mirror):
    from zoo_helpers.registry import catalog

    rows = deploy.commands(catalog.path("st_movenet_heatmaps_192"), mp1_host="root@mp1", mp1_cores=1)
    line = rows.set_index("step").loc["benchmark on MP1 (CPU)", "command"]
    assert line == ("ssh root@mp1 x-linux-ai-benchmark --model_path /usr/local/x-linux-ai/"
                    "st_movenet_lightning_heatmaps_192_int8_pc.tflite --cpu_cores 1 --minimal_serial")
    onnx = deploy.commands(catalog.path("st_face_landmarks_192"))["step"].tolist()
    assert "benchmark on MP1 (CPU)" not in onnx  # ST documents MP1 rows for TensorFlow Lite files only
