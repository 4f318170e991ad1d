"""Fixed ``dev`` / ``test`` splits of the labelled sets, by image, with video frames kept together.

A comparison the book reports is judged on ``test``, which nothing is tuned on; choices (the best recipe, a
threshold, a crop mode) are made on ``dev`` or without labels; calibration images come from a third pool
(:mod:`zoo_helpers.evaluation.photos`), checked disjoint from both by content hash.

The rule, the same for every set and stable forever: each *group* of images (one image, or a run of
:data:`FRAMES_PER_GROUP` consecutive frames of a video) is hashed with sha256 as ``"<set>/<group>"``; the
first 8 bytes as a fraction of 2**64 put the group in ``test`` when below the set's test share, else in ``dev``.
A group's side depends only on its own name, never on which other images are present, their order or the
machine: adding images to a set moves none of the old ones.

Examples
--------
>>> sides = split("lsp_extended_2000", range(1, 2001), test_share=0.5)
>>> len(sides["dev"]) + len(sides["test"]), sorted(set(sides["dev"]) & set(sides["test"]))
(2000, [])
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable

#: Consecutive video frames that stay on one side together (the hand test set is one video).
FRAMES_PER_GROUP = 25

#: Each registered set's share of images in ``test`` and how its images group (None: one image a group).
SETS: dict[str, tuple[float, Callable[[int], Hashable] | None]] = {
    "coco_val2017_mini": (0.85, None),
    "lsp_extended_2000": (0.5, None),
    "hand_graph_cnn_real_test": (0.5, lambda frame: frame // FRAMES_PER_GROUP),
    "aflw2000_3d_prnet": (1.0, None),
}


def groups(set_name: str, image_ids: Iterable) -> list:
    """The group of each image id by its set's rule (:data:`SETS`): what stays together in a split, and what a
    bootstrap over a split's images resamples as one unit (a run of video frames); the ids themselves otherwise.

    Examples
    --------
    >>> groups("hand_graph_cnn_real_test", [0, 24, 25]), groups("lsp_extended_2000", [1, 2]), groups("mine", [3])
    ([0, 0, 1], [1, 2], [3])
    """
    rule = SETS.get(set_name, (None, None))[1]
    return [rule(i) for i in image_ids] if rule else list(image_ids)


def side(set_name: str, group: Hashable, test_share: float) -> str:
    """``dev`` or ``test`` for one group of a set (see the module docstring).

    Examples
    --------
    >>> side("lsp_extended_2000", 1, 0.5), side("lsp_extended_2000", 1, 1.0), side("lsp_extended_2000", 1, 0.0)
    ('dev', 'test', 'dev')
    """
    if not 0.0 <= test_share <= 1.0:
        raise ValueError(f"test_share must be within [0, 1], got {test_share}")
    digest = hashlib.sha256(f"{set_name}/{group}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_share else "dev"


def split(set_name: str, image_ids: Iterable, test_share: float | None = None,
          group: Callable[[int], Hashable] | None = None) -> dict[str, list]:
    """The ``dev`` and ``test`` image ids of a set, in the given order.

    ``test_share`` and ``group`` default to the set's entry in :data:`SETS`; an unregistered set (a user's own
    folder) needs ``test_share``.
    """
    default_share, default_group = SETS.get(set_name, (None, None))
    share = test_share if test_share is not None else default_share
    if share is None:
        raise ValueError(f"no split rule for set {set_name!r} (known: {', '.join(SETS)}); pass test_share")
    key = group or default_group or (lambda image_id: image_id)
    out: dict[str, list] = {"dev": [], "test": []}
    for image_id in image_ids:
        out[side(set_name, key(image_id), share)].append(image_id)
    return out
