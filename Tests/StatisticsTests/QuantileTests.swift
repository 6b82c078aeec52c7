import Foundation
@testable import Statistics
import XCTest

/// SplitMix64 draws, so a failure reproduces from its seed.
private struct Seeded {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992 }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// The oracle: sort everything, then type 7 by its definition.
private func sortedReference(_ values: [Double], _ qs: [Double]) -> [Double]? {
    let x = values.filter { !$0.isNaN }.sorted()
    guard !x.isEmpty else { return nil }
    return qs.map { q in
        let h = Double(x.count - 1) * q
        let j = Int(h.rounded(.down))
        let d = h - Double(j)
        return j + 1 < x.count && d > 0 ? x[j] + d * (x[j + 1] - x[j]) : x[j]
    }
}

/// Several kinds of data: continuous, heavily duplicated, integer-valued, sorted, reversed, constant.
private func dataset(_ kind: Int, _ n: Int, _ rng: inout Seeded) -> [Double] {
    switch kind % 6 {
    case 0: return (0..<n).map { _ in rng.uniform() * 1000 - 300 }
    case 1: return (0..<n).map { _ in Double(rng.below(7)) }
    case 2: return (0..<n).map { _ in (exp(5 + rng.uniform() * 2)).rounded() }
    case 3: return (0..<n).map { Double($0 / 3) }
    case 4: return (0..<n).map { Double(n - $0) * 0.5 }
    default: return [Double](repeating: 42.5, count: n)
    }
}

final class QuantileTests: XCTestCase {
    let levels: [Double] = [0, 1, 0.5, 0.9, 0.25, 0.75, 0.01, 0.99, 0.333, 0.1]

    func testMatchesFullSortReferenceExactly() {
        var rng = Seeded(state: 0x51A7)
        for n in [1, 2, 3, 5, 17, 33, 100, 1000, 4099, 20_000] {
            for kind in 0..<6 {
                let data = dataset(kind, n, &rng)
                // Few levels (selection), and many (the full-sort path).
                for qs in [[0.5], [0.5, 0.9], [0.0, 1.0], levels, (0...40).map { Double($0) / 40 }] {
                    var work = data
                    let got = ExactQuantile.of(&work, qs)
                    XCTAssertEqual(got, sortedReference(data, qs), "n=\(n) kind=\(kind) qs=\(qs)")
                    XCTAssertEqual(work.sorted(), data.sorted(), "reordered, not changed")
                }
            }
        }
    }

    func testKnownValues() {
        var v: [Double] = [3, 1, 2, 4]
        // h = 3q: q=0.5 → 2 + 0.5·(3−2); q=0.9 → h=2.7 → 3 + 0.7·(4−3).
        let q = ExactQuantile.of(&v, [0, 0.5, 0.9, 1])!
        XCTAssertEqual(q[0], 1)
        XCTAssertEqual(q[1], 2.5)
        XCTAssertEqual(q[2], 3.7, accuracy: 1e-12)
        XCTAssertEqual(q[3], 4)
        var one: [Double] = [7]
        XCTAssertEqual(ExactQuantile.of(&one, [0, 0.3, 1]), [7, 7, 7])
        var two: [Double] = [10, 0]
        XCTAssertEqual(ExactQuantile.of(&two, [0, 0.25, 0.5, 1]), [0, 2.5, 5, 10])
    }

    func testEmptyAndNaNOnlyGiveNilAndNaNIsExcluded() {
        var empty: [Double] = []
        XCTAssertNil(ExactQuantile.of(&empty, [0.5]))
        var nans: [Double] = [.nan, .nan]
        XCTAssertNil(ExactQuantile.of(&nans, [0.5]))
        var mixed: [Double] = [.nan, 4, 1, .nan, 3, 2, .nan]
        XCTAssertEqual(ExactQuantile.of(&mixed, [0, 0.5, 1]), [1, 2.5, 4])
    }

    func testFallbackSortPathIsCorrect() {
        // A depth limit of 0 or 1 forces introselect's fallback on the first partitions.
        var rng = Seeded(state: 77)
        for limit in [0, 1, 3] {
            for kind in 0..<6 {
                let data = dataset(kind, 3001, &rng)
                var work = data
                let got = work.withUnsafeMutableBufferPointer { ExactQuantile.of($0, [0.5, 0.9, 0.01], depthLimit: limit) }
                XCTAssertEqual(got, sortedReference(data, [0.5, 0.9, 0.01]), "limit=\(limit) kind=\(kind)")
            }
        }
    }

    func testMatchesNumpy() throws {
        var rng = Seeded(state: 0xD0C)
        var cases: [[Double]] = [[42], [1, 2], [5, 5], [-1.5, 3.25, 3.25, 8]]
        for n in [10, 999, 10_000] {
            for kind in 0..<3 { cases.append(dataset(kind, n, &rng)) }
        }
        let qs = levels + [0.001, 0.999, 0.5001]
        for data in cases {
            let expected = try numpyQuantiles(data, qs)
            var work = data
            let got = try XCTUnwrap(ExactQuantile.of(&work, qs))
            for (k, (g, e)) in zip(got, expected).enumerated() {
                XCTAssertEqual(g, e, accuracy: 1e-12 * Swift.max(1, abs(e)), "n=\(data.count) q=\(qs[k])")
            }
        }
    }

    func testGroupedMatchesPerGroupReference() {
        var rng = Seeded(state: 0x6E0)
        let groups = 37
        for n in [0, 1, 50, 5000, 60_000] {
            // Skewed group sizes; group 5 and 36 never occur; some NaN values.
            let group = (0..<n).map { _ -> Int32 in
                let g = Swift.min(rng.below(groups), rng.below(groups))
                return g == 5 || g == 36 ? 0 : Int32(g)
            }
            let value = (0..<n).map { i -> Double in
                if rng.below(50) == 0 { return .nan }
                return i % 3 == 0 ? Double(rng.below(10)) : rng.uniform() * 100
            }
            let qs = [0.5, 0.9, 0, 1]
            let got = GroupedQuantiles.compute(group: group, value: value, groups: groups, quantiles: qs)
            XCTAssertEqual(got.count, groups)
            for g in 0..<groups {
                let mine = zip(group, value).filter { Int($0.0) == g }.map(\.1)
                XCTAssertEqual(got[g], sortedReference(mine, qs), "n=\(n) group=\(g)")
            }
            XCTAssertNil(got[5])
            XCTAssertNil(got[36])
        }
    }

    func testGroupedOnSeveralThreadsEqualsOneThread() {
        var rng = Seeded(state: 0x7E4D)
        let n = 300_000, groups = 50
        let group = (0..<n).map { _ in Int32(Swift.min(rng.below(groups), rng.below(groups))) }
        let value = (0..<n).map { _ in rng.below(100) == 0 ? .nan : (rng.uniform() * 600).rounded() }
        let one = GroupedQuantiles.compute(group: group, value: value, groups: groups, quantiles: [0.5, 0.9, 0.99])
        for threads in [2, 3, 4] {
            XCTAssertEqual(GroupedQuantiles.compute(group: group, value: value, groups: groups, quantiles: [0.5, 0.9, 0.99], threads: threads), one)
        }
        for g in [0, 17, 49] {
            XCTAssertEqual(one[g], sortedReference(zip(group, value).filter { Int($0.0) == g }.map(\.1), [0.5, 0.9, 0.99]))
        }
    }

    func testGroupedOfOnlyNaNIsNil() {
        let got = GroupedQuantiles.compute(group: [0, 0, 1], value: [.nan, .nan, 3], groups: 2, quantiles: [0.5])
        XCTAssertNil(got[0])
        XCTAssertEqual(got[1], [3])
    }

    /// numpy.quantile (method "linear", Hyndman–Fan type 7) of `data`; skips when python3 or
    /// numpy are missing.
    private func numpyQuantiles(_ data: [Double], _ qs: [Double]) throws -> [Double] {
        let script = """
            import sys, numpy as np
            lines = sys.stdin.read().split("\\n")
            qs = [float(x) for x in lines[0].split()]
            data = np.array([float(x) for x in lines[1].split()], dtype=np.float64)
            print("\\n".join(repr(float(v)) for v in np.quantile(data, qs)))
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { throw XCTSkip("python3 not available: \(error)") }
        let text = qs.map { "\($0)" }.joined(separator: " ") + "\n" + data.map { "\($0)" }.joined(separator: " ") + "\n"
        let writer = Thread { input.fileHandleForWriting.write(Data(text.utf8)); try? input.fileHandleForWriting.close() }
        writer.start()
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw XCTSkip("python3 with numpy not available") }
        let values = out.split(separator: "\n").compactMap { Double($0) }
        XCTAssertEqual(values.count, qs.count, "numpy printed \(out)")
        return values
    }
}

final class GroupCounterTests: XCTestCase {
    func testCodeBookAssignsCodesInFirstSeenOrderByBytes() {
        var book = CodeBook()
        let column = ["Höchst", "Nied", "Höchst", "Sachsenhausen-Nord", "", "Nied", "Nordend-West und mehr als sechzehn Bytes"]
        XCTAssertEqual(book.encode(column), [0, 1, 0, 2, 3, 1, 4])
        XCTAssertEqual(book.names, ["Höchst", "Nied", "Sachsenhausen-Nord", "", "Nordend-West und mehr als sechzehn Bytes"])
        XCTAssertEqual(book.code(of: "Sachsenhausen-Nord"), 2)
        XCTAssertNil(book.code(of: "Sachsenhausen-Süd"))
        // Long names equal in length, first and last 8 bytes, different in the middle.
        let long = ["Stadtteil-0001-Ende-Nord", "Stadtteil-0002-Ende-Nord", "Stadtteil-0001-Ende-Nord"]
        XCTAssertEqual(book.encode(long), [5, 6, 5])
        // Short names that differ in one byte only.
        XCTAssertEqual(book.encode(["ab", "ac", "abc", "abd", "ab"]), [7, 8, 9, 10, 7])
        // Canonically equivalent but different bytes: different names, as in SQL.
        XCTAssertNotEqual(book.code(for: "e\u{301}"), book.code(for: "\u{E9}"))
    }

    func testCodeBookSurvivesGrowth() {
        var book = CodeBook()
        let names = (0..<5000).map { "Stadtteil-\($0 * 7919 % 5000)" }
        let codes = book.encode(names + names.reversed())
        for (k, name) in (names + names.reversed()).enumerated() { XCTAssertEqual(book.names[Int(codes[k])], name) }
        XCTAssertEqual(book.count, 5000)
        XCTAssertEqual(Array(codes[0..<5000]), (0..<5000).map { Int32($0) })
    }

    /// The oracle: a dictionary of key arrays.
    private func reference(_ keys: [[Int32]]) -> [(key: [Int32], count: Int64)] {
        var d: [[Int32]: Int64] = [:]
        for row in 0..<keys[0].count { d[keys.map { $0[row] }, default: 0] += 1 }
        return d.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { ($0.key, $0.value) }
    }

    private func check(_ cards: [Int], rows: Int, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        var rng = Seeded(state: seed)
        // Skewed: small codes more often, so some keys never occur.
        let keys = cards.map { card in (0..<rows).map { _ in Int32(Swift.min(rng.below(card), rng.below(card))) } }
        let got = GroupCounter.counts(keys: keys, cardinalities: cards)
        let want = reference(keys)
        XCTAssertEqual(got.map(\.key), want.map(\.key), file: file, line: line)
        XCTAssertEqual(got.map(\.count), want.map(\.count), file: file, line: line)
        XCTAssertEqual(got.reduce(0) { $0 + $1.count }, Int64(rows), file: file, line: line)
    }

    func testFlatCountsMatchReference() {
        check([8, 46, 24], rows: 100_000, seed: 1)
        check([3], rows: 5000, seed: 2)
        check([1, 1], rows: 10, seed: 3)
    }

    func testHashedCountsMatchReference() {
        // 2⁴⁰ cells: hashed by the packed number.
        check([1 << 20, 1 << 20], rows: 20_000, seed: 4)
        // Beyond 64 bits: hashed by the codes.
        check([1 << 31, 1 << 31, 1 << 31], rows: 5000, seed: 5)
        // Flat-sized space but far larger than the input: hashed too.
        check([4000, 4000], rows: 1000, seed: 6)
    }

    func testSeveralThreadsGiveTheSameCodesAndCounts() {
        var rng = Seeded(state: 0x2A)
        // Names first seen in the second half too, so the parts' codes must be renumbered.
        let rows = 400_000
        let names = (0..<rows).map { i in "Stadtteil-\(i < rows / 2 ? rng.below(20) : rng.below(60))" }
        var single = CodeBook()
        let codes = single.encode(names)
        for threads in [2, 3, 5] {
            var book = CodeBook()
            XCTAssertEqual(book.encode(names, threads: threads), codes)
            XCTAssertEqual(book, single)
        }
        // Encoding into a book that already holds names continues its numbering.
        var seeded = CodeBook()
        _ = seeded.code(for: "Stadtteil-59")
        let continued = seeded.encode(names, threads: 2)
        XCTAssertEqual(seeded.names.first, "Stadtteil-59")
        XCTAssertEqual(continued.map { seeded.names[Int($0)] }, names)

        let hours = (0..<rows).map { _ in Int32(rng.below(24)) }
        let one = GroupCounter.counts(keys: [codes, hours], cardinalities: [single.count, 24])
        let two = GroupCounter.counts(keys: [codes, hours], cardinalities: [single.count, 24], threads: 2)
        XCTAssertEqual(two.map(\.key), one.map(\.key))
        XCTAssertEqual(two.map(\.count), one.map(\.count))
        let want = reference([codes, hours])
        XCTAssertEqual(one.map(\.count), want.map(\.count))
    }

    func testNoRowsGiveNoGroups() {
        XCTAssertTrue(GroupCounter.counts(keys: [[], []], cardinalities: [3, 4]).isEmpty)
    }
}
