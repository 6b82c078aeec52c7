import Alarming

/// The wired network's gateway as a pure core (Protocols/station-alert.md). Station devices
/// (certificate role `station`, CN = station id) connect to the gateway and keep their line up
/// with heartbeats; while the gateway holds the wired lease it sends each alarm instruction to
/// its station as ALARM, reports `sent`, and reports `delivered` when the device ACKs. It
/// supervises every line: a line silent for longer than its supervision interval is reported
/// faulted (checked every 500 ms, so within interval + 0.5 s + one commit), and up again on the
/// next valid HELLO.
///
/// Once a device's receipt is committed — its own, or another gateway's seen on the event feed —
/// the core never sends that alarm to the device again. A standby accepts the devices'
/// connections too (they connect to every gateway), so it knows the lines when it takes over.
public struct StationCore: Sendable {
    public private(set) var link: LeaseLink
    private var lines: [String: Line] = [:]
    private var stations: [String] = []
    /// Connections that said HELLO, by the shell's connection id.
    private var connections: [UInt64: String] = [:]
    /// Open instructions by "order|target": the newest round of each.
    private var pending: [String: Outstanding] = [:]
    /// Delivered receipts waiting for their commit: receipt id → (key, round).
    private var awaiting: [String: (key: String, round: Int)] = [:]
    private var activeSince: UInt64 = 0
    private var heartbeatSequence: UInt64 = 0
    /// A deliberate defect for the simulator: ACKs and committed receipts are not remembered, so
    /// a device that reconnects gets its confirmed alarms again.
    @_spi(Simulation) public var forgetsAcknowledgements = false

    public static let supervisionPeriodMillis: UInt64 = 500
    /// An instruction no receipt can help any more after this long (ms).
    public static let instructionLifetimeMillis: UInt64 = 1_800_000

    private struct Line: Sendable {
        let station: String
        let supervisionMillis: UInt64
        let outputs: [String]
        var connection: UInt64?
        var lastHeard: UInt64
        var device = ""
        /// What this gateway last reported (nil: nothing yet since it became active).
        var reported: Bool?
    }

    private struct Outstanding: Sendable {
        var instruction: Instruction
        /// Sent on this connection already; a new connection gets it again.
        var sentOn: UInt64?
        var acknowledged = false
        var since: UInt64
    }

    public init(name: String, nonce: String, registry: Registry, now: UInt64) {
        link = LeaseLink(network: .wired, holder: name, nonce: nonce)
        var ignored: [GatewayDirective] = []
        load(registry, now: now, &ignored)
    }

    public var active: Bool { link.active }
    public var epoch: UInt64 { link.epoch }
    @_spi(Simulation) public var ignoresEpoch: Bool {
        get { link.ignoresEpoch }
        set { link.ignoresEpoch = newValue }
    }

    /// Whether `station`'s line is connected here.
    public func connected(_ station: String) -> Bool { lines[station]?.connection != nil }
    /// Open instructions held.
    public var pendingCount: Int { pending.count }

    public mutating func handle(_ input: GatewayInput, now: UInt64) -> [GatewayDirective] {
        var out: [GatewayDirective] = []
        switch input {
        case .start:
            _ = link.handle(.start, now: now, &out)
            out.append(.arm(.supervise, at: now + Self.supervisionPeriodMillis))
        case .timer(.supervise):
            supervise(now: now, &out)
            out.append(.arm(.supervise, at: now + Self.supervisionPeriodMillis))
        case let .hello(c, role, name, h):
            hello(h, connection: c, role: role, name: name, now: now, &out)
        case .heartbeat(let c):
            guard let s = connections[c] else { break }
            if lines[s]?.connection == c { lines[s]!.lastHeard = now }
            heartbeatSequence += 1
            out.append(.send(connection: c, .heartbeat(sequence: heartbeatSequence)))
        case let .ack(c, a):
            guard let s = connections[c] else { break }
            if lines[s]?.connection == c { lines[s]!.lastHeard = now }
            ack(a, station: s, &out)
        case let .closed(c, reason):
            guard let s = connections.removeValue(forKey: c) else { break }
            if lines[s]?.connection == c {
                lines[s]!.connection = nil
                out.append(.log("line \(s) connection closed: \(reason)"))
            }
        default:
            for notice in link.handle(input, now: now, &out) { take(notice, now: now, &out) }
        }
        return out
    }

    private mutating func take(_ notice: LeaseLink.Notice, now: UInt64, _ out: inout [GatewayDirective]) {
        switch notice {
        case .activated(let open):
            activeSince = now
            for s in stations { lines[s]!.reported = nil }
            pending.removeAll()
            for ins in open { received(ins, now: now, &out) }
        case .deactivated:
            pending.removeAll()
        case .instruction(let ins):
            received(ins, now: now, &out)
        case .event(let e):
            // A closed order needs nothing more; a receipt committed (by any gateway) ends the
            // instruction for that round.
            if e.event == "order.closed", let order = e.order {
                pending = pending.filter { $0.value.instruction.order != order }
            }
            if e.event == "target.delivered", !forgetsAcknowledgements, let order = e.order, let t = e.target, let round = e.round,
               let entry = pending["\(order)|\(t)"], entry.instruction.round <= round {
                pending["\(order)|\(t)"] = nil
            }
        case .registry(let r):
            load(r, now: now, &out)
        case let .committed(id, accepted):
            guard let (key, round) = awaiting.removeValue(forKey: id) else { return }
            if accepted, !forgetsAcknowledgements, pending[key]?.instruction.round == round { pending[key] = nil }
        }
    }

    /// Takes the registry's station lines: new lines are supervised from now on; a line that is
    /// gone is closed; a changed interval applies to the next WELCOME.
    private mutating func load(_ registry: Registry, now: UInt64, _ out: inout [GatewayDirective]) {
        var next: [String: Line] = [:]
        for s in registry.stations {
            guard let config = s.line else { continue }
            let id = s.id.rawValue
            let millis = UInt64(config.supervisionSeconds) * 1000
            if let old = lines[id], old.supervisionMillis == millis, old.outputs == config.outputs {
                next[id] = old
            } else {
                var line = Line(station: id, supervisionMillis: millis, outputs: config.outputs, lastHeard: lines[id]?.lastHeard ?? now)
                line.connection = lines[id]?.connection
                line.reported = lines[id]?.reported
                next[id] = line
            }
        }
        for id in stations where next[id] == nil {
            if let c = lines[id]?.connection {
                connections[c] = nil
                out.append(.refuse(connection: c, code: .unauthorised, reason: "station \(id) has no line in the registry any more"))
            }
        }
        lines = next
        stations = next.keys.sorted()
    }

    // MARK: - Instructions

    private mutating func received(_ ins: Instruction, now: UInt64, _ out: inout [GatewayDirective]) {
        guard case .line(let station) = ins.target, lines[station.rawValue] != nil else {
            return out.append(.log("instruction for \(ins.target) in \(ins.order) is not for a station line here; skipped"))
        }
        let key = "\(ins.order)|\(ins.target)"
        if let existing = pending[key], existing.instruction.round >= ins.round { return }
        pending[key] = Outstanding(instruction: ins, sentOn: nil, since: now)
        send(key, station: station.rawValue, &out)
    }

    /// Sends the instruction on the station's current connection unless it went there already
    /// or the device has acknowledged it.
    private mutating func send(_ key: String, station: String, _ out: inout [GatewayDirective]) {
        guard link.active, var entry = pending[key], !entry.acknowledged, let line = lines[station], let c = line.connection,
              entry.sentOn != c else { return }
        let ins = entry.instruction
        let frame = StationAlertFrame.alarm(.init(order: ins.order.rawValue, round: UInt32(ins.round), test: ins.test, reAlarm: ins.reAlarm,
                                                  incident: ins.incident.rawValue, keyword: ins.keyword, area: ins.area.rawValue,
                                                  address: ins.address, text: ins.text ?? "", units: ins.units.map(\.rawValue),
                                                  outputs: ins.outputs ?? line.outputs))
        out.append(.send(connection: c, frame))
        entry.sentOn = c
        pending[key] = entry
        let receipt = AlarmCommand.Receipt(order: ins.order, target: ins.target, round: ins.round)
        link.submit(.targetSent(receipt), id: receiptID("sent", receipt), &out)
    }

    private mutating func ack(_ a: StationAlertFrame.StationAck, station: String, _ out: inout [GatewayDirective]) {
        guard let order = try? OrderID(a.order), let stationID = try? StationID(station) else { return }
        let target = TargetRef.line(stationID)
        let key = "\(order)|\(target)"
        if !forgetsAcknowledgements, var entry = pending[key], entry.instruction.round == Int(a.round) {
            entry.acknowledged = true
            pending[key] = entry
        }
        // Reported also by a standby or for an older round: the state keeps what counts.
        let receipt = AlarmCommand.Receipt(order: order, target: target, round: Int(a.round))
        let id = receiptID("delivered", receipt)
        awaiting[id] = (key, Int(a.round))
        link.submit(.targetDelivered(receipt), id: id, &out)
    }

    // MARK: - Lines

    private mutating func hello(_ h: StationAlertFrame.Hello, connection c: UInt64, role: String?, name: String?, now: UInt64,
                                _ out: inout [GatewayDirective]) {
        guard role == "station", name == h.station else {
            return out.append(.refuse(connection: c, code: .unauthorised, reason: "the certificate is not the station's (CN must be the station id)"))
        }
        guard var line = lines[h.station] else {
            return out.append(.refuse(connection: c, code: .unauthorised, reason: "station \(h.station.prefix(64)) has no line in the registry"))
        }
        if let old = line.connection, old != c {
            connections[old] = nil
            out.append(.close(connection: old, reason: "replaced by a new connection from the same station"))
        }
        connections[c] = h.station
        line.connection = c
        line.device = h.device
        line.lastHeard = now
        lines[h.station] = line
        let hb = UInt32(max(250, line.supervisionMillis / 4))
        out.append(.send(connection: c, .welcome(.init(heartbeatMillis: hb, supervisionMillis: UInt32(line.supervisionMillis)))))
        out.append(.log("line \(h.station) up (\(h.device))"))
        if link.active && line.reported != true { report(h.station, up: true, reason: nil, &out) }
        for key in pending.keys.sorted() where pending[key]?.instruction.station?.rawValue == h.station { send(key, station: h.station, &out) }
    }

    private mutating func report(_ station: String, up: Bool, reason: String?, _ out: inout [GatewayDirective]) {
        lines[station]?.reported = up
        guard let id = try? StationID(station) else { return }
        let command = AlarmCommand.lineState(.init(station: id, up: up, reason: reason))
        link.submit(command, id: link.uniqueID("line"), &out)
    }

    /// Closes silent connections and reports silent lines faulted; expires old instructions.
    private mutating func supervise(now: UInt64, _ out: inout [GatewayDirective]) {
        for station in stations {
            var line = lines[station]!
            let silentSince = line.connection == nil ? max(line.lastHeard, activeSince) : line.lastHeard
            let silent = now > silentSince ? now - silentSince : 0
            if let c = line.connection, silent > line.supervisionMillis {
                out.append(.refuse(connection: c, code: .timeout, reason: "no frame for \(silent) ms (supervision \(line.supervisionMillis) ms)"))
                connections[c] = nil
                line.connection = nil
                lines[station] = line
            }
            // A line that connected while this gateway stood by is reported once it is active.
            if link.active, line.connection != nil, line.reported != true, silent <= line.supervisionMillis {
                report(station, up: true, reason: nil, &out)
            }
            if link.active, line.reported != false, silent > line.supervisionMillis {
                let what = line.lastHeard == 0 ? "never connected" : "silent for \(silent / 1000) s"
                out.append(.log("line \(station) faulted: \(what)"))
                report(station, up: false, reason: what, &out)
            }
        }
        if pending.values.contains(where: { now - min(now, $0.since) >= Self.instructionLifetimeMillis }) {
            pending = pending.filter { now - min(now, $0.value.since) < Self.instructionLifetimeMillis }
        }
    }
}
