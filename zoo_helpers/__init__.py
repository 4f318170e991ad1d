"""Helpers for the STM32 pose-estimation model zoo book, in layers (each imports only the layers below it).

============  ====================================================================================
layer         what it holds
============  ====================================================================================
``book``      what a chapter shows: parameters and recorder, presenter, tables, plots, overview, glance
``cards``     each card's pipeline and the one catalog loop    | ``deploy``  commands, validation, placement
``quant``     int8 recipes and their engines | ``evaluation`` decoders, metrics, data | ``board`` protocol, emulator
``runtime``   LiteRT, onnxruntime and TFLM on the host, offline footprint
``results``   result records (what a chapter measured, as JSON)
``registry``  files (assets, datasets), the model catalog, keypoint layouts, published card figures
============  ====================================================================================

Siblings on one line do not import each other. The rules are import-linter contracts (``.importlinter``),
checked in the static test lane. Nothing heavy is imported here.
"""

__version__ = "0.1.0"
