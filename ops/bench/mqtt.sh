#!/usr/bin/env bash
# MQTT peer benchmark (issue 9): QoS 1 publishes of 256 bytes at 1 and 64 in flight, the same
# Python client (ops/bench/mqtt_bench.py, paho-mqtt 2.x), over TLS 1.3 with client certificates,
# in one run against (and, first, 50 connections one after another: TCP connect → CONNACK)
#   (a) Florian: `florian demo`'s 3-node cluster (replicated, fsynced), node 1's mqtt listener,
#   (b) Debian's mosquitto (one process, no persistence),
#   (c) NATS's MQTT endpoint on a 3-node JetStream cluster (R3, file storage).
# All on 127.0.0.1 with the demo's throw-away PKI; every process it starts is stopped on every
# way out. Prints one line per server and in-flight depth, then the ratios Florian/peer.
#
#   ops/bench/mqtt.sh [--seconds S]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=10
[ "${1:-}" = "--seconds" ] && seconds=${2:?--seconds needs a value}
florian=${FLORIAN_BIN:-$root/.build/release/florian}
[ -x "$florian" ] || { echo "mqtt.sh: build first: swift build -c release --product florian" >&2; exit 2; }
python3 -c 'import paho.mqtt' 2>/dev/null || python3 -m pip install --quiet 'paho-mqtt>=2,<3'
for pkg in mosquitto nats-server; do
  command -v "$pkg" >/dev/null || [ -x "/usr/sbin/$pkg" ] || {
    [ "$(id -u)" = 0 ] || { echo "mqtt.sh: $pkg is missing (apt-get install $pkg)" >&2; exit 2; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >&2; }
done
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
nats=$(command -v nats-server || echo /usr/sbin/nats-server)

work=$(mktemp -d "${TMPDIR:-/tmp}/mqtt-bench.XXXXXX")
pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP

bench() { python3 -u "$here/mqtt_bench.py" --seconds "$seconds" --payload 256 --connects 50 --cafile "$pki/ca.crt" \
            --cert "$pki/partner-thw.crt" --key "$pki/partner-thw.key" "$@" | tee -a "$work/results"; }

# (a) Florian.
"$florian" demo --dir "$work/florian" --no-console > "$work/demo.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do grep -qx ready "$work/demo.log" 2>/dev/null && break; sleep 0.1; done
grep -qx ready "$work/demo.log" || { echo "mqtt.sh: the demo did not start:"; cat "$work/demo.log"; exit 1; } >&2
pki=$work/florian/pki
# The sample rights limit the THW to 100 msg/s; the benchmark lifts that.
sed 's/"messagesPerSecond": [0-9]*/"messagesPerSecond": 100000/' "$work/florian/rights.json" > "$work/bench-rights.json"
"$florian" rights --cluster "$work/florian/cluster.json" apply "$work/bench-rights.json" >/dev/null
port=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['nodes'][0]['mqtt'].rsplit(':',1)[1])" "$work/florian/cluster.json")
leader=$("$florian" console --cluster "$work/florian/cluster.json" --lang en -c health | sed -n 's/.*leader node \([0-9]*\).*/\1/p')
role=$([ "$leader" = 1 ] && echo leader || echo "follower, leader node ${leader:-?}")
bench --port "$port" --topic florian/partners/THW/bench --label "florian (node 1, ${role:-?}) "

# (b) mosquitto, mTLS, node1's certificate as the server's.
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/mosquitto.conf" <<CONF
$( [ "$(id -u)" = 0 ] && echo "user root" )
listener $mport 127.0.0.1
cafile $pki/ca.crt
certfile $pki/node1.crt
keyfile $pki/node1.key
require_certificate true
use_identity_as_username true
persistence false
log_type error
CONF
"$mosquitto" -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
pids+=($!)
sleep 1
bench --port "$mport" --topic bench/mqtt --label "mosquitto "

# (c) NATS MQTT, 3 servers, JetStream R3 (file storage), MQTT over TLS with client certificates.
ports=($(python3 -c 'import socket
ss=[socket.socket() for _ in range(6)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(" ".join(str(s.getsockname()[1]) for s in ss))'))
for k in 0 1 2; do
  routes=$(for j in 0 1 2; do [ $j = $k ] || printf 'nats-route://127.0.0.1:%s,' "${ports[$((3 + j))]}"; done)
  cat > "$work/nats$k.conf" <<CONF
server_name: n$k
listen: 127.0.0.1:-1
jetstream { store_dir: "$work/js$k" }
cluster { name: bench, listen: 127.0.0.1:${ports[$((3 + k))]}, routes: [${routes%,}] }
mqtt { listen: 127.0.0.1:${ports[$k]}, tls { cert_file: "$pki/node$((k + 1)).crt", key_file: "$pki/node$((k + 1)).key", ca_file: "$pki/ca.crt", verify: true } }
CONF
  "$nats" -c "$work/nats$k.conf" > "$work/nats$k.log" 2>&1 &
  pids+=($!)
done
sleep 6
bench --port "${ports[0]}" --topic bench/mqtt --label "nats-mqtt R3 " || echo "nats-mqtt: failed (see the NATS logs)"

python3 - "$work/results" <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\w[\w-]*).*inflight (\d+): (\d+) msg/s", line)
    if m: rows[(m.group(1), int(m.group(2)))] = int(m.group(3))
for n in (1, 64):
    f = rows.get(("florian", n))
    for peer in ("mosquitto", "nats-mqtt"):
        p = rows.get((peer, n))
        if f and p: print("ratio florian/%s at %d in flight: %.2f" % (peer, n, f / p))
PY
