import Incidents

/// A response-time target (Hilfsfrist, the time from the start of the emergency call to the
/// arrival of the first unit on scene) and the share of incidents that must meet it
/// (Erreichungsgrad).
public struct HilfsfristTarget: Equatable, Sendable {
    public var name: String
    /// Call → first unit on scene, seconds.
    public var seconds: Double
    /// The share that must meet it, 0…1.
    public var goal: Double
    /// The incident categories it applies to; nil: all.
    public var categories: Set<String>?

    public init(name: String, seconds: Double, goal: Double, categories: Set<String>?) {
        self.name = name; self.seconds = seconds; self.goal = goal; self.categories = categories
    }

    /// The AGBF city criteria for the critical house fire (kritischer Wohnungsbrand): the first
    /// 10 functions on scene 9.5 minutes after the start of the emergency call (1.5 min call and
    /// dispatch + 8 min from the alarm), 6 more after 14.5 minutes, in 95 % of incidents —
    /// Arbeitsgemeinschaft der Leiter der Berufsfeuerwehren (AGBF-Bund), „Qualitätskriterien für
    /// die Bedarfsplanung von Feuerwehren in Städten“, 16 Sept 1998, updated 19 Nov 2015. Our
    /// records carry the first unit's arrival, not the number of functions on scene, so this
    /// measures the first stage's time for the first arriving unit of fire incidents.
    public static let agbfCriticalHouseFire = HilfsfristTarget(name: "AGBF kritischer Wohnungsbrand, 1. Eintreffzeit (9,5 min, 95 %)",
                                                               seconds: 570, goal: 0.95, categories: ["fire"])
}

/// Hilfsfrist compliance of one area (or of all: `area` nil).
public struct ComplianceRow: Equatable, Sendable {
    public var area: String?
    /// Incidents the target applies to that have a measured response time.
    public var measured: Int
    public var within: Int
    /// Incidents the target applies to without an arrival time (never counted as met or missed).
    public var unmeasured: Int
    /// Exact median and 90th percentile of the response time (type 7), seconds.
    public var median: Double?
    public var p90: Double?

    public var share: Double? { measured > 0 ? Double(within) / Double(measured) : nil }
}

public enum Hilfsfrist {
    /// Compliance per area (sorted by area; records without an area under "unbekannt") and
    /// overall (first). Probealarme (tests) are left out.
    public static func compliance(_ records: [IncidentRecord], target: HilfsfristTarget) -> [ComplianceRow] {
        var byArea: [String: (times: [Double], within: Int, unmeasured: Int)] = [:]
        var all: (times: [Double], within: Int, unmeasured: Int) = ([], 0, 0)
        for r in records where !r.test {
            if let c = target.categories, !c.contains(r.category) { continue }
            let area = r.area ?? "unbekannt"
            guard let t = r.callToOnSceneSeconds, t >= 0 else {
                byArea[area, default: ([], 0, 0)].unmeasured += 1
                all.unmeasured += 1
                continue
            }
            let ok = t <= target.seconds ? 1 : 0
            byArea[area, default: ([], 0, 0)].times.append(t)
            byArea[area, default: ([], 0, 0)].within += ok
            all.times.append(t); all.within += ok
        }
        func row(_ area: String?, _ v: (times: [Double], within: Int, unmeasured: Int)) -> ComplianceRow {
            var t = v.times
            let q = ExactQuantile.of(&t, [0.5, 0.9])
            return ComplianceRow(area: area, measured: v.times.count, within: v.within, unmeasured: v.unmeasured, median: q?[0], p90: q?[1])
        }
        return [row(nil, all)] + byArea.keys.sorted().map { row($0, byArea[$0]!) }
    }
}
