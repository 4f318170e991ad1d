"""Host client of ST's validation protocol: connect, read model info, run inputs, bring back outputs and timings.

>>> # client = BoardClient.connect("serial:/dev/ttyACM0:921600")   # a real STM32N6570-DK
>>> # result = client.invoke({"input": frames}, mode="io")           # outputs, on-device ms per sample

Sequences (board I/O study 1.6): SYNC (the reply's version picks protocol 3.1 or 3.2; with
``protocol="auto"`` the client tries 3.2 framing, then drains and tries 3.1), SYS_INFO (3.2 then
switches to the board's large packets), NETWORK_INFO until the board says there is no more model,
then NETWORK_RUN per sample. Logs the board sends mid-command are acknowledged and kept.

Every wait is bounded; errors are typed (:class:`~zoo_helpers.board.link.LinkTimeout`,
:class:`~zoo_helpers.board.link.FramingError`, :class:`~zoo_helpers.board.link.PortClosed`,
:class:`ProtocolError`, :class:`BoardReportedError`). A failed :meth:`BoardClient.invoke` raises
:class:`RunInterrupted` carrying the results already received; pass them back with ``resume=`` to
continue where it stopped. Numbers from the emulator are labelled ``"emulated board"``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from zoo_helpers.board import codec
from zoo_helpers.board.codec import CMD, ERROR, FORMAT, RUN, STATE, TENSOR_FLAG
from zoo_helpers.board.link import BoardError, Framing, HostLink, PortClosed
from zoo_helpers.board.ports import open_descriptor

#: Seconds to wait before retrying SYNC with the other framing (the emulator drops a partial message after 0.5 s).
RETRY_SETTLE = 0.8
TIMEOUTS = {"sync": 0.5, "info": 5.0, "run_ack": 1.0, "data_ack": 10.0, "output": 50.0}
_DTYPES = {FORMAT["U8"]: np.uint8, FORMAT["S8"]: np.int8, FORMAT["S16"]: np.int16, FORMAT["U16"]: np.uint16,
           FORMAT["S32"]: np.int32, FORMAT["FLOAT"]: np.float32, FORMAT["FLOAT_B24"]: np.float32}
MODES = {"io": RUN["IO_ONLY"], "per_layer": RUN["IO_ONLY"] | RUN["PER_LAYER"],
         "perf": RUN["IO_ONLY"] | RUN["PERF"] | RUN["CONST_VALUE"]}


class ProtocolError(BoardError):
    """A message that does not fit the sequence (wrong reqid, unexpected payload, unsupported version)."""


class BoardReportedError(BoardError):
    """The board answered with an error state."""


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


class BoardClient:
    """One connection to a board (or the emulator). Use :meth:`connect`."""

    def __init__(self, port, framing: Framing, timeouts: dict[str, float] | None = None) -> None:
        self.port, self.framing = port, framing
        self.timeouts = {**TIMEOUTS, **(timeouts or {})}
        self.link = HostLink(port, framing)
        self.reqid = 0
        self.logs: list[tuple[int, str]] = []
        self.sysinfo: dict = {}
        self.models: list[dict] = []

    @classmethod
    def connect(cls, port, protocol: str = "auto", timeouts: dict[str, float] | None = None) -> BoardClient:
        """Open ``port`` (a descriptor such as ``serial:/dev/ttyACM0:921600`` or a port object) and discover it.

        ``timeouts`` overrides entries of :data:`TIMEOUTS` (seconds).
        """
        if isinstance(port, str):
            port = open_descriptor(port)
        versions = {"auto": (0x302, 0x301), "3.2": (0x302,), "3.1": (0x301,)}[protocol]
        last: Exception | None = None
        for attempt, version in enumerate(versions):
            if attempt:
                time.sleep(RETRY_SETTLE)  # let a board that read our wrong-framed packet give up on it
            _drain(port)
            client = cls(port, Framing(version), timeouts)
            try:
                sync = client.request(CMD["SYNC"], timeout=client.timeouts["sync"])["sync"]
            except (BoardError, ValueError) as exc:
                last = exc
                continue
            if sync.get("version", 0) >> 8 != 3 or sync["version"] != version:
                last = ProtocolError(f"board speaks protocol {sync.get('version', 0):#x}, framing {version:#x}")
                continue
            client.discover()
            return client
        raise ConnectionError(f"no board answered the protocol 3.x SYNC ({last}); is the validation firmware "
                              "flashed? A board left half-way through a message needs a reset") from last

    # --- messages -------------------------------------------------------------------------------
    def _next(self, timeout: float) -> dict:
        """Next board message of the current request; logs are acknowledged and collected."""
        while True:
            resp = codec.decode("respMsg", self.link.receive(timeout), self.framing.version)
            if resp.get("reqid") != self.reqid:
                raise ProtocolError(f"reply for request {resp.get('reqid')} while waiting for {self.reqid}")
            if "log" in resp:
                self.logs.append((resp["log"].get("level", 0), resp["log"].get("str", "")))
                self.link.send(codec.encode("ackMsg", {"param": 0, "error": 0}, self.framing.version))
                continue
            if resp.get("state") == STATE["ERROR"]:
                ack = resp.get("ack", {})
                code = {v: k for k, v in ERROR.items()}.get(ack.get("error", 10), "GENERIC")
                raise BoardReportedError(f"board error {code} (param {ack.get('param', 0)})")
            return resp

    def request(self, cmd: int, param: int = 0, name: str = "", opt: int = 0, timeout: float = 1.0,
                expect_reply: bool = True) -> dict:
        """Send one request and return the board's first (non-log) reply."""
        self.reqid += 1
        msg = {"reqid": self.reqid, "cmd": cmd, "param": param, "name": name, "opt": opt}
        self.link.send(codec.encode("reqMsg", msg, self.framing.version))
        return self._next(timeout) if expect_reply else {}

    def discover(self) -> list[dict]:
        """SYS_INFO (switching to large packets on 3.2) and the NETWORK_INFO loop."""
        self.sysinfo = self.request(CMD["SYS_INFO"], timeout=self.timeouts["sync"])["sinfo"]
        if self.framing.version >= 0x302 and self.sysinfo.get("com_param"):
            self.framing.payload = self.sysinfo["com_param"]
        self.models = []
        for k in range(16):
            try:
                resp = self.request(CMD["NETWORK_INFO"], param=k, timeout=self.timeouts["info"])
            except BoardReportedError:
                break  # the board's way of saying "no more models"
            if "minfo" not in resp:
                break
            self.models.append(resp["minfo"])
        if not self.models:
            raise ProtocolError("the board reports no model")
        return self.models

    @property
    def source(self) -> str:
        """``"emulated board"`` for the emulator, else ``"board"``: the label for every number measured."""
        return "emulated board" if self.models and self.models[0].get("runtime_desc", "").startswith("EMULATED") \
            else "board"

    def tensors(self, which: str = "inputs", model: int = 0) -> list[TensorInfo]:
        """The model's inputs or outputs: name, shape, dtype, scale, zero point."""
        out = []
        for d in self.models[model].get(which, []):
            dtype = _DTYPES.get(d.get("format", 0))
            if dtype is None:
                raise ProtocolError(f"tensor {d.get('name')!r} has an unknown format {d.get('format', 0):#x}")
            out.append(TensorInfo(d.get("name", ""), tuple(d.get("dims", [])), np.dtype(dtype), d.get("scale", 0.0),
                                  d.get("zeropoint", 0)))
        return out

    def model_info(self, model: int = 0) -> dict:
        """Model summary: name, MACC, inputs and outputs (:class:`TensorInfo`), runtime description."""
        m = self.models[model]
        return {"name": m.get("name", ""), "macc": m.get("n_macc", 0), "inputs": self.tensors("inputs", model),
                "outputs": self.tensors("outputs", model), "runtime": m.get("runtime_desc", "")}

    # --- running --------------------------------------------------------------------------------
    def invoke(self, inputs: np.ndarray | list[np.ndarray], mode: str = "io", model: int = 0,
               progress: bool = True, resume: RunResult | None = None) -> RunResult:
        """Run every sample of ``inputs`` (``(N, ...)`` per model input) on the board, one sample per request.

        ``mode``: ``"io"`` (outputs and times), ``"per_layer"`` (plus per-layer records) or ``"perf"``
        (one broadcast input element, no output data: times only). Inputs are the model's own dtype
        (quantize floats first with :class:`TensorInfo`). ``resume`` continues an interrupted run.
        """
        from tqdm import tqdm

        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {sorted(MODES)}")
        specs = self.tensors("inputs", model)
        batches = [np.asarray(x) for x in (inputs if isinstance(inputs, list | tuple) else [inputs])]
        if len(batches) != len(specs):
            raise ValueError(f"the model has {len(specs)} inputs, got {len(batches)}")
        for x, spec in zip(batches, specs, strict=True):
            if x.dtype != spec.dtype or x.shape[1:] != spec.shape[1:]:
                raise ValueError(f"input {spec.name!r} must be (N, {', '.join(map(str, spec.shape[1:]))}) "
                                 f"{spec.dtype}, got {x.shape} {x.dtype}")
        result = resume or RunResult(source=self.source)
        name = self.models[model].get("name", "network")
        for i in tqdm(range(len(result.durations_ms), len(batches[0])), disable=not progress, desc="board", unit="run"):
            try:
                self._run_one([x[i] for x in batches], MODES[mode], name, i == 0, model, result)
            except (BoardError, OSError, ValueError) as exc:
                raise RunInterrupted(result, exc) from exc
        return result

    def _run_one(self, sample, flags, name, first, model, result: RunResult) -> None:
        version = self.framing.version
        self.request(CMD["NETWORK_RUN"], param=flags, name=name, opt=1 if first else 0,
                     timeout=self.timeouts["run_ack"])
        for k, x in enumerate(sample):
            raw = np.ascontiguousarray(x).tobytes()
            if flags & RUN["CONST_VALUE"]:
                raw = raw[:x.dtype.itemsize]
            self.link.send(codec.encode("aiDataMsg", {"type": 0, "size": len(raw), "addr": 0, "datas": raw}, version))
            ack = self._next(self.timeouts["data_ack"]).get("ack", {})
            if ack.get("param") != len(raw):
                raise ProtocolError(f"board received {ack.get('param')} bytes of input {k}, sent {len(raw)}")
            self.link.send(codec.encode("ackMsg", {"param": 0, "error": 0}, version))
        layers = []
        while True:
            resp = self._next(self.timeouts["output"])
            op = resp.get("op")
            if op is None:
                raise ProtocolError(f"expected an operator report, got {sorted(resp)}")
            if op.get("type", 0) >> 24 == 0:  # the model-level report closes the per-layer stream
                break
            layers.append({"name": op.get("name", ""), "id": op.get("id", 0), "duration_ms": op.get("duration", 0.0),
                           "counters": op.get("counters", [])})
        outs = {}
        for spec in self.tensors("outputs", model):
            tensor = self._next(self.timeouts["output"]).get("tensor")
            if tensor is None:
                raise ProtocolError("expected an output tensor")
            desc, data = tensor.get("desc", {}), tensor.get("data", {}).get("datas", b"")
            if desc.get("flags", 0) & TENSOR_FLAG["NO_DATA"]:
                continue
            if len(data) != int(np.prod(spec.shape)) * spec.dtype.itemsize:
                raise ProtocolError(f"output {spec.name!r}: {len(data)} bytes for shape {spec.shape}")
            outs[spec.name] = spec.dequantize(np.frombuffer(data, spec.dtype).reshape(spec.shape))[0]
        for key, value in outs.items():  # only a complete sample is kept
            result.outputs.setdefault(key, []).append(value)
        result.durations_ms.append(float(op.get("duration", 0.0)))
        result.counters.append(op.get("counters", []))
        result.layers.append(layers)

    def close(self) -> None:
        """DISCONNECT (protocol 3.2) and close the port."""
        try:
            if self.framing.version >= 0x302:
                self.request(CMD["DISCONNECT"], expect_reply=False)
        except (BoardError, OSError):
            pass
        self.port.close()


def _drain(port, rounds: int = 50) -> None:
    """Discard whatever the board printed before protocol mode (its banner) or left from a failed attempt."""
    try:
        port.reset_input_buffer()
        for _ in range(rounds):
            if not port.read(64):
                return
    except (OSError, EOFError) as exc:
        raise PortClosed(f"port failed while draining: {exc}") from exc
