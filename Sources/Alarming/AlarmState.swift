import Foundation

/// A message the alarm state machine publishes into a bus topic while applying a command: the
/// dispatch instructions the gateways consume (`alarm/wired`, `alarm/wireless`) and the event feed
/// of the control room (`alarm/events`). Part of the deterministic output of `apply`.
public struct Publication: Equatable, Sendable {
    public var topic: String
    public var payload: [UInt8]
}

/// The topics the alarm state machine publishes to.
public enum AlarmTopic {
    public static let events = "alarm/events"
    public static func instructions(_ network: Network) -> String { "alarm/\(network.rawValue)" }
}

/// The alarm dispatcher's replicated state: registry, unit status, incidents, alarm orders with
/// their per-target delivery state, station lines and gateway leases — a deterministic reducer
/// over committed commands (DESIGN.md). Its only clock is the largest command timestamp applied;
/// deadlines fire when a command moves that clock past them (the leader sends `alarm.clock` when
/// one is due), so tests drive every deadline on virtual time.
public struct AlarmState: Codable, Equatable, Sendable {
    public private(set) var clock: UInt64 = 0
    public private(set) var registry: Registry?
    public private(set) var units: [UnitID: UnitState] = [:]
    public private(set) var lines: [StationID: LineState] = [:]
    public private(set) var leases: [Network: Lease] = [:]
    /// Per network, the gateway identities that have held its lease: only they may report
    /// receipts and line states for it (a paging gateway's certificate cannot confirm a station).
    /// Kept sorted (an array, not a set: the state's JSON must be the same bytes on every node).
    public private(set) var gateways: [Network: [String]] = [:]
    public private(set) var incidents: [IncidentID: Incident] = [:]
    public private(set) var orders: [OrderID: AlarmOrder] = [:]
    public private(set) var incidentCount: UInt64 = 0
    /// Instructions issued so far; each carries its number (`Instruction.sequence`), so a gateway
    /// taking over skips what the `pending` query already gave it.
    public private(set) var instructionCount: UInt64 = 0
    /// Closed incidents and their orders leave the state when the incident pipeline has stored them
    /// (`alarm.incident.archive`); without a pipeline they leave this long after closing, so that a
    /// cluster run without one does not grow without bound either.
    public static let closedRetentionMillis: UInt64 = 30 * 24 * 3600 * 1000

    /// The earliest time at which something is due: a target's receipt, a unit's acknowledgement,
    /// a lease's renewal; nil when nothing waits. Kept current by `apply` and `advance`.
    public private(set) var nextDeadline: UInt64?

    public init() {}

    // MARK: - Applying

    /// Applies one command from `sender` ("role:identity", as the node records it) at `timestamp`.
    /// Deadlines up to `timestamp` fire first. Returns the command's JSON result or why nothing
    /// changed; appends what it publishes to `publications`.
    public mutating func apply(type: String, sender: String, timestamp: UInt64, payload: [UInt8],
                               publications: inout [Publication]) -> Result<[UInt8], AlarmError> {
        advance(to: timestamp, publications: &publications)
        var effects = Effects()
        let result: Result<[UInt8], AlarmError>
        do throws(AlarmError) {
            let role = sender.prefix { $0 != ":" }
            guard let allowed = AlarmCommand.types[type] else { throw .unknown("command type \(type)") }
            guard allowed.contains(String(role)) else {
                throw .forbidden("\(type) needs the role \(allowed.sorted().joined(separator: " or ")), the sender is \(role)")
            }
            let command = try AlarmCommand.decode(type: type, payload: payload)
            result = .success(try execute(command, sender: sender, effects: &effects))
        } catch {
            return .failure(error)
        }
        settle(effects: &effects)
        nextDeadline = computeNextDeadline()
        publications += effects.publications
        return result
    }

    /// Moves the clock to `timestamp` (never back) and fires every deadline up to it, in time order.
    public mutating func advance(to timestamp: UInt64, publications: inout [Publication]) {
        guard timestamp > clock else { return }
        var effects = Effects()
        while let due = computeNextDeadline(), due <= timestamp {
            clock = max(clock, due)
            fireDeadlines(effects: &effects)
            settle(effects: &effects)
        }
        clock = timestamp
        settle(effects: &effects)
        prune()
        nextDeadline = computeNextDeadline()
        publications += effects.publications
    }

    private func computeNextDeadline() -> UInt64? {
        var best: UInt64?
        func consider(_ t: UInt64) { if best == nil || t < best! { best = t } }
        for order in orders.values where order.isOpen {
            for target in order.targets where !target.state.isFinal { consider(targetDeadline(target)) }
            for unit in order.units where !unit.state.isFinal { consider(unitDeadline(unit, order: order)) }
        }
        for lease in leases.values where !lease.expired { consider(lease.expiresAt) }
        return best
    }

    // MARK: - Commands

    struct Effects {
        var publications: [Publication] = []
        var touched: Set<OrderID> = []
        mutating func event(_ e: AlarmEvent) { publications.append(Publication(topic: AlarmTopic.events, payload: StrictJSON.encode(e))) }
    }

    private mutating func execute(_ command: AlarmCommand, sender: String, effects: inout Effects) throws(AlarmError) -> [UInt8] {
        switch command {
        case .applyRegistry(let r): return try applyRegistry(r, sender: sender, effects: &effects)
        case .openIncident(let c): return try openIncident(c, sender: sender, effects: &effects)
        case .closeIncident(let c): try closeIncident(c.incident, sender: sender, effects: &effects)
        case .createOrder(let c):
            let id = try createOrder(incident: c.incident, units: c.units, followUpOf: nil, sender: sender, effects: &effects)
            return StrictJSON.encode(["order": id.rawValue])
        case .closeOrder(let c):
            try closeOrder(c.order, by: sender, effects: &effects)
            return StrictJSON.encode(["order": c.order.rawValue])
        case .acknowledgeUnit(let c): try acknowledge(c.unit, in: c.order, by: sender, effects: &effects)
        case .unitStatus(let c): try unitStatus(c, sender: sender, effects: &effects)
        case .confirmEscalation(let c): return try confirmEscalation(c, sender: sender, effects: &effects)
        case .dismissEscalation(let c): try dismissEscalation(c, sender: sender, effects: &effects)
        case .targetSent(let r):
            try requireGateway(sender, for: r.target.network)
            try receipt(r, .sent, effects: &effects)
        case .targetDelivered(let r):
            try requireGateway(sender, for: r.target.network)
            try receipt(r, .delivered, effects: &effects)
        case .targetFailed(let r):
            try requireGateway(sender, for: r.target.network)
            try receipt(r, .failed, effects: &effects)
        case .lineState(let r):
            try requireGateway(sender, for: .wired)
            try lineState(r, effects: &effects)
        case .lease(let r): return try lease(r, sender: sender, effects: &effects)
        case .clock: break
        case .archiveIncidents(let c): return try archive(c, sender: sender, effects: &effects)
        }
        return StrictJSON.encode([String: String]())
    }

    private func requireGateway(_ sender: String, for network: Network) throws(AlarmError) {
        guard gateways[network]?.contains(sender) == true else {
            throw .forbidden("\(sender) has never held the \(network.rawValue) network's lease and may not report for it")
        }
    }

    private func requireRegistry() throws(AlarmError) -> Registry {
        guard let registry else { throw .conflict("no registry has been applied yet (florian alarm registry apply FILE)") }
        return registry
    }

    private mutating func applyRegistry(_ r: Registry, sender: String, effects: inout Effects) throws(AlarmError) -> [UInt8] {
        let registry = try r.validated()
        // A unit that is still alarmed must stay in the registry: its order refers to it.
        let kept = Set(registry.units.map(\.id))
        for order in orders.values where order.isOpen {
            for u in order.units where !kept.contains(u.unit) {
                throw .conflict("unit \(u.unit) is in open order \(order.id); close the order before removing the unit")
            }
        }
        self.registry = registry
        var next: [UnitID: UnitState] = [:]
        for u in registry.units { next[u.id] = units[u.id] ?? UnitState(status: 2, since: clock, incident: nil, engaged: false) }
        units = next
        let withLines = Set(registry.stations.filter { $0.line != nil }.map(\.id))
        lines = lines.filter { withLines.contains($0.key) }
        effects.event(AlarmEvent("registry.applied", at: clock, by: sender,
                                 detail: "\(registry.stations.count) stations, \(registry.units.count) units, \(registry.areas.count) areas"))
        return StrictJSON.encode(["stations": registry.stations.count, "units": registry.units.count, "areas": registry.areas.count])
    }

    private mutating func openIncident(_ c: AlarmCommand.OpenIncident, sender: String, effects: inout Effects) throws(AlarmError) -> [UInt8] {
        let registry = try requireRegistry()
        let area: AreaID
        switch (c.area, c.position) {
        case let (given?, _):
            guard registry.areas.contains(where: { $0.id == given }) else {
                throw .unknown("area \(given)\(Self.nearest(given.rawValue, registry.areas.map(\.id.rawValue)))")
            }
            area = given
        case let (nil, position?):
            if let p = position.problem { throw .invalid("position: \(p)") }
            guard let found = registry.area(at: position) else {
                throw .unknown("area for position \(position.latE6),\(position.lonE6) (farther than \(Position.maxAreaDistanceMetres / 1000) km from every area centre)")
            }
            area = found
        case (nil, nil):
            throw .invalid("an incident needs an area or a position")
        }
        guard registry.rule(keyword: c.keyword, area: area) != nil else {
            throw .unknown("keyword \(c.keyword)\(Self.nearest(c.keyword, Array(Set(registry.aao.map(\.keyword))).sorted()))")
        }
        try Registry.checkText(c.address, "address", max: 200)
        try Registry.checkText(c.remarks ?? "", "remarks", max: 500, allowEmpty: true)
        incidentCount += 1
        let digits = String(incidentCount)
        let id = try IncidentID("E-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits)
        incidents[id] = Incident(id: id, keyword: c.keyword, area: area, position: c.position, address: c.address, remarks: c.remarks ?? "",
                                 test: c.test ?? false, openedAt: clock, openedBy: sender, closedAt: nil, closedBy: nil,
                                 orders: [], escalations: [])
        var e = AlarmEvent("incident.opened", at: clock, by: sender, detail: "\(c.keyword) \(area), \(c.address)")
        e.incident = id
        e.keyword = c.keyword
        e.area = area
        e.position = c.position
        e.address = c.address
        e.remarks = (c.remarks ?? "").isEmpty ? nil : c.remarks
        e.test = c.test == true ? true : nil
        effects.event(e)
        return StrictJSON.encode(["incident": id.rawValue, "area": area.rawValue])
    }

    /// Drops closed incidents (and their orders) that the pipeline has stored. Incidents already
    /// gone are reported as such (a retry is harmless); open ones are refused by name.
    private mutating func archive(_ c: AlarmCommand.ArchiveIncidents, sender: String, effects: inout Effects) throws(AlarmError) -> [UInt8] {
        guard (1...500).contains(c.incidents.count) else { throw .invalid("archive takes 1–500 incidents, got \(c.incidents.count)") }
        for id in c.incidents {
            guard let incident = incidents[id] else { continue }
            guard incident.closedAt != nil, incident.orders.allSatisfy({ orders[$0]?.isOpen != true }) else {
                throw .conflict("incident \(id) is still open and cannot be archived")
            }
        }
        var archived: [String] = [], gone: [String] = []
        for id in c.incidents {
            guard let incident = incidents[id] else { gone.append(id.rawValue); continue }
            for o in incident.orders { orders[o] = nil }
            incidents[id] = nil
            archived.append(id.rawValue)
        }
        if !archived.isEmpty {
            let e = AlarmEvent("incidents.archived", at: clock, by: sender, detail: "\(archived.count) closed incident(s) stored by the pipeline left the state")
            effects.event(e)
        }
        return StrictJSON.encode(["archived": archived, "gone": gone])
    }

    private mutating func closeIncident(_ id: IncidentID, sender: String, effects: inout Effects) throws(AlarmError) {
        guard var incident = incidents[id] else { throw .unknown("incident \(id)") }
        guard incident.closedAt == nil else { throw .conflict("incident \(id) is already closed") }
        for o in incident.orders where orders[o]?.isOpen == true { try closeOrder(o, by: sender, effects: &effects) }
        incident.closedAt = clock
        incident.closedBy = sender
        for i in incident.escalations.indices where incident.escalations[i].decision == .waiting {
            incident.escalations[i].decision = .dismissed
            incident.escalations[i].decidedBy = sender
        }
        incidents[id] = incident
        for (unit, state) in units where state.incident == id { units[unit]!.incident = nil }
        var e = AlarmEvent("incident.closed", at: clock, by: sender)
        e.incident = id
        effects.event(e)
    }

    /// Creates an order for `units` of `incident` and issues its targets.
    private mutating func createOrder(incident id: IncidentID, units requested: [UnitID], followUpOf: OrderID?,
                                      sender: String, effects: inout Effects) throws(AlarmError) -> OrderID {
        let registry = try requireRegistry()
        guard var incident = incidents[id] else { throw .unknown("incident \(id)") }
        guard incident.closedAt == nil else { throw .conflict("incident \(id) is closed") }
        guard !requested.isEmpty else { throw .invalid("an alarm order needs at least one unit") }
        guard requested.count <= 64 else { throw .invalid("an alarm order takes at most 64 units") }
        guard Set(requested).count == requested.count else { throw .invalid("a unit is listed twice") }
        var regUnits: [Registry.Unit] = []
        for u in requested {
            guard let unit = registry.unit(u) else {
                throw .unknown("unit \(u)\(Self.nearest(u.rawValue, registry.units.map(\.id.rawValue)))")
            }
            let state = units[u]!
            if !incident.test {
                if let other = state.incident, other != id { throw .conflict("unit \(u) is alarmed for incident \(other)") }
                if state.incident == id, incident.orders.contains(where: { orders[$0]?.units.contains { $0.unit == u && !$0.state.isFinal } == true }) {
                    throw .conflict("unit \(u) is already being alarmed for this incident")
                }
                guard [1, 2].contains(state.status) || state.incident == id else {
                    throw .conflict("unit \(u) has status \(state.status) (\(UnitStatusCode.name(state.status))) and is not available")
                }
            }
            regUnits.append(unit)
        }
        let orderID = try OrderID("\(id)/\(incident.orders.count + 1)")
        var order = AlarmOrder(id: orderID, incident: id, test: incident.test, createdAt: clock, createdBy: sender, followUpOf: followUpOf,
                               units: regUnits.map { AlertedUnit(unit: $0.id, state: .alerted, alertedAt: clock) },
                               targets: [], closedAt: nil, result: nil)
        for unit in regUnits {
            let station = registry.station(unit.station)!
            var refs: [TargetRef] = []
            if station.line != nil { refs.append(.line(station.id)) }
            refs += unit.groups.map { .group($0) }
            refs += unit.sirens.map { .siren($0) }
            for ref in refs { addTarget(ref, unit: unit.id, fallback: false, to: &order) }
            // A line already known to be down: its fallback groups go out at once.
            if station.line != nil, lines[station.id]?.up == false {
                for g in station.fallbackGroups { addTarget(.group(g), unit: unit.id, fallback: true, to: &order) }
            }
        }
        if !incident.test {
            for u in requested { units[u]!.incident = id; units[u]!.engaged = false }
        }
        incident.orders.append(orderID)
        incidents[id] = incident
        orders[orderID] = order
        var e = AlarmEvent("order.created", at: clock, by: sender, detail: incident.keyword + " " + incident.area.rawValue)
        e.incident = id
        e.order = orderID
        e.units = requested
        e.test = incident.test ? true : nil
        effects.event(e)
        for t in order.targets where t.state == .pending { issue(orderID, t.target, effects: &effects) }
        effects.touched.insert(orderID)
        return orderID
    }

    private func addTarget(_ ref: TargetRef, unit: UnitID, fallback: Bool, to order: inout AlarmOrder) {
        if let i = order.targetIndex(ref) {
            if !order.targets[i].units.contains(unit) { order.targets[i].units.append(unit) }
            return
        }
        order.targets.append(AlarmTarget(target: ref, units: [unit], fallback: fallback, round: 1, state: .pending, sequence: 0, issuedAt: clock,
                                         sentAt: nil, deliveredAt: nil, firstDeliveredAt: nil, late: false, reason: nil))
    }

    /// Publishes the instruction for the target's current round to its network's gateway.
    private mutating func issue(_ orderID: OrderID, _ ref: TargetRef, effects: inout Effects) {
        guard var order = orders[orderID], let i = order.targetIndex(ref) else { return }
        instructionCount += 1
        order.targets[i].sequence = instructionCount
        orders[orderID] = order
        guard let instruction = instruction(order: orderID, target: ref) else { return }
        effects.publications.append(Publication(topic: AlarmTopic.instructions(ref.network), payload: StrictJSON.encode(instruction)))
        var e = AlarmEvent("target.issued", at: clock)
        e.incident = instruction.incident
        e.order = orderID
        e.target = ref
        e.round = instruction.round
        e.network = ref.network
        e.fallback = instruction.fallback ? true : nil
        effects.event(e)
    }

    private mutating func closeOrder(_ id: OrderID, by sender: String, effects: inout Effects) throws(AlarmError) {
        guard var order = orders[id] else { throw .unknown("order \(id)") }
        guard order.isOpen else { throw .conflict("order \(id) is already closed") }
        for i in order.targets.indices where !order.targets[i].state.isFinal { order.targets[i].state = .cancelled }
        for i in order.units.indices where !order.units[i].state.isFinal { order.units[i].state = .cancelled }
        order.closedAt = clock
        order.result = "closed by \(sender)"
        orders[id] = order
        var e = AlarmEvent("order.closed", at: clock, by: sender, detail: order.result)
        e.incident = order.incident
        e.order = id
        effects.event(e)
    }

    private mutating func acknowledge(_ unit: UnitID, in orderID: OrderID, by sender: String, effects: inout Effects) throws(AlarmError) {
        guard var order = orders[orderID] else { throw .unknown("order \(orderID)") }
        guard let i = order.unitIndex(unit) else { throw .unknown("unit \(unit) in order \(orderID)") }
        guard order.isOpen, !order.units[i].state.isFinal || order.units[i].state == .unanswered else {
            throw .conflict("unit \(unit) in order \(orderID) is \(order.units[i].state.rawValue)")
        }
        markAcknowledged(&order, i, by: sender, effects: &effects)
        orders[orderID] = order
    }

    private mutating func markAcknowledged(_ order: inout AlarmOrder, _ i: Int, by: String, effects: inout Effects) {
        order.units[i].state = .acknowledged
        order.units[i].acknowledgedAt = clock
        order.units[i].acknowledgedBy = by
        effects.touched.insert(order.id)
        var e = AlarmEvent("unit.acknowledged", at: clock, by: by)
        e.incident = order.incident
        e.order = order.id
        e.unit = order.units[i].unit
        e.latencyMillis = clock - order.createdAt
        effects.event(e)
        // An escalation still waiting for this unit is void now.
        if var incident = incidents[order.incident],
           let k = incident.escalations.firstIndex(where: { $0.order == order.id && $0.unit == order.units[i].unit && $0.decision == .waiting }) {
            incident.escalations[k].decision = .dismissed
            incident.escalations[k].decidedBy = by
            incidents[incident.id] = incident
        }
    }

    private mutating func unitStatus(_ c: AlarmCommand.UnitStatus, sender: String, effects: inout Effects) throws(AlarmError) {
        let registry = try requireRegistry()
        guard var state = units[c.unit] else { throw .unknown("unit \(c.unit)\(Self.nearest(c.unit.rawValue, registry.units.map(\.id.rawValue)))") }
        guard (1...9).contains(c.status) else { throw .invalid("status \(c.status) (allowed 1–9)") }
        let previous = state.status
        state.status = c.status
        state.since = clock
        if c.status >= 3 && c.status != 5 && c.status != 6 { state.engaged = true }
        if let incident = state.incident {
            if [1, 2].contains(c.status), state.engaged { state.incident = nil; state.engaged = false }
            if c.status == 6 { state.incident = nil }
            // Status 3 (en route) acknowledges the alarm of the newest open order for this unit.
            if c.status == 3, let orderID = incidents[incident]?.orders.last(where: { orders[$0]?.isOpen == true && orders[$0]?.unitIndex(c.unit) != nil }),
               var order = orders[orderID], let i = order.unitIndex(c.unit), !order.units[i].state.isFinal || order.units[i].state == .unanswered {
                markAcknowledged(&order, i, by: "status 3 (\(sender))", effects: &effects)
                orders[orderID] = order
            }
        }
        units[c.unit] = state
        var e = AlarmEvent("unit.status", at: clock, by: sender, detail: "\(previous) → \(c.status) \(UnitStatusCode.name(c.status))")
        e.unit = c.unit
        e.status = c.status
        e.incident = state.incident
        effects.event(e)
    }

    private mutating func confirmEscalation(_ c: AlarmCommand.ConfirmEscalation, sender: String, effects: inout Effects) throws(AlarmError) -> [UInt8] {
        guard let order = orders[c.order], var incident = incidents[order.incident] else { throw .unknown("order \(c.order)") }
        guard let k = incident.escalations.firstIndex(where: { $0.order == c.order && $0.unit == c.unit }) else {
            throw .unknown("escalation for unit \(c.unit) in order \(c.order)")
        }
        guard incident.escalations[k].decision == .waiting else { throw .conflict("the escalation for \(c.unit) is already \(incident.escalations[k].decision.rawValue)") }
        guard let replacement = c.replacement ?? incident.escalations[k].replacement else {
            throw .conflict("no unit of type \(incident.escalations[k].type) is available; name one with replacement")
        }
        let newOrder = try createOrder(incident: incident.id, units: [replacement], followUpOf: c.order, sender: sender, effects: &effects)
        incident = incidents[order.incident]!
        incident.escalations[k].decision = .confirmed
        incident.escalations[k].decidedBy = sender
        incident.escalations[k].newOrder = newOrder
        incident.escalations[k].replacement = replacement
        incidents[incident.id] = incident
        return StrictJSON.encode(["order": newOrder.rawValue])
    }

    private mutating func dismissEscalation(_ c: AlarmCommand.UnitInOrder, sender: String, effects: inout Effects) throws(AlarmError) {
        guard let order = orders[c.order], var incident = incidents[order.incident] else { throw .unknown("order \(c.order)") }
        guard let k = incident.escalations.firstIndex(where: { $0.order == c.order && $0.unit == c.unit }) else {
            throw .unknown("escalation for unit \(c.unit) in order \(c.order)")
        }
        guard incident.escalations[k].decision == .waiting else { throw .conflict("the escalation for \(c.unit) is already \(incident.escalations[k].decision.rawValue)") }
        incident.escalations[k].decision = .dismissed
        incident.escalations[k].decidedBy = sender
        incidents[incident.id] = incident
        var e = AlarmEvent("escalation.dismissed", at: clock, by: sender)
        e.incident = incident.id
        e.order = c.order
        e.unit = c.unit
        effects.event(e)
    }

    private mutating func receipt(_ r: AlarmCommand.Receipt, _ state: AlarmTarget.State, effects: inout Effects) throws(AlarmError) {
        guard var order = orders[r.order] else { throw .unknown("order \(r.order)") }
        guard let i = order.targetIndex(r.target) else { throw .unknown("target \(r.target) in order \(r.order)") }
        guard r.round >= 1, r.round <= order.targets[i].round else { throw .invalid("round \(r.round) of \(r.target) in \(r.order) was never issued") }
        try Registry.checkText(r.reason ?? "", "reason", max: 200, allowEmpty: true)
        var t = order.targets[i]
        // Receipts for an earlier round, or after the target is final, are recorded only when they
        // add something (a late delivery after a deadline failure).
        let current = r.round == t.round
        switch state {
        case .sent:
            guard current, t.state == .pending else { return }
            t.state = .sent
            t.sentAt = clock
        case .delivered:
            // Delivered after the deadline failed it: recorded as late (the fallback went out).
            // A receipt for an earlier round while a new round waits, or after cancelling: stale.
            switch t.state {
            case .pending, .sent: guard current else { return }
            case .failed: t.late = true
            case .delivered, .cancelled: return
            }
            t.state = .delivered
            t.deliveredAt = clock
            if t.firstDeliveredAt == nil { t.firstDeliveredAt = clock }
        case .failed:
            guard current, !t.state.isFinal else { return }
            t.state = .failed
            t.reason = r.reason ?? "reported failed by the gateway"
        default:
            return
        }
        order.targets[i] = t
        orders[r.order] = order
        effects.touched.insert(r.order)
        var e = AlarmEvent("target.\(state.rawValue)", at: clock, detail: state == .failed ? t.reason : nil)
        e.incident = order.incident
        e.order = r.order
        e.target = r.target
        e.round = r.round
        e.network = r.target.network
        e.late = t.late ? true : nil
        if state == .delivered {
            e.latencyMillis = clock - t.issuedAt
            e.units = t.units
        }
        effects.event(e)
        if state == .failed { fallback(for: r.target, in: r.order, effects: &effects) }
    }

    private mutating func lineState(_ r: AlarmCommand.LineReport, effects: inout Effects) throws(AlarmError) {
        let registry = try requireRegistry()
        guard let station = registry.station(r.station), station.line != nil else {
            throw .unknown("station line \(r.station)")
        }
        try Registry.checkText(r.reason ?? "", "reason", max: 200, allowEmpty: true)
        let before = lines[r.station]
        if before?.up == r.up { return }
        lines[r.station] = LineState(up: r.up, since: clock, reason: r.reason)
        var e = AlarmEvent(r.up ? "line.up" : "line.faulted", at: clock, detail: r.reason)
        e.station = r.station
        e.network = .wired
        effects.event(e)
        guard !r.up else { return }
        // Every open order waiting on this line goes out over the station's fallback groups now.
        for id in orders.keys.sorted() where orders[id]!.isOpen {
            var order = orders[id]!
            guard let i = order.targetIndex(.line(r.station)), !order.targets[i].state.isFinal else { continue }
            order.targets[i].state = .failed
            order.targets[i].reason = "line faulted" + (r.reason.map { ": \($0)" } ?? "")
            orders[id] = order
            effects.touched.insert(id)
            var f = AlarmEvent("target.failed", at: clock, detail: order.targets[i].reason)
            f.incident = order.incident
            f.order = id
            f.target = .line(r.station)
            f.round = order.targets[i].round
            f.network = .wired
            effects.event(f)
            fallback(for: .line(r.station), in: id, effects: &effects)
        }
    }

    private mutating func lease(_ r: AlarmCommand.LeaseRequest, sender: String, effects: inout Effects) throws(AlarmError) -> [UInt8] {
        let registry = try requireRegistry()
        try Registry.checkText(r.holder, "holder", max: 64)
        try Registry.checkText(r.sinkFault ?? "", "sinkFault", max: 200, allowEmpty: true)
        let ttl = UInt64(registry.timing.leaseSeconds) * 1000
        var granted = false
        if var lease = leases[r.network], !lease.expired, clock < lease.expiresAt {
            if lease.holder == r.holder {
                granted = true
                lease.expiresAt = clock + ttl
                if lease.sinkFault != r.sinkFault {
                    var e = AlarmEvent(r.sinkFault == nil ? "gateway.sink.ok" : "gateway.sink.faulted", at: clock, by: sender, detail: r.sinkFault)
                    e.network = r.network
                    e.holder = r.holder
                    effects.event(e)
                }
                lease.sinkFault = r.sinkFault
                leases[r.network] = lease
            }
        } else {
            granted = true
            let epoch = (leases[r.network]?.epoch ?? 0) + 1
            leases[r.network] = Lease(holder: r.holder, sender: sender, epoch: epoch, expiresAt: clock + ttl, sinkFault: r.sinkFault, expired: false)
            if !(gateways[r.network] ?? []).contains(sender) {
                gateways[r.network, default: []].append(sender)
                gateways[r.network]!.sort()
            }
            var e = AlarmEvent("gateway.active", at: clock, by: sender, detail: r.sinkFault)
            e.network = r.network
            e.holder = r.holder
            e.epoch = epoch
            effects.event(e)
        }
        let lease = leases[r.network]!
        return StrictJSON.encode(LeaseAnswer(granted: granted, holder: lease.holder, epoch: lease.epoch, expiresAt: lease.expiresAt, ttlMillis: ttl))
    }

    // MARK: - Deadlines

    private func targetDeadline(_ t: AlarmTarget) -> UInt64 {
        let timing = registry?.timing ?? Registry.Timing()
        let seconds = switch t.target {
        case .line: timing.lineAckSeconds
        case .group: timing.pageAirSeconds
        case .siren: timing.sirenAirSeconds
        }
        return t.issuedAt + UInt64(seconds) * 1000
    }

    private func unitDeadline(_ u: AlertedUnit, order: AlarmOrder) -> UInt64 {
        let timing = registry?.timing ?? Registry.Timing()
        let kind = registry?.unit(u.unit).flatMap { registry?.station($0.station) }?.kind
        let seconds = kind == .volunteer ? timing.volunteerAckSeconds : timing.professionalAckSeconds
        return (u.reAlertedAt ?? u.alertedAt) + UInt64(seconds) * 1000
    }

    /// Fires everything due at `clock`, in a fixed order (orders by id, targets and units in order).
    private mutating func fireDeadlines(effects: inout Effects) {
        for network in Network.allCases {
            guard var lease = leases[network], !lease.expired, lease.expiresAt <= clock else { continue }
            lease.expired = true
            leases[network] = lease
            var e = AlarmEvent("gateway.lost", at: clock, detail: "\(lease.holder) stopped renewing its lease")
            e.network = network
            e.holder = lease.holder
            effects.event(e)
        }
        for id in orders.keys.sorted() where orders[id]!.isOpen {
            var order = orders[id]!
            var failed: [TargetRef] = []
            for i in order.targets.indices where !order.targets[i].state.isFinal && targetDeadline(order.targets[i]) <= clock {
                order.targets[i].state = .failed
                order.targets[i].reason = order.targets[i].target.network == .wired ? "no ACK from the station in time" : "not aired in time"
                failed.append(order.targets[i].target)
                var e = AlarmEvent("target.failed", at: clock, detail: order.targets[i].reason)
                e.incident = order.incident
                e.order = id
                e.target = order.targets[i].target
                e.round = order.targets[i].round
                e.network = order.targets[i].target.network
                effects.event(e)
            }
            var reAlert: [UnitID] = []
            var unanswered: [UnitID] = []
            for i in order.units.indices where !order.units[i].state.isFinal && unitDeadline(order.units[i], order: order) <= clock {
                if order.units[i].state == .alerted && !order.test {
                    order.units[i].state = .reAlerted
                    order.units[i].reAlertedAt = clock
                    reAlert.append(order.units[i].unit)
                } else {
                    order.units[i].state = .unanswered
                    unanswered.append(order.units[i].unit)
                }
            }
            orders[id] = order
            effects.touched.insert(id)
            for ref in failed { fallback(for: ref, in: id, effects: &effects) }
            for unit in reAlert { reAlarm(unit, in: id, effects: &effects) }
            for unit in unanswered { escalate(unit, in: id, effects: &effects) }
        }
    }

    /// A failed target's crews are reached over the other network: a line's station fallback
    /// groups; a group's or siren's units' station lines (when up).
    private mutating func fallback(for ref: TargetRef, in id: OrderID, effects: inout Effects) {
        guard let registry, var order = orders[id], order.isOpen, let i = order.targetIndex(ref) else { return }
        let crews = order.targets[i].units
        var added: [TargetRef] = []
        for unit in crews {
            guard let u = registry.unit(unit), let station = registry.station(u.station) else { continue }
            let candidates: [TargetRef]
            switch ref {
            case .line: candidates = station.fallbackGroups.map { .group($0) }
            case .group, .siren: candidates = station.line != nil && lines[station.id]?.up != false ? [.line(station.id)] : []
            }
            for c in candidates {
                if order.targetIndex(c) == nil { added.append(c) }
                addTarget(c, unit: unit, fallback: true, to: &order)
            }
        }
        orders[id] = order
        for c in added { issue(id, c, effects: &effects) }
        if added.isEmpty && order.targets[i].state == .failed {
            var e = AlarmEvent("fallback.none", at: clock, detail: "no other way to reach the crews of \(ref)")
            e.incident = order.incident
            e.order = id
            e.target = ref
            effects.event(e)
        }
    }

    /// Alarms a unit a second time: a new round on each of its targets that is not waiting.
    private mutating func reAlarm(_ unit: UnitID, in id: OrderID, effects: inout Effects) {
        guard var order = orders[id] else { return }
        var reissued: [TargetRef] = []
        for i in order.targets.indices where order.targets[i].units.contains(unit) && order.targets[i].state != .cancelled {
            // A target still waiting for this round's receipt is not sent again.
            guard order.targets[i].state.isFinal else { continue }
            if order.targets[i].target.network == .wired, case .line(let s) = order.targets[i].target, lines[s]?.up == false { continue }
            order.targets[i].round += 1
            order.targets[i].state = .pending
            order.targets[i].issuedAt = clock
            order.targets[i].sentAt = nil
            order.targets[i].deliveredAt = nil
            order.targets[i].late = false
            order.targets[i].reason = nil
            reissued.append(order.targets[i].target)
        }
        orders[id] = order
        var e = AlarmEvent("unit.re-alerted", at: clock, detail: "no acknowledgement in time")
        e.incident = order.incident
        e.order = id
        e.unit = unit
        effects.event(e)
        for ref in reissued { issue(id, ref, effects: &effects) }
    }

    /// Proposes the next unit of the same type (Nachalarmierung), for an operator to confirm.
    private mutating func escalate(_ unit: UnitID, in id: OrderID, effects: inout Effects) {
        guard let registry, let order = orders[id], var incident = incidents[order.incident] else { return }
        guard !order.test else { return }
        let type = registry.unit(unit)?.type ?? "?"
        var used = Set<UnitID>()
        for o in incident.orders { for u in orders[o]?.units ?? [] { used.insert(u.unit) } }
        for e in incident.escalations { if let r = e.replacement { used.insert(r) } }
        let replacement = registry.nextUnit(type: type, area: incident.area, isAvailable: isAvailable, excluded: used)
        incident.escalations.append(Escalation(order: id, unit: unit, type: type, replacement: replacement, raisedAt: clock,
                                               decision: .waiting, decidedBy: nil, newOrder: nil))
        incidents[incident.id] = incident
        var e = AlarmEvent("escalation.proposed", at: clock,
                           detail: replacement.map { "\(unit) did not acknowledge; proposed: \($0)" } ?? "\(unit) did not acknowledge; no \(type) available")
        e.incident = incident.id
        e.order = id
        e.unit = unit
        e.replacement = replacement
        effects.event(e)
    }

    /// Closes the touched orders whose targets and units are all final.
    private mutating func settle(effects: inout Effects) {
        for id in effects.touched.sorted() {
            guard var order = orders[id], order.isOpen,
                  order.targets.allSatisfy({ $0.state.isFinal }), order.units.allSatisfy({ $0.state.isFinal }) else { continue }
            order.closedAt = clock
            order.result = order.units.allSatisfy { $0.state == .acknowledged } ? "complete" : "incomplete"
            orders[id] = order
            var e = AlarmEvent("order.closed", at: clock, detail: order.result)
            e.incident = order.incident
            e.order = id
            effects.event(e)
        }
        effects.touched = []
    }

    /// Drops closed incidents (and their orders) a day after closing.
    private mutating func prune() {
        let horizon = clock > Self.closedRetentionMillis ? clock - Self.closedRetentionMillis : 0
        guard horizon > 0 else { return }
        for (id, incident) in incidents {
            guard let closed = incident.closedAt, closed < horizon else { continue }
            for o in incident.orders { orders[o] = nil }
            incidents[id] = nil
        }
    }

    // MARK: - Derived

    /// Whether the AAO may propose this unit now: status 1 or 2 and not alarmed for an incident.
    public func isAvailable(_ unit: UnitID) -> Bool {
        guard let s = units[unit] else { return false }
        return [1, 2].contains(s.status) && s.incident == nil
    }

    /// The instruction a gateway needs to send the target's current round.
    public func instruction(order id: OrderID, target ref: TargetRef) -> Instruction? {
        guard let registry, let order = orders[id], let incident = incidents[order.incident], let t = order.targets.first(where: { $0.target == ref }) else { return nil }
        var ins = Instruction(order: id, target: ref, round: t.round, sequence: t.sequence, test: order.test, reAlarm: t.round > 1, fallback: t.fallback,
                              incident: incident.id, keyword: incident.keyword, area: incident.area, address: incident.address,
                              units: t.units)
        let unitText = t.units.map(\.rawValue).joined(separator: " ")
        let text = (order.test ? "PROBEALARM " : "") + (t.round > 1 ? "WIEDERHOLUNG " : "")
            + "\(incident.keyword) \(incident.area.rawValue), \(incident.address) \(incident.id) \(unitText)"
        switch ref {
        case .line(let s):
            ins.station = s
            ins.outputs = registry.station(s)?.line?.outputs ?? []
            ins.text = text
        case .group(let g):
            guard let group = registry.group(g) else { return nil }
            ins.channel = group.channel
            ins.ric = group.ric
            ins.function = group.function
            ins.text = POCSAG.pagerText(text)
        case .siren(let s):
            guard let siren = registry.siren(s) else { return nil }
            ins.zvei = siren.zvei
            ins.signal = order.test ? "test" : "fire"
        }
        return ins
    }

    /// The open targets of `network` waiting for a receipt, as instructions: what a gateway taking
    /// over the network must (re)send.
    public func pending(_ network: Network) -> [Instruction] {
        var out: [Instruction] = []
        for id in orders.keys.sorted() where orders[id]!.isOpen {
            for t in orders[id]!.targets where t.target.network == network && !t.state.isFinal {
                if let ins = instruction(order: id, target: t.target) { out.append(ins) }
            }
        }
        return out
    }

    static func nearest(_ given: String, _ candidates: [String]) -> String {
        guard let best = candidates.min(by: { editDistance(given.lowercased(), $0.lowercased()) < editDistance(given.lowercased(), $1.lowercased()) })
        else { return "" }
        return " (did you mean \(best)?)"
    }

    /// Levenshtein distance: how many single-character edits turn `a` into `b` (for "did you
    /// mean …?" hints here and in the console).
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var prev = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let cur = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                prev = cur
            }
        }
        return row[b.count]
    }
}

/// What a gateway sends for one round of one target (topic `alarm/wired` or `alarm/wireless`).
public struct Instruction: Codable, Equatable, Sendable {
    public var order: OrderID
    public var target: TargetRef
    public var round: Int
    /// The instruction's number: `AlarmState.instructionCount` when it was issued.
    public var sequence: UInt64
    public var test: Bool
    public var reAlarm: Bool
    public var fallback: Bool
    public var incident: IncidentID
    public var keyword: String
    public var area: AreaID
    public var address: String
    public var units: [UnitID]
    /// Station line: the station and the outputs to drive.
    public var station: StationID?
    public var outputs: [String]?
    /// Text for displays, printers and alphanumeric pagers.
    public var text: String?
    /// Pager group: channel, RIC and function.
    public var channel: ChannelID?
    public var ric: UInt32?
    public var function: String?
    /// Siren: ZVEI address and signal (fire, test).
    public var zvei: String?
    public var signal: String?

    init(order: OrderID, target: TargetRef, round: Int, sequence: UInt64, test: Bool, reAlarm: Bool, fallback: Bool, incident: IncidentID,
         keyword: String, area: AreaID, address: String, units: [UnitID]) {
        self.order = order; self.target = target; self.round = round; self.sequence = sequence; self.test = test; self.reAlarm = reAlarm
        self.fallback = fallback; self.incident = incident; self.keyword = keyword; self.area = area
        self.address = address; self.units = units
    }
}

/// The answer to the `pending` query: the open instructions of a network and the instruction
/// counter they are current to.
public struct PendingInstructions: Codable, Equatable, Sendable {
    public var instructions: [Instruction]
    public var sequence: UInt64
}

/// The answer to `alarm.lease`.
public struct LeaseAnswer: Codable, Equatable, Sendable {
    public var granted: Bool
    public var holder: String
    public var epoch: UInt64
    public var expiresAt: UInt64
    public var ttlMillis: UInt64
}

/// One line of the control room's event feed (topic `alarm/events`).
public struct AlarmEvent: Codable, Equatable, Sendable {
    public var event: String
    public var at: UInt64
    public var by: String?
    public var detail: String?
    public var incident: IncidentID?
    public var order: OrderID?
    public var target: TargetRef?
    public var round: Int?
    public var network: Network?
    public var unit: UnitID?
    public var units: [UnitID]?
    public var station: StationID?
    public var status: Int?
    public var replacement: UnitID?
    public var holder: String?
    public var epoch: UInt64?
    public var latencyMillis: UInt64?
    public var test: Bool?
    public var fallback: Bool?
    public var late: Bool?
    /// `incident.opened`: what the incident pipeline records (the address and remarks are
    /// personal data: the pipeline keeps them in its store only).
    public var keyword: String?
    public var area: AreaID?
    public var position: Position?
    public var address: String?
    public var remarks: String?

    public init(_ event: String, at: UInt64, by: String? = nil, detail: String? = nil) {
        self.event = event
        self.at = at
        self.by = by
        self.detail = detail
    }
}

/// FMS/TETRA-like unit status codes.
public enum UnitStatusCode {
    public static func name(_ code: Int) -> String {
        switch code {
        case 1: "free on radio"
        case 2: "at station"
        case 3: "en route"
        case 4: "on scene"
        case 5: "request to speak"
        case 6: "out of service"
        case 7: "patient aboard"
        case 8: "at hospital"
        case 9: "other"
        default: "unknown"
        }
    }
}

extension POCSAG {
    /// `text` in characters alphanumeric pagers can show: DIN 66003 umlauts and printable ASCII
    /// kept, other letters reduced to ASCII where obvious, anything else '?'; at most 240 characters.
    public static func pagerText(_ text: String) -> String {
        var out = ""
        for ch in text {
            if din66003[ch] != nil { out.append(ch); continue }
            if let a = ch.asciiValue, a >= 0x20, a < 0x7F, !"[\\]{|}~".contains(ch) { out.append(ch); continue }
            let folded = String(ch).applyingASCIIFolding()
            out += folded.isEmpty ? "?" : folded
        }
        return String(out.prefix(240))
    }
}

extension String {
    /// Strips diacritics without Foundation (é → e): keeps the first ASCII scalar of the
    /// canonical decomposition, or nothing.
    func applyingASCIIFolding() -> String {
        var out = ""
        for scalar in unicodeScalars {
            let decomposed = String(scalar).decomposedStringWithCanonicalMapping.unicodeScalars
            if let first = decomposed.first, first.isASCII, first.value >= 0x20, first.value < 0x7F, !"[\\]{|}~".unicodeScalars.contains(first) {
                out.unicodeScalars.append(first)
            }
        }
        return out
    }
}
