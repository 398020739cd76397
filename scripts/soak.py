#!/usr/bin/env python3
"""Churn and soak (`make soak`, scripts/soak.sh): standard library only.

  soak.py churn --rig-env F --image REF --cycles N [--containerd 1|2]
      N pod lifecycles through containerd: `ctr run -d`, first 200,
      SIGTERM, exit, delete; then counts what is left on the node.
  soak.py requests --spinshim BIN --app DIR --requests N [--concurrency C]
      N mixed requests (ok, trap, timeout, 1 MiB upload, 4 MiB download)
      against `spinshim up`, sampling its RSS; prints the drift after warm-up.

Each prints `key=value` lines at the end for the report.
"""
import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from coldstart import Ctr, free_port, rig_env  # noqa: E402


def leftovers(ctr, prefix):
    """Shim processes, cgroups, runwasi state, containerd tasks and
    containers, leases and mounts still naming pods of this run."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if b"containerd-shim-spin-v2" in cmdline and prefix.encode() in cmdline:
            found.append(f"process {pid}")
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        for d in dirs:
            if d.startswith(prefix):
                found.append(f"cgroup {os.path.join(root, d)}")
        if root.count("/") > 6:
            dirs[:] = []
    base = "/run/containerd/spin"
    for ns in os.listdir(base) if os.path.isdir(base) else []:
        for d in os.listdir(os.path.join(base, ns)):
            if d.startswith(prefix):
                found.append(f"state {base}/{ns}/{d}")
    for what in ("tasks", "containers"):
        for line in ctr(what, "ls", check=False).splitlines()[1:]:
            if line.startswith(prefix):
                found.append(f"{what} {line.split()[0]}")
    found += [f"lease {l.split()[0]}" for l in ctr("leases", "ls", check=False).splitlines()[1:]
              if prefix in l]
    found += [f"mount {l.split()[4]}" for l in open("/proc/self/mountinfo") if prefix in l]
    return found


def churn(a):
    ctr = Ctr(rig_env(a.rig_env), a.containerd)
    prefix = f"churn{os.getpid()}-"
    leases_before = len(ctr("leases", "ls").splitlines())
    times, start = [], time.perf_counter()
    for i in range(a.cycles):
        name, port = f"{prefix}{i}", free_port()
        t0 = time.perf_counter()
        ctr("run", "-d", "--net-host", "--runtime", "io.containerd.spin.v2",
            "--env", f"SPIN_HTTP_LISTEN_ADDR=127.0.0.1:{port}", a.image, name, "/")
        ready = first_ok(port, 120) - t0
        ctr("tasks", "kill", name)
        for _ in range(1000):
            row = [l for l in ctr("tasks", "ls").splitlines() if l.startswith(name + " ")]
            if not row or "STOPPED" in row[0]:
                break
            time.sleep(0.01)
        else:
            raise SystemExit(f"{name} still running 10 s after SIGTERM")
        ctr("tasks", "delete", name)
        ctr("containers", "delete", name)
        times.append(ready * 1000)
        if (i + 1) % 100 == 0:
            print(f"  {i + 1} cycles, {time.perf_counter() - start:.0f} s", flush=True)
    time.sleep(2)
    left = leftovers(ctr, prefix)
    for item in left:
        print(f"  left: {item}")
    leases_after = len(ctr("leases", "ls").splitlines())
    print(f"churn_cycles={a.cycles}")
    print(f"churn_seconds={time.perf_counter() - start:.0f}")
    print(f"churn_first_200_median_ms={statistics.median(times):.1f}")
    print(f"churn_first_200_max_ms={max(times):.1f}")
    print(f"churn_leftovers={len(left)}")
    print(f"churn_lease_delta={leases_after - leases_before}")
    return 1 if left or leases_after != leases_before else 0


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# (method, path, body, expected status): the mix, repeated in order.
MIX = [("GET", "/ok", None, 200)] * 6 + [
    ("GET", "/trap", None, 500),
    ("GET", "/sleep?n=3000", None, 500),  # cut by --request-timeout 0.2
    ("POST", "/count-body", b"u" * (1 << 20), 200),
    ("GET", "/big?n=4", None, 200),
]


def requests(a):
    port = free_port()
    server = subprocess.Popen(
        [a.spinshim, "up", "--from", a.app, "--listen", f"127.0.0.1:{port}",
         "--request-timeout", "0.2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first_ok(port, 60)
        counts, wrong, lock = {}, [], threading.Lock()
        samples = []
        next_index = [0]

        def worker():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            while True:
                with lock:
                    i = next_index[0]
                    next_index[0] += 1
                if i >= a.requests:
                    return
                method, path, body, expected = MIX[i % len(MIX)]
                try:
                    conn.request(method, path, body=body)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                except (OSError, http.client.HTTPException) as err:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    status = f"error {err}"
                with lock:
                    counts[path] = counts.get(path, 0) + 1
                    if status != expected:
                        wrong.append((path, status))

        threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        warm_at = a.requests // 10
        while any(t.is_alive() for t in threads):
            samples.append((next_index[0], rss_kib(server.pid)))
            time.sleep(0.5)
        seconds = time.perf_counter() - start
        after_warmup = [kib for done, kib in samples if done >= warm_at] or [samples[-1][1]]
        print(f"soak_requests={a.requests}")
        print(f"soak_seconds={seconds:.0f}")
        print(f"soak_req_per_s={a.requests / seconds:.0f}")
        print(f"soak_unexpected={len(wrong)}")
        for path, status in wrong[:10]:
            print(f"  unexpected: {path} -> {status}")
        print(f"soak_rss_warm_mib={after_warmup[0] / 1024:.1f}")
        print(f"soak_rss_end_mib={after_warmup[-1] / 1024:.1f}")
        print(f"soak_rss_max_mib={max(after_warmup) / 1024:.1f}")
        print(f"soak_rss_drift_mib={(after_warmup[-1] - after_warmup[0]) / 1024:.1f}")
        return 1 if wrong else 0
    finally:
        server.terminate()
        server.wait(timeout=30)


def first_ok(port, limit):
    """Polls GET /ok until it answers 200; returns the time it did."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ok")
            if conn.getresponse().status == 200:
                return time.perf_counter()
        except OSError:
            pass
        time.sleep(0.002)
    raise SystemExit(f"no 200 from /ok on port {port} within {limit}s")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="phase", required=True)
    c = sub.add_parser("churn")
    c.add_argument("--rig-env", required=True)
    c.add_argument("--image", required=True)
    c.add_argument("--cycles", type=int, default=1000)
    c.add_argument("--containerd", default="2", choices=["1", "2"])
    r = sub.add_parser("requests")
    r.add_argument("--spinshim", required=True)
    r.add_argument("--app", required=True)
    r.add_argument("--requests", type=int, default=100_000)
    r.add_argument("--concurrency", type=int, default=8)
    a = p.parse_args()
    sys.exit(churn(a) if a.phase == "churn" else requests(a))


if __name__ == "__main__":
    main()
