#!/usr/bin/env python3
"""QoS 1 publish benchmark for one MQTT 3.1.1 server over TLS with client certificates, with
paho-mqtt 2.x — the same client for every server `ops/bench/mqtt.sh` compares.

  mqtt_bench.py --port P --cafile CA --cert C --key K [--host H] [--topic T] [--seconds S]
                [--payload B] [--inflight N]…

For each --inflight N (default 1 and 64): publishes `--payload`-byte messages at QoS 1 for
`--seconds`, keeping N unacknowledged, and prints one line:
  inflight N: M msg/s, p50 X ms, p99 Y ms (publish → PUBACK), K acked
With --connects N (before the publishes): N connections one after another, each timed from the
TCP connect to the CONNACK (TLS handshake with client certificate included), closed by
DISCONNECT; prints
  connect: N connections, p50 X ms, p99 Y ms (TCP connect → CONNACK)
"""
import argparse, signal, ssl, sys, threading, time
import paho.mqtt.client as mqtt

ap = argparse.ArgumentParser()
ap.add_argument("--host", default="127.0.0.1")
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--cafile", required=True)
ap.add_argument("--cert", required=True)
ap.add_argument("--key", required=True)
ap.add_argument("--topic", default="bench/mqtt")
ap.add_argument("--seconds", type=float, default=10)
ap.add_argument("--payload", type=int, default=256)
ap.add_argument("--inflight", type=int, action="append")
ap.add_argument("--label", default="")
ap.add_argument("--connects", type=int, default=0)
a = ap.parse_args()
# SIGTERM ends the current run early, still printing its line (a background load for `florian
# bench alarm`).
stopping = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stopping.set())


def percentile(sorted_values, q):
    n = len(sorted_values)
    return sorted_values[min(n - 1, max(0, int(n * q + 0.999999) - 1))] * 1000 if n else float("nan")


def connects(count):
    times = []
    for k in range(count):
        done = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-connect-%d-%d" % (k, time.time_ns() % 10**9),
                        clean_session=True, protocol=mqtt.MQTTv311)
        c.tls_set(ca_certs=a.cafile, certfile=a.cert, keyfile=a.key, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        c.on_connect = lambda client, userdata, flags, reason_code, properties: done.set() if not reason_code.is_failure else None
        t0 = time.perf_counter()
        c.connect(a.host, a.port, keepalive=30)
        c.loop_start()
        if not done.wait(10):
            sys.exit("%sno CONNACK within 10 s" % a.label)
        times.append(time.perf_counter() - t0)
        c.disconnect()
        c.loop_stop()
    times.sort()
    print("%sconnect: %d connections, p50 %.2f ms, p99 %.2f ms (TCP connect → CONNACK)"
          % (a.label, count, percentile(times, 0.5), percentile(times, 0.99)), flush=True)


def run(inflight):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-%d-%d" % (inflight, time.time_ns() % 10**9),
                    clean_session=True, protocol=mqtt.MQTTv311)
    c.tls_set(ca_certs=a.cafile, certfile=a.cert, keyfile=a.key, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    c.max_inflight_messages_set(inflight)
    c.max_queued_messages_set(0)
    slots = threading.Semaphore(inflight)
    started = {}
    lat = []
    lock = threading.Lock()

    def on_publish(client, userdata, mid, reason_code, properties):
        t = time.perf_counter()
        with lock:
            s = started.pop(mid, None)
            if s is not None:
                lat.append(t - s)
        slots.release()

    c.on_publish = on_publish
    c.connect(a.host, a.port, keepalive=30)
    c.loop_start()
    deadline = time.time() + 10
    while not c.is_connected() and time.time() < deadline:
        time.sleep(0.01)
    if not c.is_connected():
        sys.exit("cannot connect to %s:%d" % (a.host, a.port))
    payload = b"x" * a.payload
    def publish_until(end, clock):
        """Publishes while clock() < end, then waits until every one is acknowledged."""
        while clock() < end and not stopping.is_set():
            slots.acquire()
            info = c.publish(a.topic, payload, qos=1)
            with lock:
                started[info.mid] = time.perf_counter()
        for _ in range(inflight):
            slots.acquire()
        for _ in range(inflight):
            slots.release()

    publish_until(time.time() + 1, time.time)  # warm-up, not counted
    with lock:
        lat.clear()
    t0 = time.perf_counter()
    publish_until(t0 + a.seconds, time.perf_counter)
    elapsed = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()
    lat.sort()
    n = len(lat)
    p = lambda q: lat[min(n - 1, max(0, int(n * q + 0.999999) - 1))] * 1000 if n else float("nan")
    print("%sinflight %d: %.0f msg/s, p50 %.2f ms, p99 %.2f ms (publish → PUBACK), %d acked"
          % (a.label, inflight, n / elapsed, p(0.5), p(0.99), n), flush=True)


if a.connects:
    connects(a.connects)
for n in (a.inflight or [1, 64]):
    run(n)
