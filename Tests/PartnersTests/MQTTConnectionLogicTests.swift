import Foundation
import XCTest
@testable import Partners

/// The per-connection MQTT behaviour against the replicated state, with commits done in place:
/// what the client is sent, and when.
final class MQTTConnectionLogicTests: XCTestCase {
    typealias P = MQTTPacket
    var state = PartnerState()
    var now: UInt64 = 1
    var live: [PartnerState.Message] = []

    override func setUp() {
        var e = PartnerState.Effects()
        let rights = PartnerRights(organisations: [
            .init(id: "THW", certificateO: "THW", publish: .init(allow: ["florian/partners/{org}/#"]),
                  subscribe: .init(allow: ["florian/partners/#", "florian/alerts/#"])),
        ])
        _ = state.apply(type: "mqtt.rights.apply", sender: "operator:d", timestamp: 1, payload: PartnerState.json(rights), check: { _, _ in nil }, effects: &e)
    }

    /// Runs actions: submits are committed at once and their continuations fed back; returns the
    /// packets sent and whether the connection closed.
    func run(_ c: inout MQTTConnectionLogic, _ actions: [MQTTConnectionLogic.Action]) -> (sent: [P], closed: String?) {
        var sent: [P] = [], closed: String?
        var todo = actions
        while !todo.isEmpty {
            switch todo.removeFirst() {
            case .send(let p): sent.append(p)
            case .close(let why): closed = why
            case let .submit(type, payload, then):
                now += 1
                var e = PartnerState.Effects()
                // A PUBLISH's item goes into the log in a batch, as the node sends it.
                let item = type == MQTTConnectionLogic.batchItem
                let r = state.apply(type: item ? "mqtt.batch" : type, sender: "node:n1", timestamp: now,
                                    payload: item ? PartnerState.binaryBatch([payload]) : payload, check: { _, _ in nil }, effects: &e)
                live += e.messages
                if case .success(let bytes) = r { todo += c.committed(then, result: bytes) } else { todo += c.committed(then, result: nil) }
            }
        }
        return (sent, closed)
    }

    func connected(_ client: String, clean: Bool = false, will: P.Will? = nil, node: String = "n1") -> (MQTTConnectionLogic, [P]) {
        var c = MQTTConnectionLogic(org: "THW", identity: "cn", node: node, connection: 1)
        let r = run(&c, c.received(.connect(.init(clientID: client, cleanSession: clean, keepAlive: 30, will: will))))
        return (c, r.sent)
    }

    func testConnectRulesAndEarlyPackets() {
        var c = MQTTConnectionLogic(org: "THW", identity: "cn", node: "n1", connection: 1)
        XCTAssertEqual(run(&c, c.received(.pingreq)).closed, "first packet was not CONNECT (MQTT-3.1.0-1)")
        c = MQTTConnectionLogic(org: "THW", identity: "cn", node: "n1", connection: 2)
        let old = run(&c, c.received(.connect(.init(protocolLevel: 3, clientID: "x", cleanSession: true, keepAlive: 0))))
        XCTAssertEqual(old.sent, [.connack(sessionPresent: false, code: .unacceptableProtocolVersion)])
        c = MQTTConnectionLogic(org: "THW", identity: "cn", node: "n1", connection: 3)
        XCTAssertEqual(run(&c, c.received(.connect(.init(clientID: "", cleanSession: false, keepAlive: 0)))).sent,
                       [.connack(sessionPresent: false, code: .identifierRejected)])
        // An organisation without rights: CONNACK 5.
        c = MQTTConnectionLogic(org: "POLIZEI", identity: "cn", node: "n1", connection: 4)
        XCTAssertEqual(run(&c, c.received(.connect(.init(clientID: "p", cleanSession: true, keepAlive: 0)))).sent,
                       [.connack(sessionPresent: false, code: .notAuthorized)])
        // Packets right after CONNECT wait for its commit; a second CONNECT closes.
        c = MQTTConnectionLogic(org: "THW", identity: "cn", node: "n1", connection: 5)
        let first = c.received(.connect(.init(clientID: "", cleanSession: true, keepAlive: 10)))
        XCTAssertEqual(c.received(.pingreq), [])
        let r = run(&c, first)
        XCTAssertEqual(r.sent, [.connack(sessionPresent: false, code: .accepted), .pingresp])
        XCTAssertEqual(c.session, "THW/florian-n1-5", "an empty client id gets one assigned")
        XCTAssertEqual(run(&c, c.received(.connect(.init(clientID: "x", cleanSession: true, keepAlive: 0)))).closed, "second CONNECT (MQTT-3.1.0-2)")
        // Closed while its CONNECT was being committed: the session is released once it commits.
        c = MQTTConnectionLogic(org: "THW", identity: "cn", node: "n1", connection: 6)
        let pending = c.received(.connect(.init(clientID: "quick", cleanSession: true, keepAlive: 0)))
        XCTAssertEqual(c.received(.connect(.init(clientID: "quick", cleanSession: true, keepAlive: 0))), [.close(reason: "second CONNECT (MQTT-3.1.0-2)")])
        XCTAssertEqual(run(&c, pending).sent, [], "no CONNACK on a closed connection")
        XCTAssertNil(state.sessions["THW/quick"], "the clean session is gone again")
    }

    func testQoS1And2BothWaysWithAcksOnlyAfterCommit() {
        var (sub, _) = connected("sub")
        XCTAssertEqual(run(&sub, sub.received(.subscribe(packetID: 1, filters: [.init("florian/partners/THW/#", .exactlyOnce)]))).sent,
                       [.suback(packetID: 1, codes: [2])])
        var (pub, _) = connected("pub")
        XCTAssertEqual(run(&pub, pub.received(.publish(.init(topic: "florian/partners/THW/a", payload: [1], qos: .atLeastOnce, packetID: 5)))).sent, [.puback(5)])
        XCTAssertEqual(run(&pub, pub.received(.publish(.init(topic: "florian/partners/THW/b", payload: [2], qos: .exactlyOnce, packetID: 6)))).sent, [.pubrec(6)])
        // The client resends its QoS 2 PUBLISH (no PUBREC seen): PUBREC again, no second copy.
        XCTAssertEqual(run(&pub, pub.received(.publish(.init(topic: "florian/partners/THW/b", payload: [2], qos: .exactlyOnce, dup: true, packetID: 6)))).sent, [.pubrec(6)])
        XCTAssertEqual(run(&pub, pub.received(.pubrel(6))).sent, [.pubcomp(6)])
        // The subscriber gets both from its queue, at the message's QoS.
        let queue = state.sessions["THW/sub"]!.queue
        let sent = run(&sub, sub.deliver(queue: queue)).sent
        XCTAssertEqual(sent.count, 2)
        guard case .publish(let a) = sent[0], case .publish(let b) = sent[1] else { return XCTFail("\(sent)") }
        XCTAssertEqual([a.qos, b.qos], [.atLeastOnce, .exactlyOnce])
        XCTAssertEqual(run(&sub, sub.deliver(queue: queue)).sent, [], "nothing sent twice on one connection")
        _ = run(&sub, sub.received(.puback(a.packetID!)))
        XCTAssertEqual(run(&sub, sub.received(.pubrec(b.packetID!))).sent, [.pubrel(b.packetID!)])
        _ = run(&sub, sub.received(.pubcomp(b.packetID!)))
        XCTAssertEqual(state.sessions["THW/sub"]!.queue, [])
        // QoS 0 goes by the live stream, once per matching session.
        _ = run(&pub, pub.received(.publish(.init(topic: "florian/partners/THW/c", payload: [3], qos: .atMostOnce))))
        let m = live.last!
        XCTAssertEqual(sub.live(m, subscribedAt: state.deliveryQoS(session: "THW/sub", topic: m.topic)),
                       [.send(.publish(.init(topic: "florian/partners/THW/c", payload: [3], qos: .atMostOnce)))])
    }

    func testASessionResumesOnAnotherNodeWithDUPAndPUBREL() {
        var (sub, _) = connected("sub")
        _ = run(&sub, sub.received(.subscribe(packetID: 1, filters: [.init("florian/partners/THW/#", .exactlyOnce)])))
        var (pub, _) = connected("pub")
        for i in 0..<3 { _ = run(&pub, pub.received(.publish(.init(topic: "florian/partners/THW/x", payload: [UInt8(i)], qos: .exactlyOnce, packetID: UInt16(10 + i))))) ; _ = run(&pub, pub.received(.pubrel(UInt16(10 + i)))) }
        let sent = run(&sub, sub.deliver(queue: state.sessions["THW/sub"]!.queue)).sent
        guard case .publish(let first) = sent[0] else { return XCTFail() }
        _ = run(&sub, sub.received(.pubrec(first.packetID!)))
        // The node dies: the connection is lost (will published, session kept).
        _ = run(&sub, sub.lost("node died"))
        // Reconnect to another node: session present; PUBREL for the one received, DUP PUBLISH for the rest.
        var (again, connack) = connected("sub", node: "n2")
        XCTAssertEqual(connack, [.connack(sessionPresent: true, code: .accepted)])
        let resent = run(&again, again.deliver(queue: state.sessions["THW/sub"]!.queue, resumed: true)).sent
        XCTAssertEqual(resent.first, .pubrel(first.packetID!))
        XCTAssertEqual(resent.count, 3)
        for p in resent.dropFirst() {
            guard case .publish(let q) = p else { return XCTFail("\(p)") }
            XCTAssertTrue(q.dup, "resent with DUP")
        }
    }

    func testDisconnectDropsTheWillALostConnectionPublishesIt() {
        let will = P.Will(topic: "florian/partners/THW/status", message: Array("weg".utf8), qos: .atLeastOnce, retain: true)
        var (a, _) = connected("a", will: will)
        let bye = run(&a, a.received(.disconnect))
        XCTAssertEqual(bye.closed, "DISCONNECT")
        XCTAssertNil(state.retained["florian/partners/THW/status"])
        var (b, _) = connected("b", will: will)
        _ = run(&b, b.lost("keep alive expired"))
        XCTAssertEqual(state.retained["florian/partners/THW/status"]?.payload, Data("weg".utf8))
        XCTAssertEqual(b.phase, .closed)
        XCTAssertEqual(b.received(.pingreq), [], "nothing after closing")
    }

    func testTheWindowLimitsWhatIsInFlight() {
        var (sub, _) = connected("sub")
        _ = run(&sub, sub.received(.subscribe(packetID: 1, filters: [.init("florian/partners/THW/#", .atLeastOnce)])))
        var (pub, _) = connected("pub")
        for i in 0..<100 { _ = run(&pub, pub.received(.publish(.init(topic: "florian/partners/THW/x", payload: [UInt8(i)], qos: .atLeastOnce, packetID: UInt16(i + 1))))) }
        let first = run(&sub, sub.deliver(queue: state.sessions["THW/sub"]!.queue)).sent
        XCTAssertEqual(first.count, MQTTConnectionLogic.window)
        guard case .publish(let p) = first[0] else { return XCTFail() }
        _ = run(&sub, sub.received(.puback(p.packetID!)))
        XCTAssertEqual(run(&sub, sub.deliver(queue: state.sessions["THW/sub"]!.queue)).sent.count, 1, "one acknowledged, one more sent")
    }
}
