"""Deployment command lines for STM32N6, STM32MP2 and STM32MP1 boards, and the N6 application's ``app_config.h``.

:func:`commands` lists, for a model file, the exact command lines a user runs: ST Edge AI Core
(``stedgeai generate``) for the N6 NPU, STM32CubeProgrammer to flash, and copying the model to an
STM32MP2 (or, for a ``.tflite`` file, an STM32MP1: CPU only) running X-LINUX-AI with its benchmark tool. Each
row says whether the tool was found on this machine and, when asked to run, what running it gave; nothing here
pretends to have run on a board.
:func:`app_config` gives the ``stedgeai generate`` line and the header of ST's N6 pose application.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import zoo_helpers.deploy.appconfig as appconfig
from zoo_helpers.registry import catalog

#: Tools each step needs, by executable name.
TOOLS = {"generate": "stedgeai", "flash": "STM32_Programmer_CLI", "copy to MP2": "scp", "benchmark on MP2": "ssh",
         "copy to MP1": "scp", "benchmark on MP1 (CPU)": "ssh"}


def commands(model: str | os.PathLike[str], board: str = "", mp2_host: str = "", run: bool = False,
             timeout: float = 1800.0, mp1_host: str = "", mp1_cores: int = 2) -> object:
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
    mp1_host, mp1_cores
        SSH destination of an STM32MP1 board and its CPU cores (2 on an STM32MP157F-DK2, 1 on an STM32MP135F-DK,
        as the model zoo benchmarks them). An MP1 has no NPU or GPU: X-LINUX-AI runs a ``.tflite`` file on its
        Cortex-A7 cores with TensorFlow Lite, as the 4.1 MoveNet card's MP1 rows do.

    Examples
    --------
    >>> commands(catalog.path("movenet_lightning_192"))["step"].tolist()[:2]
    ['generate', 'flash']

    The ``generate`` line is :func:`zoo_helpers.deploy.appconfig.generate_command`'s (the file's own input type),
    with the file's name, as it runs from the model's folder.
    """
    import shlex
    import subprocess

    import pandas as pd

    model = Path(model)
    host = mp2_host or "root@<mp2-address>"
    lines = {
        "generate": appconfig.generate_command(model).replace(str(model), model.name),
        "flash": "STM32_Programmer_CLI -c port=SWD mode=HOTPLUG -el MX66UW1G45G_STM32N6570-DK.stldr "
                 "-hardRst -w network_data.hex",
        "copy to MP2": f"scp {model.name} {host}:/usr/local/x-linux-ai/",
        "benchmark on MP2": f"ssh {host} x-linux-ai-benchmark --model_path /usr/local/x-linux-ai/{model.name} "
                            "--minimal_serial",
    }
    if model.suffix == ".tflite":  # the MP1 rows ST documents are TensorFlow Lite files on the CPU
        mp1 = mp1_host or "root@<mp1-address>"
        lines["copy to MP1"] = f"scp {model.name} {mp1}:/usr/local/x-linux-ai/"
        lines["benchmark on MP1 (CPU)"] = (f"ssh {mp1} x-linux-ai-benchmark --model_path /usr/local/x-linux-ai/"
                                           f"{model.name} --cpu_cores {mp1_cores} --minimal_serial")
    rows = []
    for step, cmd in lines.items():
        found = bool(shutil.which(TOOLS[step]))
        applies = (bool(board) if step in ("generate", "flash") else bool(mp1_host) if "MP1" in step
                   else bool(mp2_host))
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
    path = catalog.path(key)
    command = appconfig.generate_command(path).replace(str(path), path.name)
    try:
        header = appconfig.for_catalog(key)
    except appconfig.NoAppConfigError as exc:
        header = f"/* no app_config.h: {exc} */"
    return f"{command}\n\n{header}"
