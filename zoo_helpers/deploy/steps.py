"""Deployment: commands for STM32N6 and STM32MP2 boards, and validation of a model on a board or its emulator.

:func:`commands` lists, for a model file, the exact command lines a user runs: ST Edge AI Core
(``stedgeai generate``) for the N6 NPU, STM32CubeProgrammer to flash, and copying the model to an
STM32MP2 running X-LINUX-AI with its benchmark tool. Each row says whether the tool was found on
this machine and, when asked to run, what running it gave; nothing here pretends to have run on a board.

:func:`validate` runs inputs through ST's validation protocol (:mod:`zoo_helpers.board`) on the
board named by a descriptor, or, when none is given, on the emulator started in-process, and compares
the outputs with the host runtime's. Its table says which one answered (``board`` or ``emulated board``)
and, for the emulator, which kernels computed the outputs: TFLM's reference kernels, the integer
arithmetic an MCU running TFLM computes, whenever TFLM can run the file, else the host's LiteRT (the
table says why). On the emulator the "board - host" difference is therefore TFLM's against LiteRT's.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: Tools each step needs, by executable name.
TOOLS = {"generate": "stedgeai", "flash": "STM32_Programmer_CLI", "copy to MP2": "scp", "benchmark on MP2": "ssh"}


def commands(model: str | os.PathLike[str], board: str = "", mp2_host: str = "", run: bool = False,
             timeout: float = 1800.0) -> object:
    """Deployment command lines for ``model``; with ``run``, the ones whose tool is installed are executed.

    Parameters
    ----------
    model
        ``.tflite`` or ``.onnx`` file.
    board
        Descriptor of an attached STM32N6 board (shown in the validation step), or ``""``.
    mp2_host
        SSH destination of an STM32MP2 board (e.g. ``root@192.168.7.1``); its steps run only when given.
    run
        Execute the steps that apply (N6 steps when ``board`` is given, MP2 steps when ``mp2_host`` is)
        and whose tool is found here; the others are only shown. The result column says which happened.
    timeout
        Seconds each executed command may take.

    Examples
    --------
    >>> commands("m.tflite")["step"].tolist()[:2]
    ['generate', 'flash']
    """
    import shlex
    import subprocess

    import pandas as pd

    model = Path(model)
    host = mp2_host or "root@<mp2-address>"
    lines = {
        "generate": f"stedgeai generate --model {model.name} --target stm32n6 --st-neural-art default "
                    "--input-data-type uint8 --output-data-type float32",
        "flash": "STM32_Programmer_CLI -c port=SWD mode=HOTPLUG -el MX66UW1G45G_STM32N6570-DK.stldr "
                 "-hardRst -w network_data.hex",
        "copy to MP2": f"scp {model.name} {host}:/usr/local/x-linux-ai/",
        "benchmark on MP2": f"ssh {host} x-linux-ai-benchmark --model_path /usr/local/x-linux-ai/{model.name} "
                            "--minimal_serial",
    }
    rows = []
    for step, cmd in lines.items():
        found = bool(shutil.which(TOOLS[step]))
        applies = bool(board) if step in ("generate", "flash") else bool(mp2_host)
        result = "shown" if found else f"shown ({TOOLS[step]} not found here)"
        if run and found and applies:
            try:
                done = subprocess.run(shlex.split(cmd), cwd=model.parent, capture_output=True, text=True,
                                      timeout=timeout)
                tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or [""]
                result = f"ran: exit {done.returncode} {tail[0][:120]}".strip()
            except subprocess.TimeoutExpired:
                result = f"ran: stopped after {timeout:.0f} s"
        rows.append({"step": step, "command": cmd, "tool found here": found, "result": result})
    rows.append({"step": "validate on target", "command": f"board: {board or '(none given: emulator)'}",
                 "tool found here": True, "result": "see the validation table below"})
    return pd.DataFrame(rows)


def app_config(key: str) -> str:
    """The ``stedgeai generate`` line and the ``app_config.h`` of ST's STM32N6 pose application for a catalog model.

    Both come from the model file's own shapes (:mod:`zoo_helpers.deploy.appconfig`); the file is named without
    its folder, as a user runs the command from the model's folder. ST's generator writes the header only
    for heatmap and YOLO-pose models: for the others the text says so.

    Examples
    --------
    >>> print(app_config("movenet_lightning_192").splitlines()[-1])
    /* no app_config.h: ... */
    """
    from zoo_helpers.deploy import appconfig
    from zoo_helpers.registry import catalog

    path = catalog.path(key)
    command = appconfig.generate_command(path).replace(str(path), path.name)
    try:
        header = appconfig.for_catalog(key)
    except appconfig.NoAppConfigError as exc:
        header = f"/* no app_config.h: {exc} */"
    return f"{command}\n\n{header}"


def mp2_check():
    """The cards' STM32MP2 rows with %NPU beside the placement rules' prediction for the same file, where it is here.

    The published figure is a share of inference time (the placement study's reading of the cards), the
    prediction a share of MACs: they are compared by their majority unit (``agree``), not by value.
    """
    from zoo_helpers.deploy.placement import published_mp2

    full = published_mp2()
    table = full[["model", "resolution", "card quantization", "predicted %NPU (share of MACs)",
                  "published %NPU (share of time)", "agree", "note"]].copy()
    table["agree"] = [("—" if a is None else "yes" if a else "no, see the text") for a in full["agree"]]
    table.attrs["caption"] = "STM32MP2: predicted MAC share on the NPU beside the cards' time share (published)"
    return table


def validate(model, inputs, board: str = "", version: int = 0x302, score=None, metric: str = "accuracy",
             runtime: str = "auto"):
    """Run ``inputs`` on a board (``board`` = descriptor such as ``serial:/dev/ttyACM0:921600``) or the emulator.

    ``inputs`` are ``(N, ...)`` in the model's input dtype (e.g. ``model.prepare(images)``). Returns
    ``(result, table)``: the :class:`zoo_helpers.board.client.RunResult` and a one-row table with the
    largest output difference from the host runtime, the mean on-device time per sample and its source.
    ``score``, when given, maps a dict of ``(N, ...)`` outputs to a number: the table then shows ``metric``
    computed on the board's outputs and on the host's for the same samples. ``runtime`` is the emulator's
    (:data:`zoo_helpers.board.kernels.RUNTIMES`), or ``auto``: TFLM when it can run the file.
    """
    import numpy as np
    import pandas as pd

    from zoo_helpers.board import kernels
    from zoo_helpers.board.client import BoardClient
    from zoo_helpers.board.emulator import start_in_thread

    inputs = np.asarray(inputs)
    runtime, why = _emulator_runtime(model, runtime) if not board else ("", "")
    client = BoardClient.connect(board if board else start_in_thread(model, version, runtime=runtime), expect=model)
    try:
        result = client.invoke(inputs, progress=False)
    finally:
        client.close()
    name = model.inputs[0].name
    runs = [model.invoke({name: inputs[i:i + 1]}) for i in range(len(inputs))]
    host = {s.name: np.concatenate([s.dequantize(r[s.name]) for r in runs]) for s in model.outputs}
    on_board = result.stacked()
    diff = max(float(np.abs(on_board[k] - host[k]).max()) for k in host if k in on_board)
    table = pd.DataFrame([{"samples": len(result.durations_ms),
                           "protocol": f"{client.framing.version >> 8}.{client.framing.version & 0xFF}",
                           "max |board - host| output": diff,
                           "mean inference time (ms)": float(np.mean(result.durations_ms)),
                           **({f"{metric} on board": score(on_board), f"{metric} on host": score(host)}
                              if score else {}),
                           "kernels": f"{kernels.label(runtime, model.path)}{why}" if runtime else "the board's",
                           "measured on": result.source}])
    return result, table


def validate_models(models: dict, images, board: str = "", metric: str = "accuracy", score=None):
    """:func:`validate` each model (label -> model) on the same images, each prepared for its own input.

    Returns the validation tables one under the other, indexed by label (``score`` as in :func:`validate`).
    """
    import pandas as pd

    rows = {label: validate(m, m.prepare(images), board, metric=metric, score=score)[1] for label, m in models.items()}
    return pd.concat(rows.values(), keys=list(rows)).droplevel(1)


def _emulator_runtime(model, runtime: str) -> tuple[str, str]:
    """The emulator's runtime for ``model``, and why it is not TFLM when ``auto`` had to fall back."""
    from zoo_helpers.board.kernels import invoker
    from zoo_helpers.runtime.tflm import TFLMError

    if runtime != "auto":
        return runtime, ""
    if Path(model.path).suffix != ".tflite":
        return "litert", " (TFLM runs .tflite files only)"
    try:
        invoker(model, "tflm")
    except TFLMError as exc:
        return "litert", f" (TFLM cannot run it: {exc.op or exc})"
    return "tflm", ""
