"""Helpers for the STM32 pose-estimation model zoo book.

Submodules, each with one job (import them directly; nothing heavy is imported here):

- :mod:`zoo_helpers.assets`: registry, mirror/cache/download resolution and licences;
- :mod:`zoo_helpers.runtime`: run ``.tflite`` and ``.onnx`` models with their own quantization;
- :mod:`zoo_helpers.preprocess`: resize modes with exact transforms back to original pixels.
"""

__version__ = "0.1.0"
