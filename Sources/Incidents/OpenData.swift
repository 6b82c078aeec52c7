/// The open-data publication (the council motion: non-personal data published): daily incident
/// counts per Stadtteil and category, and response-time quantiles per Stadtteil and category over
/// the period — only for groups of at least `k` incidents. Within a day and category (or, for
/// response times, within a category), the Stadtteile below k are merged into one group
/// "andere Stadtteile"; when that group is still below k it is suppressed. No total over a group
/// that contains a suppressed one is published, so nothing suppressed can be recovered by
/// subtraction. Test alarms are never counted.
public struct OpenData: Sendable {
    public static let mergedArea = "andere Stadtteile"
    public static let unknownArea = "unbekannt"

    public struct DailyCount: Equatable, Sendable {
        public var date: String
        public var area: String
        public var category: String
        public var count: Int
    }
    public struct ResponseTimes: Equatable, Sendable {
        public var area: String
        public var category: String
        public var count: Int
        public var p50: Double
        public var p90: Double
    }

    public var k: Int
    public private(set) var daily: [DailyCount] = []
    public private(set) var responseTimes: [ResponseTimes] = []
    /// Groups withheld (below k even after merging), for the report.
    public private(set) var suppressedGroups = 0
    public private(set) var suppressedIncidents = 0

    /// - Precondition: k ≥ 1 (the command refuses less).
    public init(records: [IncidentRecord], clock: LocalClock, k: Int) {
        precondition(k >= 1)
        self.k = k
        let real = records.filter { !$0.test }
        // Daily counts.
        var byDay: [String: [String: [String: Int]]] = [:]   // date → category → area → n
        for r in real {
            byDay[clock.dateString(r.openedAt), default: [:]][r.category, default: [:]][r.area ?? Self.unknownArea, default: 0] += 1
        }
        for date in byDay.keys.sorted() {
            for category in byDay[date]!.keys.sorted() {
                let groups = byDay[date]![category]!
                let (kept, merged) = split(groups)
                for (area, n) in kept { daily.append(DailyCount(date: date, area: area, category: category, count: n)) }
                if let merged { daily.append(DailyCount(date: date, area: Self.mergedArea, category: category, count: merged)) }
            }
        }
        // Response times over the whole period.
        var times: [String: [String: [Double]]] = [:]   // category → area → seconds
        for r in real {
            guard let s = r.callToOnSceneSeconds else { continue }
            times[r.category, default: [:]][r.area ?? Self.unknownArea, default: []].append(s)
        }
        for category in times.keys.sorted() {
            let groups = times[category]!
            let (kept, merged) = split(groups.mapValues(\.count))
            for (area, _) in kept {
                responseTimes.append(Self.quantiles(area: area, category: category, groups[area]!))
            }
            if merged != nil {
                let small = groups.filter { $0.value.count < k }.flatMap(\.value)
                responseTimes.append(Self.quantiles(area: Self.mergedArea, category: category, small))
            }
        }
    }

    /// Groups of at least k (sorted by area), and the sum of the smaller ones if it reaches k.
    private mutating func split(_ groups: [String: Int]) -> ([(String, Int)], Int?) {
        let kept = groups.filter { $0.value >= k }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        let small = groups.filter { $0.value < k }
        let sum = small.values.reduce(0, +)
        if small.isEmpty { return (kept, nil) }
        if sum >= k { return (kept, sum) }
        suppressedGroups += small.count
        suppressedIncidents += sum
        return (kept, nil)
    }

    /// Exact quantiles by the nearest-rank method (each is an observed value).
    static func quantiles(area: String, category: String, _ values: [Double]) -> ResponseTimes {
        let s = values.sorted()
        func q(_ p: Double) -> Double {
            let rank = Int((p * Double(s.count)).rounded(.up))
            return s[max(0, min(s.count - 1, rank - 1))]
        }
        return ResponseTimes(area: area, category: category, count: s.count, p50: q(0.5), p90: q(0.9))
    }

    public func dailyCSV() -> [UInt8] {
        var out = "date,area,category,count\r\n"
        for d in daily { out += "\(d.date),\(CSV.escape(d.area)),\(d.category),\(d.count)\r\n" }
        return Array(out.utf8)
    }

    public func responseTimesCSV() -> [UInt8] {
        var out = "area,category,incidents,p50_s,p90_s\r\n"
        for r in responseTimes { out += "\(CSV.escape(r.area)),\(r.category),\(r.count),\(r.p50),\(r.p90)\r\n" }
        return Array(out.utf8)
    }
}
