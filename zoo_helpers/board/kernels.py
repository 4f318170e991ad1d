"""What computes an emulated board's outputs: LiteRT on the host, or TFLM's reference kernels.

The emulator answers ST's validation protocol with the bytes a board would send; the numbers in those
bytes come from one of two runtimes:

``litert``
    the host's LiteRT interpreter (or onnxruntime for ``.onnx``), with its optimized CPU kernels: what
    the rest of the book measures on the host CPU;
``tflm``
    TensorFlow Lite Micro's reference kernels (:mod:`zoo_helpers.runtime.tflm`): the Cortex-M reference
    arithmetic, what an int8 file computes on an MCU running TFLM (CMSIS-NN's kernels are specified to match
    them bit for bit). It is not the N6 NPU's arithmetic, and not what ST's STM32F401 hand-posture demo runs
    (the float Keras model, through STM32Cube.AI). It takes ``.tflite`` files only, and a model with an
    operator TFLM has no kernel for fails when the emulator starts, naming the operator.

Either way the times the emulator reports are host times, labelled so; nothing here estimates board latency.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from zoo_helpers.runtime.tflm import TFLMModel

RUNTIMES = ("litert", "tflm")
#: How each runtime is named in the tables (the "kernels" column of a validation).
LABELS = {"litert": "host LiteRT kernels (XNNPACK)", "tflm": "TFLM reference kernels (Cortex-M reference arithmetic)"}


def label(runtime: str, path) -> str:
    """:data:`LABELS` for a model file: the ``litert`` runtime runs an ``.onnx`` file with onnxruntime."""
    return "host onnxruntime kernels" if runtime == "litert" and str(path).endswith(".onnx") else LABELS[runtime]


def invoker(model, runtime: str = "litert") -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """A function from one sample's raw inputs (by input name) to its raw outputs (by output name).

    ``model`` is a :class:`zoo_helpers.runtime.models.Model` (its specs name and type the tensors).

    Examples
    --------
    >>> from zoo_helpers import runtime
    >>> model = runtime.load("st_movenet_heatmaps_192")
    >>> run = invoker(model, "tflm")
    >>> run({model.inputs[0].name: np.zeros((1, 192, 192, 3), np.uint8)})[model.outputs[0].name].dtype.name
    'float32'
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
    if runtime == "litert":
        return model.invoke

    return TFLMModel(Path(model.path), model.rescale)._run  # runs once on zeros: a rejected kernel fails here
