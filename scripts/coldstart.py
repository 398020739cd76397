#!/usr/bin/env python3
"""Cold start of a Spin app under containerd: the time from issuing
`ctr run -d --runtime io.containerd.spin.v2` to the first HTTP 200.

  scripts/coldstart.py --rig-env DIR/rig.env --image REF [--runs 10] [--mode warm|first]

`warm`: the image's precompiled code is already in the content store
(one untimed start first makes sure of that). `first`: before each run the
precompile labels are removed from the image's manifest and layers, so
runwasi calls our compiler again: the start includes compiling every
component.

Prints one line per run and a last line `median_ms=<value>`; standard
library only. The image must already be pulled into namespace `default`.
"""
import argparse
import json
import socket
import statistics
import subprocess
import sys
import time


def rig_env(path):
    env = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_200(port, limit):
    """Polls GET / until it answers 200; returns the time it did."""
    deadline = time.perf_counter() + limit
    request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    while time.perf_counter() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(request)
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return time.perf_counter()
        except OSError:
            pass
        time.sleep(0.001)
    raise SystemExit(f"no HTTP 200 on port {port} within {limit}s")


class Ctr:
    def __init__(self, env, which):
        suffix = "" if which == "1" else "2"
        self.base = [env[f"RIG_CTR{suffix}"], "--address", env[f"RIG_CONTAINERD{suffix}_SOCK"]]

    def __call__(self, *args, check=True):
        out = subprocess.run(self.base + list(args), capture_output=True, text=True)
        if check and out.returncode != 0:
            raise SystemExit(f"ctr {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout


def manifest_digest(ctr, image):
    for line in ctr("images", "ls").splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == image:
            return next(f for f in fields if f.startswith("sha256:"))
    raise SystemExit(f"{image} is not pulled")


def forget_precompiled(ctr, digest):
    """Removes runwasi's precompile markers from the image manifest and
    its layers, so the next start compiles again."""
    manifest = json.loads(ctr("content", "get", digest))
    digests = {digest} | {layer["digest"] for layer in manifest["layers"]}
    for line in ctr("content", "ls").splitlines():
        fields = line.split()
        if not fields or fields[0] not in digests:
            continue
        for label in fields[-1].split(","):
            key = label.split("=", 1)[0]
            if key.startswith("runwasi.io/precompiled/") or key.startswith(
                "containerd.io/gc.ref.content.precompile."
            ):
                ctr("content", "label", fields[0], f"{key}=")


def run_once(ctr, image, name):
    port = free_port()
    start = time.perf_counter()
    ctr("run", "-d", "--net-host", "--runtime", "io.containerd.spin.v2",
        "--env", f"SPIN_HTTP_LISTEN_ADDR=127.0.0.1:{port}", image, name, "/")
    ready = first_200(port, 120)
    ctr("tasks", "kill", name)
    for _ in range(200):
        if "STOPPED" in ctr("tasks", "ls", check=False).split(name, 1)[-1].split("\n", 1)[0]:
            break
        time.sleep(0.01)
    ctr("tasks", "delete", "--force", name, check=False)
    ctr("containers", "delete", name, check=False)
    return (ready - start) * 1000


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rig-env", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--mode", choices=["warm", "first"], default="warm")
    p.add_argument("--containerd", choices=["1", "2"], default="1")
    a = p.parse_args()
    ctr = Ctr(rig_env(a.rig_env), a.containerd)
    digest = manifest_digest(ctr, a.image)
    prefix = f"coldstart-{a.mode}-{int(time.time())}"
    if a.mode == "warm":
        run_once(ctr, a.image, f"{prefix}-prime")
    samples = []
    for i in range(a.runs):
        if a.mode == "first":
            forget_precompiled(ctr, digest)
        ms = run_once(ctr, a.image, f"{prefix}-{i}")
        samples.append(ms)
        print(f"run {i + 1}: {ms:.1f} ms", flush=True)
    print(json.dumps({"mode": a.mode, "samples_ms": [round(s, 1) for s in samples]}))
    print(f"median_ms={statistics.median(samples):.1f}")


if __name__ == "__main__":
    sys.exit(main())
