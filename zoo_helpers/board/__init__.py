"""Board I/O: ST's validation-on-target protocol (3.1 and 3.2) over pyserial, TCP or a pty, and an emulator.

- :mod:`zoo_helpers.board.codec`: the protocol's protobuf messages, encoded and decoded by hand;
- :mod:`zoo_helpers.board.link`: packets, headers, sync bytes and timeouts of both versions;
- :mod:`zoo_helpers.board.ports`: descriptors (``serial:PORT:BAUD``, ``socket:HOST:PORT``), ST-LINK discovery;
- :mod:`zoo_helpers.board.session`: one request at a time: reqids, log acks, resync after a fault;
- :mod:`zoo_helpers.board.replies`: tensor descriptions, run results, the client's typed errors;
- :mod:`zoo_helpers.board.client`: connect, model info, ``invoke`` with outputs and on-device timings;
- :mod:`zoo_helpers.board.emulator`: a host process that answers like the firmware (numbers "emulated");
- :mod:`zoo_helpers.board.mp2`: STM32MP2 shell session (serial console or ssh), model copy, benchmark, batched runs.
"""
