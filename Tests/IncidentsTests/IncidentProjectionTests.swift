import Alarming
import Foundation
import IncidentStore
import Incidents
import XCTest

/// The real alarm state machine on virtual time, its `alarm/events` feed collected as the bus
/// would publish it (offsets in order).
struct FeedHarness {
    var state = AlarmState()
    var feed: [[UInt8]] = []
    var now: UInt64 = 1_767_225_600_000   // 2026-01-01T00:00Z
    static let operatorID = "operator:Erika Musterfrau"
    static let gatewayID = "gateway:gw-test"

    static var root: URL {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }

    init() throws {
        let data = try Data(contentsOf: Self.root.appendingPathComponent("ops/config/frankfurt-registry.json"))
        let registry = try StrictJSON.decode(Registry.self, from: Array(data), what: "registry")
        _ = try send(.applyRegistry(registry)).get()
        for n in Network.allCases { _ = try send(.lease(.init(network: n, holder: "gw-\(n.rawValue)"))).get() }
    }

    @discardableResult
    mutating func send(_ command: AlarmCommand, as sender: String? = nil) -> Result<[UInt8], AlarmError> {
        let who = sender ?? (AlarmCommand.types[command.type]!.contains("operator") ? Self.operatorID : Self.gatewayID)
        var pubs: [Publication] = []
        let r = state.apply(type: command.type, sender: who, timestamp: now, payload: command.payload, publications: &pubs)
        feed += pubs.filter { $0.topic == AlarmTopic.events }.map(\.payload)
        return r
    }

    mutating func at(_ seconds: Double) { now += UInt64(seconds * 1000) }

    func json(_ r: Result<[UInt8], AlarmError>) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(try r.get())) as! [String: Any]
    }

    mutating func open(_ keyword: String, position: Position? = nil, area: String? = "Altstadt", address: String, remarks: String? = nil,
                       test: Bool = false) throws -> IncidentID {
        let r = send(.openIncident(.init(keyword: keyword, area: try area.map { try AreaID($0) }, position: position, address: address,
                                         remarks: remarks, test: test)))
        return try IncidentID(try json(r)["incident"] as! String)
    }

    mutating func order(_ incident: IncidentID, _ units: [String]) throws -> OrderID {
        try OrderID(try json(send(.createOrder(.init(incident: incident, units: try units.map { try UnitID($0) }))))["order"] as! String)
    }

    mutating func status(_ unit: String, _ code: Int) throws {
        _ = try send(.unitStatus(.init(unit: try UnitID(unit), status: code))).get()
    }

    mutating func deliverAll(_ order: OrderID) throws {
        for t in state.orders[order]!.targets where !t.state.isFinal {
            _ = try send(.targetDelivered(.init(order: order, target: t.target, round: t.round))).get()
        }
    }

    /// Every feed event applied to a fresh projection.
    func project(grid: Int = 500) -> IncidentProjection {
        var p = IncidentProjection(gridMetres: grid)
        for bytes in feed { p.apply(FeedEvent.decode(bytes)!, lookup: { _ in nil }) }
        return p
    }
}

final class IncidentProjectionTests: XCTestCase {
    /// A full incident: call, alarm, delivery, status 3/4/1, closing — every time and duration lands
    /// on the record and the dispatches, exactly as the commands set them.
    func testTimelineOfAnIncidentFromTheRealAlarmEvents() throws {
        var h = try FeedHarness()
        let opened = h.now
        let id = try h.open("F2", position: Position(latE6: 50_110_600, lonE6: 8_682_000), area: nil, address: "Römerberg 1", remarks: "Rauch aus Dachfenster")
        h.at(65)
        let alarmAt = h.now
        let order = try h.order(id, ["1-HLF-1", "1-DLK-1"])
        h.at(2)
        let deliveredAt = h.now
        try h.deliverAll(order)
        h.at(50)
        let enRoute = h.now
        try h.status("1-HLF-1", 3)
        h.at(10)
        try h.status("1-DLK-1", 3)
        h.at(240)
        let onScene = h.now
        try h.status("1-HLF-1", 4)
        h.at(1800)
        _ = try h.send(.closeIncident(.init(incident: id))).get()
        let closed = h.now
        h.at(600)
        let free = h.now
        try h.status("1-HLF-1", 1)
        try h.status("1-DLK-1", 2)

        var p = h.project()
        let changes = p.takeChanges()
        XCTAssertEqual(changes.records.count, 1)
        let r = changes.records[0]
        XCTAssertEqual(r.source, "florian")
        XCTAssertEqual(r.id, id.rawValue)
        XCTAssertEqual(r.keyword, "F2")
        XCTAssertEqual(r.category, "fire")
        XCTAssertEqual(r.area, "Altstadt")
        XCTAssertEqual(r.openedAt, Int64(opened))
        XCTAssertEqual(r.firstAlarmAt, Int64(alarmAt))
        XCTAssertEqual(r.firstDeliveredAt, Int64(deliveredAt))
        XCTAssertEqual(r.firstEnRouteAt, Int64(enRoute))
        XCTAssertEqual(r.firstOnSceneAt, Int64(onScene))
        XCTAssertEqual(r.closedAt, Int64(closed))
        XCTAssertEqual(r.callToAlarmSeconds, 65)
        XCTAssertEqual(r.alarmToEnRouteSeconds, 52)
        XCTAssertEqual(r.callToOnSceneSeconds, 65 + 2 + 50 + 10 + 240)
        XCTAssertEqual(r.orders, 1)
        XCTAssertEqual(r.unitsAlarmed, 2)
        XCTAssertEqual(r.outcome, "complete")
        XCTAssertEqual(r.gridCell, GridCell(latE6: 50_110_600, lonE6: 8_682_000, metres: 500)?.id)
        XCTAssertEqual(r.personal.address?.storedValue, "Römerberg 1")
        XCTAssertEqual(r.personal.remarks?.storedValue, "Rauch aus Dachfenster")
        XCTAssertEqual(r.personal.openedBy?.storedValue, FeedHarness.operatorID)
        // Personal values never print.
        XCTAssertEqual("\(r.personal.address!)", "‹personal›")
        XCTAssertFalse(String(describing: r).contains("Römerberg"))

        let hlf = try XCTUnwrap(changes.dispatches.first { $0.unit == "1-HLF-1" })
        XCTAssertEqual(hlf.alarmedAt, Int64(alarmAt))
        XCTAssertEqual(hlf.deliveredAt, Int64(deliveredAt))
        XCTAssertEqual(hlf.enRouteAt, Int64(enRoute))
        XCTAssertEqual(hlf.acknowledgedAt, Int64(enRoute))
        XCTAssertEqual(hlf.onSceneAt, Int64(onScene))
        XCTAssertEqual(hlf.freeAt, Int64(free))
        XCTAssertEqual(hlf.outcome, "acknowledged")
        XCTAssertEqual(hlf.boundSeconds, Double(free - enRoute) / 1000)
        let dlk = try XCTUnwrap(changes.dispatches.first { $0.unit == "1-DLK-1" })
        XCTAssertNil(dlk.onSceneAt)
        XCTAssertEqual(dlk.freeAt, Int64(free))
        XCTAssertEqual(dlk.alarmToEnRouteSeconds, 62)
    }

    /// A unit that never answers is unanswered, the incident incomplete; a status after the unit
    /// was freed, or one of a unit never alarmed, changes nothing.
    func testUnansweredUnitsAndStrayStatuses() throws {
        var h = try FeedHarness()
        let id = try h.open("TH1", address: "Zeil 1")
        let order = try h.order(id, ["1-HLF-1"])
        try h.deliverAll(order)
        try h.status("3-DLK-1", 3)                     // never alarmed: ignored
        h.at(400)                                      // past the ack deadline: re-alerted
        _ = h.send(.clock, as: "node:node1")
        h.at(400)                                      // and unanswered
        _ = h.send(.clock, as: "node:node1")
        _ = try h.send(.closeIncident(.init(incident: id))).get()
        var p = h.project()
        let c = p.takeChanges()
        XCTAssertEqual(c.records.first?.outcome, "incomplete")
        XCTAssertEqual(c.records.first?.category, "technical_rescue")
        XCTAssertEqual(c.dispatches.map(\.unit), ["1-HLF-1"])
        XCTAssertEqual(c.dispatches.first?.outcome, "unanswered")
        XCTAssertEqual(c.dispatches.first?.reAlerted, true)
        XCTAssertNil(c.records.first?.firstEnRouteAt)
    }

    /// Applied in two halves with the working set stored and reloaded in between (a pipeline
    /// restart), the records are those of one pass — and late events for an evicted record land.
    func testRestartFromTheStoreGivesTheSameRecords() throws {
        var h = try FeedHarness()
        for k in 0..<6 {
            let id = try h.open(k % 2 == 0 ? "F1" : "TH1", address: "Weg \(k)")
            let o = try h.order(id, [k % 2 == 0 ? "1-HLF-1" : "2-HLF-1"])
            try h.deliverAll(o)
            h.at(30)
            try h.status(k % 2 == 0 ? "1-HLF-1" : "2-HLF-1", 3)
            h.at(200)
            try h.status(k % 2 == 0 ? "1-HLF-1" : "2-HLF-1", 4)
            _ = try h.send(.closeIncident(.init(incident: id))).get()
            h.at(100)
            try h.status(k % 2 == 0 ? "1-HLF-1" : "2-HLF-1", 1)
            h.at(60)
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("florian-proj-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for split in [1, h.feed.count / 3, h.feed.count / 2, h.feed.count - 1] {
            try? FileManager.default.removeItem(atPath: dir)
            do {
                let store = try IncidentStore(directory: dir)
                var p = IncidentProjection()
                for (offset, bytes) in h.feed.prefix(split).enumerated() {
                    p.apply(FeedEvent.decode(bytes)!) { (try? store.lookup($0)) ?? nil }
                    let c = p.takeChanges()
                    try store.commit(records: c.records, dispatches: c.dispatches, latest: c.latest, feedOffset: UInt64(offset + 1))
                    p.evict()
                }
            }
            let store = try IncidentStore(directory: dir)
            XCTAssertEqual(try store.feedOffset(), UInt64(split))
            let ws = try store.workingSet(source: "florian")
            var p = IncidentProjection(records: ws.records, dispatches: ws.dispatches, latest: ws.latest)
            for bytes in h.feed.dropFirst(split) { p.apply(FeedEvent.decode(bytes)!) { (try? store.lookup($0)) ?? nil } }
            let c = p.takeChanges()
            try store.commit(records: c.records, dispatches: c.dispatches, latest: c.latest, feedOffset: UInt64(h.feed.count))
            var whole = h.project()
            let expected = whole.takeChanges()
            let stored = try store.records(from: 0, to: .max)
            XCTAssertEqual(stored.count, 6)
            XCTAssertEqual(stored.sorted { $0.id < $1.id }, expected.records.sorted { $0.id < $1.id }, "split at \(split)")
            XCTAssertEqual(try store.dispatches(from: 0, to: .max).sorted { $0.key < $1.key }, expected.dispatches.sorted { $0.key < $1.key }, "split at \(split)")
        }
    }

    /// A test alarm is marked on the record and its dispatches.
    func testProbealarmIsMarked() throws {
        var h = try FeedHarness()
        let id = try h.open("F1", address: "Übungsplatz", test: true)
        _ = try h.order(id, ["1-HLF-1"])
        var p = h.project()
        let c = p.takeChanges()
        XCTAssertEqual(c.records.first?.test, true)
        XCTAssertEqual(c.dispatches.first?.test, true)
    }

    /// The feed of a log written before the event carried keyword and area: parsed from the detail.
    func testOldFeedDetailIsParsed() {
        var p = IncidentProjection()
        var e = FeedEvent(event: "incident.opened", at: 1000)
        e.incident = "E-000009"
        e.detail = "F2 Frankfurter Berg, Bonameser Straße 3, Hinterhaus"
        p.apply(e) { _ in nil }
        let r = p.takeChanges().records[0]
        XCTAssertEqual(r.keyword, "F2")
        XCTAssertEqual(r.area, "Frankfurter Berg")
        XCTAssertEqual(r.personal.address?.storedValue, "Bonameser Straße 3, Hinterhaus")
    }
}

/// Archiving: closed incidents leave the replicated alarm state, so it stays bounded.
final class ArchiveTests: XCTestCase {
    func testArchivingShrinksTheAlarmState() throws {
        var h = try FeedHarness()
        var ids: [IncidentID] = []
        for k in 0..<300 {
            let id = try h.open("F1", address: "Straße \(k)")
            let o = try h.order(id, ["1-HLF-1"])
            try h.deliverAll(o)
            try h.status("1-HLF-1", 3)
            _ = try h.send(.closeIncident(.init(incident: id))).get()
            try h.status("1-HLF-1", 1)
            h.at(60)
            ids.append(id)
        }
        let open = try h.open("F2", address: "noch offen")
        let before = StrictJSON.encode(h.state).count
        // Open incidents are refused by name; nothing is archived then.
        let refused = h.send(.archiveIncidents(.init(incidents: [ids[0], open])))
        guard case .failure(.conflict(let why)) = refused else { return XCTFail("\(refused)") }
        XCTAssertTrue(why.contains(open.rawValue))
        XCTAssertEqual(h.state.incidents.count, 301)
        // A partner certificate may not archive.
        XCTAssertThrowsError(try h.send(.archiveIncidents(.init(incidents: [ids[0]])), as: "partner:x").get())
        for chunk in stride(from: 0, to: ids.count, by: 200) {
            _ = try h.send(.archiveIncidents(.init(incidents: Array(ids[chunk..<min(ids.count, chunk + 200)]))), as: "gateway:pipeline").get()
        }
        let after = StrictJSON.encode(h.state).count
        print("alarm state: \(before) bytes with 300 closed incidents, \(after) bytes after archiving them")
        XCTAssertEqual(h.state.incidents.count, 1)
        XCTAssertEqual(h.state.orders.count, 0)
        XCTAssertLessThan(after * 5, before)
        // Again: harmless, reported as gone.
        let again = try h.json(h.send(.archiveIncidents(.init(incidents: [ids[0]])), as: "gateway:pipeline"))
        XCTAssertEqual(again["gone"] as? [String], [ids[0].rawValue])
        XCTAssertEqual(h.state.incidents[open]?.id, open)
    }
}
