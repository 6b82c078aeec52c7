#!/usr/bin/env bash
# One run of both: `florian bench cluster` (3 node processes, mTLS, fsync on every commit) and
# the same load against a 3-node NATS JetStream cluster (nats-jetstream.sh), then a short
# failover test of each, and the ratios Florian/NATS. The machine is noisy: compare only figures
# from the same run.
#
#   ops/bench/cluster-vs-nats.sh [--seconds N] [--idle-seconds S] [--kills K]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../chaos/florian-bin.sh"
seconds=10 idle=30 kills=5
while [ $# -gt 0 ]; do
    case $1 in
        --seconds) seconds=$2; shift 2 ;;
        --idle-seconds) idle=$2; shift 2 ;;
        --kills) kills=$2; shift 2 ;;
        *) echo "usage: $0 [--seconds N] [--idle-seconds S] [--kills K]" >&2; exit 2 ;;
    esac
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$FLORIAN_BIN" bench cluster --seconds "$seconds" --idle-seconds "$idle" | tee "$out/florian"
"$FLORIAN_BIN" chaos failover-test --kills "$kills" | tail -n 1 | tee -a "$out/florian"
"$here/nats-jetstream.sh" --seconds "$seconds" --idle-seconds "$idle" --kills "$kills" | tee "$out/nats"
python3 - "$out/florian" "$out/nats" <<'PY'
import re, sys
f = open(sys.argv[1]).read(); n = open(sys.argv[2]).read()
def num(pattern, text):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else None
rows = [
    ("1 in flight msg/s", num(r"1 in flight: ([\d.]+) msg/s", f), num(r"1-in-flight: ([\d.]+) msg/s", n), "≥ 1.5×"),
    ("64 in flight msg/s", num(r"64 in flight: ([\d.]+) msg/s", f), num(r"64-in-flight: ([\d.]+) msg/s", n), "≥ 1.5×"),
    ("1 in flight p99 ms", num(r"1 in flight: .*?p99 ([\d.]+) ms", f), num(r"1-in-flight: .*?p99 ([\d.]+) ms", n), "≤ 1 ms"),
    ("idle % of one core", num(r"idle: ([\d.]+) %", f), num(r"nats idle: ([\d.]+) %", n), "≤ 0.2 %"),
    ("RSS MB node 1 (after load)", num(r"rss after load: node1 ([\d.]+) MB", f), num(r"nats rss: n1 ([\d.]+) MB", n), "≤ 25 MB"),
    ("failover p50 ms", num(r"failover-test: .*?p50 (\d+)ms", f), num(r"nats failover: .*?p50 (\d+) ms", n), "p99 < 1000"),
]
print("cluster-vs-nats: figure | florian | nats | florian/nats | target")
for name, a, b, target in rows:
    ratio = f"{a / b:.2f}" if a is not None and b else "-"
    print(f"cluster-vs-nats: {name} | {a} | {b} | {ratio} | {target}")
print("cluster-vs-nats: NATS 2.9 does not fsync each write (sync_interval 2 min); Florian fsyncs every commit on a majority")
PY
