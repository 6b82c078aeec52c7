/// The two independent alarm networks; each has one active gateway at a time (by lease).
public enum Network: String, Codable, Sendable, CaseIterable, CodingKeyRepresentable {
    /// Station alerting over supervised lines (Protocols/station-alert.md).
    case wired
    /// POCSAG pagers and ZVEI sirens over radio transmitters.
    case wireless
}

/// An Einsatz: what happened where. The address is text for people; the area (a Stadtteil) is what
/// the AAO uses — nothing is geocoded.
public struct Incident: Codable, Equatable, Sendable {
    public var id: IncidentID
    public var keyword: String
    public var area: AreaID
    /// The coordinates it was reported with, when it was (the area was mapped from them).
    public var position: Position?
    public var address: String
    public var remarks: String
    /// A Probealarm: marked as such on every device, never escalated into a real alarm.
    public var test: Bool
    public var openedAt: UInt64
    public var openedBy: String
    public var closedAt: UInt64?
    public var closedBy: String?
    public var orders: [OrderID]
    /// Units that did not acknowledge after the re-alarm, and what the operator decided.
    public var escalations: [Escalation]
}

/// A proposal for Nachalarmierung: `unit` did not acknowledge; `replacement` is the next unit of
/// its type in the area's station order (nil: none available). An operator confirms or dismisses.
public struct Escalation: Codable, Equatable, Sendable {
    public enum Decision: String, Codable, Sendable { case waiting, confirmed, dismissed }
    public var order: OrderID
    public var unit: UnitID
    public var type: String
    public var replacement: UnitID?
    public var raisedAt: UInt64
    public var decision: Decision
    public var decidedBy: String?
    /// The Nachalarmierung order created on confirmation.
    public var newOrder: OrderID?
}

/// Where an alarm order goes: a station's line, an alert group's pagers, or a siren.
public enum TargetRef: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    case line(StationID)
    case group(AlertGroupID)
    case siren(SirenID)

    public var network: Network {
        if case .line = self { return .wired }
        return .wireless
    }

    /// "line:FRW1", "group:AG-FF-Nied", "siren:S-Nied-1": the target's name in commands and events.
    public var description: String {
        switch self {
        case .line(let s): "line:\(s)"
        case .group(let g): "group:\(g)"
        case .siren(let s): "siren:\(s)"
        }
    }

    public init(parsing text: String) throws(AlarmError) {
        guard let colon = text.firstIndex(of: ":") else { throw .invalid("target \"\(text.prefix(80))\" (expected line:…, group:… or siren:…)") }
        let rest = String(text[text.index(after: colon)...])
        switch text[..<colon] {
        case "line": self = .line(try StationID(rest))
        case "group": self = .group(try AlertGroupID(rest))
        case "siren": self = .siren(try SirenID(rest))
        default: throw .invalid("target \"\(text.prefix(80))\" (expected line:…, group:… or siren:…)")
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// One target of an order and its delivery state. Each (re-)alarm is a new `round`; a device
/// recognises a repeat of the same (order, round) and shows it once.
public struct AlarmTarget: Codable, Equatable, Sendable {
    public enum State: String, Codable, Sendable {
        /// Issued to the network's gateway, no receipt yet.
        case pending
        /// The gateway handed it to the device or the transmitter queue.
        case sent
        /// Station line: the device ACKed. Pager group / siren: aired by the transmitter.
        case delivered
        /// No receipt by the deadline, the line faulted, or the gateway reported a failure.
        case failed
        /// The order was closed before delivery.
        case cancelled

        public var isFinal: Bool { self == .delivered || self == .failed || self == .cancelled }
    }
    public var target: TargetRef
    /// The units this target alerts.
    public var units: [UnitID]
    /// Added because another target failed (the other network's way to the same crew).
    public var fallback: Bool
    public var round: Int
    public var state: State
    /// The state's instruction counter when the current round was issued (see `AlarmState.instructionCount`).
    public var sequence: UInt64
    /// When the current round was issued.
    public var issuedAt: UInt64
    public var sentAt: UInt64?
    public var deliveredAt: UInt64?
    /// The first delivery of any round (kept across re-alarms): what the control room's
    /// "order → first delivery" figure measures.
    public var firstDeliveredAt: UInt64?
    /// A receipt that came after the deadline had failed the target (the fallback went out anyway).
    public var late: Bool
    public var reason: String?
}

/// A unit in an order and whether its crew acknowledged.
public struct AlertedUnit: Codable, Equatable, Sendable {
    public enum State: String, Codable, Sendable {
        case alerted
        /// Not acknowledged in time; alarmed a second time.
        case reAlerted = "re-alerted"
        /// Status 3 (en route) or an operator's acknowledgement on its behalf.
        case acknowledged
        /// No acknowledgement after the re-alarm: escalated (Nachalarmierung proposed).
        case unanswered
        case cancelled

        public var isFinal: Bool { self == .acknowledged || self == .unanswered || self == .cancelled }
    }
    public var unit: UnitID
    public var state: State
    public var alertedAt: UInt64
    public var reAlertedAt: UInt64?
    public var acknowledgedAt: UInt64?
    /// "status 3" or the operator's identity.
    public var acknowledgedBy: String?
}

/// An alarm order: the units of one incident alerted together, the targets that reach them, and
/// its lifecycle (open → closed when every target and unit is final, or an operator closes it).
public struct AlarmOrder: Codable, Equatable, Sendable {
    public var id: OrderID
    public var incident: IncidentID
    public var test: Bool
    public var createdAt: UInt64
    public var createdBy: String
    /// Nachalarmierung for another order's unit.
    public var followUpOf: OrderID?
    public var units: [AlertedUnit]
    public var targets: [AlarmTarget]
    public var closedAt: UInt64?
    /// "complete" (every unit acknowledged), "incomplete" or "closed by <operator>".
    public var result: String?

    public var isOpen: Bool { closedAt == nil }
    func targetIndex(_ ref: TargetRef) -> Int? { targets.firstIndex { $0.target == ref } }
    func unitIndex(_ unit: UnitID) -> Int? { units.firstIndex { $0.unit == unit } }
}

/// A gateway's lease on its network; only the holder sends. `epoch` grows with every new holder.
public struct Lease: Codable, Equatable, Sendable {
    public var holder: String
    public var sender: String
    public var epoch: UInt64
    public var expiresAt: UInt64
    /// The gateway's own report on its transmitter sink / device side (nil: healthy).
    public var sinkFault: String?
    /// Set when the lease ran out without renewal (the network has no active gateway).
    public var expired: Bool
}

/// A station line as the wired gateway last reported it.
public struct LineState: Codable, Equatable, Sendable {
    public var up: Bool
    public var since: UInt64
    public var reason: String?
}

/// A unit's FMS/TETRA-like status (1–9) and its binding to an incident.
public struct UnitState: Codable, Equatable, Sendable {
    public var status: Int
    public var since: UInt64
    /// The incident it is alarmed for; it is not proposed elsewhere until it is free again.
    public var incident: IncidentID?
    /// It reported 3 or higher since it was alarmed (so a later 1 or 2 means back in service).
    public var engaged: Bool
}
