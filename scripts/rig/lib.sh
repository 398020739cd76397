# Helpers for scripts/rig.sh (sourced, not run). Bash only: no python.
# shellcheck shell=bash

RIG_LOG_PREFIX=${RIG_LOG_PREFIX:-rig}

say() { printf '[%s] %s\n' "$RIG_LOG_PREFIX" "$*" >&2; }
die() { printf '[%s] error: %s\n' "$RIG_LOG_PREFIX" "$*" >&2; exit 1; }

# Milliseconds since the epoch, and a duration since $1 as "1.234s".
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
since() { local d=$(( $(now_ms) - $1 )); printf '%d.%03ds' $((d / 1000)) $((d % 1000)); }

# Prints the last lines of a log file, indented, for failure messages.
log_tail() {
    local file=$1 lines=${2:-40}
    if [ -s "$file" ]; then
        echo "----- last $lines lines of $file -----" >&2
        tail -n "$lines" "$file" | sed 's/^/    /' >&2
        echo "-----" >&2
    else
        echo "(log $file is empty or missing)" >&2
    fi
}

# wait_for DESCRIPTION SECONDS LOGFILE PID COMMAND...
# Polls COMMAND every 100 ms until it succeeds. Fails (printing the log tail)
# when PID exits first or SECONDS pass.
wait_for() {
    local desc=$1 secs=$2 log=$3 pid=$4; shift 4
    local deadline=$(( $(now_ms) + secs * 1000 ))
    while :; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        if [ -n "$pid" ] && ! alive "$pid"; then
            say "$desc: process $pid exited before it was ready"
            log_tail "$log"
            return 1
        fi
        if [ "$(now_ms)" -gt "$deadline" ]; then
            say "$desc: not ready within ${secs}s"
            log_tail "$log"
            return 1
        fi
        sleep 0.1
    done
}

# True while process $1 exists and is not a zombie (PID 1 here may reap
# late, and kill -0 succeeds on zombies).
alive() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# Installs the Debian packages among "$@" that are not installed yet.
# Nothing runs (not even apt-get update) when all are present.
ensure_packages() {
    local missing=() p
    for p in "$@"; do
        if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
            missing+=("$p")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "missing Debian packages (${missing[*]}) and not root: install them with apt-get"
    say "installing ${missing[*]} (apt)"
    export DEBIAN_FRONTEND=noninteractive
    local i
    for i in 1 2 3; do
        apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null && break
        [ "$i" = 3 ] && die "apt-get update failed three times"
        sleep 5
    done
    # Servers (redis, mosquitto, postgresql, mariadb) are started by the
    # tests that need them, never by their packages: policy-rc.d's 101
    # tells the packages' scripts not to start them.
    local policy=/usr/sbin/policy-rc.d placed=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && placed=1
    fi
    local ok=1
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || ok=
    [ -n "$placed" ] && rm -f "$policy"
    [ -n "$ok" ] || die "apt-get install ${missing[*]} failed"
}

# Ports in use (any state, IPv4 and IPv6), one per line, decimal.
ports_in_use() {
    local f
    for f in /proc/net/tcp /proc/net/tcp6; do
        [ -r "$f" ] || continue
        awk 'NR > 1 { split($2, a, ":"); print a[2] }' "$f"
    done | while read -r hex; do echo $((16#$hex)); done | sort -un
}

# A TCP port on 127.0.0.1 that nothing uses, below the kernel's ephemeral
# range (so it cannot collide with ports the tests get from bind(0)).
free_port() {
    local lo hi used port i
    read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range
    hi=$(( lo - 1 ))
    lo=$(( hi > 21000 ? 20000 : 1025 ))
    used=$(ports_in_use)
    for i in $(seq 1 200); do
        port=$(( lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1) ))
        if ! grep -qx "$port" <<<"$used"; then echo "$port"; return 0; fi
    done
    die "no free TCP port found"
}

# True when process PID itself holds the listening socket on TCP PORT.
pid_listens() {
    local pid=$1 port=$2 hexport inode f fd
    hexport=$(printf '%04X' "$port")
    for f in /proc/net/tcp /proc/net/tcp6; do
        [ -r "$f" ] || continue
        # st 0A = LISTEN; field 10 is the socket inode.
        for inode in $(awk -v p=":$hexport" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10 }' "$f"); do
            for fd in /proc/"$pid"/fd/*; do
                [ "$(readlink "$fd" 2>/dev/null)" = "socket:[$inode]" ] && return 0
            done
        done
    done
    return 1
}

# Runs "$@" holding an exclusive lock on file $LOCK (so concurrent rigs share
# the download cache safely).
with_lock() {
    local lock=$1; shift
    mkdir -p "$(dirname "$lock")"
    (
        exec 9>"$lock"
        flock -w 600 9 || die "could not lock $lock within 600s"
        "$@"
    )
}

# The Debian archive the machine's apt sources name, as apt reaches it
# (a local mirror, a proxy or a snapshot), so the rig fetches from where
# the package tools do: the first enabled `deb` entry of the deb822
# .sources files, then of the one-line sources.list files, that is a
# Debian archive (signed by Debian's archive keyring or at a .../debian
# path) and not a security archive. deb.debian.org when none is.
# $APT_ETC (default /etc/apt) is where the sources are read from.
apt_debian_mirror() {
    local etc=${APT_ETC:-/etc/apt} f uri
    for f in "$etc"/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && enabled != "no" && uris != "" &&
                    uris !~ /security/ && suites !~ /^[^ ]*-security$/ &&
                    (signed ~ /debian-archive-keyring/ || uris ~ /\/debian\/?( |$)/)) {
                    split(uris, u, " "); print u[1]; found = 1; exit
                }
                types = ""; uris = ""; suites = ""; signed = ""; enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            {
                key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
                if (key == "types") types = $0
                else if (key == "uris") uris = $0
                else if (key == "suites") suites = $0
                else if (key == "signed-by") signed = $0
                else if (key == "enabled") enabled = tolower($0)
            }
            END { if (!found) flush() }' "$f")
        [ -n "$uri" ] && { echo "${uri%/}"; return 0; }
    done
    for f in "$etc"/sources.list "$etc"/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uri=$(awk '
            $1 != "deb" { next }
            {
                line = $0; sub(/^deb[ \t]+/, "", line)
                signed = ""
                if (line ~ /^\[/) { signed = substr(line, 1, index(line, "]")); line = substr(line, index(line, "]") + 1) }
                n = split(line, f, " ")
                if (n >= 2 && f[1] !~ /security/ && f[2] !~ /-security$/ &&
                    (signed ~ /debian-archive-keyring/ || f[1] ~ /\/debian\/?$/)) { print f[1]; exit }
            }' "$f")
        [ -n "$uri" ] && { echo "${uri%/}"; return 0; }
    done
    echo "http://deb.debian.org/debian"
}

# Fetches containerd from Debian suite $1 (trixie = 1.7.x, sid = 2.x) into
# the cache, once: the .deb via a side apt configuration (own sources list,
# lists and archives under $RIG_CACHE/apt; the system's apt is untouched),
# extracted with dpkg -x to $RIG_CACHE/containerd-$1. runc is never taken
# from there (trixie's runc needs a newer glibc than bookworm has).
fetch_containerd_locked() {
    local suite=$1 dest=$RIG_CACHE/containerd-$1
    if [ -x "$dest/usr/bin/containerd" ] && [ -x "$dest/usr/bin/ctr" ] && [ -z "${RIG_REFRESH:-}" ]; then
        return 0
    fi
    local apt_dir=$RIG_CACHE/apt debs=$RIG_CACHE/debs/$suite
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$debs"
    local mirror=${RIG_DEBIAN_MIRROR:-$(apt_debian_mirror)}
    {
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main"
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror sid main"
    } > "$apt_dir/sources.list"
    local opts=(-o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir"
        -o Dir::Cache::archives="$apt_dir/archives" -o Dir::State::status=/dev/null
        -o Acquire::Languages=none -o APT::Architectures="$(dpkg --print-architecture)"
        -o APT::Sandbox::User=root)
    if [ -n "${RIG_REFRESH:-}" ] || ! ls "$debs"/containerd_*.deb >/dev/null 2>&1; then
        local t i
        t=$(now_ms)
        # One update serves both suites: skip it when the lists are fresh.
        if [ -n "${RIG_REFRESH:-}" ] || [ -z "$(find "$apt_dir/lists" -maxdepth 1 -name '*_Packages*' -mmin -60 2>/dev/null)" ]; then
            for i in 1 2 3; do
                apt-get "${opts[@]}" update -qq >/dev/null 2>"$apt_dir/update.err" && break
                [ "$i" = 3 ] && { cat "$apt_dir/update.err" >&2; die "apt-get update (side config for trixie/sid) failed"; }
                sleep 5
            done
        fi
        rm -f "$debs"/containerd_*.deb
        (cd "$debs" && apt-get "${opts[@]}" download "containerd/$suite" >/dev/null 2>"$apt_dir/download.err") \
            || { cat "$apt_dir/download.err" >&2; die "downloading containerd from $suite failed"; }
        say "downloaded $(basename "$(ls "$debs"/containerd_*.deb)") in $(since "$t")"
    fi
    rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
    dpkg -x "$(ls "$debs"/containerd_*.deb | sed -n 1p)" "$dest.tmp"
    rm -f "$dest.tmp"/usr/bin/runc "$dest.tmp"/usr/sbin/runc
    rm -rf "$dest" && mv "$dest.tmp" "$dest"
}
fetch_containerd() { with_lock "$RIG_CACHE/.lock" fetch_containerd_locked "$1"; }

# Builds the static pause binary into the cache, once.
build_pause_locked() {
    local src=$1 out=$RIG_CACHE/pause/pause
    if [ -x "$out" ] && [ "$out" -nt "$src" ]; then return 0; fi
    mkdir -p "$(dirname "$out")"
    gcc -Os -static -s -o "$out.tmp" "$src" || die "building the static pause binary failed (gcc, libc6-dev)"
    mv "$out.tmp" "$out"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# write_blob LAYOUT FILE: stores FILE as a blob, prints its hex digest.
write_blob() {
    local layout=$1 file=$2 d
    d=$(sha256_of "$file")
    mkdir -p "$layout/blobs/sha256"
    cp "$file" "$layout/blobs/sha256/$d"
    echo "$d"
}

# mk_rootfs_image OUT.tar NAME BINARY: a one-layer container image holding
# BINARY as /<basename>, its entrypoint, as an OCI image-layout tarball for
# `ctr images import`.
mk_rootfs_image() {
    local out=$1 name=$2 bin=$3 work
    work=$(mktemp -d)
    local arch; arch=$(dpkg --print-architecture)
    local base; base=$(basename "$bin")
    mkdir -p "$work/rootfs" "$work/layout"
    cp "$bin" "$work/rootfs/$base"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/rootfs" -cf "$work/layer.tar" "$base"
    local layer layer_size
    layer=$(write_blob "$work/layout" "$work/layer.tar"); layer_size=$(stat -c %s "$work/layer.tar")
    printf '{"architecture":"%s","os":"linux","config":{"Entrypoint":["/%s"],"Env":["PATH=/"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
        "$arch" "$base" "$layer" > "$work/config.json"
    local config config_size
    config=$(write_blob "$work/layout" "$work/config.json"); config_size=$(stat -c %s "$work/config.json")
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
        "$config" "$config_size" "$layer" "$layer_size" > "$work/manifest.json"
    local manifest manifest_size
    manifest=$(write_blob "$work/layout" "$work/manifest.json"); manifest_size=$(stat -c %s "$work/manifest.json")
    printf '{"imageLayoutVersion":"1.0.0"}' > "$work/layout/oci-layout"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
        "$manifest" "$manifest_size" "$arch" "$name" "${name##*:}" > "$work/layout/index.json"
    tar --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/layout" -cf "$out" oci-layout index.json blobs
    rm -rf "$work"
}
