"""Link layer of ST's validation protocol: fixed-size packets, headers, per-packet sync, timeouts.

Both wire variants (board I/O study, section 1.3):

=========  ===============================================  ==========================================
           3.1                                              3.2
=========  ===============================================  ==========================================
header     1 byte: bits 0-6 length, bit 7 end of message    2 bytes big-endian: 0x80 end of message,
                                                            15 bits length
payload    32 bytes                                         32, then ``com_param`` after SYS_INFO
=========  ===============================================  ==========================================

Host -> board: ``varint(len) + message``, cut into payload-size chunks, each sent padded to a full
packet; after every packet but the last the host waits for one sync byte (the board sends 0xAA).
Board -> host: the bare message, full packets, the last one flagged end-of-message (an empty EOM
packet when the length is a multiple of the payload size). Every read and write has a deadline: a
missing byte or a port taking no data is a :class:`LinkTimeout`, a bad header a :class:`FramingError`,
a failing port (:data:`~zoo_helpers.board.ports.PORT_ERRORS`) :class:`PortClosed`; nothing hangs. The
deadline of a read holds whether or not bytes keep coming (a board that never ends its message is a
:class:`LinkTimeout` at the deadline), and a reply longer than :data:`MAX_REPLY` is a :class:`FramingError`.
"""

from __future__ import annotations

import os
import select
import time

from zoo_helpers.board.codec import read_varint, varint
from zoo_helpers.board.ports import PORT_ERRORS, WRITE_TIMEOUT, bound_port, is_timeout, write_all

SYNC_BYTE = b"\xaa"
DEFAULT_PAYLOAD = 32
#: Largest request the board end accepts (bytes).
MAX_MESSAGE = 64 << 20
#: Largest reply the host end accepts (bytes): more than any output tensor of the zoo's models, far less than memory.
MAX_REPLY = 64 << 20


class BoardError(RuntimeError):
    """Base class of board communication errors."""


class LinkTimeout(BoardError, TimeoutError):
    """The other side did not send the expected bytes in time."""


class Idle(LinkTimeout):
    """No request started within the wait (the emulator's idle timeout)."""


class FramingError(BoardError):
    """A packet header that cannot be right (length larger than the payload, bad flags)."""


class PortClosed(BoardError, ConnectionError):
    """The port failed or was closed (a board unplugged, a socket reset)."""


class Framing:
    """Packet layout of one protocol version (``0x301`` or ``0x302``); the payload size may change."""

    def __init__(self, version: int, payload: int = DEFAULT_PAYLOAD) -> None:
        if version not in (0x301, 0x302):
            raise ValueError(f"unsupported protocol version {version:#x}; use 0x301 or 0x302")
        self.version, self.payload = version, payload
        self.header = 1 if version == 0x301 else 2

    @property
    def packet(self) -> int:
        """Bytes of one packet on the wire."""
        return self.header + self.payload

    def encode_header(self, length: int, eom: bool) -> bytes:
        if self.header == 1:
            return bytes([(0x80 if eom else 0) | length])
        return bytes([(0x80 if eom else 0) | (length >> 8) & 0x7F, length & 0xFF])

    def decode_header(self, raw: bytes) -> tuple[int, bool]:
        if self.header == 1:
            length, eom = raw[0] & 0x7F, bool(raw[0] & 0x80)
        else:
            length, eom = ((raw[0] & 0x7F) << 8) | raw[1], bool(raw[0] & 0x80)
        if length > self.payload:
            raise FramingError(f"packet header announces {length} bytes in a {self.payload}-byte payload")
        return length, eom

    def packets(self, data: bytes, eom_last: bool) -> list[bytes]:
        """Cut ``data`` into padded packets (an extra empty EOM packet when ``eom_last`` and it fits exactly)."""
        chunks = [data[i:i + self.payload] for i in range(0, len(data), self.payload)] or [b""]
        if eom_last and len(chunks[-1]) == self.payload:
            chunks.append(b"")
        out = []
        for k, chunk in enumerate(chunks):
            last = k == len(chunks) - 1
            out.append(self.encode_header(len(chunk), eom_last and last) + chunk.ljust(self.payload, b"\0"))
        return out


def read_exact(port, n: int, timeout: float) -> bytes:
    """Read exactly ``n`` bytes before ``timeout`` seconds pass, or raise :class:`LinkTimeout`."""
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = port.read(n - len(buf))
        except PORT_ERRORS as exc:
            raise PortClosed(f"port failed while reading: {exc}") from exc
        buf += chunk
        if len(buf) < n and time.monotonic() > deadline:  # checked after every read, bytes or not
            raise LinkTimeout(f"timed out after {timeout:.2f} s with {len(buf)} of {n} bytes")
    return bytes(buf)


def _wait_for_byte(port, timeout: float) -> bool:
    """Wait for the first byte of a packet; leaves it in the port by peeking when possible."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            waiting = getattr(port, "in_waiting", None)
            if waiting is None:  # ports without in_waiting: FdPort / SocketPort peek
                if port.peek(0.1):
                    return True
            elif waiting:
                return True
            else:
                time.sleep(0.005)
    except PORT_ERRORS as exc:
        raise PortClosed(f"port failed while waiting for data: {exc}") from exc
    return False


def write(port, data: bytes, timeout: float = WRITE_TIMEOUT) -> None:
    """Write ``data``, :class:`LinkTimeout` after ``timeout`` s without progress, :class:`PortClosed` on failure.

    A pyserial POSIX port is written through its descriptor, never ``flush``-ed (``tcdrain`` has no
    deadline); other pyserial ports keep to their ``write_timeout`` (:func:`~.ports.bound_port`).
    """
    fd = _posix_serial_fd(port)
    try:
        if fd is not None:
            write_all(fd, data, timeout)
            return
        port.write(data)
        if hasattr(port, "flush") and not type(port).__module__.startswith("serial."):
            port.flush()
    except PORT_ERRORS as exc:
        if is_timeout(exc):
            raise LinkTimeout(f"the port took no data for {timeout:.1f} s while writing (nobody reading?)") from exc
        raise PortClosed(f"port failed while writing: {exc}") from exc


def _posix_serial_fd(port) -> int | None:
    """The descriptor of a pyserial POSIX port (which buffers nothing itself), else None."""
    if os.name != "posix" or type(port).__module__ != "serial.serialposix":
        return None
    fd = getattr(port, "fd", None)
    return fd if isinstance(fd, int) and fd >= 0 else None


def _write_all(fd: int, data: bytes, timeout: float = WRITE_TIMEOUT) -> None:
    """:func:`ports.write_all`, its timeout as a :class:`LinkTimeout`."""
    try:
        write_all(fd, data, timeout)
    except TimeoutError as exc:
        raise LinkTimeout(str(exc)) from None


def _read_packet_fd(fd: int, n: int, timeout: float) -> bytes:
    """Read exactly one ``n``-byte packet from a pyserial POSIX descriptor (never past it).

    Tries the read first and polls only when nothing is waiting: a response streams in faster
    than it is parsed, so most packets cost one system call (pyserial's read polls first, with
    a timeout object, every time). pyserial's raw mode returns no bytes rather than EAGAIN when
    the line is idle; an empty read right after the poll reported data means the port is gone,
    as pyserial itself concludes.
    """
    buf = bytearray()
    deadline = time.monotonic() + timeout
    poller, signalled = None, False
    while len(buf) < n:
        try:
            chunk = os.read(fd, n - len(buf))
        except BlockingIOError:
            chunk = b""
        except OSError as exc:
            raise PortClosed(f"port failed while reading: {exc}") from exc
        buf += chunk
        left = deadline - time.monotonic()
        if len(buf) < n and left <= 0:  # checked after every read, bytes or not
            raise LinkTimeout(f"timed out after {timeout:.2f} s with {len(buf)} of {n} bytes")
        if chunk:
            signalled = False
            continue
        if signalled:
            raise PortClosed("port reported data but gave none (disconnected?)")
        if poller is None:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
        signalled = bool(poller.poll(max(1, int(left * 1000))))
    return bytes(buf)


class HostLink:
    """The host end: send delimited requests, receive packetised responses."""

    def __init__(self, port, framing: Framing, sync_timeout: float = 5.0, write_timeout: float = WRITE_TIMEOUT,
                 max_reply: int = MAX_REPLY) -> None:
        self.port, self.framing, self.sync_timeout = port, framing, sync_timeout
        self.write_timeout, self.bytes_sent, self.max_reply = write_timeout, 0, max_reply
        try:
            bound_port(port, write_timeout)
        except PORT_ERRORS as exc:  # pyserial reconfigures the open port: a dead one fails here
            raise PortClosed(f"cannot set the port's timeouts: {exc}") from exc

    def send(self, message: bytes) -> None:
        """Send one message (varint-delimited), waiting for the sync byte between packets."""
        packets = self.framing.packets(varint(len(message)) + message, eom_last=False)
        fd = _posix_serial_fd(self.port)
        if fd is not None and len(packets) > 1:
            self._send_fd(fd, packets)
            return
        for k, packet in enumerate(packets):
            write(self.port, packet, self.write_timeout)
            self.bytes_sent += len(packet)
            if k < len(packets) - 1:
                read_exact(self.port, 1, self.sync_timeout)  # any byte: the board wants the next packet

    def _send_fd(self, fd: int, packets: list[bytes]) -> None:
        """The per-packet handshake on the port's descriptor: one write, one poll, one read per packet.

        Protocol 3.1 makes a round trip per 33-byte packet; through pyserial's ``write``, ``flush``
        (``tcdrain``) and ``read`` each costs several system calls and timeout objects, which made
        the client's own CPU time about a sixth of the wire time. Same bytes, same timeouts.
        """
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        wait_ms = int(self.sync_timeout * 1000)
        last = len(packets) - 1
        try:
            for k, packet in enumerate(packets):
                _write_all(fd, packet, self.write_timeout)
                self.bytes_sent += len(packet)
                if k < last:
                    if not poller.poll(wait_ms):
                        raise LinkTimeout(f"no sync byte within {self.sync_timeout:.2f} s after packet {k + 1} "
                                          f"of {len(packets)}")
                    if not os.read(fd, 1):
                        raise PortClosed("port closed while waiting for the sync byte")
        except BoardError:  # LinkTimeout is an OSError too: let it through as it is
            raise
        except BlockingIOError:  # poll said readable but nothing came: a spurious wake-up, or a hang-up
            raise PortClosed("port signalled data but had none (closed or unplugged?)") from None
        except OSError as exc:
            raise PortClosed(f"port failed during the packet handshake: {exc}") from exc

    def receive(self, timeout: float) -> bytes:
        """Read packets until end-of-message; returns the concatenated payloads.

        The whole message must arrive within ``timeout`` s (:class:`LinkTimeout` otherwise, even
        while bytes keep coming) and hold at most ``max_reply`` bytes (:class:`FramingError`).
        """
        deadline = time.monotonic() + timeout
        out = bytearray()
        fd = _posix_serial_fd(self.port)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LinkTimeout(f"the reply did not end within {timeout:.2f} s ({len(out)} bytes received, "
                                  "no end-of-message packet): the board keeps sending")
            try:
                raw = _read_packet_fd(fd, self.framing.packet, remaining) if fd is not None else \
                    read_exact(self.port, self.framing.packet, remaining)
            except LinkTimeout as exc:
                if not out:
                    raise
                raise LinkTimeout(f"the reply did not end within {timeout:.2f} s ({len(out)} bytes received, "
                                  f"no end-of-message packet; the last packet {exc})") from exc
            length, eom = self.framing.decode_header(raw[:self.framing.header])
            out += raw[self.framing.header:self.framing.header + length]
            if eom:
                return bytes(out)
            if len(out) > self.max_reply:
                raise FramingError(f"the reply passed {self.max_reply} bytes without an end-of-message packet: "
                                   "not a reply of the validation protocol")


class BoardLink:
    """The board end (for the emulator): receive delimited requests, send packetised responses."""

    def __init__(self, port, framing: Framing, packet_timeout: float = 2.0) -> None:
        self.port, self.framing, self.packet_timeout = port, framing, packet_timeout

    def receive(self, timeout: float | None = None) -> bytes:
        """One delimited message; sends the sync byte whenever the message needs another packet."""
        buf = bytearray()
        first = True
        size, start = None, 0
        while True:
            wait = (timeout if first and timeout is not None else self.packet_timeout)
            if first and not _wait_for_byte(self.port, wait):
                raise Idle(f"no request in {wait:.1f} s")
            raw = read_exact(self.port, self.framing.packet, wait)
            first = False
            length, _ = self.framing.decode_header(raw[:self.framing.header])
            buf += raw[self.framing.header:self.framing.header + length]
            if size is None:  # parse the length prefix once it is complete (not on every packet)
                try:
                    size, start = read_varint(bytes(buf[:10]), 0)
                except ValueError as exc:  # incomplete prefix: wait for more, unless it can never end
                    if len(buf) >= 10:
                        raise FramingError(f"the request's length prefix is not a varint: {exc}") from exc
                if size is not None and size > MAX_MESSAGE:
                    raise FramingError(f"a {size}-byte message is larger than any request ({MAX_MESSAGE} bytes)")
            if size is not None and len(buf) - start >= size:
                return bytes(buf[start:start + size])
            write(self.port, SYNC_BYTE)

    def send(self, message: bytes) -> None:
        for packet in self.framing.packets(message, eom_last=True):
            write(self.port, packet)
