"""The book layer (top): what a chapter shows. Nothing imports it.

- :mod:`~zoo_helpers.book.chapter`: a chapter's parameters, checked in Setup, and its recorder;
- :mod:`~zoo_helpers.book.present`: the one table presenter;
- :mod:`~zoo_helpers.book.tables`: card tables, published beside measured;
- :mod:`~zoo_helpers.book.runtime_tables`: the runtime matrix, its pairs and the layer figure;
- :mod:`~zoo_helpers.book.recipe_table`: the recipes' table and the Quantize goals;
- :mod:`~zoo_helpers.book.plots`: every figure;
- :mod:`~zoo_helpers.book.overview`: the overview card;
- :mod:`~zoo_helpers.book.perf`: one ``perf.yaml`` per model, published and measured, from the records;
- :mod:`~zoo_helpers.book.glance`: a chapter's "at a glance" findings.
"""

from zoo_helpers.book import chapter, glance, overview, perf, plots, present, recipe_table, runtime_tables, tables

__all__ = [
    "chapter", "glance", "overview", "perf", "plots", "present", "recipe_table", "runtime_tables", "tables"
]
