"""The cards' published figures, as data: every table of every card, with its source and release.

The ``published`` section of each card file (``zoo_helpers/data/cards/<card>.yaml``) holds every table of
the cards (accuracy, board times, memory, %NPU), each row as published and checked against the card text by
the tests. Tables, placement checks and the
overview read them here; nothing types a published number twice.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import zoo_helpers.registry.facts as facts


@cache
def published() -> dict[str, Any]:
    """Every published card table, by card (the ``published`` section of each card file)."""
    return {name: f["published"] for name, f in facts.cards().items()}


def card_data(card: str) -> dict[str, Any]:
    """Published tables of one card (``movenet``, ``yolov8n_pose``, ``hand_landmarks``, ...).

    Examples
    --------
    >>> card_data("movenet")["metric"]
    'ST mean OKS'
    """
    data = published()
    if card not in data:
        raise KeyError(f"no published data for card {card!r}; known: {sorted(data)}")
    return data[card]


def rows(card: str, table: str) -> list[dict[str, Any]]:
    """Rows of one published table, e.g. ``rows("movenet", "npu_inference")``."""
    data = card_data(card)
    if table not in data or not isinstance(data[table], dict):
        raise KeyError(f"card {card!r} has no table {table!r}")
    return data[table]["rows"]


def published_value(card: str, key: str) -> float | None:
    """The card's accuracy figure for catalog model ``key`` (its first row), or ``None``.

    Examples
    --------
    >>> published_value("movenet", "movenet_heatmaps_192"), published_value("movenet", "movenet_thunder_256")
    (54.01, 64.43)
    """
    return next((float(r["value"]) for r in card_data(card)["accuracy"]["rows"] if r.get("catalog") == key), None)
