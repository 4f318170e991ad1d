"""The quantization layer: from a model file to int8 files, each a recipe, and the tools to see why.

Bottom to top:

- :mod:`~zoo_helpers.quant.onnxgraph`: ONNX graph helpers (constant folding, QuantizeLinear, node facts);
- :mod:`~zoo_helpers.quant.recover`: the float graph of an int8 TFLite or QDQ ONNX file;
- :mod:`~zoo_helpers.quant.ortquant`, :mod:`~zoo_helpers.quant.nncfquant`, :mod:`~zoo_helpers.quant.kerasquant`:
  the engines (onnxruntime, NNCF, TFLite's converter for Keras models);
- :mod:`~zoo_helpers.quant.branches`, :mod:`~zoo_helpers.quant.equalize`, :mod:`~zoo_helpers.quant.scalesearch`:
  our graph steps before quantization (CLE pairwise and through branches, MSE weight scales);
- :mod:`~zoo_helpers.quant.recipes`: the recipes (``data/recipes.yaml``) and :func:`make`, the one entry point;
- :mod:`~zoo_helpers.quant.debug`: SQNR per tensor, what a file really holds, range ratios, int16 cost.

Imports the runtime and registry layers; never evaluation, cards or book.
"""

from zoo_helpers.quant import (
    branches,
    debug,
    equalize,
    kerasquant,
    nncfquant,
    onnxgraph,
    ortquant,
    recipes,
    recover,
    scalesearch,
)
from zoo_helpers.quant.recipes import Made, Recipe, make, select

__all__ = [
    "Made", "Recipe", "branches", "debug", "equalize", "kerasquant", "make", "nncfquant", "onnxgraph", "ortquant",
    "recipes", "recover", "scalesearch", "select"
]
