import Incidents

/// What incidents can be grouped by.
public enum GroupKey: String, Sendable, CaseIterable {
    /// Stadtteil (or the source's district); "unbekannt" when the record has none.
    case area
    case category
    /// Local hour of the day, "00" … "23" (only for records with call times).
    case hour
    /// Local date, "2026-08-14".
    case day
    /// ISO 8601 week of the local date, "2026-W33".
    case week
    /// Local day of the week, "1-Mo" … "7-So".
    case weekday
}

/// One group of `IncidentAggregates`.
public struct AggregateRow: Equatable, Sendable {
    public var key: [String]
    public var incidents: Int
    /// Incidents with a response time (call → first unit on scene), and its quantiles in seconds.
    public var measured: Int
    public var median: Double?
    public var p90: Double?
}

/// Counts of incidents by category × area × hour/day/week (any combination), with the
/// response-time median and 90th percentile per group — exact (type 7) or from a DDSketch
/// (relative error ≤ 1 %, bounded memory, mergeable across partitions).
public enum IncidentAggregates {
    public enum Method: String, Sendable { case exact, sketch }

    /// Groups the records (Probealarme left out); records known only to the day have no hour and
    /// are left out of groupings by hour (counted in `skipped`). Rows sorted by key.
    public static func compute(_ records: [IncidentRecord], by keys: [GroupKey], clock: LocalClock, method: Method = .exact) -> (rows: [AggregateRow], skipped: Int) {
        var groups: [[String]: (n: Int, times: [Double], sketch: DDSketch)] = [:]
        var skipped = 0
        let names = ["1-Mo", "2-Di", "3-Mi", "4-Do", "5-Fr", "6-Sa", "7-So"]
        for r in records where !r.test {
            if keys.contains(.hour) && r.precision == .day { skipped += 1; continue }
            let local = clock.local(r.openedAt)
            let key = keys.map { k -> String in
                switch k {
                case .area: return r.area ?? "unbekannt"
                case .category: return r.category
                case .hour: return LocalClock.pad(Int(local.millisOfDay / 3_600_000), 2)
                case .day: return LocalClock.format(days: local.days)
                case .week: return isoWeek(days: local.days)
                case .weekday: return names[CountSeries.weekday(days: local.days)]
                }
            }
            var g = groups[key] ?? (0, [], DDSketch())
            g.n += 1
            if let t = r.callToOnSceneSeconds, t >= 0 {
                if method == .exact { g.times.append(t) } else { _ = g.sketch.add(t) }
            }
            groups[key] = g
        }
        let rows = groups.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { k -> AggregateRow in
            let g = groups[k]!
            switch method {
            case .exact:
                var t = g.times
                let q = ExactQuantile.of(&t, [0.5, 0.9])
                return AggregateRow(key: k, incidents: g.n, measured: g.times.count, median: q?[0], p90: q?[1])
            case .sketch:
                return AggregateRow(key: k, incidents: g.n, measured: Int(g.sketch.count), median: g.sketch.quantile(0.5), p90: g.sketch.quantile(0.9))
            }
        }
        return (rows, skipped)
    }

    /// "2026-W33": the ISO 8601 week (weeks start on Monday; week 1 holds the year's first Thursday).
    public static func isoWeek(days: Int64) -> String {
        let thursday = days - Int64(CountSeries.weekday(days: days)) + 3
        let year = CivilDate.civil(days: thursday).year
        let jan1 = CivilDate.days(year: year, month: 1, day: 1)
        let week = (thursday - jan1) / 7 + 1
        return "\(year)-W" + LocalClock.pad(Int(week), 2)
    }
}
