import Foundation

// DDSketch: Masson, Rim, Lee, "DDSketch: A Fast and Fully-Mergeable Quantile Sketch with
// Relative-Error Guarantees", PVLDB 12(12), 2019. §2.1 the logarithmic mapping and the error
// bound (Lemma 2 / Theorem 3), §2.2 the bounded-size variant collapsing the lowest buckets,
// §2.3 merging.

/// Why a sketch was refused: bytes that are not a sketch encoding, or sketches that cannot be
/// merged exactly.
public enum SketchError: Error, Equatable, CustomStringConvertible {
    /// The bytes end inside a field that starts at `offset`.
    case truncated(offset: Int)
    /// The first byte names an encoding version this build does not read.
    case unsupportedVersion(UInt8)
    /// A varint at `offset` is longer than needed or does not fit 64 bits.
    case overlongVarint(offset: Int)
    /// A field holds a value no sketch can have (`field` names it).
    case invalidField(field: String, offset: Int)
    /// The fields contradict each other (counts, min/max and buckets of no possible sketch).
    case inconsistent(String)
    /// Bytes left over after a complete sketch.
    case trailingBytes(count: Int)
    /// Merging sketches of different relative accuracy or bucket limit: their buckets do not line
    /// up, so no exact merge exists.
    case incompatible(String)

    public var description: String {
        switch self {
        case .truncated(let o): "sketch encoding truncated in the field at byte \(o)"
        case .unsupportedVersion(let v): "sketch encoding version \(v) is not supported (this build reads version 1)"
        case .overlongVarint(let o): "sketch encoding has an overlong or oversized varint at byte \(o)"
        case .invalidField(let f, let o): "sketch encoding has an invalid \(f) at byte \(o)"
        case .inconsistent(let why): "sketch encoding is inconsistent: \(why)"
        case .trailingBytes(let n): "sketch encoding is followed by \(n) stray bytes"
        case .incompatible(let why): "sketches cannot be merged: \(why)"
        }
    }
}

/// A mergeable quantile sketch with a relative-error guarantee (DDSketch), for non-negative
/// values such as response times in seconds.
///
/// **Guarantee.** With relative accuracy α, γ = (1 + α)/(1 − α), a positive value x goes to bucket
/// i = ⌈log_γ x⌉, covering (γ^(i−1), γ^i], whose estimate 2γ^i/(γ + 1) is within α·x of every x
/// in it. `quantile(q)` finds the bucket holding the value of rank ⌊q·(n − 1)⌋ (0-based, the
/// "lower" quantile x_q) and returns its estimate, clamped to [min, max], so
/// |q̂ − x_q| ≤ α·x_q for every q (up to floating-point rounding of the logarithm at bucket edges,
/// where the error is α either way). Zeros are counted apart and returned exactly. q = 0 and
/// q = 1 return the exact minimum and maximum.
///
/// **Bounded memory.** At most `maxBuckets` buckets are kept (default 2048; at α = 1 % they span
/// a ratio of γ²⁰⁴⁸ ≈ 10¹⁷ between smallest and largest, so response times never collapse). When
/// a value would widen the range beyond that, all buckets below the top `maxBuckets` are
/// collapsed into the lowest one kept (§2.2): the guarantee then holds only for quantiles whose
/// exact value is above `collapsedBound`; lower ones are overestimated.
///
/// **Merging** is exact: the sketch of two partitions merged equals (==) the sketch of their
/// union, collapsing included, whatever the order of insertion — a sketch's state is a function
/// of the multiset of values it saw.
///
/// **Refuses** negative values, NaN and ±∞ (`add` returns false and changes nothing).
///
/// Cost: `add` O(1) (one logarithm; amortised O(1) when the bucket range grows), `quantile`
/// O(buckets), `merge` O(buckets of both), memory 8 bytes per bucket between the lowest
/// and highest non-empty one.
public struct DDSketch: Sendable, Equatable {
    /// α: the largest relative error of a quantile.
    public let relativeAccuracy: Double
    /// The most buckets kept before the lowest are collapsed.
    public let maxBuckets: Int
    /// γ = (1 + α)/(1 − α) and ln γ.
    private let gamma: Double
    private let logGamma: Double

    /// The number of values added (zeros included).
    public private(set) var count: UInt64 = 0
    /// The number of zeros added.
    public private(set) var zeroCount: UInt64 = 0
    /// The smallest and largest value added, exactly; nil while empty.
    public private(set) var min: Double?
    public private(set) var max: Double?
    /// The bucket index of `bins[0]`; 0 while empty.
    private var offset = 0
    /// Counts of buckets offset, offset + 1, …; empty or with non-zero first and last entries.
    private var bins: [UInt64] = []
    /// Whether values below the lowest bucket have been collapsed into it.
    private var collapsed = false

    /// An empty sketch.
    /// - Precondition: `relativeAccuracy` in `accuracyRange` and `maxBuckets` in
    ///   1…`bucketLimit` (the program's own configuration).
    public init(relativeAccuracy: Double = 0.01, maxBuckets: Int = 2048) {
        precondition(Self.accuracyRange.contains(relativeAccuracy), "relative accuracy must be in \(Self.accuracyRange)")
        precondition(maxBuckets >= 1 && maxBuckets <= Self.bucketLimit, "maxBuckets must be in 1…\(Self.bucketLimit)")
        self.relativeAccuracy = relativeAccuracy
        self.maxBuckets = maxBuckets
        gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy)
        logGamma = log(gamma)
    }

    /// The relative accuracies accepted: below 10⁻⁹ bucket indices of extreme doubles would leave
    /// the range kept exactly (and γ would round towards 1).
    public static let accuracyRange = 1e-9..<1.0

    /// The largest bucket limit accepted (also on decoding, so a malformed input cannot demand a
    /// huge allocation).
    public static let bucketLimit = 1 << 20

    /// Whether there are no values.
    public var isEmpty: Bool { count == 0 }

    /// How many buckets are held (from the lowest to the highest non-empty one), ≤ `maxBuckets`.
    public var bucketCount: Int { bins.count }

    /// nil unless lower buckets were collapsed; then the upper edge of the lowest bucket kept:
    /// quantiles whose exact value is above it keep the relative-error guarantee.
    public var collapsedBound: Double? { collapsed ? exp(Double(offset) * logGamma) : nil }

    /// The bucket of a positive finite value: ⌈log_γ x⌉.
    @inline(__always)
    func index(_ x: Double) -> Int { Int((log(x) / logGamma).rounded(.up)) }

    /// The estimate of bucket i: 2γ^i/(γ + 1), the point within relative distance α of both edges.
    @inline(__always)
    func estimate(_ i: Int) -> Double { 2 * exp(Double(i) * logGamma) / (gamma + 1) }

    /// Adds one value; false (and no change) for a negative value, NaN or ±∞.
    public mutating func add(_ x: Double) -> Bool {
        guard x >= 0, x.isFinite else { return false }
        let x = x + 0   // −0 → +0
        count += 1
        min = Swift.min(min ?? x, x)
        max = Swift.max(max ?? x, x)
        if x == 0 {
            zeroCount += 1
        } else {
            insert(index(x), 1)
        }
        return true
    }

    /// Adds `n` to bucket `i`, widening the held range, collapsing below the top `maxBuckets`.
    private mutating func insert(_ i: Int, _ n: UInt64) {
        if bins.isEmpty {
            offset = i
            bins = [n]
            return
        }
        let top = offset + bins.count - 1
        if i >= offset && i <= top {
            bins[i - offset] += n
        } else if i - top >= maxBuckets {
            // So far above that everything held folds into the lowest bucket kept (without
            // widening through the gap, which can span billions of indices at small α).
            let held = bins.reduce(0, +)
            bins = [UInt64](repeating: 0, count: maxBuckets)
            bins[0] = held
            bins[maxBuckets - 1] += n
            offset = i - maxBuckets + 1
            collapsed = true
        } else if i > top {
            bins.append(contentsOf: repeatElement(0, count: i - top))
            bins[bins.count - 1] += n
            let excess = bins.count - maxBuckets
            if excess > 0 {
                // §2.2: the lowest buckets fold into the lowest one kept.
                var folded: UInt64 = 0
                for k in 0..<excess { folded += bins[k] }
                bins.removeFirst(excess)
                bins[0] += folded
                offset += excess
                collapsed = true
            }
        } else {
            let floor = top - maxBuckets + 1
            let target = Swift.max(i, floor)
            if i < floor { collapsed = true }
            if target < offset {
                bins.insert(contentsOf: repeatElement(0, count: offset - target), at: 0)
                offset = target
            }
            bins[target - offset] += n
        }
    }

    /// Adds every value of `other`: afterwards `self` equals the sketch of both inputs together.
    /// - Throws: `SketchError.incompatible` when the relative accuracy or bucket limit differ, or
    ///   the total count would overflow; `self` is then unchanged.
    public mutating func merge(_ other: DDSketch) throws(SketchError) {
        guard other.relativeAccuracy == relativeAccuracy, other.maxBuckets == maxBuckets else {
            throw .incompatible("relative accuracy \(relativeAccuracy) with \(maxBuckets) buckets vs \(other.relativeAccuracy) with \(other.maxBuckets)")
        }
        guard other.count > 0 else { return }
        guard !count.addingReportingOverflow(other.count).overflow else {
            throw .incompatible("together they would count more than 2⁶⁴ − 1 values")
        }
        count += other.count
        zeroCount += other.zeroCount
        min = Swift.min(min ?? other.min!, other.min!)
        max = Swift.max(max ?? other.max!, other.max!)
        collapsed = collapsed || other.collapsed
        guard !other.bins.isEmpty else { return }
        guard !bins.isEmpty else {
            offset = other.offset
            bins = other.bins
            return
        }
        // One new range: up to the higher top, down to the lower bottom but no further than the
        // top `maxBuckets` (§2.2); both sides' buckets fold into it.
        let top = Swift.max(offset + bins.count, other.offset + other.bins.count) - 1
        let floor = top - maxBuckets + 1
        let bottom = Swift.min(offset, other.offset)
        let low = Swift.max(bottom, floor)
        if bottom < floor { collapsed = true }
        var merged = [UInt64](repeating: 0, count: top - low + 1)
        for side in [(offset, bins), (other.offset, other.bins)] {
            for (k, n) in side.1.enumerated() { merged[Swift.max(side.0 + k, low) - low] += n }
        }
        offset = low
        bins = merged
    }

    /// The estimate of the lower q-quantile (rank ⌊q·(n − 1)⌋), within α·x_q of it (see the type's
    /// guarantee); nil when empty or q is not in 0…1.
    public func quantile(_ q: Double) -> Double? {
        guard count > 0, q >= 0, q <= 1, let lo = min, let hi = max else { return nil }
        if q == 0 { return lo }
        if q == 1 { return hi }
        let rank = UInt64((q * Double(count - 1)).rounded(.down))
        if rank < zeroCount { return 0 }
        var seen = zeroCount
        for (k, n) in bins.enumerated() {
            seen += n
            if seen > rank { return Swift.min(Swift.max(estimate(offset + k), lo), hi) }
        }
        return hi
    }

    // MARK: Encoding

    /// The encoding's version byte.
    static let version: UInt8 = 1

    /// The compact binary form, to ship a partition's sketch and merge it elsewhere:
    ///
    ///     version u8 (1) | α f64 (IEEE 754 bits, little-endian) | maxBuckets varint | flags u8
    ///     (bit 0: collapsed, bit 1: not empty) | zeroCount varint | if not empty: min f64, max f64 |
    ///     offset zigzag varint | bucket count varint | bucket counts varint…
    ///
    /// Varints are unsigned LEB128 in their shortest form, so equal sketches have equal bytes.
    /// Typically 2–3 bytes per held bucket.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [Self.version]
        out.reserveCapacity(40 + 2 * bins.count)
        Self.putDouble(relativeAccuracy, &out)
        Self.putVarint(UInt64(maxBuckets), &out)
        out.append((collapsed ? 1 : 0) | (count > 0 ? 2 : 0))
        Self.putVarint(zeroCount, &out)
        if let min, let max {
            Self.putDouble(min, &out)
            Self.putDouble(max, &out)
        }
        Self.putVarint(UInt64(bitPattern: Int64(offset) << 1 ^ Int64(offset) >> 63), &out)
        Self.putVarint(UInt64(bins.count), &out)
        for n in bins { Self.putVarint(n, &out) }
        return out
    }

    /// Reads `encoded()`'s form back; the result equals the sketch that was encoded.
    /// - Throws: `SketchError` for anything that is not exactly one well-formed, consistent
    ///   version-1 encoding (truncated, unknown version, overlong varints, α outside `accuracyRange`,
    ///   bucket limit outside 1…`bucketLimit`, more buckets than the limit, empty edge buckets,
    ///   counts that overflow, min/max that disagree with the buckets, trailing bytes).
    public init(decoding bytes: [UInt8]) throws(SketchError) {
        var r = Reader(bytes: bytes)
        let version = try r.byte()
        guard version == Self.version else { throw .unsupportedVersion(version) }
        var at = r.position
        let alpha = try r.double()
        guard Self.accuracyRange.contains(alpha) else { throw .invalidField(field: "relative accuracy", offset: at) }
        at = r.position
        let limit = try r.varint()
        guard limit >= 1, limit <= UInt64(Self.bucketLimit) else { throw .invalidField(field: "bucket limit", offset: at) }
        self.init(relativeAccuracy: alpha, maxBuckets: Int(limit))
        at = r.position
        let flags = try r.byte()
        guard flags & ~3 == 0 else { throw .invalidField(field: "flags", offset: at) }
        collapsed = flags & 1 != 0
        zeroCount = try r.varint()
        if flags & 2 != 0 {
            min = try r.double()
            max = try r.double()
        }
        at = r.position
        let z = try r.varint()
        let off = Int64(bitPattern: z >> 1 ^ (0 &- (z & 1)))
        guard off.magnitude <= 1 << 40 else { throw .invalidField(field: "bucket offset", offset: at) }
        offset = Int(off)
        at = r.position
        let n = try r.varint()
        guard n <= limit else { throw .invalidField(field: "bucket count", offset: at) }
        // Reserve no more than the input could hold, whatever the count claims.
        bins.reserveCapacity(Int(Swift.min(n, UInt64(bytes.count))))
        for _ in 0..<n { bins.append(try r.varint()) }
        guard r.position == bytes.count else { throw .trailingBytes(count: bytes.count - r.position) }
        try validate()
    }

    /// Checks the decoded fields describe a sketch `add` could have built.
    private mutating func validate() throws(SketchError) {
        if let first = bins.first, let last = bins.last, first == 0 || last == 0 {
            throw .inconsistent("the lowest and highest bucket held must not be empty")
        }
        if bins.isEmpty && offset != 0 { throw .inconsistent("an empty sketch has bucket offset 0") }
        var total = zeroCount
        for n in bins {
            let (s, o) = total.addingReportingOverflow(n)
            guard !o else { throw .inconsistent("counts overflow 64 bits") }
            total = s
        }
        count = total
        if collapsed && bins.count != maxBuckets { throw .inconsistent("a collapsed sketch holds exactly the bucket limit") }
        guard total > 0 else {
            if collapsed { throw .inconsistent("an empty sketch cannot be collapsed") }
            if min != nil { throw .inconsistent("an empty sketch has no min and max") }
            return
        }
        guard let lo = min, let hi = max, lo.isFinite, hi.isFinite, lo.sign == .plus, hi.sign == .plus, lo <= hi else {
            throw .inconsistent("min and max must be finite, non-negative and ordered")
        }
        if (zeroCount > 0) != (lo == 0) { throw .inconsistent("min is 0 exactly when zeros were counted") }
        if bins.isEmpty != (hi == 0) { throw .inconsistent("max is positive exactly when buckets are held") }
        if !bins.isEmpty {
            let top = offset + bins.count - 1
            guard index(hi) == top else { throw .inconsistent("max is not in the highest bucket") }
            if zeroCount == 0 {
                let i = index(lo)
                guard collapsed ? i <= offset : i == offset else { throw .inconsistent("min is not in the lowest bucket") }
            }
        }
    }

    private static func putDouble(_ x: Double, _ out: inout [UInt8]) {
        var bits = x.bitPattern
        for _ in 0..<8 {
            out.append(UInt8(truncatingIfNeeded: bits))
            bits >>= 8
        }
    }

    private static func putVarint(_ value: UInt64, _ out: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
    }

    /// A cursor over encoded bytes.
    private struct Reader {
        let bytes: [UInt8]
        var position = 0

        mutating func byte() throws(SketchError) -> UInt8 {
            guard position < bytes.count else { throw .truncated(offset: position) }
            defer { position += 1 }
            return bytes[position]
        }

        mutating func double() throws(SketchError) -> Double {
            guard bytes.count - position >= 8 else { throw .truncated(offset: position) }
            var bits: UInt64 = 0
            for k in 0..<8 { bits |= UInt64(bytes[position + k]) << (8 * k) }
            position += 8
            return Double(bitPattern: bits)
        }

        /// Unsigned LEB128, shortest form only.
        mutating func varint() throws(SketchError) -> UInt64 {
            let start = position
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard position < bytes.count else { throw .truncated(offset: start) }
                let b = bytes[position]
                position += 1
                let group = UInt64(b & 0x7F)
                if shift == 63 && group > 1 { throw .overlongVarint(offset: start) }
                value |= group << shift
                if b & 0x80 == 0 {
                    if b == 0 && position - start > 1 { throw .overlongVarint(offset: start) }
                    return value
                }
                shift += 7
                if shift > 63 { throw .overlongVarint(offset: start) }
            }
        }
    }
}
