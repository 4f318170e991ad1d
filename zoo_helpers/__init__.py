"""Helpers for the STM32 pose-estimation model zoo book.

Submodules, each with one job (import them directly; nothing heavy is imported here):

- :mod:`zoo_helpers.registry.assets`: registry, mirror/cache/download resolution and licences;
- :mod:`zoo_helpers.runtime.models`: run ``.tflite`` and ``.onnx`` models with their own quantization;
- :mod:`zoo_helpers.evaluation.preprocess`: resize modes with exact transforms back to original pixels.
"""

__version__ = "0.1.0"
