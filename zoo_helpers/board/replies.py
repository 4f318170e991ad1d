"""What the client makes of the board's replies: tensor descriptions, run results, typed errors, checks.

:class:`TensorInfo` (a model input or output as the board describes it), :class:`RunResult` (what
:meth:`~zoo_helpers.board.client.BoardClient.invoke` brings back), the client's errors (all
:class:`~zoo_helpers.board.link.BoardError`), :func:`payload` (a reply's expected message, or a
:class:`ProtocolError` saying what came instead) and :func:`model_mismatches` (the board's model
against a host model, shape by shape).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from zoo_helpers.board.codec import FORMAT
from zoo_helpers.board.link import BoardError

_DTYPES = {FORMAT["U8"]: np.uint8, FORMAT["S8"]: np.int8, FORMAT["S16"]: np.int16, FORMAT["U16"]: np.uint16,
           FORMAT["S32"]: np.int32, FORMAT["FLOAT"]: np.float32, FORMAT["FLOAT_B24"]: np.float32}
#: What to do when the board is stuck part-way through a message.
RESET_HINT = ("reset the board (STM32_Programmer_CLI -c port=SWD mode=UR reset=HWrst, or a power cycle) "
              "and connect again")


class ProtocolError(BoardError):
    """A message that does not fit the sequence (wrong reqid, unexpected payload, unsupported version)."""


class ModelMismatch(ProtocolError):
    """The board runs another model than the one expected (other input or output shapes)."""


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


def model_mismatches(board: dict[str, list[TensorInfo]], expected) -> list[str]:
    """How the board's ``{"inputs": [...], "outputs": [...]}`` differ from ``expected``'s, in words (empty: same).

    ``expected`` has ``inputs`` and ``outputs`` lists of tensors with a ``shape`` (a
    :class:`zoo_helpers.runtime.models.Model`); ``None`` dimensions match any. Compared in order: the
    number of tensors, then each shape.
    """
    problems = []
    for which in ("inputs", "outputs"):
        want = [tuple(t.shape) for t in getattr(expected, which)]
        have = [t.shape for t in board[which]]
        if len(want) != len(have):
            problems.append(f"{len(have)} {which} on the board, {len(want)} expected")
            continue
        problems += [f"{which[:-1]} {k} is {h} on the board, {w} expected"
                     for k, (w, h) in enumerate(zip(want, have, strict=True)) if not _same_shape(w, h)]
    return problems


def _same_shape(want: tuple, have: tuple) -> bool:
    return len(want) == len(have) and all(w is None or w == h for w, h in zip(want, have, strict=True))
