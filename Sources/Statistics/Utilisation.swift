import Incidents

/// How much of a period a unit (or a station's units) was bound to incidents, from the FMS
/// status times of its dispatches: status 3 (en route, „Einsatz übernommen“) until status 4 or
/// free, status 4 (on scene, „Einsatzstelle an“) until status 1/2 (free again).
public struct UtilisationRow: Equatable, Sendable {
    /// A unit id, or a station id for a station's total.
    public var name: String
    public var station: String?
    public var dispatches: Int
    public var enRouteSeconds: Double
    public var onSceneSeconds: Double
    /// Dispatches still open at the period's end (counted up to the end) or without status times.
    public var open: Int
    /// (status 3 + status 4 time) / (the period's length × units): 0…1 for a unit.
    public var share: Double
}

public enum Utilisation {
    /// Time in status 3 and 4 per unit within [from, to) (UTC ms), and per station (the sum over
    /// its units, share relative to the combined time of all its units in `stationOf`). `stationOf` maps unit ids to
    /// stations (from the registry); units it does not know appear under no station. A dispatch
    /// is clipped to the period; overlapping dispatches of one unit (a re-alert while bound) are
    /// merged, so a unit is never more than 100 % busy. Tests (Probealarme) are left out.
    public static func compute(_ dispatches: [UnitDispatch], from: Int64, to: Int64, stationOf: [String: String]) -> (units: [UtilisationRow], stations: [UtilisationRow]) {
        precondition(to > from, "utilisation period")
        struct Interval { var start: Int64; var end: Int64; var status4: Bool }
        var byUnit: [String: (count: Int, open: Int, intervals: [Interval])] = [:]
        for d in dispatches where !d.test {
            var entry = byUnit[d.unit] ?? (0, 0, [])
            entry.count += 1
            let end = d.freeAt ?? to
            if d.freeAt == nil && (d.enRouteAt != nil || d.onSceneAt != nil) { entry.open += 1 }
            if let r = d.enRouteAt { entry.intervals.append(Interval(start: r, end: d.onSceneAt ?? end, status4: false)) }
            if let s = d.onSceneAt { entry.intervals.append(Interval(start: s, end: end, status4: true)) }
            if d.enRouteAt == nil && d.onSceneAt == nil { entry.open += 1 }
            byUnit[d.unit] = entry
        }
        let length = Double(to - from) / 1000
        var units: [UtilisationRow] = []
        for (unit, e) in byUnit {
            // Clip to the period; where intervals overlap, on scene wins over en route.
            var cuts: [Int64] = []
            for i in e.intervals { cuts.append(max(from, min(to, i.start))); cuts.append(max(from, min(to, i.end))) }
            cuts = Array(Set(cuts)).sorted()
            var s3 = 0.0, s4 = 0.0
            for (a, b) in zip(cuts, cuts.dropFirst()) {
                let covering = e.intervals.filter { $0.start <= a && $0.end >= b }
                guard !covering.isEmpty else { continue }
                if covering.contains(where: \.status4) { s4 += Double(b - a) / 1000 } else { s3 += Double(b - a) / 1000 }
            }
            units.append(UtilisationRow(name: unit, station: stationOf[unit], dispatches: e.count, enRouteSeconds: s3, onSceneSeconds: s4,
                                        open: e.open, share: (s3 + s4) / length))
        }
        units.sort { ($0.station ?? "~", $0.name) < ($1.station ?? "~", $1.name) }
        var fleet: [String: Int] = [:]
        for s in stationOf.values { fleet[s, default: 0] += 1 }
        var byStation: [String: [UtilisationRow]] = [:]
        for u in units { if let s = u.station { byStation[s, default: []].append(u) } }
        let stations = byStation.keys.sorted().map { s -> UtilisationRow in
            let rows = byStation[s]!
            let s3 = rows.reduce(0) { $0 + $1.enRouteSeconds }, s4 = rows.reduce(0) { $0 + $1.onSceneSeconds }
            return UtilisationRow(name: s, station: s, dispatches: rows.reduce(0) { $0 + $1.dispatches }, enRouteSeconds: s3, onSceneSeconds: s4,
                                  open: rows.reduce(0) { $0 + $1.open }, share: (s3 + s4) / (length * Double(max(rows.count, fleet[s] ?? 0))))
        }
        return (units, stations)
    }
}
