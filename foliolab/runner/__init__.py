"""Scale-out: one runner interface, three backends (docs/scaleout.md).

A long command -- ``compare``, ``reproduce``, ``measure``, ``explore
--seeds``, ``explore --strategy dfs --split`` -- cuts its work into
*units* (a group of verdict cells, one measured run, a seed, a DFS subtree
split by schedule prefix; foliolab/runner/units.py) and hands them to
:meth:`Runner.run`:

* ``inline``: in this process, in serial order;
* ``pool``: a local process pool (``-j N``, default every core);
* ``ray``: tasks on a Ray cluster (``--backend ray --address auto|HOST:PORT``,
  the optional extra ``foliolab[ray]``).  Ray schedules, retries a task
  whose worker died (``max_retries``) and moves the results; foliolab has
  no scheduler of its own.

What does not depend on the backend:

* **the results.**  A unit is a deterministic function of its payload (its
  seeds come from the payload, never from the worker), and the runner
  returns results by unit, in the units' serial order, whatever order they
  finished in.
* **"first".**  When a unit's result ends the search (a failure), the units
  *after* it in serial order may be cancelled, never the ones before it: the
  runner waits for every earlier unit, so the first failure in serial order
  -- and its schedule index -- is the same on one worker or 512.  Results of
  units after the first failure are dropped even when they finished, so the
  totals do not depend on timing either.
* **nothing lost.**  Every finished unit is appended to the run directory
  (:class:`RunDir`) the moment it arrives; ``--resume RUN`` skips them.  A
  pool worker killed mid-unit breaks the pool: the runner starts a new one
  and runs the lost units again; on Ray the task retry does the same.
  Ctrl-C keeps every unit that finished (``interrupted`` is set).
"""

from __future__ import annotations

import os
import signal
import sys

from .rundir import RunDir, RunDirError, load_header   # noqa: F401

BACKENDS = ("local", "ray")
MAX_UNIT_RETRIES = 3            # a unit whose worker dies more often is an error
# Environment a worker needs to find what the driver found: a user's families
ENV_KEYS = ("FOLIOLAB_FAMILIES",)


class BackendError(Exception):
    """The backend cannot be used (no Ray, no cluster at the address)."""


class Unit:
    """One unit of work: ``key`` names it (stable across runs: the journal
    and --resume use it), ``kind`` selects the work function
    (units.py), ``payload`` is plain data the function rebuilds everything
    from, in any process."""

    __slots__ = ("key", "kind", "payload", "items")

    def __init__(self, key, kind, payload, items=1):
        self.key = key
        self.kind = kind
        self.payload = payload
        self.items = items          # what the progress bar counts (cells, runs ...)

    def __repr__(self):
        return f"<Unit {self.key}>"


def execute(kind, payload, env=None):
    """Run one unit (in whatever process): the work function of ``kind``."""
    if env:
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    from . import units
    return units.WORK[kind](payload)


def _env():
    return {k: os.environ.get(k) for k in ENV_KEYS}


class Outcome:
    """What :meth:`Runner.run` returns: ``results`` (unit key -> result) of
    the units up to the first stopping one in serial order, ``stopped_at``
    (that unit's key or None), ``interrupted`` (Ctrl-C), ``reused`` (keys
    taken from the run directory)."""

    def __init__(self):
        self.results = {}
        self.stopped_at = None
        self.interrupted = False
        self.reused = []


class Runner:
    """The interface: ``run(units, ...)``.  Backends subclass ``_drive``."""

    name = "?"

    def __init__(self, jobs=1):
        self.jobs = jobs

    def describe(self):
        return self.name

    def run(self, units, *, stops=None, done=None, interrupted=None, rundir=None,
            progress=None, summarize=None):
        """Run ``units`` (a list, in serial order).

        ``stops(result)``: True when the result ends the search (the units
        after it may be cancelled).  ``done``: {key: result} already
        finished (a resumed run): not run again.  ``interrupted(result)``:
        the unit was cut short by Ctrl-C (not journaled, the run stops).
        ``rundir``: a :class:`RunDir` every finished unit is appended to.
        ``progress``: a :class:`Progress`.  ``summarize(result)``: the
        JSON summary journaled beside the result."""
        out = Outcome()
        order = {u.key: i for i, u in enumerate(units)}
        stops = stops or (lambda r: False)
        done = dict(done or {})
        todo = []
        threshold = [len(units)]          # serial index of the first stopping unit

        def finish(u, r, reused=False):
            i = order[u.key]
            out.results[u.key] = r
            if not reused and rundir is not None:
                rundir.append(u.key, r, summarize(r) if summarize else None)
            if progress is not None:
                progress.unit_done(u, r)
            if stops(r) and i < threshold[0]:
                threshold[0] = i

        for u in units:
            if u.key in done:
                out.reused.append(u.key)
                finish(u, done[u.key], reused=True)
            else:
                todo.append(u)
        todo = [u for u in todo if order[u.key] < threshold[0]]
        try:
            self._drive(todo, finish, lambda u: order[u.key] < threshold[0],
                        interrupted or (lambda r: False), out, order)
        except KeyboardInterrupt:
            out.interrupted = True
        # deterministic: nothing after the first stopping unit counts
        if threshold[0] < len(units):
            out.stopped_at = units[threshold[0]].key
            keep = {u.key for u in units[:threshold[0] + 1]}
            out.results = {k: v for k, v in out.results.items() if k in keep}
        return out

    def _drive(self, todo, finish, wanted, interrupted, out, order):
        """Run ``todo``; ``order``: unit key -> its serial index."""
        raise NotImplementedError


class InlineRunner(Runner):
    """In this process, in serial order."""

    name = "in-process"

    def _drive(self, todo, finish, wanted, interrupted, out, order):
        for u in todo:
            if not wanted(u):
                continue
            r = execute(u.kind, u.payload, None)
            if interrupted(r):
                out.results[u.key] = r
                out.interrupted = True
                return
            finish(u, r)


def _worker_init():
    # the parent handles Ctrl-C; workers stop when told
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class PoolRunner(Runner):
    """A local process pool (fork), ``jobs`` workers, at most two units in
    flight per worker so that a stopping unit cancels the rest early.  A
    worker that dies (SIGKILL, the OOM killer) breaks the pool; the units
    it held are run again in a new one (at most MAX_UNIT_RETRIES times)."""

    name = "process pool"

    def describe(self):
        return f"process pool, {self.jobs} worker{'s' if self.jobs != 1 else ''}"

    def _drive(self, todo, finish, wanted, interrupted, out, order):
        import concurrent.futures as cf
        import multiprocessing
        from concurrent.futures.process import BrokenProcessPool
        ctx = multiprocessing.get_context("fork")
        pending = list(todo)
        tries = {}
        while pending:
            ex = cf.ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx,
                                        initializer=_worker_init)
            futs = {}
            broken = False
            lost_here = []          # in flight when the pool broke
            try:
                while pending or futs:
                    while pending and len(futs) < 2 * self.jobs and not broken:
                        u = pending.pop(0)
                        if wanted(u):
                            try:
                                futs[ex.submit(execute, u.kind, u.payload, None)] = u
                            except BrokenProcessPool:
                                broken = True
                                pending.insert(0, u)
                    if broken or not futs:
                        break
                    fin, _ = cf.wait(futs, return_when=cf.FIRST_COMPLETED)
                    for f in sorted(fin, key=lambda f: order[futs[f].key]):
                        u = futs.pop(f)
                        try:
                            r = f.result()
                        except BrokenProcessPool:
                            broken = True
                            pending.insert(0, u)
                            lost_here.append(u)
                            continue
                        if interrupted(r):
                            out.interrupted = True
                            return
                        finish(u, r)
                    for f, u in list(futs.items()):
                        if not wanted(u) and f.cancel():
                            del futs[f]
                    if broken:
                        break
            except KeyboardInterrupt:
                out.interrupted = True
                return
            finally:
                _stop_pool(ex)
            if broken:
                # the units the dead worker's pool held, in serial order
                # (only the units that were in flight count a try: a
                # queued one never ran)
                for u in lost_here + list(futs.values()):
                    tries[u.key] = tries.get(u.key, 0) + 1
                    if tries[u.key] > MAX_UNIT_RETRIES:
                        raise RuntimeError(f"unit {u.key}: its worker died "
                                           f"{tries[u.key]} times")
                pending = sorted(set(pending) | set(futs.values()), key=lambda u: order[u.key])


def _stop_pool(ex):
    """Stop a pool at once: its workers are ours (their pids), a unit
    running there may never end by itself (Ctrl-C on a long search)."""
    procs = dict(getattr(ex, "_processes", None) or {})
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs.values():
        try:
            if p.is_alive():
                p.kill()
        except Exception:           # pragma: no cover
            pass
    for p in procs.values():
        try:
            p.join(timeout=5)
        except Exception:           # pragma: no cover
            pass


def check_address(address):
    """``auto`` or HOST:PORT; a one-line error otherwise."""
    if address in ("auto", "local"):
        return address
    host, sep, port = (address or "").rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise BackendError(f"--address {address!r}: expected auto or HOST:PORT")
    return address


class RayRunner(Runner):
    """Tasks on a Ray cluster.  Every unit is one task (``num_cpus=1``);
    a task whose worker process dies is retried by Ray (``max_retries``),
    so a SIGKILLed worker loses nothing but its own unfinished unit."""

    name = "ray"

    def __init__(self, address="auto", jobs=None):
        super().__init__(jobs or 0)
        self.address = check_address(address)
        try:
            import ray  # noqa: F401
        except ImportError:
            raise BackendError("--backend ray needs Ray: pip install 'foliolab[ray]'") from None

    def describe(self):
        return f"ray at {self.address}"

    def _connect(self):
        import logging

        import ray
        if not ray.is_initialized():
            host, _, port = self.address.rpartition(":")
            host = host.strip("[]")
            if self.address not in ("auto", "local"):
                # Ray waits minutes for a GCS that is not there: ask first
                import socket
                try:
                    socket.create_connection((host, int(port)), timeout=5).close()
                except OSError as e:
                    raise BackendError(f"no Ray cluster at {self.address}: "
                                       f"{e.strerror or e}") from None
            if host in ("127.0.0.1", "localhost", "::1"):
                # a loopback cluster (raystart.py): Ray would rewrite the
                # address into the host's routable one, where it does not listen
                from .raystart import keep_loopback
                keep_loopback()
            _ray_messages_to_stderr()
            try:
                ray.init(address=None if self.address == "local" else self.address,
                         logging_level=logging.ERROR, log_to_driver=False,
                         include_dashboard=False if self.address == "local" else None,
                         configure_logging=False)
            except Exception as e:     # ConnectionError, ValueError, RuntimeError ...
                raise BackendError(f"no Ray cluster at {self.address}: "
                                   f"{' '.join(str(e).split())[:200]}") from None
        return ray

    def _drive(self, todo, finish, wanted, interrupted, out, order):
        ray = self._connect()
        remote = ray.remote(num_cpus=1, max_retries=MAX_UNIT_RETRIES,
                            retry_exceptions=False)(execute)
        env = _env()
        cap = max(2 * int(ray.cluster_resources().get("CPU", 1)), 2)
        if self.jobs:
            cap = min(cap, 2 * self.jobs)
        pending = list(todo)
        refs = {}
        try:
            while pending or refs:
                while pending and len(refs) < cap:
                    u = pending.pop(0)
                    if wanted(u):
                        refs[remote.remote(u.kind, u.payload, env)] = u
                if not refs:
                    break
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
                for ref in sorted(ready, key=lambda r: order[refs[r].key]):
                    u = refs.pop(ref)
                    r = ray.get(ref)
                    if interrupted(r):
                        out.interrupted = True
                        return
                    finish(u, r)
                for ref, u in list(refs.items()):
                    if not wanted(u):
                        ray.cancel(ref, force=True)
                        del refs[ref]
        except KeyboardInterrupt:
            out.interrupted = True
        finally:
            for ref in refs:
                try:
                    ray.cancel(ref, force=True)
                except Exception:       # pragma: no cover
                    pass


def _ray_messages_to_stderr():
    """Ray prints the cluster's messages to the driver ("(raylet) A worker
    died ...") on stdout, where --json output goes: send them to stderr."""
    try:
        import ray._private.worker as rw
    except ImportError:             # pragma: no cover
        return
    orig = rw.print_to_stdstream
    if getattr(orig, "_foliolab", False):
        return

    def to_stderr(data, ignore_prefix):
        return orig(dict(data, is_err=True), ignore_prefix)

    to_stderr._foliolab = True
    rw.print_to_stdstream = to_stderr


def make_runner(backend="local", jobs=None, address=None):
    """The runner for the command line's ``--backend``, ``-j``, ``--address``."""
    if backend not in BACKENDS:
        raise BackendError(f"--backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise BackendError("--address needs --backend ray")
    if backend == "ray":
        return RayRunner(address or "auto", jobs)
    jobs = jobs or os.cpu_count() or 1
    return PoolRunner(jobs) if jobs > 1 else InlineRunner(1)


class Progress:
    """The progress bar of every backend: units done (counted in what they
    contain: cells, runs, schedules), failures found, time left (tqdm's
    estimate from the rate so far)."""

    def __init__(self, total, desc, unit="unit", enabled=True, failed=None):
        self.failed = failed or (lambda r: 0)
        self.failures = 0
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr,
                            leave=False, dynamic_ncols=True, mininterval=0.25)
            self.bar.set_postfix_str("0 failures", refresh=False)

    def unit_done(self, u, r):
        self.failures += self.failed(r)
        if self.bar is not None:
            self.bar.update(u.items)
            self.bar.set_postfix_str(f"{self.failures} failure{'s' if self.failures != 1 else ''}",
                                     refresh=False)

    def close(self):
        if self.bar is not None:
            self.bar.close()
