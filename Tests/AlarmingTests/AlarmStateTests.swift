import Foundation
import XCTest
@testable import Alarming

/// Drives the alarm state machine on virtual time, as the log would: commands with timestamps.
struct AlarmHarness {
    var state = AlarmState()
    var published: [Publication] = []
    var now: UInt64 = 1_000_000
    static let operatorID = "operator:disponent-demo"
    static let gatewayID = "gateway:gateway-demo"

    static func sampleRegistry() throws -> Registry {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        let data = try Data(contentsOf: url.appendingPathComponent("ops/config/frankfurt-registry.json"))
        return try StrictJSON.decode(Registry.self, from: Array(data), what: "registry")
    }

    init(registry: Registry? = nil) throws {
        let r = try registry ?? Self.sampleRegistry()
        _ = try send(.applyRegistry(r)).get()
        // The test gateway holds both networks' leases once, so it may report receipts.
        // The leases then run out (no renewal), so they set no deadlines in the tests.
        for n in Network.allCases { _ = try send(.lease(.init(network: n, holder: "gw-test-\(n.rawValue)"))).get() }
        now += 7_000
        send(.clock, as: "node:node1")
        published.removeAll()
    }

    @discardableResult
    mutating func send(_ command: AlarmCommand, as sender: String? = nil) -> Result<[UInt8], AlarmError> {
        let who = sender ?? (AlarmCommand.types[command.type]!.contains("operator") ? Self.operatorID : Self.gatewayID)
        return state.apply(type: command.type, sender: who, timestamp: now, payload: command.payload, publications: &published)
    }

    mutating func advance(seconds: Double) {
        now += UInt64(seconds * 1000)
        send(.clock, as: "node:node1")
    }

    func json(_ r: Result<[UInt8], AlarmError>) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(try r.get())) as! [String: Any]
    }

    mutating func open(_ keyword: String, _ area: String, test: Bool = false) throws -> IncidentID {
        let r = send(.openIncident(.init(keyword: keyword, area: try AreaID(area), address: "Schweizer Straße 1", test: test)))
        return try IncidentID(try json(r)["incident"] as! String)
    }

    mutating func alarm(_ incident: IncidentID, _ units: [UnitID]) throws -> OrderID {
        try OrderID(try json(send(.createOrder(.init(incident: incident, units: units))))["order"] as! String)
    }

    func proposal(_ incident: IncidentID) throws -> Proposal {
        try JSONDecoder().decode(Proposal.self, from: Data(try state.query("proposal", StrictJSON.encode(["incident": incident.rawValue]))))
    }

    func order(_ id: OrderID) -> AlarmOrder { state.orders[id]! }
    func target(_ id: OrderID, _ ref: TargetRef) -> AlarmTarget { order(id).targets.first { $0.target == ref }! }

    /// Instructions published for a network, in order.
    func instructions(_ network: Network) -> [Instruction] {
        published.filter { $0.topic == AlarmTopic.instructions(network) }.map { try! JSONDecoder().decode(Instruction.self, from: Data($0.payload)) }
    }
    func events(_ name: String) -> [AlarmEvent] {
        published.filter { $0.topic == AlarmTopic.events }.map { try! JSONDecoder().decode(AlarmEvent.self, from: Data($0.payload)) }.filter { $0.event == name }
    }
}

final class AlarmStateTests: XCTestCase {
    func testSampleRegistryIsValidAndMarkedAsSample() throws {
        let r = try AlarmHarness.sampleRegistry().validated()
        XCTAssertTrue(r.notice!.contains("SAMPLE DATA"))
        XCTAssertEqual(r.areas.count, 46)
        XCTAssertEqual(r.stations.filter { $0.kind == .professional }.count, 10)
        XCTAssertGreaterThanOrEqual(r.stations.filter { $0.kind == .volunteer }.count, 20)
    }

    func testRegistryWithDanglingOrDuplicateReferencesIsRefused() throws {
        let good = try AlarmHarness.sampleRegistry()
        var r = good
        r.units[0].station = "FRW99"
        XCTAssertThrowsError(try r.validated()) { XCTAssertTrue("\($0)".contains("FRW99")) }
        r = good
        r.units.append(r.units[0])
        XCTAssertThrowsError(try r.validated()) { XCTAssertTrue("\($0)".contains("defined twice")) }
        r = good
        r.alertGroups[0].ric = 1 << 21
        XCTAssertThrowsError(try r.validated())
        r = good
        r.alertGroups[1].ric = r.alertGroups[0].ric
        r.alertGroups[1].channel = r.alertGroups[0].channel
        r.alertGroups[1].function = r.alertGroups[0].function
        XCTAssertThrowsError(try r.validated()) { XCTAssertTrue("\($0)".contains("used by another group")) }
        r = good
        r.sirens[0].zvei = "1234"
        XCTAssertThrowsError(try r.validated())
        r = good
        r.areas[0].stationOrder = []
        XCTAssertThrowsError(try r.validated())
    }

    func testUnknownFieldInACommandIsRefusedSoATypoCannotMakeATestAlarmReal() throws {
        var h = try AlarmHarness()
        let payload = Array(#"{"keyword":"F1","area":"Nied","address":"Mainzer Landstraße 1","tset":true}"#.utf8)
        let r = h.state.apply(type: "alarm.incident.open", sender: AlarmHarness.operatorID, timestamp: h.now, payload: payload, publications: &h.published)
        guard case .failure(let e) = r else { return XCTFail("accepted \(r)") }
        XCTAssertTrue(e.description.contains("unknown field tset"), e.description)
        for bad in ["", "{", "[]", #"{"keyword":1}"#, #"{"keyword":"F1","area":"","address":"x"}"#] {
            let r = h.state.apply(type: "alarm.incident.open", sender: AlarmHarness.operatorID, timestamp: h.now, payload: Array(bad.utf8), publications: &h.published)
            XCTAssertThrowsError(try r.get(), bad)
        }
        XCTAssertTrue(h.state.incidents.isEmpty)
    }

    func testUnknownAreaOrKeywordNamesTheNearestValidOne() throws {
        var h = try AlarmHarness()
        let r = h.send(.openIncident(.init(keyword: "F3", area: "Sachsenhausen-Nrd", address: "x")))
        XCTAssertTrue("\(r)".contains("did you mean Sachsenhausen-Nord?"), "\(r)")
        let k = h.send(.openIncident(.init(keyword: "TH-V", area: "Nied", address: "x")))
        XCTAssertTrue("\(k)".contains("did you mean TH-VU?"), "\(k)")
    }

    func testAnIncidentByCoordinatesLiesInTheAreaWithTheNearestCentre() throws {
        var h = try AlarmHarness()
        func open(_ position: String, area: String? = nil) -> Result<[UInt8], AlarmError> {
            h.send(.openIncident(.init(keyword: "F1", area: area.map { try! AreaID($0) }, position: try! Position(parsing: position), address: "x")))
        }
        // Römerberg (Altstadt), Höchster Schlossplatz, Frankfurt Flughafen Terminal 1.
        XCTAssertEqual(try h.json(open("50.1104,8.6821"))["area"] as? String, "Altstadt")
        XCTAssertEqual(try h.json(open("50.0999,8.5440"))["area"] as? String, "Höchst")
        XCTAssertEqual(try h.json(open("50.0510,8.5710"))["area"] as? String, "Flughafen")
        // A given area wins; a point outside the city is refused; so is nonsense.
        XCTAssertEqual(try h.json(open("50.1104,8.6821", area: "Nied"))["area"] as? String, "Nied")
        XCTAssertThrowsError(try open("52.5200,13.4050").get()) { XCTAssertTrue("\($0)".contains("farther than 6 km"), "\($0)") }
        XCTAssertThrowsError(try h.send(.openIncident(.init(keyword: "F1", area: nil, address: "x"))).get())
        for bad in ["50.1", "50,8,1", "91.0,8.0", "50.1234567,8.6", "abc,def", "50.-1,8"] {
            XCTAssertThrowsError(try Position(parsing: bad), bad)
        }
        XCTAssertEqual(try Position(parsing: "-0.5,8.682"), Position(latE6: -500_000, lonE6: 8_682_000))
    }

    func testRolesDecideWhoMaySendWhat() throws {
        var h = try AlarmHarness()
        XCTAssertThrowsError(try h.send(.openIncident(.init(keyword: "F1", area: "Nied", address: "x")), as: "partner:THW").get())
        XCTAssertThrowsError(try h.send(.openIncident(.init(keyword: "F1", area: "Nied", address: "x")), as: AlarmHarness.gatewayID).get())
        XCTAssertThrowsError(try h.send(.lineState(.init(station: "FRW1", up: false)), as: AlarmHarness.operatorID).get())
        XCTAssertThrowsError(try h.send(.unitStatus(.init(unit: "1-HLF-1", status: 3)), as: "analyst:x").get())
        // A gateway that never held the wired lease cannot confirm a station or report a line.
        let order = try h.alarm(try h.open("F1", "Innenstadt"), ["1-HLF-2"])
        let other = "gateway:gw-paging-only"
        // It holds the wireless network's lease — that does not let it speak for the wired one.
        XCTAssertTrue(try h.json(h.send(.lease(.init(network: .wireless, holder: "x")), as: other))["granted"] as? Bool == true)
        XCTAssertThrowsError(try h.send(.targetDelivered(.init(order: order, target: .line("FRW1"), round: 1)), as: other).get()) {
            XCTAssertTrue("\($0)".contains("never held the wired network's lease"), "\($0)")
        }
        XCTAssertThrowsError(try h.send(.lineState(.init(station: "FRW1", up: false)), as: other).get())
        XCTAssertEqual(h.target(order, .line("FRW1")).state, .pending)
        XCTAssertNoThrow(try h.send(.unitStatus(.init(unit: "1-HLF-1", status: 1)), as: AlarmHarness.gatewayID).get())
    }

    func testAAOPicksAvailableUnitsInTheAreasStationOrderAndSaysWhatItCouldNotFill() throws {
        var h = try AlarmHarness()
        let incident = try h.open("F3", "Sachsenhausen-Nord")
        let p = try h.proposal(incident)
        // Sachsenhausen-Nord: FRW1, FRW2, FF-Sachsenhausen-Süd, FRW3 …
        XCTAssertEqual(p.units.filter { $0.type == "HLF" }.map(\.unit), ["1-HLF-1", "1-HLF-2", "2-HLF-1"])
        XCTAssertEqual(p.units.filter { $0.type == "DLK" }.map(\.unit), ["1-DLK-1", "2-DLK-1"])
        XCTAssertEqual(p.units.first { $0.type == "ELW" }?.unit, "1-ELW-1")
        XCTAssertEqual(p.units.filter { $0.type == "LF" }.map(\.unit), ["FF-Sachsenhausen-Süd-LF", "FF-Oberrad-LF"])
        XCTAssertTrue(p.unfilled.isEmpty)

        // Units out of service or alarmed elsewhere are skipped; a shortfall is reported.
        // Only the stations in the area's order count (FRW1, FRW2, FRW3, FRW4, FRW5, FRW8 have ladders).
        for u in ["1-DLK-1", "2-DLK-1", "3-DLK-1", "4-DLK-1", "8-DLK-1"] {
            h.send(.unitStatus(.init(unit: try UnitID(u), status: 6)))
        }
        let p2 = try h.proposal(incident)
        XCTAssertEqual(p2.units.filter { $0.type == "DLK" }.map(\.unit), ["5-DLK-1"])
        XCTAssertEqual(p2.unfilled, [.init(type: "DLK", missing: 1)])

        // The Altstadt has its own F2 rule (two ladders).
        let old = try h.open("F2", "Altstadt")
        XCTAssertEqual(try h.proposal(old).units.filter { $0.type == "DLK" }.count + (try h.proposal(old).unfilled.first?.missing ?? 0), 2)
    }

    func testAnOrderReachesStationsByLineAndVolunteersByPagerAndSiren() throws {
        var h = try AlarmHarness()
        let incident = try h.open("F3", "Sachsenhausen-Nord")
        let order = try h.alarm(incident, ["1-HLF-1", "1-DLK-1", "FF-Oberrad-LF"])
        let o = h.order(order)
        XCTAssertEqual(Set(o.targets.map(\.target)), [.line("FRW1"), .group("AG-FF-Oberrad"), .siren("S-Oberrad")])
        XCTAssertEqual(h.target(order, .line("FRW1")).units, ["1-HLF-1", "1-DLK-1"])
        let wired = h.instructions(.wired)
        XCTAssertEqual(wired.count, 1)
        XCTAssertEqual(wired[0].station, "FRW1")
        XCTAssertEqual(wired[0].outputs, ["gong", "lights", "doors", "printer"])
        XCTAssertEqual(wired[0].round, 1)
        let wireless = h.instructions(.wireless)
        XCTAssertEqual(wireless.count, 2)
        let page = wireless.first { $0.ric != nil }!
        XCTAssertEqual(page.function, "D")
        XCTAssertTrue(page.text!.hasPrefix("F3 Sachsenhausen-Nord, Schweizer Straße 1 E-000001"))
        XCTAssertNoThrow(try POCSAG.Page(ric: page.ric!, function: 3, content: .alphanumeric(page.text!)))
        XCTAssertEqual(wireless.first { $0.zvei != nil }?.signal, "fire")
        // Alarmed units are bound to the incident and no longer proposed.
        XCTAssertFalse(h.state.isAvailable("1-HLF-1"))
        XCTAssertThrowsError(try h.send(.createOrder(.init(incident: try h.open("F1", "Nied"), units: ["1-HLF-1"]))).get()) {
            XCTAssertTrue("\($0)".contains("alarmed for incident E-000001"))
        }
    }

    func testDeliveryAndStatusThreeCloseTheOrderComplete() throws {
        var h = try AlarmHarness()
        let order = try h.alarm(try h.open("F1", "Innenstadt"), ["1-HLF-1"])
        h.now += 1_500
        XCTAssertNoThrow(try h.send(.targetSent(.init(order: order, target: .line("FRW1"), round: 1))).get())
        h.now += 20
        XCTAssertNoThrow(try h.send(.targetDelivered(.init(order: order, target: .line("FRW1"), round: 1))).get())
        // A repeated receipt changes nothing.
        XCTAssertNoThrow(try h.send(.targetDelivered(.init(order: order, target: .line("FRW1"), round: 1))).get())
        XCTAssertEqual(h.events("target.delivered").count, 1)
        XCTAssertEqual(h.events("target.delivered")[0].latencyMillis, 1_520)
        XCTAssertTrue(h.order(order).isOpen)
        h.advance(seconds: 30)
        h.send(.unitStatus(.init(unit: "1-HLF-1", status: 3)), as: AlarmHarness.gatewayID)
        XCTAssertEqual(h.order(order).units[0].state, .acknowledged)
        XCTAssertEqual(h.order(order).result, "complete")
        XCTAssertNotNil(h.order(order).closedAt)
        // Nothing more is due; a day later nothing fires.
        XCTAssertNil(h.state.nextDeadline)
        h.advance(seconds: 3600)
        XCTAssertEqual(h.events("target.failed").count, 0)
        XCTAssertEqual(h.events("unit.re-alerted").count, 0)
        // Back in service after the job: available again.
        h.send(.unitStatus(.init(unit: "1-HLF-1", status: 4)))
        XCTAssertFalse(h.state.isAvailable("1-HLF-1"))
        h.send(.unitStatus(.init(unit: "1-HLF-1", status: 1)))
        XCTAssertTrue(h.state.isAvailable("1-HLF-1"))
    }

    func testALineThatDoesNotAckInTimeFallsBackToTheStationsPagersOnVirtualTime() throws {
        var h = try AlarmHarness()
        let order = try h.alarm(try h.open("F1", "Innenstadt"), ["1-HLF-1"])
        XCTAssertEqual(h.state.nextDeadline, h.now + 10_000)
        h.advance(seconds: 9.999)
        XCTAssertEqual(h.target(order, .line("FRW1")).state, .pending)
        XCTAssertTrue(h.instructions(.wireless).isEmpty)
        h.advance(seconds: 0.001)
        XCTAssertEqual(h.target(order, .line("FRW1")).state, .failed)
        XCTAssertEqual(h.target(order, .line("FRW1")).reason, "no ACK from the station in time")
        let fb = h.instructions(.wireless)
        XCTAssertEqual(fb.map(\.target), [.group("AG-FRW1")])
        XCTAssertTrue(fb[0].fallback)
        XCTAssertTrue(h.target(order, .group("AG-FRW1")).fallback)
        // The page is aired; then the line's late ACK is recorded as late, not sent again.
        h.now += 4_000
        h.send(.targetDelivered(.init(order: order, target: .group("AG-FRW1"), round: 1)))
        h.now += 1_000
        h.send(.targetDelivered(.init(order: order, target: .line("FRW1"), round: 1)))
        XCTAssertEqual(h.target(order, .line("FRW1")).state, .delivered)
        XCTAssertTrue(h.target(order, .line("FRW1")).late)
        XCTAssertEqual(h.instructions(.wired).count, 1)
    }

    func testALineKnownFaultedSendsTheFallbackAtOnceAndAFaultFailsWaitingTargets() throws {
        var h = try AlarmHarness()
        let first = try h.alarm(try h.open("F1", "Innenstadt"), ["1-HLF-1"])
        h.now += 2_000
        h.send(.lineState(.init(station: "FRW1", up: false, reason: "silent for 12 s")))
        XCTAssertEqual(h.target(first, .line("FRW1")).state, .failed)
        XCTAssertEqual(h.target(first, .group("AG-FRW1")).state, .pending)
        XCTAssertEqual(h.events("line.faulted").first?.station, "FRW1")
        // A new order for that station goes out over the pagers at once.
        let second = try h.alarm(try h.open("TH1", "Innenstadt"), ["1-HLF-2"])
        XCTAssertEqual(Set(h.order(second).targets.map(\.target)), [.line("FRW1"), .group("AG-FRW1")])
        XCTAssertEqual(h.instructions(.wireless).filter { $0.order == second }.count, 1)
        // A repeated report changes nothing; recovery is an event.
        h.send(.lineState(.init(station: "FRW1", up: false)))
        XCTAssertEqual(h.events("line.faulted").count, 1)
        h.send(.lineState(.init(station: "FRW1", up: true)))
        XCTAssertEqual(h.events("line.up").count, 1)
        XCTAssertThrowsError(try h.send(.lineState(.init(station: "FF-Nied", up: true))).get())
    }

    func testAUnitWithoutAcknowledgementIsReAlarmedOnceThenEscalatedForAnOperatorToConfirm() throws {
        var h = try AlarmHarness()
        let incident = try h.open("F1", "Innenstadt")
        let order = try h.alarm(incident, ["1-HLF-1"])
        h.now += 500
        h.send(.targetDelivered(.init(order: order, target: .line("FRW1"), round: 1)))
        h.advance(seconds: 89.4)
        XCTAssertEqual(h.order(order).units[0].state, .alerted)
        h.advance(seconds: 0.1)
        XCTAssertEqual(h.order(order).units[0].state, .reAlerted)
        let wired = h.instructions(.wired)
        XCTAssertEqual(wired.map(\.round), [1, 2])
        XCTAssertTrue(wired[1].reAlarm)
        XCTAssertTrue(wired[1].text!.contains("WIEDERHOLUNG"))
        h.send(.targetDelivered(.init(order: order, target: .line("FRW1"), round: 2)))
        h.advance(seconds: 90)
        XCTAssertEqual(h.order(order).units[0].state, .unanswered)
        XCTAssertEqual(h.order(order).result, "incomplete")
        let esc = h.state.incidents[incident]!.escalations
        XCTAssertEqual(esc.count, 1)
        XCTAssertEqual(esc[0].replacement, "1-HLF-2")
        XCTAssertEqual(esc[0].decision, .waiting)
        XCTAssertEqual(h.events("escalation.proposed").count, 1)
        // Nothing is alarmed until an operator confirms.
        XCTAssertEqual(h.state.incidents[incident]!.orders.count, 1)
        let r = try h.json(h.send(.confirmEscalation(.init(order: order, unit: "1-HLF-1"))))
        let follow = try OrderID(r["order"] as! String)
        XCTAssertEqual(h.order(follow).units.map(\.unit), ["1-HLF-2"])
        XCTAssertEqual(h.order(follow).followUpOf, order)
        XCTAssertEqual(h.state.incidents[incident]!.escalations[0].decision, .confirmed)
        XCTAssertThrowsError(try h.send(.confirmEscalation(.init(order: order, unit: "1-HLF-1"))).get())
    }

    func testATestAlarmIsMarkedEverywhereAndNeverEscalates() throws {
        var h = try AlarmHarness()
        let incident = try h.open("F1", "Nied", test: true)
        let order = try h.alarm(incident, ["FF-Nied-LF"])
        XCTAssertTrue(h.order(order).test)
        let ins = h.instructions(.wireless)
        XCTAssertTrue(ins.allSatisfy(\.test))
        XCTAssertTrue(ins.first { $0.ric != nil }!.text!.hasPrefix("PROBEALARM"))
        XCTAssertEqual(ins.first { $0.zvei != nil }!.signal, "test")
        XCTAssertTrue(h.state.isAvailable("FF-Nied-LF"), "a test alarm does not take the unit out of service")
        h.advance(seconds: 3600)
        XCTAssertEqual(h.events("unit.re-alerted").count, 0)
        XCTAssertEqual(h.events("escalation.proposed").count, 0)
        XCTAssertFalse(h.order(order).isOpen)
        XCTAssertEqual(h.order(order).units[0].state, .unanswered)
    }

    func testLeaseGoesToOneGatewayAndToTheStandbyWhenTheActiveStopsRenewing() throws {
        var h = try AlarmHarness()
        func lease(_ holder: String) throws -> LeaseAnswer {
            try JSONDecoder().decode(LeaseAnswer.self, from: Data(try h.send(.lease(.init(network: .wired, holder: holder))).get()))
        }
        XCTAssertTrue(try lease("gw-a").granted)
        h.now += 2_000
        XCTAssertFalse(try lease("gw-b").granted)
        XCTAssertTrue(try lease("gw-a").granted)   // renewal
        h.now += 5_999
        XCTAssertFalse(try lease("gw-b").granted)
        h.advance(seconds: 0.001)
        XCTAssertEqual(h.events("gateway.lost").last?.holder, "gw-a")
        let b = try lease("gw-b")
        XCTAssertTrue(b.granted)
        XCTAssertEqual(b.epoch, 3, "gw-test-wired, gw-a, gw-b")
        XCTAssertFalse(try lease("gw-a").granted)
        // The wireless lease is separate.
        XCTAssertTrue(try JSONDecoder().decode(LeaseAnswer.self, from: Data(try h.send(.lease(.init(network: .wireless, holder: "gw-a"))).get())).granted)
    }

    func testAFailedPageFallsBackToTheUnitsStationLine() throws {
        var h = try AlarmHarness()
        // FRW1's fallback group as a unit's own group: give 1-HLF-1 a pager group to see the fallback.
        var r = try AlarmHarness.sampleRegistry()
        let i = r.units.firstIndex { $0.id == "1-HLF-1" }!
        r.units[i].groups = ["AG-FRW1"]
        h = try AlarmHarness(registry: r)
        let order = try h.alarm(try h.open("F1", "Innenstadt"), ["1-HLF-1"])
        h.send(.targetFailed(.init(order: order, target: .group("AG-FRW1"), round: 1, reason: "transmitter sink full")))
        XCTAssertEqual(h.target(order, .group("AG-FRW1")).reason, "transmitter sink full")
        // The line was already a target: nothing new is issued, nothing sent twice.
        XCTAssertEqual(h.instructions(.wired).count, 1)
    }

    func testStateEncodesCanonicallyAndRoundTrips() throws {
        var h = try AlarmHarness()
        _ = try h.alarm(try h.open("F3", "Höchst"), ["11-HLF-1", "FF-Höchst-LF"])
        h.advance(seconds: 12)
        // Two more wired gateways take the lease in turn, the later one first in the alphabet:
        // the state lists them sorted (no set order reaches its bytes).
        h.send(.lease(.init(network: .wired, holder: "z")), as: "gateway:zeta")
        h.advance(seconds: 7)
        h.send(.lease(.init(network: .wired, holder: "a")), as: "gateway:alpha")
        XCTAssertEqual(h.state.gateways[.wired], ["gateway:alpha", "gateway:gateway-demo", "gateway:zeta"])
        let a = StrictJSON.encode(h.state)
        let decoded = try StrictJSON.decode(AlarmState.self, from: a, what: "state")
        XCTAssertEqual(decoded, h.state)
        XCTAssertEqual(StrictJSON.encode(decoded), a)
    }

    func testQueriesAnswerAndRefuseUnknownNames() throws {
        var h = try AlarmHarness()
        _ = try h.alarm(try h.open("F1", "Innenstadt"), ["1-HLF-1"])
        for name in ["incidents", "units", "lines", "leases", "overview", "registry"] {
            XCTAssertNoThrow(try h.state.query(name, Array("{}".utf8)), name)
        }
        XCTAssertEqual(try h.state.query("pending", Array(#"{"network":"wired"}"#.utf8)).count > 10, true)
        XCTAssertThrowsError(try h.state.query("nonsense", Array("{}".utf8)))
        XCTAssertThrowsError(try h.state.query("order", Array(#"{"order":"E-999999/1"}"#.utf8)))
    }
}
