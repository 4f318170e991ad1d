"""The runtime layer: run ``.tflite`` and ``.onnx`` files on the host, and measure them offline.

- :mod:`~zoo_helpers.runtime.tensors`: tensor specs and their quantization arithmetic;
- :mod:`~zoo_helpers.runtime.models`: LiteRT and onnxruntime models behind one API (:func:`load` opens a catalog
  model, :func:`load_model` a file);
- :mod:`~zoo_helpers.runtime.tflm`: TensorFlow Lite Micro's reference kernels and its arena;
- :mod:`~zoo_helpers.runtime.engines`: the CPU runtimes that can run a file here, by name (LiteRT's three kernel
  sets, TFLM, onnxruntime with and without its graph optimizations);
- :mod:`~zoo_helpers.runtime.divergence`: where two runtimes part, operator by operator;
- :mod:`~zoo_helpers.runtime.footprint`: weights, MACCs and activation memory read from a file.

Imports the registry only.
"""

from zoo_helpers.runtime import divergence, engines, footprint, models, tensors, tflm
from zoo_helpers.runtime.models import Model, ModelFileError, load, load_model, measure_latency
from zoo_helpers.runtime.tensors import TensorSpec

__all__ = [
    "Model", "ModelFileError", "TensorSpec", "divergence", "engines", "footprint", "load", "load_model",
    "measure_latency", "models", "tensors", "tflm"
]
