"""The registry layer (bottom): facts and files, as data. Imports no other layer.

- :mod:`~zoo_helpers.registry.hashing`: sha256 of a file, memoised while it is unchanged;
- :mod:`~zoo_helpers.registry.downloads`: a GitHub file or a PyPI wheel member into a path;
- :mod:`~zoo_helpers.registry.assets`: every model and data file (``data/assets.yaml``), datasets with their member
  lists, resolved from the mirror, the cache or a verified download;
- :mod:`~zoo_helpers.registry.keypoints`: keypoint layouts (``data/keypoints.yaml``);
- :mod:`~zoo_helpers.registry.facts`: each card's facts in one file (``data/cards/<card>.yaml``);
- :mod:`~zoo_helpers.registry.catalog`: every model the book runs (the cards' ``models``);
- :mod:`~zoo_helpers.registry.published`: every table of the cards (the cards' ``published``).
"""

from zoo_helpers.registry import assets, catalog, downloads, facts, hashing, keypoints, published

__all__ = [
    "assets", "catalog", "downloads", "facts", "hashing", "keypoints", "published"
]
