import Foundation
import XCTest
@testable import Partners

/// The replicated MQTT state: sessions, subscriptions, QoS 1/2 queues, retained messages, wills,
/// takeover and rights — as commands, the way nodes submit them.
final class PartnerStateTests: XCTestCase {
    var state = PartnerState()
    var effects = PartnerState.Effects()
    var now: UInt64 = 1_000
    let noCheck: PartnerState.ContentCheck = { _, _ in nil }

    override func setUp() {
        let rights = PartnerRights(organisations: [
            .init(id: "THW", certificateO: "THW Ortsverband Frankfurt",
                  publish: .init(allow: ["florian/partners/{org}/#"]),
                  subscribe: .init(allow: ["florian/alerts/#", "florian/partners/{org}/#", "florian/partners/+/lage"])),
            .init(id: "DRK", certificateO: "DRK Kreisverband Frankfurt",
                  publish: .init(allow: ["florian/partners/{org}/#"]), subscribe: .init(allow: ["florian/partners/#"]), maxMessageBytes: 100),
        ])
        XCTAssertNoThrow(try ok("mqtt.rights.apply", rights, as: "operator:disponent"))
    }

    @discardableResult
    func ok<T: Encodable>(_ type: String, _ body: T, as sender: String = "node:florian-1") throws -> [String: Any] {
        now += 10
        let e = JSONEncoder()
        switch state.apply(type: type, sender: sender, timestamp: now, payload: Array(try e.encode(body)), check: noCheck, effects: &effects) {
        case .success(let bytes): return (try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]) ?? [:]
        case .failure(let f): throw f
        }
    }

    func connect(_ org: String, _ client: String, clean: Bool = false, will: PartnerState.Will? = nil, node: String = "florian-1") throws -> (String, UInt64, Bool, Int) {
        let r = try ok("mqtt.connect", PartnerState.Connect(org: org, client: client, identity: "\(client)-cn", clean: clean, will: will, node: node))
        return (PartnerState.sessionKey(org: org, client: client), (r["epoch"] as? NSNumber)?.uint64Value ?? 0,
                r["sessionPresent"] as? Bool ?? false, (r["code"] as? NSNumber)?.intValue ?? -1)
    }

    func publish(_ org: String, _ topic: String, _ text: String, qos: MQTTPacket.QoS = .atLeastOnce, retain: Bool = false,
                 session: String? = nil, packetID: UInt16? = nil) throws -> [String: Any] {
        try ok("mqtt.publish", PartnerState.Publish(session: session, org: org, topic: topic, payload: Data(text.utf8), qos: qos, retain: retain, packetID: packetID))
    }

    func subscribe(_ key: String, _ epoch: UInt64, _ filters: [(String, MQTTPacket.QoS)]) throws -> [Int] {
        let r = try ok("mqtt.subscribe", PartnerState.Subscribe(session: key, epoch: epoch, filters: filters.map { .init(filter: $0.0, qos: $0.1) }))
        return (r["codes"] as? [NSNumber])?.map(\.intValue) ?? []
    }

    func queue(_ key: String) -> [String] { state.sessions[key]?.queue.map { "\($0.topic)@\($0.qos.rawValue)\($0.retain ? "r" : "")=\(String(decoding: $0.payload, as: UTF8.self))" } ?? [] }

    func testRightsDecideConnectSubscribeAndPublish() throws {
        XCTAssertEqual(try connect("POLIZEI", "p1").3, 5, "an organisation without rights is not authorised")
        let (thw, e, _, code) = try connect("THW", "lage-1")
        XCTAssertEqual(code, 0)
        XCTAssertEqual(try subscribe(thw, e, [("florian/alerts/#", .exactlyOnce), ("florian/partners/DRK/#", .atLeastOnce), ("#", .atMostOnce)]), [2, 0x80, 0x80])
        let r = try publish("THW", "florian/partners/DRK/lage", "x")
        XCTAssertEqual(r["outcome"] as? String, "discarded")
        let big = try publish("DRK", "florian/partners/DRK/lage", String(repeating: "x", count: 101))
        XCTAssertEqual(big["outcome"] as? String, "discarded")
        XCTAssertTrue((big["reason"] as? String ?? "").contains("limit"), "\(big)")
        // A partner node may not apply rights; an operator may not connect sessions.
        XCTAssertThrowsError(try ok("mqtt.rights.apply", PartnerRights(organisations: []), as: "node:florian-1"))
        XCTAssertThrowsError(try ok("mqtt.connect", PartnerState.Connect(org: "THW", client: "x", identity: "x", clean: true, will: nil, node: "n"), as: "partner:thw"))
    }

    func testOneCopyAtTheHighestMatchingQoSAndTheErrorsTopic() throws {
        let (thw, e, _, _) = try connect("THW", "lage-1")
        XCTAssertEqual(try subscribe(thw, e, [("florian/partners/+/lage", .atLeastOnce), ("florian/partners/THW/#", .exactlyOnce)]), [1, 2])
        _ = try publish("THW", "florian/partners/THW/lage", "a", qos: .exactlyOnce)
        _ = try publish("THW", "florian/partners/THW/lage", "b", qos: .atLeastOnce)
        _ = try publish("THW", "florian/partners/THW/lage", "c", qos: .atMostOnce)
        XCTAssertEqual(queue(thw), ["florian/partners/THW/lage@2=a", "florian/partners/THW/lage@1=b"])
        XCTAssertEqual(effects.messages.map(\.topic).count, 3, "every message goes to the nodes for QoS 0 deliveries")
        // A discarded publish is reported on the sender's errors topic (here subscribed at QoS 2).
        _ = try publish("THW", "florian/alerts/x", "nope")
        XCTAssertTrue(queue(thw).last?.hasPrefix("florian/partners/THW/errors@1=") == true, "\(queue(thw))")
        XCTAssertTrue(queue(thw).last?.contains("may not publish to florian/alerts/x") == true, "\(queue(thw))")
    }

    func testQoS2IsPublishedOncePerPacketIDUntilPUBREL() throws {
        let (thw, e, _, _) = try connect("THW", "lage-1")
        _ = try subscribe(thw, e, [("florian/partners/THW/#", .exactlyOnce)])
        XCTAssertEqual(try publish("THW", "florian/partners/THW/x", "1", qos: .exactlyOnce, session: thw, packetID: 7)["outcome"] as? String, "published")
        XCTAssertEqual(try publish("THW", "florian/partners/THW/x", "1", qos: .exactlyOnce, session: thw, packetID: 7)["outcome"] as? String, "duplicate")
        XCTAssertEqual(queue(thw).count, 1)
        try ok("mqtt.ack", PartnerState.Ack(session: thw, packetID: 7, kind: .pubrel))
        XCTAssertEqual(try publish("THW", "florian/partners/THW/x", "2", qos: .exactlyOnce, session: thw, packetID: 7)["outcome"] as? String, "published")
        // Outbound QoS 2: PUBREC marks it released (PUBREL is resent), PUBCOMP removes it.
        let first = try XCTUnwrap(state.sessions[thw]?.queue.first)
        try ok("mqtt.ack", PartnerState.Ack(session: thw, packetID: first.packetID, kind: .pubcomp))
        XCTAssertEqual(queue(thw).count, 2, "PUBCOMP before PUBREC removes nothing")
        try ok("mqtt.ack", PartnerState.Ack(session: thw, packetID: first.packetID, kind: .pubrec))
        XCTAssertEqual(state.sessions[thw]?.queue.first?.released, true)
        try ok("mqtt.ack", PartnerState.Ack(session: thw, packetID: first.packetID, kind: .pubcomp))
        XCTAssertEqual(queue(thw), ["florian/partners/THW/x@2=2"])
    }

    func testRetainedMessages() throws {
        _ = try publish("THW", "florian/partners/THW/lage", "retained", qos: .exactlyOnce, retain: true)
        let (thw, e, _, _) = try connect("THW", "lage-1")
        let r = try ok("mqtt.subscribe", PartnerState.Subscribe(session: thw, epoch: e, filters: [.init(filter: "florian/partners/THW/#", qos: .atLeastOnce)]))
        XCTAssertEqual((r["retained"] as? [Any])?.count, 0)
        XCTAssertEqual(queue(thw), ["florian/partners/THW/lage@1r=retained"])
        // At QoS 0 the retained message comes back in the result, for the node to send at once.
        let (drk, d, _, _) = try connect("DRK", "d1")
        let r0 = try ok("mqtt.subscribe", PartnerState.Subscribe(session: drk, epoch: d, filters: [.init(filter: "florian/partners/+/lage", qos: .atMostOnce)]))
        XCTAssertEqual((r0["retained"] as? [[String: Any]])?.first?["topic"] as? String, "florian/partners/THW/lage")
        _ = try publish("THW", "florian/partners/THW/lage", "", retain: true)
        XCTAssertNil(state.retained["florian/partners/THW/lage"], "an empty retained message removes it")
    }

    func testPersistentSessionsWillsAndTakeover() throws {
        let will = PartnerState.Will(topic: "florian/partners/THW/status", payload: Data("offline".utf8), qos: .atLeastOnce, retain: true)
        var (thw, e, present, _) = try connect("THW", "lage-1", will: will)
        XCTAssertFalse(present)
        _ = try subscribe(thw, e, [("florian/partners/THW/lage", .atLeastOnce)])
        // The connection breaks: the will is published (and retained); the session stays.
        try ok("mqtt.lost", PartnerState.Ref(session: thw, epoch: e))
        XCTAssertEqual(state.retained["florian/partners/THW/status"]?.payload, Data("offline".utf8))
        _ = try publish("THW", "florian/partners/THW/lage", "while away")
        // Back on another node: the session is present with what it missed.
        (thw, e, present, _) = try connect("THW", "lage-1", node: "florian-2")
        XCTAssertTrue(present)
        XCTAssertEqual(queue(thw), ["florian/partners/THW/lage@1=while away"])
        XCTAssertEqual(state.sessions[thw]?.node, "florian-2")
        // A second connection with the same client id takes over: the first is kicked.
        effects = .init()
        let (_, e2, present2, _) = try connect("THW", "lage-1", node: "florian-3")
        XCTAssertTrue(present2)
        XCTAssertEqual(effects.kicks, [PartnerState.Kick(session: thw, node: "florian-2", epoch: e)])
        // The old connection's late commands change nothing.
        XCTAssertEqual(try subscribe(thw, e, [("florian/alerts/#", .atLeastOnce)]), [0x80])
        try ok("mqtt.lost", PartnerState.Ref(session: thw, epoch: e))
        XCTAssertEqual(state.sessions[thw]?.node, "florian-3")
        // DISCONNECT discards the will; a clean session is gone with its connection.
        try ok("mqtt.disconnect", PartnerState.Ref(session: thw, epoch: e2))
        XCTAssertNotNil(state.sessions[thw])
        let (clean, c, _, _) = try connect("THW", "lage-1", clean: true)
        XCTAssertTrue(state.sessions[clean]?.queue.isEmpty == true, "clean session 1 starts empty")
        try ok("mqtt.lost", PartnerState.Ref(session: clean, epoch: c))
        XCTAssertNil(state.sessions[clean])
        // Another organisation with the same client id has its own session.
        let (drk, _, drkPresent, _) = try connect("DRK", "lage-1")
        XCTAssertFalse(drkPresent)
        XCTAssertNotEqual(drk, thw)
    }

    /// The binary batch nodes send: publishes with the same outcomes as JSON, acknowledgements in
    /// the same batch, and hostile bytes refused.
    func testABinaryBatchIsAppliedLikeTheJSONOne() throws {
        let (thw, e, _, _) = try connect("THW", "lage-1")
        _ = try subscribe(thw, e, [("florian/partners/THW/#", .exactlyOnce)])
        let items = [
            PartnerState.Publish(session: thw, org: "THW", topic: "florian/partners/THW/a", payload: Data("1".utf8), qos: .atLeastOnce, retain: true),
            PartnerState.Publish(session: thw, org: "THW", topic: "florian/partners/DRK/a", payload: Data("2".utf8), qos: .atMostOnce, retain: false),
            PartnerState.Publish(session: thw, org: "THW", topic: "florian/partners/THW/b", payload: Data([0, 255, 10]), qos: .exactlyOnce, retain: false, packetID: 65_535),
            PartnerState.Publish(session: thw, org: "THW", topic: "florian/partners/THW/b", payload: Data("3".utf8), qos: .exactlyOnce, retain: false, packetID: 65_535),
            PartnerState.Publish(session: nil, org: "LEITSTELLE", topic: "florian/partners/THW/c", payload: Data(), qos: .atLeastOnce, retain: false),
        ]
        let payload = PartnerState.binaryBatch(items.map(PartnerState.binaryItem))
        now += 10
        guard case .success(let bytes) = state.apply(type: "mqtt.batch", sender: "node:n", timestamp: now, payload: payload, check: noCheck, effects: &effects) else {
            return XCTFail("refused")
        }
        let results = try XCTUnwrap(PartnerState.readBinaryResults(bytes))
        XCTAssertEqual(results.map(\.outcome), ["published", "discarded", "published", "duplicate", "published"])
        XCTAssertEqual(results[1].reason, "THW may not publish to florian/partners/DRK/a")
        XCTAssertEqual(queue(thw).filter { !$0.contains("/errors@") },
                       ["florian/partners/THW/a@1=1", "florian/partners/THW/b@2=\u{0}\u{FFFD}\n", "florian/partners/THW/c@1="])
        XCTAssertEqual(state.sessions[thw]?.queue.first { $0.topic == "florian/partners/THW/b" }?.payload, Data([0, 255, 10]), "payload bytes as sent")
        XCTAssertEqual(state.retained["florian/partners/THW/a"]?.payload, Data("1".utf8))
        // Acknowledge everything queued in one batch: PUBACK for QoS 1, PUBREC then PUBCOMP for QoS 2.
        let queued = try XCTUnwrap(state.sessions[thw]?.queue)
        XCTAssertEqual(queued.count, 4, "a, b, c and the report on the errors topic")
        let acks = queued.flatMap { q -> [PartnerState.Ack] in
            q.qos == .exactlyOnce ? [.init(session: thw, packetID: q.packetID, kind: .pubrec), .init(session: thw, packetID: q.packetID, kind: .pubcomp)]
                                  : [.init(session: thw, packetID: q.packetID, kind: .puback)]
        }
        let ackBatch = PartnerState.binaryBatch(acks.map(PartnerState.binaryItem) + [PartnerState.binaryItem(.init(session: thw, packetID: 65_535, kind: .pubrel))])
        guard case .success(let ackBytes) = state.apply(type: "mqtt.batch", sender: "node:n", timestamp: now + 1, payload: ackBatch, check: noCheck, effects: &effects) else {
            return XCTFail("acks refused")
        }
        XCTAssertEqual(PartnerState.readBinaryResults(ackBytes)?.map(\.outcome), Array(repeating: "acknowledged", count: acks.count + 1))
        XCTAssertEqual(state.sessions[thw]?.queue, [])
        XCTAssertEqual(state.sessions[thw]?.incoming, [], "PUBREL released the QoS 2 packet id")
        // Every truncation, a bad count, bad flags and trailing bytes are refused; nothing applied.
        let before = state
        for cut in 0..<payload.count {
            now += 1
            if case .success = state.apply(type: "mqtt.batch", sender: "node:n", timestamp: now, payload: Array(payload[..<cut]), check: noCheck, effects: &effects) {
                XCTFail("a batch cut at \(cut) was applied")
            }
        }
        for bad in [[1, 0], [1, 0x81, 0x02] + Array(repeating: 0, count: 8), [1, 1, 0x60, 3, 0x54, 0x48, 0x57, 1, 0x61, 0, 0],
                    [1, 1, 0x84, 1, 0x61, 0, 1], [1, 1, 0x80, 1, 0x61, 0], payload + [0]] as [[UInt8]] {
            now += 1
            if case .success = state.apply(type: "mqtt.publish.batch", sender: "node:n", timestamp: now, payload: bad, check: noCheck, effects: &effects) {
                XCTFail("\(bad) was applied")
            }
        }
        XCTAssertEqual(state.sessions, before.sessions)
        XCTAssertEqual(state.retained, before.retained)
    }

    /// A node that died (or restarted) ends the sessions it held like broken connections: wills
    /// published, clean sessions removed, persistent ones kept offline; its connections kicked.
    /// A restarted node keeps what its new instance already holds; other nodes' sessions stay.
    func testALostNodeEndsItsSessionsWithTheirWills() throws {
        let will = PartnerState.Will(topic: "florian/partners/THW/funk", payload: Data("weg".utf8), qos: .atLeastOnce, retain: false)
        let (watch, we, _, _) = try connect("THW", "watch", node: "n1@a")
        _ = try subscribe(watch, we, [("florian/partners/THW/funk", .atLeastOnce)])
        let (persistent, pe, _, _) = try connect("THW", "p", will: will, node: "n2@old")
        let (clean, ce, _, _) = try connect("THW", "c", clean: true, node: "n2@old")
        let (fresh, _, _, _) = try connect("THW", "f", will: will, node: "n2@new")
        let (other, _, _, _) = try connect("DRK", "o", node: "n3@x")
        effects = .init()
        // n2 restarted as instance "new": the sessions of its old instance end.
        let r = try ok("mqtt.node.lost", PartnerState.NodeLost(node: "n2", except: "n2@new"))
        XCTAssertEqual(r["sessions"] as? Int, 2)
        XCTAssertEqual(Set(effects.kicks), [PartnerState.Kick(session: persistent, node: "n2@old", epoch: pe),
                                           PartnerState.Kick(session: clean, node: "n2@old", epoch: ce)])
        XCTAssertEqual(queue(watch), ["florian/partners/THW/funk@1=weg"], "the will of the persistent session")
        XCTAssertNil(state.sessions[persistent]?.node)
        XCTAssertNotNil(state.sessions[persistent], "a persistent session stays for its client")
        XCTAssertNil(state.sessions[clean])
        XCTAssertEqual(state.sessions[fresh]?.node, "n2@new")
        XCTAssertEqual(state.sessions[other]?.node, "n3@x")
        // The leader declares n2 lost altogether: the new instance's session ends too; again changes nothing.
        XCTAssertEqual(try ok("mqtt.node.lost", PartnerState.NodeLost(node: "n2", except: nil))["sessions"] as? Int, 1)
        XCTAssertEqual(queue(watch).count, 2)
        XCTAssertEqual(try ok("mqtt.node.lost", PartnerState.NodeLost(node: "n2", except: nil))["sessions"] as? Int, 0)
        XCTAssertThrowsError(try ok("mqtt.node.lost", PartnerState.NodeLost(node: "n2", except: nil), as: "operator:d"))
        XCTAssertEqual(state.sessions[other]?.node, "n3@x")
    }

    func testSnapshotsAreCanonical() throws {
        let (thw, e, _, _) = try connect("THW", "lage-1")
        _ = try subscribe(thw, e, [("florian/partners/THW/#", .exactlyOnce), ("florian/alerts/#", .atLeastOnce)])
        for i in 0..<20 { _ = try publish("THW", "florian/partners/THW/t\(i % 3)", "m\(i)", qos: .exactlyOnce, retain: i % 2 == 0) }
        let a = PartnerState.json(state), b = PartnerState.json(state)
        XCTAssertEqual(a, b)
        let back = try JSONDecoder().decode(PartnerState.self, from: Data(a))
        XCTAssertEqual(back, state)
        XCTAssertEqual(PartnerState.json(back), a)
    }

    /// A batch is applied like its publishes one by one, with one result each.
    func testABatchOfPublishes() throws {
        let (thw, e, _, _) = try connect("THW", "lage-1")
        _ = try subscribe(thw, e, [("florian/partners/THW/#", .exactlyOnce)])
        let items = [
            PartnerState.Publish(session: thw, org: "THW", topic: "florian/partners/THW/a", payload: Data("1".utf8), qos: .atLeastOnce, retain: false, packetID: nil),
            PartnerState.Publish(session: thw, org: "THW", topic: "florian/partners/DRK/a", payload: Data("2".utf8), qos: .atLeastOnce, retain: false, packetID: nil),
            PartnerState.Publish(session: thw, org: "THW", topic: "florian/partners/THW/b", payload: Data("3".utf8), qos: .exactlyOnce, retain: false, packetID: 9),
            PartnerState.Publish(session: thw, org: "THW", topic: "florian/partners/THW/b", payload: Data("3".utf8), qos: .exactlyOnce, retain: false, packetID: 9),
        ]
        let r = try ok("mqtt.publish.batch", PartnerState.Batch(publishes: items))
        XCTAssertEqual((r["results"] as? [[String: Any]])?.map { $0["outcome"] as? String }, ["published", "discarded", "published", "duplicate"])
        XCTAssertEqual(queue(thw).filter { !$0.contains("/errors@") }, ["florian/partners/THW/a@1=1", "florian/partners/THW/b@2=3"])
        XCTAssertThrowsError(try ok("mqtt.publish.batch", PartnerState.Batch(publishes: [])))
        XCTAssertThrowsError(try ok("mqtt.publish.batch", PartnerState.Batch(publishes: items), as: "operator:d"))
    }
}
