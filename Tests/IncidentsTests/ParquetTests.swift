import Foundation
import Incidents
import XCTest

/// The Parquet writer against two independent readers: pyarrow (Arrow C++) and DuckDB. Every file
/// is read back by both and compared value by value with what was written, including nulls, the
/// extremes of each type, unicode and empty strings; statistics are compared with the truth and
/// exercised through DuckDB filters, which skip row groups by them.
///
/// Needs python3 with pyarrow and duckdb (`python3 -m pip install pyarrow duckdb`); without them
/// the tests fail, they do not skip.
final class ParquetTests: XCTestCase {

    // MARK: Values of every type

    func testEveryTypeRoundTripsThroughPyarrowAndDuckDB() throws {
        let schema = [
            ParquetField("flag", .boolean), ParquetField("maybe_flag", .boolean, nullable: true),
            ParquetField("i32", .int32), ParquetField("maybe_i32", .int32, nullable: true),
            ParquetField("i64", .int64), ParquetField("maybe_i64", .int64, nullable: true),
            ParquetField("real", .double), ParquetField("maybe_real", .double, nullable: true),
            ParquetField("text", .string), ParquetField("maybe_text", .string, nullable: true),
            ParquetField("at", .timestampMillis), ParquetField("maybe_at", .timestampMillis, nullable: true),
            ParquetField("day", .date), ParquetField("maybe_day", .date, nullable: true),
        ]
        let groups = [Self.everyTypeGroup(rows: 1_000, seed: 1), Self.everyTypeGroup(rows: 1, seed: 2),
                      Self.everyTypeGroup(rows: 2_345, seed: 3)]
        var variants: [(String, ParquetWriter.Options)] = []
        variants.append(("defaults", ParquetWriter.Options()))
        var small = ParquetWriter.Options()
        small.pageRows = 7
        variants.append(("7-row pages", small))
        var plain = ParquetWriter.Options()
        plain.dictionary = false
        plain.pageRows = 500
        variants.append(("no dictionary", plain))
        var snappy = ParquetWriter.Options()
        snappy.compression = .snappy
        snappy.pageRows = 300
        variants.append(("snappy", snappy))

        for (name, options) in variants {
            let file = try write(schema, groups, options: options)
            let back = try Readers.read(file)
            let pa = try XCTUnwrap(back.pyarrow), db = try XCTUnwrap(back.duckdb)
            XCTAssertEqual(pa.types, ["bool", "bool", "int32", "int32", "int64", "int64", "double", "double", "string", "string",
                                      "timestamp[ms, tz=UTC]", "timestamp[ms, tz=UTC]", "date32[day]", "date32[day]"], name)
            XCTAssertEqual(pa.nullable, schema.map(\.nullable), name)
            XCTAssertEqual(db.types, ["BOOLEAN", "BOOLEAN", "INTEGER", "INTEGER", "BIGINT", "BIGINT", "DOUBLE", "DOUBLE", "VARCHAR",
                                      "VARCHAR", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP WITH TIME ZONE", "DATE", "DATE"], name)
            XCTAssertEqual(pa.names, schema.map(\.name), name)
            XCTAssertEqual(db.names, schema.map(\.name), name)
            XCTAssertEqual(pa.rowGroups.count, 3, name)
            XCTAssertEqual(pa.createdBy, "florian", name)
            let expected = Expected.columns(groups)
            assertColumns(pa.columns, expected, "\(name), pyarrow", names: pa.names)
            assertColumns(db.columns, expected, "\(name), duckdb", names: db.names)
            assertStatistics(pa.rowGroups, groups, name)
            let codec = options.compression == .snappy ? "SNAPPY" : "UNCOMPRESSED"
            XCTAssertTrue(pa.rowGroups.allSatisfy { $0.columns.allSatisfy { $0.compression == codec } }, name)
        }
    }

    /// Extremes first, then pseudo-random values; nullable columns get about a quarter nulls, in
    /// runs and alone, so definition levels take both RLE and bit-packed runs.
    static func everyTypeGroup(rows: Int, seed: UInt64) -> [ParquetColumn] {
        var rng = SplitMix(seed: seed)
        let i32Extremes: [Int32] = [Int32.min, Int32.max, 0, -1, 1]
        let i64Extremes: [Int64] = [Int64.min, Int64.max, 0, -1, 1]
        let realExtremes: [Double] = [-0.0, 0.0, 1e300, -1e300, Double.leastNonzeroMagnitude, -Double.greatestFiniteMagnitude, 0.1, 1.0 / 3.0,
                                      Double.infinity, -Double.infinity]
        let texts = ["", "a", "Grüß Gott", "日本語のテキスト", "🚒🚑 Einsatz", "e\u{301}", "\u{0}nul", "z", "ÿ", "line\nbreak",
                     "\"quoted\" 'single' \\ backslash", String(repeating: "long ", count: 200)]
        let timeExtremes: [Int64] = [0, -1, -62_135_596_800_000, 253_402_300_799_999, 1_700_000_000_123]
        let dayExtremes: [Int32] = [0, -1, -719_162, 2_932_896, 19_700]
        func pick<T>(_ extremes: [T], _ i: Int, _ random: () -> T) -> T { i < extremes.count ? extremes[i] : random() }
        func nullable<T>(_ values: [T]) -> [T?] {
            var rng = SplitMix(seed: seed &* 31 &+ UInt64(values.count))
            var out: [T?] = []
            var i = 0
            while i < values.count {
                let roll = rng.next() % 16
                if roll < 2 {  // a run of nulls
                    let run = Int(rng.next() % 20) + 1
                    for _ in 0..<run where i < values.count { out.append(nil); i += 1 }
                } else {
                    out.append(roll < 4 ? nil : values[i])
                    i += 1
                }
            }
            return out
        }
        let flags = (0..<rows).map { i in i % 50 < 30 ? true : rng.next() % 2 == 0 }
        let i32 = (0..<rows).map { i in pick(i32Extremes, i) { Int32(truncatingIfNeeded: rng.next()) } }
        let i64 = (0..<rows).map { i in pick(i64Extremes, i) { Int64(bitPattern: rng.next()) } }
        let reals = (0..<rows).map { i in pick(realExtremes, i) { Double(Int64(bitPattern: rng.next()) >> 11) / 1024 } }
        let strings = (0..<rows).map { i in pick(texts, i) { rng.next() % 3 == 0 ? texts[Int(rng.next() % UInt64(texts.count))] : "r\(rng.next() % 100_000)" } }
        let times = (0..<rows).map { i in pick(timeExtremes, i) { 1_600_000_000_000 + Int64(rng.next() % 300_000_000_000) } }
        let days = (0..<rows).map { i in pick(dayExtremes, i) { Int32(rng.next() % 40_000) - 10_000 } }
        return [.boolean(flags), .boolean(nullable(flags)), .int32(i32), .int32(nullable(i32)), .int64(i64), .int64(nullable(i64)),
                .double(reals), .double(nullable(reals)), .string(strings), .string(nullable(strings)),
                .int64(times), .int64(nullable(times)), .int32(days), .int32(nullable(days))]
    }

    // MARK: Dictionary encoding

    /// Repeated values take the dictionary (RLE_DICTIONARY pages), all-distinct ones fall back to
    /// PLAIN; dictionary sizes around powers of two exercise every index bit width up to 17, and the
    /// run patterns exercise RLE runs, bit-packed groups, and the switch between them mid-page.
    func testDictionaryEncodingAndFallbackToPlain() throws {
        let rows = 150_000
        var rng = SplitMix(seed: 7)
        let vocabulary = (0..<50).map { "Wache \($0) — Straße" }
        let repeated: [String?] = (0..<rows).map { _ in vocabulary[Int(rng.next() % 50)] }
        let distinct: [String?] = (0..<rows).map { "id-\($0)-\(rng.next() % 1000)" }
        let one: [String?] = (0..<rows).map { $0 % 3 == 0 ? nil : "immer" }
        let runs: [Int32?] = (0..<rows).map { i in
            // long runs, short runs and noise, with sizes around the 8-value group boundary
            let block = i / 97
            switch block % 4 {
            case 0: return Int32(block % 5)
            case 1: return Int32(i % 3)
            case 2: return (i / 9) % 2 == 0 ? 4 : nil
            default: return Int32(rng.next() % 300)
            }
        }
        let wide: [Int64?] = (0..<rows).map { i in Int64((i * 7_919) % 66_000) - 33_000 }  // all 66 000 values
        let widths: [Int32?] = (0..<rows).map { i in Int32(i % [2, 3, 4, 255, 256, 257, 1024, 4097][i / 18_750]) }
        let schema = [ParquetField("repeated", .string), ParquetField("distinct", .string), ParquetField("one", .string, nullable: true),
                      ParquetField("runs", .int32, nullable: true), ParquetField("wide", .timestampMillis), ParquetField("widths", .int32)]
        let group: [ParquetColumn] = [.string(repeated), .string(distinct), .string(one), .int32(runs), .int64(wide), .int32(widths)]
        for compression in [ParquetWriter.Compression.none, .snappy] {
            var options = ParquetWriter.Options()
            options.compression = compression
            options.pageRows = 9_999
            // Two row groups once: the dictionary starts afresh in each chunk.
            let groups = compression == .none ? [group, group] : [group]
            let file = try write(schema, groups, options: options)
            let back = try Readers.read(file)
            let pa = try XCTUnwrap(back.pyarrow), db = try XCTUnwrap(back.duckdb)
            let expected = Expected.columns(groups)
            assertColumns(pa.columns, expected, "pyarrow \(compression)", names: pa.names)
            assertColumns(db.columns, expected, "duckdb \(compression)", names: db.names)
            assertStatistics(pa.rowGroups, groups, "\(compression)")
            for rowGroup in pa.rowGroups {
                let encodings = rowGroup.columns.map { Set($0.encodings) }
                XCTAssertTrue(encodings[0].contains("RLE_DICTIONARY"), "repeated strings: \(encodings[0])")
                XCTAssertFalse(encodings[1].contains("RLE_DICTIONARY"), "distinct strings fall back to PLAIN: \(encodings[1])")
                XCTAssertTrue(encodings[2].contains("RLE_DICTIONARY"), "a single value: \(encodings[2])")
                XCTAssertTrue(encodings[3].contains("RLE_DICTIONARY"), "runs: \(encodings[3])")
                XCTAssertTrue(encodings[4].contains("RLE_DICTIONARY"), "66 000 distinct of 150 000, 17-bit indices: \(encodings[4])")
                XCTAssertTrue(encodings[5].contains("RLE_DICTIONARY"), "widths: \(encodings[5])")
            }
        }
        // Dictionary pages make the repeated column far smaller than PLAIN.
        var plain = ParquetWriter.Options()
        plain.dictionary = false
        let plainSize = try write([schema[0]], [[group[0]]], options: plain).fileSize()
        let dictionarySize = try write([schema[0]], [[group[0]]]).fileSize()
        XCTAssertLessThan(dictionarySize * 5, plainSize)
    }

    // MARK: Edge cases of shape

    func testAllNullOptionalColumnsHaveNoMinMax() throws {
        let rows = 1_234
        let schema = [ParquetField("b", .boolean, nullable: true), ParquetField("i", .int32, nullable: true),
                      ParquetField("l", .int64, nullable: true), ParquetField("d", .double, nullable: true),
                      ParquetField("s", .string, nullable: true), ParquetField("t", .timestampMillis, nullable: true),
                      ParquetField("day", .date, nullable: true), ParquetField("present", .int32)]
        let group: [ParquetColumn] = [.boolean(Array(repeating: nil, count: rows)), .int32(Array(repeating: nil, count: rows)),
                                      .int64(Array(repeating: nil, count: rows)), .double(Array(repeating: nil, count: rows)),
                                      .string(Array(repeating: nil, count: rows)), .int64(Array(repeating: nil, count: rows)),
                                      .int32(Array(repeating: nil, count: rows)), .int32((0..<rows).map { Int32($0) })]
        let file = try write(schema, [group])
        let back = try Readers.read(file, queries: ["select count(*) from $FILE where s is null and l is null",
                                                     "select count(s) + count(l) + count(b) from $FILE"])
        let pa = try XCTUnwrap(back.pyarrow), db = try XCTUnwrap(back.duckdb)
        let expected = Expected.columns([group])
        assertColumns(pa.columns, expected, "pyarrow", names: pa.names)
        assertColumns(db.columns, expected, "duckdb", names: db.names)
        for column in pa.rowGroups[0].columns.dropLast() {
            XCTAssertEqual(column.nullCount, rows)
            XCTAssertFalse(column.hasMinMax, "an all-null chunk has no min/max")
        }
        XCTAssertEqual(back.queries, ["\(rows)", "0"])
    }

    func testZeroRowFile() throws {
        let schema = [ParquetField("s", .string, nullable: true), ParquetField("t", .timestampMillis), ParquetField("n", .int32)]
        for groups in [[], [[ParquetColumn.string([]), .int64([]), .int32([])]]] {
            let file = try write(schema, groups)
            let back = try Readers.read(file, queries: ["select count(*) from $FILE"])
            let pa = try XCTUnwrap(back.pyarrow), db = try XCTUnwrap(back.duckdb)
            XCTAssertEqual(pa.numRows, 0)
            XCTAssertEqual(pa.rowGroups.count, 0, "a zero-row group writes nothing")
            XCTAssertEqual(pa.types, ["string", "timestamp[ms, tz=UTC]", "int32"])
            XCTAssertEqual(pa.nullable, [true, false, false])
            XCTAssertEqual(db.types, ["VARCHAR", "TIMESTAMP WITH TIME ZONE", "INTEGER"])
            XCTAssertEqual(pa.columns, [[], [], []])
            XCTAssertEqual(db.columns, [[], [], []])
            XCTAssertEqual(back.queries, ["0"])
        }
    }

    func testHundredThousandRows() throws {
        let rows = 100_000
        var rng = SplitMix(seed: 11)
        let kinds = ["Brand", "Hilfeleistung", "Rettungsdienst", "Fehlalarm", "ABC", "Wasser"]
        let schema = [ParquetField("id", .int64), ParquetField("kind", .string), ParquetField("note", .string, nullable: true),
                      ParquetField("opened", .timestampMillis), ParquetField("closed", .timestampMillis, nullable: true),
                      ParquetField("units", .int32), ParquetField("km", .double, nullable: true), ParquetField("urgent", .boolean),
                      ParquetField("day", .date)]
        func group(_ range: Range<Int>) -> [ParquetColumn] {
            let opened = range.map { 1_700_000_000_000 + Int64($0) * 60_000 + Int64(rng.next() % 60_000) }
            return [.int64(range.map { Int64($0) - 50_000 }),
                    .string(range.map { _ in kinds[Int(rng.next() % UInt64(kinds.count))] }),
                    .string(range.map { i in i % 4 == 0 ? nil : "Notiz \(i): \(rng.next() % 1_000_000) ✓" }),
                    .int64(opened),
                    .int64(opened.map { rng.next() % 5 == 0 ? nil : $0 + Int64(rng.next() % 7_200_000) }),
                    .int32(range.map { _ in Int32(rng.next() % 12) }),
                    .double(range.map { _ in rng.next() % 10 == 0 ? nil : Double(rng.next() % 1_000_000) / 997 - 300 }),
                    .boolean(range.map { _ in rng.next() % 7 == 0 }),
                    .int32(range.map { 19_000 + Int32($0 / 1_000) })]
        }
        let groups = [group(0..<40_000), group(40_000..<80_000), group(80_000..<rows)]
        for compression in [ParquetWriter.Compression.none, .snappy] {
            var options = ParquetWriter.Options()
            options.compression = compression
            let file = try write(schema, groups, options: options, metadata: [("source", "florian tests"), ("rows", "\(rows)")])
            let back = try Readers.read(file)
            let pa = try XCTUnwrap(back.pyarrow), db = try XCTUnwrap(back.duckdb)
            XCTAssertEqual(pa.numRows, rows)
            XCTAssertEqual(pa.rowGroups.map(\.numRows), [40_000, 40_000, 20_000])
            XCTAssertEqual(pa.metadata, ["source": "florian tests", "rows": "\(rows)"])
            let expected = Expected.columns(groups)
            assertColumns(pa.columns, expected, "pyarrow \(compression)", names: pa.names)
            assertColumns(db.columns, expected, "duckdb \(compression)", names: db.names)
            assertStatistics(pa.rowGroups, groups, "\(compression)")
        }
    }

    // MARK: Statistics

    /// Row groups with disjoint value ranges, so that DuckDB skips groups by their min/max: a
    /// statistic that is wrong (swapped, signed where it should be unsigned, off by one) makes a
    /// count below differ from the truth.
    func testDuckDBFiltersOnStatisticsCountCorrectly() throws {
        let schema = [ParquetField("n", .int64), ParquetField("small", .int32, nullable: true), ParquetField("s", .string),
                      ParquetField("stamp", .timestampMillis, nullable: true), ParquetField("day", .date), ParquetField("x", .double)]
        var rng = SplitMix(seed: 5)
        let prefixes = ["Alpha", "Bravo", "Zulu", "Ähre", "Ölfass", "日本"]  // Ä, Ö, 日 sort after Z byte-wise, unsigned
        var groups: [[ParquetColumn]] = []
        for g in 0..<6 {
            let rows = 3_000 + g * 100
            let base = Int64(g - 3) * 10_000
            groups.append([
                .int64((0..<rows).map { _ in base + Int64(rng.next() % 10_000) }),
                .int32((0..<rows).map { _ in rng.next() % 6 == 0 ? nil : Int32(g * 100) - 250 + Int32(rng.next() % 100) }),
                // Each group mixes an ASCII and a non-ASCII prefix: a signed byte comparison
                // would get both its min and its max wrong.
                .string((0..<rows).map { _ in "\(prefixes[rng.next() % 2 == 0 ? g : (g + 3) % 6]) \(rng.next() % 40)" }),
                .int64((0..<rows).map { _ in rng.next() % 4 == 0 ? nil : 1_600_000_000_000 + Int64(g) * 86_400_000 + Int64(rng.next() % 86_400) * 1_000 }),
                .int32((0..<rows).map { _ in Int32(g * 400 - 1_200) + Int32(rng.next() % 400) }),
                .double((0..<rows).map { _ in Double(g) * 10 - 30 + Double(rng.next() % 1_000) / 100 }),
            ])
        }
        func count(_ column: Int, _ predicate: (ParquetColumn, Int) -> Bool) -> String {
            String(groups.reduce(0) { total, group in total + (0..<group[column].count).filter { predicate(group[column], $0) }.count })
        }
        func int64(_ c: ParquetColumn, _ i: Int) -> Int64? { if case .int64(let v) = c { return v[i] } else { return nil } }
        func int32(_ c: ParquetColumn, _ i: Int) -> Int32? { if case .int32(let v) = c { return v[i] } else { return nil } }
        func string(_ c: ParquetColumn, _ i: Int) -> String? { if case .string(let v) = c { return v[i] } else { return nil } }
        func double(_ c: ParquetColumn, _ i: Int) -> Double? { if case .double(let v) = c { return v[i] } else { return nil } }
        func bytesBetween(_ s: String?, _ lo: String, _ hi: String) -> Bool {
            guard let s else { return false }
            return !bytesLess(Array(s.utf8), Array(lo.utf8)) && bytesLess(Array(s.utf8), Array(hi.utf8))
        }
        let t0: Int64 = 1_600_000_000_000 + 2 * 86_400_000 + 43_200_500, t1: Int64 = 1_600_000_000_000 + 4 * 86_400_000 + 500
        var cases: [(String, String)] = [
            ("select count(*) from $FILE where n between -15000 and 4999", count(0) { int64($0, $1).map { (-15_000...4_999).contains($0) } ?? false }),
            ("select count(*) from $FILE where n < -25000", count(0) { int64($0, $1).map { $0 < -25_000 } ?? false }),
            ("select count(*) from $FILE where n >= 29990", count(0) { int64($0, $1).map { $0 >= 29_990 } ?? false }),
            ("select count(*) from $FILE where small between -200 and 60", count(1) { int32($0, $1).map { (-200...60).contains($0) } ?? false }),
            ("select count(*) from $FILE where small is null", count(1) { int32($0, $1) == nil }),
            ("select count(*) from $FILE where s >= 'Bravo 3' and s < 'Zulu 2'", count(2) { bytesBetween(string($0, $1), "Bravo 3", "Zulu 2") }),
            ("select count(*) from $FILE where s >= 'Zulu 39' and s < 'Ölfass 1'", count(2) { bytesBetween(string($0, $1), "Zulu 39", "Ölfass 1") }),
            ("select count(*) from $FILE where s >= '日本'", count(2) { bytesBetween(string($0, $1), "日本", "\u{10FFFF}") }),
            ("select count(*) from $FILE where stamp >= to_timestamp(\(Double(t0) / 1000)) and stamp < to_timestamp(\(Double(t1) / 1000))",
             count(3) { int64($0, $1).map { $0 >= t0 && $0 < t1 } ?? false }),
            ("select count(*) from $FILE where day between DATE '1970-01-01' - 500 and DATE '1970-01-01' + 399",
             count(4) { int32($0, $1).map { (-500...399).contains($0) } ?? false }),
            ("select count(*) from $FILE where x > -15.5 and x <= 5.25", count(5) { double($0, $1).map { $0 > -15.5 && $0 <= 5.25 } ?? false }),
        ]
        // Every group's exact min and max as an equality filter: a bound that is off by one, or in
        // the wrong order, makes DuckDB skip a group that holds the value.
        var extremes: [(String, String)] = []
        for group in groups {
            for (c, field) in schema.enumerated() {
                let stats = Expected.statistics(group[c])
                for bound in [stats.min, stats.max].compactMap({ $0 }) {
                    let literal: String
                    let truth: String
                    switch field.type {
                    case .int64:
                        literal = bound
                        truth = count(c) { int64($0, $1) == Int64(bound) }
                    case .int32:
                        literal = bound
                        truth = count(c) { int32($0, $1) == Int32(bound) }
                    case .string:
                        literal = "'" + bound.replacingOccurrences(of: "'", with: "''") + "'"
                        truth = count(c) { string($0, $1) == bound }
                    case .timestampMillis:
                        let ms = Int64(bound)!
                        XCTAssertEqual(ms % 1_000, 0, "whole seconds keep to_timestamp exact")
                        literal = "to_timestamp(\(ms / 1_000))"
                        truth = count(c) { int64($0, $1) == ms }
                    case .date:
                        literal = "DATE '1970-01-01' + \(bound)"
                        truth = count(c) { int32($0, $1) == Int32(bound) }
                    case .double:
                        let d = Double(bitPattern: UInt64(bound)!)
                        literal = "'\(d)'::DOUBLE"
                        truth = count(c) { double($0, $1) == d }
                    case .boolean:
                        continue
                    }
                    extremes.append(("select count(*) from $FILE where \"\(field.name)\" = \(literal)", truth))
                }
            }
        }
        XCTAssertEqual(extremes.count, 6 * 6 * 2)
        cases += extremes

        let file = try write(schema, groups)
        let back = try Readers.read(file, queries: cases.map(\.0))
        XCTAssertEqual(back.queries?.count, cases.count)
        for (i, (sql, truth)) in cases.enumerated() {
            XCTAssertEqual(back.queries?[i], truth, sql)
        }
        assertStatistics(try XCTUnwrap(back.pyarrow).rowGroups, groups, "filter file")
    }

    // MARK: Refusals

    func testRefusesWrongInputAndStaysUsable() throws {
        let schema = [ParquetField("name", .string), ParquetField("at", .timestampMillis, nullable: true)]
        let sink = ByteBox()
        var writer = try ParquetWriter(schema: schema, sink: sink.append)

        XCTAssertThrowsError(try writer.writeRowGroup([.string(["a"])])) {
            XCTAssertEqual($0 as? ParquetError, .wrongColumnCount(expected: 2, got: 1))
        }
        XCTAssertThrowsError(try writer.writeRowGroup([.string(["a"]), .int32([1])])) {
            XCTAssertEqual($0 as? ParquetError, .typeMismatch(field: "at", expected: .timestampMillis, got: ".int32"))
        }
        XCTAssertThrowsError(try writer.writeRowGroup([.string(["a", nil, "c"]), .int64([1, 2, 3])])) {
            XCTAssertEqual($0 as? ParquetError, .nullInRequiredField(field: "name", row: 1))
        }
        XCTAssertThrowsError(try writer.writeRowGroup([.string(["a", "b"]), .int64([1])])) {
            XCTAssertEqual($0 as? ParquetError, .rowCountsDiffer(field: "at", expected: 2, got: 1))
        }
        // The refused calls wrote nothing: the file is still whole.
        try writer.writeRowGroup([.string(["ok", ""]), .int64([nil, 42])])
        XCTAssertEqual(writer.rowsWritten, 2)
        try writer.finish(metadata: [("k", "v")])
        XCTAssertThrowsError(try writer.writeRowGroup([.string(["late"]), .int64([1])])) {
            XCTAssertEqual($0 as? ParquetError, .writerFinished)
        }
        XCTAssertThrowsError(try writer.finish()) { XCTAssertEqual($0 as? ParquetError, .writerFinished) }

        let file = try temporaryFile()
        try Data(sink.bytes).write(to: file)
        let back = try Readers.read(file)
        XCTAssertEqual(back.pyarrow?.columns, [["ok", ""], [nil, "42"]])
        XCTAssertEqual(back.duckdb?.columns, [["ok", ""], [nil, "42"]])
    }

    func testRefusesBadSchemasAndOptions() {
        let ignore: ([UInt8]) throws -> Void = { _ in }
        XCTAssertThrowsError(try ParquetWriter(schema: [], sink: ignore)) { XCTAssertEqual($0 as? ParquetError, .emptySchema) }
        XCTAssertThrowsError(try ParquetWriter(schema: [ParquetField("", .int32)], sink: ignore)) {
            XCTAssertEqual($0 as? ParquetError, .invalidFieldName(""))
        }
        XCTAssertThrowsError(try ParquetWriter(schema: [ParquetField("a", .int32), ParquetField("a", .string)], sink: ignore)) {
            XCTAssertEqual($0 as? ParquetError, .duplicateFieldName("a"))
        }
        var options = ParquetWriter.Options()
        options.pageRows = 0
        XCTAssertThrowsError(try ParquetWriter(schema: [ParquetField("a", .int32)], options: options, sink: ignore)) {
            guard case .invalidOption = $0 as? ParquetError else { return XCTFail("expected invalidOption, got \($0)") }
        }
        let message = ParquetError.nullInRequiredField(field: "einsatz", row: 17).description
        XCTAssertTrue(message.contains("einsatz") && message.contains("17"), message)
        XCTAssertTrue(ParquetError.typeMismatch(field: "at", expected: .timestampMillis, got: ".string").description.contains(".int64"))
    }

    func testAFailingSinkLeavesTheWriterFailed() throws {
        struct DiskFull: Error {}
        let calls = ByteBox()
        var writer = try ParquetWriter(schema: [ParquetField("n", .int32)]) { bytes in
            calls.append(bytes)
            if calls.calls > 1 { throw DiskFull() }
        }
        XCTAssertThrowsError(try writer.writeRowGroup([.int32([1, 2, 3])])) { XCTAssertTrue($0 is DiskFull) }
        XCTAssertThrowsError(try writer.writeRowGroup([.int32([1])])) { XCTAssertEqual($0 as? ParquetError, .writerFailed) }
        XCTAssertThrowsError(try writer.finish()) { XCTAssertEqual($0 as? ParquetError, .writerFailed) }
    }

    // MARK: Helpers

    private var files: [URL] = []

    override func tearDown() {
        for file in files { try? FileManager.default.removeItem(at: file) }
        files = []
        super.tearDown()
    }

    private func temporaryFile() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("parquet-test-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).parquet")
        files.append(url)
        return url
    }

    private func write(_ schema: [ParquetField], _ groups: [[ParquetColumn]], options: ParquetWriter.Options = .init(),
                       metadata: [(key: String, value: String)] = []) throws -> URL {
        let sink = ByteBox()
        var writer = try ParquetWriter(schema: schema, options: options, sink: sink.append)
        for group in groups { try writer.writeRowGroup(group) }
        try writer.finish(metadata: metadata)
        XCTAssertEqual(writer.rowsWritten, groups.reduce(0) { $0 + ($1.first?.count ?? 0) })
        let url = try temporaryFile()
        try Data(sink.bytes).write(to: url)
        return url
    }

    /// Compares column by column and reports the first differing row, not two arrays of 100 000.
    private func assertColumns(_ got: [[String?]], _ expected: [[String?]], _ context: String, names: [String],
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, expected.count, "\(context): column count", file: file, line: line)
        for (c, (g, e)) in zip(got, expected).enumerated() {
            let name = c < names.count ? names[c] : "#\(c)"
            guard g.count == e.count else {
                XCTFail("\(context): column \(name) has \(g.count) rows, expected \(e.count)", file: file, line: line)
                continue
            }
            if let row = g.indices.first(where: { g[$0] != e[$0] }) {
                XCTFail("\(context): column \(name) row \(row): read \(String(describing: g[row])), wrote \(String(describing: e[row]))",
                        file: file, line: line)
            }
        }
    }

    /// pyarrow's view of each chunk's null count, min and max against the values written.
    private func assertStatistics(_ rowGroups: [Readers.RowGroup], _ groups: [[ParquetColumn]], _ context: String,
                                  file: StaticString = #filePath, line: UInt = #line) {
        let nonEmpty = groups.filter { ($0.first?.count ?? 0) > 0 }
        XCTAssertEqual(rowGroups.count, nonEmpty.count, "\(context): row groups", file: file, line: line)
        for (g, (read, written)) in zip(rowGroups, nonEmpty).enumerated() {
            XCTAssertEqual(read.numRows, written[0].count, file: file, line: line)
            for (c, (chunk, column)) in zip(read.columns, written).enumerated() {
                let truth = Expected.statistics(column)
                let at = "\(context): row group \(g) column \(c)"
                XCTAssertEqual(chunk.numValues, column.count, at, file: file, line: line)
                XCTAssertEqual(chunk.nullCount, truth.nulls, "\(at) null count", file: file, line: line)
                XCTAssertEqual(chunk.hasMinMax, truth.min != nil, "\(at) has min/max", file: file, line: line)
                XCTAssertEqual(chunk.min, truth.min, "\(at) min", file: file, line: line)
                XCTAssertEqual(chunk.max, truth.max, "\(at) max", file: file, line: line)
            }
        }
    }
}

/// Collects what the writer hands its sink.
private final class ByteBox {
    var bytes: [UInt8] = []
    var calls = 0
    func append(_ chunk: [UInt8]) {
        bytes.append(contentsOf: chunk)
        calls += 1
    }
}

/// How the reader script renders a value: booleans as true/false, integers (timestamps in ms,
/// dates in days) in decimal, doubles as the decimal of their IEEE bit pattern (exact, -0.0 and
/// 0.0 apart), strings as themselves, null as nil.
private enum Expected {
    static func columns(_ groups: [[ParquetColumn]]) -> [[String?]] {
        guard let first = groups.first else { return [] }
        return (0..<first.count).map { c in groups.flatMap { render($0[c]) } }
    }

    static func render(_ column: ParquetColumn) -> [String?] {
        switch column {
        case .boolean(let v): v.map { $0.map { $0 ? "true" : "false" } }
        case .int32(let v): v.map { $0.map { String($0) } }
        case .int64(let v): v.map { $0.map { String($0) } }
        case .double(let v): v.map { $0.map { String($0.bitPattern) } }
        case .string(let v): v
        }
    }

    /// Null count, and min and max in the Parquet sort order of the type (signed integers, false <
    /// true, IEEE doubles with a zero minimum as -0.0 and a zero maximum as +0.0, strings by unsigned
    /// bytes), rendered like the values.
    static func statistics(_ column: ParquetColumn) -> (nulls: Int, min: String?, max: String?) {
        switch column {
        case .boolean(let v):
            let present = v.compactMap { $0 }
            return (v.count - present.count, present.min { !$0 && $1 }.map { $0 ? "true" : "false" },
                    present.max { !$0 && $1 }.map { $0 ? "true" : "false" })
        case .int32(let v):
            let present = v.compactMap { $0 }
            return (v.count - present.count, present.min().map { String($0) }, present.max().map { String($0) })
        case .int64(let v):
            let present = v.compactMap { $0 }
            return (v.count - present.count, present.min().map { String($0) }, present.max().map { String($0) })
        case .double(let v):
            let present = v.compactMap { $0 }
            let lo = present.min().map { $0 == 0 ? -0.0 : $0 }, hi = present.max().map { $0 == 0 ? 0.0 : $0 }
            return (v.count - present.count, lo.map { String($0.bitPattern) }, hi.map { String($0.bitPattern) })
        case .string(let v):
            var lo: [UInt8]?, hi: [UInt8]?
            var nulls = 0
            for s in v {
                guard let s else { nulls += 1; continue }
                let b = Array(s.utf8)
                if lo.map({ bytesLess(b, $0) }) ?? true { lo = b }
                if hi.map({ bytesLess($0, b) }) ?? true { hi = b }
            }
            return (nulls, lo.map { String(decoding: $0, as: UTF8.self) }, hi.map { String(decoding: $0, as: UTF8.self) })
        }
    }
}

/// Unsigned byte-wise order, the order of Parquet's UTF8 statistics and of DuckDB's VARCHAR.
private func bytesLess(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    let common = min(a.count, b.count)
    let c = a.withUnsafeBytes { a in b.withUnsafeBytes { b in common == 0 ? 0 : memcmp(a.baseAddress!, b.baseAddress!, common) } }
    return c != 0 ? c < 0 : a.count < b.count
}

/// Runs python3 with pyarrow and DuckDB on a file; both render every value as described in
/// `Expected`, pyarrow also reports each chunk's statistics and encodings, and DuckDB runs the
/// given queries (`$FILE` stands for `read_parquet('…')`) and renders their first value.
private enum Readers {
    struct Output: Decodable {
        let error: String?
        var pyarrow: Arrow?
        var duckdb: Duck?
        let queries: [String?]?
    }

    struct Arrow: Decodable {
        let numRows: Int
        let names: [String]
        let types: [String]
        let nullable: [Bool]
        let rowGroups: [RowGroup]
        let createdBy: String
        let metadata: [String: String]
        /// From the values file, not the JSON.
        var columns: [[String?]] = []

        enum CodingKeys: String, CodingKey {
            case numRows, names, types, nullable, rowGroups, createdBy, metadata
        }
    }

    struct RowGroup: Decodable {
        let numRows: Int
        let columns: [Chunk]
    }

    struct Chunk: Decodable {
        let encodings: [String]
        let compression: String
        let numValues: Int
        let nullCount: Int?
        let hasMinMax: Bool
        let min: String?
        let max: String?
    }

    struct Duck: Decodable {
        let names: [String]
        let types: [String]
        /// From the values file, not the JSON.
        var columns: [[String?]] = []

        enum CodingKeys: String, CodingKey {
            case names, types
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func read(_ file: URL, queries: [String] = []) throws -> Output {
        let result = file.deletingPathExtension().appendingPathExtension("json")
        let valuesFile = file.deletingPathExtension().appendingPathExtension("values")
        defer {
            try? FileManager.default.removeItem(at: result)
            try? FileManager.default.removeItem(at: valuesFile)
        }
        let queryJSON = String(decoding: try JSONSerialization.data(withJSONObject: queries), as: UTF8.self)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, file.path, queryJSON, result.path, valuesFile.path]
        let output = Pipe()
        p.standardOutput = output
        p.standardError = output
        do {
            try p.run()
        } catch {
            throw Failure(description: "cannot run python3 (\(error)); install python3 with pyarrow and duckdb: python3 -m pip install pyarrow duckdb")
        }
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0, let data = FileManager.default.contents(atPath: result.path) else {
            throw Failure(description: "the reader script failed (exit \(p.terminationStatus)) on \(file.path); these tests need python3 "
                          + "with pyarrow and duckdb (python3 -m pip install pyarrow duckdb):\n\(printed)")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        var decoded = try decoder.decode(Output.self, from: data)
        if let error = decoded.error { throw Failure(description: error) }
        guard let values = FileManager.default.contents(atPath: valuesFile.path) else {
            throw Failure(description: "the reader script wrote no values file")
        }
        var parser = ValuesParser(bytes: [UInt8](values))
        let arrowCount = decoded.pyarrow?.names.count ?? 0, duckCount = decoded.duckdb?.names.count ?? 0
        let arrowColumns = try (0..<arrowCount).map { _ in try parser.column() }
        let duckColumns = try (0..<duckCount).map { _ in try parser.column() }
        decoded.pyarrow?.columns = arrowColumns
        decoded.duckdb?.columns = duckColumns
        return decoded
    }

    /// The values file: per column `#count\n`, then per value `~` for null or `length:` and the UTF-8
    /// bytes. JSON would do, but decoding millions of values with JSONDecoder in a debug build
    /// takes longer than everything else in these tests.
    struct ValuesParser {
        let bytes: [UInt8]
        var at = 0

        mutating func column() throws -> [String?] {
            guard at < bytes.count, bytes[at] == UInt8(ascii: "#") else { throw Failure(description: "values file: column expected at \(at)") }
            at += 1
            let count = try number(until: UInt8(ascii: "\n"))
            var out: [String?] = []
            out.reserveCapacity(count)
            for _ in 0..<count {
                guard at < bytes.count else { throw Failure(description: "values file: truncated") }
                if bytes[at] == UInt8(ascii: "~") {
                    at += 1
                    out.append(nil)
                    continue
                }
                let length = try number(until: UInt8(ascii: ":"))
                guard at + length <= bytes.count else { throw Failure(description: "values file: truncated value") }
                out.append(bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[at..<at + length]), as: UTF8.self) })
                at += length
            }
            return out
        }

        private mutating func number(until terminator: UInt8) throws -> Int {
            var n = 0
            while at < bytes.count, bytes[at] != terminator {
                let digit = Int(bytes[at]) - 48
                guard (0...9).contains(digit) else { throw Failure(description: "values file: digit expected at \(at)") }
                n = n * 10 + digit
                at += 1
            }
            at += 1
            return n
        }
    }

    static let script = #"""
import json, struct, sys
path, queries, result, values = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
try:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import duckdb
except ImportError as e:
    json.dump({"error": "python module missing: %s; install with: python3 -m pip install pyarrow duckdb" % e}, open(result, "w"))
    sys.exit(0)

def render(v):
    if v is None: return None
    if isinstance(v, bool): return "true" if v else "false"
    if isinstance(v, int): return str(v)
    if isinstance(v, float): return str(struct.unpack("<Q", struct.pack("<d", v))[0])
    if isinstance(v, bytes): return v.decode("utf-8")
    if isinstance(v, str): return v
    raise TypeError("unexpected value %r" % (v,))

table = pq.read_table(path)
columns = []
for i, field in enumerate(table.schema):
    column = table.column(i)
    if pa.types.is_timestamp(field.type): column = column.cast(pa.int64())
    elif pa.types.is_date32(field.type): column = column.cast(pa.int32())
    columns.append([render(v) for v in column.to_pylist()])
meta = pq.ParquetFile(path).metadata
groups = []
for r in range(meta.num_row_groups):
    group = meta.row_group(r)
    chunks = []
    for c in range(group.num_columns):
        chunk = group.column(c)
        s = chunk.statistics
        minmax = s is not None and s.has_min_max
        chunks.append({"encodings": list(chunk.encodings), "compression": chunk.compression, "num_values": chunk.num_values,
                       "null_count": s.null_count if s is not None and s.has_null_count else None, "has_min_max": bool(minmax),
                       "min": render(s.min_raw) if minmax else None, "max": render(s.max_raw) if minmax else None})
    groups.append({"num_rows": group.num_rows, "columns": chunks})
out = {"pyarrow": {"num_rows": table.num_rows, "names": table.schema.names, "types": [str(f.type) for f in table.schema],
                   "nullable": [f.nullable for f in table.schema], "row_groups": groups,
                   "created_by": meta.created_by,
                   "metadata": {k.decode(): v.decode() for k, v in (meta.metadata or {}).items()}}}

con = duckdb.connect()
source = "read_parquet('%s')" % path.replace("'", "''")
described = con.execute("describe select * from " + source).fetchall()
names, types = [d[0] for d in described], [d[1] for d in described]
selected = []
for name, kind in zip(names, types):
    q = '"' + name.replace('"', '""') + '"'
    if kind.startswith("TIMESTAMP"): selected.append("epoch_ms(%s)" % q)
    elif kind == "DATE": selected.append("datediff('day', DATE '1970-01-01', %s)" % q)
    else: selected.append(q)
rows = con.execute("select %s from %s" % (", ".join(selected), source)).fetchall()
out["duckdb"] = {"names": names, "types": types}
duck_columns = [[render(row[i]) for row in rows] for i in range(len(names))]

def encoded(column):
    parts = [b"#%d\n" % len(column)]
    for v in column:
        if v is None:
            parts.append(b"~")
        else:
            b = v.encode("utf-8")
            parts.append(b"%d:" % len(b))
            parts.append(b)
    return b"".join(parts)

with open(values, "wb") as f:
    for column in columns + duck_columns:
        f.write(encoded(column))
out["queries"] = [render(con.execute(q.replace("$FILE", source)).fetchone()[0]) for q in queries]
json.dump(out, open(result, "w"), ensure_ascii=True)
"""#
}

/// Deterministic pseudo-random numbers (SplitMix64), so a failure reproduces.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

private extension URL {
    func fileSize() throws -> Int {
        try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
    }
}
