"""Board link: a 192x192x3 uint8 upload through the client to the emulator over a pty, both protocol versions.

The emulator runs in its own process (``python -m zoo_helpers.board.emulator``), as a board is its own
machine; an in-process emulator thread would share the GIL with the client. The pty moves bytes without
a baud rate, so the wire time at 921600 baud (10 bits a byte) is computed from the bytes the client sent.
Two costs are reported per upload, medians over runs:

* client CPU: the CPU time of the client's thread (``time.thread_time``): the work the client itself
  adds on top of the wire time. This is the overhead the target is about.
* end to end: wall time minus the emulated inference: client, emulator and every pty round trip
  (two context switches per 3.1 packet on this VM), an upper bound on what a real link would add.

Run: cd benchmarks && ../.venv/bin/python bench_board.py   (needs ZOO_ASSETS_DIR)
"""

import os
import select
import subprocess
import sys
import time

import numpy as np
from common import machine

from zoo_helpers.board.client import BoardClient
from zoo_helpers.registry.assets import fetch

BAUD = 921_600


def measure(model_path, version: str, runs: int = 5):
    emulator = subprocess.Popen([sys.executable, "-m", "zoo_helpers.board.emulator", "--model", str(model_path),
                                 "--listen", "pty", "--protocol", version], stdout=subprocess.PIPE, text=True)
    try:
        client = BoardClient.connect(emulator.stdout.readline().strip(), protocol=version)
        x = np.random.default_rng(0).integers(0, 256, (1, 192, 192, 3), dtype=np.uint8)
        client.invoke(x, progress=False)  # warm-up
        cpu, wall, wires = [], [], []
        for _ in range(runs):
            sent = client.link.bytes_sent
            start, start_cpu = time.perf_counter(), time.thread_time()
            result = client.invoke(x, progress=False)
            cpu.append(time.thread_time() - start_cpu)
            wall.append(time.perf_counter() - start - result.durations_ms[0] / 1e3)
            wires.append((client.link.bytes_sent - sent) * 10 / BAUD)
        client.close()
    finally:
        emulator.terminate()
        emulator.wait(10)
    return float(np.median(cpu)), float(np.median(wall)), float(np.median(wires))


def handshake_floor(packets: int = 3456) -> float:
    """CPU seconds a bare write/poll/read handshake costs one side against another process, per packet.

    No Python protocol code and no pyserial: two processes ping-pong 33 bytes and a sync byte over
    pipes. It is what blocking once per packet costs on this machine (the wake-up is charged to the
    waiting thread), the floor under any 3.1 client here.
    """
    to_board, from_host = os.pipe()
    from_board, to_host = os.pipe()
    pid = os.fork()
    if pid == 0:
        for _ in range(packets):
            os.read(to_board, 33)
            os.write(to_host, b"\xaa")
        os._exit(0)
    poller = select.poll()
    poller.register(from_board, select.POLLIN)
    start = time.thread_time()
    for _ in range(packets):
        os.write(from_host, bytes(33))
        poller.poll(5000)
        os.read(from_board, 1)
    cpu = time.thread_time() - start
    os.waitpid(pid, 0)
    return cpu / packets


def main():
    model_path = fetch("movenet_heatmaps_192_int8_pc")
    print(machine(1))
    floor = handshake_floor()
    results = {}
    for version, label in (("3.1", "3.1 (33-byte packets, sync per packet)"), ("3.2", "3.2 (4094-byte packets)")):
        cpu, wall, wire = results[version] = measure(model_path, version)
        print(f"protocol {label}: wire time {wire * 1e3:.0f} ms; client CPU {cpu * 1e3:.1f} ms "
              f"({100 * cpu / wire:.1f} % of wire time; target <= 5 %); end to end {wall * 1e3:.1f} ms "
              f"({100 * wall / wire:.1f} %)")
    packets = results["3.1"][2] * BAUD / 10 / 33
    print(f"floor: a bare C-level handshake costs {floor * 1e6:.1f} us CPU per packet here, "
          f"{100 * floor * packets / results['3.1'][2]:.1f} % of the 3.1 wire time for its {packets:.0f} packets")
    print(f"3.2 vs 3.1 on the wire: {results['3.1'][2] / results['3.2'][2]:.2f}x fewer bit-times; measured "
          f"end to end {results['3.1'][1] / results['3.2'][1]:.1f}x faster (target >= 10x)")


if __name__ == "__main__":
    main()
