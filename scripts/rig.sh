#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The private test rig: a local OCI registry and two private containerds
# (1.7.x and 2.x) that start the freshly built containerd-shim-spin-v2.
#
#   scripts/rig.sh up [DIR]     start everything in DIR (default
#                               .rig/run-<date>-<pid>); last line printed
#                               is DIR/rig.env
#   scripts/rig.sh down DIR     stop it all and clean up (idempotent)
#   scripts/rig.sh status DIR   what of DIR is still running
#   scripts/rig.sh restart-containerd DIR N
#                               stop containerd N (1: 1.7, 2: 2.x) with
#                               SIGTERM and start it again on the same
#                               root, state and socket (a node's restart)
#   scripts/rig.sh prune        remove the run dirs of rigs that are down
#
# Environment:
#   SPINSHIM_SHIM_BIN   the shim to test (default target/release/containerd-shim-spin-v2)
#   RIG_CONTAINERD2=0   start only containerd 1.7 (make demo)
#   RIG_HOME            where run dirs and the cache go (default <repo>/.rig)
#   RIG_CACHE           download cache (default $RIG_HOME/cache)
#   RIG_REFRESH=1       download the containerd .debs again
#   RIG_LOG_LEVEL       containerd log level (default info)
#   RIG_RUST_LOG        RUST_LOG for the shims containerd starts (make test: info)
#   RIG_KEEP=1          `down` keeps the containerd roots and registry data
#   RIG_KEEP_ON_FAIL=1  a failed `up` leaves everything running, to inspect
#
# Needs root (containerd) on Debian 12; installs what is missing with apt:
# bookworm's docker-registry, runc, curl, ca-certificates, libseccomp2, gcc,
# libc6-dev; containerd itself comes from Debian trixie (1.7) and sid (2.x)
# .debs, downloaded once into the cache and unpacked with dpkg -x, never
# installed. README, "Testing", says what the tests get.
set -euo pipefail
# Under pipefail a reader that stops early (grep -q, head, awk's exit) can
# fail its pipeline with the writer's SIGPIPE (141), now and then: every
# reader in a pipeline here reads to the end.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# shellcheck source=rig/lib.sh
. "$HERE/rig/lib.sh"

RIG_HOME=${RIG_HOME:-$REPO/.rig}
RIG_CACHE=${RIG_CACHE:-$RIG_HOME/cache}
SNIPPETS=$REPO/deployments/containerd

usage() {
    sed -n '3,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

# --- up ------------------------------------------------------------------

# The PATH containerd $1 (1 or 2) runs with: our shim first, then that
# containerd's own runc shim, then the system (bookworm's runc in /usr/sbin).
# /usr/local is left out so no stray shim or runc there is picked up.
containerd_path() {
    echo "$DIR/bin:$RIG_CACHE/containerd-$2/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}

start_registry() {
    local r=$DIR/registry attempt port pid
    mkdir -p "$r/data"
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        cat > "$r/config.yml" <<EOF
# distribution registry for one rig run: 127.0.0.1 only, plain HTTP.
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $r/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
        setsid docker-registry serve "$r/config.yml" > "$r/registry.log" 2>&1 < /dev/null &
        pid=$!
        echo "$pid" > "$r/registry.pid"
        if wait_for "registry on 127.0.0.1:$port" 30 "$r/registry.log" "$pid" \
                curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" \
            && pid_listens "$pid" "$port"; then
            REGISTRY=127.0.0.1:$port
            return 0
        fi
        # Lost a race for the port (or it failed): stop it and try another.
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        rm -f "$r/registry.pid"
        say "registry attempt $attempt on port $port failed; retrying"
    done
    die "the registry did not start"
}

# Registry access for containerd (CRI, transfer service, `ctr --hosts-dir`):
# plain HTTP to our registry.
write_hosts_toml() {
    mkdir -p "$DIR/certs.d/$REGISTRY"
    cat > "$DIR/certs.d/$REGISTRY/hosts.toml" <<EOF
# The rig's registry speaks plain HTTP on 127.0.0.1 only.
server = "http://$REGISTRY"

[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve", "push"]
EOF
}

# write_config N TEMPLATE SNIPPET: containerd N's config, the template with
# the deployment snippet (the same file a node gets) appended.
write_config() {
    local n=$1 template=$2 snippet=$3 d=$DIR/containerd$1
    mkdir -p "$d/root" "$d/state" "$d/opt" "$d/cni/bin" "$d/cni/net.d"
    {
        sed -e "s|@DIR@|$d|g" -e "s|@CERTS_DIR@|$DIR/certs.d|g" \
            -e "s|@PAUSE_IMAGE@|$PAUSE_IMAGE|g" -e "s|@LOG_LEVEL@|${RIG_LOG_LEVEL:-info}|g" "$template"
        echo "# ---- appended verbatim: deployments/containerd/$(basename "$snippet") ----"
        cat "$snippet"
    } > "$d/config.toml"
}

# start_containerd N SUITE: starts containerd N from the cached SUITE
# binaries and waits until it answers and its CRI plugins loaded.
start_containerd() {
    local n=$1 suite=$2 d=$DIR/containerd$1 t pid
    local bin=$RIG_CACHE/containerd-$suite/usr/bin
    t=$(now_ms)
    ln -sfn "$bin/ctr" "$d/ctr"
    local env=(PATH="$(containerd_path "$n" "$suite")" HOME="${HOME:-/root}")
    # A restart gives the shims the RUST_LOG `up` gave them (tests count
    # what they log at info), whatever the restarting process's env says.
    local rust_log=${RIG_RUST_LOG:-}
    if [ "${3:-}" = append ]; then
        rust_log=$(cat "$d/shim-rust-log" 2>/dev/null || true)
    else
        printf '%s' "$rust_log" > "$d/shim-rust-log"
    fi
    [ -n "$rust_log" ] && env+=(RUST_LOG="$rust_log")
    rm -f "$d/containerd.sock"
    # A restart ($3 = append) keeps the log tests read.
    [ "${3:-}" = append ] || : > "$d/containerd.log"
    setsid env -i "${env[@]}" "$bin/containerd" --config "$d/config.toml" \
        >> "$d/containerd.log" 2>&1 < /dev/null &
    pid=$!
    echo "$pid" > "$d/containerd.pid"
    wait_for "$(label "$n")" 60 "$d/containerd.log" "$pid" \
        "$bin/ctr" --address "$d/containerd.sock" version || return 1
    # Every CRI plugin must have loaded ("ok"), or pods cannot run.
    local plugins bad
    plugins=$("$bin/ctr" --address "$d/containerd.sock" plugins ls)
    bad=$(awk 'NR > 1 && ($1 ~ /cri/ || $2 == "cri") && $NF != "ok"' <<<"$plugins")
    if [ -n "$bad" ] || [ -z "$(awk '$2 == "cri" && $NF == "ok"' <<<"$plugins")" ]; then
        say "$(label "$n"): CRI plugin did not load:"
        awk 'NR == 1 || $1 ~ /cri/ || $2 == "cri"' <<<"$plugins" >&2
        log_tail "$d/containerd.log"
        return 1
    fi
    # The spin runtime (the deployment snippet) is in the CRI config it logged.
    case "${RIG_LOG_LEVEL:-info}" in
        info|debug|trace)
            grep -q 'io.containerd.spin.v2' "$d/containerd.log" || {
                say "$(label "$n"): CRI config has no io.containerd.spin.v2 runtime"; log_tail "$d/containerd.log"; return 1; } ;;
    esac
    local version
    version=$("$bin/ctr" --address "$d/containerd.sock" version | awk '/^Server:/ {s=1} s && $1 == "Version:" && !v {v=$2} END {print v}')
    eval "CONTAINERD${n}_VERSION=\$version"
    say "containerd $version up (pid $pid, CRI loaded) in $(since "$t")"
}

label() { if [ "$1" = 1 ]; then echo "containerd 1.7"; else echo "containerd 2.x"; fi; }

ctr_n() { local n=$1; shift; "$DIR/containerd$n/ctr" --address "$DIR/containerd$n/containerd.sock" "$@"; }

# The pod sandbox image: a static pause binary, imported into namespace
# k8s.io of containerd N (CRI never needs to pull it).
import_pause() {
    local n=$1 out
    if ! out=$(ctr_n "$n" -n k8s.io images import "$DIR/pause-image.tar" 2>&1); then
        echo "$out" >&2
        die "$(label "$n"): importing the pause image failed"
    fi
    # containerd 2.x may list it only a moment after the import returns.
    wait_for "$(label "$n"): pause image in k8s.io" 10 "$DIR/containerd$n/containerd.log" "" \
        has_image "$n" k8s.io "$PAUSE_IMAGE" || die "$(label "$n"): pause image $PAUSE_IMAGE missing after import"
}

has_image() { ctr_n "$1" -n "$2" images ls -q | grep -xF "$3" >/dev/null; }

cgroup_roots() {
    local d
    for d in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
        [ -d "$d" ] && [ -e "$d/cgroup.procs" ] && echo "${d%/}"
    done
    return 0
}

# EXIT trap of a failing `up`: take down what was started.
up_exit() {
    local rc=$?
    [ "$rc" = 0 ] && return 0
    say "up failed"
    if [ -z "${RIG_KEEP_ON_FAIL:-}" ]; then
        down "$DIR" >&2 || true
    else
        say "left running: scripts/rig.sh down $DIR"
    fi
    exit "$rc"
}

up() {
    local t0 t
    t0=$(now_ms)
    [ "$(id -u)" = 0 ] || die "the rig runs containerd and needs root"
    local shim_src=${SPINSHIM_SHIM_BIN:-$REPO/target/release/containerd-shim-spin-v2}
    [ -f "$shim_src" ] || die "shim binary $shim_src not found: build it first with \`make build\` (cargo build --release --workspace), or set SPINSHIM_SHIM_BIN"
    [ -x "$shim_src" ] || die "shim binary $shim_src is not executable"
    local want2=${RIG_CONTAINERD2:-1}

    local home=$RIG_HOME
    # Socket paths are limited to ~100 characters: a deep checkout keeps
    # its run dirs in /var/tmp instead.
    if [ -z "${1:-}" ] && [ ${#home} -gt 60 ]; then home=/var/tmp/spinshim-rig; fi
    DIR=${1:-$home/run-$(date +%Y%m%d-%H%M%S)-$$}
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    [ ! -e "$DIR/rig.env" ] || die "$DIR already holds a rig (rig.env); take a new directory or \`scripts/rig.sh down $DIR\` and remove it"
    local sock_len=${#DIR}; sock_len=$((sock_len + 27))
    [ "$sock_len" -lt 104 ] || die "run dir $DIR is too long for unix socket paths (limit ~100 characters); pass a shorter DIR"
    say "run dir $DIR"

    # From here on a failure tears down whatever was started.
    trap up_exit EXIT

    t=$(now_ms)
    # redis-server, mosquitto, postgresql, mariadb-server: tests start their
    # own servers from them (tests/support/{redis,mqtt,postgres,mysql}.rs).
    ensure_packages docker-registry runc curl ca-certificates libseccomp2 gcc libc6-dev redis-server \
        mosquitto postgresql mariadb-server
    say "system packages: $(since "$t")"

    t=$(now_ms)
    fetch_containerd trixie
    [ "$want2" = 0 ] || fetch_containerd sid
    with_lock "$RIG_CACHE/.lock" build_pause_locked "$HERE/rig/pause.c"
    say "containerd binaries and pause binary (cache $RIG_CACHE): $(since "$t")"

    mkdir -p "$DIR/bin"
    cp "$shim_src" "$DIR/bin/containerd-shim-spin-v2"
    cgroup_roots > "$DIR/cgroup-roots"
    for root in $(cat "$DIR/cgroup-roots"); do
        for ns in default k8s.io; do [ -d "$root/$ns" ] && echo "$root/$ns"; done
    done > "$DIR/cgroups-before" || true
    RUN_ID=$(basename "$DIR")
    CGROUP_PARENT=/spinshim-rig-$RUN_ID

    t=$(now_ms)
    start_registry
    write_hosts_toml
    say "registry $REGISTRY up in $(since "$t")"

    PAUSE_IMAGE=$REGISTRY/spinshim-rig/pause:1
    mk_rootfs_image "$DIR/pause-image.tar" "$PAUSE_IMAGE" "$RIG_CACHE/pause/pause"

    write_config 1 "$HERE/rig/containerd-1.7.toml.in" "$SNIPPETS/config-1.7.toml-snippet"
    start_containerd 1 trixie
    import_pause 1
    # Also in the registry, so CRI could pull it again should a test remove it.
    ctr_n 1 -n k8s.io images push --plain-http "$PAUSE_IMAGE" >/dev/null 2>"$DIR/push-pause.err" \
        || { cat "$DIR/push-pause.err" >&2; die "pushing the pause image to $REGISTRY failed"; }

    if [ "$want2" != 0 ]; then
        write_config 2 "$HERE/rig/containerd-2.x.toml.in" "$SNIPPETS/config-2.x.toml-snippet"
        start_containerd 2 sid
        import_pause 2
    fi

    local c1=$DIR/containerd1 c2=$DIR/containerd2
    {
        echo "# scripts/rig.sh up, $(date -Iseconds). Stop with: scripts/rig.sh down $DIR"
        echo "RIG_DIR=$DIR"
        echo "RIG_REGISTRY=$REGISTRY"
        echo "RIG_REGISTRY_LOG=$DIR/registry/registry.log"
        echo "RIG_CERTS_DIR=$DIR/certs.d"
        echo "RIG_SHIM_DIR=$DIR/bin"
        echo "RIG_SHIM_BIN=$DIR/bin/containerd-shim-spin-v2"
        echo "RIG_PAUSE_IMAGE=$PAUSE_IMAGE"
        echo "RIG_CGROUP_PARENT=$CGROUP_PARENT"
        echo "RIG_CTR=$RIG_CACHE/containerd-trixie/usr/bin/ctr"
        echo "RIG_CONTAINERD_SOCK=$c1/containerd.sock"
        echo "RIG_CONTAINERD_LOG=$c1/containerd.log"
        echo "RIG_CONTAINERD_CONFIG=$c1/config.toml"
        echo "RIG_CONTAINERD_VERSION=$CONTAINERD1_VERSION"
        if [ "$want2" != 0 ]; then
            echo "RIG_CONTAINERD2=1"
            echo "RIG_CTR2=$RIG_CACHE/containerd-sid/usr/bin/ctr"
            echo "RIG_CONTAINERD2_SOCK=$c2/containerd.sock"
            echo "RIG_CONTAINERD2_LOG=$c2/containerd.log"
            echo "RIG_CONTAINERD2_CONFIG=$c2/config.toml"
            echo "RIG_CONTAINERD2_VERSION=$CONTAINERD2_VERSION"
        else
            echo "RIG_CONTAINERD2=0"
        fi
    } > "$DIR/rig.env.tmp"
    mv "$DIR/rig.env.tmp" "$DIR/rig.env"
    trap - EXIT
    say "rig up in $(since "$t0"): registry $REGISTRY, containerd $CONTAINERD1_VERSION${CONTAINERD2_VERSION:+ and $CONTAINERD2_VERSION}"
    say "stop it with: scripts/rig.sh down $DIR"
    echo "$DIR/rig.env"
}

# --- down ----------------------------------------------------------------

# Kills every task and removes every container of containerd N, all
# namespaces, so no shim outlives it. Prints "ns/id" of each container seen.
clear_containerd() {
    local n=$1 d=$DIR/containerd$1
    [ -S "$d/containerd.sock" ] && [ -x "$d/ctr" ] || return 0
    local ctr=("$d/ctr" --address "$d/containerd.sock")
    timeout 10 "${ctr[@]}" version >/dev/null 2>&1 || return 0
    local ns t c i
    for ns in $(timeout 10 "${ctr[@]}" namespaces ls -q 2>/dev/null); do
        for c in $(timeout 10 "${ctr[@]}" -n "$ns" containers ls -q 2>/dev/null); do echo "$ns/$c"; done
        local tasks
        tasks=$(timeout 10 "${ctr[@]}" -n "$ns" tasks ls -q 2>/dev/null || true)
        for t in $tasks; do timeout 10 "${ctr[@]}" -n "$ns" tasks kill -a -s SIGKILL "$t" >/dev/null 2>&1 || true; done
        for i in $(seq 1 50); do
            timeout 10 "${ctr[@]}" -n "$ns" tasks ls 2>/dev/null | awk 'NR > 1 && $3 != "STOPPED"' | grep . >/dev/null || break
            sleep 0.1
        done
        for t in $tasks; do timeout 20 "${ctr[@]}" -n "$ns" tasks delete -f "$t" >/dev/null 2>&1 || true; done
        for c in $(timeout 10 "${ctr[@]}" -n "$ns" containers ls -q 2>/dev/null); do
            timeout 20 "${ctr[@]}" -n "$ns" containers delete "$c" >/dev/null 2>&1 || true
        done
    done
}

# stop_pidfiles NAME=FILE...: TERM to each process named in FILE, all at
# once (each takes ~2 s to shut down gracefully), KILL after 10 s.
stop_pidfiles() {
    local spec f pid i any pids=() names=()
    for spec; do
        f=${spec#*=}
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        rm -f "$f"
        if [ -n "$pid" ] && alive "$pid"; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid"); names+=("${spec%%=*}")
        fi
    done
    [ ${#pids[@]} -gt 0 ] || return 0
    for i in $(seq 1 100); do
        any=0
        for pid in "${pids[@]}"; do alive "$pid" && any=1; done
        [ $any = 1 ] || break
        sleep 0.1
    done
    for i in "${!pids[@]}"; do
        if alive "${pids[$i]}"; then
            kill -KILL "${pids[$i]}" 2>/dev/null || true
            say "killed ${names[$i]} (pid ${pids[$i]}): it did not stop within 10s of SIGTERM"
        else
            say "stopped ${names[$i]} (pid ${pids[$i]})"
        fi
    done
}

# Processes of this rig still alive: shims started by our containerds
# (their command line names our socket), anything running a binary from our
# run dir (the shim copy), and all their descendants.
rig_processes() {
    local socks=() p cmd exe
    for p in "$DIR"/containerd*/containerd.sock; do socks+=("$p"); done
    local roots=()
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = $$ ] && continue
        alive "$p" || continue
        exe=$(readlink "/proc/$p/exe" 2>/dev/null || true)
        cmd=$( { tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null || true)
        case "$exe" in "$DIR"/*) roots+=("$p"); continue ;; esac
        for s in "${socks[@]}"; do
            case " $cmd " in *" -address $s "*|*" --address $s "*) 
                case "$cmd" in *containerd-shim*) roots+=("$p") ;; esac ;;
            esac
        done
    done
    [ ${#roots[@]} -eq 0 ] && return 0
    # Add descendants (container processes under a shim).
    local pairs all=" ${roots[*]} " changed=1 pid ppid
    # pid and parent pid of every live (non-zombie) process; a command name
    # with spaces shifts the fields, so read them after the last ')'.
    pairs=$(cat /proc/[0-9]*/stat 2>/dev/null | sed 's/^\([0-9]*\) .*) /\1 /' | awk '$2 != "Z" {print $1, $3}' || true)
    while [ $changed = 1 ]; do
        changed=0
        while read -r pid ppid; do
            case "$all" in *" $ppid "*) case "$all" in *" $pid "*) ;; *) all="$all$pid "; changed=1 ;; esac ;; esac
        done <<<"$pairs"
    done
    echo $all
}

kill_rig_processes() {
    local pids i
    pids=$(rig_processes)
    [ -n "$pids" ] || return 0
    say "stopping leftover shim/container processes: $pids"
    kill -TERM $pids 2>/dev/null || true
    for i in $(seq 1 30); do
        pids=$(rig_processes); [ -n "$pids" ] || return 0
        sleep 0.1
    done
    kill -KILL $pids 2>/dev/null || true
    sleep 0.2
    pids=$(rig_processes)
    [ -z "$pids" ] || say "warning: processes still alive: $pids"
}

unmount_under() {
    local m
    # mountinfo field 5 is the mount point, octal-escaped (\040 for space).
    awk '{print $5}' /proc/self/mountinfo | while read -r m; do printf '%b\n' "$m"; done \
        | awk -v d="$DIR/" 'index($0, d) == 1' | sort -r | while read -r m; do
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "warning: could not unmount $m"
        done
}

# Shim sockets live in /run/containerd/s/; a killed shim leaves its socket.
remove_shim_sockets() {
    local f s
    while IFS= read -r f; do
        for s in $(grep -o 'unix:///run/containerd/s/[0-9a-f]*' "$f" 2>/dev/null); do
            s=${s#unix://}
            if [ -S "$s" ]; then rm -f "$s"; fi
        done
    done < <(find "$DIR"/containerd*/state -maxdepth 4 \( -name address -o -name bootstrap.json \) 2>/dev/null)
    return 0
}

# Runtime state of our containers outside the run dir: runc (and the
# runwasi shims) keep it in /run/containerd/<runtime>/<ns>/<id>, machine-wide;
# a container whose shim was killed leaves it behind, and it would refuse a
# later container of the same id. Ours are those whose state names DIR.
remove_runtime_state() {
    local f
    for f in /run/containerd/*/*/*/state.json; do
        [ -f "$f" ] || continue
        if grep -qF "\"$DIR/" "$f"; then
            rm -rf "$(dirname "$f")"
        fi
    done
    return 0
}

# Removes the (empty) cgroups this run's containers left: ns/id of each
# container, the namespace dirs that did not exist before `up`, and the
# run's own CRI cgroup parent.
remove_cgroups() {
    local containers=$1 root nc dir
    [ -f "$DIR/cgroup-roots" ] || return 0
    local parent
    parent=/spinshim-rig-$(basename "$DIR")
    for root in $(cat "$DIR/cgroup-roots"); do
        for nc in $containers; do
            if [ -d "$root/$nc" ]; then rmdir "$root/$nc" 2>/dev/null || true; fi
        done
        for dir in $(for nc in $containers; do echo "${nc%%/*}"; done | sort -u) default k8s.io; do
            [ -d "$root/$dir" ] || continue
            grep -qxF "$root/$dir" "$DIR/cgroups-before" 2>/dev/null && continue
            find "$root/$dir" -depth -type d -exec rmdir {} \; 2>/dev/null || true
        done
        if [ -d "$root$parent" ]; then
            find "$root$parent" -depth -type d -exec rmdir {} \; 2>/dev/null || true
        fi
    done
    return 0
}

down() {
    DIR=$1
    [ -d "$DIR" ] || { say "$DIR: no such rig directory; nothing to do"; return 0; }
    DIR=$(cd "$DIR" && pwd)
    local t0 containers=""
    t0=$(now_ms)
    for n in 1 2; do
        containers="$containers $(clear_containerd "$n" || true)"
    done
    [ -z "${RIG_DEBUG:-}" ] || say "tasks and containers removed: $(since "$t0")"
    stop_pidfiles "containerd 1.7=$DIR/containerd1/containerd.pid" \
        "containerd 2.x=$DIR/containerd2/containerd.pid" "registry=$DIR/registry/registry.pid"
    [ -z "${RIG_DEBUG:-}" ] || say "daemons stopped: $(since "$t0")"
    kill_rig_processes
    unmount_under
    remove_shim_sockets
    remove_runtime_state
    remove_cgroups "$containers"
    if [ -z "${RIG_KEEP:-}" ]; then
        # --one-file-system: never descend into anything still mounted.
        rm -rf --one-file-system "${DIR:?}"/containerd*/root "${DIR:?}"/containerd*/state \
            "${DIR:?}"/containerd*/opt "${DIR:?}"/registry/data "${DIR:?}"/bin \
            "${DIR:?}"/pause-image.tar 2>/dev/null || true
    fi
    [ -z "${RIG_DEBUG:-}" ] || say "leftovers cleaned: $(since "$t0")"
    say "rig $DIR down in $(since "$t0") (logs and configs kept there)"
}

# --- status --------------------------------------------------------------

status() {
    DIR=$(cd "$1" && pwd)
    local f name pid
    for f in "$DIR"/registry/registry.pid "$DIR"/containerd*/containerd.pid; do
        [ -f "$f" ] || continue
        name=$(basename "$(dirname "$f")"); pid=$(cat "$f")
        if alive "$pid"; then echo "$name: running (pid $pid)"; else echo "$name: not running"; fi
    done
    local procs; procs=$(rig_processes)
    echo "shim and container processes: ${procs:-none}"
    [ -f "$DIR/rig.env" ] && echo "env: $DIR/rig.env"
    return 0
}

# --- restart-containerd --------------------------------------------------

# Stops containerd $2 of rig $1 as a node's service manager does (SIGTERM,
# shims and tasks keep running) and starts it again as `up` did.
restart_containerd() {
    DIR=$(cd "$1" && pwd)
    local n=$2 d pid suite
    d=$DIR/containerd$n
    [ -f "$d/containerd.pid" ] || die "no containerd $n in $DIR"
    pid=$(cat "$d/containerd.pid")
    # `up` linked ctr from the containerd it unpacked: that names the suite.
    suite=$(readlink "$d/ctr" | sed -n 's|.*/containerd-\([a-z]*\)/usr/bin/ctr$|\1|p')
    [ -n "$suite" ] || die "cannot tell which containerd $d/ctr belongs to"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && die "containerd $n (pid $pid) did not stop within 10 s"
    start_containerd "$n" "$suite" append
}

# --- prune ---------------------------------------------------------------

# Removes the run dirs under $RIG_HOME (and /var/tmp/spinshim-rig) whose
# rig is down: no daemon of theirs alive, no shim or container left.
prune() {
    local d f live n=0
    for d in "$RIG_HOME"/run-* /var/tmp/spinshim-rig/run-*; do
        [ -d "$d" ] || continue
        DIR=$(cd "$d" && pwd)
        live=
        for f in "$DIR"/registry/registry.pid "$DIR"/containerd*/containerd.pid; do
            [ -f "$f" ] && alive "$(cat "$f")" && live=1
        done
        [ -z "$live" ] && [ -z "$(rig_processes)" ] || continue
        # Nothing may still be mounted there (down unmounts; be sure).
        awk '{print $5}' /proc/self/mountinfo | grep -F "$DIR/" >/dev/null && continue
        rm -rf --one-file-system "${DIR:?}"
        n=$((n + 1))
    done
    say "removed $n stopped run dir(s)"
}

case "${1:-}" in
    up) shift; [ $# -le 1 ] || usage; up "$@" ;;
    down) shift; [ $# -eq 1 ] || usage; down "$1" ;;
    status) shift; [ $# -eq 1 ] || usage; status "$1" ;;
    prune) shift; [ $# -eq 0 ] || usage; prune ;;
    restart-containerd) shift; [ $# -eq 2 ] || usage; restart_containerd "$1" "$2" ;;
    *) usage ;;
esac
