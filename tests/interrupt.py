"""Ctrl-C a foliolab child once its run directory shows progress: shared by
the scale-out tests (pool and Ray)."""

from __future__ import annotations

import signal
import time


def sigint_after_results(proc, runs, pattern, lines=1, timeout=120):
    """Wait until ``runs.glob(pattern)`` (a results.jsonl) has ``lines``
    lines, send SIGINT, and return ``(out, err)``; the child is killed
    if anything fails on the way."""
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"fewer than {lines} results in {timeout} s"
            res = list(runs.glob(pattern))
            if res and res[0].read_text().count("\n") >= lines:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
