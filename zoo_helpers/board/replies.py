"""What the client makes of the board's replies: tensor descriptions, run results, typed errors, checks.

:class:`TensorInfo` (a model input or output as the board describes it), :class:`RunResult` (what
:meth:`~zoo_helpers.board.client.BoardClient.invoke` brings back), the client's errors (all
:class:`~zoo_helpers.board.link.BoardError`), :func:`payload` (a reply's expected message, or a
:class:`ProtocolError` saying what came instead) and :func:`model_mismatches` (the board's model
against a host model: shapes, input types, quantization and, from the emulator, the model file).

What the protocol lets a board say about its model (board I/O study 1.4) is its c-name, a
``signature`` and the tensors' shapes, formats, scales and zero points. ST's firmware puts a
signature of the generated C model there, which the host cannot compute from a ``.tflite``; the
emulator puts :func:`file_signature`, the sha256 of the file it runs, so against the emulator the
file itself is compared, against a real board only what its tensors show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo_helpers.board.codec import FORMAT
from zoo_helpers.board.link import BoardError
from zoo_helpers.registry.hashing import file_sha256

_DTYPES = {FORMAT["U8"]: np.uint8, FORMAT["S8"]: np.int8, FORMAT["S16"]: np.int16, FORMAT["U16"]: np.uint16,
           FORMAT["S32"]: np.int32, FORMAT["FLOAT"]: np.float32, FORMAT["FLOAT_B24"]: np.float32}
#: How the emulator's ``aiModelInfoMsg.signature`` starts: the sha256 of its model file follows (63 characters in
#: all, the field's nanopb limit of 64 with its terminating zero).
SIGNATURE_PREFIX = "sha256:"
#: Relative tolerance when comparing a board's scale (sent as a 32-bit float) with the host file's.
SCALE_RTOL = 1e-6
#: What to do when the board is stuck part-way through a message.
RESET_HINT = ("reset the board (STM32_Programmer_CLI -c port=SWD mode=UR reset=HWrst, or a power cycle) "
              "and connect again")


class ProtocolError(BoardError):
    """A message that does not fit the sequence (wrong reqid, unexpected payload, unsupported version)."""


class ModelMismatch(ProtocolError):
    """The board runs another model than the one expected (other shapes, input types, quantization or file)."""


class BoardReportedError(BoardError):
    """The board answered with an error state."""


class NoBoard(BoardError, ConnectionError):
    """Nothing answered SYNC (no validation firmware, wrong port, wrong framing)."""


class NeedsReset(BoardError, ConnectionError):
    """After a fault the board does not answer SYNC any more (or keeps sending): it needs a reset."""


class RunInterrupted(BoardError):
    """An invoke stopped part-way; ``partial`` holds the samples already received, ``cause`` the error."""

    def __init__(self, partial: RunResult, cause: Exception) -> None:
        super().__init__(f"stopped after {len(partial.durations_ms)} samples: {cause}")
        self.partial, self.cause = partial, cause


@dataclass
class TensorInfo:
    """A model input or output as the board describes it."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int

    @classmethod
    def from_desc(cls, desc: dict) -> TensorInfo:
        """From a decoded ``aiTensorDescMsg``; :class:`ProtocolError` for a format the client cannot read."""
        dtype = _DTYPES.get(desc.get("format", 0))
        if dtype is None:
            raise ProtocolError(f"tensor {desc.get('name')!r} has an unknown format {desc.get('format', 0):#x}")
        return cls(desc.get("name", ""), tuple(desc.get("dims", [])), np.dtype(dtype), desc.get("scale", 0.0),
                   desc.get("zeropoint", 0))

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        if self.scale == 0:
            return q.astype(np.float32)
        return ((q.astype(np.float64) - self.zero_point) * self.scale).astype(np.float32)


@dataclass
class RunResult:
    """Outputs (dequantized, one list entry per sample), on-device durations and per-layer records."""

    outputs: dict[str, list[np.ndarray]] = field(default_factory=dict)
    durations_ms: list[float] = field(default_factory=list)
    layers: list[list[dict]] = field(default_factory=list)
    counters: list[list[int]] = field(default_factory=list)
    source: str = "board"

    def stacked(self) -> dict[str, np.ndarray]:
        """Outputs as ``(N, ...)`` arrays."""
        return {k: np.stack(v) for k, v in self.outputs.items() if v}


def payload(resp: dict, key: str, request: str) -> dict:
    """The ``key`` payload of a reply, or a :class:`ProtocolError` saying what the board sent instead.

    Examples
    --------
    >>> payload({"reqid": 1, "state": 0, "ack": {"param": 0, "error": 0}}, "sync", "SYNC")
    Traceback (most recent call last):
    ...
    zoo_helpers.board.replies.ProtocolError: the board answered SYNC with an ack message {'param': 0, 'error': 0} \
instead of a sync message
    """
    if key in resp:
        return resp[key]
    got = [k for k in resp if k not in ("reqid", "state")]
    article = "an" if got and got[0][0] in "aeiou" else "a"
    instead = f"{article} {got[0]} message {str(resp[got[0]])[:120]}" if got else f"a reply with no payload {resp}"
    raise ProtocolError(f"the board answered {request} with {instead} instead of a {key} message")


def file_signature(path) -> str:
    """What the emulator reports as the ``signature`` of the model file at ``path``: ``sha256:`` and 56 hex digits.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as fh:
    ...     _ = fh.write(b"abc"); fh.flush()
    ...     file_signature(fh.name)
    'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61'
    """
    return SIGNATURE_PREFIX + file_sha256(path)[:63 - len(SIGNATURE_PREFIX)]


def model_mismatches(board: dict[str, list[TensorInfo]], expected, signature: str = "") -> list[str]:
    """How the board's ``{"inputs": [...], "outputs": [...]}`` differ from ``expected``'s, in words (empty: same).

    ``expected`` has ``inputs`` and ``outputs`` lists of tensors with a ``shape``, a ``dtype`` and,
    when quantized, ``scale`` and ``zero_point`` arrays (a :class:`zoo_helpers.runtime.models.Model`,
    whose ``path`` is its file); ``None`` dimensions match any. Compared: the number of tensors, each
    shape, each input's type (the host sends its inputs' bytes as they are), each per-tensor scale
    and zero point where both sides quantize, and, when ``signature`` is the emulator's
    (:func:`file_signature`), the model file.

    Examples
    --------
    >>> from types import SimpleNamespace as T
    >>> host = T(inputs=[T(shape=(1, 4), dtype=np.dtype(np.uint8), scale=None, zero_point=None)], outputs=[])
    >>> model_mismatches({"inputs": [TensorInfo("x", (1, 4), np.dtype(np.float32), 0.0, 0)], "outputs": []}, host)
    ["input 0 is float32 on the board, uint8 on the host: the models' input types differ"]
    """
    problems = []
    for which in ("inputs", "outputs"):
        want, have = list(getattr(expected, which)), board[which]
        if len(want) != len(have):
            problems.append(f"{len(have)} {which} on the board, {len(want)} expected")
            continue
        for k, (w, h) in enumerate(zip(want, have, strict=True)):
            problems += _tensor_mismatches(f"{which[:-1]} {k}", w, h, which == "inputs")
    path = getattr(expected, "path", None)
    if signature.startswith(SIGNATURE_PREFIX) and path is not None and signature != file_signature(path):
        problems.append(f"the board runs the file with {signature}, not {Path(path).name} "
                        f"({file_signature(path)})")
    return problems


def _tensor_mismatches(label: str, want, have: TensorInfo, is_input: bool) -> list[str]:
    if not _same_shape(tuple(want.shape), have.shape):
        return [f"{label} is {have.shape} on the board, {tuple(want.shape)} expected"]
    if is_input and np.dtype(want.dtype) != have.dtype:
        return [f"{label} is {have.dtype} on the board, {np.dtype(want.dtype)} on the host: the models' input "
                "types differ"]
    scale, zero = getattr(want, "scale", None), getattr(want, "zero_point", None)
    if (np.dtype(want.dtype) == have.dtype and have.scale and scale is not None and np.size(scale) == 1
            and (not np.isclose(have.scale, float(np.ravel(scale)[0]), rtol=SCALE_RTOL, atol=0)
                 or have.zero_point != int(np.ravel(zero)[0]))):
        return [f"{label} is quantized with scale {have.scale:.6g} and zero point {have.zero_point} on the board, "
                f"{float(np.ravel(scale)[0]):.6g} and {int(np.ravel(zero)[0])} on the host"]
    return []


def _same_shape(want: tuple, have: tuple) -> bool:
    return len(want) == len(have) and all(w is None or w == h for w, h in zip(want, have, strict=True))
