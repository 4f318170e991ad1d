"""Tensor descriptions and their quantization arithmetic, shared by every runtime.

A :class:`TensorSpec` names one model input or output: shape, dtype, image layout and, for
integer tensors, the scale and zero point (per tensor or per axis). :meth:`TensorSpec.quantize`
rounds as TFLite does (half away from zero, then clip); :meth:`TensorSpec.dequantize` maps
integers back to float32. :mod:`zoo_helpers.runtime.models` builds the specs from the model files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Layout = Literal["NHWC", "NCHW"] | None


@dataclass(frozen=True)
class TensorSpec:
    """Description of one model input or output tensor.

    ``scale`` and ``zero_point`` are ``None`` for float tensors, length-1 arrays for
    per-tensor quantization and length-C arrays (along ``axis``) for per-axis quantization.
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype
    layout: Layout = None
    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    axis: int = 0

    @property
    def quantized(self) -> bool:
        """True when the tensor holds integers with a scale and zero point."""
        return self.scale is not None and self.scale.size > 0

    @property
    def per_axis(self) -> bool:
        """True for per-axis (per-channel) quantization."""
        return self.quantized and self.scale.size > 1

    def _broadcast(self, values: np.ndarray, ndim: int) -> np.ndarray:
        if values.size == 1:
            return values.reshape(())
        shape = [1] * ndim
        shape[self.axis] = values.size
        return values.reshape(shape)

    def quantize(self, real: np.ndarray) -> np.ndarray:
        """Quantize real values to this tensor's integer dtype (round half away from zero, clip).

        Examples
        --------
        >>> spec = TensorSpec("x", (1, 4), np.dtype(np.uint8), None, np.array([1 / 127.5]), np.array([127]))
        >>> spec.quantize(np.array([-1.0, 0.0, 1.0])).tolist()
        [0, 127, 255]
        """
        if not self.quantized:
            raise ValueError(f"tensor {self.name!r} is not quantized")
        real = np.asarray(real, dtype=np.float64)
        q = real / self._broadcast(self.scale, real.ndim)
        q = np.sign(q) * np.floor(np.abs(q) + 0.5) + self._broadcast(self.zero_point, real.ndim)  # as TFLite
        info = np.iinfo(self.dtype)
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        """Map integer values back to float32 with this tensor's scale and zero point."""
        q = np.asarray(q)
        if not self.quantized:
            return q.astype(np.float32)
        zp = self._broadcast(self.zero_point, q.ndim)
        return ((q.astype(np.float64) - zp) * self._broadcast(self.scale, q.ndim)).astype(np.float32)


def tensor_layout(shape: tuple[int | None, ...]) -> Layout:
    """Guess an image tensor's layout from its shape: ``"NCHW"``, ``"NHWC"`` or ``None`` (not 4-D).

    Examples
    --------
    >>> tensor_layout((1, 3, 256, 256)), tensor_layout((1, 192, 192, 3)), tensor_layout((1, 56, 1344))
    ('NCHW', 'NHWC', None)
    """
    if len(shape) != 4:
        return None
    if shape[1] in (1, 3) and shape[3] not in (1, 3):
        return "NCHW"
    return "NHWC"
