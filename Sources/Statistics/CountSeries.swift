import Incidents

/// The resolution of a count series: local hours or local days.
public enum Frequency: String, Sendable, CaseIterable {
    case hour, day

    /// Periods in one season of the profile: the week (7 days, 168 hours).
    public var seasonLength: Int { self == .day ? 7 : 168 }

    /// The lag of the seasonal-naive forecast that scales MASE: 7 for days, 24 for hours — the M4
    /// competition's convention (Makridakis et al. 2020, §2.3). `Backtest` prints it with the scores.
    public var maseLag: Int { self == .day ? 7 : 24 }
}

/// A regular series of incident counts in local periods: one entry per hour or per day, from
/// the first to the last period with data, in order. A period without a value is *missing* (a
/// day the publisher left out), which is not the same as a period with no incidents (0): the
/// forecaster and the backtest skip missing periods and learn from zeros.
public struct CountSeries: Equatable, Sendable {
    public let frequency: Frequency
    /// Each period's start, UTC milliseconds (local midnight, or the start of a local hour).
    public private(set) var starts: [Int64]
    /// The profile slot of each period: Monday 0 … Sunday 6 (days), or 24 × weekday + local hour
    /// (hours; the two hours that share a local time when the clocks go back share a slot).
    public private(set) var slots: [Int]
    public private(set) var values: [Double?]

    public var count: Int { starts.count }

    public init(frequency: Frequency, starts: [Int64], slots: [Int], values: [Double?]) {
        precondition(starts.count == slots.count && slots.count == values.count, "series columns differ in length")
        self.frequency = frequency; self.starts = starts; self.slots = slots; self.values = values
    }

    /// The first `n` periods (the training part of a backtest origin).
    public func prefix(_ n: Int) -> CountSeries {
        CountSeries(frequency: frequency, starts: Array(starts.prefix(n)), slots: Array(slots.prefix(n)), values: Array(values.prefix(n)))
    }

    /// The index of the period that contains `utcMillis`, if the series covers it.
    public func index(containing utcMillis: Int64) -> Int? {
        guard let first = starts.first, utcMillis >= first else { return nil }
        var lo = 0, hi = starts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= utcMillis { lo = mid } else { hi = mid - 1 }
        }
        let end = lo + 1 < starts.count ? starts[lo + 1] : Self.periodEnd(frequency, start: starts[lo])
        return utcMillis < end ? lo : nil
    }

    /// Monday 0 … Sunday 6 of a date given as days since 1970-01-01 (a Thursday).
    public static func weekday(days: Int64) -> Int { Int(((days + 3) % 7 + 7) % 7) }

    static func periodEnd(_ f: Frequency, start: Int64) -> Int64 { start + (f == .hour ? 3_600_000 : 86_400_000) }

    /// The periods that follow the series' last period (the forecast's periods), with their slots.
    /// Days follow local dates (a day with a clock change is 23 or 25 hours long).
    public func following(_ n: Int, clock: LocalClock) -> [(start: Int64, slot: Int)] {
        guard let last = starts.last else { return [] }
        return Self.periods(frequency, after: last, count: n, clock: clock)
    }

    static func periods(_ f: Frequency, after last: Int64, count n: Int, clock: LocalClock) -> [(start: Int64, slot: Int)] {
        var out: [(Int64, Int)] = []
        out.reserveCapacity(n)
        switch f {
        case .hour:
            var t = last
            for _ in 0..<n { t += 3_600_000; out.append((t, hourSlot(t, clock))) }
        case .day:
            var d = clock.local(last).days
            for _ in 0..<n {
                d += 1
                out.append((clock.utcMillis(localDay: d) ?? d * 86_400_000, weekday(days: d)))
            }
        }
        return out
    }

    static func hourSlot(_ t: Int64, _ clock: LocalClock) -> Int {
        let l = clock.local(t)
        return weekday(days: l.days) * 24 + Int(l.millisOfDay / 3_600_000)
    }

    /// Incidents per local hour or day from individual records (a call log, our own incidents):
    /// every period from the first record's to the last record's counts, empty ones as 0. Tests
    /// (Probealarme) are not incidents and are left out; records known only to the day cannot
    /// make an hourly series and are refused by returning nil. Assumes a zone with whole-hour
    /// offsets (Europe/Berlin, the US zones), so local hours are UTC hours.
    public static func of(records openedAt: [Int64], precisionIsDay: Bool, frequency: Frequency, clock: LocalClock) -> CountSeries? {
        guard let lo = openedAt.min(), let hi = openedAt.max() else { return nil }
        if frequency == .hour && precisionIsDay { return nil }
        switch frequency {
        case .hour:
            let first = floorDiv(lo, 3_600_000), last = floorDiv(hi, 3_600_000)
            var values = [Double](repeating: 0, count: Int(last - first + 1))
            for t in openedAt { values[Int(floorDiv(t, 3_600_000) - first)] += 1 }
            let starts = (first...last).map { $0 * 3_600_000 }
            return CountSeries(frequency: .hour, starts: starts, slots: starts.map { hourSlot($0, clock) }, values: values)
        case .day:
            let first = clock.local(lo).days, last = clock.local(hi).days
            var values = [Double](repeating: 0, count: Int(last - first + 1))
            for t in openedAt { values[Int(clock.local(t).days - first)] += 1 }
            let days = Array(first...last)
            return CountSeries(frequency: .day, starts: days.map { clock.utcMillis(localDay: $0) ?? $0 * 86_400_000 },
                               slots: days.map { weekday(days: $0) }, values: values)
        }
    }

    /// A daily series from published day counts (`PeriodCount`, e.g. Berlin's daily file): dates
    /// the source does not list are missing, not zero.
    public static func of(dayCounts: [(localDate: String, count: Double)], clock: LocalClock) -> CountSeries? {
        var byDay: [Int64: Double] = [:]
        for c in dayCounts {
            guard let d = CivilDate.parse(c.localDate) else { continue }
            byDay[d, default: 0] += c.count
        }
        guard let first = byDay.keys.min(), let last = byDay.keys.max() else { return nil }
        let days = Array(first...last)
        return CountSeries(frequency: .day, starts: days.map { clock.utcMillis(localDay: $0) ?? $0 * 86_400_000 },
                           slots: days.map { weekday(days: $0) }, values: days.map { byDay[$0] })
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : (a - b + 1) / b }
}
