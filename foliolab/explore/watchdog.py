"""A soft-lockup detector for explore: a step that runs longer than a bound
of wall time without yielding (a patch that loops forever, say) is stopped
and reported with the function and line where it spun, as the kernel's
soft-lockup watchdog reports the CPU's stack.

The step-based oracles (hung task, livelock) count steps, so they cannot
see a step that never ends.  This one counts wall time, which is why it
lives here and not in the engine or the model: it never changes a
schedule, it only ends a run that would never end (an error, exit 3).

It is a SIGALRM interval timer, so it costs nothing per step: every tick it
looks at the step counter of the machine being run; if the counter has not
moved for ``seconds``, the handler raises :class:`SoftLockup` in the step.
Only in the main thread; off when ``seconds`` is falsy (measure mode).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time


class SoftLockup(Exception):
    """A step ran ``seconds`` of wall time without yielding."""


class _State:
    machine = None          # the machine whose run is being watched
    steps = -1
    since = 0.0
    seconds = 0.0


_state = _State()


def _tick(signum, frame):
    m = _state.machine
    if m is None:
        return
    now = time.monotonic()
    steps = m.steps
    if steps != _state.steps:
        _state.steps = steps
        _state.since = now
        return
    stuck = now - _state.since
    if stuck < _state.seconds:
        return
    _state.since = now               # once per lockup
    t = getattr(m, "current", None)
    who = f"task {t.name} " if t is not None else ""
    e = SoftLockup(f"soft lockup: {who}stuck for {stuck:.0f} s without yielding")
    if frame is not None:
        # where it spun (the traceback's innermost frame is this handler)
        e.where = f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
    raise e


@contextlib.contextmanager
def watchdog(seconds):
    """Watch every run started inside (``watching(m)``) for ``seconds``."""
    if not seconds or not hasattr(signal, "setitimer") \
            or threading.current_thread() is not threading.main_thread() \
            or _state.seconds:          # already watching (nested)
        yield
        return
    old = signal.signal(signal.SIGALRM, _tick)
    _state.seconds = float(seconds)
    tick = max(0.05, min(1.0, seconds / 4))
    signal.setitimer(signal.ITIMER_REAL, tick, tick)
    pid = os.getpid()
    try:
        yield
    finally:
        if os.getpid() == pid:
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            signal.signal(signal.SIGALRM, old)
        _state.seconds = 0.0
        _state.machine = None


@contextlib.contextmanager
def watching(m):
    """The run of machine ``m`` is the one watched (if a watchdog is on)."""
    if not _state.seconds:
        yield
        return
    _state.machine = m
    _state.steps = -1
    _state.since = time.monotonic()
    try:
        yield
    finally:
        _state.machine = None
