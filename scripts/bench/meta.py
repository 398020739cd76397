#!/usr/bin/env python3
"""Prints, as JSON, the facts about the machine and the versions that a
bench run's report states: CPU, cores, kernel, memory, OS; spinshim's
commit, rustc, wasmtime, wrk, containerd, Python. Standard library only.

  scripts/bench/meta.py --repo . --spinshim BIN --wasmtime BIN --rig-env FILE \
      --mode full|quick|custom --wasmtime-cache-dir DIR
"""
import argparse
import json
import os
import platform
import subprocess
import sys

from run import rig_env  # the rig.env reader run.py uses


def run(*argv, cwd=None):
    try:
        p = subprocess.run(list(argv), capture_output=True, text=True, cwd=cwd, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (p.stdout or p.stderr).strip()


def first_line(text):
    return text.splitlines()[0].strip() if text else ""


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    return None


def os_name():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repo", required=True)
    p.add_argument("--spinshim", required=True)
    p.add_argument("--wasmtime", required=True)
    p.add_argument("--rig-env", required=True)
    p.add_argument("--mode", required=True)
    p.add_argument("--wasmtime-cache-dir", required=True)
    a = p.parse_args()
    env = rig_env(a.rig_env)
    commit = run("git", "rev-parse", "--short=12", "HEAD", cwd=a.repo)
    dirty = run("git", "status", "--porcelain", "--untracked-files=no", cwd=a.repo)
    try:
        import matplotlib
        mpl = matplotlib.__version__
    except ImportError:
        mpl = None
    meta = {
        "mode": a.mode,
        "machine": {
            "nproc": int(run("nproc") or 0),
            "cpu_model": cpu_model(),
            "kernel": platform.release(),
            "mem_total_kib": mem_total_kib(),
            "os": os_name(),
            "arch": platform.machine(),
        },
        "versions": {
            "spinshim_commit": commit + (" (with uncommitted changes)" if dirty else ""),
            "spinshim": first_line(run(a.spinshim, "--version")),
            "rustc": first_line(run("rustc", "--version")),
            "wasmtime": first_line(run(a.wasmtime, "--version")),
            "wrk": first_line(run("wrk", "-v")),
            "containerd": env.get("RIG_CONTAINERD_VERSION", ""),
            "python": platform.python_version(),
            "matplotlib": mpl,
        },
        "wasmtime_cache": {
            "default": "on (wasmtime-cli-flags 48: the cache is used unless -C cache=n; "
                       "directory from ~/.config/wasmtime/config.toml if present, else ~/.cache/wasmtime)",
            "bench_dir": a.wasmtime_cache_dir,
        },
    }
    json.dump(meta, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    sys.exit(main())
