#!/usr/bin/env python3
"""A relief organisation as a helper platform over MQTT (Protocols/helpers.md), with paho-mqtt 2.x.

It reads the open needs on florian/helpers/requests/# (RequestResource: skill, count, area,
window — never the place), commits up to --max of its own people per request (CommitResource
on florian/helpers/<ORG>/in) and prints what it is told on florian/helpers/<ORG>/out (the place
and briefing after committing). An example client for partners, and the demo test's platform.

    python3 ops/partners/helper-platform.py --cluster DEMO/cluster.json --cert partner-drk --org DRK [--max N] [--seconds S]

Prints one line per message: `need H-000001 sandsack 12 Altstadt`, `committed H-000001 12 at
50.11060 N 8.68210 E: …`, and ends (after --seconds, default: never) with `platform: committed C`.
"""
import argparse, json, os, ssl, sys, time
import paho.mqtt.client as mqtt

p = argparse.ArgumentParser()
p.add_argument("--cluster", required=True)
p.add_argument("--cert", required=True, help="the certificate's name in the cluster's pki directory")
p.add_argument("--org", required=True, help="the organisation's id in the rights document")
p.add_argument("--max", type=int, default=1000, help="people to commit per request at most")
p.add_argument("--seconds", type=float, default=0)
p.add_argument("--node", type=int, default=1)
args = p.parse_args()

cluster = json.load(open(args.cluster))
pki = cluster["pki"]
host, port = cluster["nodes"][args.node - 1]["mqtt"].rsplit(":", 1)
committed = 0
answered = set()

c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="helper-platform", clean_session=False, protocol=mqtt.MQTTv311)
c.tls_set(ca_certs=os.path.join(pki, "ca.crt"), certfile=os.path.join(pki, args.cert + ".crt"),
          keyfile=os.path.join(pki, args.cert + ".key"), tls_version=ssl.PROTOCOL_TLS_CLIENT)


def on_connect(client, userdata, flags, reason, properties):
    client.subscribe([("florian/helpers/requests/#", 1), ("florian/helpers/%s/out" % args.org, 1), ("florian/partners/%s/errors" % args.org, 1)])
    print("platform: connected", flush=True)


def on_message(client, userdata, msg):
    global committed
    if not msg.payload:
        return  # an empty retained message: a need that is gone
    m = json.loads(msg.payload)
    kind = m.get("message")
    if msg.topic.startswith("florian/helpers/requests/"):
        if kind == "RequestResource" and m["request"] not in answered:
            answered.add(m["request"])
            n = min(args.max, m["count"])
            print("need %s %s %d %s" % (m["request"], m["skill"], m["count"], m["area"]), flush=True)
            client.publish("florian/helpers/%s/in" % args.org, json.dumps(
                {"message": "CommitResource", "ref": "commit-" + m["request"], "request": m["request"], "count": n}), qos=1)
        elif kind == "ReleaseResource":
            print("released %s (%s)" % (m["request"], m.get("event")), flush=True)
    elif kind == "CommitResource":
        committed += m.get("count", 0)
        pos = m.get("position") or {}
        print("committed %s %d at %.5f N %.5f E: %s" % (m["request"], m.get("count", 0), pos.get("latE6", 0) / 1e6,
                                                        pos.get("lonE6", 0) / 1e6, m.get("briefing", "")), flush=True)
    else:
        print("%s %s" % (msg.topic, msg.payload.decode()), flush=True)


c.on_connect = on_connect
c.on_message = on_message
c.connect(host, int(port), keepalive=30)
c.loop_start()
deadline = time.time() + args.seconds if args.seconds > 0 else None
try:
    while deadline is None or time.time() < deadline:
        time.sleep(0.2)
finally:
    c.loop_stop()
    print("platform: committed %d" % committed, flush=True)
