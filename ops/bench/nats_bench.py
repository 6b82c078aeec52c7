#!/usr/bin/env python3
"""Peer benchmark: the load of `florian bench cluster` against a 3-node NATS JetStream cluster.

Started by ops/bench/nats-jetstream.sh, which installs nats-server, makes the data directory and
stops whatever is left at the end; this file can also run alone (`--nats-server PATH`, and a
temporary `--dir` it removes itself).

Everything runs on 127.0.0.1: three nats-server processes (client and route ports picked free on
loopback), one stream `BENCH` (subjects `bench.>`, file storage, 3 replicas) and this client.

The client speaks the NATS text protocol over a plain socket (INFO/CONNECT/PING/PONG/SUB/PUB/MSG/
HMSG), so it needs nothing but the standard library. A JetStream publish is a PUB to the stream's
subject with a reply subject under this client's inbox; the stream leader answers on it with the
PubAck JSON ({"stream":..,"seq":..}) once the message is stored on a quorum. Latency is taken per
publish, from queueing the PUB for the socket to reading its PubAck.

Measured, as `florian bench cluster` does:
  * closed-loop publishes of --payload bytes (256) at 1 and at 64 in flight, each --seconds (10)
    after a 0.5 s warm-up: msgs/s, p50, p99;
  * RSS per node after the load (VmRSS), then the idle CPU of the three server processes over
    --idle-seconds (30) (utime+stime from /proc/<pid>/stat, as % of one core);
  * failover, --kills (3) times: kill -9 the stream leader (cluster.leader from
    $JS.API.STREAM.INFO.BENCH) while publishing at 1 in flight with retries from a client on a
    surviving node; the time from the kill to the first PubAck of a publish sent after the kill.
    The killed server is restarted and the stream must be whole again before the next kill.
"""

import argparse
import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import tempfile
import shutil
import time

STREAM = "BENCH"
SUBJECT = "bench.load"
NODES = ("n1", "n2", "n3")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def now_ns():
    return time.perf_counter_ns()


def log(msg):
    print(f"nats-bench: {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """A benchmark step failed; the message says which and why."""


class ConnectionLost(BenchError):
    pass


# --------------------------------------------------------------------------------------------
# A minimal NATS client over one socket.


class Conn:
    def __init__(self, port, name="florian-peer-bench", timeout=5.0):
        self.port = port
        try:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        except OSError as e:
            raise ConnectionLost(f"cannot connect to nats on 127.0.0.1:{port}: {e}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.buf = bytearray()
        self.out = bytearray()
        self.pongs = 0
        self.info = None
        self.inbox = "_INBOX." + "%016x" % random.getrandbits(64)
        self.inbox_b = self.inbox.encode()
        self.next_req = 0
        deadline = time.monotonic() + timeout
        while self.info is None:
            self._pump_until(deadline, "no INFO from the server")
        connect = {
            "verbose": False, "pedantic": False, "tls_required": False, "name": name,
            "lang": "python-raw", "version": "1", "protocol": 1, "headers": True,
            "no_responders": True, "echo": False,
        }
        self.out += b"CONNECT " + json.dumps(connect).encode() + b"\r\n"
        self.out += b"SUB " + self.inbox_b + b".* 1\r\n"
        self.ping(deadline)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _pump_until(self, deadline, what):
        left = deadline - time.monotonic()
        if left <= 0:
            raise BenchError(f"127.0.0.1:{self.port}: {what} (timed out)")
        return self.pump(min(left, 0.1))

    def ping(self, deadline):
        """Round trip to the server: everything sent before has been processed by it."""
        want = self.pongs + 1
        self.out += b"PING\r\n"
        while self.pongs < want:
            self._pump_until(deadline, "no PONG")

    def flush(self):
        while self.out:
            try:
                n = self.sock.send(self.out)
            except BlockingIOError:
                return False
            except OSError as e:
                raise ConnectionLost(f"127.0.0.1:{self.port}: send failed: {e}") from None
            del self.out[:n]
        return True

    def pump(self, timeout):
        """Sends what is queued, waits up to `timeout` s for input, returns the inbox messages
        read as (reply-id bytes, status or None, payload)."""
        self.flush()
        wlist = [self.sock] if self.out else []
        r, w, _ = select.select([self.sock], wlist, [], max(0.0, timeout))
        if w:
            self.flush()
        if not r:
            return []
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return []
        except OSError as e:
            raise ConnectionLost(f"127.0.0.1:{self.port}: receive failed: {e}") from None
        if not data:
            raise ConnectionLost(f"127.0.0.1:{self.port}: server closed the connection")
        self.buf += data
        return self._parse()

    def _parse(self):
        msgs = []
        buf = self.buf
        pos = 0
        n = len(buf)
        while pos < n:
            end = buf.find(b"\r\n", pos)
            if end < 0:
                break
            op = bytes(buf[pos:pos + 4]).upper()
            if op == b"MSG ":
                parts = bytes(buf[pos + 4:end]).split()
                size = int(parts[-1])
                stop = end + 2 + size
                if stop + 2 > n:
                    break
                msgs.append((parts[0].rpartition(b".")[2], None, bytes(buf[end + 2:stop])))
                pos = stop + 2
            elif op == b"HMSG":
                parts = bytes(buf[pos + 5:end]).split()
                hdr, total = int(parts[-2]), int(parts[-1])
                stop = end + 2 + total
                if stop + 2 > n:
                    break
                head = bytes(buf[end + 2:end + 2 + hdr])
                first = head.split(b"\r\n", 1)[0].split()  # NATS/1.0 [status [description]]
                status = first[1].decode() if len(first) > 1 else None
                msgs.append((parts[0].rpartition(b".")[2], status, bytes(buf[end + 2 + hdr:stop])))
                pos = stop + 2
            elif op == b"PING":
                self.out += b"PONG\r\n"
                pos = end + 2
            elif op == b"PONG":
                self.pongs += 1
                pos = end + 2
            elif op == b"+OK\r":
                pos = end + 2
            elif op == b"INFO":
                self.info = json.loads(bytes(buf[pos + 5:end]))
                pos = end + 2
            elif op == b"-ERR":
                raise ConnectionLost(f"127.0.0.1:{self.port}: server error {bytes(buf[pos:end]).decode(errors='replace')}")
            else:
                raise ConnectionLost(f"127.0.0.1:{self.port}: unexpected protocol line {bytes(buf[pos:end])[:80]!r}")
        del buf[:pos]
        return msgs

    # PUB with a reply subject in this client's inbox; the id is the last token.
    def pub(self, subject_b, rid, payload):
        self.out += b"PUB %s %s.%d %d\r\n" % (subject_b, self.inbox_b, rid, len(payload))
        self.out += payload
        self.out += b"\r\n"

    def request(self, subject, payload=b"", timeout=2.0):
        """One request/reply; returns the decoded JSON answer, or None on timeout or no responders."""
        self.next_req += 1
        rid = 1_000_000_000_000 + self.next_req  # apart from the publish ids
        self.pub(subject.encode(), rid, payload)
        want = str(rid).encode()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r, status, data in self.pump(min(0.05, max(0.0, deadline - time.monotonic()))):
                if r != want:
                    continue
                if status is not None:  # 503: no responders
                    return None
                return json.loads(data)
        return None


def ack_ok(status, data):
    return status is None and b'"error"' not in data


# --------------------------------------------------------------------------------------------
# The cluster.


def free_ports(count):
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Node:
    def __init__(self, name, binary, directory, client_port, route_port, route_ports):
        self.name = name
        self.binary = binary
        self.client_port = client_port
        self.conf = os.path.join(directory, f"{name}.conf")
        self.log_path = os.path.join(directory, f"{name}.log")
        self.pid_path = os.path.join(directory, f"{name}.pid")
        self.store = os.path.join(directory, name)
        self.proc = None
        routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in route_ports if p != route_port)
        with open(self.conf, "w") as f:
            f.write(f"""server_name: {name}
listen: 127.0.0.1:{client_port}
jetstream {{
  store_dir: "{self.store}"
  max_memory_store: 256MB
  max_file_store: 4GB
}}
cluster {{
  name: florian-peer-bench
  listen: 127.0.0.1:{route_port}
  routes: [ {routes} ]
}}
""")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen([self.binary, "-c", self.conf], stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=subprocess.STDOUT)
        with open(self.pid_path, "w") as f:
            f.write(f"{self.proc.pid}\n")

    def wait_listening(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise BenchError(f"{self.name} exited with status {self.proc.returncode} at start\n{self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.client_port), timeout=0.5).close()
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name} does not listen on 127.0.0.1:{self.client_port} after {timeout:.0f} s\n{self.log_tail()}")
            time.sleep(0.05)

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)

    def reap(self, timeout=10):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f"{self.name} (pid {self.proc.pid}) still runs {timeout} s after SIGKILL") from None

    def cpu_ticks(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)

    def rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        raise BenchError(f"{self.name}: no VmRSS in /proc/{self.proc.pid}/status")

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, errors="replace") as f:
                tail = f.readlines()[-lines:]
        except OSError:
            return f"  ({self.name}: no log)"
        return "".join(f"  {self.name}| {line}" for line in tail).rstrip("\n")


class Cluster:
    def __init__(self, binary, directory):
        ports = free_ports(6)
        clients, routes = ports[:3], ports[3:]
        self.nodes = [Node(n, binary, directory, c, r, routes) for n, c, r in zip(NODES, clients, routes)]
        self.by_name = {n.name: n for n in self.nodes}

    def start(self, timeout=30):
        for n in self.nodes:
            n.start()
        for n in self.nodes:
            n.wait_listening(timeout)

    def stop(self):
        for n in self.nodes:
            if n.alive():
                n.proc.terminate()
        for n in self.nodes:
            if n.proc is not None:
                try:
                    n.proc.wait(10)
                except subprocess.TimeoutExpired:
                    n.proc.kill()
                    n.proc.wait(5)

    def logs(self):
        return "\n".join(n.log_tail() for n in self.nodes)

    def connect(self, exclude=(), timeout=5.0):
        """A connection to the first running node not in `exclude`."""
        errors = []
        for n in self.nodes:
            if n.name in exclude or not n.alive():
                continue
            try:
                return Conn(n.client_port, timeout=timeout), n
            except BenchError as e:
                errors.append(str(e))
        raise BenchError("no node to connect to: " + ("; ".join(errors) or "none running"))


STREAM_CONFIG = {
    "name": STREAM, "subjects": ["bench.>"], "retention": "limits", "storage": "file",
    "num_replicas": 3, "discard": "old", "max_msgs": 100_000,  # the retention of Florian's bench topic
    "max_bytes": -1, "max_age": 0, "max_msg_size": -1, "max_consumers": -1,
}


def create_stream(conn, timeout=60):
    deadline = time.monotonic() + timeout
    last = "no answer"
    body = json.dumps(STREAM_CONFIG).encode()
    while time.monotonic() < deadline:
        resp = conn.request(f"$JS.API.STREAM.CREATE.{STREAM}", body, timeout=2)
        if resp is None:
            last = "no answer (JetStream not ready)"
        elif "error" in resp:
            err = resp["error"]
            if err.get("err_code") == 10058:  # stream name already in use: an earlier try landed
                return
            last = f"{err.get('code')} {err.get('description')}"
        else:
            return
        time.sleep(0.25)
    raise BenchError(f"cannot create stream {STREAM} within {timeout} s: {last}")


def stream_cluster(conn):
    resp = conn.request(f"$JS.API.STREAM.INFO.{STREAM}", b"", timeout=2)
    if resp is None or "error" in resp:
        return None
    return resp.get("cluster") or {}


def healthy(cl, need=()):
    """The stream has a leader and both other replicas are online and current."""
    if not cl or not cl.get("leader"):
        return False
    reps = cl.get("replicas") or []
    if len(reps) != 2 or not all(r.get("current") and not r.get("offline") for r in reps):
        return False
    names = {cl["leader"]} | {r.get("name") for r in reps}
    return all(n in names for n in need)


def wait_healthy(cluster, need=(), timeout=90):
    deadline = time.monotonic() + timeout
    last = None
    conn = None
    try:
        while time.monotonic() < deadline:
            try:
                if conn is None:
                    conn, _ = cluster.connect()
                cl = stream_cluster(conn)
            except BenchError:
                if conn is not None:
                    conn.close()
                conn = None
                cl = None
            if cl:
                last = cl
            if healthy(cl, need):
                return cl
            time.sleep(0.2)
    finally:
        if conn is not None:
            conn.close()
    raise BenchError(f"stream {STREAM} not healthy within {timeout} s (last cluster info: {json.dumps(last)})\n{cluster.logs()}")


# --------------------------------------------------------------------------------------------
# Measurements.


def pct(sorted_ns, p):
    return sorted_ns[min(len(sorted_ns) - 1, int(len(sorted_ns) * p))] / 1e6


def run_load(conn, inflight, seconds, payload_size, ack_timeout=5.0):
    """Closed loop: `inflight` publishes outstanding, each answered one replaced at once.
    Returns (msgs/s, p50 ms, p99 ms, failed, count)."""
    payload = bytes([0xA5]) * payload_size
    subject = SUBJECT.encode()
    pending = {}
    latencies = []
    failed = 0
    rid = 0
    start = now_ns()
    warm = start + 500_000_000
    end = warm + int(seconds * 1e9)
    give_up = end + 5_000_000_000
    timeout_ns = int(ack_timeout * 1e9)
    next_sweep = start + 100_000_000
    t = start
    while (t < end or pending) and t < give_up:
        while len(pending) < inflight and t < end:
            rid += 1
            conn.pub(subject, rid, payload)
            pending[rid] = now_ns()
        msgs = conn.pump(0.05)
        t = now_ns()
        for r, status, data in msgs:
            issued = pending.pop(int(r), None)
            if issued is None:
                continue
            if issued >= warm and t <= end:
                if ack_ok(status, data):
                    latencies.append(t - issued)
                else:
                    failed += 1
        if t >= next_sweep:  # publishes without an answer for ack_timeout: failed, replaced
            next_sweep = t + 100_000_000
            for r in [r for r, i in pending.items() if t - i > timeout_ns]:
                if pending.pop(r) >= warm:
                    failed += 1
    failed += sum(1 for i in pending.values() if i >= warm)
    if not latencies:
        raise BenchError(f"{inflight} in flight: no publish acknowledged ({failed} failed)")
    latencies.sort()
    return len(latencies) / seconds, pct(latencies, 0.5), pct(latencies, 0.99), failed, len(latencies)


def measure_idle(cluster, conn, seconds):
    before = {n.name: n.cpu_ticks() for n in cluster.nodes}
    t0 = time.monotonic()
    deadline = t0 + seconds
    while time.monotonic() < deadline:
        conn.pump(min(0.5, max(0.0, deadline - time.monotonic())))  # answers the server's PINGs
    elapsed = time.monotonic() - t0
    for n in cluster.nodes:
        if not n.alive():
            raise BenchError(f"{n.name} exited during the idle measurement\n{n.log_tail()}")
    ticks = sum(n.cpu_ticks() - before[n.name] for n in cluster.nodes)
    return 100.0 * ticks / CLK_TCK / elapsed


def failover_once(cluster, retry_ms, timeout=60.0):
    """Kills the stream leader while publishing at 1 in flight from a surviving node; returns
    (ms from the kill to the first PubAck of a publish sent after it, victim, old and new leader)."""
    cl = wait_healthy(cluster)
    leader = cluster.by_name.get(cl["leader"])
    if leader is None:
        raise BenchError(f"stream leader {cl['leader']!r} is not one of {NODES}")
    conn, via = cluster.connect(exclude=(leader.name,))
    payload = bytes([0xA5]) * 256
    subject = SUBJECT.encode()
    try:
        rid = 0
        sent = {}          # id -> issue time, for every publish since the kill (late acks count too)
        current = None     # id of the publish in flight
        current_at = 0
        kill_at = None
        steady_until = now_ns() + 500_000_000  # publish normally for 0.5 s first
        retry_ns = retry_ms * 1_000_000
        hard_deadline = time.monotonic() + timeout + 5
        while True:
            t = now_ns()
            if kill_at is None and t >= steady_until:
                leader.kill9()
                kill_at = now_ns()
                sent.clear()
            if kill_at is not None and (t - kill_at) / 1e9 > timeout:
                raise BenchError(f"no PubAck within {timeout:.0f} s after killing the leader {leader.name} (client on {via.name})\n{cluster.logs()}")
            if time.monotonic() > hard_deadline:
                raise BenchError("failover: leader never killed (no steady publishing)")
            if current is None or t - current_at > retry_ns:
                rid += 1
                conn.pub(subject, rid, payload)
                current, current_at = rid, now_ns()
                sent[rid] = current_at
            for r, status, data in conn.pump(0.002):
                r = int(r)
                ok = ack_ok(status, data)
                if kill_at is not None and ok and r in sent:
                    acked = now_ns()
                    leader.reap()
                    new = wait_leader_name(conn)
                    return (acked - kill_at) / 1e6, leader, via, new
                if r == current:
                    if ok:
                        current = None          # next publish right away
                    else:
                        current_at = now_ns() - retry_ns + 5_000_000  # error answer: retry in 5 ms
    finally:
        conn.close()


def wait_leader_name(conn):
    cl = stream_cluster(conn)
    return (cl or {}).get("leader") or "?"


def fmt_ms(v):
    return f"{v:.2f}"


def main():
    ap = argparse.ArgumentParser(description="NATS JetStream (3 nodes, R3, file storage) peer benchmark for `florian bench cluster`.")
    ap.add_argument("--seconds", type=float, default=10, help="seconds of load per in-flight level (default 10)")
    ap.add_argument("--idle-seconds", type=float, default=30, help="seconds of idle CPU measurement (default 30)")
    ap.add_argument("--kills", type=int, default=3, help="leader kills for the failover measurement (default 3)")
    ap.add_argument("--payload", type=int, default=256, help="publish payload bytes (default 256)")
    ap.add_argument("--retry-ms", type=int, default=50, help="failover: re-publish after this long without an answer (default 50)")
    ap.add_argument("--nats-server", default=shutil.which("nats-server") or "/usr/sbin/nats-server", help="nats-server binary")
    ap.add_argument("--dir", help="data directory (default: a temporary one, removed at the end)")
    args = ap.parse_args()
    if args.seconds < 1 or args.idle_seconds < 1 or args.kills < 0 or not 0 < args.payload <= 1 << 20 or args.retry_ms < 1:
        ap.error("--seconds >= 1, --idle-seconds >= 1, --kills >= 0, 0 < --payload <= 1048576, --retry-ms >= 1")
    if not os.access(args.nats_server, os.X_OK):
        ap.error(f"nats-server not found at {args.nats_server} (ops/bench/nats-jetstream.sh installs it)")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    signal.signal(signal.SIGINT, signal.default_int_handler)

    own_dir = args.dir is None
    directory = tempfile.mkdtemp(prefix="nats-jetstream-bench.") if own_dir else args.dir
    cluster = None
    try:
        version = subprocess.run([args.nats_server, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        version = version.replace("nats-server: ", "nats-server ")
        cluster = Cluster(args.nats_server, directory)
        log(f"{version}: starting n1..n3 on 127.0.0.1 (client ports {', '.join(str(n.client_port) for n in cluster.nodes)}), data in {directory}")
        cluster.start()
        conn, _ = cluster.connect()
        create_stream(conn)
        cl = wait_healthy(cluster)
        log(f"stream {STREAM}: file storage, 3 replicas, leader {cl['leader']}")
        print(f"nats server: {version}, 3 nodes on 127.0.0.1, stream {STREAM} R3 file storage, {args.payload}-byte publishes with PubAck", flush=True)

        for inflight in (1, 64):
            log(f"{inflight} in flight for {args.seconds:g} s")
            cpu0 = os.times()
            rate, p50, p99, failed, count = run_load(conn, inflight, args.seconds, args.payload)
            cpu1 = os.times()
            busy = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (cpu1.elapsed - cpu0.elapsed)
            log(f"{inflight} in flight: {count} PubAcks measured; this client used {100 * busy:.0f} % of one core")
            print(f"nats r3 {inflight}-in-flight: {rate:.0f} msg/s, p50 {fmt_ms(p50)} ms, p99 {fmt_ms(p99)} ms, {failed} failed", flush=True)

        rss = [(n.name, n.rss_mb()) for n in cluster.nodes]
        wait_healthy(cluster, timeout=60)  # followers caught up before the cluster counts as idle
        time.sleep(1.0)
        log(f"idle CPU for {args.idle_seconds:g} s")
        idle = measure_idle(cluster, conn, args.idle_seconds)
        print(f"nats idle: {idle:.2f} % of one core (cluster, {args.idle_seconds:g} s)", flush=True)
        print("nats rss: " + ", ".join(f"{name} {mb:.1f} MB" for name, mb in rss) + " (after the load)", flush=True)
        conn.close()

        times = []
        for k in range(args.kills):
            ms, victim, via, new = failover_once(cluster, args.retry_ms)
            times.append(ms)
            log(f"kill {k + 1}/{args.kills}: leader {victim.name} killed, first PubAck after {ms:.0f} ms (client on {via.name}, new leader {new}); restarting {victim.name}")
            victim.start()
            victim.wait_listening(30)
            wait_healthy(cluster, need=(victim.name,))
        if times:
            s = sorted(times)
            print(f"nats failover: kills {len(times)}, p50 {s[len(s) // 2]:.0f} ms, max {s[-1]:.0f} ms "
                  f"(each: {', '.join(f'{t:.0f}' for t in times)} ms; kill -9 of the stream leader to the first PubAck, "
                  f"client on a surviving node re-publishing every {args.retry_ms} ms)", flush=True)
        else:
            print("nats failover: kills 0 (skipped)", flush=True)
        print("nats note: NATS 2.9 does not fsync every write (JetStream syncs its files every 2 min by default, "
              "sync_interval), so these figures are without per-write fsync", flush=True)
        return 0
    except BenchError as e:
        log(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if cluster is not None:
            cluster.stop()
        if own_dir:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
