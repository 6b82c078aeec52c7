import Foundation
import Incidents
@testable import Statistics
import XCTest

/// Hilfsfrist compliance, utilisation, grouped counts and the report, each against a plain
/// computation by hand.
final class AggregateTests: XCTestCase {
    let clock = try! LocalClock("Europe/Berlin")

    func record(_ id: Int, area: String?, category: String = "fire", at t: Int64 = 1_767_225_600_000, response: Double?, test: Bool = false) -> IncidentRecord {
        var r = IncidentRecord(source: "t", id: "E-\(id)", openedAt: t, keyword: "F2", category: category, area: area, test: test)
        if let response { r.firstOnSceneAt = t + Int64(response * 1000) }
        return r
    }

    func testHilfsfristCountsTheShareWithinTheTargetPerAreaAndOverall() {
        let records = [
            record(1, area: "Bornheim", response: 300), record(2, area: "Bornheim", response: 570), record(3, area: "Bornheim", response: 571),
            record(4, area: "Nordend", response: 200), record(5, area: "Nordend", response: nil),
            record(6, area: nil, response: 900),
            record(7, area: "Nordend", category: "ems", response: 1000),          // not a fire: the AGBF target does not apply
            record(8, area: "Nordend", response: 1000, test: true),               // a Probealarm
        ]
        let rows = Hilfsfrist.compliance(records, target: .agbfCriticalHouseFire)
        XCTAssertEqual(rows.map(\.area), [nil, "Bornheim", "Nordend", "unbekannt"])
        XCTAssertEqual(rows[0].measured, 5); XCTAssertEqual(rows[0].within, 3); XCTAssertEqual(rows[0].unmeasured, 1)
        XCTAssertEqual(rows[1].share!, 2.0 / 3, accuracy: 1e-12, "570 s is within 9.5 min, 571 s is not")
        XCTAssertEqual(rows[2].measured, 1); XCTAssertEqual(rows[2].unmeasured, 1); XCTAssertEqual(rows[2].share, 1)
        XCTAssertEqual(rows[3].share, 0)
        XCTAssertEqual(rows[1].median, 570)
        XCTAssertEqual(rows[1].p90!, 570 + 0.8 * 1, accuracy: 1e-9, "type 7: 90th of 300, 570, 571")
        var all = HilfsfristTarget.agbfCriticalHouseFire
        all.categories = nil
        XCTAssertEqual(Hilfsfrist.compliance(records, target: all)[0].measured, 6)
    }

    func testUtilisationClipsToThePeriodMergesOverlapsAndSumsPerStation() {
        let h: Int64 = 3_600_000, from: Int64 = 0, to = 10 * h
        var a = UnitDispatch(source: "florian", incident: "E-1", order: "A-1", unit: "1-HLF-1", alarmedAt: h, test: false)
        a.enRouteAt = h; a.onSceneAt = 2 * h; a.freeAt = 4 * h                       // 1 h status 3, 2 h status 4
        var b = UnitDispatch(source: "florian", incident: "E-2", order: "A-2", unit: "1-HLF-1", alarmedAt: 3 * h, test: false)
        b.enRouteAt = 3 * h; b.onSceneAt = 5 * h; b.freeAt = 6 * h                   // overlaps a: 3–4 is on scene (a), 4–5 en route, 5–6 on scene
        var c = UnitDispatch(source: "florian", incident: "E-3", order: "A-3", unit: "1-DLK-1", alarmedAt: 9 * h, test: false)
        c.enRouteAt = 9 * h                                                          // still en route at the end: counted to the end
        var t = UnitDispatch(source: "florian", incident: "E-4", order: "A-4", unit: "1-DLK-1", alarmedAt: h, test: true)
        t.enRouteAt = h; t.freeAt = 5 * h                                            // a Probealarm: left out
        let (units, stations) = Utilisation.compute([a, b, c, t], from: from, to: to, stationOf: ["1-HLF-1": "FRW1", "1-DLK-1": "FRW1", "1-ELW-1": "FRW1"])
        let hlf = units.first { $0.name == "1-HLF-1" }!, dlk = units.first { $0.name == "1-DLK-1" }!
        XCTAssertEqual(hlf.enRouteSeconds, 2 * 3600); XCTAssertEqual(hlf.onSceneSeconds, 3 * 3600)
        XCTAssertEqual(hlf.share, 0.5, accuracy: 1e-12)
        XCTAssertEqual(dlk.enRouteSeconds, 3600); XCTAssertEqual(dlk.open, 1); XCTAssertEqual(dlk.dispatches, 1)
        XCTAssertEqual(stations.count, 1)
        XCTAssertEqual(stations[0].share, 6.0 / 30, accuracy: 1e-12, "6 busy hours of 3 units × 10 hours")
    }

    func testGroupedCountsAndQuantilesMatchAPlainComputation() {
        var g = Draws(seed: 4)
        let areas = ["Bornheim", "Nordend", "Sachsenhausen-Nord"], cats = ["fire", "ems", "technical_rescue"]
        let base = clock.utcMillis(localDay: CivilDate.days(year: 2026, month: 3, day: 1))!
        var records: [IncidentRecord] = []
        for i in 0..<3000 {
            let t = base + Int64(g.uniform() * 40 * 86_400_000)
            records.append(record(i, area: areas[Int(g.uniform() * 3)], category: cats[Int(g.uniform() * 3)], at: t, response: g.uniform() < 0.9 ? 120 + 900 * g.uniform() : nil))
        }
        let (rows, skipped) = IncidentAggregates.compute(records, by: [.category, .area], clock: clock)
        XCTAssertEqual(skipped, 0)
        XCTAssertEqual(rows.count, 9)
        XCTAssertEqual(rows.map(\.incidents).reduce(0, +), 3000)
        for r in rows {
            let members = records.filter { $0.category == r.key[0] && ($0.area ?? "") == r.key[1] }
            XCTAssertEqual(r.incidents, members.count)
            let times = members.compactMap(\.callToOnSceneSeconds).sorted()
            let pos = 0.9 * Double(times.count - 1), lo = Int(pos)
            let p90 = times[lo] + (pos - Double(lo)) * (times[min(lo + 1, times.count - 1)] - times[lo])
            XCTAssertEqual(r.p90!, p90, accuracy: 1e-9)
        }
        let sketch = IncidentAggregates.compute(records, by: [.category, .area], clock: clock, method: .sketch).rows
        for (e, s) in zip(rows, sketch) { XCTAssertEqual(s.median!, e.median!, accuracy: e.median! * 0.03) }
        // By hour: the local hour, not UTC (2026-03-01 10:30 local = 09:30 UTC).
        let one = record(1, area: "x", at: clock.utcMillis(localSeconds: CivilDate.days(year: 2026, month: 3, day: 1) * 86_400 + 10 * 3600 + 1800)!, response: nil)
        XCTAssertEqual(IncidentAggregates.compute([one], by: [.hour, .weekday, .week], clock: clock).rows[0].key, ["10", "7-So", "2026-W09"])
    }

    func testISOWeeksAtYearBoundaries() {
        XCTAssertEqual(IncidentAggregates.isoWeek(days: CivilDate.days(year: 2026, month: 1, day: 1)), "2026-W01")   // a Thursday
        XCTAssertEqual(IncidentAggregates.isoWeek(days: CivilDate.days(year: 2027, month: 1, day: 1)), "2026-W53")   // a Friday
        XCTAssertEqual(IncidentAggregates.isoWeek(days: CivilDate.days(year: 2024, month: 12, day: 30)), "2025-W01") // a Monday
        XCTAssertEqual(IncidentAggregates.isoWeek(days: CivilDate.days(year: 2026, month: 8, day: 14)), "2026-W33")
    }

    func testTheReportIsSelfContainedAndEveryFigureHasATextAlternative() {
        var d = ReportData(title: "Test <&> report", source: "t", attribution: "Berliner Feuerwehr, BF-Open-Data, CC BY 4.0", generated: "now", frequency: .day)
        d.history = (0..<10).map { ("d\($0)", $0 == 4 ? nil : Double(100 + $0)) }
        d.forecast = (0..<7).map { ("f\($0)", ForecastPoint(start: 0, mean: 110, lo80: 100, hi80: 120, lo95: 95, hi95: 125)) }
        d.weekly = (0..<5).map { ("2026-W0\($0)", Double(700 + $0)) }
        d.responseByCategory = [("fire", 40, [300, 450, 700])]
        d.compliance = [ComplianceRow(area: nil, measured: 40, within: 30, unmeasured: 2, median: 450, p90: 700),
                        ComplianceRow(area: "Bornheim", measured: 40, within: 30, unmeasured: 2, median: 450, p90: 700)]
        let html = Report.html(d)
        XCTAssertFalse(html.contains("<script"), "no script")
        XCTAssertFalse(html.contains("src="), "nothing loaded")
        XCTAssertFalse(html.contains("http://") && !html.contains("xmlns=\"http://www.w3.org/2000/svg\""))
        XCTAssertEqual(html.components(separatedBy: "https://").count, 1, "no link anywhere")
        XCTAssertTrue(html.contains("Test &lt;&amp;&gt; report"), "escaped")
        let figures = html.components(separatedBy: "<svg ").count - 1
        XCTAssertEqual(figures, 4)
        XCTAssertEqual(html.components(separatedBy: "role=\"img\"").count - 1, figures)
        XCTAssertEqual(html.components(separatedBy: "<desc id=").count - 1, figures)
        XCTAssertEqual(html.components(separatedBy: "<figcaption>").count - 1, figures)
        XCTAssertTrue(html.contains("CC BY 4.0"))
        XCTAssertTrue(html.contains("75.0 % of 40 (below goal)"), "values as text, not colour alone")
    }
}
