"""Host client of ST's validation protocol: connect, read model info, run inputs, bring back outputs and timings.

>>> # client = BoardClient.connect("serial:/dev/ttyACM0:921600")   # a real STM32N6570-DK
>>> # result = client.invoke({"input": frames}, mode="io")           # outputs, on-device ms per sample

Sequences (board I/O study 1.6): SYNC (the reply's version picks protocol 3.1 or 3.2; with
``protocol="auto"`` the client tries 3.2 framing, then drains and tries 3.1), SYS_INFO (3.2 then
switches to the board's large packets), NETWORK_INFO until the board says there is no more model,
then NETWORK_RUN per sample. Logs the board sends mid-command are acknowledged and kept.

Every wait is bounded; errors are typed (:class:`~zoo_helpers.board.link.LinkTimeout`,
:class:`~zoo_helpers.board.link.FramingError`, :class:`~zoo_helpers.board.link.PortClosed`,
:class:`ProtocolError`, :class:`ModelMismatch`, :class:`BoardReportedError`, :class:`NoBoard`,
:class:`NeedsReset`). A failed :meth:`BoardClient.invoke` raises :class:`RunInterrupted` carrying
the results already received; pass them back with ``resume=`` to continue where it stopped. After
a fault part-way through a message the client resynchronises before its next request (it lets the
board finish, drains, sends SYNC) or raises :class:`NeedsReset`, within a few seconds.
Every error raised while a request is under way names the request and says what to do
(:func:`~zoo_helpers.board.session.advise`). Numbers from the emulator are labelled ``"emulated board"``.
"""

from __future__ import annotations

import time

import numpy as np

import zoo_helpers.board.codec as codec
from zoo_helpers.board.codec import CAPABILITY, CMD, RUN, TENSOR_FLAG, CodecError
from zoo_helpers.board.link import BoardError, Framing, LinkTimeout, PortClosed
from zoo_helpers.board.ports import PORT_ERRORS, open_descriptor
from zoo_helpers.board.replies import (  # noqa: F401  (the client's types, importable from here as before)
    BoardReportedError,
    ModelMismatch,
    NeedsReset,
    NoBoard,
    ProtocolError,
    RunInterrupted,
    RunResult,
    TensorInfo,
    model_mismatches,
    payload,
)
from zoo_helpers.board.session import RETRY_SETTLE, TIMEOUTS, Session, drain  # noqa: F401

PROTOCOLS = {"auto": (0x302, 0x301), "3.2": (0x302,), "3.1": (0x301,)}
MODES = {"io": RUN["IO_ONLY"], "per_layer": RUN["IO_ONLY"] | RUN["PER_LAYER"],
         "perf": RUN["IO_ONLY"] | RUN["PERF"] | RUN["CONST_VALUE"]}


class BoardClient(Session):
    """One connection to a board (or the emulator). Use :meth:`connect`."""

    def __init__(self, port, framing: Framing, timeouts: dict[str, float] | None = None) -> None:
        super().__init__(port, framing, timeouts)
        self.models: list[dict] = []
        self.capability = 0  # the board's syncMsg.capability bits (codec.CAPABILITY)

    @classmethod
    def connect(cls, port, protocol: str = "auto", timeouts: dict[str, float] | None = None,
                expect=None) -> BoardClient:
        """Open ``port`` (a descriptor such as ``serial:/dev/ttyACM0:921600`` or a port object) and discover it.

        ``protocol``: ``"auto"``, ``"3.2"`` or ``"3.1"``. ``timeouts`` overrides entries of
        :data:`TIMEOUTS` (seconds). ``expect``, a host model (``inputs``/``outputs`` with shapes), is
        checked against the board's model with :meth:`check_model`. A reply that is not the
        expected message raises :class:`ProtocolError` saying what came instead; silence,
        :class:`NoBoard`. A port opened here from a descriptor is closed again when connecting fails.
        """
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}; use one of {', '.join(map(repr, PROTOCOLS))}")
        opened = isinstance(port, str)
        if opened:
            port = open_descriptor(port)
        errors: list[tuple[int, Exception]] = []
        for attempt, version in enumerate(PROTOCOLS[protocol]):
            if attempt:
                time.sleep(RETRY_SETTLE)  # let a board that read our wrong-framed packet give up on it
            drain(port)
            client = cls(port, Framing(version), timeouts)
            try:
                with client._about("SYNC"):
                    sync = payload(client._ask(CMD["SYNC"], timeout=client.timeouts["sync"]), "sync", "SYNC")
                    if sync.get("version", 0) != version:
                        raise ProtocolError(f"board speaks protocol {sync.get('version', 0):#x}, "
                                            f"framing {version:#x}")
            except PortClosed:
                if opened:  # a dead port: no other framing can help; a port opened here is closed here
                    port.close()
                raise
            except (BoardError, CodecError) as exc:
                errors.append((version, exc))
                continue
            client.capability = sync.get("capability", 0)
            try:
                client.discover()
                if expect is not None:
                    client.check_model(expect)
            except BaseException:
                if opened:  # a port opened here is closed here (DISCONNECT first: the board back to small packets)
                    client.close()
                raise
            return client
        if opened:
            try:
                port.close()
            except PORT_ERRORS:
                pass
        tried = "; ".join(f"{v >> 8}.{v & 0xFF} framing: {e}" for v, e in errors)
        wrong = [e for _, e in errors if not isinstance(e, LinkTimeout)]  # the board answered, but not right
        if wrong:
            raise ProtocolError(tried) from wrong[-1]  # each names its request and what to do
        raise NoBoard(f"no board answered the protocol 3.x SYNC ({tried}); is the validation firmware flashed? "
                      "A board left half-way through a message needs a reset") from errors[-1][1]

    def discover(self) -> list[dict]:
        """SYS_INFO (switching to large packets on 3.2) and the NETWORK_INFO loop."""
        with self._transaction():
            self._sys_info()
        self.models = []
        for k in range(16):
            try:
                resp = self.request(CMD["NETWORK_INFO"], param=k, timeout=self.timeouts["info"])
            except BoardReportedError:
                break  # the board's way of saying "no more models"
            if "minfo" not in resp and "ack" in resp:
                break  # ST's host reads an ack as "no more models" too
            with self._about(f"NETWORK_INFO {k}"):
                info = payload(resp, "minfo", f"NETWORK_INFO {k}")
                for desc in info.get("inputs", []) + info.get("outputs", []):
                    TensorInfo.from_desc(desc)  # a tensor format the client cannot read fails here
            self.models.append(info)
        if not self.models:
            with self._about("NETWORK_INFO 0"):
                raise ProtocolError("the board reports no model (flash the validation firmware with a model)")
        return self.models

    @property
    def source(self) -> str:
        """``"emulated board"`` for the emulator, else ``"board"``: the label for every number measured."""
        return "emulated board" if self.models and self.models[0].get("runtime_desc", "").startswith("EMULATED") \
            else "board"

    def tensors(self, which: str = "inputs", model: int = 0) -> list[TensorInfo]:
        """The model's inputs or outputs: name, shape, dtype, scale, zero point."""
        return [TensorInfo.from_desc(d) for d in self.models[model].get(which, [])]

    def check_model(self, expected, model: int = 0) -> None:
        """Raise :class:`ModelMismatch` when the board's model is not ``expected``.

        ``expected`` is the host model (a :class:`zoo_helpers.runtime.models.Model`); see
        :func:`~zoo_helpers.board.replies.model_mismatches` for what is compared (against the
        emulator, the model file's sha256 too; a real board reports no hash of the file).
        """
        m = self.models[model]
        problems = model_mismatches({w: self.tensors(w, model) for w in ("inputs", "outputs")}, expected,
                                    m.get("signature", ""))
        if problems:
            host = getattr(getattr(expected, "path", None), "name", "the host model")
            raise ModelMismatch(f"the board runs another model ({m.get('name', '')!r}, signature "
                                f"{m.get('signature', '')!r}) than {host}: {'; '.join(problems)}. Flash (or "
                                "emulate) the model being validated, or validate the model the board runs")

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
        if MODES[mode] & RUN["PER_LAYER"] and not self.capability & CAPABILITY["OBSERVER"]:
            raise ValueError(f"the {self.source} offers no per-layer records (no OBSERVER capability in its SYNC "
                             "reply; the emulator measures none): use mode 'io' or 'perf'")
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
                with self._transaction(), self._about(f"NETWORK_RUN of sample {i}"):
                    self._run_one([x[i] for x in batches], MODES[mode], name, i == 0, model, result)
            except (BoardError, ValueError, *PORT_ERRORS) as exc:
                raise RunInterrupted(result, exc) from exc
        return result

    def _run_one(self, sample, flags, name, first, model, result: RunResult) -> None:
        version = self.framing.version
        self._ask(CMD["NETWORK_RUN"], param=flags, name=name, opt=1 if first else 0, timeout=self.timeouts["run_ack"])
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
