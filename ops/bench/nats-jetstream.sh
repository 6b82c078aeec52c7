#!/usr/bin/env bash
# Peer benchmark: the load of `florian bench cluster` against a 3-node NATS JetStream cluster
# (Debian's nats-server 2.9, stream R3, file storage), all on 127.0.0.1.
#
#   ops/bench/nats-jetstream.sh [--seconds N] [--idle-seconds S] [--kills K] [--payload B] [--retry-ms M]
#
# Prints msgs/s, p50 and p99 per publish (PubAck awaited) at 1 and at 64 in flight, the idle CPU
# of the cluster, RSS per node and the failover time after kill -9 of the stream leader.
# Installs nats-server (apt) when it is missing and this runs as root; the client
# (ops/bench/nats_bench.py) speaks the NATS protocol over a plain socket and needs only python3.
# The data lives in a temporary directory that is removed at the end; every server it started is
# stopped on every way out (normal end, error, Ctrl-C, TERM).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
me=nats-jetstream.sh
die() { echo "$me: $*" >&2; exit 1; }

py=$(command -v python3 || true)
[ -n "$py" ] || die "python3 is not installed (apt-get install python3)"

for a in "$@"; do
    case $a in -h|--help) exec "$py" "$here/nats_bench.py" --help ;; esac
done

find_nats() {
    command -v nats-server 2>/dev/null && return 0
    [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server && return 0
    return 0
}

nats=$(find_nats)
if [ -z "$nats" ]; then
    [ "$(id -u)" = 0 ] || die "nats-server is not installed; run this script as root, or 'apt-get install nats-server' first"
    command -v apt-get >/dev/null || die "nats-server is not installed and there is no apt-get to install it with"
    if ! apt-cache policy nats-server 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        echo "$me: apt-get update" >&2
        timeout 600 apt-get update -q >&2 || die "apt-get update failed"
    fi
    echo "$me: apt-get install -y nats-server" >&2
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q nats-server >&2 \
        || die "apt-get install nats-server failed"
    nats=$(find_nats)
    [ -n "$nats" ] || die "nats-server still not found after installing it"
fi
version=$("$nats" --version 2>&1 || true)
case $version in
    *v2.9.*) ;;
    *) echo "$me: warning: expected nats-server 2.9 (Debian bookworm), found '$version'" >&2 ;;
esac

workdir=$(mktemp -d "${TMPDIR:-/tmp}/nats-jetstream-bench.XXXXXX")
py_pid=

# Waits up to $2 tenths of a second for process $1 to be gone (a zombie counts as gone: a server
# whose parent died is reaped by init, whenever that gets to it).
gone() {
    local i stat
    for ((i = 0; i < $2; i++)); do
        stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
        [[ ${stat##*) } == Z* ]] && return 0
        sleep 0.1
    done
    return 1
}

cleanup() {
    local rc=$? f pid
    trap - EXIT INT TERM HUP
    if [ -n "$py_pid" ] && kill -0 "$py_pid" 2>/dev/null; then
        kill -TERM "$py_pid" 2>/dev/null || true   # it stops its servers itself
        gone "$py_pid" 200 || kill -KILL "$py_pid" 2>/dev/null || true
    fi
    # Backstop: any server of this run still up (pid files written by nats_bench.py; only a
    # process whose command line names this run's directory is signalled).
    for f in "$workdir"/*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null || true)
        [[ $pid =~ ^[0-9]+$ ]] || continue
        if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$workdir/"; then
            kill -TERM "$pid" 2>/dev/null || true
            gone "$pid" 100 || kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$workdir"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# In the background so that a signal to this shell runs the trap at once.
"$py" -u "$here/nats_bench.py" --nats-server "$nats" --dir "$workdir" "$@" &
py_pid=$!
rc=0
wait "$py_pid" || rc=$?
py_pid=
exit "$rc"
