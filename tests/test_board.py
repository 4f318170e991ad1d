"""Board I/O: codec byte vectors, framing of both versions, fuzzing, client against the emulator, faults."""

import os
import re
import subprocess
import sys
import threading
import time
import tty

import numpy as np
import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo_helpers.board import codec, link
from zoo_helpers.board.client import BoardClient, RunInterrupted
from zoo_helpers.board.emulator import Emulator
from zoo_helpers.board.ports import FdPort, open_descriptor, parse_descriptor
from zoo_helpers.deploy.validation import DIFF

# --- codec -----------------------------------------------------------------------------------------


def test_fixed_byte_vectors_from_the_study():
    sync = codec.varint(10) + codec.encode("reqMsg", {"reqid": 1, "cmd": codec.CMD["SYNC"]})
    assert sync.hex(" ") == "0a 08 01 10 00 18 00 22 00 28 00"
    reply = codec.encode("respMsg", {"reqid": 1, "state": 0, "sync": {"version": 0x301, "capability": 1,
                                                                      "rtid": 0x104}}, 0x301)
    assert reply.hex(" ") == "08 01 10 00 52 08 08 81 06 20 01 28 84 02"
    run = codec.encode("reqMsg", {"reqid": 7, "cmd": codec.CMD["NETWORK_RUN"], "param": 1, "name": "network",
                                  "opt": 1})
    assert (codec.varint(len(run)) + run).hex(" ") == "11 08 07 10 0b 18 01 22 07 6e 65 74 77 6f 72 6b 28 01"
    assert link.Framing(0x301).packets(sync, False)[0].hex()[:4] == "0b0a"
    assert len(link.Framing(0x301).packets(sync, False)[0]) == 33
    assert link.Framing(0x302).packets(sync, False)[0][:2] == b"\x00\x0b"
    assert link.Framing(0x301).packets(reply, True)[0][0] == 0x8E
    assert link.Framing(0x302).packets(reply, True)[0][:2] == b"\x80\x0e"


@pytest.mark.parametrize("version", [0x301, 0x302])
def test_round_trips_of_every_payload(version):
    desc = {"name": "in", "format": codec.FORMAT["S8"], "size": 12, "n_dims": 4, "dims": [1, 2, 2, 3],
            "scale": 0.5, "zeropoint": -128, "addr": 0, "flags": 1}
    payloads = {
        "sync": {"version": version, "capability": 9, "rtid": 0x104},
        "sinfo": {"devid": 0x486, "sclock": 800_000_000, "hclock": 400_000_000, "cache": 0, "extra": [0, 7],
                  **({"com_param": 4094} if version == 0x302 else {})},
        "ack": {"param": 3, "error": 1}, "log": {"level": 2, "str": "s:config:npu_freq:1000"},
        "data": {"type": 0, "size": 3, "addr": 0, "datas": b"\x00\xff\x10"},
        "op": {"name": "network", "type": 0, "id": 0, "duration": 1.5, "counter_type": 65536, "counters": [1, 2],
               "stack_used": -1, "heap_used": -1},
        "tensor": {"desc": desc, "data": {"type": 0, "size": 1, "addr": 0, "datas": b"\x01"}},
        "minfo": {"name": "network", "rtid": 4, "signature": "s", "compile_datetime": "", "runtime_version": 1,
                  "tool_version": 2, "n_macc": 2**40, "n_nodes": 1, "n_inputs": 1, "inputs": [desc],
                  "n_outputs": 1, "outputs": [desc], "n_activations": 0, "n_params": 0, "runtime_desc": "x"},
    }
    for key, payload in payloads.items():
        msg = {"reqid": 5, "state": 2, key: payload}
        assert codec.decode("respMsg", codec.encode("respMsg", msg, version), version) == msg


def test_negative_int32_is_a_ten_byte_varint():
    raw = codec.encode("aiOperatorMsg", {"stack_used": -1})
    assert bytes.fromhex("38ffffffffffffffffff01") in raw
    assert codec.decode("aiOperatorMsg", raw)["stack_used"] == -1


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_fuzzed_bytes_give_only_typed_errors(data):
    for kind in ("respMsg", "reqMsg", "aiModelInfoMsg"):
        try:
            codec.decode(kind, data)
        except codec.CodecError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=3, max_size=3))
def test_fuzzed_headers_are_rejected_or_in_range(raw):
    for version in (0x301, 0x302):
        framing = link.Framing(version)
        try:
            length, _ = framing.decode_header(raw[:framing.header])
            assert 0 <= length <= framing.payload
        except link.FramingError:
            pass


@pytest.mark.parametrize("version", [0x301, 0x302])
def test_a_message_of_exactly_one_payload(version):
    framing = link.Framing(version)
    message = bytes(range(32))
    packets = framing.packets(message, eom_last=True)  # board -> host: full packet, then an empty EOM one
    assert len(packets) == 2 and all(len(p) == framing.packet for p in packets)
    assert framing.decode_header(packets[0][:framing.header]) == (32, False)
    assert framing.decode_header(packets[1][:framing.header]) == (0, True)
    host = framing.packets(codec.varint(31) + message[:31], eom_last=False)  # host -> board: 32 bytes, one packet
    assert len(host) == 1 and framing.decode_header(host[0][:framing.header]) == (32, False)


# --- client against the emulator ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(mirror):
    from zoo_helpers.registry.assets import fetch
    from zoo_helpers.runtime.models import load_model

    return load_model(fetch("movenet_heatmaps_192_int8_pc"), num_threads=1)


def test_packet_handshake_on_a_serial_port_times_out_or_sees_the_hang_up():
    """The 3.1 per-packet handshake (pyserial descriptor path): a silent board is a timeout, a gone one closes."""
    master, slave = os.openpty()
    tty.setraw(slave)
    port = serial.Serial(os.ttyname(slave), 921600, timeout=0.1)
    host = link.HostLink(port, link.Framing(0x301), sync_timeout=0.3)
    try:
        with pytest.raises(link.LinkTimeout, match="no sync byte within 0.30 s after packet 1 of 4"):
            host.send(bytes(100))
        assert os.read(master, 64) == link.Framing(0x301).packets(codec.varint(100) + bytes(100), False)[0]
        os.write(master, link.SYNC_BYTE)  # the board answers one packet, then disappears
        os.close(master)
        with pytest.raises(link.PortClosed):
            host.send(bytes(100))
    finally:
        port.close()


def test_a_port_nobody_reads_is_a_write_timeout_not_a_hang():
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(slave, False)
    try:  # the other end never reads: a megabyte cannot all fit in the line's buffers
        with pytest.raises(link.LinkTimeout, match="took no data"):
            link._write_all(slave, bytes(1 << 20), timeout=0.2)
    finally:
        os.close(master)
        os.close(slave)


def test_packet_reads_on_a_serial_port_end_in_timeout_or_closed():
    """Receiving (pyserial descriptor path): a packet cut short is a timeout, a vanished board is closed."""
    master, slave = os.openpty()
    tty.setraw(slave)
    port = serial.Serial(os.ttyname(slave), 921600, timeout=0.1)
    host = link.HostLink(port, link.Framing(0x301))
    try:
        reply = link.Framing(0x301).packets(bytes(range(40)), eom_last=True)
        os.write(master, b"".join(reply))
        assert host.receive(1.0) == bytes(range(40))
        os.write(master, reply[0][:20])
        with pytest.raises(link.LinkTimeout, match="20 of 33 bytes"):
            host.receive(0.3)
        os.close(master)
        with pytest.raises(link.PortClosed):
            host.receive(1.0)
    finally:
        port.close()


def _pty(emulator):
    master, slave = os.openpty()
    tty.setraw(slave)
    threading.Thread(target=emulator.serve, args=(FdPort(master),), daemon=True).start()
    return serial.Serial(os.ttyname(slave), 921600, timeout=0.1)


def test_emulator_in_a_thread(model):
    from zoo_helpers.board.emulator import start_in_thread

    client = BoardClient.connect(start_in_thread(model, 0x301))
    assert client.framing.version == 0x301 and client.source == "emulated board"


def _inputs(n):
    return np.random.default_rng(n).integers(0, 256, (n, 192, 192, 3), dtype=np.uint8)


@pytest.mark.parametrize("version", [0x301, 0x302])
def test_client_over_a_pty_matches_the_host(model, version):
    client = BoardClient.connect(_pty(Emulator(model, version)))
    assert client.framing.version == version and client.source == "emulated board"
    info = client.model_info()
    assert info["inputs"][0].shape == (1, 192, 192, 3) and info["inputs"][0].zero_point == 127
    x = _inputs(2)
    result = client.invoke(x, progress=False)
    host = model.predict(x)[model.outputs[0].name]
    assert np.array_equal(result.stacked()[model.outputs[0].name], host)
    assert len(result.durations_ms) == 2 and all(d > 0 for d in result.durations_ms)
    perf = client.invoke(x[:1], mode="perf", progress=False)
    assert perf.outputs == {} and len(perf.durations_ms) == 1
    with pytest.raises(ValueError, match="emulated board offers no per-layer records"):
        client.invoke(x[:1], mode="per_layer", progress=False)  # the emulator measures no layers
    with pytest.raises(ValueError, match=r"\(N, 192, 192, 3\) uint8"):
        client.invoke(x.astype(np.float32), progress=False)
    client.close()


def test_client_over_tcp_with_the_emulator_process(model):
    proc = subprocess.Popen([sys.executable, "-m", "zoo_helpers.board.emulator", "--model", str(model.path),
                             "--listen", "tcp:0"], stdout=subprocess.PIPE, text=True)
    try:
        desc = proc.stdout.readline().strip()
        assert desc.startswith("socket:127.0.0.1:")
        client = BoardClient.connect(open_descriptor(desc, timeout=0.1))
        x = _inputs(1)
        result = client.invoke(x, progress=False)
        assert np.array_equal(result.stacked()[model.outputs[0].name], model.predict(x)[model.outputs[0].name])
        client.close()
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.parametrize(("fault", "version"), [("drop_byte", 0x302), ("bad_header", 0x302), ("stall", 0x302),
                                                ("disconnect", 0x302), ("stall", 0x301), ("disconnect", 0x301)])
def test_faults_end_in_typed_errors_and_keep_results(model, fault, version):
    emulator = Emulator(model, version, faults=(fault,), fault_at=2)
    client = BoardClient.connect(_pty(emulator), timeouts={"output": 1.0, "data_ack": 1.0})
    x = _inputs(4)
    with pytest.raises(RunInterrupted) as err:
        client.invoke(x, progress=False)
    partial = err.value.partial
    assert isinstance(err.value.cause, link.BoardError)
    assert len(partial.durations_ms) == 2 and len(partial.outputs[model.outputs[0].name]) == 2
    fresh = BoardClient.connect(_pty(Emulator(model, 0x302)))  # a reset board: resume where it stopped
    done = fresh.invoke(x, progress=False, resume=partial)
    assert np.array_equal(done.stacked()[model.outputs[0].name], model.predict(x)[model.outputs[0].name])


def test_logs_are_acknowledged_and_kept(model):
    client = BoardClient.connect(_pty(Emulator(model, 0x302, faults=("log",))))
    result = client.invoke(_inputs(2), progress=False)
    assert len(result.durations_ms) == 2 and len(client.logs) == 2
    assert client.logs[0][1].startswith("s:config:emulator")


def test_no_board_is_a_clear_error(tmp_path):
    master, slave = os.openpty()  # a port where nothing answers
    port = serial.Serial(os.ttyname(slave), 921600, timeout=0.05)
    with pytest.raises(ConnectionError, match="no board answered"):
        BoardClient.connect(port, timeouts={"sync": 0.2})
    os.close(master)


def test_descriptors():
    assert parse_descriptor("serial")[1] == {"port": None, "baudrate": 115200, "spy": False}
    assert parse_descriptor("serial:COM6:921600:spy")[1] == {"port": "COM6", "baudrate": 921600, "spy": True}
    with pytest.raises(ValueError, match="unknown descriptor"):
        parse_descriptor("usb:1")
    with pytest.raises(ConnectionError):
        open_descriptor("serial:/dev/does-not-exist:921600")


def test_stlink_discovery(monkeypatch):
    from types import SimpleNamespace

    from serial.tools import list_ports

    from zoo_helpers.board import ports

    fake = [SimpleNamespace(device="/dev/ttyUSB0", vid=0x10C4, pid=0xEA60),   # some other USB serial
            SimpleNamespace(device="/dev/ttyACM1", vid=0x0483, pid=0x5740),   # STM32 USB-CDC
            SimpleNamespace(device="/dev/ttyACM0", vid=0x0483, pid=0x374E)]   # ST-LINK V3
    monkeypatch.setattr(list_ports, "comports", lambda: fake)
    assert ports.stlink_ports() == ["/dev/ttyACM0", "/dev/ttyACM1"]
    monkeypatch.setattr(list_ports, "comports", lambda: fake[:1])
    with pytest.raises(ConnectionError, match="no ST-LINK serial port"):
        open_descriptor("serial:921600")


def test_validate_compares_board_and_host(model):
    from zoo_helpers import deploy

    x = _inputs(2)
    result, table = deploy.validate(model, x, "", 0x301, score=lambda o: float(next(iter(o.values())).mean()),
                                    metric="mean heat", runtime="litert")  # the same kernels: the wire is exact
    row = table.iloc[0]
    assert row["measured on"] == "emulated board" and row["protocol"] == "3.1" and row["samples"] == 2
    assert row[DIFF] == 0.0 and row["mean heat on board"] == row["mean heat on host"]
    from zoo_helpers.board.emulator import start_in_thread

    info = BoardClient.connect(start_in_thread(model)).model_info()
    assert info["macc"] > 200e6  # the emulator reports the model's MACCs from the footprint analysis


def test_deploy_commands_run_only_found_tools(tmp_path, monkeypatch):
    import shutil

    from zoo_helpers import deploy
    from zoo_helpers.registry import catalog

    fake = tmp_path / "bin" / "stedgeai"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho \"generated $3\"\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    model = tmp_path / "m.tflite"
    shutil.copy(catalog.path("movenet_lightning_192"), model)
    table = deploy.commands(model, board="serial:/dev/ttyACM0:921600", run=True).set_index("step")
    assert table.loc["generate", "result"] == "ran: exit 0 generated m.tflite"
    assert table.loc["flash", "result"].startswith("shown (STM32_Programmer_CLI not found")
    assert table.loc["copy to MP2", "result"].startswith("shown")  # no MP2 host given: never run
    shown = deploy.commands(model).set_index("step")
    assert shown.loc["generate", "result"] == "shown"
    # one builder: the line is app_config's, with the file's own input type (float for ST's face ONNX)
    face = catalog.path("st_face_landmarks_192")
    line = deploy.commands(face).set_index("step").loc["generate", "command"]
    assert line == deploy.appconfig.generate_command(face).replace(str(face), face.name)
    assert "--input-data-type float32" in line and "--input-data-type uint8" in shown.loc["generate", "command"]


# --- bad input and faults: nothing hangs, nothing is lost, nothing is silently wrong ----------------------


def _bounded(fn, seconds):
    """Run ``fn`` in a thread with a hard time limit; returns what it returned or raised (a hang fails the test)."""
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001  (handed back to the test)
            box["value"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds} s"
    return box["value"]


def test_after_a_dropped_byte_the_same_client_resyncs_within_a_bound(model):
    emulator = Emulator(model, 0x302, faults=("drop_byte",), fault_at=2)
    client = BoardClient.connect(_pty(emulator), timeouts={"output": 1.0, "data_ack": 1.0})
    x = _inputs(4)
    partial = None
    for _ in range(5):  # the fault hits every run from the third: each resume resyncs, then fails again, typed
        err = _bounded(lambda p=partial: client.invoke(x, progress=False, resume=p), 8)
        assert isinstance(err, RunInterrupted) and isinstance(err.cause, link.FramingError), repr(err)
        partial = err.partial
        assert len(partial.durations_ms) == 2
    emulator.faults.clear()  # the glitch is over: the same client, resynchronised, finishes the run
    done = _bounded(lambda: client.invoke(x, progress=False, resume=partial), 8)
    assert np.array_equal(done.stacked()[model.outputs[0].name], model.predict(x)[model.outputs[0].name])


@pytest.mark.parametrize("version", [0x301, 0x302])
def test_after_a_stall_the_same_client_says_the_board_needs_a_reset(model, version):
    from zoo_helpers.board.client import NeedsReset

    client = BoardClient.connect(_pty(Emulator(model, version, faults=("stall",), fault_at=1)),
                                 timeouts={"output": 0.5})
    x = _inputs(2)
    with pytest.raises(RunInterrupted) as err:
        client.invoke(x, progress=False)
    again = _bounded(lambda: client.invoke(x, progress=False, resume=err.value.partial), 10)
    assert isinstance(again, RunInterrupted) and isinstance(again.cause, NeedsReset), repr(again)
    assert "reset the board" in str(again.cause) and len(again.partial.durations_ms) == 1


def test_port_errors_are_typed_termios_included():
    import termios

    class Dead:
        timeout = write_timeout = 0.1

        def _fail(self, *_):
            raise termios.error(5, "Input/output error")

        read = write = reset_input_buffer = flush = close = _fail

    with pytest.raises(link.PortClosed, match="Input/output error"):
        BoardClient.connect(Dead(), protocol="3.2")
    client = BoardClient(Dead(), link.Framing(0x302))
    with pytest.raises(link.PortClosed):
        client.request(codec.CMD["SYNC"])
    client.in_sync = False  # a resync on a dead port is a closed port too
    with pytest.raises(link.PortClosed):
        client.resync()
    client.close()  # closing a dead port raises nothing


def test_every_write_has_a_deadline():
    master, slave = os.openpty()
    tty.setraw(slave)
    port = serial.Serial(os.ttyname(slave), 921600, timeout=None)  # no deadlines at all, as a user might open it
    try:
        host = link.HostLink(port, link.Framing(0x302, payload=0x7FFF), write_timeout=0.3)
        assert port.timeout is not None and port.write_timeout is not None
        err = _bounded(lambda: [host.send(bytes(0x7F00)) for _ in range(64)], 5)  # nobody reads the other end
        assert isinstance(err, link.LinkTimeout), repr(err)
        board = FdPort(master, write_timeout=0.3)  # the emulator's side: a host that stopped reading
        err = _bounded(lambda: board.write(bytes(1 << 20)), 5)
        assert isinstance(err, TimeoutError), repr(err)
    finally:
        port.close()
        os.close(master)


def test_a_board_running_another_model_is_named(model):
    from zoo_helpers.board.client import ModelMismatch
    from zoo_helpers.registry.assets import fetch
    from zoo_helpers.runtime.models import load_model

    other = load_model(fetch("st_movenet_heatmaps_192_int8_pc"), num_threads=1)  # 13 keypoints, not 17
    with pytest.raises(ModelMismatch, match=r"output 0 is \(1, 48, 48, 13\) on the board, \(1, 48, 48, 17\) expected"):
        BoardClient.connect(_pty(Emulator(other, 0x302)), expect=model)
    client = BoardClient.connect(_pty(Emulator(model, 0x302)), expect=model)  # the same model passes
    client.check_model(model)


def test_descriptor_errors_name_the_descriptor(model, capsys):
    import socket

    from zoo_helpers.board import emulator

    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    for call in (open_descriptor, BoardClient.connect):
        with pytest.raises(ConnectionError, match=f"socket:127.0.0.1:{free}"):
            call(f"socket:127.0.0.1:{free}")
    for desc in ("socket:localhost:notaport", "socket:localhost:70000"):
        with pytest.raises(ValueError, match=f"'{desc}'.*'socket:HOST:PORT'"):
            parse_descriptor(desc)
    with pytest.raises(SystemExit):
        emulator.main(["--model", str(model.path), "--listen", "tcp:notaport"])
    assert "'tcp:notaport': use 'pty' or 'tcp:PORT'" in capsys.readouterr().err
    with socket.create_server(("127.0.0.1", 0)) as server:  # a socket port gets a write deadline too
        assert open_descriptor(f"socket:127.0.0.1:{server.getsockname()[1]}").write_timeout is not None


class _ScriptedBoard:
    """A port whose board answers each request with ``answer(request) -> respMsg bytes``, packetised like the host's."""

    timeout = write_timeout = 0.01

    def __init__(self, version, answer):
        self.framing, self.answer = link.Framing(version), answer
        self.out, self.message = bytearray(), bytearray()

    def write(self, packet):
        self.framing.payload = len(packet) - self.framing.header  # the host's packet size is the board's
        length, _ = self.framing.decode_header(packet[:self.framing.header])
        self.message += packet[self.framing.header:self.framing.header + length]
        size, start = codec.read_varint(bytes(self.message), 0)
        if len(self.message) - start < size:
            self.out += link.SYNC_BYTE
            return len(packet)
        request = codec.decode("reqMsg", bytes(self.message[start:start + size]), self.framing.version)
        self.message.clear()
        self.out += b"".join(self.framing.packets(self.answer(request), eom_last=True))
        return len(packet)

    def read(self, n):
        data = bytes(self.out[:n])
        del self.out[:n]
        return data

    def reset_input_buffer(self):
        self.out.clear()

    def close(self):
        pass


def _reply(request, version, **payload):
    return codec.encode("respMsg", {"reqid": request["reqid"], "state": 0, **payload}, version)


def test_connect_on_a_reply_that_is_not_sync_says_what_came():
    from zoo_helpers.board.client import ProtocolError

    ack = {"param": 0, "error": 0}
    board = _ScriptedBoard(0x302, lambda req: _reply(req, 0x302, ack=ack))
    with pytest.raises(ProtocolError, match=r"answered SYNC with an ack message \{'param': 0, 'error': 0\} instead"):
        BoardClient.connect(board, protocol="3.2")

    def sync_then_ack(req):
        sync = {"version": 0x302, "capability": 1, "rtid": 0}
        return _reply(req, 0x302, **({"sync": sync} if req["cmd"] == codec.CMD["SYNC"] else {"ack": ack}))

    with pytest.raises(ProtocolError, match="answered SYS_INFO with an ack message .* instead of a sinfo message"):
        BoardClient.connect(_ScriptedBoard(0x302, sync_then_ack), protocol="3.2")


def test_fuzzed_replies_to_connect_give_typed_errors_or_a_client():
    rng = np.random.default_rng(20240611)
    kinds = [None, "sync", "sinfo", "ack", "log", "data", "op", "tensor", "minfo"]

    def fuzz(version):
        def answer(req):
            if rng.random() < 0.2:
                return rng.bytes(int(rng.integers(0, 80)))  # garbage in well-formed packets
            kind = kinds[int(rng.integers(len(kinds)))] if rng.random() < 0.3 else \
                {0: "sync", 1: "sinfo"}.get(req.get("cmd"), "ack" if req.get("param") else "minfo")  # mostly right
            body = {"sync": {"version": int(rng.choice([version, version, 0x300, 0x301, 0x302, 0x403])),
                             "capability": 1, "rtid": 0},
                    "sinfo": {"devid": 0x486, "com_param": int(rng.choice([0, 32, 4094, 1, 1 << 16, 2**32 - 1]))},
                    }.get(kind, {}) if kind else None
            msg = {"reqid": req.get("reqid", 0) if rng.random() < 0.9 else int(rng.integers(0, 4)),
                   "state": 4 if rng.random() < 0.1 else 0, **({kind: body} if kind else {})}
            return codec.encode("respMsg", msg, version)
        return answer

    outcomes = {}
    for i in range(500):
        version = (0x301, 0x302)[i % 2]
        try:
            BoardClient.connect(_ScriptedBoard(version, fuzz(version)), protocol=f"3.{version & 0xF}",
                                timeouts={"sync": 0.01, "info": 0.01})
            outcome = "connected"
        except (link.BoardError, codec.CodecError) as exc:
            outcome = type(exc).__name__
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert outcomes.get("connected", 0) > 10 and outcomes.get("ProtocolError", 0) > 50, outcomes


def test_unknown_enumerated_options_are_rejected_with_the_allowed_values(model, capsys):
    from zoo_helpers.board import emulator

    with pytest.raises(ValueError, match="unknown fault 'stal'; use one of drop_byte, bad_header, stall, log"):
        Emulator(model, faults=("stal",))
    with pytest.raises(ValueError, match="unknown fault 'stal'"):
        emulator.start_in_thread(model, faults="stal")
    with pytest.raises(ValueError, match="use one of 0x301, 0x302"):
        Emulator(model, version=0x303)
    with pytest.raises(ValueError, match="use 0 or 32 to 32767"):
        Emulator(model, com_param=5)
    for option, value, allowed in (("--fault", "stal", "'stall'"), ("--protocol", "3.3", "'3.2'"),
                                   ("--listen", "serial", "'pty' or 'tcp:PORT'")):
        with pytest.raises(SystemExit):
            emulator.main(["--model", str(model.path), option, value])
        assert allowed in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown protocol '3.3'; use one of 'auto', '3.2', '3.1'"):
        BoardClient.connect(_ScriptedBoard(0x302, None), protocol="3.3")


# --- round two (#26): models that differ, replies that are no message, endless replies, descriptors ---------


def test_the_emulator_sends_no_epochs_or_cycle_counts_it_did_not_measure(model):
    from zoo_helpers.board.codec import CAPABILITY

    client = BoardClient.connect(_pty(Emulator(model, 0x302)))
    assert not client.capability & CAPABILITY["OBSERVER"]  # it does not offer per-layer records
    client.capability |= CAPABILITY["OBSERVER"]  # ask anyway: the emulator must still send none
    result = client.invoke(_inputs(1), mode="per_layer", progress=False)
    assert result.layers == [[]] and result.counters == [[]]
    assert result.source == "emulated board" and result.durations_ms[0] > 0  # the host time, labelled emulated
    assert client.invoke(_inputs(1), progress=False).counters == [[]]
    client.close()


@pytest.fixture(scope="module")
def yolo_pc_pt(mirror):
    from zoo_helpers.registry.assets import fetch
    from zoo_helpers.runtime.models import load_model

    return [load_model(fetch(f"yolov8n_pose_256_int8_{g}"), num_threads=1) for g in ("pc", "pt")]


def test_a_board_running_another_file_of_the_same_shapes_is_refused(yolo_pc_pt):
    """ST's per-channel and per-tensor YOLOv8n files: same shapes, types and quantization, different weights."""
    from zoo_helpers import deploy
    from zoo_helpers.board.client import ModelMismatch

    pc, pt = yolo_pc_pt
    assert [(s.shape, s.dtype) for s in pc.inputs + pc.outputs] == [(s.shape, s.dtype) for s in pt.inputs + pt.outputs]
    master, slave = os.openpty()  # the emulator of the per-tensor file, reached by its descriptor as a board
    tty.setraw(slave)
    threading.Thread(target=Emulator(pt, 0x302).serve, args=(FdPort(master),), daemon=True).start()
    board = f"serial:{os.ttyname(slave)}:921600"
    try:
        with pytest.raises(ModelMismatch, match=r"the board runs the file with sha256:09fe0e207610dd21.*not "
                                                r"yolov8n_256_quant_pc_uf_pose_coco-st\.tflite \(sha256:e2666d331d5e"):
            deploy.validate(pc, np.zeros((1, 256, 256, 3), np.uint8), board)
        client = BoardClient.connect(board, expect=pt)  # the file it runs passes
        client.close()
    finally:
        os.close(slave)


def test_a_float_input_board_against_a_uint8_host_model_says_the_input_types_differ(model):
    from zoo_helpers.board.client import ModelMismatch

    info = Emulator(model, 0x302).model_info()
    info["inputs"][0] = {**info["inputs"][0], "format": codec.FORMAT["FLOAT_B24"], "scale": 0.0, "zeropoint": 0}

    def board(req):
        if req["cmd"] == codec.CMD["SYNC"]:
            return _reply(req, 0x302, sync={"version": 0x302, "capability": 0, "rtid": 0})
        if req["cmd"] == codec.CMD["SYS_INFO"]:
            return _reply(req, 0x302, sinfo={"devid": 0x486, "com_param": 0})
        if req["param"] == 0:
            return _reply(req, 0x302, minfo=info)
        return codec.encode("respMsg", {"reqid": req["reqid"], "state": 4, "ack": {"param": 4, "error": 4}}, 0x302)

    with pytest.raises(ModelMismatch, match="input 0 is float32 on the board, uint8 on the host: the models' input "
                                            "types differ"):
        BoardClient.connect(_ScriptedBoard(0x302, board), protocol="3.2", expect=model)


def _right_answer(req, version):
    """What a board with one small model answers each request of connect."""
    desc = {"name": "x", "format": codec.FORMAT["U8"], "size": 4, "n_dims": 2, "dims": [1, 4], "scale": 0.5,
            "zeropoint": 0, "addr": 0, "flags": 1}
    if req["cmd"] == codec.CMD["SYNC"]:
        return _reply(req, version, sync={"version": version, "capability": 0, "rtid": 0})
    if req["cmd"] == codec.CMD["SYS_INFO"]:
        return _reply(req, version, sinfo={"devid": 0x486, **({"com_param": 0} if version == 0x302 else {})})
    if req["param"] == 0:
        return _reply(req, version, minfo={"name": "network", "inputs": [desc], "outputs": [desc]})
    return codec.encode("respMsg", {"reqid": req["reqid"], "state": 4, "ack": {"param": 4, "error": 4}}, version)


_PAYLOAD_KINDS = ["sync", "sinfo", "ack", "log", "data", "op", "tensor", "minfo"]
_FUZZED_REPLY = st.one_of(
    st.binary(max_size=80),  # garbage in well-formed packets (most of it is no message: field number 0, ...)
    st.tuples(st.sampled_from([None, *_PAYLOAD_KINDS]), st.booleans(), st.sampled_from([0, 2, 4]),
              st.sampled_from([0x300, 0x301, 0x302, 0x403]), st.sampled_from([0, 1, 32, 4094, 1 << 16])),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([0x301, 0x302]), st.lists(_FUZZED_REPLY, min_size=1, max_size=5))
def test_fuzzed_replies_to_connect_name_the_command_and_what_to_do(version, script):
    """Each request of connect gets the next fuzzed reply, then right ones: a client, or a BoardError that names
    the request (SYNC, SYS_INFO, NETWORK_INFO k) and says what to do; never a bare CodecError."""
    replies = list(script)

    def answer(req):
        if not replies:
            return _right_answer(req, version)
        reply = replies.pop(0)
        if isinstance(reply, bytes):
            return reply
        kind, right_id, state, sync_version, com_param = reply
        body = {"sync": {"version": sync_version, "capability": 0, "rtid": 0},
                "sinfo": {"devid": 0x486, **({"com_param": com_param} if version == 0x302 else {})}}.get(kind, {})
        return codec.encode("respMsg", {"reqid": req["reqid"] if right_id else req["reqid"] + 1, "state": state,
                                        **({kind: body} if kind else {})}, version)

    try:
        BoardClient.connect(_ScriptedBoard(version, answer), protocol=f"3.{version & 0xF}",
                            timeouts={"sync": 0.01, "info": 0.01})
    except Exception as exc:  # noqa: BLE001  (the type is the assertion)
        assert isinstance(exc, link.BoardError) and not isinstance(exc, codec.CodecError), repr(exc)
        assert re.search(r"\b(SYNC|SYS_INFO|NETWORK_INFO \d+)\b", str(exc)), str(exc)
        assert "reset the board" in str(exc) or "firmware" in str(exc), str(exc)


class _Endless:
    """A board that never ends its reply: packets without end-of-message, as fast as they are read, or a byte
    at a time (``trickle``, seconds per byte)."""

    timeout = write_timeout = 0.01

    def __init__(self, framing, trickle=0.0):
        self.packet, self.trickle = framing.packets(bytes(framing.payload), eom_last=False)[0], trickle
        self.pos = 0

    def read(self, n):
        if self.trickle:
            time.sleep(self.trickle)
            n = 1
        out = bytes(self.packet[(self.pos + k) % len(self.packet)] for k in range(n))
        self.pos += n
        return out


def test_a_board_that_keeps_sending_is_a_timeout_at_the_deadline_and_a_reply_has_a_size_cap():
    framing = link.Framing(0x302)
    for port in (_Endless(framing), _Endless(framing, trickle=0.002)):
        start = time.monotonic()
        err = _bounded(lambda p=port: link.HostLink(p, framing).receive(0.3), 3)
        assert isinstance(err, link.LinkTimeout) and "the reply did not end within 0.30 s" in str(err), repr(err)
        assert time.monotonic() - start < 1.0
    err = _bounded(lambda: link.HostLink(_Endless(framing), framing, max_reply=1000).receive(30), 3)
    assert isinstance(err, link.FramingError) and "passed 1000 bytes" in str(err), repr(err)


def test_a_board_that_keeps_sending_on_a_serial_port_is_a_timeout_at_the_deadline():
    master, slave = os.openpty()
    tty.setraw(slave)
    port = serial.Serial(os.ttyname(slave), 921600, timeout=0.1)
    framing, stop = link.Framing(0x302), threading.Event()
    packet = framing.packets(bytes(32), eom_last=False)[0]

    def flood():
        while not stop.is_set():
            try:
                os.write(master, packet * 8)
            except OSError:
                return

    threading.Thread(target=flood, daemon=True).start()
    try:
        err = _bounded(lambda: link.HostLink(port, framing).receive(0.3), 3)
        assert isinstance(err, link.LinkTimeout) and "the reply did not end within 0.30 s" in str(err), repr(err)
    finally:
        stop.set()
        port.close()
        os.close(master)


def test_board_descriptors_and_ports_are_checked_up_front_opening_nothing(tmp_path, monkeypatch):
    from serial.tools import list_ports

    from zoo_helpers import deploy
    from zoo_helpers.board.ports import DescriptorError, check_descriptor, check_port

    def refuse(*_, **__):
        raise AssertionError("the check opened a port")

    monkeypatch.setattr(serial, "Serial", refuse)
    monkeypatch.setattr(serial, "serial_for_url", refuse)
    monkeypatch.setattr(list_ports, "comports", lambda: [])
    (tmp_path / "file").write_text("")
    bad = {"serial:": "empty field", "tcp:x": "unknown descriptor", "socket:host:notaport": "bad TCP port",
           "serial::921600": "empty field", "serial:0": "baud rate", "serial:/dev/ttyNOPE0:921600": "no such serial",
           f"serial:{tmp_path / 'file'}": "not a serial device (a file)", "serial": "no ST-LINK serial port"}
    for desc, why in bad.items():
        with pytest.raises(DescriptorError, match=f"board='{desc}'") as err:
            deploy.check_board(desc)
        assert why in str(err.value) and "serial:/dev/ttyACM0:921600" in str(err.value), str(err.value)
    master, slave = os.openpty()
    try:
        good = f"serial:{os.ttyname(slave)}:921600"
        assert check_descriptor(good) == good and check_descriptor("socket:localhost:10000") == "socket:localhost:10000"
        assert check_port(os.ttyname(slave)) == os.ttyname(slave) and check_port("") == ""
    finally:
        os.close(master)
        os.close(slave)
    with pytest.raises(DescriptorError, match=r"port='/dev/ttyNOPE0': no such serial device.*/dev/ttyACM0"):
        check_port("/dev/ttyNOPE0")
    with pytest.raises(DescriptorError, match="a device path, not a descriptor"):
        check_port("serial:/dev/ttyACM0")


def test_a_missing_tof_port_is_a_typed_error_naming_it():
    from zoo_helpers.board import tof
    from zoo_helpers.board.ports import PortUnavailable

    with pytest.raises(PortUnavailable, match="'/dev/ttyNOPE0'"):
        tof.open_source("/dev/ttyNOPE0", np.zeros((4, 64, 1)), np.zeros(1))
