import Foundation
import Incidents
import XCTest

final class ImportTests: XCTestCase {
    static let now: Int64 = 1_796_000_000_000   // 2026-12

    func rows(_ text: String) -> [CSV.Row] { CSV.rows(Array(text.utf8)) }

    func importer(_ mapping: ImportMapping, _ header: String) throws -> Importer {
        try Importer(mapping: mapping, header: try CSV.rows(Array(header.utf8))[0].fields.get(), fileTag: "abcd1234", now: Self.now)
    }

    func mapping(_ name: String) throws -> ImportMapping {
        try ImportMapping.parse(Array(try Data(contentsOf: FeedHarness.root.appendingPathComponent("ops/mappings/\(name).json"))))
    }

    // MARK: CSV

    func testCSVQuotesLineBreaksAndCRLF() {
        let r = rows("a,b,c\r\n1,\"x, \"\"y\"\"\",3\r\n\"multi\nline\",,\n\n4,5,6")
        XCTAssertEqual(r.map(\.line), [1, 2, 3, 6])
        XCTAssertEqual(try r[1].fields.get(), ["1", "x, \"y\"", "3"])
        XCTAssertEqual(try r[2].fields.get(), ["multi\nline", "", ""])
        XCTAssertEqual(try r[3].fields.get(), ["4", "5", "6"])
    }

    func testCSVRefusesBrokenRowsAndGoesOn() {
        let r = rows("a,b\n1,x\"y\n2,\"ok\"z\n\u{FF}\u{FE},1\n3,4\n5,\"never closed\n6,7")
        XCTAssertEqual(r[1].fields, .failure(.quoteInsideField))
        XCTAssertEqual(r[2].fields, .failure(.quoteInsideField))
        XCTAssertEqual(r[4].fields, .success(["3", "4"]))
        XCTAssertEqual(r.last?.fields, .failure(.unterminatedQuote))
        XCTAssertEqual(r.last?.line, 6)
        // Invalid UTF-8 bytes.
        let bad = CSV.rows([0x61, 0x0A, 0xFF, 0xFE, 0x0A])
        XCTAssertEqual(bad[1].fields, .failure(.notUTF8))
    }

    func testCSVEscapeRoundTrips() {
        for s in ["plain", "a,b", "say \"hi\"", "line\nbreak", ""] {
            XCTAssertEqual(try rows("h\n" + CSV.escape(s) + ",x\n")[1].fields.get(), [s, "x"])
        }
    }

    // MARK: Time

    func testTimeFormatsAndLocalTime() throws {
        let berlin = try LocalClock("Europe/Berlin")
        func parse(_ f: String, _ v: String) throws -> TimeFormat.Parsed? { try? TimeFormat(f).parse(v, clock: berlin).get() }
        // Winter (CET, +01:00) and summer (CEST, +02:00).
        XCTAssertEqual(try parse("iso8601", "2025-01-09 14:03:07")?.utcMillis, 1_736_427_787_000)
        XCTAssertEqual(try parse("iso8601", "2025-07-09T14:03:07.25")?.utcMillis, 1_752_062_587_250)
        XCTAssertEqual(try parse("iso8601", "2025-07-09T12:03:07Z")?.utcMillis, 1_752_062_587_000)
        XCTAssertEqual(try parse("iso8601", "2025-07-09T14:03:07+02:00")?.utcMillis, 1_752_062_587_000)
        XCTAssertEqual(try parse("iso8601", "2025-01-09")?.precision, .day)
        XCTAssertEqual(try parse("iso8601", "2025-01-09")?.utcMillis, 1_736_377_200_000)
        XCTAssertEqual(try parse("%d.%m.%Y %H:%M", "09.01.2025 14:03")?.utcMillis, 1_736_427_780_000)
        XCTAssertEqual(try parse("epoch", "1736427787")?.utcMillis, 1_736_427_787_000)
        XCTAssertEqual(try parse("epoch-ms", "1736427787123")?.utcMillis, 1_736_427_787_123)
        XCTAssertNil(try parse("iso8601", "2025-02-30 10:00"))
        XCTAssertNil(try parse("iso8601", "2025-01-09 24:00"))
        XCTAssertNil(try parse("iso8601", "yesterday"))
        XCTAssertNil(try parse("%Y-%m-%d", "2025-01-09 trailing"))
        // 2025-03-30 02:30 does not exist in Berlin; 2025-10-26 02:30 happens twice (first taken).
        XCTAssertEqual(try TimeFormat("iso8601").parse("2025-03-30 02:30", clock: berlin), .failure(.nonexistentLocalTime))
        XCTAssertEqual(try parse("iso8601", "2025-10-26 02:30")?.utcMillis, 1_761_438_600_000)
        XCTAssertEqual(berlin.iso(1_761_438_600_000), "2025-10-26T02:30:00.000+02:00")
        XCTAssertEqual(berlin.iso(1_761_442_200_000), "2025-10-26T02:30:00.000+01:00")
        XCTAssertThrowsError(try TimeFormat("%Y-%q"))
        XCTAssertThrowsError(try LocalClock("Mars/Olympus"))
    }

    func testCivilDatesAgainstFoundation() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        // Foundation calendars are Julian before 1582: compared from 1601 on.
        for days in stride(from: Int64(-134_000), to: 800_000, by: 997) {
            let c = CivilDate.civil(days: days)
            let d = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(days) * 86400))
            XCTAssertEqual([c.year, c.month, c.day], [d.year!, d.month!, d.day!], "day \(days)")
            XCTAssertEqual(CivilDate.days(year: c.year, month: c.month, day: c.day), days)
        }
    }

    // MARK: Mappings

    func testBerlinMissionRowsAndEveryReason() throws {
        let m = try mapping("berlin-missions")
        let header = ",mission_date,mission_type,dispatchcode_category,dispatchcode_criticality,mission_location_district,response_time,units_non_berlin_involed,units_several_involved,units_reinforcements_called,units_organisations,firstresponder_alarmed,firstresponder_indication,firstresponder_first_arrival,units_first_type,emergency_doctor_involved"
        let imp = try importer(m, header)
        let data = """
            \(header)
            0,2025-01-09,Notverlegung,,,Neukölln,1716.0,False,True,True,ORG_BFW,False,False,False,RTW-C,False
            1,2025-01-18,Brand,,,Spandau,,False,False,False,ORG_BFW,False,False,False,LHF,False
            2,2025-01-18,Hinweis,,,Spandau,100,False,False,False,ORG_BFW,False,False,False,LHF,False
            3,2025-13-01,Brand,,,Spandau,100,False,False,False,ORG_BFW,False,False,False,LHF,False
            4,2025-01-18,Brand,,,Spandau,-5,False,False,False,ORG_BFW,False,False,False,LHF,False
            5,2025-01-18,Brand,,,Spandau,99999,False,False,False,ORG_BFW,False,False,False,LHF,False
            6,2025-01-18,Brand,,,Spandau,soon,False,False,False,ORG_BFW,False,False,False,LHF,False
            7,2025-01-18,Brand
            8,1970-01-18,Brand,,,Spandau,1,False,False,False,ORG_BFW,False,False,False,LHF,False
            9,,Brand,,,Spandau,1,False,False,False,ORG_BFW,False,False,False,LHF,False
            """
        let out = rows(data).dropFirst().map { imp.row(line: $0.line, $0.fields) }
        guard case .incident(let r) = out[0] else { return XCTFail("\(out[0])") }
        XCTAssertEqual(r.source, "berlin")
        XCTAssertEqual(r.id, "2025-0")
        XCTAssertEqual(r.category, "ems_transfer")
        XCTAssertEqual(r.area, "Neukölln")
        XCTAssertEqual(r.precision, .day)
        XCTAssertEqual(r.callToOnSceneSeconds, 1716)
        XCTAssertEqual(try LocalClock().dateString(r.openedAt), "2025-01-09")
        guard case .incident(let r1) = out[1] else { return XCTFail("\(out[1])") }
        XCTAssertNil(r1.callToOnSceneSeconds)
        let reasons = out.dropFirst(2).map { o -> String in
            guard case .rejected(let j) = o else { return "accepted" }
            return "\(j.line) \(j.reason.rawValue) \(j.column ?? "-")"
        }
        XCTAssertEqual(reasons, ["4 unknown keyword mission_type", "5 unparseable time mission_date", "6 negative duration response_time",
                                 "7 absurd duration response_time", "8 unparseable number response_time", "9 wrong number of fields -",
                                 "10 time out of range mission_date", "11 missing time mission_date"])
    }

    func testTimesOutOfOrderAndAbsurdDurations() throws {
        let m = try ImportMapping.parse(Array("""
            {"name": "log", "kind": "incidents", "source": "cad", "time": {"column": "call"},
             "type": {"column": "type"}, "times": {"alarm": {"column": "alarm"}, "onScene": {"column": "arrive"}}}
            """.utf8))
        let imp = try importer(m, "call,type,alarm,arrive")
        let data = """
            call,type,alarm,arrive
            2025-05-01 10:00:00,F2,2025-05-01 10:01:00,2025-05-01 10:08:30
            2025-05-01 10:00:00,F2,2025-05-01 09:59:00,2025-05-01 10:08:30
            2025-05-01 10:00:00,F2,2025-05-01 10:05:00,2025-05-01 10:03:00
            2025-05-01 10:00:00,F2,2025-05-01 10:01:00,2025-05-03 10:03:00
            2025-05-01 10:00:00,,2025-05-01 10:01:00,
            """
        let out = rows(data).dropFirst().map { imp.row(line: $0.line, $0.fields) }
        guard case .incident(let r) = out[0] else { return XCTFail("\(out[0])") }
        XCTAssertEqual(r.callToAlarmSeconds, 60)
        XCTAssertEqual(r.callToOnSceneSeconds, 510)
        XCTAssertEqual(r.category, "fire")
        XCTAssertEqual(r.id, "abcd1234:L2")
        let reasons = out.dropFirst().map { o -> String in
            guard case .rejected(let j) = o else { return "accepted" }
            return j.reason.rawValue
        }
        XCTAssertEqual(reasons, ["negative duration", "times out of order", "absurd duration", "unknown keyword"])
    }

    func testBerlinDailyCountsAndMappingErrors() throws {
        let m = try mapping("berlin-daily")
        XCTAssertEqual(m.countColumns.first?.category, "all")
        let header = "mission_created_date,mission_count_all,mission_count_ems,mission_count_ems_critical,mission_count_ems_critical_cpr,mission_count_fire,mission_count_technical_rescue"
        let imp = try importer(m, header)
        let out = rows("\(header)\n2018-01-01,2229,1781,1019,22,393,55\n2018-01-02,12x,1,1,1,1,1\n").dropFirst().map { imp.row(line: $0.line, $0.fields) }
        guard case .counts(let c) = out[0] else { return XCTFail("\(out[0])") }
        XCTAssertEqual(c.map(\.count), [2229, 1781, 1019, 22, 393, 55])
        XCTAssertEqual(c.first?.localDate, "2018-01-01")
        guard case .rejected(let j) = out[1] else { return XCTFail("\(out[1])") }
        XCTAssertEqual(j.reason, .unparseableNumber)
        // A header without a mapped column is refused before any row, naming it.
        XCTAssertThrowsError(try importer(m, "mission_created_date,mission_count_all")) { XCTAssertTrue("\($0)".contains("mission_count_ems")) }
        // Typos in a mapping are refused, not ignored.
        XCTAssertThrowsError(try ImportMapping.parse(Array(#"{"name":"x","kind":"incidents","source":"x","time":{"column":"t"},"tpye":{}}"#.utf8)))
        XCTAssertThrowsError(try ImportMapping.parse(Array(#"{"name":"x","kind":"counts","source":"x","time":{"column":"t"}}"#.utf8)))
        XCTAssertThrowsError(try ImportMapping.parse(Array("not json".utf8)))
    }

    /// Only mapped columns are read: a column of names and phone numbers never reaches a record.
    func testUnmappedColumnsAreNeverRead() throws {
        let m = try ImportMapping.generic(timeColumn: "t", timeFormat: nil, typeColumn: "type", areaColumn: "area")
        let imp = try importer(m, "t,caller,phone,type,area")
        guard case .incident(let r) = imp.row(line: 2, .success(["2025-05-01 10:00", "Canary Person", "0171 5550123", "Structure Fire", "Bornheim"])) else {
            return XCTFail()
        }
        XCTAssertEqual(r.keyword, "Structure Fire")
        XCTAssertEqual(r.category, "other")
        XCTAssertTrue(r.personal.isEmpty)
        XCTAssertFalse(String(reflecting: r).contains("Canary"))
        XCTAssertFalse(String(reflecting: r).contains("5550123"))
    }

    // MARK: Privacy primitives

    /// RFC 4231 test cases 1, 2 and 6 (a key longer than a block).
    func testHMACSHA256AgainstRFC4231() {
        func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
        XCTAssertEqual(hex(HMACSHA256.authenticate(Array("Hi There".utf8), key: Array(repeating: 0x0b, count: 20))),
                       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        XCTAssertEqual(hex(HMACSHA256.authenticate(Array("what do ya want for nothing?".utf8), key: Array("Jefe".utf8))),
                       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        XCTAssertEqual(hex(HMACSHA256.authenticate(Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8), key: Array(repeating: 0xaa, count: 131))),
                       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    func testPseudonymsDependOnKeyAndFieldAndRotate() throws {
        let k1 = try PseudonymKeys([.init(version: 1, bytes: Array(repeating: 1, count: 32))])
        let k2 = try PseudonymKeys([.init(version: 1, bytes: Array(repeating: 1, count: 32)), .init(version: 2, bytes: Array(repeating: 2, count: 32))])
        let name = Personal("operator:Anna Schmidt")
        let a = k1.pseudonym(name, field: "operator")
        XCTAssertTrue(a.hasPrefix("k1-"))
        XCTAssertEqual(a.count, 19)
        XCTAssertEqual(a, k1.pseudonym(Personal("operator:Anna Schmidt"), field: "operator"))
        XCTAssertNotEqual(a, k1.pseudonym(name, field: "caller"))
        XCTAssertNotEqual(a, k1.pseudonym(Personal("operator:Anna Schmid"), field: "operator"))
        let b = k2.pseudonym(name, field: "operator")
        XCTAssertTrue(b.hasPrefix("k2-"))
        XCTAssertNotEqual(a.dropFirst(3), b.dropFirst(3))
        XCTAssertThrowsError(try PseudonymKeys([.init(version: 1, bytes: [1, 2, 3])]))
        XCTAssertThrowsError(try PseudonymKeys([]))
    }

    /// IOGP Guidance Note 7-2, method 9820 example: 50° N 5° E → E 3 962 799.45, N 2 999 718.85.
    func testGridProjectionAgainstTheEPSGExample() throws {
        let p = try XCTUnwrap(GridCell.project(lat: 50, lon: 5))
        XCTAssertEqual(p.easting, 3_962_799.45, accuracy: 0.01)
        XCTAssertEqual(p.northing, 2_999_718.85, accuracy: 0.01)
        XCTAssertEqual(GridCell(latE6: 50_000_000, lonE6: 5_000_000, metres: 500)?.id, "CRS3035RES500mN2999500E3962500")
        XCTAssertEqual(GridCell(latE6: 50_000_000, lonE6: 5_000_000, metres: 1000)?.id, "CRS3035RES1000mN2999000E3962000")
        XCTAssertNil(GridCell(latE6: 50_000_000, lonE6: 5_000_000, metres: 300))
        XCTAssertNil(GridCell(latE6: -33_000_000, lonE6: 151_000_000, metres: 500))
        // Neighbouring points in Frankfurt share a cell; 600 m apart they do not.
        let a = GridCell(latE6: 50_110_600, lonE6: 8_682_000, metres: 500)!
        XCTAssertEqual(a, GridCell(latE6: 50_110_650, lonE6: 8_682_050, metres: 500))
        XCTAssertNotEqual(a, GridCell(latE6: 50_116_000, lonE6: 8_682_000, metres: 500))
    }

    // MARK: Open data

    /// No published group is below k; small Stadtteile are merged and a merged group below k is
    /// withheld; the quantiles are the exact nearest-rank ones; test alarms are not counted.
    func testOpenDataPublishesNoGroupBelowK() throws {
        let clock = try LocalClock()
        var records: [IncidentRecord] = []
        var rng = SystemRandomNumberGenerator()
        let day = try XCTUnwrap(clock.utcMillis(localDay: try XCTUnwrap(CivilDate.parse("2025-03-03"))))
        var truth: [String: [Double]] = [:]
        for i in 0..<2000 {
            let area = "A\(Int.random(in: 0..<30, using: &rng))"
            let category = ["fire", "ems", "technical_rescue"][Int.random(in: 0..<3, using: &rng)]
            var r = IncidentRecord(source: "t", id: "\(i)", openedAt: day + Int64.random(in: 0..<(10 * 86_400_000), using: &rng), keyword: "x",
                                   category: category, area: area, test: i % 50 == 0)
            r.reportedResponseSeconds = Double(Int.random(in: 120...1500, using: &rng))
            if !r.test { truth["\(category)|\(area)", default: []].append(r.reportedResponseSeconds!) }
            records.append(r)
        }
        for k in [2, 5, 11] {
            let o = OpenData(records: records, clock: clock, k: k)
            XCTAssertFalse(o.daily.isEmpty)
            XCTAssertTrue(o.daily.allSatisfy { $0.count >= k }, "k \(k)")
            XCTAssertTrue(o.responseTimes.allSatisfy { $0.count >= k }, "k \(k)")
            let published = o.daily.reduce(0) { $0 + $1.count }
            XCTAssertLessThanOrEqual(published, records.filter { !$0.test }.count)
            for g in o.responseTimes where g.area != OpenData.mergedArea {
                let s = truth["\(g.category)|\(g.area)"]!.sorted()
                XCTAssertEqual(g.count, s.count)
                XCTAssertEqual(g.p50, s[Int((0.5 * Double(s.count)).rounded(.up)) - 1])
                XCTAssertEqual(g.p90, s[Int((0.9 * Double(s.count)).rounded(.up)) - 1])
            }
        }
        // Counted per day: the published and withheld incidents add up to all real ones.
        let o = OpenData(records: records, clock: clock, k: 5)
        var dailySuppressed = 0
        var byDay: [String: [String: [String: Int]]] = [:]
        for r in records where !r.test { byDay[clock.dateString(r.openedAt), default: [:]][r.category, default: [:]][r.area!, default: 0] += 1 }
        for (_, cats) in byDay { for (_, areas) in cats {
            let small = areas.values.filter { $0 < 5 }
            if small.reduce(0, +) < 5 { dailySuppressed += small.reduce(0, +) }
        } }
        XCTAssertEqual(o.daily.reduce(0) { $0 + $1.count } + dailySuppressed, records.filter { !$0.test }.count)
    }
}
