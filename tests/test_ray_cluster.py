"""A real Ray cluster (issue 13): a head and one more node on 127.0.0.1,
one CPU each, started with ``ray start`` as users start one (README,
"Scale-out").  A ``compare`` and a split DFS run on it with one worker
process SIGKILLed mid-run; the results must equal the serial run's.

The cluster is stopped whatever happens: every node is ``ray start
--block`` in a session of its own, and the finalizer kills those sessions
(by their process group ids, which only this test's processes have) and
any process still carrying this cluster's marker in its environment.
Loopback only; the ports are free ones picked here.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

ray = pytest.importorskip("ray")

from interrupt import sigint_after_results                  # noqa: E402
from test_cli import TOY, ROOT                              # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
# ray start, keeping loopback addresses (foliolab/runner/raystart.py)
RAY = [sys.executable, "-m", "foliolab.runner.raystart"]
MARK = "FOLIOLAB_TEST_CLUSTER"


def _free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _cluster_ports():
    """The head's GCS port and 7 ports per node; each node's worker range
    (its last port and the 40 after it) overlaps none of the others, which
    Ray refuses at start (the ports are drawn one by one, so it happened)."""
    while True:
        gcs, *rest = _free_ports(15)
        ranges = [range(rest[6], rest[6] + 41), range(rest[13], rest[13] + 41)]
        others = [gcs] + rest[:6] + rest[7:13]
        if not any(p in r for r in ranges for p in others) and \
                abs(rest[6] - rest[13]) > 40:
            return gcs, rest


def _node_args(ports):
    om, nm, dal, dag, rte, me, wlo = ports
    return ["--node-ip-address", "127.0.0.1", "--num-cpus", "1",
            "--object-manager-port", str(om), "--node-manager-port", str(nm),
            "--dashboard-agent-listen-port", str(dal), "--dashboard-agent-grpc-port", str(dag),
            "--runtime-env-agent-port", str(rte), "--metrics-export-port", str(me),
            "--min-worker-port", str(wlo), "--max-worker-port", str(wlo + 40),
            "--disable-usage-stats", "--block"]


def _marked_pids(mark):
    """Processes of this cluster: they inherited the marker."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if f"{MARK}={mark}".encode() in env.split(b"\0"):
            out.append(int(pid))
    return out


def _task_workers(mark):
    """Worker processes running a foliolab unit (Ray titles them
    ``ray::execute`` while the task runs)."""
    pids = []
    for pid in _marked_pids(mark):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if cmd.startswith(b"ray::execute"):
            pids.append(pid)
    return pids


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if sys.platform != "linux":
        pytest.skip("the cluster test reads /proc")
    mark = uuid.uuid4().hex[:12]
    temp = f"/tmp/rayfl-{mark[:6]}"          # Ray's socket paths must stay short
    # RAY_AUTH_MODE: Ray 2.5x turns token authentication on when it finds
    # ~/.ray/auth_token (a local ray.init() writes one); a loopback cluster
    # that nothing else reaches does without, whatever is in ~/.ray
    env = dict(os.environ, **{MARK: mark, "FOLIOLAB_FAMILIES": TOY,
                              "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"})
    env.pop("RAY_ADDRESS", None)
    gcs, rest = _cluster_ports()
    nodes = []
    logs = tmp_path_factory.mktemp("ray")
    try:
        head = subprocess.Popen(
            [*RAY, "start", "--head", "--port", str(gcs),
             "--include-dashboard", "false", "--temp-dir", temp,
             *_node_args(rest[:7])],
            env=env, cwd=ROOT, start_new_session=True,
            stdout=open(logs / "head.log", "w"), stderr=subprocess.STDOUT)
        nodes.append(head)
        address = f"127.0.0.1:{gcs}"
        _wait_nodes(address, 1, env, head)
        worker = subprocess.Popen(
            [*RAY, "start", "--address", address, *_node_args(rest[7:14])],
            env=env, cwd=ROOT, start_new_session=True,
            stdout=open(logs / "node.log", "w"), stderr=subprocess.STDOUT)
        nodes.append(worker)
        _wait_nodes(address, 2, env, worker)
        yield address, env, mark
    finally:
        for p in nodes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGTERM)
        # (ray start --block often outlives SIGTERM: the wait was 20 s
        # and always ran out; what is left is killed below)
        deadline = time.monotonic() + 5
        for p in nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
        for p in nodes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            if p.poll() is None:
                p.kill()
                p.wait()
        for pid in _marked_pids(mark):       # anything of this cluster that escaped
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        subprocess.run(["rm", "-rf", temp], check=False)


def _wait_nodes(address, n, env, proc):
    code = ("from foliolab.runner.raystart import keep_loopback; keep_loopback(); "
            "import ray, logging; ray.init(address=%r, logging_level=logging.ERROR, "
            "log_to_driver=False); print(len([x for x in ray.nodes() if x['Alive']]))"
            % address)
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, f"ray start exited with {proc.returncode}"
        try:
            p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                               text=True, timeout=30)
        except subprocess.TimeoutExpired:
            continue
        if p.returncode == 0 and p.stdout.strip().isdigit() and int(p.stdout) >= n:
            return
        assert time.monotonic() < deadline, f"{n} Ray nodes not up: {p.stderr[-500:]}"
        time.sleep(1)


def _strip(d):
    if isinstance(d, dict):
        return {k: _strip(v) for k, v in d.items()
                if k not in ("seconds", "steps_per_second", "trace")}
    if isinstance(d, list):
        return [_strip(x) for x in d]
    return d


def _foliolab(args, env):
    return subprocess.run([sys.executable, "-m", "foliolab.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def _run_killing_one_worker(args, env, mark):
    """Run foliolab; SIGKILL the first worker process seen running a unit.
    Returns (the completed process, the pid killed)."""
    proc = subprocess.Popen([sys.executable, "-m", "foliolab.cli", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    try:
        deadline = time.monotonic() + 300
        while killed is None and proc.poll() is None and time.monotonic() < deadline:
            workers = _task_workers(mark)
            if workers:
                killed = workers[0]
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.05)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err, killed


def test_compare_on_a_two_node_cluster_with_a_worker_killed(cluster, tmp_path):
    address, env, mark = cluster
    # -n 4000: the safe cells' smoke searches last long enough to be killed
    args = ["compare", "toy", "-n", "4000", "--json", "--no-progress"]
    serial = _foliolab([*args, "-j", "1", "--trace-dir", str(tmp_path / "serial")], env)
    assert serial.returncode == 0, serial.stderr
    rc, out, err, killed = _run_killing_one_worker(
        [*args, "--backend", "ray", "--address", address, "--trace-dir", str(tmp_path / "ray"),
         "--run-dir", str(tmp_path / "runs")], env, mark)
    assert killed is not None, "no worker process was seen running a unit"
    assert rc == 0, err
    assert _strip(json.loads(out)) == _strip(json.loads(serial.stdout))
    (run,) = (tmp_path / "runs").iterdir()
    keys = [json.loads(x)["key"] for x in (run / "results.jsonl").read_text().splitlines()]
    assert len(keys) == len(set(keys))      # every unit journaled once


def test_split_dfs_on_a_two_node_cluster_with_a_worker_killed(cluster, tmp_path):
    address, env, mark = cluster
    args = ["explore", "drain-gen-shortcut", "-V", "v0", "-s", "dfs", "-k", "1",
            "--split", "8", "--json", "--no-progress"]
    serial = _foliolab([*args, "-j", "1", "--trace-dir", str(tmp_path / "serial")], env)
    assert serial.returncode == 0, serial.stderr
    rc, out, err, killed = _run_killing_one_worker(
        [*args, "--backend", "ray", "--address", address, "--trace-dir",
         str(tmp_path / "ray")], env, mark)
    assert killed is not None, "no worker process was seen running a unit"
    assert rc == 0, err
    d = json.loads(out)
    assert d["outcome"] == "certified" and "every one finished" in d["certificate"]
    assert _strip(d) == _strip(json.loads(serial.stdout))


def test_reproduce_on_the_cluster_gives_the_serial_table(cluster, tmp_path):
    address, env, _ = cluster
    args = ["reproduce", "--family", "toy", "--no-progress"]
    serial = _foliolab([*args, "-j", "1", "--trace-dir", str(tmp_path / "t")], env)
    on_ray = _foliolab([*args, "--backend", "ray", "--address", address,
                        "--trace-dir", str(tmp_path / "t")], env)
    assert serial.returncode == on_ray.returncode == 0, on_ray.stderr
    assert on_ray.stdout == serial.stdout


def test_ctrl_c_on_the_driver_keeps_the_finished_cells(cluster, tmp_path):
    """Ctrl-C while the cluster works: the cells that finished are printed
    and in the run directory, the tasks are cancelled, exit 130."""
    address, env, _ = cluster
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "foliolab.cli", "compare", "toy", "-n", "100000000",
         "--backend", "ray", "--address", address, "--trace-dir", str(tmp_path),
         "--run-dir", str(runs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, cwd=ROOT, start_new_session=True)
    out, err = sigint_after_results(proc, runs, "compare-*/results.jsonl")
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err
    lines = out.splitlines()
    assert lines[0].split() == ["toy", "racy", "locked"]
    assert lines[-1].startswith("interrupted (Ctrl-C): only the cells shown were computed")
    (run,) = runs.iterdir()
    assert f"--resume {run}" in err
