import Foundation
import Statistics
import XCTest

/// SplitMix64 with heavy-tailed draws (lognormal by Box–Muller, Pareto by inversion).
private struct TailDraws {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992 }
    mutating func normal() -> Double { (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform()) }
    mutating func lognormal(mu: Double, sigma: Double) -> Double { exp(mu + sigma * normal()) }
    mutating func pareto(scale: Double, shape: Double) -> Double { scale / pow(uniform(), 1 / shape) }
}

/// The oracle: the lower quantile of the sorted values, rank ⌊q(n − 1)⌋.
private func lowerQuantile(_ sorted: [Double], _ q: Double) -> Double {
    sorted[Int((q * Double(sorted.count - 1)).rounded(.down))]
}

private func sketch(_ values: [Double], alpha: Double = 0.01, maxBuckets: Int = 2048) -> DDSketch {
    var s = DDSketch(relativeAccuracy: alpha, maxBuckets: maxBuckets)
    for v in values { XCTAssertTrue(s.add(v)) }
    return s
}

final class SketchTests: XCTestCase {
    let levels = (1...99).map { Double($0) / 100 }

    private func assertRelativeBound(_ values: [Double], alpha: Double, maxBuckets: Int = 2048, file: StaticString = #filePath, line: UInt = #line) {
        let s = sketch(values, alpha: alpha, maxBuckets: maxBuckets)
        XCTAssertNil(s.collapsedBound, "the guarantee below needs an uncollapsed sketch", file: file, line: line)
        let sorted = values.sorted()
        var worst = 0.0
        for q in levels + [0, 1, 0.001, 0.999] {
            let exact = lowerQuantile(sorted, q)
            let got = s.quantile(q)!
            let err = exact == 0 ? abs(got) : abs(got - exact) / exact
            worst = max(worst, err)
            // The bound, with room only for rounding of the logarithm at bucket edges.
            XCTAssertLessThanOrEqual(err, alpha * (1 + 1e-9), "q=\(q) exact=\(exact) got=\(got)", file: file, line: line)
        }
        // The bound is not vacuous: the estimates are not exact.
        XCTAssertGreaterThan(worst, alpha / 20, file: file, line: line)
    }

    func testRelativeErrorBoundOnLognormal() {
        var rng = TailDraws(state: 0x106)
        let values = (0..<200_000).map { _ in rng.lognormal(mu: 6, sigma: 1.5) }
        assertRelativeBound(values, alpha: 0.01)
        assertRelativeBound(values, alpha: 0.05)
    }

    func testRelativeErrorBoundOnPareto() {
        var rng = TailDraws(state: 0x9A2E)
        let values = (0..<200_000).map { _ in rng.pareto(scale: 30, shape: 1.1) }
        assertRelativeBound(values, alpha: 0.01)
        // At 0.2 % the 2·10⁴ range of these values needs more than the default 2048 buckets.
        XCTAssertNotNil(sketch(values, alpha: 0.002).collapsedBound)
        assertRelativeBound(values, alpha: 0.002, maxBuckets: 4096)
    }

    func testZerosAreCountedApartAndReturnedExactly() {
        var rng = TailDraws(state: 3)
        let values = (0..<10_000).map { i in i % 4 == 0 ? 0 : rng.lognormal(mu: 4, sigma: 1) }
        let s = sketch(values)
        XCTAssertEqual(s.zeroCount, 2500)
        XCTAssertEqual(s.count, 10_000)
        XCTAssertEqual(s.min, 0)
        XCTAssertEqual(s.quantile(0.1), 0)
        XCTAssertEqual(s.quantile(0.24), 0)
        let sorted = values.sorted()
        for q in [0.26, 0.5, 0.9] {
            XCTAssertEqual(s.quantile(q)!, lowerQuantile(sorted, q), accuracy: 0.01 * lowerQuantile(sorted, q))
        }
    }

    func testRefusesNegativeNaNAndInfinity() {
        var s = DDSketch()
        XCTAssertFalse(s.add(-1))
        XCTAssertFalse(s.add(.nan))
        XCTAssertFalse(s.add(.infinity))
        XCTAssertFalse(s.add(-.leastNonzeroMagnitude))
        XCTAssertEqual(s, DDSketch())
        XCTAssertTrue(s.add(-0.0))
        XCTAssertEqual(s.zeroCount, 1)
    }

    func testEmptySketchHasNoQuantiles() {
        let s = DDSketch()
        XCTAssertNil(s.quantile(0.5))
        XCTAssertNil(s.min)
        XCTAssertNil(s.max)
        XCTAssertEqual(s.count, 0)
        var one = DDSketch()
        XCTAssertTrue(one.add(1000))
        XCTAssertNil(one.quantile(1.5))
        XCTAssertEqual(one.quantile(0), 1000)
        XCTAssertEqual(one.quantile(0.5), 1000)   // clamped to [min, max]
    }

    func testMergedPartitionsEqualOneSketch() throws {
        var rng = TailDraws(state: 0x3E6)
        let values = (0..<50_000).map { i in i % 97 == 0 ? 0 : rng.lognormal(mu: 5, sigma: 2) }
        let whole = sketch(values)
        var parts = (0..<5).map { _ in DDSketch() }
        for v in values { XCTAssertTrue(parts[Int(rng.next() % 5)].add(v)) }
        var merged = DDSketch()
        for p in parts { try merged.merge(p) }
        XCTAssertEqual(merged, whole)
        var reversed = DDSketch()
        for p in parts.reversed() { try reversed.merge(p) }
        XCTAssertEqual(reversed, whole)
        XCTAssertEqual(merged.encoded(), whole.encoded())
        // Merging an empty sketch changes nothing.
        try merged.merge(DDSketch())
        XCTAssertEqual(merged, whole)
    }

    func testMergeRefusesDifferentParameters() {
        var a = DDSketch(relativeAccuracy: 0.01)
        XCTAssertThrowsError(try a.merge(DDSketch(relativeAccuracy: 0.02))) { error in
            guard case SketchError.incompatible = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try a.merge(DDSketch(relativeAccuracy: 0.01, maxBuckets: 100)))
    }

    func testCollapseBoundsBucketsAndKeepsUpperQuantiles() throws {
        var rng = TailDraws(state: 0xC011)
        // log-uniform over 1e-3 … 1e6: about 1040 buckets at 1 %, limited to 300.
        let values = (0..<40_000).map { _ in pow(10, -3 + 9 * rng.uniform()) }
        let s = sketch(values, maxBuckets: 300)
        XCTAssertEqual(s.bucketCount, 300)
        let bound = try XCTUnwrap(s.collapsedBound)
        XCTAssertNil(sketch(values).collapsedBound)
        let sorted = values.sorted()
        var collapsedSeen = false
        for q in levels {
            let exact = lowerQuantile(sorted, q), got = s.quantile(q)!
            if exact > bound {
                XCTAssertLessThanOrEqual(abs(got - exact) / exact, 0.01 * (1 + 1e-9), "q=\(q)")
            } else {
                // Collapsed into the lowest bucket: overestimated.
                XCTAssertGreaterThan(got, exact * 1.01)
                collapsedSeen = true
            }
        }
        XCTAssertTrue(collapsedSeen)
        XCTAssertEqual(s.min, sorted.first)
        XCTAssertEqual(s.quantile(0), sorted.first)

        // Order does not matter, and partitions collapsed on their own merge to the same sketch.
        XCTAssertEqual(sketch(sorted, maxBuckets: 300), s)
        XCTAssertEqual(sketch(sorted.reversed(), maxBuckets: 300), s)
        var low = DDSketch(maxBuckets: 300), high = DDSketch(maxBuckets: 300)
        for v in values { XCTAssertTrue(v < 10 ? low.add(v) : high.add(v)) }
        try high.merge(low)
        XCTAssertEqual(high, s)
    }

    func testFarApartValuesStayWithinTheBucketLimit() throws {
        // At α = 10⁻⁶ the buckets of 1e-300 and 1e300 are ~7·10⁸ apart: the sketch must not widen
        // through the gap, whichever value comes first.
        for values in [[1e-300, 5, 1e300], [1e300, 5, 1e-300], [5, 1e300, 1e-300]] {
            let s = sketch(values, alpha: 1e-6, maxBuckets: 100)
            XCTAssertEqual(s.bucketCount, 100)
            XCTAssertNotNil(s.collapsedBound)
            XCTAssertEqual(s.quantile(1), 1e300)
            XCTAssertEqual(s.quantile(0), 1e-300)
            // 5 fell into the collapsed lowest bucket, just below 1e300: overestimated.
            XCTAssertGreaterThan(s.quantile(0.5)!, 1e299)
            XCTAssertGreaterThan(s.collapsedBound!, 5)
            XCTAssertEqual(s, sketch([1e-300, 5, 1e300], alpha: 1e-6, maxBuckets: 100))
            var merged = sketch([values[0]], alpha: 1e-6, maxBuckets: 100)
            try merged.merge(sketch(Array(values[1...]), alpha: 1e-6, maxBuckets: 100))
            XCTAssertEqual(merged, s)
        }
        let one = sketch([1, 1e300], alpha: 0.01, maxBuckets: 1)
        XCTAssertEqual(one.bucketCount, 1)
        XCTAssertEqual(one.count, 2)
    }

    func testEncodingRoundTrips() throws {
        var rng = TailDraws(state: 0xE2C)
        let cases: [DDSketch] = [
            DDSketch(),
            sketch([0, 0]),
            sketch([1e-300, 1e300], maxBuckets: 50),
            sketch((0..<20_000).map { _ in rng.lognormal(mu: 6, sigma: 1) }),
            sketch((0..<5000).map { _ in rng.pareto(scale: 0.01, shape: 0.8) }, alpha: 0.001, maxBuckets: 700),
        ]
        for s in cases {
            let bytes = s.encoded()
            let back = try DDSketch(decoding: bytes)
            XCTAssertEqual(back, s)
            XCTAssertEqual(back.encoded(), bytes)
            XCTAssertEqual(back.quantile(0.5), s.quantile(0.5))
        }
        XCTAssertLessThan(cases[3].encoded().count, 3 * cases[3].bucketCount + 40)
    }

    func testMalformedEncodingsAreRefused() throws {
        var rng = TailDraws(state: 0xBAD)
        let good = sketch((0..<3000).map { _ in rng.lognormal(mu: 3, sigma: 1) }).encoded()
        // Every proper prefix.
        for n in 0..<good.count {
            XCTAssertThrowsError(try DDSketch(decoding: Array(good[0..<n])), "prefix \(n)")
        }
        func refused(_ bytes: [UInt8], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try DDSketch(decoding: bytes), what, file: file, line: line)
        }
        refused(good + [0], "trailing byte")
        var v = good; v[0] = 2; refused(v, "version 2")
        XCTAssertThrowsError(try DDSketch(decoding: v)) { XCTAssertEqual($0 as? SketchError, .unsupportedVersion(2)) }
        var a = good; a.replaceSubrange(1..<9, with: withUnsafeBytes(of: (1.5).bitPattern.littleEndian, Array.init)); refused(a, "α = 1.5")
        var nan = good; nan.replaceSubrange(1..<9, with: withUnsafeBytes(of: Double.nan.bitPattern.littleEndian, Array.init)); refused(nan, "α = NaN")
        // sketch([100]): version 0, α 1..<9, bucket limit 2048 = 0x80 0x10 at 9..<11, flags 11,
        // zero count 12, min 13..<21, max 21..<29, offset (bucket 231, zigzag 462) 29..<31,
        // bucket count 31, the one bucket's count 32.
        let one = sketch([100]).encoded()
        XCTAssertEqual(Array(one[9..<11]), [0x80, 0x10])
        XCTAssertEqual(one.count, 33)
        var wrongMax = one; wrongMax.replaceSubrange(21..<29, with: withUnsafeBytes(of: (200.0).bitPattern.littleEndian, Array.init))
        refused(wrongMax, "max outside the top bucket")
        var wrongMin = one; wrongMin.replaceSubrange(13..<21, with: withUnsafeBytes(of: (50.0).bitPattern.littleEndian, Array.init))
        refused(wrongMin, "min outside the lowest bucket")
        var emptyBucket = one; emptyBucket[32] = 0; refused(emptyBucket, "an empty edge bucket")
        var noMinMax = one; noMinMax[11] = 0; refused(noMinMax, "counts without min and max")
        var padded = Array(one[0..<9]); padded += [0x80, 0x90, 0x00]; padded += Array(one[11...]); refused(padded, "overlong varint")
        XCTAssertThrowsError(try DDSketch(decoding: padded)) { XCTAssertEqual($0 as? SketchError, .overlongVarint(offset: 9)) }
        // Found by the corruption loop below: an α so small that bucket indices overflow.
        var tiny = one; tiny.replaceSubrange(1..<9, with: withUnsafeBytes(of: (1e-300).bitPattern.littleEndian, Array.init)); refused(tiny, "α = 1e-300")
        refused([1] + Array(repeating: 0xFF, count: 40), "garbage")

        // Random corruption: refused, or read as a well-formed sketch that re-encodes to the same bytes.
        for _ in 0..<3000 {
            var m = good
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                m[Int(rng.next() % UInt64(m.count))] ^= UInt8(truncatingIfNeeded: 1 << (rng.next() % 8))
            }
            if let s = try? DDSketch(decoding: m) { XCTAssertEqual(s.encoded(), m) }
        }
    }
}
