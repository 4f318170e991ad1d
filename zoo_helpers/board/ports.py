"""Transports with pyserial's ``read``/``write`` interface: serial ports, TCP sockets, file descriptors.

Descriptors follow ST's ``ai_runner`` grammar: ``serial``, ``serial:921600``, ``serial:COM6``,
``serial:/dev/ttyACM0:921600`` (integer tokens are the baud rate, the default is 115200, 921600 for
the model zoo's N6 firmware), ``socket:host:port`` (default ``localhost:10000``). Adding ``:spy``
to a serial descriptor hex-logs all traffic with pyserial's ``spy://`` URL. A ``serial`` descriptor
without a port picks the first ST-LINK (USB vendor 0x0483) port found.
"""

from __future__ import annotations

import os
import select
import socket

#: ST-LINK V2-1, V3 and the STM32 USB-CDC VCP product ids, under ST's USB vendor id.
ST_VID = 0x0483
ST_PIDS = (0x374B, 0x374E, 0x374F, 0x3752, 0x3753, 0x3754, 0x5740)


def stlink_ports() -> list[str]:
    """Serial ports that belong to an ST-LINK (or an STM32 USB-CDC device), ST-LINK first."""
    from serial.tools import list_ports

    found = [p for p in list_ports.comports() if p.vid == ST_VID and (p.pid in ST_PIDS or p.pid is None)]
    found.sort(key=lambda p: p.pid == 0x5740)
    return [p.device for p in found]


def parse_descriptor(desc: str) -> tuple[str, dict]:
    """Split an ``ai_runner``-style descriptor into ``(kind, options)``.

    Examples
    --------
    >>> parse_descriptor("serial:/dev/ttyACM0:921600")
    ('serial', {'port': '/dev/ttyACM0', 'baudrate': 921600, 'spy': False})
    >>> parse_descriptor("socket:127.0.0.1:10001")
    ('socket', {'host': '127.0.0.1', 'port': 10001})
    """
    kind, _, rest = desc.partition(":")
    if kind == "socket":
        host, _, port = rest.partition(":")
        return "socket", {"host": host or "localhost", "port": int(port or 10000)}
    if kind != "serial":
        raise ValueError(f"unknown descriptor {desc!r}: use 'serial[:PORT][:BAUD]' or 'socket:HOST:PORT'")
    opts = {"port": None, "baudrate": 115200, "spy": False}
    for token in filter(None, rest.split(":")):
        if token.isdigit():
            opts["baudrate"] = int(token)
        elif token == "spy":
            opts["spy"] = True
        else:
            opts["port"] = token if not opts["port"] else f"{opts['port']}:{token}"
    return "serial", opts


def open_descriptor(desc: str, timeout: float = 0.1, spy_file: str = "board_serial_log.txt"):
    """Open a port from a descriptor; clear errors when no port is found or it cannot be opened."""
    import serial

    kind, opts = parse_descriptor(desc)
    if kind == "socket":
        return serial.serial_for_url(f"socket://{opts['host']}:{opts['port']}", timeout=timeout)
    port = opts["port"]
    if port is None:
        ports = stlink_ports()
        if not ports:
            raise ConnectionError(f"no ST-LINK serial port found for {desc!r} (USB vendor {ST_VID:#06x})")
        port = ports[0]
    url = f"spy://{port}?file={spy_file}" if opts["spy"] else port
    try:
        return serial.serial_for_url(url, baudrate=opts["baudrate"], timeout=timeout)
    except serial.SerialException as exc:
        raise ConnectionError(f"cannot open {port} at {opts['baudrate']} baud: {exc}") from exc


def write_all(fd: int, data: bytes, timeout: float) -> None:
    """Write all of ``data`` to a descriptor (blocking or not).

    Waits until the descriptor is writable before each write, so a full line never blocks for
    good: ``TimeoutError`` when it takes no data for ``timeout`` seconds.
    """
    view = memoryview(data)
    while view:
        _, ready, _ = select.select([], [fd], [], timeout)
        if not ready:
            raise TimeoutError(f"the port took no data for {timeout:.1f} s (nobody reading?)")
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            continue


class _SelectablePort:
    """What the emulator's ports share: readiness is asked of ``select`` through ``fileno()``."""

    def fileno(self) -> int:
        raise NotImplementedError

    def peek(self, timeout: float) -> bool:
        """True when a byte is ready to read within ``timeout`` (EOF counts: the next read reports it)."""
        return bool(select.select([self], [], [], timeout)[0])


class FdPort(_SelectablePort):
    """A file descriptor (a pty master) with a pyserial-like ``read``/``write`` and a read timeout."""

    def __init__(self, fd: int, timeout: float = 0.1) -> None:
        self.fd, self.timeout = fd, timeout

    def fileno(self) -> int:
        return self.fd

    def read(self, n: int) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], self.timeout)
        if not ready:
            return b""
        try:
            data = os.read(self.fd, n)
        except OSError as exc:
            raise EOFError(f"pty closed: {exc}") from exc
        if not data:
            raise EOFError("pty closed")
        return data

    def write(self, data: bytes) -> int:
        write_all(self.fd, data, 5.0)
        return len(data)

    def reset_input_buffer(self) -> None:
        while select.select([self.fd], [], [], 0)[0]:
            if not os.read(self.fd, 4096):
                return

    def close(self) -> None:
        os.close(self.fd)


class SocketPort(_SelectablePort):
    """A connected TCP socket with a pyserial-like interface (the emulator's side of ``socket:``)."""

    def __init__(self, sock: socket.socket, timeout: float = 0.1) -> None:
        self.sock, self.timeout = sock, timeout
        sock.settimeout(timeout)

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self, n: int) -> bytes:
        try:
            data = self.sock.recv(n)
        except TimeoutError:
            return b""
        if not data:
            raise EOFError("socket closed by the peer")
        return data

    def write(self, data: bytes) -> int:
        self.sock.sendall(data)
        return len(data)

    def reset_input_buffer(self) -> None:
        self.sock.setblocking(False)
        try:
            while self.sock.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        finally:
            self.sock.settimeout(self.timeout)

    def close(self) -> None:
        self.sock.close()
