/// The alarm domain's commands: envelope type "alarm.…" with a strict JSON payload
/// (Protocols/alarm.md). Who may send which is decided by the sender's certificate role.
public enum AlarmCommand: Equatable, Sendable {
    case applyRegistry(Registry)
    case openIncident(OpenIncident)
    case closeIncident(IncidentRef)
    case createOrder(CreateOrder)
    case closeOrder(OrderRef)
    case acknowledgeUnit(UnitInOrder)
    case unitStatus(UnitStatus)
    case confirmEscalation(ConfirmEscalation)
    case dismissEscalation(UnitInOrder)
    case targetSent(Receipt)
    case targetDelivered(Receipt)
    case targetFailed(Receipt)
    case lineState(LineReport)
    case lease(LeaseRequest)
    /// Moves the clock so that due deadlines fire (sent by the leader node when one is due).
    case clock
    /// Closed incidents the incident pipeline has stored leave the replicated state (issue 16).
    case archiveIncidents(ArchiveIncidents)

    public struct ArchiveIncidents: Codable, Equatable, Sendable {
        /// 1–500 incidents, each closed with every order closed.
        public var incidents: [IncidentID]
        public init(incidents: [IncidentID]) { self.incidents = incidents }
    }

    /// An incident's place is its area (Stadtteil), or coordinates that the registry maps to one
    /// (the nearest area centre); the address is text for people and is never geocoded.
    public struct OpenIncident: Codable, Equatable, Sendable {
        public var keyword: String
        public var area: AreaID?
        public var position: Position?
        public var address: String
        public var remarks: String?
        public var test: Bool?
        public init(keyword: String, area: AreaID?, position: Position? = nil, address: String, remarks: String? = nil, test: Bool = false) {
            self.keyword = keyword; self.area = area; self.position = position; self.address = address; self.remarks = remarks; self.test = test
        }
    }
    public struct IncidentRef: Codable, Equatable, Sendable {
        public var incident: IncidentID
        public init(incident: IncidentID) { self.incident = incident }
    }
    public struct OrderRef: Codable, Equatable, Sendable {
        public var order: OrderID
        public init(order: OrderID) { self.order = order }
    }
    public struct CreateOrder: Codable, Equatable, Sendable {
        public var incident: IncidentID
        public var units: [UnitID]
        public init(incident: IncidentID, units: [UnitID]) { self.incident = incident; self.units = units }
    }
    public struct UnitInOrder: Codable, Equatable, Sendable {
        public var order: OrderID
        public var unit: UnitID
        public init(order: OrderID, unit: UnitID) { self.order = order; self.unit = unit }
    }
    public struct UnitStatus: Codable, Equatable, Sendable {
        public var unit: UnitID
        public var status: Int
        public init(unit: UnitID, status: Int) { self.unit = unit; self.status = status }
    }
    public struct ConfirmEscalation: Codable, Equatable, Sendable {
        public var order: OrderID
        public var unit: UnitID
        /// nil: the proposed replacement.
        public var replacement: UnitID?
        public init(order: OrderID, unit: UnitID, replacement: UnitID? = nil) { self.order = order; self.unit = unit; self.replacement = replacement }
    }
    /// A gateway's receipt for one round of one target.
    public struct Receipt: Codable, Equatable, Sendable {
        public var order: OrderID
        public var target: TargetRef
        public var round: Int
        public var reason: String?
        public init(order: OrderID, target: TargetRef, round: Int, reason: String? = nil) {
            self.order = order; self.target = target; self.round = round; self.reason = reason
        }
    }
    public struct LineReport: Codable, Equatable, Sendable {
        public var station: StationID
        public var up: Bool
        public var reason: String?
        public init(station: StationID, up: Bool, reason: String? = nil) { self.station = station; self.up = up; self.reason = reason }
    }
    public struct LeaseRequest: Codable, Equatable, Sendable {
        public var network: Network
        /// The gateway instance asking (e.g. "gw-wired-1"); the lease is per instance.
        public var holder: String
        /// The gateway's sink / device side is faulted, with the reason (nil: healthy).
        public var sinkFault: String?
        public init(network: Network, holder: String, sinkFault: String? = nil) { self.network = network; self.holder = holder; self.sinkFault = sinkFault }
    }
    struct Empty: Codable, Equatable, Sendable {}

    /// Every command type with the roles that may send it.
    public static let types: [String: Set<String>] = [
        "alarm.registry.apply": ["operator"], "alarm.incident.open": ["operator"], "alarm.incident.close": ["operator"],
        "alarm.order.create": ["operator"], "alarm.order.close": ["operator"], "alarm.unit.ack": ["operator"],
        "alarm.unit.status": ["operator", "gateway"], "alarm.escalation.confirm": ["operator"],
        "alarm.escalation.dismiss": ["operator"], "alarm.target.sent": ["gateway"], "alarm.target.delivered": ["gateway"],
        "alarm.target.failed": ["gateway"], "alarm.line.state": ["gateway"], "alarm.lease": ["gateway"],
        "alarm.clock": ["node", "operator", "gateway"], "alarm.incident.archive": ["gateway", "operator"],
    ]

    public var type: String {
        switch self {
        case .applyRegistry: "alarm.registry.apply"
        case .openIncident: "alarm.incident.open"
        case .closeIncident: "alarm.incident.close"
        case .createOrder: "alarm.order.create"
        case .closeOrder: "alarm.order.close"
        case .acknowledgeUnit: "alarm.unit.ack"
        case .unitStatus: "alarm.unit.status"
        case .confirmEscalation: "alarm.escalation.confirm"
        case .dismissEscalation: "alarm.escalation.dismiss"
        case .targetSent: "alarm.target.sent"
        case .targetDelivered: "alarm.target.delivered"
        case .targetFailed: "alarm.target.failed"
        case .lineState: "alarm.line.state"
        case .lease: "alarm.lease"
        case .clock: "alarm.clock"
        case .archiveIncidents: "alarm.incident.archive"
        }
    }

    public var payload: [UInt8] {
        switch self {
        case .applyRegistry(let v): StrictJSON.encode(v)
        case .openIncident(let v): StrictJSON.encode(v)
        case .closeIncident(let v): StrictJSON.encode(v)
        case .createOrder(let v): StrictJSON.encode(v)
        case .closeOrder(let v): StrictJSON.encode(v)
        case .acknowledgeUnit(let v), .dismissEscalation(let v): StrictJSON.encode(v)
        case .unitStatus(let v): StrictJSON.encode(v)
        case .confirmEscalation(let v): StrictJSON.encode(v)
        case .targetSent(let v), .targetDelivered(let v), .targetFailed(let v): StrictJSON.encode(v)
        case .lineState(let v): StrictJSON.encode(v)
        case .lease(let v): StrictJSON.encode(v)
        case .clock: StrictJSON.encode(Empty())
        case .archiveIncidents(let v): StrictJSON.encode(v)
        }
    }

    public static func decode(type: String, payload: [UInt8]) throws(AlarmError) -> AlarmCommand {
        func d<T: Codable>(_ t: T.Type) throws(AlarmError) -> T { try StrictJSON.decode(t, from: payload, what: type) }
        switch type {
        case "alarm.registry.apply": return .applyRegistry(try d(Registry.self))
        case "alarm.incident.open": return .openIncident(try d(OpenIncident.self))
        case "alarm.incident.close": return .closeIncident(try d(IncidentRef.self))
        case "alarm.order.create": return .createOrder(try d(CreateOrder.self))
        case "alarm.order.close": return .closeOrder(try d(OrderRef.self))
        case "alarm.unit.ack": return .acknowledgeUnit(try d(UnitInOrder.self))
        case "alarm.unit.status": return .unitStatus(try d(UnitStatus.self))
        case "alarm.escalation.confirm": return .confirmEscalation(try d(ConfirmEscalation.self))
        case "alarm.escalation.dismiss": return .dismissEscalation(try d(UnitInOrder.self))
        case "alarm.target.sent": return .targetSent(try d(Receipt.self))
        case "alarm.target.delivered": return .targetDelivered(try d(Receipt.self))
        case "alarm.target.failed": return .targetFailed(try d(Receipt.self))
        case "alarm.line.state": return .lineState(try d(LineReport.self))
        case "alarm.lease": return .lease(try d(LeaseRequest.self))
        case "alarm.clock": _ = try d(Empty.self); return .clock
        case "alarm.incident.archive": return .archiveIncidents(try d(ArchiveIncidents.self))
        default: throw .unknown("command type \(type)")
        }
    }
}
