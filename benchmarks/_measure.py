"""Timing and peak-memory helpers shared by the benchmark scripts."""

import os
import threading
import time

import psutil


def rss():
    return psutil.Process(os.getpid()).memory_info().rss


def measure(fn, repeat=3):
    """Run ``fn`` ``repeat`` times; return (best seconds, peak RSS growth in bytes, last result).

    Peak RSS is sampled every 2 ms by a thread while ``fn`` runs, relative to the RSS just
    before the call (so it counts what the call allocates, including inside C/C++ libraries).
    """
    best, peak_growth, result = float("inf"), 0, None
    for _ in range(repeat):
        result = None
        base = rss()
        peak = [base]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss())
                time.sleep(0.002)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
        done.set()
        sampler.join()
        peak[0] = max(peak[0], rss())
        best = min(best, elapsed)
        peak_growth = max(peak_growth, peak[0] - base)
    return best, peak_growth, result
