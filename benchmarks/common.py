"""Shared helpers for the benchmark scripts: medians over repeats and a machine line."""

import os
import platform
import time

import numpy as np


def median_ms(fn, repeats: int = 30, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


def machine(threads: int | None = None) -> str:
    """One line naming the machine, CPU count and threads used."""
    return (f"machine: {platform.machine()} {platform.processor() or ''}, cpus: {os.cpu_count()}"
            + (f", threads: {threads}" if threads else ""))
