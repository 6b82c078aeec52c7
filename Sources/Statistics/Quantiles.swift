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
/// found by introselect (quickselect with a median-of-3 pivot and a branch-free partition,
/// falling back to sorting the remaining range after 2·log₂ n partitions, so never worse than
/// O(n log n)); each
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
                    var least = base[r]
                    for i in (r + 1)..<n {
                        let v = base[i]
                        let smaller = v < least
                        least = smaller ? v : least
                        m = smaller ? i : m
                    }
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
    /// sorted, with nothing greater before it and nothing smaller after it.
    ///
    /// Each step partitions around the median of the first, middle and last value with a
    /// branch-free Lomuto pass (values below the pivot to the front; no mispredicted branch per
    /// value). When nothing is below the pivot, a second pass gathers the values equal to it, so
    /// runs of duplicates end the search instead of stalling it. After `depthLimit` steps the
    /// remaining range is sorted outright (O(n log n) worst case).
    static func select(_ a: UnsafeMutablePointer<Double>, from: Int, to: Int, rank k: Int, depthLimit: Int) {
        var lo = from, hi = to   // half-open
        var depth = depthLimit
        while hi - lo > 24 {
            if depth == 0 {
                var rest = UnsafeMutableBufferPointer(start: a + lo, count: hi - lo)
                rest.sort()
                return
            }
            depth -= 1
            let x = a[lo], y = a[lo + (hi - lo) >> 1], z = a[hi - 1]
            let pivot = Swift.max(Swift.min(x, y), Swift.min(Swift.max(x, y), z))
            var j = lo
            for i in lo..<hi {
                let v = a[i]
                a[i] = a[j]
                a[j] = v
                j &+= Int(unsafeBitCast(v < pivot, to: UInt8.self))
            }
            // a[lo..<j] < pivot ≤ a[j..<hi]; the pivot is in the range, so j < hi.
            if k < j {
                hi = j
                continue
            }
            if j > lo {
                lo = j
                continue
            }
            // Nothing below the pivot: it is the minimum. Gather its copies at the front.
            for i in lo..<hi {
                let v = a[i]
                a[i] = a[j]
                a[j] = v
                j &+= Int(unsafeBitCast(v == pivot, to: UInt8.self))
            }
            if k < j { return }
            lo = j
        }
        // Insertion sort of the small remainder.
        var i = lo + 1
        while i < hi {
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
/// one n-double buffer and one offset per group (per thread).
public struct GroupedQuantiles {
    /// For each group id 0..<`groups`, the quantiles of its values at `quantiles` (in that order),
    /// or nil when the group has no value that is not NaN. NaN values are excluded.
    ///
    /// With `threads` > 1 (and at least 64 Ki rows per thread) contiguous parts of the rows are
    /// counted and placed at once (each part into its own stretch of every group's slice), and
    /// groups are selected on all threads; the result does not depend on it.
    ///
    /// - Precondition: `group.count == value.count`, every group id is in 0..<`groups`, every
    ///   quantile level is in 0…1 (all the program's own: ids come from a `CodeBook`).
    public static func compute(group: [Int32], value: [Double], groups: Int, quantiles: [Double], threads: Int = 1) -> [[Double]?] {
        precondition(group.count == value.count, "group and value columns differ in length")
        precondition(groups >= 0)
        for q in quantiles { precondition(q >= 0 && q <= 1, "quantile level \(q) outside 0…1") }
        guard groups > 0 else { return [] }
        let rows = group.count
        let parts = RowParts.count(rows: rows, threads: threads)
        // counts[p * groups + g]: values of group g among part p's rows; then where they go.
        var cursors = [Int](repeating: 0, count: parts * groups)
        cursors.withUnsafeMutableBufferPointer { counts in
            nonisolated(unsafe) let counts = counts   // part p writes only its own row of counts
            RowParts.run(parts) { p in
                group.withUnsafeBufferPointer { g in
                    value.withUnsafeBufferPointer { v in
                        let mine = counts.baseAddress! + p * groups
                        let limit = UInt32(groups)
                        for i in RowParts.range(p, of: parts, rows: rows) {
                            let id = UInt32(bitPattern: g[i])
                            precondition(id < limit, "group id \(g[i]) outside 0..<\(groups)")
                            mine[Int(id)] &+= v[i].isNaN ? 0 : 1
                        }
                    }
                }
            }
        }
        // Group g's slice is starts[g]..<starts[g+1]; within it part 0's values come first.
        var starts = [Int](repeating: 0, count: groups + 1)
        var total = 0
        for g in 0..<groups {
            starts[g] = total
            for p in 0..<parts {
                let n = cursors[p * groups + g]
                cursors[p * groups + g] = total
                total += n
            }
        }
        starts[groups] = total
        var buffer = [Double](unsafeUninitializedCapacity: total) { out, initialized in
            cursors.withUnsafeMutableBufferPointer { cursors in
                // Part p writes only at its own cursors, into stretches no other part writes.
                nonisolated(unsafe) let (out, cursors) = (out, cursors)
                RowParts.run(parts) { p in
                    group.withUnsafeBufferPointer { g in
                        value.withUnsafeBufferPointer { v in
                            let cursor = cursors.baseAddress! + p * groups
                            let base = out.baseAddress!
                            for i in RowParts.range(p, of: parts, rows: rows) where !v[i].isNaN {
                                let id = Int(g[i])
                                (base + cursor[id]).initialize(to: v[i])
                                cursor[id] &+= 1
                            }
                        }
                    }
                }
            }
            initialized = total
        }
        var results = [[Double]?](repeating: nil, count: groups)
        let slices = starts
        buffer.withUnsafeMutableBufferPointer { b in
            results.withUnsafeMutableBufferPointer { r in
                // Each group's slice and result belong to the one task that takes the group.
                nonisolated(unsafe) let (b, r) = (b, r)
                let tasks = parts == 1 ? 1 : Swift.min(groups, 8 * parts)
                RowParts.run(tasks) { t in
                    for id in stride(from: t, to: groups, by: tasks) where slices[id] < slices[id + 1] {
                        r[id] = ExactQuantile.of(UnsafeMutableBufferPointer(rebasing: b[slices[id]..<slices[id + 1]]), quantiles)
                    }
                }
            }
        }
        return results
    }
}
