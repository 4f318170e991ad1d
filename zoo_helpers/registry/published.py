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


#: Row fields that are not figures: identity, provenance and tool versions.
NOT_FIGURES = {"model", "resolution", "quantization", "board", "series", "training", "dataset", "file", "match",
               "catalog", "from", "source_file", "section", "keypoints", "stedgeai", "stm32cubeai", "x_linux_ai",
               "framework", "engine", "inf_per_s", "mhz", "seed_model"}


def _fold(text) -> str:
    return "".join(ch for ch in str(text or "").lower().replace("*", "") if ch.isalnum())


def identity(row: dict[str, Any]) -> tuple:
    """What a published row is about, comparable across releases (the cards name the same row differently):
    the model family (``seed_model`` where a newer card renamed it, else its name without granularity words, case,
    spaces and punctuation), granularity (the ``quantization`` field, else "pertensor" when the name says so),
    resolution, target (board or series without its kit suffix: the MP257F-DK2 and -EV1 carry the same chip) and
    training set or dataset. Empty fields are "not given" and match anything (:func:`matched`).

    Examples
    --------
    >>> identity({"model": "YOLOv8n pose per tensor", "resolution": 256, "board": "STM32N6570-DK"})
    ('yolov8n', 'pertensor', 256, 'stm32n6570', '')
    >>> identity({"model": "YOLOv8n-pose 256", "resolution": 256})[:3] == identity(
    ...     {"model": "YOLOv8n pose per channel", "resolution": 256, "quantization": "per-channel**"})[:3]
    True
    """
    name = str(row.get("seed_model") or row.get("model", "")).lower()
    for word in ("per-channel", "per channel", "per-tensor", "per tensor", "pose", str(row.get("resolution", "@"))):
        name = name.replace(word, "")
    quant = _fold(row.get("quantization")) or ("pertensor" if "tensor" in str(row.get("model", "")).lower() else "")
    target = _fold(row.get("board") or row.get("series"))
    for kit in ("dk2", "ev1", "dk"):
        target = target.removesuffix(kit)
    return (_fold(name), "" if quant == "perchannel" else quant, row.get("resolution") or "", target,
            _fold(row.get("training") or row.get("dataset")))


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    x, y = identity(a), identity(b)
    loose = all(not u or not v or u == v for u, v in zip(x[2:], y[2:], strict=True))
    if a.get("catalog") and b.get("catalog"):  # both name the file: that decides (names may mislead)
        return a["catalog"] == b["catalog"] and loose
    return x[:2] == y[:2] and loose


def newest(card: str, table: str) -> str | None:
    """The name of the newest release's table that follows seed table ``table`` (its ``replaces``), if any.

    Examples
    --------
    >>> newest("movenet", "npu_inference"), newest("movenet", "mpu_npu_share")
    ('npu_inference_41', None)
    """
    return next((name for name, t in card_data(card).items()
                 if isinstance(t, dict) and t.get("replaces") == table), None)


def release(card: str, table: str) -> str:
    """The release a published table comes from: its ``release``, else ``seed`` (the cards the book is built on)."""
    return str(card_data(card)[table].get("release", "seed"))


def matched(card: str, table: str) -> list[tuple[dict | None, dict | None]]:
    """The rows of seed table ``table`` and of its newest table (:func:`newest`) paired by :func:`identity` (and by
    catalog model where both rows name one), in order. A seed row that disappears is ``(row, None)``, a newest row
    that appears ``(None, row)``.

    Examples
    --------
    >>> [(a["ms"], b["ms"]) for a, b in matched("yolov8n_pose", "npu_inference")]
    [(24.5, 21.33), (35.8, 31.31), (51.4, 44.87)]
    """
    later = newest(card, table)
    new = list(rows(card, later)) if later else []
    pairs: list[tuple[dict | None, dict | None]] = []
    for old in rows(card, table):
        found = next((r for r in new if _same(old, r)), None)
        if found is not None:
            new.remove(found)
        pairs.append((old, found))
    return pairs + [(None, r) for r in new]


def successors(card: str, table: str) -> dict[int, dict | None]:
    """Each row of seed table ``table`` (by ``id``) with the newest release's row for it (:func:`matched`), or None.

    Examples
    --------
    >>> seed = rows("yolov8n_pose", "npu_inference")
    >>> successors("yolov8n_pose", "npu_inference")[id(seed[1])]["ms"]
    31.31
    """
    return {id(a): b for a, b in matched(card, table) if a is not None}


def n6_times(card: str) -> dict[str, dict[str, Any]]:
    """The STM32N6 NPU time of each catalog model of ``card`` as published: ``ms``, ``release`` and ``tool`` (ST Edge
    AI Core version, where given), the newest release's figure where several give one.

    Examples
    --------
    >>> n6_times("yolov8n_pose")["yolov8n_pose_256_pc"]
    {'ms': 31.31, 'release': '4.1', 'tool': 'ST Edge AI Core 4.0.0'}
    """
    found: dict[str, dict[str, Any]] = {}
    for name, table in card_data(card).items():
        if not isinstance(table, dict) or "npu_inference" not in name:
            continue
        rel = release(card, name)
        for row in table["rows"]:
            key = row.get("catalog")
            if key is None or (key in found and found[key]["release"] != "seed"):
                continue
            found[key] = {"ms": row["ms"], "release": rel,
                          "tool": f"ST Edge AI Core {row['stedgeai']}" if row.get("stedgeai") else ""}
    return found
