"""Keypoint layouts: one object per keypoint set, read from ``zoo_helpers/data/keypoints.yaml``.

A :class:`Layout` carries what every pipeline needs to know about a set of keypoints: the names,
the skeleton (pairs of indices drawn by :mod:`zoo_helpers.book.plots`), the OKS sigmas where the metric
has them, and how to build it from another layout (:meth:`Layout.convert`). The layouts are:

``coco17``
    COCO person keypoints (MoveNet, YOLOv8n-pose), COCO's sigmas.
``st13``
    ST's 13-keypoint person layout: the head (mean of the labelled face keypoints, as ST's converter
    computes it), then the 12 body keypoints of COCO; ST's sigmas.
``hand21``
    MediaPipe's 21 hand keypoints (the order of FreiHAND, OneHand10K and CMU Panoptic).
``face68``, ``wflw98``, ``face468``
    the iBUG 68-point face, WFLW's 98 points and MediaPipe's 468-vertex mesh; ``face68`` is built from
    the other two (the mesh has no counterpart for the 17 jaw points).

Code asks a layout for its facts instead of branching on a keypoint count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np

Source = int | list[int] | None


@dataclass(frozen=True)
class Layout:
    """One keypoint set: names, skeleton, sigmas and the mappings from other layouts."""

    name: str
    title: str
    names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...] = ()
    sigmas: np.ndarray | None = None
    eyes: tuple[int, int] | None = None
    maps: dict[str, tuple[Source, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    def scored(self, source: str) -> list[int]:
        """Indices of this layout that have a counterpart in ``source`` (all of them, but for nulls).

        Examples
        --------
        >>> len(layout("face68").scored("face468"))
        51
        """
        return [i for i, s in enumerate(self._map(source)) if s is not None]

    def _map(self, source: str) -> tuple[Source, ...]:
        if source not in self.maps:
            raise ValueError(f"layout {self.name!r} cannot be built from {source!r}, only from {sorted(self.maps)}")
        return self.maps[source]

    def convert(self, points: np.ndarray, source: str) -> np.ndarray:
        """Map ``(..., K_source, C)`` points of layout ``source`` into this layout: ``(..., K, C)``.

        ``C`` is 2 (x, y) or 3 (x, y, visibility). A point built from several source points is the
        mean of their labelled ones (v > 0; all of them when there is no visibility), with v = 2 when
        any is labelled; a point with no counterpart is NaN with v = 0.

        Examples
        --------
        >>> kp = np.zeros((17, 3)); kp[1] = [10, 20, 2]; kp[2] = [30, 40, 2]
        >>> layout("st13").convert(kp, "coco17")[0].tolist()
        [20.0, 30.0, 2.0]
        """
        kp = np.asarray(points, np.float64)
        src = layout(source)
        if kp.ndim < 2 or kp.shape[-2] != len(src) or kp.shape[-1] not in (2, 3):
            raise ValueError(f"expected (..., {len(src)}, 2 or 3) {source} points, got {kp.shape}")
        mapping = self._map(source)
        if all(isinstance(s, int) for s in mapping):
            return kp[..., list(mapping), :]
        out = np.full((*kp.shape[:-2], len(mapping), kp.shape[-1]), np.nan)
        single = [i for i, s in enumerate(mapping) if isinstance(s, int)]
        out[..., single, :] = kp[..., [mapping[i] for i in single], :]
        for i, s in enumerate(mapping):
            if s is None:
                if kp.shape[-1] == 3:
                    out[..., i, 2] = 0.0
            elif not isinstance(s, int):
                out[..., i, :] = _mean_of_labelled(kp[..., s, :])
        return out


def _mean_of_labelled(group: np.ndarray) -> np.ndarray:
    """Mean of the labelled points of ``(..., n, C)`` (ST's head rule): v = 2 when any is labelled, else 0."""
    if group.shape[-1] == 2:
        return group.mean(-2)
    labelled = group[..., 2] > 0
    n = labelled.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xy = np.where(n[..., None] > 0, (group[..., :2] * labelled[..., None]).sum(-2) / n[..., None], 0.0)
    return np.concatenate([xy, np.where(n > 0, 2.0, 0.0)[..., None]], -1)


@cache
def layouts() -> dict[str, Layout]:
    """Every layout of ``zoo_helpers/data/keypoints.yaml``, by name.

    Examples
    --------
    >>> sorted(layouts())
    ['coco17', 'face468', 'face68', 'hand21', 'lsp14', 'st13', 'wflw98']
    """
    import yaml

    data = yaml.safe_load(resources.files("zoo_helpers").joinpath("data/keypoints.yaml").read_text())["layouts"]
    out = {}
    for name, d in data.items():
        names = tuple(d.get("names") or (f"{name}_{i}" for i in range(d["count"])))
        maps = {src: tuple(s if s is None or isinstance(s, int) else list(s) for s in m)
                for src, m in d.get("from", {}).items()}
        for src, m in maps.items():
            if len(m) != len(names):
                raise ValueError(f"keypoints.yaml: {name}.from.{src} has {len(m)} entries for {len(names)} points")
        sig = np.array(d["sigmas"], np.float64) if "sigmas" in d else None
        out[name] = Layout(name, d["title"], names, tuple(tuple(e) for e in d.get("skeleton", ())), sig,
                           tuple(d["eyes"]) if "eyes" in d else None, maps)
    return out


def layout(name: str) -> Layout:
    """The layout called ``name`` (``coco17``, ``st13``, ``lsp14``, ``hand21``, ``face68``, ``wflw98``, ``face468``).

    Examples
    --------
    >>> len(layout("st13")), layout("st13").names[0]
    (13, 'head')
    """
    known = layouts()
    if name not in known:
        raise ValueError(f"unknown keypoint layout {name!r}; known: {sorted(known)}")
    return known[name]
