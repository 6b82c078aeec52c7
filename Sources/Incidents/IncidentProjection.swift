import Foundation

/// One event of the control room's feed (topic `alarm/events`, Protocols/alarm.md) as the pipeline
/// reads it: only the fields it needs, and unknown fields ignored, so that the feed may grow.
public struct FeedEvent: Decodable, Equatable, Sendable {
    public struct Point: Decodable, Equatable, Sendable { public var latE6: Int64; public var lonE6: Int64 }
    public var event: String
    public var at: Int64
    public var by: String?
    public var detail: String?
    public var incident: String?
    public var order: String?
    public var target: String?
    public var unit: String?
    public var units: [String]?
    public var status: Int?
    public var test: Bool?
    public var keyword: String?
    public var area: String?
    public var position: Point?
    public var address: String?
    public var remarks: String?

    public init(event: String, at: Int64) { self.event = event; self.at = at }

    /// Decodes one feed message; nil for bytes that are not an event object.
    public static func decode(_ bytes: [UInt8]) -> FeedEvent? {
        try? JSONDecoder().decode(FeedEvent.self, from: Data(bytes))
    }
}

/// A unit's latest dispatch: the incident and order it was last alarmed for.
public struct UnitLink: Equatable, Sendable {
    public var incident: String
    public var order: String
    public init(incident: String, order: String) { self.incident = incident; self.order = order }
}

/// Turns the committed alarm events into incident records and unit dispatches — a pure reducer:
/// the same events give the same records, whoever runs it and however often it is restarted.
///
/// It holds a working set (open incidents and each unit's latest dispatch); records it does not
/// hold it asks `lookup` for (the store), so a late event for an incident written long ago still
/// lands on it. Unit status events carry no incident once the unit is free, so a status is
/// attributed to the unit's latest dispatch (`latest`): status 3 and 4 while it is not yet free,
/// status 1 or 2 after it moved (that is the end of its engagement).
public struct IncidentProjection: Sendable {
    public static let source = "florian"

    public private(set) var records: [RecordKey: IncidentRecord]
    public private(set) var dispatches: [DispatchKey: UnitDispatch]
    /// Per unit, its latest dispatch (the incident and order it was last alarmed for).
    public private(set) var latest: [String: UnitLink]
    /// What changed since `takeChanges`.
    public private(set) var changedRecords: Set<RecordKey> = []
    public private(set) var changedDispatches: Set<DispatchKey> = []
    public private(set) var changedLatest: Set<String> = []
    /// Cell size for the generalised position (0: none, the Stadtteil only).
    public let gridMetres: Int

    public typealias Lookup = (RecordKey) -> (IncidentRecord, [UnitDispatch])?

    public init(gridMetres: Int = 500, records: [IncidentRecord] = [], dispatches: [UnitDispatch] = [], latest: [String: UnitLink] = [:]) {
        self.gridMetres = gridMetres
        self.records = Dictionary(records.map { ($0.key, $0) }, uniquingKeysWith: { $1 })
        self.dispatches = Dictionary(dispatches.map { ($0.key, $0) }, uniquingKeysWith: { $1 })
        self.latest = latest
    }

    private mutating func record(_ id: String?, lookup: Lookup) -> RecordKey? {
        guard let id else { return nil }
        let key = RecordKey(source: Self.source, id: id)
        if records[key] != nil { return key }
        guard let (r, ds) = lookup(key) else { return nil }
        records[key] = r
        for d in ds where dispatches[d.key] == nil { dispatches[d.key] = d }
        return key
    }

    private mutating func dispatch(_ key: DispatchKey, lookup: Lookup, incident: String?) -> Bool {
        if dispatches[key] != nil { return true }
        _ = record(incident, lookup: lookup)
        return dispatches[key] != nil
    }

    /// Applies one event. Events the records do not depend on (leases, lines, registry) are ignored.
    public mutating func apply(_ e: FeedEvent, lookup: Lookup) {
        switch e.event {
        case "incident.opened":
            guard let id = e.incident else { return }
            let key = RecordKey(source: Self.source, id: id)
            // Opened once per id; a replay of the same event (same offset) cannot reach here twice,
            // but a record already in the store is not reset either.
            if records[key] != nil || lookup(key) != nil { _ = record(id, lookup: lookup); return }
            var (keyword, area, address) = (e.keyword, e.area, e.address)
            if keyword == nil, let detail = e.detail { (keyword, area, address) = Self.parseOpenedDetail(detail) }
            var r = IncidentRecord(source: Self.source, id: id, openedAt: e.at, keyword: keyword ?? "?",
                                   category: KeywordCategory.of(keyword: keyword ?? ""), area: area, test: e.test ?? false)
            if let p = e.position {
                r.personal.position = Personal(GeoPoint(latE6: p.latE6, lonE6: p.lonE6))
                if gridMetres > 0 { r.gridCell = GridCell(latE6: p.latE6, lonE6: p.lonE6, metres: gridMetres)?.id }
            }
            if let address, !address.isEmpty { r.personal.address = Personal(address) }
            if let remarks = e.remarks, !remarks.isEmpty { r.personal.remarks = Personal(remarks) }
            if let by = e.by { r.personal.openedBy = Personal(by) }
            records[key] = r
            changedRecords.insert(key)

        case "order.created":
            guard let rk = record(e.incident, lookup: lookup), let order = e.order else { return }
            var r = records[rk]!
            let units = e.units ?? []
            let isNew = !units.contains { dispatches[DispatchKey(source: Self.source, order: order, unit: $0)] != nil }
            guard isNew else { return }
            r.orders += 1
            r.unitsAlarmed += units.count
            r.firstAlarmAt = min(r.firstAlarmAt ?? e.at, e.at)
            records[rk] = r
            changedRecords.insert(rk)
            for u in units {
                let d = UnitDispatch(source: Self.source, incident: r.id, order: order, unit: u, alarmedAt: e.at, test: r.test)
                dispatches[d.key] = d
                changedDispatches.insert(d.key)
                latest[u] = UnitLink(incident: r.id, order: order)
                changedLatest.insert(u)
            }

        case "target.delivered":
            guard let rk = record(e.incident, lookup: lookup) else { return }
            var r = records[rk]!
            if r.firstDeliveredAt == nil || e.at < r.firstDeliveredAt! {
                r.firstDeliveredAt = e.at
                records[rk] = r
                changedRecords.insert(rk)
            }
            guard let order = e.order else { return }
            for u in e.units ?? [] {
                let dk = DispatchKey(source: Self.source, order: order, unit: u)
                guard var d = dispatches[dk], d.deliveredAt == nil else { continue }
                d.deliveredAt = e.at
                dispatches[dk] = d
                changedDispatches.insert(dk)
            }

        case "unit.acknowledged":
            guard let order = e.order, let unit = e.unit else { return }
            let dk = DispatchKey(source: Self.source, order: order, unit: unit)
            guard dispatch(dk, lookup: lookup, incident: e.incident), var d = dispatches[dk] else { return }
            guard d.acknowledgedAt == nil else { return }
            d.acknowledgedAt = e.at
            d.outcome = "acknowledged"
            if let by = e.by { d.acknowledgedBy = Personal(by) }
            dispatches[dk] = d
            changedDispatches.insert(dk)
            refreshOutcome(RecordKey(source: Self.source, id: d.incident))

        case "unit.re-alerted":
            guard let order = e.order, let unit = e.unit else { return }
            let dk = DispatchKey(source: Self.source, order: order, unit: unit)
            guard dispatch(dk, lookup: lookup, incident: e.incident), var d = dispatches[dk], !d.reAlerted else { return }
            d.reAlerted = true
            dispatches[dk] = d
            changedDispatches.insert(dk)

        case "unit.status":
            guard let unit = e.unit, let status = e.status, let link = latest[unit] else { return }
            let dk = DispatchKey(source: Self.source, order: link.order, unit: unit)
            guard dispatch(dk, lookup: lookup, incident: link.incident), var d = dispatches[dk], d.freeAt == nil, e.at >= d.alarmedAt else { return }
            switch status {
            case 3 where d.enRouteAt == nil: d.enRouteAt = e.at
            case 4 where d.onSceneAt == nil: d.onSceneAt = e.at
            case 1, 2:
                guard d.enRouteAt != nil || d.onSceneAt != nil else { return }
                d.freeAt = e.at
            default: return
            }
            dispatches[dk] = d
            changedDispatches.insert(dk)
            let rk = RecordKey(source: Self.source, id: d.incident)
            guard var r = records[rk] else { return }
            if let t = d.enRouteAt, r.firstEnRouteAt.map({ t < $0 }) ?? true { r.firstEnRouteAt = t }
            if let t = d.onSceneAt, r.firstOnSceneAt.map({ t < $0 }) ?? true { r.firstOnSceneAt = t }
            records[rk] = r
            changedRecords.insert(rk)

        case "order.closed":
            guard let order = e.order, let rk = record(e.incident, lookup: lookup) else { return }
            // Closed by an operator: what was still waiting was cancelled; closed by the state:
            // every unit is final, and one not acknowledged did not answer.
            let byOperator = (e.detail ?? "").hasPrefix("closed by")
            for dk in dispatches.keys where dk.order == order && dk.source == Self.source {
                guard var d = dispatches[dk], d.outcome == "alerted" else { continue }
                d.outcome = byOperator ? "cancelled" : "unanswered"
                dispatches[dk] = d
                changedDispatches.insert(dk)
            }
            refreshOutcome(rk)

        case "escalation.proposed":
            guard let order = e.order, let unit = e.unit else { return }
            let dk = DispatchKey(source: Self.source, order: order, unit: unit)
            guard dispatch(dk, lookup: lookup, incident: e.incident), var d = dispatches[dk], d.outcome == "alerted" else { return }
            d.outcome = "unanswered"
            dispatches[dk] = d
            changedDispatches.insert(dk)

        case "incident.closed":
            guard let rk = record(e.incident, lookup: lookup), var r = records[rk], r.closedAt == nil else { return }
            r.closedAt = e.at
            records[rk] = r
            changedRecords.insert(rk)
            refreshOutcome(rk)

        default:
            return
        }
    }

    /// The record's outcome from its dispatches: open while not closed; no_alarm without orders;
    /// incomplete if a unit did not answer; complete if every unit acknowledged; else cancelled.
    private mutating func refreshOutcome(_ rk: RecordKey) {
        guard var r = records[rk] else { return }
        let ds = dispatches.values.filter { $0.source == rk.source && $0.incident == rk.id }
        let outcome: String
        if r.closedAt == nil { outcome = "open" }
        else if ds.isEmpty { outcome = "no_alarm" }
        else if ds.contains(where: { $0.outcome == "unanswered" }) { outcome = "incomplete" }
        else if ds.allSatisfy({ $0.outcome == "acknowledged" }) { outcome = "complete" }
        else { outcome = "cancelled" }
        if outcome != r.outcome {
            r.outcome = outcome
            records[rk] = r
            changedRecords.insert(rk)
        }
    }

    /// An `incident.opened` detail of a feed written before the event carried its fields:
    /// "KEYWORD AREA, ADDRESS".
    static func parseOpenedDetail(_ detail: String) -> (String?, String?, String?) {
        guard let space = detail.firstIndex(of: " ") else { return (detail, nil, nil) }
        let keyword = String(detail[..<space])
        let rest = detail[detail.index(after: space)...]
        guard let comma = rest.range(of: ", ") else { return (keyword, String(rest), nil) }
        return (keyword, String(rest[..<comma.lowerBound]), String(rest[comma.upperBound...]))
    }

    /// What changed since the last call, for the store to write in one transaction with the offset.
    public mutating func takeChanges() -> (records: [IncidentRecord], dispatches: [UnitDispatch], latest: [(unit: String, link: UnitLink)]) {
        let r = changedRecords.sorted().compactMap { records[$0] }
        let d = changedDispatches.sorted().compactMap { dispatches[$0] }
        let l = changedLatest.sorted().compactMap { u in latest[u].map { (u, $0) } }
        changedRecords = []; changedDispatches = []; changedLatest = []
        return (r, d, l)
    }

    /// Drops what no event can change any more from the working set (it is in the store): closed
    /// incidents none of whose dispatches is a unit's latest. Keeps memory bounded by the open
    /// incidents and the fleet.
    public mutating func evict() {
        precondition(changedRecords.isEmpty && changedDispatches.isEmpty, "evict after takeChanges")
        let live = Set(latest.map { DispatchKey(source: Self.source, order: $0.value.order, unit: $0.key) })
        let liveIncidents = Set(latest.values.map(\.incident))
        for (k, r) in records where r.closedAt != nil && !liveIncidents.contains(r.id) { records[k] = nil }
        for (k, d) in dispatches where !live.contains(k) && records[RecordKey(source: d.source, id: d.incident)] == nil { dispatches[k] = nil }
    }
}
