"""STM32MP2 (Linux, X-LINUX-AI) driver: one shell session, a model copied once, benchmarks and batched runs.

The session is a shell reached either over the board's serial console with pyserial
(:class:`ConsoleShell`: log in, turn echo off, fixed prompt) or through a long-lived process such
as ``ssh root@board sh`` (:class:`ProcessShell`). Every command is sent as ``cmd; echo __RC=$?__``
and read up to that sentinel, with a deadline: a failing command raises :class:`CommandFailed`
with its output, a silent board :class:`ShellTimeout`; nothing hangs.

:func:`push` copies a file in base64 chunks and checks its sha256 on the board; :func:`benchmark`
runs ``x-linux-ai-benchmark`` and parses its table (inference time, CPU/GPU/NPU share, peak RAM);
:func:`run_batch` sends all inputs as one ``.npz``, runs one on-board script over them with
``stai_mpu`` and brings all outputs back at once, instead of one copy per image.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import subprocess
import time
from pathlib import Path

import numpy as np

SENTINEL = re.compile(r"__RC=(\d+)__")
PROMPT = "__P__# "
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class ShellError(RuntimeError):
    """Base class of MP2 shell errors."""


class ShellTimeout(ShellError, TimeoutError):
    """The board did not finish the command in time."""


class CommandFailed(ShellError):
    """A command returned a non-zero status; ``output`` holds what it printed."""

    def __init__(self, command: str, status: int, output: str) -> None:
        super().__init__(f"{command!r} exited with status {status}: {output.strip()[-500:]}")
        self.status, self.output = status, output


class _Shell:
    #: base64 characters per ``printf`` line in :func:`push` (a serial console's line buffer is ~4 KiB)
    chunk = 3072

    def _write(self, text: str) -> None:
        raise NotImplementedError

    def _read(self) -> str:
        raise NotImplementedError

    def run(self, command: str, timeout: float = 60.0, check: bool = True) -> str:
        """Run one shell command; returns its output (ANSI codes removed)."""
        self._write(f"{command}; echo __RC=$?__\n")
        deadline, buf = time.monotonic() + timeout, ""
        while True:
            buf += self._read()
            m = SENTINEL.search(buf)
            if m:
                output = ANSI.sub("", buf[:m.start()]).replace("\r", "").replace(PROMPT, "")
                if check and int(m.group(1)):
                    raise CommandFailed(command, int(m.group(1)), output)
                return output.strip("\n")
            if time.monotonic() > deadline:
                raise ShellTimeout(f"{command!r} did not finish in {timeout} s; last output: {buf[-200:]!r}")


class ProcessShell(_Shell):
    """A shell in a child process talking over pipes, e.g. ``["ssh", "root@192.168.7.1", "sh"]``."""

    chunk = 65536

    def __init__(self, argv: list[str], cwd: str | None = None, env: dict | None = None) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     cwd=cwd, env=env, bufsize=0)
        import os

        os.set_blocking(self.proc.stdout.fileno(), False)

    def _write(self, text: str) -> None:
        try:
            self.proc.stdin.write(text.encode())
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise ShellError(f"the shell process ended (status {self.proc.poll()})") from exc

    def _read(self) -> str:
        chunk = self.proc.stdout.read(65536)
        if not chunk:
            if self.proc.poll() is not None:
                raise ShellError(f"the shell process ended (status {self.proc.returncode})")
            time.sleep(0.01)
            return ""
        return chunk.decode(errors="replace")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(5)


class ConsoleShell(_Shell):
    """The board's serial console (115200 8N1 on the ST-LINK VCP) through pyserial."""

    def __init__(self, port, user: str = "root", timeout: float = 30.0) -> None:
        self.port = port
        self._login(user, timeout)

    def _write(self, text: str) -> None:
        self.port.write(text.replace("\n", "\r").encode())

    def _read(self) -> str:
        return self.port.read(4096).decode(errors="replace")

    def _login(self, user: str, timeout: float) -> None:
        deadline, buf = time.monotonic() + timeout, ""
        self._write("\n")
        while time.monotonic() < deadline:
            buf += self._read()
            if re.search(r"login:\s*$", buf):
                self._write(f"{user}\n")
                buf = ""
            elif re.search(r"[#$]\s*$", buf):
                self.run(f"stty -echo cols 1000; export TERM=dumb; dmesg -n 1 2>/dev/null; PS1='{PROMPT}'", 10)
                return
        raise ShellTimeout(f"no login prompt or shell prompt on the console in {timeout} s")


def push(shell: _Shell, local: str | Path, remote: str) -> str:
    """Copy a file to the board in base64 chunks; checks its sha256 there. Returns the remote path."""
    data = Path(local).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if shell.run(f"sha256sum {remote} 2>/dev/null | cut -c1-64", check=False).strip() == digest:
        return remote  # already there: copy once
    encoded = base64.b64encode(data).decode()
    shell.run(f"rm -f {remote}.b64")
    for i in range(0, len(encoded), shell.chunk):
        shell.run(f"printf '%s' '{encoded[i:i + shell.chunk]}' >> {remote}.b64")
    shell.run(f"base64 -d {remote}.b64 > {remote} && rm {remote}.b64")
    remote_digest = shell.run(f"sha256sum {remote} | cut -c1-64").strip()
    if remote_digest != digest:
        raise ShellError(f"{remote} arrived with sha256 {remote_digest}, expected {digest}")
    return remote


def pull(shell: _Shell, remote: str) -> bytes:
    """Bring a (small) file back from the board through base64."""
    return base64.b64decode(shell.run(f"base64 {remote} | tr -d '\\n'", timeout=300))


def parse_benchmark(text: str) -> list[dict[str, float | str]]:
    """Rows of ``x-linux-ai-benchmark``'s result table (``Model Name | Inference Time (ms) | CPU % | ...``).

    Examples
    --------
    >>> parse_benchmark("| Model Name | Inference Time (ms) | CPU % | GPU % | NPU % | Peak RAM (MB) |\\n"
    ...                 "| m.nb | 17.6 | 0.0 | 13.5 | 86.5 | 21.4 |")
    [{'model': 'm.nb', 'inference_ms': 17.6, 'cpu_pct': 0.0, 'gpu_pct': 13.5, 'npu_pct': 86.5, 'peak_ram_mb': 21.4}]
    """
    keys = ["model", "inference_ms", "cpu_pct", "gpu_pct", "npu_pct", "peak_ram_mb"]
    rows = []
    for line in ANSI.sub("", text).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or cells[0] in ("Model Name", "") or set(cells[0]) <= set("-+="):
            continue
        try:
            rows.append({"model": cells[0], **{k: float(v) for k, v in zip(keys[1:], cells[1:], strict=True)}})
        except ValueError:
            continue
    return rows


def benchmark(shell: _Shell, remote_model: str, timeout: float = 600.0) -> dict[str, float | str]:
    """Run ``x-linux-ai-benchmark`` on a model already on the board; returns its parsed row."""
    out = shell.run(f"x-linux-ai-benchmark --model_path {remote_model} --minimal_serial", timeout=timeout)
    rows = parse_benchmark(out)
    if not rows:
        raise ShellError(f"no result table in the benchmark output: {out[-300:]!r}")
    return rows[0]


BATCH_SCRIPT = """
import sys, numpy as np
from stai_mpu import stai_mpu_network
net = stai_mpu_network(model_path=sys.argv[1], use_hw_acceleration=True)
data = np.load(sys.argv[2])
outs = {}
for i, x in enumerate(data["inputs"]):
    net.set_input(0, x[None])
    net.run()
    for k in range(net.get_num_outputs()):
        outs.setdefault(f"output_{k}", []).append(net.get_output(k)[0])
np.savez(sys.argv[3], **{k: np.stack(v) for k, v in outs.items()})
"""


def run_batch(shell: _Shell, remote_model: str, inputs: np.ndarray, workdir: str = "/tmp/zoo",
              timeout: float = 1800.0) -> dict[str, np.ndarray]:
    """Run all ``inputs`` on the board in one script (stai_mpu); returns the outputs stacked per index."""
    import tempfile

    shell.run(f"mkdir -p {workdir}")
    with tempfile.TemporaryDirectory() as tmp:
        script, data = Path(tmp) / "run_batch.py", Path(tmp) / "inputs.npz"
        script.write_text(BATCH_SCRIPT)
        np.savez(data, inputs=np.asarray(inputs))
        push(shell, script, f"{workdir}/run_batch.py")
        push(shell, data, f"{workdir}/inputs.npz")
    shell.run(f"python3 {workdir}/run_batch.py {remote_model} {workdir}/inputs.npz {workdir}/outputs.npz",
              timeout=timeout)
    with np.load(io.BytesIO(pull(shell, f"{workdir}/outputs.npz"))) as z:
        return {k: z[k] for k in z.files}
