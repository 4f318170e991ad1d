"""Transports with pyserial's ``read``/``write`` interface: serial ports, TCP sockets, file descriptors.

Descriptors follow ST's ``ai_runner`` grammar: ``serial``, ``serial:921600``, ``serial:COM6``,
``serial:/dev/ttyACM0:921600`` (integer tokens are the baud rate, the default is 115200, 921600 for
the model zoo's N6 firmware), ``socket:host:port`` (default ``localhost:10000``). Adding ``:spy``
to a serial descriptor hex-logs all traffic with pyserial's ``spy://`` URL. A ``serial`` descriptor
without a port picks the first ST-LINK (USB vendor 0x0483) port found.

Every write has a deadline (a port that takes no data for the timeout raises ``TimeoutError``);
a port that cannot be opened raises :class:`PortUnavailable`, a ``ConnectionError`` naming the
descriptor. :data:`PORT_ERRORS` lists what a failing port can raise (``termios.error`` is no ``OSError``).

A chapter checks its ``board`` descriptor (:func:`check_descriptor`) or its serial ``port``
(:func:`check_port`) in its Setup cell, before the slow work: a malformed one, or a serial device
that does not exist, is a :class:`DescriptorError` naming the parameter and the accepted forms.
Nothing is opened (a TCP address is checked when the Deploy section connects).
"""

from __future__ import annotations

import os
import select
import socket
import sys
from collections.abc import Callable

try:
    from termios import error as _TermiosError
except ImportError:  # Windows: no termios
    _TermiosError = OSError

#: What a port's ``read``/``write``/``reset_input_buffer`` can raise when the device fails or goes away.
PORT_ERRORS = (OSError, EOFError, _TermiosError)
#: Seconds a write may wait for the port to take more data (ST waits 5 s for a per-packet sync).
WRITE_TIMEOUT = 5.0

#: ST-LINK V2-1, V3 and the STM32 USB-CDC VCP product ids, under ST's USB vendor id.
ST_VID = 0x0483
ST_PIDS = (0x374B, 0x374E, 0x374F, 0x3752, 0x3753, 0x3754, 0x5740)


def is_timeout(exc: BaseException) -> bool:
    """A write deadline passed: ``TimeoutError``, or pyserial's ``SerialTimeoutException`` (an ``OSError``)."""
    serial = sys.modules.get("serial")
    return isinstance(exc, TimeoutError) or (serial is not None and isinstance(exc, serial.SerialTimeoutException))


def bound_port(port, write_timeout: float = WRITE_TIMEOUT, timeout: float = 0.1) -> None:
    """Give a pyserial-like port read and write deadlines when it has none (``None`` blocks forever)."""
    if getattr(port, "timeout", 0) is None:
        port.timeout = timeout
    if getattr(port, "write_timeout", 0) is None:
        port.write_timeout = write_timeout


#: The descriptor forms a chapter's ``board`` parameter accepts, for error messages.
DESCRIPTOR_FORMS = ("'' (the emulator), 'serial' (the first ST-LINK port), 'serial:BAUD', 'serial:PORT', "
                    "'serial:PORT:BAUD' (e.g. 'serial:/dev/ttyACM0:921600'), 'socket:HOST:PORT'")


class PortUnavailable(ConnectionError):
    """A port that cannot be opened: no such device, busy, nothing listening at a TCP address."""


class DescriptorError(ValueError):
    """A board descriptor or serial port that is malformed or names no device."""


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
    kind, colon, rest = desc.partition(":")
    if kind == "socket":
        host, _, port = rest.partition(":")
        return "socket", {"host": host or "localhost", "port": tcp_port(port or "10000", desc)}
    if kind != "serial":
        raise DescriptorError(f"unknown descriptor {desc!r}: use 'serial[:PORT][:BAUD]' or 'socket:HOST:PORT'")
    if colon and "" in rest.split(":"):
        raise DescriptorError(f"descriptor {desc!r} has an empty field: use 'serial' alone (the first ST-LINK "
                              "port), or 'serial:PORT', 'serial:BAUD', 'serial:PORT:BAUD'")
    opts = {"port": None, "baudrate": 115200, "spy": False}
    for token in filter(None, rest.split(":")):
        if token.isdigit():
            opts["baudrate"] = int(token)
            if not opts["baudrate"]:
                raise DescriptorError(f"descriptor {desc!r}: the baud rate must be a positive number (921600 for "
                                      "the model zoo's N6 firmware)")
        elif token == "spy":
            opts["spy"] = True
        else:
            opts["port"] = token if not opts["port"] else f"{opts['port']}:{token}"
    return "serial", opts


def tcp_port(text: str, desc: str) -> int:
    """``text`` as a TCP port number (1-65535), or a ``ValueError`` naming ``desc`` and the expected form.

    Examples
    --------
    >>> tcp_port("10000", "socket:localhost:10000")
    10000
    """
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise DescriptorError(f"bad TCP port {text!r} in {desc!r}: use 'socket:HOST:PORT' with PORT a number "
                              "1-65535")
    return int(text)


def check_descriptor(board: str, parameter: str = "board") -> str:
    """A chapter's ``board`` parameter, checked up front: ``""`` (the emulator) or a well-formed descriptor.

    Opens nothing. A serial descriptor's device must exist (``serial`` alone: an ST-LINK port must
    be plugged in); a ``socket`` one is checked for form only. Anything else is a
    :class:`DescriptorError` naming ``parameter`` and the accepted forms (:data:`DESCRIPTOR_FORMS`).

    Examples
    --------
    >>> check_descriptor("")
    ''
    >>> check_descriptor("tcp:x")
    Traceback (most recent call last):
    ...
    zoo_helpers.board.ports.DescriptorError: board='tcp:x': unknown descriptor 'tcp:x': use 'serial[:PORT][:BAUD]' \
or 'socket:HOST:PORT'. Accepted forms: '' (the emulator), 'serial' (the first ST-LINK port), 'serial:BAUD', \
'serial:PORT', 'serial:PORT:BAUD' (e.g. 'serial:/dev/ttyACM0:921600'), 'socket:HOST:PORT'
    """
    if not isinstance(board, str):
        raise DescriptorError(f"{parameter}={board!r}: must be text. Accepted forms: {DESCRIPTOR_FORMS}")
    if not board:
        return board
    try:
        kind, opts = parse_descriptor(board)
    except DescriptorError as exc:
        raise DescriptorError(f"{parameter}={board!r}: {exc}. Accepted forms: {DESCRIPTOR_FORMS}") from None
    if kind == "serial" and opts["port"] is None and not stlink_ports():
        raise DescriptorError(f"{parameter}={board!r}: no ST-LINK serial port is plugged in (USB vendor "
                              f"{ST_VID:#06x}); plug in the board or name its port, e.g. "
                              "'serial:/dev/ttyACM0:921600', or leave it empty for the emulator")
    if kind == "serial" and opts["port"] is not None:
        _check_device(opts["port"], f"{parameter}={board!r}", f"Accepted forms: {DESCRIPTOR_FORMS}")
    return board


def check_port(port: str, parameter: str = "port") -> str:
    """A chapter's serial ``port`` parameter (a device path, no descriptor), checked up front; opens nothing.

    ``""`` passes (the chapter replays recorded data); otherwise the device must exist, else a
    :class:`DescriptorError` naming ``parameter`` and what it may be.

    Examples
    --------
    >>> check_port("")
    ''
    >>> check_port("/dev/ttyNOPE0")
    Traceback (most recent call last):
    ...
    zoo_helpers.board.ports.DescriptorError: port='/dev/ttyNOPE0': no such serial device. Use the board's serial \
device (e.g. /dev/ttyACM0, COM4; plugged in), or leave it empty to replay recorded data
    """
    forms = "Use the board's serial device (e.g. /dev/ttyACM0, COM4; plugged in), or leave it empty to replay " \
            "recorded data"
    if not isinstance(port, str) or port.startswith(("serial:", "socket:")):
        raise DescriptorError(f"{parameter}={port!r}: a device path, not a descriptor. {forms}")
    if port:
        _check_device(port, f"{parameter}={port!r}", forms)
    return port


def _check_device(device: str, label: str, forms: str) -> None:
    """:class:`DescriptorError` unless ``device`` is a character device (POSIX) or a listed port (elsewhere)."""
    import stat

    if os.name == "posix" or device.startswith("/"):
        try:
            mode = os.stat(device).st_mode
        except OSError:
            raise DescriptorError(f"{label}: no such serial device. {forms}") from None
        if not stat.S_ISCHR(mode):
            what = "a folder" if stat.S_ISDIR(mode) else "a file"
            raise DescriptorError(f"{label}: {device} is not a serial device ({what}). {forms}")
        return
    from serial.tools import list_ports

    if device.upper() not in {p.device.upper() for p in list_ports.comports()}:
        raise DescriptorError(f"{label}: no such serial port (not among the ports plugged in). {forms}")


def open_descriptor(desc: str, timeout: float = 0.1, spy_file: str = "board_serial_log.txt",
                    write_timeout: float = WRITE_TIMEOUT):
    """Open a port from a descriptor, with read and write deadlines.

    Raises :class:`PortUnavailable` (a ``ConnectionError`` naming ``desc``) when no port is found,
    it cannot be opened or nothing listens at the TCP address; ``ValueError`` for a malformed descriptor.
    """
    import serial

    kind, opts = parse_descriptor(desc)
    if kind == "socket":
        try:
            return serial.serial_for_url(f"socket://{opts['host']}:{opts['port']}", timeout=timeout,
                                         write_timeout=write_timeout)
        except serial.SerialException as exc:
            raise PortUnavailable(f"cannot connect to {desc!r}: {exc} (is the board or the "
                                  "emulator listening there?)") from exc
    port = opts["port"]
    if port is None:
        ports = stlink_ports()
        if not ports:
            raise PortUnavailable(f"no ST-LINK serial port found for {desc!r} (USB vendor {ST_VID:#06x})")
        port = ports[0]
    url = f"spy://{port}?file={spy_file}" if opts["spy"] else port
    try:
        return serial.serial_for_url(url, baudrate=opts["baudrate"], timeout=timeout, write_timeout=write_timeout)
    except serial.SerialException as exc:
        raise PortUnavailable(f"cannot open {port} at {opts['baudrate']} baud ({desc!r}): {exc}") from exc


def write_all(fd: int, data: bytes, timeout: float, send: Callable[[int, memoryview], int] = os.write) -> None:
    """Write all of ``data`` to a descriptor (blocking or not) with ``send`` (``os.write`` by default).

    Waits until the descriptor is writable before each write, so a full line never blocks for
    good: ``TimeoutError`` when it takes no data for ``timeout`` seconds. On a blocking descriptor
    a write larger than the room left can still block: the ports here make theirs non-blocking.
    """
    view = memoryview(data)
    while view:
        _, ready, _ = select.select([], [fd], [], timeout)
        if not ready:
            raise TimeoutError(f"the port took no data for {timeout:.1f} s (nobody reading?)")
        try:
            view = view[send(fd, view):]
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
    """A file descriptor (a pty master) with a pyserial-like ``read``/``write``, a read timeout, a write deadline.

    The descriptor is made non-blocking, so a write never waits longer than ``write_timeout``
    for a reader that stopped reading.
    """

    def __init__(self, fd: int, timeout: float = 0.1, write_timeout: float = WRITE_TIMEOUT) -> None:
        self.fd, self.timeout, self.write_timeout = fd, timeout, write_timeout
        os.set_blocking(fd, False)

    def fileno(self) -> int:
        return self.fd

    def read(self, n: int) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], self.timeout)
        if not ready:
            return b""
        try:
            data = os.read(self.fd, n)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise EOFError(f"pty closed: {exc}") from exc
        if not data:
            raise EOFError("pty closed")
        return data

    def write(self, data: bytes) -> int:
        write_all(self.fd, data, self.write_timeout)
        return len(data)

    def reset_input_buffer(self) -> None:
        try:
            while select.select([self.fd], [], [], 0)[0]:
                if not os.read(self.fd, 4096):
                    return
        except BlockingIOError:
            return

    def close(self) -> None:
        os.close(self.fd)


class SocketPort(_SelectablePort):
    """A connected TCP socket with a pyserial-like interface (the emulator's side of ``socket:``)."""

    def __init__(self, sock: socket.socket, timeout: float = 0.1, write_timeout: float = WRITE_TIMEOUT) -> None:
        self.sock, self.timeout, self.write_timeout = sock, timeout, write_timeout
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
        """Send all of ``data``; ``TimeoutError`` when the peer takes nothing for ``write_timeout`` s.

        Not ``sendall``: its timeout is the read timeout, too short for a large reply, and a
        timed-out ``sendall`` leaves an unknown part of a packet on the wire.
        """
        write_all(self.sock.fileno(), data, self.write_timeout, self._send)
        return len(data)

    def _send(self, _fd: int, view: memoryview) -> int:
        try:
            return self.sock.send(view)
        except TimeoutError:  # writable, yet no room after all: try again after the next select
            return 0

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
