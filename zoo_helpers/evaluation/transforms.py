"""Geometry between a model input and the original image, and one batched mapping back to original pixels.

Every pipeline of the book feeds a model a resampled part of an image and maps what the model finds
back to the image's pixels. The transforms here describe that resampling (:mod:`zoo_helpers.evaluation.preprocess`
does the pixel work):

* :func:`geometry`: the whole image, stretched (``fit``), letterboxed (``padding``) or centre-covered
  (``crop``), as in ST's services;
* :func:`square_box` and :func:`box`: a square crop around a box (person crops, face crops);
* :func:`rotated`: a rotated square crop (MediaPipe's hand crop);
* :func:`to_original` and :func:`to_input`: one vectorised mapping for a whole batch of samples, each
  with its own transform, as an ``(N, 2, 3)`` stack of affine matrices.

Coordinates are continuous pixels (pixel centres at ``i + 0.5``) and ``original = A @ input + b``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Mode = Literal["fit", "padding", "crop"]


@dataclass(frozen=True)
class Transform:
    """Axis-aligned map from model-input pixels to original pixels: ``original = input * scale + offset``.

    ``input_size`` is (width, height) of the model input, ``original_size`` of the source image.
    """

    scale: tuple[float, float]
    offset: tuple[float, float]
    input_size: tuple[int, int]
    original_size: tuple[int, int]

    @property
    def matrix(self) -> np.ndarray:
        """The ``(2, 3)`` affine matrix ``[A | b]``."""
        return np.array([[self.scale[0], 0.0, self.offset[0]], [0.0, self.scale[1], self.offset[1]]])

    def to_original(self, xy: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` input-pixel coordinates to original-image pixels.

        Examples
        --------
        >>> t = Transform((2.0, 2.0), (0.0, 10.0), (100, 100), (200, 220))
        >>> t.to_original(np.array([[50.0, 50.0]])).tolist()
        [[100.0, 110.0]]
        """
        return np.asarray(xy, np.float64) * np.asarray(self.scale) + np.asarray(self.offset)

    def to_input(self, xy: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` original-image pixels to model-input pixels (the inverse)."""
        return (np.asarray(xy, np.float64) - np.asarray(self.offset)) / np.asarray(self.scale)

    def normalized_to_original(self, xy: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` coordinates normalised to the model input ([0, 1]) to original pixels."""
        return self.to_original(np.asarray(xy, np.float64) * np.asarray(self.input_size))


@dataclass(frozen=True)
class AffineTransform:
    """Full affine map from model-input pixels to original pixels (rotated crops), with :class:`Transform`'s methods."""

    matrix_rows: tuple[tuple[float, float, float], tuple[float, float, float]]
    input_size: tuple[int, int]
    original_size: tuple[int, int]

    @property
    def matrix(self) -> np.ndarray:
        """The ``(2, 3)`` affine matrix ``[A | b]``."""
        return np.asarray(self.matrix_rows, np.float64)

    def to_original(self, xy: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` input pixels to original pixels."""
        m = self.matrix
        return np.asarray(xy, np.float64) @ m[:, :2].T + m[:, 2]

    def to_input(self, xy: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` original pixels to input pixels (the exact inverse)."""
        m = self.matrix
        return (np.asarray(xy, np.float64) - m[:, 2]) @ np.linalg.inv(m[:, :2]).T

    def normalized_to_original(self, xy: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` coordinates normalised to the input ([0, 1]) to original pixels."""
        return self.to_original(np.asarray(xy, np.float64) * np.asarray(self.input_size))


AnyTransform = Transform | AffineTransform


def geometry(original_size: tuple[int, int], size: tuple[int, int], mode: Mode) -> Transform:
    """The transform of resizing a whole ``original_size`` image to ``size`` (both (width, height)).

    Examples
    --------
    >>> geometry((640, 480), (192, 192), "padding").to_original(np.array([96.0, 96.0])).tolist()
    [320.0, 240.0]
    """
    (src_w, src_h), (dst_w, dst_h) = original_size, size
    if mode == "fit":
        return Transform((src_w / dst_w, src_h / dst_h), (0.0, 0.0), (dst_w, dst_h), (src_w, src_h))
    if mode == "padding":
        s = min(dst_w / src_w, dst_h / src_h)
        new_w, new_h = max(1, round(src_w * s)), max(1, round(src_h * s))
        pad_x, pad_y = (dst_w - new_w) // 2, (dst_h - new_h) // 2
        sx, sy = src_w / new_w, src_h / new_h
        return Transform((sx, sy), (-pad_x * sx, -pad_y * sy), (dst_w, dst_h), (src_w, src_h))
    if mode == "crop":
        s = max(dst_w / src_w, dst_h / src_h)
        crop_w, crop_h = dst_w / s, dst_h / s
        x0, y0 = (src_w - crop_w) / 2, (src_h - crop_h) / 2
        return Transform((crop_w / dst_w, crop_h / dst_h), (x0, y0), (dst_w, dst_h), (src_w, src_h))
    raise ValueError(f"unknown resize mode {mode!r}; use 'fit', 'padding' or 'crop'")


def square_box(bbox: Sequence[float], margin: float) -> tuple[float, float, float, float]:
    """A square ``(x, y, side, side)`` centred on ``bbox = [x, y, w, h]``, ``margin`` x its longer side.

    Examples
    --------
    >>> square_box([10, 20, 40, 20], 1.5)
    (0.0, 0.0, 60.0, 60.0)
    """
    x, y, w, h = (float(v) for v in bbox)
    side = margin * max(w, h)
    return x + w / 2 - side / 2, y + h / 2 - side / 2, side, side


def box(region: Sequence[float], size: tuple[int, int], original_size: tuple[int, int]) -> Transform:
    """The transform of resampling ``region = (x, y, w, h)`` (original pixels) to ``size``."""
    x, y, w, h = (float(v) for v in region)
    if w <= 0 or h <= 0:
        raise ValueError(f"crop box must have a positive size, got {tuple(region)}")
    dst_w, dst_h = (int(v) for v in size)
    return Transform((w / dst_w, h / dst_h), (x, y), (dst_w, dst_h), tuple(original_size))


def rotated(center: Sequence[float], side: float, angle: float, size: tuple[int, int],
            original_size: tuple[int, int]) -> AffineTransform:
    """A ``side`` x ``side`` square centred at ``center``, turned clockwise by ``angle`` radians (y down).

    Examples
    --------
    >>> t = rotated((50, 50), 40, np.pi / 2, (20, 20), (100, 100))
    >>> t.to_original(np.array([10.0, 10.0])).round(6).tolist()
    [50.0, 50.0]
    """
    if side <= 0:
        raise ValueError(f"crop side must be positive, got {side}")
    w, h = (int(v) for v in size)
    sx, sy = side / w, side / h
    c, s = np.cos(angle), np.sin(angle)
    a = np.array([[c * sx, -s * sy], [s * sx, c * sy]])
    b = np.asarray(center, np.float64) - a @ np.array([w / 2, h / 2])
    return AffineTransform(tuple(map(tuple, np.c_[a, b].tolist())), (w, h), tuple(original_size))


def matrices(transforms: Sequence[AnyTransform]) -> np.ndarray:
    """``(N, 2, 3)`` affine matrices of a batch of transforms."""
    if not len(transforms):
        return np.zeros((0, 2, 3))
    return np.stack([t.matrix for t in transforms])


def _sizes(transforms: Sequence[AnyTransform]) -> np.ndarray:
    return np.array([t.input_size for t in transforms], np.float64).reshape(len(transforms), 2)


def to_original(transforms: Sequence[AnyTransform], xy: np.ndarray, normalized: bool = False) -> np.ndarray:
    """Map ``(N, ..., 2)`` input coordinates of sample ``i`` through ``transforms[i]`` to original pixels.

    ``normalized`` coordinates are fractions of the input size (decoders' output), else input pixels.

    Examples
    --------
    >>> ts = [Transform((2.0, 2.0), (0.0, 0.0), (10, 10), (20, 20)),
    ...       Transform((1.0, 1.0), (5.0, 5.0), (10, 10), (20, 20))]
    >>> to_original(ts, np.full((2, 1, 2), 0.5), normalized=True).tolist()
    [[[10.0, 10.0]], [[10.0, 10.0]]]
    """
    xy = np.asarray(xy, np.float64)
    if len(xy) != len(transforms):
        raise ValueError(f"{len(xy)} samples of coordinates for {len(transforms)} transforms")
    m = matrices(transforms).reshape(len(xy), *([1] * (xy.ndim - 2)), 2, 3)
    if normalized:
        xy = xy * _sizes(transforms).reshape(len(xy), *([1] * (xy.ndim - 2)), 2)
    return (m[..., :2] @ xy[..., None])[..., 0] + m[..., 2]


def to_input(transforms: Sequence[AnyTransform], xy: np.ndarray, normalized: bool = False) -> np.ndarray:
    """The inverse of :func:`to_original`: ``(N, ..., 2)`` original pixels into each sample's input."""
    xy = np.asarray(xy, np.float64)
    if len(xy) != len(transforms):
        raise ValueError(f"{len(xy)} samples of coordinates for {len(transforms)} transforms")
    m = matrices(transforms).reshape(len(xy), *([1] * (xy.ndim - 2)), 2, 3)
    out = (np.linalg.inv(m[..., :2]) @ (xy - m[..., 2])[..., None])[..., 0]
    return out / _sizes(transforms).reshape(len(xy), *([1] * (xy.ndim - 2)), 2) if normalized else out


def _rect(center: np.ndarray, side: float, angle: float) -> tuple[tuple[float, float], float, float]:
    return (float(center[0]), float(center[1])), float(side), float(angle)


def palm_to_rect(box_px: np.ndarray, keypoints_px: np.ndarray, scale: float = 2.6,
                 shift_y: float = -0.5) -> tuple[tuple[float, float], float, float]:
    """MediaPipe's hand crop from one palm (pixels): ``(center, side, angle)`` for ``crop_rotated``.

    The angle turns the wrist -> middle-finger-MCP direction (keypoints 0 and 2) to point up.
    """
    wrist, mcp = keypoints_px[0], keypoints_px[2]
    angle = np.pi / 2 - np.arctan2(-(mcp[1] - wrist[1]), mcp[0] - wrist[0])
    angle = (angle + np.pi) % (2 * np.pi) - np.pi
    w, h = box_px[2] - box_px[0], box_px[3] - box_px[1]
    centre = (box_px[:2] + box_px[2:]) / 2
    centre = centre + np.array([-h * shift_y * np.sin(angle), h * shift_y * np.cos(angle)])
    return _rect(centre, max(w, h) * scale, angle)


def hand_rect_from_keypoints(keypoints_px: np.ndarray, visible: np.ndarray,
                             scale: float = 1.6) -> tuple[tuple[float, float], float, float]:
    """A rotated square crop from ground-truth hand keypoints (wrist -> middle MCP up), for GT-box mode."""
    pts = keypoints_px[visible]
    if len(pts) < 2:
        raise ValueError("need at least two labelled keypoints for a ground-truth crop")
    wrist, mcp = keypoints_px[0], keypoints_px[9]
    angle = 0.0 if not (visible[0] and visible[9]) else np.pi / 2 - np.arctan2(-(mcp[1] - wrist[1]), mcp[0] - wrist[0])
    angle = (angle + np.pi) % (2 * np.pi) - np.pi
    c, s = np.cos(angle), np.sin(angle)
    rotated = (pts - pts.mean(0)) @ np.array([[c, s], [-s, c]]).T  # into the crop's frame
    lo, hi = rotated.min(0), rotated.max(0)
    centre = pts.mean(0) + np.array([[c, -s], [s, c]]) @ ((lo + hi) / 2)
    return _rect(centre, float((hi - lo).max()) * scale, angle)
