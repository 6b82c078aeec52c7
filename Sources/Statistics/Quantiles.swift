// Exact quantiles by selection, single and grouped.
//
// Definition (Hyndman & Fan 1996, "Sample quantiles in statistical packages", type 7; numpy's
// default `linear`, DuckDB's `quantile_cont`, R's default): for the n values sorted ascending
// x₀ ≤ … ≤ xₙ₋₁ and 0 ≤ q ≤ 1, let h = (n − 1)·q, j = ⌊h⌋, d = h − j; the quantile is
// xⱼ + d·(xⱼ₊₁ − xⱼ), and xⱼ when d = 0. q = 0 gives the minimum, q = 1 the maximum.

/// Exact sample quantiles (Hyndman–Fan type 7, linear interpolation between closest ranks).
///
/// NaN values are excluded: the quantiles are those of the remaining values, and nil when none
/// remain. ±∞ are ordered values like any other; interpolating next to one follows IEEE
/// arithmetic (∞ − ∞ is NaN), as in numpy.
///
/// Cost: for k requested quantiles, expected O(n·k') time with k' ≤ 2k distinct order statistics
/// found by introselect (quickselect with a median-of-3 pivot, falling back to sorting the
/// remaining range after 2·log₂ n unlucky partitions, so never worse than O(n log n)); each
/// interpolation neighbour costs one linear scan instead of a second selection. When more
/// than `sortThreshold` order statistics are needed, one O(n log n) sort is cheaper and is used
/// instead. No allocation besides the small rank list.
public enum ExactQuantile {
    /// Above this many distinct order statistics a full sort replaces repeated selection.
    static let sortThreshold = 12

    /// The type-7 quantiles of `values` at each of `qs`, in the order of `qs`; nil when `values`
    /// holds no number that is not NaN.
    ///
    /// Reorders `values` (the selection partitions in place; NaNs are moved to the end).
    /// - Precondition: every q is in 0…1 (the quantile levels are the program's own choice, not
    ///   input).
    public static func of(_ values: inout [Double], _ qs: [Double]) -> [Double]? {
        values.withUnsafeMutableBufferPointer { buffer -> [Double]? in
            let n = excludeNaN(buffer)
            guard n > 0 else { return nil }
            return of(UnsafeMutableBufferPointer(rebasing: buffer[0..<n]), qs)
        }
    }

    /// Moves the NaNs of `buffer` to its end; returns how many values are not NaN.
    static func excludeNaN(_ buffer: UnsafeMutableBufferPointer<Double>) -> Int {
        var n = buffer.count
        var i = 0
        while i < n {
            if buffer[i].isNaN {
                n -= 1
                buffer.swapAt(i, n)
            } else {
                i += 1
            }
        }
        return n
    }

    /// The quantiles of a non-empty buffer free of NaN, reordering it.
    static func of(_ buffer: UnsafeMutableBufferPointer<Double>, _ qs: [Double], depthLimit: Int? = nil) -> [Double] {
        let n = buffer.count
        precondition(n > 0)
        // Each quantile needs the order statistic j = ⌊(n−1)q⌋ and, when d > 0, j + 1.
        var ranks: [Int] = []
        ranks.reserveCapacity(2 * qs.count)
        for q in qs {
            precondition(q >= 0 && q <= 1, "quantile level \(q) outside 0…1")
            let (j, d) = position(q, n)
            ranks.append(j)
            if d > 0 { ranks.append(j + 1) }
        }
        ranks.sort()
        var distinct = 0
        for k in ranks.indices where distinct == 0 || ranks[distinct - 1] != ranks[k] {
            ranks[distinct] = ranks[k]
            distinct += 1
        }
        ranks.removeLast(ranks.count - distinct)

        guard let base = buffer.baseAddress else { return [] }
        if ranks.count > sortThreshold || n <= 32 {
            var whole = buffer
            whole.sort()
        } else {
            // Invariant: after placing rank r, buffer[0...r] ≤ buffer[r+1..<n], so the next
            // (larger) rank is found within buffer[r+1..<n] alone.
            let limit = depthLimit ?? 2 * (Int.bitWidth - n.leadingZeroBitCount)
            var start = 0
            var previous = -2
            for r in ranks {
                if r == previous + 1 {
                    // The neighbour of the last placed rank is the minimum of the rest.
                    var m = r
                    for i in (r + 1)..<n where base[i] < base[m] { m = i }
                    buffer.swapAt(r, m)
                } else {
                    select(base, from: start, to: n, rank: r, depthLimit: limit)
                }
                start = r + 1
                previous = r
            }
        }
        return qs.map { q in
            let (j, d) = position(q, n)
            let lo = base[j]
            guard d > 0 else { return lo }
            let hi = base[j + 1]
            return lo == hi ? lo : lo + d * (hi - lo)
        }
    }

    /// j = ⌊(n − 1)q⌋ and d = (n − 1)q − j, computed as DuckDB and numpy do.
    @inline(__always)
    static func position(_ q: Double, _ n: Int) -> (j: Int, d: Double) {
        let h = Double(n - 1) * q
        let floor = h.rounded(.down)
        let j = Swift.min(Int(floor), n - 1)
        return (j, j == n - 1 ? 0 : h - floor)
    }

    /// Introselect: rearranges `a[from..<to]` so that `a[rank]` holds the value it would hold
    /// sorted, with nothing greater before it and nothing smaller after it. Hoare partitioning
    /// around a median-of-3 pivot (which keeps runs of equal values balanced); after `depthLimit`
    /// partitions the remaining range is sorted outright.
    static func select(_ a: UnsafeMutablePointer<Double>, from: Int, to: Int, rank k: Int, depthLimit: Int) {
        var lo = from, hi = to - 1
        var depth = depthLimit
        while hi - lo > 24 {
            if depth == 0 {
                var rest = UnsafeMutableBufferPointer(start: a + lo, count: hi - lo + 1)
                rest.sort()
                return
            }
            depth -= 1
            let mid = lo + (hi - lo) >> 1
            if a[mid] < a[lo] { swap(a, mid, lo) }
            if a[hi] < a[lo] { swap(a, hi, lo) }
            if a[hi] < a[mid] { swap(a, hi, mid) }
            let pivot = a[mid]
            // a[lo] ≤ pivot ≤ a[hi] are sentinels for the scans.
            var i = lo, j = hi
            while i <= j {
                while a[i] < pivot { i += 1 }
                while pivot < a[j] { j -= 1 }
                if i <= j {
                    swap(a, i, j)
                    i += 1
                    j -= 1
                }
            }
            // a[lo...j] ≤ pivot ≤ a[i...hi]; anything strictly between equals the pivot.
            if k <= j {
                hi = j
            } else if k >= i {
                lo = i
            } else {
                return
            }
        }
        // Insertion sort of the small remainder.
        var i = lo + 1
        while i <= hi {
            let v = a[i]
            var j = i - 1
            while j >= lo && v < a[j] {
                a[j + 1] = a[j]
                j -= 1
            }
            a[j + 1] = v
            i += 1
        }
    }

    @inline(__always)
    private static func swap(_ a: UnsafeMutablePointer<Double>, _ i: Int, _ j: Int) {
        let t = a[i]
        a[i] = a[j]
        a[j] = t
    }
}

/// Exact type-7 quantiles of one value column per group, for many groups at once (the response
/// time's median and 90th percentile per Stadtteil × category).
///
/// Cost: O(n + groups) to counting-sort the values by group into one buffer of n doubles (two
/// passes, no per-row or per-group allocation besides the results), then `ExactQuantile`'s
/// selection on each group's slice, O(n·k) expected in total for k quantile levels. Memory:
/// one n-double buffer and one offset per group.
public struct GroupedQuantiles {
    /// For each group id 0..<`groups`, the quantiles of its values at `quantiles` (in that order),
    /// or nil when the group has no value that is not NaN. NaN values are excluded.
    ///
    /// - Precondition: `group.count == value.count`, every group id is in 0..<`groups`, every
    ///   quantile level is in 0…1 (all the program's own: ids come from a `CodeBook`).
    public static func compute(group: [Int32], value: [Double], groups: Int, quantiles: [Double]) -> [[Double]?] {
        precondition(group.count == value.count, "group and value columns differ in length")
        precondition(groups >= 0)
        for q in quantiles { precondition(q >= 0 && q <= 1, "quantile level \(q) outside 0…1") }
        guard groups > 0 else { return [] }
        // starts[g] … starts[g+1]: group g's slice of the sorted buffer.
        var starts = [Int](repeating: 0, count: groups + 1)
        var buffer: [Double] = []
        group.withUnsafeBufferPointer { g in
            value.withUnsafeBufferPointer { v in
                starts.withUnsafeMutableBufferPointer { s in
                    let limit = UInt32(groups)
                    for i in 0..<g.count {
                        let id = UInt32(bitPattern: g[i])
                        precondition(id < limit, "group id \(g[i]) outside 0..<\(groups)")
                        if !v[i].isNaN { s[Int(id) &+ 1] &+= 1 }
                    }
                    for k in 1...groups { s[k] &+= s[k - 1] }
                }
                let total = starts[groups]
                buffer = [Double](unsafeUninitializedCapacity: total) { out, initialized in
                    var cursor = starts
                    cursor.withUnsafeMutableBufferPointer { c in
                        for i in 0..<g.count where !v[i].isNaN {
                            let id = Int(g[i])
                            (out.baseAddress! + c[id]).initialize(to: v[i])
                            c[id] &+= 1
                        }
                    }
                    initialized = total
                }
            }
        }
        return buffer.withUnsafeMutableBufferPointer { b in
            (0..<groups).map { id -> [Double]? in
                let slice = starts[id]..<starts[id + 1]
                guard !slice.isEmpty else { return nil }
                return ExactQuantile.of(UnsafeMutableBufferPointer(rebasing: b[slice]), quantiles)
            }
        }
    }
}
