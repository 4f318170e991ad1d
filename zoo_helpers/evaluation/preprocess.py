"""Image resizing to a model's input size, with the exact transform back to original pixels.

Three aspect-ratio modes, as in ST's services:

``fit``
    stretch the whole image to the input size (ST's evaluation default);
``padding``
    letterbox: scale uniformly so the image fits, centre it and pad (pad value configurable);
``crop``
    scale uniformly so the input is covered, and keep the centre (the N6 camera demo's default).

Resampling uses pixel centres at ``i + 0.5`` (the convention of ``tf.image.resize`` without
antialiasing and of OpenCV), bilinear or nearest. Every call returns a :class:`Transform`:
an axis-aligned affine map ``original = input * scale + offset`` in continuous pixel
coordinates, so keypoints found in the model input map back to the original image exactly
(the transforms and their batched mapping live in :mod:`zoo_helpers.evaluation.transforms`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from zoo_helpers.evaluation.transforms import AffineTransform, Mode, Transform, box, geometry, rotated

__all__ = ["AffineTransform", "Interpolation", "Mode", "Transform", "crop_box", "crop_rotated", "resize"]
Interpolation = Literal["bilinear", "nearest"]


def _axis_weights(n_dst: int, scale: float, offset: float, n_src: int, interpolation: Interpolation):
    continuous = (np.arange(n_dst) + 0.5) * scale + offset  # where each output pixel centre falls in the source
    inside = (continuous >= 0.0) & (continuous < n_src)  # output pixels that land on the source image
    centres = continuous - 0.5  # as an index into source pixel centres
    if interpolation == "nearest":
        idx = np.clip(np.floor(centres + 0.5), 0, n_src - 1).astype(np.intp)
        return idx, idx, np.zeros(n_dst), inside
    lo = np.floor(centres)
    frac = centres - lo
    i0 = np.clip(lo, 0, n_src - 1).astype(np.intp)
    i1 = np.clip(lo + 1, 0, n_src - 1).astype(np.intp)
    return i0, i1, frac, inside


def resize(
    image: np.ndarray,
    size: tuple[int, int],
    mode: Mode = "fit",
    interpolation: Interpolation = "bilinear",
    pad_value: int = 0,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, Transform]:
    """Resize an ``(H, W, C)`` uint8 image to ``size = (width, height)``.

    Parameters
    ----------
    image
        ``(H, W, C)`` array (uint8 RGB for the zoo models).
    size
        Target ``(width, height)`` of the model input.
    mode
        ``"fit"``, ``"padding"`` or ``"crop"`` (see the module docstring).
    interpolation
        ``"bilinear"`` or ``"nearest"``.
    pad_value
        Fill value for the ``padding`` border.
    out
        Optional ``(height, width, C)`` array of the image's dtype to write into (e.g. one
        slot of a preallocated batch).

    Returns
    -------
    resized, transform
        The resized image (same dtype) and the map from its pixels back to ``image``'s.

    Examples
    --------
    >>> img = np.zeros((480, 640, 3), np.uint8)
    >>> out, t = resize(img, (192, 192), mode="padding")
    >>> out.shape, t.to_original(np.array([96.0, 96.0])).tolist()
    ((192, 192, 3), [320.0, 240.0])
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"expected an (H, W, C) image, got shape {image.shape}")
    dst_w, dst_h = (int(v) for v in size)
    if dst_w <= 0 or dst_h <= 0:
        raise ValueError(f"target size must be positive, got {size}")
    src_h, src_w = image.shape[:2]
    t = geometry((src_w, src_h), (dst_w, dst_h), mode)
    return _sample(image, t, interpolation, pad_value, pad=mode == "padding", out=out), t


def resize_like_st(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Transform]:
    """ST's evaluation resize, bit for bit: ``tf.image.resize`` (bilinear, ``fit``), then round and clip to uint8.

    ST's services decode with TensorFlow (:func:`zoo_helpers.evaluation.datasets.read_image_like_st`), resize in
    float with TensorFlow and, for a model with raw-pixel uint8 input, undo the rescaling, round and
    clip. Our own bilinear resampler (:func:`resize`) differs from it by one level in a few hundred
    pixel values per image, which the int8 MoveNet answers with other keypoints; the chapters use this
    function wherever they compute the card's metric.

    Examples
    --------
    >>> img = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    >>> out, t = resize_like_st(img, (3, 2))
    >>> out.shape, out.dtype.name, t.scale
    ((2, 3, 3), 'uint8', (2.0, 2.0))
    """
    import tensorflow as tf

    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"expected an (H, W, C) image, got shape {image.shape}")
    w, h = (int(v) for v in size)
    resized = tf.image.resize(image, (h, w), method="bilinear").numpy()
    out = np.clip(np.rint(resized), 0, 255).astype(np.uint8)
    return out, geometry((image.shape[1], image.shape[0]), (w, h), "fit")


def crop_box(
    image: np.ndarray,
    region: tuple[float, float, float, float],
    size: tuple[int, int],
    interpolation: Interpolation = "bilinear",
    pad_value: int = 0,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, Transform]:
    """Resample ``region = (x, y, w, h)`` (original pixels) to ``size = (width, height)``.

    Parts of the box outside the image are filled with ``pad_value``; the transform maps the
    output back to original pixels. ``out`` (optional) is an array to write the crop into, as
    in :func:`resize`.

    Examples
    --------
    >>> img = np.zeros((100, 100, 3), np.uint8)
    >>> out, t = crop_box(img, (-10, 20, 50, 50), (25, 25))
    >>> out.shape, t.to_original(np.array([0.0, 0.0])).tolist()
    ((25, 25, 3), [-10.0, 20.0])
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"expected an (H, W, C) image, got shape {image.shape}")
    t = box(region, size, (image.shape[1], image.shape[0]))
    return _sample(image, t, interpolation, pad_value, pad=True, out=out), t


def _sample(image: np.ndarray, t: Transform, interpolation: str, pad_value: int, pad: bool,
            out: np.ndarray | None = None) -> np.ndarray:
    """Resample ``image`` through ``t`` (separable: rows, then columns), optionally into ``out``.

    The arithmetic runs on ``(rows, width * channels)`` planes so every NumPy loop is long, and
    in three preallocated float32 planes: a crop makes a handful of allocations, not dozens of
    short-lived temporaries (which, freed together, make glibc hand memory back to the OS and
    page-fault it in again on the next crop; that was most of the time of a crop).
    """
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"unknown interpolation {interpolation!r}; use 'bilinear' or 'nearest'")
    (dst_w, dst_h), (src_w, src_h) = t.input_size, t.original_size
    x0, x1, fx, in_x = _axis_weights(dst_w, t.scale[0], t.offset[0], src_w, interpolation)
    y0, y1, fy, in_y = _axis_weights(dst_h, t.scale[1], t.offset[1], src_h, interpolation)
    c = image.shape[2]
    shape = (dst_h, dst_w, c)
    if out is None:
        out = np.empty(shape, image.dtype)
    elif out.shape != shape or out.dtype != image.dtype:
        raise ValueError(f"out must be {shape} {image.dtype}, got {out.shape} {out.dtype}")
    lo, hi = int(x0.min()), int(x1.max()) + 1
    image = image[:, lo:hi]  # only the source columns the crop reads
    rows = np.empty((dst_h, (hi - lo) * c), image.dtype)
    picked = np.empty((dst_h, dst_w * c), image.dtype)
    channels = np.arange(c)

    def columns(xs: np.ndarray) -> np.ndarray:  # byte columns of pixels xs, channels interleaved
        return ((xs - lo)[:, None] * c + channels).ravel()

    outside = ~(in_y[:, None] & in_x[None, :]) if pad else None
    if interpolation == "nearest":
        np.take(image, y0, axis=0, out=rows.reshape(dst_h, hi - lo, c))
        out[...] = np.take(rows, columns(x0), axis=1, out=picked).reshape(shape)
        if outside is not None:
            out[outside] = pad_value
        return out
    top, low, tmp = np.empty((3, dst_h, dst_w * c), np.float32)
    wx = np.repeat(fx.astype(np.float32), c)[None, :]
    wx0 = 1 - wx
    wy = fy.astype(np.float32)[:, None]
    cols0, cols1 = columns(x0), columns(x1)
    for plane, ys in ((top, y0), (low, y1)):  # each source row pair, interpolated along x
        np.take(image, ys, axis=0, out=rows.reshape(dst_h, hi - lo, c))
        plane[...] = np.take(rows, cols0, axis=1, out=picked)
        tmp[...] = np.take(rows, cols1, axis=1, out=picked)
        plane *= wx0
        tmp *= wx
        plane += tmp
    top *= 1 - wy
    low *= wy
    top += low
    result = top.reshape(shape)
    if outside is not None:
        result[outside] = pad_value
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        np.rint(result, out=result)
        np.clip(result, info.min, info.max, out=result)
    out[...] = result
    return out


def crop_rotated(image: np.ndarray, center: tuple[float, float], side: float, angle: float,
                 size: tuple[int, int], pad_value: int = 0) -> tuple[np.ndarray, AffineTransform]:
    """Bilinear crop of a ``side`` x ``side`` square centred at ``center``, rotated by ``angle`` radians.

    ``angle`` turns the crop clockwise as the image is displayed (y pointing down), like the rotation of
    MediaPipe's rotated rects. Returns the ``size`` crop and its transform.

    Examples
    --------
    >>> img = np.zeros((100, 100, 3), np.uint8)
    >>> _, t = crop_rotated(img, (50, 50), 40, np.pi / 2, (20, 20))
    >>> t.to_original(np.array([10.0, 10.0])).round(6).tolist()
    [50.0, 50.0]
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"expected an (H, W, C) image, got shape {image.shape}")
    t = rotated(center, side, angle, size, (image.shape[1], image.shape[0]))
    w, h = t.input_size
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    src = t.to_original(np.stack([xs, ys], -1)) - 0.5  # source position in pixel-centre indices
    x0, y0 = np.floor(src[..., 0]), np.floor(src[..., 1])
    fx, fy = (src[..., 0] - x0)[..., None], (src[..., 1] - y0)[..., None]
    hh, ww = image.shape[:2]
    padded = np.pad(image.astype(np.float32), ((1, 1), (1, 1), (0, 0)), constant_values=pad_value)

    def at(yy, xx):
        return padded[np.clip(yy + 1, 0, hh + 1).astype(np.intp), np.clip(xx + 1, 0, ww + 1).astype(np.intp)]

    out = (at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx) * (1 - fy) + (at(y0 + 1, x0) * (1 - fx)
                                                                       + at(y0 + 1, x0 + 1) * fx) * fy
    outside = (src[..., 0] < -1) | (src[..., 0] > ww) | (src[..., 1] < -1) | (src[..., 1] > hh)
    out[outside] = pad_value
    return np.clip(np.rint(out), 0, 255).astype(image.dtype), t
