"""One request at a time with a board: request ids, log acknowledgements, error replies, resynchronisation.

:class:`Session` sends ``reqMsg`` requests and reads the replies of the current one: every log the
board sends meanwhile is acknowledged and kept, a reply for another request is a
:class:`~zoo_helpers.board.replies.ProtocolError`, an error state a
:class:`~zoo_helpers.board.replies.BoardReportedError`. Each request and its replies form a
*transaction*; one that breaks off part-way (a timeout, a framing or codec error, an interrupt)
leaves the link out of step, and the next transaction first :meth:`Session.resync`-s: it lets the
board finish, drains, sends SYNC, or raises :class:`~zoo_helpers.board.replies.NeedsReset` within
a few seconds (``timeouts["resync"]`` of draining plus three SYNC attempts).

Every error raised while a request is under way names the request (``SYNC``, ``NETWORK_INFO 0``,
...) and says what to do (:data:`ADVICE`); bytes that are no message of the protocol (a
:class:`~zoo_helpers.board.codec.CodecError`) are a :class:`~zoo_helpers.board.replies.ProtocolError`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import zoo_helpers.board.codec as codec
from zoo_helpers.board.codec import CMD, ERROR, STATE, CodecError
from zoo_helpers.board.link import DEFAULT_PAYLOAD, BoardError, Framing, HostLink, LinkTimeout, PortClosed
from zoo_helpers.board.ports import PORT_ERRORS
from zoo_helpers.board.replies import RESET_HINT, BoardReportedError, NeedsReset, ProtocolError, payload

#: Seconds the line must stay quiet before a SYNC retry (the emulator drops a partial message after 0.5 s).
RETRY_SETTLE = 0.8
#: Seconds per wait; ``resync`` bounds the draining after a fault (a board still talking then needs a reset).
TIMEOUTS = {"sync": 0.5, "info": 5.0, "run_ack": 1.0, "data_ack": 10.0, "output": 50.0, "resync": 5.0}
#: Packet payloads a 3.2 board may ask for in ``sinfo.com_param`` (the header holds 15 bits of length).
COM_PARAM_RANGE = (DEFAULT_PAYLOAD, 0x7FFF)
#: What to do after an error during a request, by error type (the first that matches, in this order).
ADVICE = (
    (PortClosed, "check the cable and that the board is powered, then connect again"),
    (NeedsReset, RESET_HINT),
    (LinkTimeout, f"check that the board runs ST's validation firmware at the descriptor's baud rate; {RESET_HINT}"),
    (BoardReportedError, "the firmware refused the request: check that it is the validation firmware of the model "
                         "being validated (flash it again if not)"),
    (BoardError, f"check that the board runs ST's validation firmware (protocol 3.1 or 3.2); {RESET_HINT}"),
)
_COMMANDS = {code: name for name, code in CMD.items()}


def advise(exc: BoardError, request: str) -> BoardError:
    """``exc`` with the request it happened in and what to do appended to its message (once); returns ``exc``.

    Examples
    --------
    >>> str(advise(PortClosed("port failed while reading"), "SYS_INFO"))
    'port failed while reading (during SYS_INFO: check the cable and that the board is powered, then connect again)'
    """
    if getattr(exc, "request", None) is None:
        exc.request = request
        advice = next(text for kind, text in ADVICE if isinstance(exc, kind))
        message = str(exc.args[0]) if exc.args else type(exc).__name__
        exc.args = (f"{message} (during {request}: {advice})" if advice not in message
                    else f"{message} (during {request})",)
    return exc


class Session:
    """Requests and replies over one port (the base of :class:`~zoo_helpers.board.client.BoardClient`)."""

    def __init__(self, port, framing: Framing, timeouts: dict[str, float] | None = None) -> None:
        self.port, self.framing = port, framing
        self.timeouts = {**TIMEOUTS, **(timeouts or {})}
        self.link = HostLink(port, framing)
        self.reqid = 0
        self.in_sync = True  # False from the start of a transaction until it ends cleanly
        self.logs: list[tuple[int, str]] = []
        self.sysinfo: dict = {}
        self.command = ""  # the request under way, named in errors

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One request and its replies: resynchronise first if the last one broke off part-way."""
        if not self.in_sync:
            self.resync()
        self.in_sync = False
        try:
            yield
        except BoardReportedError:
            self.in_sync = True  # the board ended the command itself: the link is at a message boundary
            raise
        self.in_sync = True

    def resync(self) -> None:
        """Bring the link back to a message boundary after a fault, or raise :class:`NeedsReset`.

        Lets the board finish what it was sending (the line quiet for :data:`RETRY_SETTLE` s, at
        most ``timeouts["resync"]`` s of draining), then SYNC: at the current packet size, then at
        32 bytes (a 3.2 board drops back to it; SYS_INFO then switches to large packets again).
        """
        deadline = time.monotonic() + self.timeouts["resync"]
        errors: list[Exception] = []
        for size in (self.framing.payload, DEFAULT_PAYLOAD, DEFAULT_PAYLOAD):
            _settle(self.port, RETRY_SETTLE, deadline)
            self.framing.payload = size
            try:
                sync = payload(self._ask(CMD["SYNC"], timeout=self.timeouts["sync"]), "sync", "SYNC")
                if sync.get("version") != self.framing.version:
                    raise ProtocolError(f"board answers protocol {sync.get('version', 0):#x}")
                if size == DEFAULT_PAYLOAD:
                    self._sys_info()
            except PortClosed:
                raise
            except (BoardError, CodecError) as exc:
                errors.append(exc)
                continue
            self.in_sync = True
            return
        raise NeedsReset(f"the board does not answer SYNC after a fault ({errors[-1]}); {RESET_HINT}") \
            from errors[-1]

    def request(self, cmd: int, param: int = 0, name: str = "", opt: int = 0, timeout: float = 1.0,
                expect_reply: bool = True) -> dict:
        """Send one request and return the board's first (non-log) reply (resynchronising first if needed)."""
        with self._transaction():
            return self._ask(cmd, param, name, opt, timeout, expect_reply)

    @contextmanager
    def _about(self, request: str) -> Iterator[None]:
        """Errors inside name ``request`` and say what to do (:func:`advise`); codec errors become protocol errors."""
        try:
            yield
        except CodecError as exc:
            raise advise(ProtocolError(f"the board's reply is no message of protocol "
                                       f"{self.framing.version >> 8}.{self.framing.version & 0xFF} ({exc})"),
                         request) from exc
        except BoardError as exc:
            advise(exc, request)
            raise

    def _ask(self, cmd: int, param: int = 0, name: str = "", opt: int = 0, timeout: float = 1.0,
             expect_reply: bool = True) -> dict:
        self.reqid += 1
        self.command = _COMMANDS.get(cmd, str(cmd)) + (f" {param}" if cmd == CMD["NETWORK_INFO"] else "")
        msg = {"reqid": self.reqid, "cmd": cmd, "param": param, "name": name, "opt": opt}
        with self._about(self.command):
            self.link.send(codec.encode("reqMsg", msg, self.framing.version))
        return self._next(timeout) if expect_reply else {}

    def _next(self, timeout: float) -> dict:
        """Next board message of the current request; logs are acknowledged and collected."""
        with self._about(self.command):
            return self._next_message(timeout)

    def _next_message(self, timeout: float) -> dict:
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

    def _sys_info(self) -> None:
        """SYS_INFO; on 3.2 both sides then switch to the board's packet size (``com_param``)."""
        with self._about("SYS_INFO"):
            self.sysinfo = payload(self._ask(CMD["SYS_INFO"], timeout=self.timeouts["sync"]), "sinfo", "SYS_INFO")
            size = self.sysinfo.get("com_param", 0)
            if self.framing.version >= 0x302 and size:
                low, high = COM_PARAM_RANGE
                if not low <= size <= high:
                    raise ProtocolError(f"the board asks for {size}-byte packets; protocol 3.2 allows {low} to {high}")
                self.framing.payload = size

    def close(self) -> None:
        """DISCONNECT (protocol 3.2, when the link is in step) and close the port."""
        try:
            if self.framing.version >= 0x302 and self.in_sync:
                self._ask(CMD["DISCONNECT"], expect_reply=False)
        except (BoardError, *PORT_ERRORS):
            pass
        try:
            self.port.close()
        except PORT_ERRORS:
            pass


def drain(port, rounds: int = 50) -> None:
    """Discard whatever the board printed before protocol mode (its banner) or left from a failed attempt."""
    try:
        port.reset_input_buffer()
        for _ in range(rounds):
            if not port.read(64):
                return
    except PORT_ERRORS as exc:
        raise PortClosed(f"port failed while draining: {exc}") from exc


def _settle(port, quiet: float, deadline: float) -> None:
    """Drop what the board sends until the line is quiet for ``quiet`` s; :class:`NeedsReset` past ``deadline``."""
    last = time.monotonic()
    try:
        port.reset_input_buffer()
        while time.monotonic() - last < quiet:
            if port.read(4096):
                last = time.monotonic()
                if last > deadline:
                    raise NeedsReset(f"the board keeps sending after a fault; {RESET_HINT}")
    except PORT_ERRORS as exc:
        raise PortClosed(f"port failed while draining: {exc}") from exc
