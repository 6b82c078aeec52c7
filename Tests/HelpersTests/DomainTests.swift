import Bus
import Domains
import Foundation
import Helpers
import XCTest

/// The router as a bus domain: strict commands, roles, what each topic carries, canonical snapshots.
final class DomainTests: XCTestCase {
    let t0: UInt64 = 1_784_073_600_000

    func json(_ o: Any) -> [UInt8] { Array(try! JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) }

    func volunteer(_ n: Int, x: Int) -> [String: Any] {
        ["id": "V-\(n)", "skills": [["skill": "sandsack", "verifiedBy": "DRK", "validUntil": Int64(t0) + 86_400_000]], "home": ["col": x / 500, "row": 20],
         "availability": [["from": Int64(t0) - 3_600_000, "to": Int64(t0) + 86_400_000]], "languages": ["de"],
         "rest": ["maxMinutesPerDay": 600, "minRestMinutes": 480], "platform": "app"]
    }

    let need: [String: Any] = ["skill": "sandsack", "count": 1, "place": ["x": 10_000, "y": 10_000], "area": "Nordend",
                               "window": ["from": 1_784_073_600_000 as Int64, "to": 1_784_084_400_000 as Int64], "priority": 1,
                               "safetyNotes": "Strömung", "briefing": "Sammelpunkt ELW"]

    func filled(reversed: Bool = false) -> (HelpersDomain, [HelpersPublication], String) {
        var d = HelpersDomain()
        var pubs: [HelpersPublication] = []
        for i in reversed ? Array((0..<5).reversed()) : Array(0..<5) { _ = d.apply(type: "helpers.volunteer.register", sender: "gateway:app", timestamp: t0, payload: json(volunteer(i, x: 10_000 + 300 * i)), publications: &pubs) }
        let r = d.apply(type: "helpers.request.open", sender: "operator:EL Nord", timestamp: t0 + 1000, payload: json(need), publications: &pubs)
        return (d, pubs, String(decoding: try! r.get(), as: UTF8.self))
    }

    func testRolesAndStrictPayloadsAreEnforced() {
        var d = HelpersDomain()
        var pubs: [HelpersPublication] = []
        XCTAssertEqual(d.apply(type: "helpers.volunteer.register", sender: "operator:Anna", timestamp: t0, payload: json(volunteer(1, x: 0)), publications: &pubs),
                       .failure(.forbidden("helpers.volunteer.register needs the role gateway")))
        XCTAssertEqual(d.apply(type: "helpers.request.open", sender: "gateway:app", timestamp: t0, payload: json(need), publications: &pubs),
                       .failure(.forbidden("helpers.request.open needs the role operator")))
        var extra = need; extra["adress"] = "Berger Straße 7"
        XCTAssertEqual(d.apply(type: "helpers.request.open", sender: "operator:EL", timestamp: t0, payload: json(extra), publications: &pubs),
                       .failure(.invalid("helpers.request.open: unknown field adress")))
        var missing = need; missing["count"] = nil
        XCTAssertEqual(d.apply(type: "helpers.request.open", sender: "operator:EL", timestamp: t0, payload: json(missing), publications: &pubs),
                       .failure(.invalid("helpers.request.open: field count is missing")))
        var named = volunteer(1, x: 0); named["id"] = "Erika Mustermann"
        if case .success = d.apply(type: "helpers.volunteer.register", sender: "gateway:app", timestamp: t0, payload: json(named), publications: &pubs) { XCTFail("a name as id") }
        var badPlatform = volunteer(1, x: 0); badPlatform["platform"] = "app/../alarm"
        if case .success = d.apply(type: "helpers.volunteer.register", sender: "gateway:app", timestamp: t0, payload: json(badPlatform), publications: &pubs) { XCTFail("a topic path as platform") }
        XCTAssertEqual(d.apply(type: "helpers.nonsense", sender: "operator:EL", timestamp: t0, payload: [], publications: &pubs), .failure(.unknown("command helpers.nonsense")))
        XCTAssertTrue(pubs.isEmpty, "refused commands publish nothing")
    }

    /// Hostile sizes and numbers are refused with a reason, never a trap, and change nothing.
    func testHostileNumbersAndSizesAreRefused() {
        var d = HelpersDomain()
        var pubs: [HelpersPublication] = []
        func refused(_ type: String, _ o: [String: Any], _ sender: String, _ why: String) {
            guard case .failure(let e) = d.apply(type: type, sender: sender, timestamp: t0, payload: json(o), publications: &pubs) else { return XCTFail("accepted: \(why)") }
            XCTAssertTrue(e.description.hasPrefix("invalid"), "\(why): \(e)")
        }
        var v = volunteer(1, x: 0)
        v["rest"] = ["maxMinutesPerDay": 600, "minRestMinutes": Int64.max]; refused("helpers.volunteer.register", v, "gateway:app", "rest overflow")
        v = volunteer(1, x: 0); v["home"] = ["col": Int32.max, "row": 1]; refused("helpers.volunteer.register", v, "gateway:app", "home off the grid")
        v = volunteer(1, x: 0); v["availability"] = [["from": 0, "to": Int64.max]]; refused("helpers.volunteer.register", v, "gateway:app", "window to the end of time")
        v = volunteer(1, x: 0); v["languages"] = Array(repeating: "de", count: 1000); refused("helpers.volunteer.register", v, "gateway:app", "1000 languages")
        var n = need; n["place"] = ["x": Int64.max, "y": 0]; refused("helpers.request.open", n, "operator:EL", "place overflow")
        n = need; n["window"] = ["from": 1_784_073_600_000 as Int64, "to": Int64.max]; refused("helpers.request.open", n, "operator:EL", "endless window")
        n = need; n["briefing"] = String(repeating: "x", count: 100_000); refused("helpers.request.open", n, "operator:EL", "100 kB briefing")
        n = need; n["count"] = Int.max; refused("helpers.request.open", n, "operator:EL", "count")
        XCTAssertEqual(d.apply(type: "helpers.request.open", sender: "operator:EL", timestamp: t0, payload: Array("{\"skill\": [".utf8), publications: &pubs), .failure(.invalid("helpers.request.open: not JSON")))
        XCTAssertTrue(pubs.isEmpty)
        // Nothing changed but the clock (which every command moves, refused or not).
        var fresh = HelpersDomain()
        var none: [HelpersPublication] = []
        fresh.advance(to: t0, publications: &none)
        XCTAssertEqual(d.router.snapshot(), fresh.router.snapshot(), "nothing changed")
    }

    func testAsksCarryNoPlaceTheConfirmationDoesAndTheFeedNoPerson() throws {
        var (d, pubs, id) = filled()
        XCTAssertEqual(id, "H-000001")
        let asks = pubs.filter { $0.topic == "helpers/asks/app" }.map { String(decoding: $0.payload, as: UTF8.self) }
        XCTAssertEqual(asks.count, 4, "⌈1 / 0.3⌉")
        for a in asks { XCTAssertTrue(a.contains("\"message\":\"RequestResource\"")); XCTAssertFalse(a.contains("place") || a.contains("10000") || a.contains("Sammelpunkt") || a.contains("Strömung"), a) }
        pubs = []
        let answer = json(["volunteer": "V-0", "request": id, "accept": true, "name": "Erika M."])
        XCTAssertEqual(d.apply(type: "helpers.answer", sender: "gateway:app", timestamp: t0 + 20_000, payload: answer, publications: &pubs), .success([]))
        let confirm = try XCTUnwrap(pubs.first { String(decoding: $0.payload, as: UTF8.self).contains("CommitResource") })
        let c = String(decoding: confirm.payload, as: UTF8.self)
        XCTAssertTrue(c.contains("\"place\":{\"x\":10000,\"y\":10000}") && c.contains("Sammelpunkt ELW") && c.contains("Strömung"), c)
        XCTAssertEqual(pubs.filter { String(decoding: $0.payload, as: UTF8.self).contains("ReleaseResource") }.count, 3)
        for e in pubs where e.topic == "helpers/events" {
            let s = String(decoding: e.payload, as: UTF8.self)
            XCTAssertFalse(s.contains("V-") || s.contains("Erika"), s)
        }
        XCTAssertEqual(d.router.commanderView(RequestID(id), as: "operator:EL Nord")?.names, ["Erika M."])
        XCTAssertEqual(d.router.commanderView(RequestID(id), as: "operator:EL Süd")?.names, [])
        // A decline with a name is refused: declines carry nothing about the person.
        XCTAssertEqual(d.apply(type: "helpers.answer", sender: "gateway:app", timestamp: t0 + 21_000, payload: json(["volunteer": "V-1", "request": id, "accept": false, "name": "x"]), publications: &pubs),
                       .failure(.invalid("a decline carries no name")))
    }

    func testSnapshotsAreCanonicalAndRestoreToTheSameBehaviour() throws {
        let (a, _, id) = filled()
        let (b, _, _) = filled(reversed: true)
        XCTAssertEqual(a.router.snapshot(), b.router.snapshot(), "the same state in any registration order: the same bytes")
        var restored = try HelpersDomain(snapshot: a.router.snapshot())
        XCTAssertEqual(restored.router.snapshot(), a.router.snapshot())
        var original = a
        var p1: [HelpersPublication] = [], p2: [HelpersPublication] = []
        // A wave timeout after the restore asks the same people as without it.
        original.advance(to: t0 + 200_000, publications: &p1)
        restored.advance(to: t0 + 200_000, publications: &p2)
        XCTAssertEqual(p1, p2)
        XCTAssertFalse(p1.isEmpty)
        XCTAssertEqual(original.router.snapshot(), restored.router.snapshot())
        XCTAssertThrowsError(try HelpersDomain(snapshot: Array("{\"config\":1}".utf8)))
        _ = id
    }

    func testTheMachineAnswersEnvelopesAndPublishesToTopics() throws {
        let m = HelpersMachine()
        let reg = try CommandEnvelope(type: "helpers.volunteer.register", id: try CommandID("c1"), sender: "gateway:app", timestamp: t0, payload: json(volunteer(1, x: 10_000)))
        XCTAssertEqual(m.apply(reg, at: 1), .accepted(result: []))
        let open = try CommandEnvelope(type: "helpers.request.open", id: try CommandID("c2"), sender: "operator:EL", timestamp: t0 + 1, payload: json(need))
        XCTAssertEqual(m.apply(open, at: 2), .accepted(result: Array("H-000001".utf8)))
        let topics = m.takePublications().map(\.topic.rawValue)
        XCTAssertEqual(Set(topics), ["helpers/asks/app", "helpers/events"])
        XCTAssertEqual(m.nextDeadline, t0 + 1 + 90_000)
        let snap = m.snapshot()
        m.reset()
        XCTAssertNotEqual(m.snapshot(), snap)
        try m.restore(from: snap)
        XCTAssertEqual(m.snapshot(), snap)
    }
}
