/// Read-only questions to the alarm state (client protocol `query`, namespace "alarm"): JSON in,
/// JSON out, answered from a node's applied state (linearizable when the client asks for it).
extension AlarmState {
    public static let queryNames = ["incident", "incidents", "lines", "leases", "order", "overview", "pending", "proposal", "registry", "units"]

    struct IncidentQuery: Codable { var incident: IncidentID }
    struct OrderQuery: Codable { var order: OrderID }
    struct NetworkQuery: Codable { var network: Network }
    struct NoArguments: Codable {}

    public struct IncidentView: Codable, Equatable, Sendable {
        public var incident: Incident
        public var orders: [AlarmOrder]
    }
    public struct UnitView: Codable, Equatable, Sendable {
        public var unit: UnitID
        public var type: String
        public var station: StationID
        public var status: Int
        public var statusName: String
        public var since: UInt64
        public var incident: IncidentID?
        public var available: Bool
    }
    public struct LineView: Codable, Equatable, Sendable {
        public var station: StationID
        public var name: String
        /// "up", "faulted" or "unknown" (never reported).
        public var state: String
        public var since: UInt64?
        public var reason: String?
        public var supervisionSeconds: Int
    }
    public struct Overview: Codable, Equatable, Sendable {
        public var clock: UInt64
        public var registry: String?
        public var openIncidents: Int
        public var openOrders: Int
        public var waitingEscalations: Int
        public var faultedLines: [StationID]
        public var leases: [Network: Lease]
    }

    /// Answers `name` with `payload` (a JSON object; `{}` for questions without arguments).
    public func query(_ name: String, _ payload: [UInt8]) throws(AlarmError) -> [UInt8] {
        let what = "query \(name)"
        switch name {
        case "proposal":
            let q = try StrictJSON.decode(IncidentQuery.self, from: payload, what: what)
            let registry = try requireRegistryForQuery()
            guard let incident = incidents[q.incident] else { throw .unknown("incident \(q.incident)") }
            var excluded = Set<UnitID>()
            for o in incident.orders { for u in orders[o]?.units ?? [] where u.state != .cancelled { excluded.insert(u.unit) } }
            let test = incident.test
            return StrictJSON.encode(try registry.propose(keyword: incident.keyword, area: incident.area,
                                                          isAvailable: { test ? units[$0].map { $0.status != 6 } ?? false : isAvailable($0) },
                                                          excluded: excluded))
        case "incident":
            let q = try StrictJSON.decode(IncidentQuery.self, from: payload, what: what)
            guard let incident = incidents[q.incident] else { throw .unknown("incident \(q.incident)") }
            return StrictJSON.encode(IncidentView(incident: incident, orders: incident.orders.compactMap { orders[$0] }))
        case "incidents":
            _ = try StrictJSON.decode(NoArguments.self, from: payload, what: what)
            return StrictJSON.encode(incidents.keys.sorted().map { incidents[$0]! })
        case "order":
            let q = try StrictJSON.decode(OrderQuery.self, from: payload, what: what)
            guard let order = orders[q.order] else { throw .unknown("order \(q.order)") }
            return StrictJSON.encode(order)
        case "units":
            _ = try StrictJSON.decode(NoArguments.self, from: payload, what: what)
            let registry = try requireRegistryForQuery()
            return StrictJSON.encode(registry.units.map { u in
                let s = units[u.id]!
                return UnitView(unit: u.id, type: u.type, station: u.station, status: s.status, statusName: UnitStatusCode.name(s.status),
                                since: s.since, incident: s.incident, available: isAvailable(u.id))
            })
        case "lines":
            _ = try StrictJSON.decode(NoArguments.self, from: payload, what: what)
            let registry = try requireRegistryForQuery()
            return StrictJSON.encode(registry.stations.compactMap { s -> LineView? in
                guard let line = s.line else { return nil }
                let state = lines[s.id]
                return LineView(station: s.id, name: s.name, state: state.map { $0.up ? "up" : "faulted" } ?? "unknown",
                                since: state?.since, reason: state?.reason, supervisionSeconds: line.supervisionSeconds)
            })
        case "leases":
            _ = try StrictJSON.decode(NoArguments.self, from: payload, what: what)
            return StrictJSON.encode(leases)
        case "pending":
            let q = try StrictJSON.decode(NetworkQuery.self, from: payload, what: what)
            return StrictJSON.encode(PendingInstructions(instructions: pending(q.network), sequence: instructionCount))
        case "registry":
            _ = try StrictJSON.decode(NoArguments.self, from: payload, what: what)
            return StrictJSON.encode(try requireRegistryForQuery())
        case "overview":
            _ = try StrictJSON.decode(NoArguments.self, from: payload, what: what)
            return StrictJSON.encode(Overview(
                clock: clock, registry: registry?.notice, openIncidents: incidents.values.filter { $0.closedAt == nil }.count,
                openOrders: orders.values.filter(\.isOpen).count,
                waitingEscalations: incidents.values.reduce(0) { $0 + $1.escalations.filter { $0.decision == .waiting }.count },
                faultedLines: lines.keys.sorted().filter { lines[$0]?.up == false }, leases: leases))
        default:
            throw .unknown("query \(name) (known: \(Self.queryNames.joined(separator: ", ")))")
        }
    }

    private func requireRegistryForQuery() throws(AlarmError) -> Registry {
        guard let registry else { throw .conflict("no registry has been applied yet (florian alarm registry apply FILE)") }
        return registry
    }
}
