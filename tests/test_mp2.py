"""STM32MP2 driver against a fake board: a real shell with recorded-format tools on its PATH."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from zoo_helpers.board import mp2

TABLE = ("\x1b[1mTensorFlow Lite models benchmark\x1b[0m\n"
         "+-------------+---------------------+-------+-------+-------+---------------+\n"
         "| Model Name  | Inference Time (ms) | CPU % | GPU % | NPU % | Peak RAM (MB) |\n"
         "+-------------+---------------------+-------+-------+-------+---------------+\n"
         "| {name} | 17.6 | 0.0 | 15.11 | 84.89 | 21.4 |\n"
         "+-------------+---------------------+-------+-------+-------+---------------+\n")


@pytest.fixture()
def board(tmp_path):
    """A fake MP2: ``sh`` in a folder whose PATH has x-linux-ai-benchmark and python3, and a stai_mpu module."""
    bin_dir, lib = tmp_path / "bin", tmp_path / "lib"
    bin_dir.mkdir()
    lib.mkdir()
    bench = bin_dir / "x-linux-ai-benchmark"
    bench.write_text("#!/bin/sh\n"
                     'if [ ! -f "$2" ]; then echo "Error: model $2 not found"; exit 1; fi\n'
                     f"name=$(basename $2)\nprintf '{TABLE.replace('%', '%%')}' \"$name\"\n".replace("{name}", "%s"))
    bench.chmod(0o755)
    (bin_dir / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python3").chmod(0o755)
    (lib / "stai_mpu.py").write_text(textwrap.dedent("""
        from zoo_helpers.runtime.models import load_model
        class stai_mpu_network:
            def __init__(self, model_path, use_hw_acceleration=True):
                self.m = load_model(model_path, num_threads=1)
            def get_num_outputs(self):
                return len(self.m.outputs)
            def set_input(self, i, x):
                self.x = {self.m.inputs[i].name: x}
            def run(self):
                self.out = self.m.invoke(self.x)
            def get_output(self, k):
                return self.out[self.m.outputs[k].name]
    """))
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", PYTHONPATH=str(lib))
    shell = mp2.ProcessShell(["sh"], cwd=str(tmp_path), env=env)
    yield shell, tmp_path
    shell.close()


def test_commands_status_and_timeouts(board):
    shell, _ = board
    assert shell.run("echo hello") == "hello"
    with pytest.raises(mp2.CommandFailed) as err:
        shell.run("ls /no/such/dir")
    assert err.value.status != 0 and "No such file" in err.value.output
    with pytest.raises(mp2.ShellTimeout):
        shell.run("sleep 5", timeout=0.5)


def test_push_once_and_benchmark(board, mirror, tmp_path):
    from zoo_helpers.registry.assets import fetch

    shell, root = board
    model = fetch("yolov8n_pose_256_int8_pt")
    remote = mp2.push(shell, model, str(root / "model.tflite"))
    assert (root / "model.tflite").read_bytes() == model.read_bytes()
    before = (root / "model.tflite").stat().st_mtime_ns
    mp2.push(shell, model, remote)  # already there with the same sha256: not copied again
    assert (root / "model.tflite").stat().st_mtime_ns == before
    row = mp2.benchmark(shell, remote)
    assert row == {"model": "model.tflite", "inference_ms": 17.6, "cpu_pct": 0.0, "gpu_pct": 15.11,
                   "npu_pct": 84.89, "peak_ram_mb": 21.4}
    with pytest.raises(mp2.CommandFailed, match="not found"):
        mp2.benchmark(shell, str(root / "missing.nb"))


def test_batched_run_matches_the_host(board, mirror):
    from zoo_helpers.registry.assets import fetch
    from zoo_helpers.runtime.models import load_model

    shell, root = board
    model_path = fetch("movenet_heatmaps_192_int8_pc")
    remote = mp2.push(shell, model_path, str(root / "movenet.tflite"))
    x = np.random.default_rng(0).integers(0, 256, (3, 192, 192, 3), dtype=np.uint8)
    outs = mp2.run_batch(shell, remote, x, workdir=str(root / "work"))
    host = load_model(model_path).predict(x)
    assert np.array_equal(outs["output_0"], next(iter(host.values())))


def test_console_login_over_a_pty():
    import pty

    from zoo_helpers.board.ports import FdPort

    master, slave = pty.openpty()
    proc = subprocess.Popen(["sh", "-i"], stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                            env=dict(os.environ, PS1="# "))
    try:
        shell = mp2.ConsoleShell(FdPort(master, timeout=0.1), timeout=10)  # the console side of the pty
        assert shell.run("echo $((6 * 7))") == "42"
    finally:
        proc.kill()
        proc.wait(5)


def test_benchmark_table_parsing_ignores_noise():
    rows = mp2.parse_benchmark("CPU Clock frequency: 1.5 GHz\n" + TABLE.replace("{name}", "a.nb") + "done\n")
    assert [r["model"] for r in rows] == ["a.nb"] and rows[0]["npu_pct"] == 84.89
