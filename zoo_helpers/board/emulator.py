"""A host-side emulator of ST's aiValidation firmware: same bytes on the wire, model run on the host.

It answers SYNC, SYS_INFO, NETWORK_INFO, NETWORK_RUN (IO-only, per-layer, perf-only with one
broadcast input element) and DISCONNECT like the firmware (board I/O study, sections 1.3-1.9), and
computes the outputs with LiteRT or TFLM's reference kernels (``runtime``, :mod:`.kernels`). Durations
are *host* times; its model info says ``EMULATED`` so every client labels the numbers "emulated", and
its ``signature`` is the sha256 of the model file (:func:`~zoo_helpers.board.replies.file_signature`), so a
client can tell which file it runs. It reports nothing it did not measure: no per-layer (epoch) records
(its SYNC reply leaves out the OBSERVER capability) and no cycle counters (``counters`` is empty), only
the host time of each run in ``duration``.

Faults for tests (``faults``, one of :data:`FAULTS` each; they hit every run after run number
``fault_at``): ``drop_byte`` (one byte missing from the first output packet), ``bad_header`` (a
corrupted packet header), ``stall`` (stops answering during a run), ``log`` (a log message before
the outputs, which the host must acknowledge), ``disconnect`` (stops serving in the middle of the
outputs). A request that breaks off (a bad packet, a host that stops sending or reading) is
dropped like the firmware would: the emulator empties its input, goes back to 32-byte packets and
waits for the next request; only a closed port ends :meth:`Emulator.serve`.

Command line: ``python -m zoo_helpers.board.emulator --model FILE --listen pty|tcp:PORT``; it prints
the descriptor to connect to (``serial:/dev/pts/N:921600`` or ``socket:127.0.0.1:PORT``). Unknown
values of ``--listen``, ``--protocol`` and ``--fault`` are rejected with the allowed ones.
"""

from __future__ import annotations

import argparse
import os
import socket
import time

import numpy as np

import zoo_helpers.board.codec as codec
import zoo_helpers.board.kernels as kernels
from zoo_helpers.board.codec import CAPABILITY, CMD, ERROR, FORMAT, RUN, STATE, TENSOR_FLAG
from zoo_helpers.board.link import DEFAULT_PAYLOAD, BoardError, BoardLink, Framing, Idle, PortClosed
from zoo_helpers.board.ports import PORT_ERRORS, FdPort, SocketPort
from zoo_helpers.board.replies import file_signature
from zoo_helpers.runtime.footprint import analyze
from zoo_helpers.runtime.models import load_model

EMULATED = "EMULATED on the host (zoo_helpers.board.emulator)"
SCLOCK = 800_000_000
_DTYPE_FORMAT = {np.dtype(np.uint8): FORMAT["U8"], np.dtype(np.int8): FORMAT["S8"],
                 np.dtype(np.float32): FORMAT["FLOAT_B24"], np.dtype(np.int16): FORMAT["S16"]}
FAULTS = ("drop_byte", "bad_header", "stall", "log", "disconnect")
VERSIONS = {"3.1": 0x301, "3.2": 0x302}


class Emulator:
    """Board state machine around a :class:`zoo_helpers.runtime.models.Model`.

    Parameters
    ----------
    model
        The :class:`zoo_helpers.runtime.models.Model` the emulated board runs.
    version
        Protocol ``0x301`` or ``0x302``.
    com_param
        3.2 packet payload after SYS_INFO (32 to 32767; 0 keeps 32-byte packets).
    faults, fault_at
        Faults from :data:`FAULTS` (a name or several), injected in every run after run ``fault_at``.
    """

    def __init__(self, model, version: int = 0x302, com_param: int = 4094, faults: str | tuple[str, ...] = (),
                 fault_at: int = 0, runtime: str = "litert") -> None:
        faults = (faults,) if isinstance(faults, str) else tuple(faults)
        unknown = sorted(set(faults) - set(FAULTS))
        if unknown:
            raise ValueError(f"unknown fault {', '.join(map(repr, unknown))}; use one of {', '.join(FAULTS)}")
        if version not in VERSIONS.values():
            raise ValueError(f"unknown protocol version {version!r}; use one of 0x301, 0x302 (3.1, 3.2)")
        if com_param and not DEFAULT_PAYLOAD <= com_param <= 0x7FFF:
            raise ValueError(f"com_param {com_param!r} is not a 3.2 packet size; use 0 or 32 to 32767")
        self.model, self.version, self.com_param = model, version, com_param if version >= 0x302 else 0
        self.faults, self.fault_at, self.runs = set(faults), int(fault_at), 0
        self.runtime, self.invoke = runtime, kernels.invoker(model, runtime)  # kernels.RUNTIMES

    # --- descriptions -------------------------------------------------------------------------
    def _desc(self, spec, flags: int) -> dict:
        shape = [int(d or 1) for d in spec.shape]
        scale = float(spec.scale[0]) if spec.quantized else 0.0
        zp = int(spec.zero_point[0]) if spec.quantized else 0
        return {"name": spec.name[:63], "format": _DTYPE_FORMAT.get(np.dtype(spec.dtype), FORMAT["FLOAT_B24"]),
                "size": int(np.prod(shape)), "n_dims": len(shape), "dims": shape, "scale": scale,
                "zeropoint": zp, "addr": 0, "flags": flags | TENSOR_FLAG["IN_MEMPOOL"]}

    def model_info(self) -> dict:
        ins = [self._desc(s, TENSOR_FLAG["INPUT"]) for s in self.model.inputs]
        outs = [self._desc(s, TENSOR_FLAG["OUTPUT"]) for s in self.model.outputs]

        return {"name": "network", "rtid": 4 | 1 << 8 | 1 << 16, "signature": file_signature(self.model.path),
                "compile_datetime": "", "runtime_version": 0x0A000000, "tool_version": 0x02000000,
                "n_macc": analyze(self.model.path).maccs,
                "n_nodes": 1, "n_inputs": len(ins), "inputs": ins, "n_outputs": len(outs), "outputs": outs,
                "n_activations": 0, "n_params": 0, "runtime_desc": EMULATED}

    # --- serving ------------------------------------------------------------------------------
    def serve(self, port, idle_timeout: float | None = None) -> None:
        """Answer requests on ``port`` until the port fails or closes, or ``idle_timeout`` s without a request.

        A request that breaks off part-way (bad bytes, a host that stops sending, a reply nobody
        reads for the write deadline) is dropped: :meth:`_drop` and wait for the next one.
        """
        framing = Framing(self.version)
        link = BoardLink(port, framing, packet_timeout=0.5)
        while True:
            try:
                try:
                    raw = link.receive(timeout=idle_timeout if idle_timeout is not None else 3600)
                except Idle:  # between requests (an Idle in the middle of one is a broken request)
                    if idle_timeout is not None:
                        return
                    continue
                if not self._dispatch(link, framing, codec.decode("reqMsg", raw, self.version)):
                    return
            except (PortClosed, EOFError):
                return
            except (BoardError, ValueError, TimeoutError):
                if not self._drop(port, framing):
                    return
            except PORT_ERRORS:
                return

    @staticmethod
    def _drop(port, framing: Framing) -> bool:
        """Forget a broken request: empty the input, back to 32-byte packets. False when the port is gone."""
        try:
            port.reset_input_buffer()
        except PORT_ERRORS:
            return False
        framing.payload = DEFAULT_PAYLOAD
        return True

    def _reply(self, link, req, state: str, **payload) -> None:
        msg = {"reqid": req.get("reqid", 0), "state": STATE[state], **payload}
        link.send(codec.encode("respMsg", msg, self.version))

    def _ack(self, link, req, state: str, param: int = 0, error: str = "NONE") -> None:
        self._reply(link, req, state, ack={"param": param, "error": ERROR[error]})

    def _dispatch(self, link: BoardLink, framing: Framing, req: dict) -> bool:
        cmd = req.get("cmd", 0)
        if cmd == CMD["SYNC"]:
            self._reply(link, req, "IDLE", sync={"version": self.version, "capability": CAPABILITY["READ_WRITE"],
                                                 "rtid": 4 | 1 << 8})  # no OBSERVER: no per-layer records
        elif cmd == CMD["SYS_INFO"]:
            sinfo = {"devid": 0x486, "sclock": SCLOCK, "hclock": SCLOCK // 2, "cache": 0,
                     "extra": [0, 1_000_000_000, 900_000_000]}
            if self.version >= 0x302:
                sinfo["com_param"] = self.com_param
            self._reply(link, req, "IDLE", sinfo=sinfo)
            if self.com_param:
                framing.payload = self.com_param  # switch after the reply, as the firmware does
        elif cmd == CMD["NETWORK_INFO"]:
            if req.get("param", 0) == 0:
                self._reply(link, req, "IDLE", minfo=self.model_info())
            else:
                self._ack(link, req, "ERROR", ERROR["INVALID_PARAM"], "INVALID_PARAM")
        elif cmd == CMD["NETWORK_RUN"]:
            self._run(link, req)
        elif cmd == CMD["DISCONNECT"]:
            framing.payload = 32
        else:
            self._ack(link, req, "ERROR", ERROR["INVALID_PARAM"], "INVALID_PARAM")
        return True

    def _run(self, link: BoardLink, req: dict) -> None:
        mode = req.get("param", RUN["IO_ONLY"])
        const = bool(mode & RUN["CONST_VALUE"])
        feed = {}
        for k, spec in enumerate(self.model.inputs):
            nbytes = int(np.prod([d or 1 for d in spec.shape])) * np.dtype(spec.dtype).itemsize
            self._ack(link, req, "WAITING", nbytes if k == 0 else 0)
            data = codec.decode("aiDataMsg", link.receive(), self.version)
            raw = data.get("datas", b"")
            expected = np.dtype(spec.dtype).itemsize if const else nbytes
            if len(raw) != expected:
                self._ack(link, req, "ERROR", len(raw), "INVALID_SIZE")
                return
            values = np.frombuffer(raw, spec.dtype)
            feed[spec.name] = (np.full(spec.shape, values[0], spec.dtype) if const
                               else values.reshape([d or 1 for d in spec.shape]))
            last = k == len(self.model.inputs) - 1
            self._ack(link, req, "PROCESSING" if last else "WAITING", len(raw))
            codec.decode("ackMsg", link.receive(), self.version)  # the host's ack
        self.runs += 1
        if "stall" in self.faults and self.runs > self.fault_at:
            time.sleep(3600)
        start = time.perf_counter()
        outputs = self.invoke(feed)
        ms = (time.perf_counter() - start) * 1e3
        # no per-layer records even when asked (PER_LAYER): nothing measured them; the host time is all there is
        if "log" in self.faults:
            self._reply(link, req, "PROCESSING", log={"level": 1, "str": "s:config:emulator:log-before-outputs"})
            codec.decode("ackMsg", link.receive(), self.version)
        self._reply(link, req, "PROCESSING", op={  # the host time of the run; no cycle counters (none counted)
            "name": "network", "type": 0, "id": 0, "duration": ms, "counter_type": 0, "counters": [],
            "stack_used": -1, "heap_used": -1})
        perf = bool(mode & RUN["PERF"])
        for k, spec in enumerate(self.model.outputs):
            last = k == len(self.model.outputs) - 1
            flags = (TENSOR_FLAG["OUTPUT"] | (TENSOR_FLAG["LAST"] if last else 0)
                     | (TENSOR_FLAG["NO_DATA"] if perf else 0))
            data = b"" if perf else np.ascontiguousarray(outputs[spec.name]).tobytes()
            if "disconnect" in self.faults and self.runs > self.fault_at:
                raise EOFError("emulated disconnect in the middle of the outputs")
            message = codec.encode("respMsg", {"reqid": req["reqid"], "state": STATE["DONE" if last else "PROCESSING"],
                                               "tensor": {"desc": self._desc(spec, flags),
                                                          "data": {"type": 0, "size": len(data), "addr": 0,
                                                                   "datas": data}}}, self.version)
            packets = link.framing.packets(message, eom_last=True)
            if "drop_byte" in self.faults and self.runs > self.fault_at and k == 0:
                packets[0] = packets[0][:-1]
            if "bad_header" in self.faults and self.runs > self.fault_at and k == 0:
                packets[0] = b"\x7f" * link.framing.header + packets[0][link.framing.header:]
            for packet in packets:
                link.port.write(packet)


def start_in_thread(model, version: int = 0x302, **options):
    """Serve an :class:`Emulator` on a new pty in a daemon thread; returns the open ``serial.Serial`` to it.

    For notebooks and tests that want "a board" in-process. The numbers it reports are host-measured.
    """
    import threading
    import tty

    import serial

    master, slave = os.openpty()
    tty.setraw(slave)
    emulator = Emulator(model, version, **options)
    threading.Thread(target=emulator.serve, args=(FdPort(master, timeout=0.1),), daemon=True).start()
    return serial.Serial(os.ttyname(slave), 921600, timeout=0.1)


def _serve_pty(emulator: Emulator) -> None:
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    print(f"serial:{os.ttyname(slave)}:921600", flush=True)
    emulator.serve(FdPort(master, timeout=0.1))


def _serve_tcp(emulator: Emulator, port: int) -> None:
    with socket.create_server(("127.0.0.1", port)) as server:
        print(f"socket:127.0.0.1:{server.getsockname()[1]}", flush=True)
        while True:
            conn, _ = server.accept()
            with conn:
                emulator.serve(SocketPort(conn))


def parse_listen(spec: str) -> int | None:
    """``--listen``: ``"pty"`` gives ``None``, ``"tcp:PORT"`` the port (0 picks a free one); else ``ValueError``.

    Examples
    --------
    >>> parse_listen("tcp:10000"), parse_listen("pty")
    (10000, None)
    """
    kind, _, port = spec.partition(":")
    if spec == "pty":
        return None
    if kind == "tcp" and port.isdigit() and int(port) < 65536:
        return int(port)
    raise ValueError(f"bad --listen {spec!r}: use 'pty' or 'tcp:PORT' with PORT a number 0-65535 (0: a free port)")


def _listen_arg(spec: str) -> int | None:
    try:
        return parse_listen(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (see the module docstring)."""

    parser = argparse.ArgumentParser(prog="zoo-emulator", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help=".tflite or .onnx model the emulated board runs")
    parser.add_argument("--listen", default="pty", type=_listen_arg, help="'pty' or 'tcp:PORT' (0 picks a free port)")
    parser.add_argument("--protocol", choices=sorted(VERSIONS), default="3.2")
    parser.add_argument("--fault", action="append", default=[], choices=FAULTS,
                        help="inject a fault (see the module docstring); repeat for several")
    parser.add_argument("--fault-at", type=int, default=0, help="the faults hit every run after this many runs")
    parser.add_argument("--runtime", choices=kernels.RUNTIMES, default="litert", help="what computes the outputs")
    args = parser.parse_args(argv)
    emulator = Emulator(load_model(args.model, num_threads=1), VERSIONS[args.protocol], faults=tuple(args.fault),
                        fault_at=args.fault_at, runtime=args.runtime)
    if args.listen is None:
        _serve_pty(emulator)
    else:
        _serve_tcp(emulator, args.listen)


if __name__ == "__main__":
    main()
