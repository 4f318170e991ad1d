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


def interleaved_ms(fns: dict, rounds: int = 200, warmup: int = 3) -> dict:
    """Median wall time (ms) of each function, timed in interleaved rounds.

    One call of every function per round, so a noisy neighbour on a shared VM slows all of
    them alike instead of whichever happened to run during the noise.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: float(np.median(t)) for name, t in times.items()}


def machine(threads: int | None = None) -> str:
    """One line naming the machine, CPU count and threads used."""
    return (f"machine: {platform.machine()} {platform.processor() or ''}, cpus: {os.cpu_count()}"
            + (f", threads: {threads}" if threads else ""))
