"""The NUCLEO-F401RE hand-posture demo's UART stream (921600 baud), read with pyserial.

The demo prints one of two formats (ST services study, section 7.5):

terminal mode
    ``Hand Posture = #i {name}`` then one ``Class #i {name} : p`` line per class, with ANSI
    clear-screen codes around them;
EVK-GUI mode (``set gesture_gui=1``)
    one CSV record per frame: ``RAN,<frame>,<stream>,<tick>,<header fields...>`` followed by 64 zones
    of ``,status,nb_targets,distance,signal,0,1``. The zones are the last 384 fields; the EVK label
    is taken from the header field named by ``label_field`` (the last header field by default: the
    study gives its place only as "``...,<evk_label>,...``", so this is configurable).

:class:`StreamReader` turns bytes into :class:`Prediction` and :class:`Frame` events. A bad line
becomes a :class:`StreamError` event and reading goes on: a truncated line, one longer than
``max_line`` (read in bounded pieces, the rest dropped), a record cut short by the next one (the
cut one is the error, the next one is kept), a corrupt or
oversized field, a negative status, target count or signal, a negative distance where the status
says the range is valid (other zones carry placeholder distances, negative ones too, as in the
dataset), a class score that is not a number. :class:`FrameLogger` keeps its npz file (the dataset's
layout) holding every frame added, so a disconnect loses nothing already read (see its options).
:func:`format_ran_record` writes the CSV format (for tests and for replaying the dataset).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo_helpers.board.ports import PortUnavailable

BAUD = 921_600
#: Rows of a log's ``zone_data`` (the dataset's npz layout, which :class:`FrameLogger` writes).
ZONE_HEAD = ["target_status", "valid", "signal_per_spad", "distance_mm"]
#: Classes the F401 demo prints a score for in terminal mode (CNN2D_ST_HandPosture's 8 postures).
DEMO_CLASSES = 8
ZONE_FIELDS = 6
#: Target statuses of a valid range (ST's preprocessing trusts only these; the hand-posture card uses them).
VALID_STATUS = (5, 9)
#: Longest line the reader accepts, end of line included (a RAN record is about 2.5 KB).
MAX_LINE = 8192
_ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
_POSTURE = re.compile(r"Hand Posture = #(\d+) (.+)")
_CLASS = re.compile(r"Class #(\d+) (.+?) : ([-+0-9.eE]+)")


class StreamError(ValueError):
    """A line of the stream that could not be parsed (kept as an event, never raised by the reader)."""


@dataclass
class Frame:
    """One ToF frame from an EVK-GUI record: ``zones`` ``(4, 64)`` in :data:`ZONE_HEAD` order."""

    frame: int
    tick: int
    label: int
    zones: np.ndarray
    nb_targets: np.ndarray


@dataclass
class Prediction:
    """One terminal-mode prediction with its per-class scores."""

    index: int
    name: str
    scores: dict[str, float] = field(default_factory=dict)


def format_ran_record(frame: int, zones: np.ndarray, label: int, tick: int | None = None,
                      nb_targets: np.ndarray | None = None) -> bytes:
    """One EVK-GUI CSV record for a ``(4, 64)`` zone array (:data:`ZONE_HEAD` rows), ending in CRLF.

    Examples
    --------
    >>> z = np.zeros((4, 64)); z[0] = 5; z[3] = 250; z[2] = 300
    >>> rec = format_ran_record(7, z, 21)
    >>> rec[:20], rec.count(b",")
    (b'RAN,7,0,700,,,21,5,1', 390)
    """
    zones = np.asarray(zones)
    if zones.shape != (4, 64):
        raise ValueError(f"expected (4, 64) zones, got {zones.shape}")
    targets = np.ones(64, int) if nb_targets is None else np.asarray(nb_targets, int)
    head = f"RAN,{frame},0,{tick if tick is not None else frame * 100},,,{label}"
    body = "".join(f",{int(zones[0, j])},{targets[j]},{int(zones[3, j])},{int(zones[2, j])},0,1" for j in range(64))
    return (head + body + "\r\n").encode()


class StreamReader:
    """Parse the demo's byte stream from a pyserial port (or any object with pyserial's ``readline(size)``).

    Parameters
    ----------
    port
        An open ``serial.Serial`` (e.g. ``serial.serial_for_url("COM4", 921600, timeout=1)``).
    label_field
        Index, among the header fields after ``RAN``, of the EVK label (default: the last one).
    idle_timeout
        Seconds without a complete line before :meth:`events` stops (bounded: never hangs).
    num_classes
        Class score lines that complete one terminal-mode prediction.
    max_line
        Longest line accepted (bytes, end of line included); a longer one is read in pieces of
        this size, dropped up to its end of line and reported as one :class:`StreamError`.
    """

    def __init__(self, port, label_field: int = -1, idle_timeout: float = 5.0, num_classes: int = DEMO_CLASSES,
                 max_line: int = MAX_LINE) -> None:
        self.port, self.label_field, self.idle_timeout = port, label_field, idle_timeout
        self.num_classes, self.max_line = num_classes, max_line
        if getattr(port, "timeout", 1.0) is None:  # a blocking read could wait forever
            port.timeout = 1.0
        self._pending: Prediction | None = None

    def events(self, limit: int | None = None) -> Iterator[Frame | Prediction | StreamError]:
        """Yield parsed events until ``limit`` events, ``idle_timeout`` of silence, or the port fails.

        A port failure (``serial.SerialException``/``OSError``, e.g. the board unplugged) is raised
        as ``ConnectionError`` naming the port, after every event read so far has been yielded.
        """
        import serial

        count, last, skipping = 0, time.monotonic(), False
        while limit is None or count < limit:
            try:
                raw = self.port.readline(self.max_line)
            except (serial.SerialException, OSError) as exc:
                raise ConnectionError(f"serial port {getattr(self.port, 'port', self.port)!r} failed: {exc}") from exc
            if not raw:
                if time.monotonic() - last > self.idle_timeout:
                    return
                continue
            last = time.monotonic()
            if skipping:  # the rest of an over-long line, up to its end of line
                skipping = not raw.endswith(b"\n")
                continue
            if len(raw) >= self.max_line and not raw.endswith(b"\n"):
                skipping = True
                count += 1
                yield StreamError(f"line longer than {self.max_line} bytes (a record is about 2.5 KB): dropped")
                continue
            if not raw.endswith(b"\n"):
                count += 1
                yield StreamError(f"truncated line ({len(raw)} bytes, no end of line)")
                continue
            for event in self._parse(_ANSI.sub(b"", raw).decode("ascii", errors="replace").strip()):
                count += 1
                yield event

    def _parse(self, line: str) -> list[Frame | Prediction | StreamError]:
        if not line:
            return []
        cut = line.rfind("RAN,")
        if cut > 0:  # a record (or a line) cut short, then a record: the cut part is an error, the last is parsed
            return [StreamError(f"a record or line cut short (no end of line): a second record starts at "
                                f"character {cut}; the cut part is dropped, the second record kept")] \
                + self._parse(line[cut:])
        if line.startswith("RAN,"):
            try:
                return [self._frame(line)]
            except (ValueError, IndexError, OverflowError) as exc:
                return [StreamError(f"corrupt RAN record: {exc}")]
        m = _POSTURE.match(line)
        if m:
            done, self._pending = self._pending, Prediction(int(m.group(1)), m.group(2).strip())
            return [done] if done else []
        m = _CLASS.match(line)
        if m and self._pending is not None:
            try:
                score = float(m.group(3))
            except ValueError:
                score = float("nan")
            if not np.isfinite(score):
                dropped, self._pending = self._pending, None
                return [StreamError(f"class score {m.group(3)!r} of {m.group(2).strip()!r} is not a number: "
                                    f"prediction #{dropped.index} {dropped.name!r} dropped")]
            self._pending.scores[m.group(2).strip()] = score
            if len(self._pending.scores) == self.num_classes:
                done, self._pending = self._pending, None
                return [done]
        return []

    def _frame(self, line: str) -> Frame:
        fields = line.split(",")
        if len(fields) < 4 + 64 * ZONE_FIELDS:
            raise ValueError(f"{len(fields)} fields, expected at least {4 + 64 * ZONE_FIELDS}")
        try:
            zones = np.array(fields[-64 * ZONE_FIELDS:], dtype=np.int64).reshape(64, ZONE_FIELDS)
        except OverflowError:
            raise ValueError("a zone field does not fit in 64 bits") from None
        header = fields[1:-64 * ZONE_FIELDS]
        label_text = header[self.label_field] if header[self.label_field] else "0"
        if (zones[:, 4] != 0).any() or (zones[:, 5] != 1).any():
            raise ValueError("zone fields out of place (expected ...,0,1 after each zone)")
        ranged = np.isin(zones[:, 0], VALID_STATUS)  # other statuses carry placeholder distances, even negative
        negative = np.flatnonzero((zones[:, [0, 1, 3]] < 0).any(axis=1) | (ranged & (zones[:, 2] < 0)))
        if negative.size:
            raise ValueError(f"negative value in zone {negative[0]} (status, targets and signal are >= 0, so is "
                             "the distance of a valid target)")
        data = np.zeros((4, 64))
        data[0], data[1], data[2], data[3] = zones[:, 0], 1, zones[:, 3], zones[:, 2]
        return Frame(int(header[0]), int(header[2]), int(label_text), data, zones[:, 1])


class FrameLogger:
    """Append frames to one log in the dataset's npz layout, kept current on disk.

    Every :meth:`add` rewrites the file (atomically), so it always holds every frame added: a
    board unplugged mid-stream loses nothing already read. Rewriting costs time in proportion to
    the frames so far (measured here: about 1 ms per add over 60 frames, 9 ms at the 600th); for
    long sessions pass ``flush_every`` and use the logger as a context manager, which writes what
    is left on exit, exception or not.

    >>> # with FrameLogger("log.npz", flush_every=100) as log:
    >>> #     for event in StreamReader(port).events():
    >>> #         log.add(event)
    """

    def __init__(self, path: str | os.PathLike[str], flush_every: int = 1) -> None:
        self.path, self.flush_every = Path(path), flush_every
        self.frames: list[Frame] = []
        self.start = time.time()
        self.written = 0  # frames in the file on disk

    def __enter__(self) -> FrameLogger:
        return self

    def __exit__(self, *exc) -> None:
        if len(self.frames) > self.written:
            self.flush()

    def add(self, frame: Frame) -> None:
        """Keep a frame; the file is rewritten every ``flush_every`` frames (every frame by default)."""
        self.frames.append(frame)
        if len(self.frames) % self.flush_every == 0:
            self.flush()

    def flush(self) -> Path:
        """Write every frame so far (atomically: a partial file never replaces a good one)."""
        if not self.frames:
            raise ValueError("no frames to write")
        zone_data = np.stack([f.zones for f in self.frames], axis=2)
        labels = np.array([[f.label for f in self.frames]], np.float64)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".partial.npz")
        np.savez(tmp, zone_data=zone_data, zone_head=np.array(ZONE_HEAD), glob_data=labels,
                 glob_head=np.array([".GestureGT"]), start_tstmp=self.start, end_tstmp=time.time())
        os.replace(tmp, self.path)
        self.written = len(self.frames)
        return self.path


class ReplayPort:
    """A real pyserial port fed, on a pseudo-terminal, with dataset frames in the EVK-GUI format.

    For workshops without a board: the bytes are exactly what :func:`format_ran_record` writes, so
    the reader and logger run unchanged. Everything read from it is *replayed*, not measured.
    Use as a context manager; ``port`` is the ``serial.Serial`` to read.
    """

    def __init__(self, zone_data: np.ndarray, labels: np.ndarray, timeout: float = 0.5) -> None:
        self.records = b"".join(format_ran_record(t, zone_data[:, :, t], int(labels[t]))
                                for t in range(zone_data.shape[2]))
        self.timeout = timeout

    def __enter__(self):
        import threading
        import tty

        import serial

        self._master, slave = os.openpty()
        tty.setraw(slave)
        self.port = serial.Serial(os.ttyname(slave), BAUD, timeout=self.timeout)
        os.close(slave)
        data, master = self.records, self._master
        self._writer = threading.Thread(
            target=lambda: [os.write(master, data[i:i + 4096]) for i in range(0, len(data), 4096)], daemon=True)
        self._writer.start()
        return self.port

    def __exit__(self, *exc) -> None:
        self._writer.join(5)
        self.port.close()
        os.close(self._master)


def open_source(port: str, zone_data: np.ndarray, labels: np.ndarray):
    """The port to read: the board at ``port`` (921600 baud), or, when ``port`` is empty, a replay of the frames.

    Both are context managers yielding a ``serial.Serial``. A port that cannot be opened is a
    :class:`~zoo_helpers.board.ports.PortUnavailable` naming it (check it up front with
    :func:`~zoo_helpers.board.ports.check_port`).
    """
    if port:
        import serial

        try:
            return serial.Serial(port, BAUD, timeout=1.0)
        except (serial.SerialException, OSError) as exc:
            raise PortUnavailable(f"cannot open the hand-posture board's port {port!r} at {BAUD} baud: {exc} "
                                  "(is the NUCLEO-F401RE plugged in, and the port free?)") from exc
    return ReplayPort(zone_data, labels)
