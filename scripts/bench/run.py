#!/usr/bin/env python3
"""The measurements of `make bench` (scripts/bench.sh runs this with the rig
up and the tools installed). Standard library only. Writes every raw
sample to a results JSON that scripts/bench/report.py turns into
docs/PERFORMANCE.md and the charts.

  scripts/bench/run.py --rig-env DIR/rig.env --out .bench/results.json \
      --spinshim target/release/spinshim --wasmtime .bench/tools/bin/wasmtime

Phases, one after the other, nothing else of ours running meanwhile:
  1. throughput: wrk --latency against every server, all servers running,
     each (connections, repetition) round visiting the servers in a
     rotated order (A/B alternation), so drift hits all of them alike;
  2. process start -> first 200 for `spinshim up` and `wasmtime serve`
     (alternating), and their idle PSS/RSS after that first request;
  3. cold start under containerd 1.7: scripts/coldstart.py, warm and first;
  4. memory: PSS/RSS of every process of idle hello pods, 1, 10, 50 pods.

Every process this script starts is recorded in <work>/pids (one file per
process) so bench.sh's trap can stop them should this script die.
"""
import argparse
import datetime
import itertools
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LUA = os.path.join(HERE, "wrk-report.lua")
COLDSTART = os.path.join(REPO, "scripts", "coldstart.py")


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def rig_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                env[key] = value
    return env


# --- ports, HTTP, processes -------------------------------------------------

_taken_ports = set()


def free_port():
    """A free port on 127.0.0.1 (never one handed out before in this run)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _taken_ports:
            _taken_ports.add(port)
            return port


def get_status(port, timeout=1.0, path="/"):
    """Status code of GET <path> on 127.0.0.1:port, or None."""
    request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(request)
            head = s.recv(64)
    except OSError:
        return None
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return int(m.group(1)) if m else None


def wait_200(port, limit, alive=None, path="/"):
    """Polls GET <path> every millisecond until it answers 200; returns the
    perf_counter time it did. alive(): False when the server died."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        if get_status(port, path=path) == 200:
            return time.perf_counter()
        if alive is not None and not alive():
            raise RuntimeError(f"the server for port {port} exited before answering")
        time.sleep(0.001)
    raise RuntimeError(f"no HTTP 200 on 127.0.0.1:{port} within {limit}s")


def proc_ppids():
    """{pid: ppid} of every live, non-zombie process."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            out[int(name)] = int(fields[1])
    return out


def with_descendants(roots):
    ppids = proc_ppids()
    found = {p for p in roots if p in ppids}
    changed = True
    while changed:
        changed = False
        for pid, ppid in ppids.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return sorted(found)


def mem_of(pid):
    """(pss_kib, rss_kib) from /proc/PID/smaps_rollup, or None if gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            text = f.read()
    except OSError:
        return None
    vals = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("Rss:", "Pss:"):
            vals[parts[0][:-1]] = int(parts[1])
    if "Pss" not in vals:
        return None
    return vals["Pss"], vals["Rss"]


def proc_info(pid):
    def read(name):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as f:
                return f.read()
        except OSError:
            return b""
    comm = read("comm").decode(errors="replace").strip()
    cmdline = read("cmdline").replace(b"\0", b" ").decode(errors="replace").strip()
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = ""
    return comm, cmdline, exe


class Work:
    """Where logs and pid files go."""

    def __init__(self, root):
        self.root = root
        self.pids = os.path.join(root, "pids")
        self.logs = os.path.join(root, "logs")
        os.makedirs(self.pids, exist_ok=True)
        os.makedirs(self.logs, exist_ok=True)

    def remember(self, name, pid):
        with open(os.path.join(self.pids, name), "w") as f:
            f.write(f"{pid}\n")

    def forget(self, name):
        try:
            os.unlink(os.path.join(self.pids, name))
        except OSError:
            pass


class Ctr:
    def __init__(self, env):
        self.base = [env["RIG_CTR"], "--address", env["RIG_CONTAINERD_SOCK"]]

    def __call__(self, *args, check=True, timeout=120):
        out = subprocess.run(self.base + list(args), capture_output=True, text=True, timeout=timeout)
        if check and out.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def tasks(self):
        """{id: (pid, status)}"""
        out = {}
        for line in self("tasks", "ls", check=False).splitlines()[1:]:
            f = line.split()
            if len(f) >= 3:
                out[f[0]] = (int(f[1]), f[2])
        return out


# --- servers ------------------------------------------------------------------

class PostgresForBench:
    """A fresh PostgreSQL cluster on a free port with a one-row table, for
    the services-bench guest; run as the `postgres` user (the server
    refuses root), stopped by PID. Like RedisForBench it tells how many
    connections it accepted."""

    PASSWORD = "bench"

    def __init__(self, work):
        import glob
        import pwd
        self.work = work
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
        if not versions:
            raise RuntimeError("no PostgreSQL server in /usr/lib/postgresql (scripts/rig.sh up installs it)")
        self.bin = versions[-1]
        self.dir = os.path.join(work.root, "postgres")
        subprocess.run(["rm", "-rf", self.dir], check=True)
        os.makedirs(self.dir)
        pw = pwd.getpwnam("postgres")
        self.user = (pw.pw_uid, pw.pw_gid) if os.getuid() == 0 else None
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(self.PASSWORD)
        if self.user:
            for path in (self.dir, pwfile):
                os.chown(path, *self.user)
        data = os.path.join(self.dir, "data")
        self._run([os.path.join(self.bin, "initdb"), "-D", data, "-U", "spin", "-E", "UTF8",
                   "--auth-host=scram-sha-256", "--auth-local=trust", f"--pwfile={pwfile}"])
        self.port = free_port()
        logf = open(os.path.join(work.logs, "postgres.log"), "ab")
        self.proc = subprocess.Popen(
            [os.path.join(self.bin, "postgres"), "-D", data, "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={data}",
             "-c", "fsync=off", "-c", "max_connections=200"],
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, **self._as_user())
        logf.close()
        work.remember("postgres", self.proc.pid)
        deadline = time.time() + 20
        while subprocess.run([os.path.join(self.bin, "pg_isready"), "-h", "127.0.0.1", "-p",
                              str(self.port), "-q"]).returncode != 0:
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"postgres on port {self.port} did not start (see {work.logs}/postgres.log)")
            time.sleep(0.05)
        self.psql("CREATE TABLE greetings (id int4 PRIMARY KEY, value text); "
                  "INSERT INTO greetings VALUES (1, 'Hello, Spin!')")

    def _as_user(self):
        if not self.user:
            return {}
        uid, gid = self.user
        return {"user": uid, "group": gid}

    def _run(self, argv):
        out = subprocess.run(argv, capture_output=True, text=True, **self._as_user())
        if out.returncode != 0:
            raise RuntimeError(f"{argv[0]}: {out.stderr.strip()}")

    def psql(self, sql):
        env = dict(os.environ, PGPASSWORD=self.PASSWORD)
        out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "spin", "-d",
                              "postgres", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                             capture_output=True, text=True, env=env)
        if out.returncode != 0:
            raise RuntimeError(f"psql: {out.stderr.strip()}")
        return out.stdout.strip()

    def url(self):
        return f"postgres://spin:{self.PASSWORD}@127.0.0.1:{self.port}/postgres"

    def connections_received(self):
        """Backends ever started for client connections: the server's own
        counter is per database (pg_stat_database.sessions, PostgreSQL 14+)."""
        return int(self.psql("SELECT sessions FROM pg_stat_database WHERE datname = 'postgres'"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.work.forget("postgres")


class RedisForBench:
    """A redis-server on a free port holding the key `bench`, for the
    services-bench guest; stopped by PID. It also tells how many
    connections it accepted, so the report can show they were reused."""

    def __init__(self, work):
        self.work = work
        self.port = free_port()
        logf = open(os.path.join(work.logs, "redis-server.log"), "ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        logf.close()
        work.remember("redis-server", self.proc.pid)
        deadline = time.time() + 10
        while self.command("PING") != "+PONG":
            if time.time() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not answer PING")
            time.sleep(0.05)
        self.command("SET", "bench", "Hello, Spin!")

    def command(self, *args):
        """One command over RESP; the first line of the reply."""
        req = f"*{len(args)}\r\n" + "".join(f"${len(x)}\r\n{x}\r\n" for x in args)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(req.encode())
                return sock.recv(65536).decode(errors="replace").split("\r\n")[0]
        except OSError:
            return None

    def connections_received(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n")
            text = b""
            while b"total_connections_received" not in text:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                text += chunk
        for line in text.decode(errors="replace").splitlines():
            if line.startswith("total_connections_received:"):
                return int(line.split(":")[1])
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.work.forget("redis-server")


class ProcServer:
    """`spinshim up` or `wasmtime serve`, as a child process."""

    def __init__(self, key, argv_for_port, work, path="/"):
        self.key = key
        self.argv_for_port = argv_for_port
        self.work = work
        self.path = path
        self.proc = None
        self.port = None

    def start(self):
        self.port = free_port()
        logf = open(os.path.join(self.work.logs, f"{self.key}.log"), "ab")
        argv = self.argv_for_port(self.port)
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        logf.close()
        self.work.remember(self.key, self.proc.pid)
        return t0

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def root_pids(self):
        return [self.proc.pid] if self.alive() else []

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.work.forget(self.key)
        self.proc = None


class Pod:
    """A hello container under containerd 1.7 with the spin runtime,
    host networking, its own port."""

    def __init__(self, ctr, image, cid):
        self.ctr = ctr
        self.image = image
        self.cid = cid
        self.port = None
        self.key = cid

    def start(self):
        self.port = free_port()
        t0 = time.perf_counter()
        self.ctr("run", "-d", "--net-host", "--runtime", "io.containerd.spin.v2",
                 "--env", f"SPIN_HTTP_LISTEN_ADDR=127.0.0.1:{self.port}",
                 self.image, self.cid, "/")
        return t0

    def alive(self):
        t = self.ctr.tasks().get(self.cid)
        return t is not None and t[1] == "RUNNING"

    def root_pids(self):
        out = subprocess.run(["pgrep", "-f", f"containerd-shim-spin-v2.*{re.escape(self.cid)}( |$)"],
                             capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def stop(self):
        stop_pods(self.ctr, [self.cid])


def stop_pods(ctr, cids):
    """SIGKILL every task, wait for them to stop, delete tasks and containers."""
    tasks = ctr.tasks()
    for cid in cids:
        if cid in tasks:
            ctr("tasks", "kill", "-a", "-s", "SIGKILL", cid, check=False)
    for _ in range(300):
        tasks = ctr.tasks()
        if not any(cid in tasks and tasks[cid][1] != "STOPPED" for cid in cids):
            break
        time.sleep(0.05)
    for cid in cids:
        if cid in tasks:
            ctr("tasks", "delete", "-f", cid, check=False)
        ctr("containers", "delete", cid, check=False)


# --- phase 1: throughput --------------------------------------------------------

def wrk(port, conns, duration, out_path, path="/"):
    threads = min(2, conns)
    argv = ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{duration}s", "--latency",
            "-s", LUA, f"http://127.0.0.1:{port}{path}"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    with open(out_path, "w") as f:
        f.write("$ " + " ".join(argv) + "\n" + p.stdout + p.stderr)
    if p.returncode != 0:
        raise RuntimeError(f"wrk failed ({p.returncode}): {p.stderr.strip()}")
    for line in p.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            r = json.loads(line[len("BENCH_JSON "):])
            r["rps"] = r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0
            r["threads"] = threads
            return r
    raise RuntimeError("wrk printed no BENCH_JSON line (see " + out_path + ")")


def phase_throughput(a, servers, work):
    conns_list = a.conns
    wrk_dir = os.path.join(work.root, "wrk")
    os.makedirs(wrk_dir, exist_ok=True)
    runs = []
    for s in servers:
        s.start()
        if getattr(s, "url", None):
            # The upstream started before this server; its port is known now.
            upstream = s.url.replace("{port}", str(servers[0].port))
            s.path = "/http?url=" + urllib.parse.quote(upstream, safe="")
        wait_200(s.port, 120, s.alive, getattr(s, "path", "/"))
        log(f"{s.key}: serving on 127.0.0.1:{s.port}")
    try:
        # Warm-up: compile caches, pooling slots, page cache, connection paths.
        for s in servers:
            wrk(s.port, max(conns_list), a.warmup, os.path.join(wrk_dir, f"warmup-{s.key}.txt"),
                getattr(s, "path", "/"))
        total = len(conns_list) * a.reps * len(servers)
        n = 0
        for conns in conns_list:
            for rep in range(a.reps):
                k = rep % len(servers)
                order = servers[k:] + servers[:k]
                if rep % 2 == 1:
                    order = list(reversed(order))
                for s in order:
                    n += 1
                    out = os.path.join(wrk_dir, f"{s.key}-c{conns}-r{rep}.txt")
                    r = wrk(s.port, conns, a.duration, out, getattr(s, "path", "/"))
                    if not s.alive():
                        raise RuntimeError(f"{s.key} died during wrk (see {work.logs})")
                    r.update(server=s.key, conns=conns, rep=rep)
                    runs.append(r)
                    errs = sum(r["errors"].values())
                    log(f"[{n}/{total}] {s.key} c={conns} rep={rep + 1}: {r['rps']:.0f} req/s, "
                        f"p50 {r['latency_us']['percentiles']['50'] / 1000:.2f} ms, "
                        f"p99 {r['latency_us']['percentiles']['99'] / 1000:.2f} ms"
                        + (f", {errs} errors" if errs else ""))
    finally:
        for s in servers:
            s.stop()
    return runs


# --- phase 1b: Redis trigger messages per second --------------------------------

TRIGGER_MANIFEST = """spin_manifest_version = 2
[application]
name = "redis-trigger-bench"
[application.trigger.redis]
address = "redis://127.0.0.1:{port}"
[[trigger.redis]]
channel = "bench"
component = "recorder"
[component.recorder]
source = "{wasm}"
allowed_outbound_hosts = ["redis://127.0.0.1:{port}"]
variables = {{ list = "handled", redis_address = "redis://127.0.0.1:{port}" }}
"""


def phase_trigger(a, work, messages, reps):
    """images/redis-trigger under spinshim up: each message published on
    `bench` runs a fresh instance, which RPUSHes it to the list `handled`.
    A burst of `messages` PUBLISHes goes out pipelined; the rate is
    messages / (time from the first PUBLISH until the list holds them all):
    the rate the trigger keeps up with when the publisher never waits."""
    redis = RedisForBench(work)
    app_dir = os.path.join(work.root, "redis-trigger-app")
    os.makedirs(app_dir, exist_ok=True)
    with open(os.path.join(app_dir, "spin.toml"), "w") as f:
        f.write(TRIGGER_MANIFEST.format(port=redis.port, wasm=a.redis_trigger_wasm))
    server = ProcServer("up-redis-trigger", lambda port: [
        a.spinshim, "up", "--from", app_dir, "--listen", f"127.0.0.1:{port}"], work)
    runs = []
    try:
        server.start()
        deadline = time.time() + 60
        while not subscribed(redis):
            if time.time() > deadline or not server.alive():
                raise RuntimeError(f"the Redis trigger did not subscribe (see {work.logs})")
            time.sleep(0.05)
        for rep in range(reps + 1):
            redis.command("DEL", "handled")
            t0 = time.perf_counter()
            publish_burst(redis.port, "bench", messages)
            t_sent = time.perf_counter()
            handled = 0
            limit = t0 + 120
            while handled < messages and time.perf_counter() < limit:
                reply = redis.command("LLEN", "handled")
                handled = int(reply[1:]) if reply and reply.startswith(":") else 0
                time.sleep(0.005)
            t_done = time.perf_counter()
            if not server.alive():
                raise RuntimeError(f"the Redis trigger died (see {work.logs})")
            if rep == 0:
                log(f"redis trigger warm-up: {handled}/{messages} handled")
                continue
            rate = handled / (t_done - t0) if t_done > t0 else 0.0
            runs.append({"rep": rep - 1, "messages": messages, "handled": handled,
                         "publish_s": round(t_sent - t0, 3), "total_s": round(t_done - t0, 3),
                         "messages_per_s": rate})
            log(f"redis trigger rep {rep}: {handled}/{messages} handled, {rate:.0f} messages/s "
                f"(published in {t_sent - t0:.2f} s)")
    finally:
        server.stop()
        redis.stop()
    return runs


def subscribed(redis):
    """NUMSUB's count for `bench` (the second element of its reply) > 0."""
    req = b"*3\r\n$6\r\nPUBSUB\r\n$6\r\nNUMSUB\r\n$5\r\nbench\r\n"
    with socket.create_connection(("127.0.0.1", redis.port), timeout=2) as sock:
        sock.sendall(req)
        reply = sock.recv(4096).decode(errors="replace").split("\r\n")
    # *2, $5, bench, :<count>
    return len(reply) > 3 and reply[3].startswith(":") and int(reply[3][1:]) > 0


def publish_burst(port, channel, count):
    """`count` PUBLISHes down one connection in pipelined batches."""
    batch = 500
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sent = 0
        while sent < count:
            n = min(batch, count - sent)
            payload = "".join(
                f"*3\r\n$7\r\nPUBLISH\r\n${len(channel)}\r\n{channel}\r\n"
                f"${len(str(sent + i))}\r\n{sent + i}\r\n" for i in range(n))
            sock.sendall(payload.encode())
            # Read the n integer replies before the next batch.
            replies = 0
            buf = b""
            while replies < n:
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("redis-server closed the publisher's connection")
                buf += chunk
                replies = buf.count(b"\r\n")
            sent += n


# --- phase 2: process start -> first 200 ----------------------------------------

def phase_procstart(a, servers, work):
    """servers: ProcServer per key. Alternates the servers each run."""
    res = {s.key: {"samples_ms": [], "idle_pss_kib": [], "idle_rss_kib": []} for s in servers}
    # One untimed start each: fills wasmtime's compile cache, warms the page cache.
    for s in servers:
        s.start()
        wait_200(s.port, 120, s.alive)
        s.stop()
    for i in range(a.cold_runs):
        order = servers if i % 2 == 0 else list(reversed(servers))
        for s in order:
            t0 = s.start()
            try:
                t1 = wait_200(s.port, 120, s.alive)
                ms = (t1 - t0) * 1000
                res[s.key]["samples_ms"].append(round(ms, 2))
                time.sleep(a.idle_settle)
                m = mem_of(s.proc.pid)
                if m:
                    res[s.key]["idle_pss_kib"].append(m[0])
                    res[s.key]["idle_rss_kib"].append(m[1])
            finally:
                s.stop()
            log(f"process start -> 200, {s.key} run {i + 1}: {ms:.1f} ms")
    return res


# --- phase 3: cold start under containerd ------------------------------------------

def phase_coldstart(a, image):
    out = {}
    for mode in ("warm", "first"):
        argv = [sys.executable, COLDSTART, "--rig-env", a.rig_env, "--image", image,
                "--runs", str(a.cold_runs), "--mode", mode]
        log("$ " + " ".join(argv))
        p = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
        sys.stderr.write(p.stdout)
        if p.returncode != 0:
            raise RuntimeError(f"coldstart.py --mode {mode} failed: {p.stderr.strip()}")
        data = None
        for line in p.stdout.splitlines():
            if line.startswith("{"):
                data = json.loads(line)
        if not data:
            raise RuntimeError(f"coldstart.py --mode {mode} printed no samples")
        out[mode] = {"samples_ms": data["samples_ms"]}
    return out


# --- phase 4: memory ----------------------------------------------------------------

def pod_processes(ctr, cids, tasks=None):
    """Every process of the given pods: the shim processes whose command line
    names the container id, and all their descendants."""
    tasks = tasks if tasks is not None else ctr.tasks()
    procs = []
    seen = set()
    for cid in cids:
        out = subprocess.run(["pgrep", "-f", f"containerd-shim-spin-v2.*{re.escape(cid)}( |$)"],
                             capture_output=True, text=True)
        roots = [int(p) for p in out.stdout.split()]
        task_pid = tasks.get(cid, (None, None))[0]
        pids = with_descendants(roots + ([task_pid] if task_pid else []))
        ppids = proc_ppids()
        for pid in pids:
            if pid in seen:
                continue
            seen.add(pid)
            m = mem_of(pid)
            if m is None:
                continue
            comm, cmdline, exe = proc_info(pid)
            ppid = ppids.get(pid)
            if pid == task_pid:
                role = "container process (task)"
            elif ppid not in pids:
                role = "shim"
            else:
                role = "shim's child"
            procs.append({"pod": cid, "pid": pid, "ppid": ppid, "role": role, "comm": comm,
                          "exe": exe, "cmdline": cmdline[:200], "pss_kib": m[0], "rss_kib": m[1]})
    return procs


def containerd_mem(env):
    try:
        with open(os.path.join(env["RIG_DIR"], "containerd1", "containerd.pid")) as f:
            return mem_of(int(f.read().strip()))
    except (OSError, ValueError):
        return None


def phase_memory(a, ctr, env, image):
    reps = []
    steps = sorted(set(a.pods))
    pod_ports = {}
    for rep in range(a.mem_reps):
        cids = []
        rep_steps = []
        prefix = f"bench-mem-{os.getpid()}-r{rep}"
        try:
            for target in steps:
                while len(cids) < target:
                    pod = Pod(ctr, image, f"{prefix}-{len(cids)}")
                    pod.start()
                    cids.append(pod.cid)
                    pod_ports[pod.cid] = pod.port
                # Every pod must serve.
                serving = 0
                for cid in cids:
                    try:
                        wait_200(pod_ports[cid], 60)
                        serving += 1
                    except RuntimeError:
                        pass
                time.sleep(a.idle_settle)
                tasks = ctr.tasks()
                procs = pod_processes(ctr, cids, tasks)
                cmem = containerd_mem(env)
                step = {
                    "pods": target,
                    "serving": serving,
                    "running_tasks": sum(1 for c in cids if tasks.get(c, (0, ""))[1] == "RUNNING"),
                    "processes": len(procs),
                    "total_pss_kib": sum(p["pss_kib"] for p in procs),
                    "total_rss_kib": sum(p["rss_kib"] for p in procs),
                    "containerd_pss_kib": cmem[0] if cmem else None,
                    "containerd_rss_kib": cmem[1] if cmem else None,
                }
                if target == 1:
                    step["process_list"] = procs
                rep_steps.append(step)
                log(f"memory rep {rep + 1}: {target} pods ({serving} serving, {len(procs)} processes): "
                    f"PSS {step['total_pss_kib'] / 1024:.1f} MiB, RSS {step['total_rss_kib'] / 1024:.1f} MiB")
        finally:
            stop_pods(ctr, cids)
        reps.append({"steps": rep_steps})
    return {"pods": steps, "reps": reps}


# --- main ---------------------------------------------------------------------------

def on_sigterm(_signum, _frame):
    # Unwind through the finally blocks that stop servers and pods.
    raise KeyboardInterrupt("SIGTERM")


def main():
    signal.signal(signal.SIGTERM, on_sigterm)
    p = argparse.ArgumentParser()
    p.add_argument("--rig-env", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--work", required=True, help="directory for logs, wrk output, pid files")
    p.add_argument("--spinshim", required=True)
    p.add_argument("--wasmtime", required=True)
    p.add_argument("--wasmtime-cache-config", required=True)
    p.add_argument("--image", required=True, help="the pulled hello image in containerd 1.7")
    p.add_argument("--hello-app", default=os.path.join(REPO, "images", "hello"))
    p.add_argument("--hello-p3-app", default=os.path.join(REPO, "images", "hello-p3"))
    p.add_argument("--state-app", default=os.path.join(REPO, "images", "state-bench"))
    p.add_argument("--outbound-app", default=os.path.join(REPO, "images", "outbound-bench"))
    p.add_argument("--services-app", default=os.path.join(REPO, "images", "services-bench"))
    p.add_argument("--redis-trigger-wasm", default=os.path.join(REPO, "images/target/wasm32-wasip2/release/redis_trigger.wasm"))
    p.add_argument("--trigger-messages", type=int, default=20000)
    p.add_argument("--hello-wasm", default=os.path.join(REPO, "images/target/wasm32-wasip2/release/hello.wasm"))
    p.add_argument("--hello-p3-wasm", default=os.path.join(REPO, "images/target/wasm32-wasip2/release/hello_p3.wasm"))
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--conns", type=lambda s: [int(x) for x in s.split()], default=[1, 10, 50])
    p.add_argument("--cold-runs", type=int, default=10)
    p.add_argument("--pods", type=lambda s: [int(x) for x in s.split()], default=[1, 10, 50])
    p.add_argument("--mem-reps", type=int, default=5)
    p.add_argument("--idle-settle", type=float, default=1.0, help="seconds idle before reading memory")
    p.add_argument("--phases", default="throughput trigger procstart coldstart memory")
    p.add_argument("--servers", default="",
                   help="throughput: only these server keys (up-hello, the peer and upstream, always runs)")
    p.add_argument("--meta", help="JSON file with machine/version facts to embed")
    a = p.parse_args()

    env = rig_env(a.rig_env)
    work = Work(a.work)
    ctr = Ctr(env)
    phases = a.phases.split()

    # Every `spinshim up` of the run shares a compile cache of its own
    # (wasmtime serve has its cache config), unless it asks for a fresh one.
    os.environ["SPINSHIM_CACHE_DIR"] = os.path.join(work.root, "compile-cache")
    fresh_caches = itertools.count()

    def up(key, app, fresh_cache=False):
        def argv(port):
            extra = []
            if fresh_cache:
                cache = os.path.join(work.root, f"compile-cache-{key}-{next(fresh_caches)}")
                extra = ["--cache-dir", cache]
            return [a.spinshim, "up", "--from", app, "--listen", f"127.0.0.1:{port}"] + extra
        return ProcServer(key, argv, work)

    def up_state(key, path):
        """images/state-bench with fresh stores seeded as the guest expects;
        each server gets its own state dir, so nothing carries over."""
        def argv(port):
            state_dir = os.path.join(work.root, f"state-{key}-{port}")
            return [a.spinshim, "up", "--from", a.state_app, "--listen", f"127.0.0.1:{port}",
                    "--state-dir", state_dir, "--key-value", "greeting=Hello, Spin!",
                    "--sqlite", "CREATE TABLE greetings (id INTEGER PRIMARY KEY, value TEXT); "
                                "INSERT INTO greetings VALUES (1, 'Hello, Spin!')"]
        return ProcServer(key, argv, work, path)

    def up_outbound(key, upstream, url):
        """images/outbound-bench: the guest sends each request on to `url`
        (`{port}` is the upstream server's port, known once it started)."""
        def argv(port):
            return [a.spinshim, "up", "--from", a.outbound_app, "--listen", f"127.0.0.1:{port}",
                    "--variable", f"upstream_port={upstream.port}"]
        server = ProcServer(key, argv, work)
        server.url = url
        return server

    def up_redis(key, redis):
        """images/services-bench: one Redis GET per request."""
        def argv(port):
            return [a.spinshim, "up", "--from", a.services_app, "--listen", f"127.0.0.1:{port}",
                    "--variable", f"redis_port={redis.port}"]
        address = urllib.parse.quote(f"redis://127.0.0.1:{redis.port}", safe="")
        return ProcServer(key, argv, work, f"/redis?addr={address}&steps=get%20bench")

    def up_pg(key, postgres):
        """images/services-bench: one single-row PostgreSQL select per request."""
        def argv(port):
            return [a.spinshim, "up", "--from", a.services_app, "--listen", f"127.0.0.1:{port}",
                    "--variable", f"pg_port={postgres.port}"]
        address = urllib.parse.quote(postgres.url(), safe="")
        steps = urllib.parse.quote("query SELECT%20value%20FROM%20greetings%20WHERE%20id%20=%20$1 i32:1", safe="")
        return ProcServer(key, argv, work, f"/pg4?addr={address}&steps={steps}")

    def wasmtime(key, wasm):
        return ProcServer(key, lambda port: [a.wasmtime, "serve", "-S", "cli=y",
                                             "-C", f"cache-config={a.wasmtime_cache_config}",
                                             "--addr", f"127.0.0.1:{port}", wasm], work)

    results = {
        "schema": 1,
        "meta": json.load(open(a.meta)) if a.meta else {},
        "params": {
            "reps": a.reps, "duration_s": a.duration, "warmup_s": a.warmup, "conns": a.conns,
            "cold_runs": a.cold_runs, "pods": a.pods, "mem_reps": a.mem_reps,
            "idle_settle_s": a.idle_settle, "image": a.image,
            "wrk_threads": "min(2, connections)",
        },
        "servers": {
            "up-hello": {"label": "spinshim up", "app": "hello", "kind": "up"},
            "up-hello-first": {"label": "spinshim up, empty compile cache", "app": "hello", "kind": "up"},
            "wasmtime-hello": {"label": "wasmtime serve", "app": "hello", "kind": "wasmtime"},
            "shim-hello": {"label": "shim via containerd 1.7", "app": "hello", "kind": "shim"},
            "up-hello-p3": {"label": "spinshim up", "app": "hello-p3", "kind": "up"},
            "wasmtime-hello-p3": {"label": "wasmtime serve", "app": "hello-p3", "kind": "wasmtime"},
            "up-kv": {"label": "spinshim up", "app": "state-bench GET /kv (key-value get)", "kind": "up"},
            "up-sqlite": {"label": "spinshim up", "app": "state-bench GET /sql (SQLite select)", "kind": "up"},
            "up-proxy": {"label": "spinshim up", "app": "outbound-bench: proxy to a local hyper server (spinshim up hello)", "kind": "up"},
            "up-chain": {"label": "spinshim up", "app": "outbound-bench: chained call to a private hello component", "kind": "up"},
            "up-redis": {"label": "spinshim up", "app": "services-bench: one Redis GET per request (redis-server on loopback)", "kind": "up"},
            "up-pg": {"label": "spinshim up", "app": "services-bench: one single-row PostgreSQL select per request (on loopback)", "kind": "up"},
            "up-redis-trigger": {"label": "spinshim up", "app": "redis-trigger: a fresh instance per published message, which RPUSHes it", "kind": "up"},
        },
    }
    results["meta"]["started"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    results["meta"]["loadavg_start"] = open("/proc/loadavg").read().split()[:3]
    t_start = time.time()

    def save():
        results["meta"]["finished"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        results["meta"]["elapsed_s"] = round(time.time() - t_start, 1)
        results["meta"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=1)
        os.replace(tmp, a.out)

    if "throughput" in phases:
        log(f"phase 1: throughput, {a.reps} reps x {a.conns} connections x 11 servers x {a.duration}s")
        hello = up("up-hello", a.hello_app)
        redis = RedisForBench(work)
        postgres = PostgresForBench(work)
        servers = [
            hello,
            wasmtime("wasmtime-hello", a.hello_wasm),
            Pod(ctr, a.image, f"bench-tput-{os.getpid()}"),
            up("up-hello-p3", a.hello_p3_app),
            wasmtime("wasmtime-hello-p3", a.hello_p3_wasm),
            up_state("up-kv", "/kv"),
            up_state("up-sqlite", "/sql"),
            up_outbound("up-proxy", hello, "http://127.0.0.1:{port}/"),
            up_outbound("up-chain", hello, "http://hello.spin.internal/"),
            up_redis("up-redis", redis),
            up_pg("up-pg", postgres),
        ]
        servers[2].key = "shim-hello"
        if a.servers:
            wanted = set(a.servers.split()) | {"up-hello"}
            servers = [s for s in servers if s.key in wanted]
        try:
            results["throughput"] = phase_throughput(a, servers, work)
            # Everything up-redis did over the phase, warm-up included.
            for name, server in (("redis", redis), ("postgres", postgres)):
                results[name] = {"connections_received": server.connections_received(),
                                 "requests": sum(r["requests"] for r in results["throughput"]
                                                 if r["server"] == f"up-{'pg' if name == 'postgres' else name}")}
        finally:
            redis.stop()
            postgres.stop()
        save()
    if "trigger" in phases:
        log(f"phase 1b: Redis trigger, {a.reps} bursts of {a.trigger_messages} messages")
        results["trigger"] = phase_trigger(a, work, a.trigger_messages, a.reps)
        save()
    if "procstart" in phases:
        log(f"phase 2: process start -> first 200, {a.cold_runs} runs each")
        results["procstart"] = phase_procstart(
            a, [up("up-hello", a.hello_app), wasmtime("wasmtime-hello", a.hello_wasm),
                up("up-hello-first", a.hello_app, fresh_cache=True)], work)
        save()
    if "coldstart" in phases:
        log(f"phase 3: ctr run -d -> first 200, {a.cold_runs} runs each, warm and first start")
        results["coldstart"] = phase_coldstart(a, a.image)
        save()
    if "memory" in phases:
        log(f"phase 4: memory of idle pods {a.pods}, {a.mem_reps} reps")
        results["memory"] = phase_memory(a, ctr, env, a.image)
        save()
    save()
    log(f"results: {a.out} ({time.time() - t_start:.0f}s)")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted: servers and pods stopped")
        sys.exit(130)
