#!/usr/bin/python3
"""Black-box benchmark of scb-backup against the original Python service and a shell loop.

    /usr/bin/python3 test/bench/run_bench.py --out build/bench [--idle-seconds 60] [...]

Starts s3rver (test/bench/s3server.mjs, with a data folder we choose), a watcher of that folder
(storewatch.py), and for every contender and scenario a fresh service process. It swaps
channel.backup the way lnd does (write temp-dont-use.backup, fsync, close, rename) and times, by
content SHA-256, when the server has stored each version. Writes OUT/results.json,
OUT/results.md and OUT/latency.png. See docs/performance.md.

Scenarios (--scenarios): steady, burst, idle (the default) and stalled ("one destination stalled",
scb-backup only: the steady swaps once with one destination and once with a second destination in
SCB_DESTINATIONS that accepts connections and never answers; compares the healthy one's latency).
"""
import argparse
import hashlib
import json
import math
import os
import platform
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUCKET = "scb-test"
TICK = os.sysconf("SC_CLK_TCK")
DEBIAN_PY = "/usr/bin/python3"

TARGETS = {
    "client_p50_ms": 0.3,
    "e2e_p50_ratio_vs_python": 1.5,
    "rss_mib": 8.0,
    "startup_ms": 50.0,
    "burst_final_ms": 50.0,
}


# ---------------------------------------------------------------- prerequisites

def check_prerequisites(args, contenders, scenarios):
    missing = []
    tools = [("node", "nodejs")]
    if "shell" in contenders:
        tools += [("inotifywait", "inotify-tools"), ("aws", "awscli")]
    if "steady" in scenarios:
        tools.append(("gnuplot", "gnuplot-nox"))
    for tool, pkg in tools:
        if not shutil.which(tool, path="/usr/bin:/usr/local/bin:" + os.environ.get("PATH", "")):
            missing.append(pkg)
    if "python" in contenders and subprocess.run([DEBIAN_PY, "-c", "import boto3"],
                                                 capture_output=True).returncode != 0:
        missing.append("python3-boto3")
    problems = []
    if missing:
        problems.append("missing: apt-get install -y " + " ".join(sorted(set(missing))))
    if not os.path.isdir(os.path.join(REPO, "test/support/node_modules/s3rver")):
        problems.append("s3rver missing: npm ci --prefix test/support")
    if not os.access(args.daemon, os.X_OK):
        problems.append(f"{args.daemon} missing: cmake --build build -j1 --target scb-backup "
                        "(Release; see docs/performance.md)")
    if problems:
        sys.exit("run_bench: " + "; ".join(problems))


# ---------------------------------------------------------------- helpers: processes

class LineReader(threading.Thread):
    """Collects JSON lines from a pipe into a list (with a condition to wait on)."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe, self.items, self.cond = pipe, [], threading.Condition()

    def run(self):
        for line in self.pipe:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            with self.cond:
                self.items.append(obj)
                self.cond.notify_all()

    def wait_for(self, pred, timeout):
        """Waits until pred(items) is truthy; returns its value or None on timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                v = pred(self.items)
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.05))


def realtime_offset():
    """CLOCK_REALTIME - CLOCK_MONOTONIC in ns, from the tightest of a few samples."""
    best = None
    for _ in range(5):
        a = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        r = time.clock_gettime_ns(time.CLOCK_REALTIME)
        b = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        if best is None or b - a < best[0]:
            best = (b - a, r - (a + b) // 2)
    return best[1]


class PutSniffer(threading.Thread):
    """tcpdump on lo: kernel timestamp of the first packet of every PUT sent to the server.

    This is when the client's request hit the wire, before Node.js parsed it, so
    rename -> wire is the client's own share without the server's reaction time. tcpdump stamps
    packets with CLOCK_REALTIME; we convert with an offset sampled here (error ~ microseconds)."""

    TS = re.compile(r"^(\d+)\.(\d{9}) IP ")
    PUT = re.compile(r"PUT (/\S+) HTTP/1\.1")

    def __init__(self, port):
        super().__init__(daemon=True)
        self.items, self.lock = [], threading.Lock()
        flt = f"tcp dst port {port} and tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x50555420"
        self.proc = subprocess.Popen(
            ["tcpdump", "-i", "lo", "-n", "-tt", "--time-stamp-precision=nano", "-l", "-A", "-s", "512",
             flt], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, errors="replace",
            start_new_session=True)

    def run(self):
        t = None
        for line in self.proc.stdout:
            m = self.TS.match(line)
            if m:
                # The offset is sampled now, a moment after capture: NTP slewing moves it by
                # well under a microsecond in that time, but by far more over a whole run.
                t = int(m.group(1)) * 1_000_000_000 + int(m.group(2)) - realtime_offset()
                continue
            m = self.PUT.search(line)
            if m and t is not None:
                with self.lock:
                    self.items.append({"t": t, "url": m.group(1)})
                t = None

    def puts(self):
        with self.lock:
            return list(self.items)


class StalledS3(threading.Thread):
    """A stalled S3: accepts connections on 127.0.0.1, reads whatever is sent, never answers.
    Connections stay open until close()."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.connections, self.bytes = 0, 0
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.sock, selectors.EVENT_READ)
        self.stopping = False

    def run(self):
        while not self.stopping:
            for key, _ in self.sel.select(0.1):
                if key.fileobj is self.sock:
                    try:
                        conn, _ = self.sock.accept()
                    except OSError:
                        continue
                    conn.setblocking(False)
                    self.sel.register(conn, selectors.EVENT_READ)
                    self.connections += 1
                    continue
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b""
                if data:
                    self.bytes += len(data)
                else:
                    self.sel.unregister(key.fileobj)
                    key.fileobj.close()

    def close(self):
        self.stopping = True
        self.join(5)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        self.sel.close()


class SyscallTrace:
    """perf record, on all CPUs and CLOCK_MONOTONIC, of the entry of three kinds of syscall: the
    driver's rename(2), the daemon's read(2) and its sendmsg(2)/writev(2). It splits rename -> PUT
    on the wire into the kernel's part (until the daemon's first read after the rename: the inotify
    event) and the daemon's own code (from that read to the sendmsg carrying the PUT). Root and
    linux-perf only; the filter keeps the cost to a few microseconds per event."""

    NR = {"rename": 82, "read": 0, "sendmsg": 46, "writev": 20}
    LINE = re.compile(r"^\s*(\d+)/(\d+)\s+(\d+)\.(\d{9}):\s+NR (\d+) \(([0-9a-f]+), [0-9a-f]+, ([0-9a-f]+)")
    # The daemon reads inotify events into a 16 KiB buffer (lib/watch/watcher.cpp); a read of that
    # size is the event, not the file (which it may be reading ahead when lnd's temp file closed).
    EVENT_READ_SIZE = "4000"

    def __init__(self, path):
        self.path = path
        flt = " || ".join(f"id == {n}" for n in self.NR.values())
        self.proc = subprocess.Popen(
            ["perf", "record", "-q", "-a", "-k", "CLOCK_MONOTONIC", "-o", path, "-e", "raw_syscalls:sys_enter",
             "--filter", flt], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(1.0)  # perf needs a moment before it records

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(60)

    def split(self, driver_tid, daemon_pid):
        """Per rename by driver_tid: (rename -> daemon's read, read -> daemon's sendmsg/writev) in µs."""
        out = subprocess.run(["perf", "script", "-i", self.path, "-F", "pid,tid,time,trace", "--ns"],
                             capture_output=True, text=True).stdout
        ev = []
        for line in out.splitlines():
            m = self.LINE.match(line)
            if m:
                nr = int(m.group(5))
                if nr == self.NR["read"] and m.group(7) != self.EVENT_READ_SIZE:
                    continue
                ev.append((int(m.group(1)), int(m.group(2)), int(m.group(3)) * 10**9 + int(m.group(4)), nr))
        kernel, code = [], []
        renames = [i for i, e in enumerate(ev) if e[1] == driver_tid and e[3] == self.NR["rename"]]
        for k, i in enumerate(renames):
            end = renames[k + 1] if k + 1 < len(renames) else len(ev)
            t_read = t_send = None
            for pid, _tid, t, nr in ev[i + 1:end]:
                if pid != daemon_pid:
                    continue
                if t_read is None and nr == self.NR["read"]:
                    t_read = t
                elif t_read is not None and nr in (self.NR["sendmsg"], self.NR["writev"]):
                    t_send = t
                    break
            if t_read is not None and t_send is not None:
                kernel.append((t_read - ev[i][2]) / 1e3)
                code.append((t_send - t_read) / 1e3)
        return kernel, code


class DaemonExited(RuntimeError):
    """The service under test exited before it stored the initial version."""


def kill_group(proc, grace=5.0):
    if proc is None or proc.poll() is not None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers of an exited leader
        except (ProcessLookupError, PermissionError, AttributeError):
            pass
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def group_pids(pgid):
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:  # field 5 (pgrp); fields[0] is field 3 (state)
                pids.append(int(d))
    return pids


def proc_snapshot(pgid):
    """CPU, memory and context switches of every live process of the group, summed."""
    s = {"cpu_ticks": 0, "sched_ns": 0, "ctx_vol": 0, "ctx_invol": 0, "rss_kib": 0, "hwm_kib": 0,
         "procs": 0, "threads": 0}
    for pid in group_pids(pgid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # utime, stime, cutime, cstime are fields 14-17 (fields[11:15] here).
            s["cpu_ticks"] += sum(int(x) for x in fields[11:15])
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        s["rss_kib"] += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        s["hwm_kib"] += int(line.split()[1])
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    s["sched_ns"] += int(f.read().split()[0])
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches:"):
                            s["ctx_vol"] += int(line.split()[1])
                        elif line.startswith("nonvoluntary_ctxt_switches:"):
                            s["ctx_invol"] += int(line.split()[1])
                s["threads"] += 1
            s["procs"] += 1
        except (OSError, IndexError, ValueError):
            continue
    return s


def delta(a, b):
    return {k: b[k] - a[k] for k in ("cpu_ticks", "sched_ns", "ctx_vol", "ctx_invol")}


# ---------------------------------------------------------------- helpers: lnd-style swaps

def lnd_write(folder, content):
    """What lnd's chanbackup does: temp file, write, fsync, close, rename over channel.backup.
    Returns CLOCK_MONOTONIC ns just before rename(2): a watcher can see the event before the call
    returns to us, so the time before the call is the honest (slightly pessimistic) start."""
    tmp = os.path.join(folder, "temp-dont-use.backup")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    t = time.monotonic_ns()
    os.rename(tmp, os.path.join(folder, "channel.backup"))
    return t


def make_versions(n, size, tag):
    out = []
    for i in range(n):
        head = f"SCB bench {tag} #{i}\n".encode()
        data = head + os.urandom(max(0, size - len(head)))
        out.append((data, hashlib.sha256(data).hexdigest()))
    return out


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


def summary(values):
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": pct(values, 50), "p90": pct(values, 90), "p95": pct(values, 95),
            "p99": pct(values, 99),
            "max": max(values), "mean": sum(values) / len(values)}


# ---------------------------------------------------------------- the bench

class Bench:
    def __init__(self, args):
        self.args = args
        self.out = os.path.abspath(args.out)
        self.work = tempfile.mkdtemp(prefix="work-", dir=self.out)
        self.logs = os.path.join(self.out, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.procs = []

    # -- infrastructure
    def start_infra(self):
        data = os.path.join(self.work, "s3rver")
        os.makedirs(data)
        self.server = subprocess.Popen(
            ["node", os.path.join(HERE, "s3server.mjs"), "--dir", data, "--bucket", BUCKET],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
        self.procs.append(self.server)
        self.srv = LineReader(self.server.stdout)
        self.srv.start()
        ready = self.srv.wait_for(lambda it: next((x for x in it if x.get("ev") == "ready"), None), 30)
        if not ready:
            raise RuntimeError("s3server.mjs did not start")
        self.port = ready["port"]
        self.watch = subprocess.Popen([DEBIAN_PY, os.path.join(HERE, "storewatch.py"),
                                       os.path.join(data, BUCKET)],
                                      stdout=subprocess.PIPE, text=True, start_new_session=True)
        self.procs.append(self.watch)
        self.stored = LineReader(self.watch.stdout)
        self.stored.start()
        if not self.stored.wait_for(lambda it: any(x.get("ready") for x in it), 10):
            raise RuntimeError("storewatch.py did not start")
        self.sniffer = None
        self.can_trace = not self.args.no_perf and os.geteuid() == 0 and shutil.which("perf") is not None
        if not self.args.no_pcap and os.geteuid() == 0 and shutil.which("tcpdump"):
            self.sniffer = PutSniffer(self.port)
            self.procs.append(self.sniffer.proc)
            self.sniffer.start()
            time.sleep(1.0)  # tcpdump needs a moment to attach
        # Warm s3rver up (JIT, first-write paths) so the first contender is not penalised.
        warm = os.path.join(self.work, "warm")
        os.makedirs(warm)
        versions = make_versions(20, self.args.size, "warm")
        env = self.env_for("warmup-", warm)
        for data, _ in versions:
            with open(os.path.join(warm, "f"), "wb") as f:
                f.write(data)
            subprocess.run([self.args.daemon, "once", "--file", os.path.join(warm, "f")], env=env,
                           capture_output=True, timeout=30)

    def stop_all(self):
        for p in reversed(self.procs):
            kill_group(p)
        self.procs.clear()

    def env_for(self, prefix, folder):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and "proxy" not in k.lower()}
        env.update({
            "MONITOR_FILE_PATH": os.path.join(folder, "channel.backup"),
            "BACKUP_DIRECTORY": os.path.join(folder, "spool"),
            "S3_BUCKET_NAME": BUCKET,
            "S3_BACKUP_PREFIX": prefix,
            "AWS_ACCESS_KEY_ID": "S3RVER",
            "AWS_SECRET_ACCESS_KEY": "S3RVER",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{self.port}",
            "AWS_CA_BUNDLE": "",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": folder,
        })
        if not env["AWS_CA_BUNDLE"]:
            env.pop("AWS_CA_BUNDLE")  # boto3/awscli treat an empty value as a path
        return env

    def contender_cmd(self, name):
        return {
            "scb-backup": [self.args.daemon],
            "python": [DEBIAN_PY, os.path.join(HERE, "original_service.py")],
            "shell": ["bash", os.path.join(HERE, "shell_service.sh")],
        }[name]

    # -- one scenario
    def stored_by_sha(self, prefix):
        """sha256 -> first stored time, and the number of stored objects, for one prefix."""
        first, count = {}, 0
        with self.stored.cond:
            items = list(self.stored.items)
        for x in items:
            if x.get("key", "").startswith(prefix):
                count += 1
                first.setdefault(x["sha256"], x["t"])
        return first, count

    def puts(self, prefix):
        with self.srv.cond:
            items = list(self.srv.items)
        reqs = [x for x in items if x.get("ev") == "req"
                and x["url"].split("?")[0].startswith(f"/{BUCKET}/{prefix}")]
        return reqs

    def run_stalled(self, contender):
        """One destination stalled: the steady swaps with the bench server only, then again with a
        second destination (SCB_DESTINATIONS) that accepts connections and never answers. Compares
        the healthy destination's rename -> stored latency of the two runs."""
        res = {"contender": contender, "scenario": "stalled"}
        try:
            single = self.run_scenario(contender, "steady", tag="stalled-single")
            stall = StalledS3()
            stall.start()
            url = (f"s3://{BUCKET}-stalled/stalled/?endpoint=http://127.0.0.1:{stall.port}"
                   "&region=us-east-1&name=stalled")
            try:
                try:
                    two = self.run_scenario(contender, "steady", tag="stalled",
                                            extra_env={"SCB_DESTINATIONS": url})
                except DaemonExited as e:
                    raise RuntimeError(f"{contender} rejected SCB_DESTINATIONS={url!r} (this build has no "
                                       f"multi-destination support?): {e}") from None
            finally:
                stall.close()
            if stall.connections == 0:
                raise RuntimeError(f"{contender} never connected to the stalled destination (127.0.0.1:"
                                   f"{stall.port}): this build ignores SCB_DESTINATIONS; see "
                                   f"{os.path.join(self.logs, contender + '-stalled.log')}")
        except RuntimeError as e:
            res["error"] = str(e)
            return res
        lat1, lat2 = single["latency_ms"], two["latency_ms"]
        res.update({
            "single_latency_ms": lat1, "latency_ms": lat2,
            "ratio_p50": ratio(lat1.get("p50"), lat2.get("p50")),
            "ratio_p95": ratio(lat1.get("p95"), lat2.get("p95")),
            "single_versions_stored": single["distinct_versions_stored"],
            "versions_stored": two["distinct_versions_stored"], "versions": two["versions"],
            "versions_stored_pair": f"{single['distinct_versions_stored']} / "
                                    f"{two['distinct_versions_stored']} of {two['versions']}",
            "stalled_connections": stall.connections, "stalled_bytes": stall.bytes,
            "single": single, "with_stalled": two,
        })
        return res

    def run_scenario(self, contender, scenario, tag=None, extra_env=None):
        """One fresh service process through `scenario`; `tag` (default: the scenario) names its
        prefix, folder and log; `extra_env` is added to its environment."""
        if scenario == "stalled":
            return self.run_stalled(contender)
        a = self.args
        name = tag or scenario
        prefix = f"{contender}-{name}-"
        folder = os.path.join(self.work, f"{contender}-{name}")
        os.makedirs(folder)
        n = {"steady": a.steady_swaps, "burst": a.burst_swaps, "idle": 0}[scenario]
        versions = make_versions(n + 1, a.size, prefix)
        lnd_write(folder, versions[0][0])
        env = self.env_for(prefix, folder)
        env.update(extra_env or {})
        res = {"contender": contender, "scenario": scenario}
        log = open(os.path.join(self.logs, f"{contender}-{name}.log"), "w")
        t_spawn = time.monotonic_ns()
        proc = subprocess.Popen(self.contender_cmd(contender), env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=folder)
        self.procs.append(proc)
        try:
            first = self.stored.wait_for(
                lambda it: next((x["t"] for x in it if x.get("key", "").startswith(prefix)
                                 and x["sha256"] == versions[0][1]), None)
                or (proc.poll() is not None and "exited"), a.start_timeout)
            if first == "exited":
                log.flush()
                with open(log.name, errors="replace") as f:
                    tail = f.read()[-1500:].strip()
                raise DaemonExited(f"{contender}/{name}: exited with code {proc.returncode} before storing "
                                   f"the initial version; {log.name}:\n{tail}")
            if first is None:
                raise RuntimeError(f"{contender}/{name}: initial version not stored in "
                                   f"{a.start_timeout}s; see {log.name}")
            res["startup_ms"] = (first - t_spawn) / 1e6
            reqs = self.puts(prefix)
            if reqs:
                res["startup_to_put_ms"] = (reqs[0]["t"] - t_spawn) / 1e6
            time.sleep(a.settle)
            before = proc_snapshot(proc.pid)
            res["rss_after_start_kib"] = before["rss_kib"]
            res["procs_after_start"] = before["procs"]
            res["threads_after_start"] = before["threads"]
            t_work = time.monotonic_ns()

            renames = []  # (t_ns, sha)
            tracer = None
            if scenario == "steady" and tag is None and contender == "scb-backup" and self.can_trace:
                tracer = SyscallTrace(os.path.join(self.logs, f"{contender}-{scenario}.perf"))
            if scenario == "steady":
                t0 = time.monotonic()
                for i in range(1, n + 1):
                    wake = t0 + (i - 1) * a.steady_interval
                    time.sleep(max(0.0, wake - time.monotonic()))
                    renames.append((lnd_write(folder, versions[i][0]), versions[i][1]))
            elif scenario == "burst":
                for i in range(1, n + 1):
                    renames.append((lnd_write(folder, versions[i][0]), versions[i][1]))
            else:
                time.sleep(a.idle_seconds)
                after = proc_snapshot(proc.pid)
                d = delta(before, after)
                res["idle"] = {"seconds": a.idle_seconds, "cpu_s": d["cpu_ticks"] / TICK,
                               "cpu_ns_schedstat": d["sched_ns"], "ctx_voluntary": d["ctx_vol"],
                               "ctx_involuntary": d["ctx_invol"],
                               "wakeups": d["ctx_vol"] + d["ctx_invol"],
                               "puts": len(self.puts(prefix)) - 1}

            if renames:
                last_sha = renames[-1][1]
                got = self.stored.wait_for(
                    lambda it: next((x["t"] for x in it if x.get("key", "").startswith(prefix)
                                     and x["sha256"] == last_sha), None), a.drain_timeout)
                # Let trailing uploads finish: quiet = no new PUT for a.quiet seconds.
                deadline = time.monotonic() + a.drain_timeout
                while time.monotonic() < deadline:
                    c = len(self.puts(prefix))
                    time.sleep(a.quiet)
                    if len(self.puts(prefix)) == c:
                        break
                res["drained"] = time.monotonic() < deadline
                if tracer:
                    tracer.stop()
                    kernel, code = tracer.split(threading.get_native_id(), proc.pid)
                    res["trace_kernel_us"], res["trace_code_us"] = summary(kernel), summary(code)
                after = proc_snapshot(proc.pid)
                d = delta(before, after)
                res["cpu_s"] = d["cpu_ticks"] / TICK
                res["cpu_ns_schedstat"] = d["sched_ns"]
                res["rss_after_kib"] = after["rss_kib"]
                res["hwm_kib"] = after["hwm_kib"]
                self.match(res, prefix, renames, got)
            else:
                after = proc_snapshot(proc.pid)
                res["rss_after_kib"] = after["rss_kib"]
                res["hwm_kib"] = after["hwm_kib"]
            res["workload_s"] = (time.monotonic_ns() - t_work) / 1e9
        finally:
            kill_group(proc)
            self.procs.remove(proc)
            log.close()
        return res

    def match(self, res, prefix, renames, final_t):
        first, nstored = self.stored_by_sha(prefix)
        reqs = self.puts(prefix)
        with self.stored.cond:
            stored = [x for x in self.stored.items if x.get("key", "").startswith(prefix)]
        # server share: request arrival (headers parsed) -> stored, per PUT key
        req_by_key = {}
        for r in reqs:
            req_by_key.setdefault(r["url"].split("?")[0][len(BUCKET) + 2:], []).append(r["t"])
        wire_by_key = {}
        for r in (self.sniffer.puts() if self.sniffer else []):
            if r["url"].startswith(f"/{BUCKET}/{prefix}"):
                wire_by_key.setdefault(r["url"].split("?")[0][len(BUCKET) + 2:], []).append(r["t"])
        lat, client, server, wire, wire_server = [], [], [], [], []
        for t_ren, sha in renames:
            t_st = first.get(sha)
            if t_st is None or t_st < t_ren:
                continue
            lat.append((t_st - t_ren) / 1e6)
            key = next(x["key"] for x in stored if x["sha256"] == sha and x["t"] == t_st)
            arrivals = [t for t in req_by_key.get(key, []) if t <= t_st]
            if arrivals:
                client.append((arrivals[-1] - t_ren) / 1e6)
                server.append((t_st - arrivals[-1]) / 1e6)
            sent = [t for t in wire_by_key.get(key, []) if t <= t_st]
            if sent:
                wire.append((sent[-1] - t_ren) / 1e6)
                wire_server.append((t_st - sent[-1]) / 1e6)
        res["versions"] = len(renames)
        res["distinct_versions_stored"] = len(lat)
        res["uploads"] = len(reqs) - 1  # PUTs after the initial one
        res["objects_stored"] = nstored - 1
        res["latency_ms"] = summary(lat)
        res["client_part_ms"] = summary(client)
        res["server_part_ms"] = summary(server)
        res["client_part_wire_ms"] = summary(wire)
        res["server_part_wire_ms"] = summary(wire_server)
        res["latencies_ms"] = lat
        res["final_stored"] = final_t is not None
        if final_t is not None:
            res["final_after_last_rename_ms"] = (final_t - renames[-1][0]) / 1e6
        res["swap_duration_ms"] = (renames[-1][0] - renames[0][0]) / 1e6


# ---------------------------------------------------------------- report

def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "os": platform.freedesktop_os_release().get("PRETTY_NAME", "?"),
            "python": platform.python_version(),
            "node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip(),
            "loadavg_at_start": open("/proc/loadavg").read().split()[:3]}


def fmt(v, unit="", digits=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        if abs(v) < 10 and digits < 3:
            digits = max(digits, 2)
        return f"{v:.{digits}f}{unit}"
    return f"{v}{unit}"


def ratio(a, b):
    if a in (None, 0) or b is None:
        return None
    return b / a


def build_table(results, contenders):
    """Markdown table: one row per metric, one column per contender, then targets/ratios."""
    R = {(r["contender"], r["scenario"]): r for r in results["runs"]}

    def g(c, s, *path):
        v = R.get((c, s))
        for p in path:
            if v is None:
                return None
            v = v.get(p) if isinstance(v, dict) else None
        return v

    rows = []

    def row(label, s, path, unit="", digits=1, target=None, best_low=True, transform=None):
        vals = [g(c, s, *path) for c in contenders]
        if transform:
            vals = [transform(v) if v is not None else None for v in vals]
        cells = [fmt(v, unit, digits) for v in vals]
        ours = vals[0] if contenders[0] == "scb-backup" else None
        rat = []
        for c, v in zip(contenders[1:], vals[1:]):
            r = ratio(ours, v) if best_low else ratio(v, ours)
            rat.append(f"{c}: {r:.1f}×" if r else f"{c}: –")
        rows.append(f"| {label} | " + " | ".join(cells) + f" | {target or ''} | "
                    + ", ".join(rat) + " |")

    mib = lambda kib: kib / 1024  # noqa: E731
    row("steady: rename→stored p50", "steady", ["latency_ms", "p50"], " ms", 2, "≥1.5× lower than python")
    row("steady: rename→stored p90", "steady", ["latency_ms", "p90"], " ms", 2)
    row("steady: rename→stored p99", "steady", ["latency_ms", "p99"], " ms", 2)
    row("steady: rename→stored max", "steady", ["latency_ms", "max"], " ms", 2)
    row("steady: client part p50 (rename→PUT parsed by Node)", "steady", ["client_part_ms", "p50"], " ms", 2)
    row("steady: server part p50 (PUT at server→stored)", "steady", ["server_part_ms", "p50"], " ms", 2)
    row("steady: client part p50 (rename→PUT on the wire, tcpdump)", "steady",
        ["client_part_wire_ms", "p50"], " ms", 3, "< 0.3 ms")
    row("steady: client part p90 (rename→PUT on the wire, tcpdump)", "steady",
        ["client_part_wire_ms", "p90"], " ms", 3)
    row("steady: server part p50 (PUT on the wire→stored)", "steady", ["server_part_wire_ms", "p50"],
        " ms", 2)
    row("steady: rename→daemon reads the event p50 (kernel, perf)", "steady", ["trace_kernel_us", "p50"],
        " µs", 0)
    row("steady: event read→PUT sendmsg p50 (daemon's code, perf)", "steady", ["trace_code_us", "p50"],
        " µs", 0)
    row("steady: event read→PUT sendmsg p90 (daemon's code, perf)", "steady", ["trace_code_us", "p90"],
        " µs", 0)
    row("steady: versions stored (of swaps)", "steady", ["distinct_versions_stored"], "", 0)
    row("steady: uploads (PUTs after the initial one)", "steady", ["uploads"], "", 0)
    row("steady: CPU over scenario", "steady", ["cpu_s"], " s", 2)
    row("start-up → first object stored (median of 3 starts)", "all", ["startup_ms"], " ms", 1, "< 50 ms")
    row("start-up → first PUT at server (median)", "all", ["startup_to_put_ms"], " ms", 1)
    row("burst: last rename → final version stored", "burst", ["final_after_last_rename_ms"], " ms", 1,
        "< 50 ms")
    row("burst: versions (distinct contents)", "burst", ["versions"], "", 0)
    row("burst: uploads (PUTs after the initial one)", "burst", ["uploads"], "", 0,
        "≤ distinct versions")
    row("burst: distinct versions stored", "burst", ["distinct_versions_stored"], "", 0)
    row("burst: drained (no PUT for the quiet period before the timeout)", "burst", ["drained"], "", 0)
    row("burst: CPU over scenario", "burst", ["cpu_s"], " s", 2)
    row("RSS after start (VmRSS, median of 3 starts)", "all", ["rss_after_start_kib"], " MiB", 2,
        "< 8 MiB", transform=mib)
    row("RSS after burst (VmRSS)", "burst", ["rss_after_kib"], " MiB", 2, "< 8 MiB", transform=mib)
    row("peak RSS over burst (VmHWM)", "burst", ["hwm_kib"], " MiB", 2, transform=mib)
    row("idle: CPU", "idle", ["idle", "cpu_s"], " s", 2, "0")
    row("idle: CPU (schedstat)", "idle", ["idle", "cpu_ns_schedstat"], " ns", 0, "0")
    row("idle: context switches (wake-ups)", "idle", ["idle", "wakeups"], "", 0, "0")
    row("idle: PUTs", "idle", ["idle", "puts"], "", 0, "0")
    if any(r["scenario"] == "stalled" for r in results["runs"]):
        st = "one destination stalled"
        row(f"{st}: healthy rename→stored p50, single destination", "stalled", ["single_latency_ms", "p50"],
            " ms", 2)
        row(f"{st}: healthy rename→stored p50, with the stalled one", "stalled", ["latency_ms", "p50"], " ms", 2)
        row(f"{st}: p50 ratio (with stalled ÷ single)", "stalled", ["ratio_p50"], "×", 2)
        row(f"{st}: healthy rename→stored p95, single destination", "stalled", ["single_latency_ms", "p95"],
            " ms", 2)
        row(f"{st}: healthy rename→stored p95, with the stalled one", "stalled", ["latency_ms", "p95"], " ms", 2)
        row(f"{st}: p95 ratio (with stalled ÷ single)", "stalled", ["ratio_p95"], "×", 2)
        row(f"{st}: healthy versions stored (of swaps), single / with stalled", "stalled",
            ["versions_stored_pair"], "", 0)
        row(f"{st}: connections the stalled destination accepted", "stalled", ["stalled_connections"], "", 0)
    head = "| metric | " + " | ".join(contenders) + " | target | ratio (other ÷ scb-backup) |\n"
    head += "|---" * (len(contenders) + 3) + "|\n"
    return head + "\n".join(rows) + "\n"


def aggregate_all(results, contenders):
    """Pseudo-scenario 'all': medians over the three fresh starts of each contender."""
    for c in contenders:
        runs = [r for r in results["runs"] if r["contender"] == c and r["scenario"] != "all"]
        agg = {"contender": c, "scenario": "all"}
        for k in ("startup_ms", "startup_to_put_ms", "rss_after_start_kib"):
            vals = [r[k] for r in runs if k in r]
            if vals:
                agg[k] = sorted(vals)[len(vals) // 2]
                agg[k + "_all"] = vals
        results["runs"].append(agg)


def plot(results, out, contenders):
    dat = os.path.join(out, "latency.dat")
    blocks = []
    with open(dat, "w") as f:
        for index, c in enumerate(contenders):
            r = next((x for x in results["runs"] if x["contender"] == c and x["scenario"] == "steady"), None)
            lat = sorted(r.get("latencies_ms", [])) if r else []
            f.write(f"# {c}\n")
            for i, v in enumerate(lat):
                f.write(f"{max(v, 1e-3)} {(i + 1) / len(lat)}\n")
            f.write("\n\n")
            if lat:
                blocks.append((index, c))
    if not blocks:
        return None  # no steady scenario in this run: nothing to plot
    png = os.path.join(out, "latency.png")
    m = results["machine"]
    script = f"""
set terminal pngcairo size 900,520 font ',10'
set output '{png}'
set title "rename → object stored by s3rver, steady scenario ({results['params']['steady_swaps']} swaps, {int(results['params']['steady_interval'] * 1000)} ms apart)\\n{m['nproc']}× {m['cpu']}, Linux {m['kernel']}"
set xlabel 'latency (ms, log scale)'
set ylabel 'fraction of versions stored within'
set logscale x
set grid
set key bottom right
set yrange [0:1.02]
plot """ + ", ".join(f"'{dat}' index {i} using 1:2 with steps lw 2 title '{c}'"
                     for i, c in blocks) + "\n"
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    return png


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "build/bench"))
    ap.add_argument("--daemon", default=os.path.join(REPO, "build/app/scb-backup"))
    ap.add_argument("--contenders", default="scb-backup,python,shell")
    ap.add_argument("--scenarios", default="steady,burst,idle",
                    help="comma-separated: steady, burst, idle, stalled (one destination stalled; "
                         "scb-backup only, steady swaps twice)")
    ap.add_argument("--size", type=int, default=8192, help="bytes per channel.backup version")
    ap.add_argument("--steady-swaps", type=int, default=50)
    ap.add_argument("--steady-interval", type=float, default=0.2, help="seconds")
    ap.add_argument("--burst-swaps", type=int, default=200)
    ap.add_argument("--idle-seconds", type=float, default=60)
    ap.add_argument("--settle", type=float, default=1.0, help="seconds after start-up before measuring")
    ap.add_argument("--start-timeout", type=float, default=30)
    ap.add_argument("--drain-timeout", type=float, default=60)
    ap.add_argument("--quiet", type=float, default=4.0, help="no-PUT period that ends a drain")
    ap.add_argument("--no-pcap", action="store_true", help="do not run tcpdump on lo")
    ap.add_argument("--no-perf", action="store_true", help="do not trace syscalls with perf (steady, scb-backup)")
    ap.add_argument("--update-docs", action="store_true",
                    help="also copy the plot to docs/performance-latency.png")
    args = ap.parse_args()
    args.daemon = os.path.abspath(args.daemon)
    contenders = args.contenders.split(",")
    scenarios = args.scenarios.split(",")
    unknown = set(scenarios) - {"steady", "burst", "idle", "stalled"}
    if unknown:
        sys.exit(f"run_bench: unknown scenario(s) {','.join(sorted(unknown))}: steady, burst, idle, stalled")
    check_prerequisites(args, contenders, scenarios)
    os.makedirs(args.out, exist_ok=True)

    bench = Bench(args)
    results = {"machine": machine(), "params": {k: v for k, v in vars(args).items() if k != "update_docs"},
               "s3": "s3rver 3.7.1 directly (test/bench/s3server.mjs), plain HTTP on 127.0.0.1",
               "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runs": []}
    try:
        bench.start_infra()
        for scenario in scenarios:
            for c in contenders:
                if scenario == "stalled" and c != "scb-backup":
                    continue  # the others have one bucket only
                print(f"[bench] {c} / {scenario} ...", file=sys.stderr, flush=True)
                r = bench.run_scenario(c, scenario)
                results["runs"].append(r)
                if "error" in r:
                    print(f"[bench]   FAILED: {r['error']}", file=sys.stderr, flush=True)
                    continue
                brief = {k: r.get(k) for k in ("startup_ms", "final_after_last_rename_ms", "uploads",
                                               "rss_after_start_kib", "rss_after_kib")}
                if "latency_ms" in r:
                    brief["p50"] = r["latency_ms"].get("p50")
                if "idle" in r:
                    brief["idle"] = r["idle"]
                if scenario == "stalled":
                    brief.update({k: r.get(k) for k in ("ratio_p50", "ratio_p95", "stalled_connections")})
                print(f"[bench]   {json.dumps(brief)}", file=sys.stderr, flush=True)
    finally:
        bench.stop_all()
        shutil.rmtree(bench.work, ignore_errors=True)
        for name, items in [("server", bench.srv.items if hasattr(bench, "srv") else []),
                            ("stored", bench.stored.items if hasattr(bench, "stored") else []),
                            ("wire", bench.sniffer.items if getattr(bench, "sniffer", None) else [])]:
            with open(os.path.join(bench.logs, f"{name}.jsonl"), "w") as f:
                f.writelines(json.dumps(x) + "\n" for x in items)

    aggregate_all(results, contenders)
    table = build_table(results, contenders)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    m = results["machine"]
    md = (f"Machine: {m['nproc']}× {m['cpu']}, Linux {m['kernel']}, {m['os']}; "
          f"load average at start {' '.join(m['loadavg_at_start'])}; {results['started']}.\n"
          f"Server: {results['s3']}. Payload {args.size} bytes per version.\n\n" + table)
    errors = [f"{r['contender']}/{r['scenario']}: {r['error']}" for r in results["runs"] if "error" in r]
    if errors:
        md += "\nFailed:\n" + "".join(f"- {e}\n" for e in errors)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(md)
    png = plot(results, args.out, contenders)
    if args.update_docs and png:
        shutil.copy(png, os.path.join(REPO, "docs/performance-latency.png"))
    print(md)
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
