"""A card's facts, one data file per card: its chapter, parameter rules, models and published tables.

``zoo_helpers/data/cards/<card>.yaml`` holds everything the book knows about one card (fields in
``zoo_helpers/data/README.md``); ``cards/index.yaml`` lists the cards in order. The catalog
(:mod:`~zoo_helpers.registry.catalog`), the published figures (:mod:`~zoo_helpers.registry.published`) and the
chapters' parameter checks (:mod:`zoo_helpers.book.chapter`) all read them here.

Examples
--------
>>> list(cards())[:2], card("movenet")["notebook"]
(['movenet', 'yolov8n_pose'], 'movenet')
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any


@cache
def cards() -> dict[str, dict[str, Any]]:
    """Every card's facts by card name, in the order of ``cards/index.yaml``."""
    import yaml

    folder = resources.files("zoo_helpers").joinpath("data/cards")
    order = yaml.safe_load(folder.joinpath("index.yaml").read_text())["cards"]
    out = {}
    for name in order:
        facts = yaml.safe_load(folder.joinpath(f"{name}.yaml").read_text())
        if facts.get("card") != name:
            raise ValueError(f"data/cards/{name}.yaml says it is card {facts.get('card')!r}")
        out[name] = facts
    return out


def card(name: str) -> dict[str, Any]:
    """One card's facts (``notebook``, ``parameters``, ``models``, ``published``)."""
    found = cards()
    if name not in found:
        raise KeyError(f"no card {name!r}; cards: {', '.join(found)}")
    return found[name]


def notebooks() -> dict[str, str]:
    """The card of each chapter notebook, by notebook name.

    Examples
    --------
    >>> notebooks()["hand_posture"]
    'cnn2d_st_handposture'
    """
    return {facts["notebook"]: name for name, facts in cards().items()}
