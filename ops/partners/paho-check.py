#!/usr/bin/env python3
"""A partner's first steps with Florian's MQTT endpoint, with paho-mqtt 2.x (pip install
'paho-mqtt>=2,<3'); also the tests' second real client. Uses the cluster file `florian demo`
writes (nodes[].mqtt, pki/) and the THW demo certificate.

  ops/partners/paho-check.py --cluster DIR/cluster.json

Checks, printing one line each and exiting 1 on the first failure:
  qos      QoS 0, 1 and 2 published on node 1 arrive on node 2 at their QoS
  session  a persistent session (clean_session=False) on node 2 gets on node 3 the QoS 1/2
           messages published while it was offline, with their QoS
  will     a connection that breaks without DISCONNECT has its will published
"""
import argparse, json, os, ssl, sys, threading, time
import paho.mqtt.client as mqtt

ap = argparse.ArgumentParser()
ap.add_argument("--cluster", required=True)
ap.add_argument("--cert", default="partner-thw")
args = ap.parse_args()
cluster = json.load(open(args.cluster))
pki = cluster.get("pki") or os.path.join(os.path.dirname(args.cluster), "pki")
ports = [int(n["mqtt"].rsplit(":", 1)[1]) for n in cluster["nodes"]]
prefix = "florian/partners/THW/paho-%d" % os.getpid()


def client(cid, clean=True, will=None):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, clean_session=clean, protocol=mqtt.MQTTv311)
    c.tls_set(ca_certs=os.path.join(pki, "ca.crt"), certfile=os.path.join(pki, args.cert + ".crt"),
              keyfile=os.path.join(pki, args.cert + ".key"), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    if will:
        c.will_set(will[0], will[1], qos=1)
    c.got = []
    c.cond = threading.Condition()
    def on_message(cl, userdata, m):
        with c.cond:
            c.got.append((m.topic, m.qos, m.payload.decode(), m.retain))
            c.cond.notify_all()
    c.on_message = on_message
    return c


def connect(c, node):
    c.connect("127.0.0.1", ports[node - 1], keepalive=10)
    c.loop_start()
    deadline = time.time() + 10
    while not c.is_connected() and time.time() < deadline:
        time.sleep(0.05)
    if not c.is_connected():
        fail("cannot connect to node %d" % node)


def wait(c, n, seconds=15):
    with c.cond:
        c.cond.wait_for(lambda: len(c.got) >= n, timeout=seconds)
    return c.got


def fail(why):
    print("FAIL", why)
    sys.exit(1)


# qos
sub = client("paho-sub-%d" % os.getpid())
connect(sub, 2)
r, mid = sub.subscribe(prefix + "/qos/#", qos=2)
time.sleep(1)
pub = client("paho-pub-%d" % os.getpid())
connect(pub, 1)
for q in (0, 1, 2):
    info = pub.publish("%s/qos/%d" % (prefix, q), "Lage %d" % q, qos=q)
    info.wait_for_publish(10)
    if q and not info.is_published():
        fail("QoS %d publish not acknowledged" % q)
got = sorted(wait(sub, 3))
want = [("%s/qos/%d" % (prefix, q), q, "Lage %d" % q, False) for q in (0, 1, 2)]
if got != want:
    fail("qos: got %r, want %r" % (got, want))
print("qos ok: 0, 1, 2 from node 1 to node 2")
sub.disconnect(); sub.loop_stop()

# session
cid = "paho-session-%d" % os.getpid()
s1 = client(cid, clean=False)
connect(s1, 2)
s1.subscribe(prefix + "/auftrag", qos=2)
time.sleep(1)
s1.disconnect(); s1.loop_stop()
for q in (1, 2):
    pub.publish(prefix + "/auftrag", "Auftrag qos %d" % q, qos=q).wait_for_publish(10)
s2 = client(cid, clean=False)
connect(s2, 3)
got = sorted(wait(s2, 2))
want = [(prefix + "/auftrag", q, "Auftrag qos %d" % q, False) for q in (1, 2)]
if got != want:
    fail("session: got %r, want %r" % (got, want))
print("session ok: 2 messages kept while offline, delivered on node 3")
s2.disconnect(); s2.loop_stop()

# will
watch = client("paho-watch-%d" % os.getpid())
connect(watch, 1)
watch.subscribe(prefix + "/will", qos=1)
time.sleep(1)
w = client("paho-will-%d" % os.getpid(), will=(prefix + "/will", "weg"))
connect(w, 3)
w.loop_stop()
w.socket().close()  # broken connection: no DISCONNECT
got = wait(watch, 1)
if got != [(prefix + "/will", 1, "weg", False)]:
    fail("will: got %r" % got)
print("will ok: published when the connection broke")
pub.disconnect(); watch.disconnect()
print("paho-check: all ok")
