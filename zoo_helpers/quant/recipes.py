"""The quantization recipes of ``zoo_helpers/data/recipes.yaml``: what each one does, and choosing them.

A :class:`Recipe` names an engine (onnxruntime or NNCF), a weight granularity, a calibration method and the
steps before quantization (cross-layer equalization, through branches or not, high-bias absorption, MSE
weight scale search) and NNCF's bias correction. :func:`select` reads a chapter's ``quant_recipes``
parameter; :func:`without_cle` gives a recipe's twin without equalization (for graphs with nothing to
equalize); :func:`by_label` and :func:`granularity` read records, which name recipes by label.
:mod:`zoo_helpers.quant.build` builds and measures them.

Examples
--------
>>> [r.key for r in select("default")]
['minmax_pc', 'nncf_pc', 'minmax_pt', 'cle_pt', 'cle_percentile_pt', 'nncf_cle_pt', 'nncf_cle_mse_pt']
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

GRANULARITIES = ("per-channel", "per-tensor")


@dataclass(frozen=True)
class Recipe:
    """One recipe of ``data/recipes.yaml`` (see the file's header for the fields)."""

    key: str
    label: str
    granularity: str
    engine: str
    calibration: str
    cle: bool
    bias_correction: str
    default: bool
    scale_search: bool = False
    bias_absorption: bool = False
    branches: bool = False

    @property
    def summary(self) -> str:
        """What the recipe does, in a few words (for tables)."""
        steps = ["CLE" + (" through branches" if self.branches else "")
                 + (" + high-bias absorption" if self.bias_absorption else "")] if self.cle else []
        steps += ["MSE weight scale search"] if self.scale_search else []
        steps.append(f"{self.engine} {self.calibration}" if self.engine == "onnxruntime" else "NNCF min-max")
        if self.bias_correction != "none":
            steps.append(f"{self.bias_correction} bias correction")
        return ", ".join(steps)


@functools.cache
def load() -> dict[str, Recipe]:
    """Every recipe by key, in the file's order."""
    import yaml

    path = Path(__file__).parent / "data" / "recipes.yaml"
    raw = yaml.safe_load(path.read_text())["recipes"]
    out = {k: Recipe(k, **v) for k, v in raw.items()}
    for r in out.values():
        if r.granularity not in GRANULARITIES or r.engine not in ("onnxruntime", "nncf"):
            raise ValueError(f"{path}: recipe {r.key} has granularity {r.granularity!r}, engine {r.engine!r}")
        if r.scale_search and r.granularity != "per-tensor":
            raise ValueError(f"{path}: recipe {r.key}: the scale search is for per-tensor weights")
        if (r.bias_absorption or r.branches) and not r.cle:
            raise ValueError(f"{path}: recipe {r.key}: absorption and branches are part of equalization (cle: true)")
    return out


def select(names: str) -> list[Recipe]:
    """Recipes from a chapter's ``recipes`` parameter: ``default``, ``all`` or keys separated by commas."""
    recipes = load()
    if names == "all":
        return list(recipes.values())
    if names == "default":
        return [r for r in recipes.values() if r.default]
    keys = [k.strip() for k in names.split(",") if k.strip()]
    unknown = [k for k in keys if k not in recipes]
    if unknown or not keys:
        raise ValueError(f"recipes={names!r}: unknown {unknown}; use 'default', 'all' or some of {list(recipes)}")
    return [recipes[k] for k in keys]



def without_cle(r: Recipe) -> Recipe:
    """The recipe without equalization: the file's own twin when it has one, else the same steps renamed."""
    if not r.cle:
        return r
    key = (r.granularity, r.engine, r.calibration, r.bias_correction, r.scale_search)
    same = [t for t in load().values() if not t.cle and (t.granularity, t.engine, t.calibration, t.bias_correction,
                                                          t.scale_search) == key]
    if same:
        return same[0]
    return replace(r, key=r.key.replace("cle_", "").replace("_hba", "").replace("br_", ""), cle=False,
                   bias_absorption=False, branches=False, label=r.label.replace(" through branches", "").replace(
                       " + CLE", "").replace(" + high-bias absorption", ""))


def by_label() -> dict[str, Recipe]:
    """Every recipe and every twin :func:`without_cle` can make, by label (records name recipes by label)."""
    recipes = list(load().values())
    return {r.label: r for r in [*map(without_cle, recipes), *recipes]}


def granularity(label: str) -> str:
    """A record's granularity from its variant label: the recipe's, else ``float`` or ``published``."""
    recipe = by_label().get(label)
    return recipe.granularity if recipe else ("float" if "float" in label else "published")
