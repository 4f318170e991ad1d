"""How sure a number is: bootstrap confidence intervals over images, paired differences, and goal verdicts.

Every metric the book compares is a mean over samples (people, hands, faces) grouped in images. Its 95 %
interval comes from :func:`scipy.stats.bootstrap` over **images** (a person is resampled with its image, so
people of one photo do not count as independent), percentile method, vectorised: each resample's statistic
is ``sum of the resampled images' sample sums / sum of their sample counts``. Two models scored on the same
samples are compared by a **paired** bootstrap of their per-sample difference (:func:`difference`), which is
far tighter than two separate intervals. A metric of the whole set that is no mean of samples (an AP, which
ranks every detection of the set) is recomputed on each resample of images (:func:`resampled`; the paired
difference of two models with :func:`resampled_difference`). :func:`verdict` turns a difference and a goal into
words: ``met`` only when the whole interval clears the goal, ``missed by N (CI ...)`` when the whole interval
falls short, otherwise ``not distinguishable at n = ...``: a goal met within noise is never called met.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> ci = interval(rng.normal(50, 10, 400))
>>> round(ci.low, 1) < 50 < round(ci.high, 1), ci.n
(True, 400)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: Confidence of every interval the book shows.
CONFIDENCE = 0.95
#: Bootstrap resamples (the percentile interval's ends move by well under 0.1 point between seeds at this count).
RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` samples (in ``images`` images) and its bootstrap confidence interval."""

    value: float
    low: float
    high: float
    n: int
    images: int

    def __str__(self) -> str:
        return f"{self.value:.2f} (95 % CI {self.span()}, n = {self.n})"

    def span(self) -> str:
        """The interval's ends as the tables show them, e.g. ``55.56 to 60.04``."""
        return f"{self.low:.2f} to {self.high:.2f}"


def _grouped(values: np.ndarray, image_ids: Sequence | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-image sums and counts of the finite per-sample ``values`` (one image a sample without ids)."""
    values = np.asarray(values, np.float64)
    ids = np.arange(len(values)) if image_ids is None else np.asarray(image_ids)
    if len(ids) != len(values):
        raise ValueError(f"{len(values)} values but {len(ids)} image ids")
    keep = np.isfinite(values)
    _, group = np.unique(ids[keep], return_inverse=True)
    sums = np.bincount(group, weights=values[keep])
    counts = np.bincount(group).astype(np.float64)
    return sums, counts


def _ratio(sums: np.ndarray, counts: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sum(sums, axis=axis) / np.sum(counts, axis=axis)


def interval(values: Sequence[float], image_ids: Sequence | None = None, confidence: float = CONFIDENCE,
             resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """The mean of per-sample ``values`` and its bootstrap interval, resampling images (see the module docstring).

    NaN values (a sample with nothing to score) are left out. ``image_ids`` gives each sample's image; without
    it every sample is its own image.
    """
    from scipy.stats import bootstrap

    sums, counts = _grouped(values, image_ids)
    if len(sums) == 0:
        raise ValueError("no finite value to take an interval of")
    value = float(_ratio(sums, counts))
    if len(sums) == 1 or np.all(sums / counts == value):
        return Interval(value, value, value, int(counts.sum()), len(sums))
    res = bootstrap((sums, counts), _ratio, paired=True, vectorized=True, confidence_level=confidence,
                    n_resamples=resamples, method="percentile", rng=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return Interval(value, float(low), float(high), int(counts.sum()), len(sums))


def difference(a: Sequence[float], b: Sequence[float], image_ids: Sequence | None = None,
               confidence: float = CONFIDENCE, resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """The mean per-sample difference ``a - b`` of two models on the same samples, with a paired interval.

    Examples
    --------
    >>> a = np.linspace(0, 1, 200); b = a - 0.1
    >>> d = difference(a, b)
    >>> round(d.value, 3), round(d.low, 3), round(d.high, 3)
    (0.1, 0.1, 0.1)
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in shape: {a.shape} and {b.shape}")
    return interval(a - b, image_ids, confidence, resamples, seed)


def resampled(statistic: Callable[[np.ndarray], float], n_images: int, samples: int | None = None,
              confidence: float = CONFIDENCE, resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """The interval of a whole-set ``statistic(image_indices)`` over resamples of ``n_images`` images.

    ``statistic`` takes an array of image indices (with repeats) and returns the metric on those images, e.g.
    ST's mAP on the resampled rows of its OKS matrix; ``samples`` is what the interval's ``n`` reports (the
    people scored), the images by default. Resamples where the statistic is NaN (no person among them) are left
    out of the percentiles.

    Examples
    --------
    >>> hits = np.array([1.0, 0.0, 1.0, 1.0])  # one "detected" flag per image
    >>> ci = resampled(lambda idx: hits[idx].mean(), 4, resamples=200)
    >>> ci.value, 0.0 <= ci.low <= ci.value <= ci.high <= 1.0
    (0.75, True)
    """
    import warnings

    from scipy.stats import DegenerateDataWarning, bootstrap

    if n_images < 1:
        raise ValueError("no image to resample")
    index = np.arange(n_images)
    value = float(statistic(index))
    n = n_images if samples is None else samples
    if n_images == 1:
        return Interval(value, value, value, n, 1)
    with warnings.catch_warnings():  # a NaN resample is handled below, not warned about
        warnings.simplefilter("ignore", DegenerateDataWarning)
        res = bootstrap((index,), lambda idx: statistic(np.asarray(idx, int)), vectorized=False,
                        confidence_level=confidence, n_resamples=resamples, method="percentile",
                        rng=np.random.default_rng(seed))
    low, high = res.confidence_interval
    if not (np.isfinite(low) and np.isfinite(high)):
        # a resample where the statistic is undefined (ST's mAP of images that hold no person, likely when most of
        # a small set is empty) is left out: the percentiles of the resamples that have a value
        tail = 50 * (1 - confidence)
        low, high = np.nanpercentile(res.bootstrap_distribution, [tail, 100 - tail])
    return Interval(value, float(low), float(high), n, n_images)


def resampled_difference(a: Callable[[np.ndarray], float], b: Callable[[np.ndarray], float], n_images: int,
                         samples: int | None = None, confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                         seed: int = 0) -> Interval:
    """The paired interval of ``a(images) - b(images)``: both metrics on the same resampled images each time."""
    return resampled(lambda idx: a(idx) - b(idx), n_images, samples, confidence, resamples, seed)


def verdict(diff: Interval, target: float = 0.0, unit: str = "points") -> str:
    """Words for a goal ``diff >= target`` (e.g. per-channel minus published at least 0, per-tensor minus
    per-channel at least -3): ``met``, ``missed by N (CI ...)`` or ``not distinguishable at n = ...``.

    Examples
    --------
    >>> verdict(Interval(1.2, 0.4, 2.0, 500, 500))
    'met'
    >>> verdict(Interval(-4.0, -5.5, -3.5, 500, 500), target=-3)
    'missed by 1.00 points (95 % CI 0.50 to 2.50)'
    >>> verdict(Interval(0.5, -0.3, 1.3, 120, 100))
    'not distinguishable at n = 120'
    """
    if diff.low >= target:
        return "met"
    if diff.high < target:
        return (f"missed by {target - diff.value:.2f} {unit} "
                f"(95 % CI {target - diff.high:.2f} to {target - diff.low:.2f})")
    return f"not distinguishable at n = {diff.n}"
