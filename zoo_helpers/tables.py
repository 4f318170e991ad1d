"""Card tables from data: published figures beside our measurements, every number sourced.

Published figures live in ``zoo_helpers/data/cards/<card>.yaml`` (checked against the card text
by the tests); measurements come from the notebook run. :func:`accuracy_table` puts them side by side
with the metric named, the number of people and images scored, and the source of each measured
number (``host CPU``, ``emulated board`` or ``board``); a row we cannot run says why.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import pandas as pd


@cache
def card_data(card: str) -> dict[str, Any]:
    """Published figures of one card (``movenet``, ...) with their source.

    Examples
    --------
    >>> card_data("movenet")["metric"]
    'ST mean OKS'
    """
    import yaml

    path = resources.files("zoo_helpers").joinpath(f"data/cards/{card}.yaml")
    if not path.is_file():
        raise KeyError(f"no published data for card {card!r}")
    return yaml.safe_load(path.read_text())


def accuracy_table(card: str, measured: dict[str, dict[str, Any]], why_missing: str | None = None) -> pd.DataFrame:
    """The card's accuracy table (its own metric, named in the caption), published beside measured.

    Parameters
    ----------
    card
        Card name (``movenet``).
    measured
        Per model-catalog key: ``{"value": float in [0, 1], "people": int, "images": int, "source": str}``.
    why_missing
        Text for rows that were not measured; by default each row says why (no obtainable file, or
        which ``variant`` runs it and whether its file is mirrored, cached or needs a download).

    Examples
    --------
    >>> t = accuracy_table("movenet", {"movenet_lightning_192": {"value": 0.5, "people": 3, "images": 1,
    ...                                                      "source": "host CPU"}}, "not run")
    >>> t.loc[t["model"] == "MoveNet Lightning", "measured ST mean OKS (%)"].item()
    '50.00'
    """
    data = card_data(card)
    rows = []
    for row in data["accuracy"]:
        m = measured.get(row["catalog"]) if row["catalog"] else None
        rows.append({
            "model": row["model"], "input": f"{row['resolution']}x{row['resolution']}",
            **({"kpt": row["keypoints"]} if "keypoints" in row else {}),
            "published (%)": f"{row['value']:.2f}",
            "measured (%)": f"{100 * m['value']:.2f}" if m else "—",
            "scored on": f"{m['people']} people / {m['images']} images" if m else why_missing or _why(row["catalog"]),
            "measured on": m["source"] if m else "—",
        })
    table = pd.DataFrame(rows)
    table.attrs["caption"] = f"{data['metric']} — published: {data['source']}"
    table.columns = [c.replace("(%)", f"{data['metric']} (%)") if "(%)" in c else c for c in table.columns]
    return table


def _why(catalog_key: str | None) -> str:
    if catalog_key is None:
        return "not run: the model file is not published in a form we can obtain"
    from zoo_helpers.assets import status
    from zoo_helpers.evaluation import model_catalog

    where = status(model_catalog()[catalog_key]["asset"])
    if where == "download needed":
        return f"not run: file not mirrored (variant={catalog_key!r} downloads it with network)"
    return f"not run in this run (variant={catalog_key!r}, file in {where})"


def metrics_table(results: dict[str, dict[str, float]], source: str) -> pd.DataFrame:
    """One row per model variant, one column per named metric (values in %), plus the source column."""
    table = pd.DataFrame({name: {k: 100 * v for k, v in m.items()} for name, m in results.items()}).T
    table = table.round(2)
    table.columns = [f"{c} (%)" for c in table.columns]
    table["measured on"] = source
    return table
