"""The model catalog: every model the book runs, as data (the ``models`` of ``zoo_helpers/data/cards/*.yaml``).

Each :class:`Entry` says which card the model belongs to, its title, its registry asset, its input
domain (``rescale``: how a uint8 pixel becomes the model's real-valued input, or ``None`` when the raw
pixel is fed as the board does), its decoder, its keypoint layout (:mod:`zoo_helpers.registry.keypoints`), its
input resolution and the quantization granularity read from the file. Chapters and tables look models
up here by key; nothing builds a key from strings or repeats a model fact.

* :func:`entries` lists the catalog (optionally one card's models), :func:`entry` finds one key and
  says which keys exist when it is unknown (or belongs to another card);
* :func:`zoo_helpers.runtime.load` opens the model with its input domain applied; :func:`status` says where its file is
  (``mirror``, ``cache`` or ``download needed``); :func:`status_table` shows both for a card.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import zoo_helpers.registry.assets as assets
import zoo_helpers.registry.facts as facts
import zoo_helpers.registry.keypoints as keypoints


class UnknownModelError(ValueError):
    """A catalog key that does not exist, or belongs to another card."""


@dataclass(frozen=True)
class Entry:
    """One catalog model."""

    key: str
    card: str
    title: str
    asset: str
    decoder: str
    layout: str | None
    rescale: tuple[float, float] | None
    resolution: int
    granularity: str
    resize: str | None = None
    card_name: str | None = None
    note: str | None = None

    @property
    def keypoints(self) -> keypoints.Layout | None:
        """The keypoint layout of the model's output (``None`` for detectors and classifiers)."""
        return keypoints.layout(self.layout) if self.layout else None


@cache
def entries_all() -> dict[str, Entry]:
    """Every catalog entry by key, in the file's order."""

    raw = {key: {**d, "card": card} for card, f in facts.cards().items() for key, d in (f["models"] or {}).items()}
    out = {}
    for key, d in raw.items():
        d = dict(d)
        d["rescale"] = tuple(d["rescale"]) if d.get("rescale") else None
        out[key] = Entry(key=key, **d)
    return out


def entries(card: str | None = None) -> dict[str, Entry]:
    """Catalog entries, all of them or one card's (``movenet``, ``yolov8n_pose``, ``hand_landmarks``, ...).

    Examples
    --------
    >>> list(entries("yolov8n_pose"))[:2], len(entries("yolov8n_pose"))
    (['yolov8n_pose_192', 'yolov8n_pose_256_pc'], 6)
    """
    found = {k: e for k, e in entries_all().items() if card is None or e.card == card}
    if card is not None and not found:
        cards = sorted({e.card for e in entries_all().values()})
        raise UnknownModelError(f"no catalog models for card {card!r}; cards: {cards}")
    return found


def entry(key: str, card: str | None = None) -> Entry:
    """One entry; an unknown key (or one of another card) is an error that lists the valid keys.

    Examples
    --------
    >>> entry("st_movenet_heatmaps_192").keypoints.name
    'st13'
    >>> entry("movenet_nope", card="movenet")
    Traceback (most recent call last):
    ...
    zoo_helpers.registry.catalog.UnknownModelError: unknown variant 'movenet_nope' for card 'movenet'; variants: ...
    """
    options = entries(card)
    if key not in options:
        where = f" for card {card!r}" if card else ""
        other = entries_all().get(key)
        hint = f" ({key!r} is a {other.card} model)" if other else ""
        raise UnknownModelError(f"unknown variant {key!r}{where}{hint}; variants: {', '.join(options)}")
    return options[key]


def status(key: str) -> str:
    """Where the model's file is: ``mirror``, ``cache`` or ``download needed``."""

    return assets.status(entry(key).asset)


def path(key: str):
    """The verified local path of the model's file (fetched from the mirror, the cache or a download)."""

    return assets.fetch(entry(key).asset)


def variant_label(granularity: str) -> str:
    """The record label of a catalog file: ``published int8`` or ``published float``.

    Examples
    --------
    >>> variant_label("float"), variant_label("per-tensor")
    ('published float', 'published int8')
    """
    return "published float" if granularity == "float" else "published int8"


def local(card: str) -> list[str]:
    """Keys of a card's models whose file is here (mirror or cache), in catalog order."""
    return [k for k in entries(card) if status(k) != "download needed"]


def published(card: str, decoder: str) -> dict[str, str]:
    """A card's published files of one decoder, by variant label (``published int8``, ``published float``).

    Examples
    --------
    >>> published("hand_landmarks", "hand_landmarks")
    {'published int8': 'st_hand_landmarks_224', 'published float': 'mediapipe_hand_landmark_full'}
    """
    return {variant_label(e.granularity): k for k, e in entries(card).items() if e.decoder == decoder}


def status_table(card: str):
    """A card's models: key, title, granularity and where the file is (``mirror``, ``cache``, ``download needed``)."""
    import pandas as pd

    return pd.DataFrame([{"variant": k, "model": e.title, "granularity": e.granularity, "file": status(k)}
                         for k, e in entries(card).items()])
