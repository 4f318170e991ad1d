"""Board link: a 192x192x3 uint8 upload through the client to the emulator over a pty, both protocol versions.

The pty moves bytes without a baud rate, so the wire time at 921600 baud (10 bits a byte) is computed
from the bytes the client sent; the measured time (minus the emulated inference) is the cost of the
client and emulator themselves, i.e. the overhead a real link would add on top of its wire time.
Run: cd benchmarks && ../.venv/bin/python bench_board.py   (needs ZOO_ASSETS_DIR)
"""

import time

import numpy as np
from common import machine

from zoo_helpers.assets import fetch
from zoo_helpers.board.client import BoardClient
from zoo_helpers.board.emulator import start_in_thread
from zoo_helpers.runtime import load_model

BAUD = 921_600


def measure(model, version, runs=5):
    client = BoardClient.connect(start_in_thread(model, version))
    x = np.random.default_rng(0).integers(0, 256, (1, 192, 192, 3), dtype=np.uint8)
    client.invoke(x, progress=False)  # warm-up
    costs, wires = [], []
    for _ in range(runs):
        sent = client.link.bytes_sent
        start = time.perf_counter()
        result = client.invoke(x, progress=False)
        elapsed = time.perf_counter() - start - result.durations_ms[0] / 1e3
        costs.append(elapsed)
        wires.append((client.link.bytes_sent - sent) * 10 / BAUD)
    client.close()
    return float(np.median(costs)), float(np.median(wires))


def main():
    model = load_model(fetch("movenet_heatmaps_192_int8_pc"), num_threads=1)
    print(machine(1))
    results = {}
    for version, label in ((0x301, "3.1 (33-byte packets, sync per packet)"), (0x302, "3.2 (4094-byte packets)")):
        cost, wire = measure(model, version)
        results[version] = (cost, wire)
        print(f"protocol {label}: wire time {wire * 1e3:.0f} ms, client+emulator cost {cost * 1e3:.1f} ms "
              f"({100 * cost / wire:.1f} % of wire time; target <= 5 %)")
    print(f"3.2 vs 3.1 on the wire: {results[0x301][1] / results[0x302][1]:.2f}x fewer bit-times; measured "
          f"end to end {results[0x301][0] / results[0x302][0]:.1f}x faster (target >= 10x)")


if __name__ == "__main__":
    main()
