import Bus
import Consensus
import Domains
import Foundation
import Helpers
@testable import Partners
import XCTest

/// Organisations over MQTT: a partner's commander (THW) asks for help on its inbox, a helper
/// platform (DRK) sees the open need without the place and commits its own people, and each
/// learns only what is theirs — through one bus with both domains, as the nodes run them.
final class PartnerBridgeTests: XCTestCase {
    let t0: UInt64 = 1_784_073_600_000
    var bus = BusState()
    let partners = PartnerMachine()
    let helpers = HelpersMachine()
    var index: UInt64 = 0
    var now: UInt64 = 0

    override func setUp() {
        now = t0
        bus.register(partners, namespace: PartnerMachine.namespace)
        bus.register(helpers, namespace: HelpersMachine.namespace)
        HelpersMachine.bridge(helpers, partners)
        bus.registerBridged(namespace: HelpersMachine.namespace)
        let rights = PartnerRights(organisations: [
            .init(id: "THW", certificateO: "THW Ortsverband Frankfurt",
                  publish: .init(allow: ["florian/helpers/{org}/in"]), subscribe: .init(allow: ["florian/helpers/{org}/out"])),
            .init(id: "DRK", certificateO: "DRK Kreisverband Frankfurt",
                  publish: .init(allow: ["florian/helpers/{org}/in"]), subscribe: .init(allow: ["florian/helpers/requests/#", "florian/helpers/{org}/out", "florian/partners/{org}/errors"])),
            .init(id: "POLIZEI", certificateO: "Polizeipräsidium Frankfurt",
                  publish: .init(allow: ["florian/helpers/{org}/in"]), subscribe: .init(allow: ["florian/helpers/{org}/out", "florian/alerts/#"])),
        ])
        XCTAssertTrue(run("mqtt.rights.apply", rights, as: "operator:disponent").isAccepted)
    }

    @discardableResult
    func run<T: Encodable>(_ type: String, _ body: T, as sender: String = "node:florian-1", after millis: UInt64 = 10) -> CommandOutcome {
        run(type, bytes: Array(try! JSONEncoder().encode(body)), as: sender, after: millis)
    }

    @discardableResult
    func run(_ type: String, bytes payload: [UInt8], as sender: String, after millis: UInt64 = 10) -> CommandOutcome {
        now += millis
        index += 1
        let e = try! CommandEnvelope(type: type, id: try! CommandID("c\(index)"), sender: sender, timestamp: now, payload: payload)
        return bus.execute(Entry(index: index, term: 1, data: e.encode()))!
    }

    func session(_ org: String, _ client: String, _ filters: [String]) -> String {
        XCTAssertTrue(run("mqtt.connect", PartnerState.Connect(org: org, client: client, identity: client, clean: false, will: nil, node: "florian-1@1")).isAccepted)
        let key = PartnerState.sessionKey(org: org, client: client)
        let epoch = partners.state.sessions[key]!.epoch
        _ = run("mqtt.subscribe", PartnerState.Subscribe(session: key, epoch: epoch, filters: filters.map { .init(filter: $0, qos: .atLeastOnce) }))
        return key
    }

    func publish(_ org: String, _ key: String, _ topic: String, _ body: [String: Any]) {
        let payload = try! JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        XCTAssertTrue(run("mqtt.publish", PartnerState.Publish(session: key, org: org, topic: topic, payload: payload, qos: .atLeastOnce, retain: false)).isAccepted)
    }

    /// The session's queue as JSON objects (acknowledging nothing: each call sees everything).
    func received(_ key: String) -> [(topic: String, body: [String: Any])] {
        partners.state.sessions[key]!.queue.map { q in
            (q.topic, (try? JSONSerialization.jsonObject(with: q.payload) as? [String: Any]) ?? ["raw": String(decoding: q.payload, as: UTF8.self)])
        }
    }

    func volunteer(_ n: Int, latE6: Int64, lonE6: Int64) -> [UInt8] {
        let home = HomeCell(containing: Position(latE6: latE6, lonE6: lonE6).gridPoint!)
        let v = Volunteer(id: try! VolunteerID("V-\(n)"), skills: [SkillCredential(skill: "sandsack", verifiedBy: "DRK", validUntil: Int64(t0) + 86_400_000)],
                          home: home, availability: [TimeWindow(from: Int64(t0) - 3_600_000, to: Int64(t0) + 86_400_000)], platform: "app")
        return HelpersJSON.encode(v)
    }

    func asks() -> [[String: Any]] {
        guard case .success(let page) = bus.read(topic: try! TopicName("helpers/asks/app"), from: 0) else { return [] }
        return page.messages.map { try! JSONSerialization.jsonObject(with: Data($0.payload)) as! [String: Any] }
    }

    func testACommanderOfAPartnerAsksAPlatformCommitsAndEachSeesOnlyWhatIsTheirs() throws {
        let thw = session("THW", "einsatzleitung", ["florian/helpers/THW/out"])
        let drk = session("DRK", "helferpool", ["florian/helpers/requests/#", "florian/helpers/DRK/out", "florian/partners/DRK/errors"])
        let police = session("POLIZEI", "lage", ["florian/helpers/POLIZEI/out"])
        XCTAssertEqual(partners.state.sessions[police]!.subscriptions.count, 1)
        // Römerberg (50.1106 N, 8.6821 E); volunteers 300 m and 600 m away.
        XCTAssertTrue(run("helpers.volunteer.register", bytes: volunteer(1, latE6: 50_113_000, lonE6: 8_682_100), as: "gateway:app").isAccepted)
        XCTAssertTrue(run("helpers.volunteer.register", bytes: volunteer(2, latE6: 50_116_000, lonE6: 8_682_100), as: "gateway:app").isAccepted)

        publish("THW", thw, "florian/helpers/THW/in", ["message": "RequestResource", "ref": "THW-17", "skill": "sandsack", "count": 3,
                                                       "position": ["latE6": 50_110_600, "lonE6": 8_682_100], "area": "Altstadt",
                                                       "briefing": "Sandsäcke am Mainkai füllen", "safetyNotes": "Hochwasser: Abstand zur Kaimauer"])
        let opened = received(thw)
        XCTAssertEqual(opened.first?.body["message"] as? String, "ResponseToRequestResource")
        XCTAssertEqual(opened.first?.body["ref"] as? String, "THW-17")
        XCTAssertEqual(opened.first?.body["event"] as? String, "accepted")
        XCTAssertEqual(opened.first?.body["request"] as? String, "H-000001")
        XCTAssertEqual(helpers.domain.router.requests[RequestID("H-000001")]?.by, "partner:THW")
        // The volunteers are asked through their platform, without the place.
        let a = asks()
        XCTAssertEqual(Set(a.compactMap { $0["volunteer"] as? String }), ["V-1", "V-2"])
        XCTAssertTrue(a.allSatisfy { $0["place"] == nil && $0["position"] == nil && $0["briefing"] == nil })

        // V-1 accepts: THW sees the name on its own request, nobody else does.
        XCTAssertTrue(run("helpers.answer", bytes: Array(#"{"volunteer": "V-1", "request": "H-000001", "accept": true, "name": "Anna K."}"#.utf8), as: "gateway:app").isAccepted)
        XCTAssertTrue(run("helpers.answer", bytes: Array(#"{"volunteer": "V-2", "request": "H-000001", "accept": false}"#.utf8), as: "gateway:app").isAccepted)
        let accepted = received(thw).last { $0.body["event"] as? String == "accepted" && $0.body["helpers"] != nil }
        XCTAssertEqual(accepted?.body["helpers"] as? [String], ["Anna K."])
        XCTAssertEqual(accepted?.body["filled"] as? Int, 1)
        XCTAssertFalse(received(drk).contains { String(describing: $0.body).contains("Anna") })
        XCTAssertTrue(received(police).isEmpty, "another organisation hears nothing of THW's request")
        // The confirmation to V-1 carries the position; the decline left no trace of V-2 on the request.
        XCTAssertEqual((asks().last { $0["message"] as? String == "CommitResource" }?["position"] as? [String: Int])?["latE6"], 50_110_600)
        XCTAssertFalse(String(decoding: helpers.snapshot(), as: UTF8.self).contains("\"V-2\",\"wave\""))

        // No one else is near: after the waves the platforms get the need — area, no place.
        run("helpers.request.cancel", bytes: Array(#"{"request": "H-999999"}"#.utf8), as: "operator:disponent", after: 4 * 91_000)
        let need = received(drk).first { $0.topic == "florian/helpers/requests/H-000001" }
        XCTAssertEqual(need?.body["message"] as? String, "RequestResource")
        XCTAssertEqual(need?.body["count"] as? Int, 2)
        XCTAssertEqual(need?.body["area"] as? String, "Altstadt")
        XCTAssertNil(need?.body["position"])
        XCTAssertNil(need?.body["briefing"])
        XCTAssertNotNil(partners.state.retained["florian/helpers/requests/H-000001"], "retained for a platform that connects later")

        // Only THW may release THW's request; a malformed message is discarded and reported.
        publish("DRK", drk, "florian/helpers/DRK/in", ["message": "ReleaseResource", "request": "H-000001"])
        XCTAssertEqual(received(drk).last?.body["event"] as? String, "refused")
        XCTAssertTrue((received(drk).last?.body["reason"] as? String ?? "").contains("not made by DRK"), "\(received(drk).last!.body)")
        publish("POLIZEI", police, "florian/helpers/THW/in", ["message": "ReleaseResource", "request": "H-000001"])
        XCTAssertEqual(helpers.domain.router.requests[RequestID("H-000001")]?.status, .open, "POLIZEI may not publish to THW's inbox")
        publish("DRK", drk, "florian/helpers/DRK/in", ["message": "CommitResource", "count": 2])
        XCTAssertEqual(helpers.domain.router.requests[RequestID("H-000001")]?.external, 0)

        // DRK commits two of its own: it is told the place and the briefing; the need is filled.
        publish("DRK", drk, "florian/helpers/DRK/in", ["message": "CommitResource", "ref": "DRK-5", "request": "H-000001", "count": 2])
        let commit = received(drk).last { $0.topic == "florian/helpers/DRK/out" }
        XCTAssertEqual(commit?.body["message"] as? String, "CommitResource")
        XCTAssertEqual(commit?.body["count"] as? Int, 2)
        XCTAssertEqual(commit?.body["briefing"] as? String, "Sandsäcke am Mainkai füllen")
        XCTAssertEqual((commit?.body["position"] as? [String: Int])?["lonE6"], 8_682_100)
        XCTAssertEqual(helpers.domain.router.requests[RequestID("H-000001")]?.status, .filled)
        XCTAssertEqual(received(thw).last?.body["event"] as? String, "filled")
        XCTAssertTrue(received(drk).contains { $0.topic == "florian/helpers/requests/H-000001" && $0.body["message"] as? String == "ReleaseResource" })
        XCTAssertNil(partners.state.retained["florian/helpers/requests/H-000001"], "the need is gone")
        XCTAssertTrue(received(drk).contains { $0.topic == "florian/partners/DRK/errors" }, "the malformed commit was reported")

        // A node restored from the snapshot holds the same state: the bridge is deterministic.
        let other = BusState()
        let (p2, h2) = (PartnerMachine(), HelpersMachine())
        other.register(p2, namespace: PartnerMachine.namespace)
        other.register(h2, namespace: HelpersMachine.namespace)
        try other.restore(from: bus.snapshot())
        XCTAssertEqual(h2.snapshot(), helpers.snapshot())
        XCTAssertEqual(p2.snapshot(), partners.snapshot())
    }

    func testTheControlRoomSeesNamesOnlyOnItsOwnRequest() throws {
        XCTAssertTrue(run("helpers.volunteer.register", bytes: volunteer(1, latE6: 50_113_000, lonE6: 8_682_100), as: "gateway:app").isAccepted)
        let need = NewRequest(skill: "sandsack", count: 1, place: Position(latE6: 50_110_600, lonE6: 8_682_100).gridPoint!, area: "Altstadt",
                              window: TimeWindow(from: Int64(t0), to: Int64(t0) + 3_600_000), position: Position(latE6: 50_110_600, lonE6: 8_682_100))
        XCTAssertEqual(run("helpers.request.open", bytes: HelpersJSON.encode(need), as: "operator:Anna Schmidt"), .accepted(result: Array("H-000001".utf8)))
        XCTAssertTrue(run("helpers.answer", bytes: Array(#"{"volunteer": "V-1", "request": "H-000001", "accept": true, "name": "Jonas"}"#.utf8), as: "gateway:app").isAccepted)
        let q = Array(#"{"request": "H-000001"}"#.utf8)
        let mine = try JSONDecoder().decode(RequestView.self, from: Data(try bus.query(namespace: "helpers", name: "request", payload: q, asker: "operator:Anna Schmidt")))
        XCTAssertEqual(mine.helpers?.map(\.name), ["Jonas"])
        XCTAssertEqual(mine.status, "filled")
        let theirs = try JSONDecoder().decode(RequestView.self, from: Data(try bus.query(namespace: "helpers", name: "request", payload: q, asker: "operator:Ben")))
        XCTAssertNil(theirs.helpers)
        XCTAssertFalse(String(decoding: try bus.query(namespace: "helpers", name: "requests", payload: [], asker: "operator:Anna Schmidt"), as: UTF8.self).contains("Jonas"))
        // A gateway answers only for its own platform's volunteers.
        XCTAssertFalse(run("helpers.checkin", bytes: Array(#"{"volunteer": "V-1", "request": "H-000001"}"#.utf8), as: "gateway:other").isAccepted)
        XCTAssertTrue(run("helpers.checkin", bytes: Array(#"{"volunteer": "V-1", "request": "H-000001"}"#.utf8), as: "gateway:app").isAccepted)
        XCTAssertFalse(run("helpers.volunteer.register", bytes: volunteer(3, latE6: 50_113_000, lonE6: 8_682_100), as: "gateway:other").isAccepted)
    }
}

extension CommandOutcome {
    var isAccepted: Bool { if case .accepted = self { true } else { false } }
}
