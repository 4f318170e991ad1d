"""A chapter's small tables that are not card tables: provenance, models, files, latency, counts, worst values.

Card tables (published beside measured) are :mod:`zoo_helpers.tables`; these show what a chapter works
with. Each takes data already measured or looked up (a dict of models, a list of values) and returns
a ``pandas.DataFrame``; :func:`latency` is the one that measures, on the host CPU, and says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def licences(names: list[str]) -> pd.DataFrame:
    """Where each registry file comes from and its licence (asset names, or catalog keys of models).

    Examples
    --------
    >>> list(licences(["movenet_lightning_192", "mmpose_coco_annotations"])["name"])
    ['movenet_lightning_192_int8', 'mmpose_coco_annotations']
    """
    from zoo_helpers import assets, catalog

    known = catalog.entries()
    names = [known[n].asset if n in known else n for n in names]
    return pd.DataFrame([{k: assets.info(n)[k] for k in ("name", "source", "licence")} for n in dict.fromkeys(names)])


def files(models: dict) -> pd.DataFrame:
    """File name and size of each model variant (label -> loaded model)."""
    return pd.DataFrame({"file": [m.path.name for m in models.values()],
                         "size (KiB)": [round(m.path.stat().st_size / 1024, 1) for m in models.values()]},
                        index=list(models))


def latency(models: dict, runs: int) -> pd.DataFrame:
    """Host-CPU latency of each model (median of ``runs`` single-sample invokes), one row per label."""
    from zoo_helpers.runtime import measure_latency

    table = pd.DataFrame({label: measure_latency(m, runs) for label, m in models.items()}).T
    table["measured on"] = "host CPU"
    return table


def spec_table(model) -> pd.DataFrame:
    """Inputs and outputs of a model as a table (name, shape, dtype, layout, quantization)."""
    def q(s) -> str:
        if not s.quantized:
            return "float"
        if s.per_axis:
            return f"per-axis ({s.scale.size} scales, axis {s.axis})"
        return f"scale {s.scale[0]:.6g}, zero point {int(s.zero_point[0])}"

    rows = [{"role": role, "name": s.name, "shape": str(list(s.shape)), "dtype": str(s.dtype),
             "layout": s.layout or "—", "quantization": q(s)}
            for role, specs in (("input", model.inputs), ("output", model.outputs)) for s in specs]
    return pd.DataFrame(rows)


def counts(values: Sequence[str], name: str) -> pd.DataFrame:
    """How many of each value, e.g. samples per dataset.

    Examples
    --------
    >>> counts(["a", "b", "a"], "hands")["hands"].tolist()
    [2, 1]
    """
    return pd.Series(list(values)).value_counts().rename(name).to_frame()


def worst(values: dict[str, float], name: str, n: int = 15) -> pd.DataFrame:
    """The ``n`` lowest values (e.g. per-tensor SQNR in dB), lowest first.

    Examples
    --------
    >>> worst({"a": 3.0, "b": -1.0, "c": 7.0}, "SQNR (dB)", 2).index.tolist()
    ['b', 'a']
    """
    return pd.Series(values, name=name).sort_values().head(n).round(1).to_frame()


def per_point(values: dict[str, np.ndarray], names: Sequence[str], percent: bool = True) -> pd.DataFrame:
    """One column per label, one row per keypoint name (fractions shown in % by default)."""
    scale = 100 if percent else 1
    return pd.DataFrame({label: scale * np.asarray(v) for label, v in values.items()}, index=list(names)).round(1)


def mapping(name: str, source: str, label: str) -> pd.DataFrame:
    """Keypoint layout ``name``'s mapping from ``source`` as one row: index -> source point (scored points only).

    Examples
    --------
    >>> mapping("face68", "face468", "mesh vertex").shape
    (1, 51)
    """
    from zoo_helpers.keypoints import layout as find

    layout = find(name)
    points = layout.scored(source)
    return pd.Series({i: layout.maps[source][i] for i in points}, name=label).rename_axis(
        f"{layout.name} index").to_frame().T
