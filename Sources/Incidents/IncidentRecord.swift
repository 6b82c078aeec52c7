/// A value that is personal data (DSGVO Art. 4(1)): a caller's address, free-text remarks, an
/// exact position, the name of a dispatcher. It is kept in the incident store and nowhere else:
/// it is not `Encodable` (so no export or JSON encoder can take it by accident) and prints as
/// `‹personal›` (so string interpolation into a log line shows nothing). The store reads it with
/// `storedValue`, the pseudonymiser with `pseudonym(…)`; nothing else does.
public struct Personal<Value: Equatable & Sendable>: Equatable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// For the incident store only (its SQLite file is the one place personal data lives).
    public let storedValue: Value
    public init(_ value: Value) { storedValue = value }
    public var description: String { "‹personal›" }
    public var debugDescription: String { "‹personal›" }
}

/// How precisely a record's times are known: to the millisecond (our own log) or only to the day
/// (a source such as the Berlin mission data that publishes the date alone).
public enum TimePrecision: String, Sendable, Equatable, CaseIterable {
    case exact, day
}

/// One incident (Einsatz) as the analysts see it: when it was opened, what and where, how the
/// forces answered — derived from the committed alarm events (`IncidentProjection`) or imported
/// from a foreign call log (`ImportMapping`). Times are milliseconds since the epoch (UTC).
///
/// Fields under `personal` never leave the store; everything else may be exported. The derived
/// durations are computed properties, so they can never disagree with the times they come from.
public struct IncidentRecord: Equatable, Sendable {
    /// "florian" for our own incidents, else the import mapping's source name.
    public var source: String
    /// The incident's id within its source ("E-000001", a mission number, or "<file>:<line>").
    public var id: String
    /// The call was taken and the incident opened (the Leitstelle opens it while the call runs).
    public var openedAt: Int64
    public var precision: TimePrecision
    public var closedAt: Int64?
    /// Einsatzstichwort (incident keyword): "F2", "TH1", or the source's own mission type.
    public var keyword: String
    /// The keyword's class: fire, technical_rescue, ems, hazmat, water, other, …
    public var category: String
    /// Stadtteil (or the source's district).
    public var area: String?
    /// The position generalised to a grid cell (`GridCell`, EPSG:3035), never the position itself.
    public var gridCell: String?
    /// Probealarm: a test, kept apart in every statistic.
    public var test: Bool
    /// Alarm orders created for the incident, and units alarmed by them.
    public var orders: Int
    public var unitsAlarmed: Int
    public var firstAlarmAt: Int64?
    public var firstDeliveredAt: Int64?
    /// First status 3 (en route) and status 4 (on scene) of any of its units.
    public var firstEnRouteAt: Int64?
    public var firstOnSceneAt: Int64?
    /// Call → first unit on scene, in seconds, when a source reports only the duration (Berlin's
    /// `response_time`); our own records derive it from the times.
    public var reportedResponseSeconds: Double?
    /// open, no_alarm, complete, incomplete, cancelled — or what an import reports.
    public var outcome: String
    public var personal: PersonalFields

    public init(source: String, id: String, openedAt: Int64, precision: TimePrecision = .exact, keyword: String, category: String,
                area: String?, test: Bool = false) {
        self.source = source; self.id = id; self.openedAt = openedAt; self.precision = precision
        self.keyword = keyword; self.category = category; self.area = area; self.test = test
        closedAt = nil; gridCell = nil; orders = 0; unitsAlarmed = 0
        firstAlarmAt = nil; firstDeliveredAt = nil; firstEnRouteAt = nil; firstOnSceneAt = nil
        reportedResponseSeconds = nil; outcome = "open"; personal = PersonalFields()
    }

    /// Call → first unit on scene (the response time the Berlin data and the AGBF criteria use).
    public var callToOnSceneSeconds: Double? {
        if let reportedResponseSeconds { return reportedResponseSeconds }
        guard let on = firstOnSceneAt else { return nil }
        return Double(on - openedAt) / 1000
    }

    /// First alarm → first status 3: how fast the crews moved out (Ausrückezeit).
    public var alarmToEnRouteSeconds: Double? {
        guard let a = firstAlarmAt, let r = firstEnRouteAt else { return nil }
        return Double(r - a) / 1000
    }

    /// Call → first alarm (Dispositionszeit: how long the control room took to alarm).
    public var callToAlarmSeconds: Double? {
        guard let a = firstAlarmAt else { return nil }
        return Double(a - openedAt) / 1000
    }
}

/// The personal part of an incident record: only in the store, deleted by retention.
public struct PersonalFields: Equatable, Sendable {
    /// The address as the caller gave it (free text).
    public var address: Personal<String>?
    /// Remarks of the dispatcher (free text).
    public var remarks: Personal<String>?
    /// The exact position (millionths of a degree), when the incident was opened with one.
    public var position: Personal<GeoPoint>?
    /// The certificate identity of the dispatcher who opened it ("operator:Anna Schmidt").
    public var openedBy: Personal<String>?
    public init() {}

    public var isEmpty: Bool { address == nil && remarks == nil && position == nil && openedBy == nil }
}

/// A WGS 84 position in millionths of a degree (as the alarm state keeps it).
public struct GeoPoint: Equatable, Sendable {
    public var latE6: Int64
    public var lonE6: Int64
    public init(latE6: Int64, lonE6: Int64) { self.latE6 = latE6; self.lonE6 = lonE6 }
}

/// One unit in one alarm order: its alarm and what followed (FMS status times).
public struct UnitDispatch: Equatable, Sendable {
    public var source: String
    public var incident: String
    public var order: String
    public var unit: String
    public var alarmedAt: Int64
    /// First delivery of any target that reaches the unit (station ACK, page or siren aired).
    public var deliveredAt: Int64?
    public var acknowledgedAt: Int64?
    public var enRouteAt: Int64?
    public var onSceneAt: Int64?
    /// Status 1 or 2 after it was en route or on scene: free again.
    public var freeAt: Int64?
    public var reAlerted: Bool
    /// alerted, acknowledged, unanswered, cancelled.
    public var outcome: String
    public var test: Bool
    /// Who acknowledged on the unit's behalf (a dispatcher's identity, or "status 3 (gateway:…)").
    public var acknowledgedBy: Personal<String>?

    public init(source: String, incident: String, order: String, unit: String, alarmedAt: Int64, test: Bool) {
        self.source = source; self.incident = incident; self.order = order; self.unit = unit
        self.alarmedAt = alarmedAt; self.test = test
        deliveredAt = nil; acknowledgedAt = nil; enRouteAt = nil; onSceneAt = nil; freeAt = nil
        reAlerted = false; outcome = "alerted"; acknowledgedBy = nil
    }

    public var key: DispatchKey { DispatchKey(source: source, order: order, unit: unit) }

    /// Alarm → status 3 (en route).
    public var alarmToEnRouteSeconds: Double? { enRouteAt.map { Double($0 - alarmedAt) / 1000 } }
    /// Alarm → status 4 (on scene).
    public var alarmToOnSceneSeconds: Double? { onSceneAt.map { Double($0 - alarmedAt) / 1000 } }
    /// Status 3 → status 1/2: the time the unit was bound to the incident (utilisation).
    public var boundSeconds: Double? {
        guard let start = enRouteAt ?? onSceneAt, let end = freeAt else { return nil }
        return Double(end - start) / 1000
    }
}

/// Identifies a unit's dispatch: (source, order, unit).
public struct DispatchKey: Hashable, Sendable, Comparable {
    public var source: String
    public var order: String
    public var unit: String
    public init(source: String, order: String, unit: String) { self.source = source; self.order = order; self.unit = unit }
    public static func < (a: Self, b: Self) -> Bool { (a.source, a.order, a.unit) < (b.source, b.order, b.unit) }
}

/// Identifies an incident record: (source, id).
public struct RecordKey: Hashable, Sendable, Comparable {
    public var source: String
    public var id: String
    public init(source: String, id: String) { self.source = source; self.id = id }
    public static func < (a: Self, b: Self) -> Bool { (a.source, a.id) < (b.source, b.id) }
}

extension IncidentRecord {
    public var key: RecordKey { RecordKey(source: source, id: id) }
}

/// A count of incidents in a period, for history known only as counts (Berlin's daily file):
/// `count` incidents of `category` in `area` ("" for the whole source area) in the period that
/// starts at `periodStart` (local midnight for days, as UTC milliseconds).
public struct PeriodCount: Equatable, Sendable {
    public enum Period: String, Sendable, CaseIterable { case hour, day, month }
    public var source: String
    public var period: Period
    public var periodStart: Int64
    /// The period's local date ("2025-01-09"), as the source states it.
    public var localDate: String
    public var category: String
    public var area: String
    public var count: Int64
    public init(source: String, period: Period, periodStart: Int64, localDate: String, category: String, area: String, count: Int64) {
        self.source = source; self.period = period; self.periodStart = periodStart; self.localDate = localDate
        self.category = category; self.area = area; self.count = count
    }
}
