"""Board I/O: ST's validation-on-target protocol (3.1 and 3.2) over pyserial, TCP or a pty, and an emulator.

- :mod:`zoo_helpers.board.codec`: the protocol's protobuf messages, encoded and decoded by hand;
- :mod:`zoo_helpers.board.link`: packets, headers, sync bytes and timeouts of both versions;
- :mod:`zoo_helpers.board.ports`: descriptors (``serial:PORT:BAUD``, ``socket:HOST:PORT``), ST-LINK discovery;
- :mod:`zoo_helpers.board.session`: one request at a time: reqids, log acks, resync after a fault;
- :mod:`zoo_helpers.board.replies`: tensor descriptions, run results, the client's typed errors;
- :mod:`zoo_helpers.board.client`: connect, model info, ``invoke`` with outputs and on-device timings;
- :mod:`zoo_helpers.board.emulator`: a host process that answers like the firmware (numbers "emulated");
- :mod:`zoo_helpers.board.kernels`: which runtime computes an emulated board's outputs;
- :mod:`zoo_helpers.board.mp2`: STM32MP2 shell session (serial console or ssh), model copy, benchmark, batched runs;
- :mod:`zoo_helpers.board.tof`: the NUCLEO-F401RE hand-posture demo's UART stream (8x8 ToF frames).

The emulator is a program (``zoo-emulator``, or ``python -m zoo_helpers.board.emulator``), so this package does
not import it on import; the other modules are named below. This layer imports the runtime layer only.
"""

from zoo_helpers.board import client, codec, kernels, link, mp2, ports, replies, session, tof

__all__ = [
    "client", "codec", "kernels", "link", "mp2", "ports", "replies", "session", "tof"
]
