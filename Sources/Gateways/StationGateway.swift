import Alarming
import Client
import Foundation
import Secure
import Wire

/// The wired network's gateway: station devices (certificate role `station`, CN = station id)
/// connect to its TLS listener and keep their line up with heartbeats (Protocols/station-alert.md);
/// while it holds the wired lease it sends each alarm instruction to its station as ALARM, reports
/// `sent`, and reports `delivered` when the device ACKs. It supervises every line: a line silent
/// for longer than its supervision interval is reported faulted (checked every 500 ms, so within
/// interval + 0.5 s + one commit), and up again on the next valid HELLO.
///
/// A standby gateway accepts the devices' connections too (they connect to every gateway), so it
/// knows the lines when it takes over. Confined to its event loop's thread.
public final class StationGateway {
    public struct Options: Sendable {
        public var name: String
        public var host = "127.0.0.1"
        public var port: UInt16 = 0
        public init(name: String) { self.name = name }
    }

    private let loop: EventLoop
    private let link: GatewayLink
    private var server: TLSServer!
    private let log: (String) -> Void
    private var lines: [String: Line] = [:]
    /// Open instructions by "order|target": the newest round of each.
    private var pending: [String: Outstanding] = [:]
    private var supervisionTimer: UInt64?
    private var activeSince: UInt64 = 0
    private var heartbeatSequence: UInt64 = 0

    /// The listener's port (for `cluster.json` and tests).
    public var port: UInt16 { server.port }

    private final class Line {
        let station: String
        let supervisionMillis: UInt64
        let outputs: [String]
        var connection: FrameConnection?
        var lastHeard: UInt64 = 0
        var device = ""
        /// What this gateway last reported (nil: nothing yet since it became active).
        var reported: Bool?
        init(station: String, supervisionMillis: UInt64, outputs: [String]) {
            self.station = station
            self.supervisionMillis = supervisionMillis
            self.outputs = outputs
        }
    }

    private struct Outstanding {
        var instruction: Instruction
        /// Sent on this connection (by identity) already; a new connection gets it again.
        var sentOn: ObjectIdentifier?
        var acknowledged = false
        var since: UInt64
    }

    /// `registry` gives the stations with lines and their supervision intervals; `serverContext`
    /// must accept role `station`. Call on the loop's thread, then run the loop.
    public init(loop: EventLoop, client: FlorianClient, registry: Registry, serverContext: TLSContext, options: Options,
                log: @escaping (String) -> Void) throws {
        self.loop = loop
        self.log = log
        link = GatewayLink(network: .wired, holder: options.name, client: client, loop: loop, log: log)
        var limits = TLSLimits()
        limits.maxFrameSize = StationAlertFrame.maxFrameSize
        limits.idleTimeout = .seconds(600)
        limits.maxBufferedBytes = 1 << 20
        server = try TLSServer(loop: loop, context: serverContext, host: options.host, port: options.port, limits: limits,
                               log: log) { [unowned self] c in StationConnection(gateway: self, connection: c) }
        link.onActivated = { [unowned self] open in self.activated(open) }
        link.onDeactivated = { [unowned self] _ in self.pending.removeAll() }
        link.onInstruction = { [unowned self] ins in self.received(ins) }
        link.onEvent = { [unowned self] e in self.event(e) }
        link.onRegistry = { [unowned self] r in self.load(r) }
        load(registry)
        let previous = loop.everyIteration
        loop.everyIteration = { [unowned self] in
            previous?()
            self.link.drain()
        }
        link.start()
        scheduleSupervision()
    }

    /// Takes the registry's station lines: new lines are supervised from now on; a line that is
    /// gone is closed; a changed interval applies to the next WELCOME.
    private func load(_ registry: Registry) {
        var next: [String: Line] = [:]
        for s in registry.stations {
            guard let config = s.line else { continue }
            let id = s.id.rawValue
            if let old = lines[id], old.supervisionMillis == UInt64(config.supervisionSeconds) * 1000, old.outputs == config.outputs {
                next[id] = old
            } else {
                let line = Line(station: id, supervisionMillis: UInt64(config.supervisionSeconds) * 1000, outputs: config.outputs)
                line.connection = lines[id]?.connection
                line.lastHeard = lines[id]?.lastHeard ?? EventLoop.now()
                line.reported = lines[id]?.reported
                next[id] = line
            }
        }
        for (id, line) in lines where next[id] == nil { line.connection?.refuse(.unauthorised, "station \(id) has no line in the registry any more") }
        lines = next
    }

    public func stop() {
        link.stop()
        server.stop()
        if let t = supervisionTimer { loop.cancel(timer: t) }
    }

    // MARK: - Instructions

    private func activated(_ open: [Instruction]) {
        activeSince = EventLoop.now()
        for line in lines.values { line.reported = nil }
        pending.removeAll()
        for ins in open { received(ins) }
    }

    private func received(_ ins: Instruction) {
        guard case .line(let station) = ins.target, let line = lines[station.rawValue] else {
            return log("instruction for \(ins.target) in \(ins.order) is not for a station line here; skipped")
        }
        let key = "\(ins.order)|\(ins.target)"
        if let existing = pending[key], existing.instruction.round >= ins.round { return }
        pending[key] = Outstanding(instruction: ins, sentOn: nil, since: EventLoop.now())
        send(key, on: line)
    }

    /// Sends the instruction on the station's current connection unless it went there already
    /// or the device has acknowledged it.
    private func send(_ key: String, on line: Line) {
        guard link.active, var entry = pending[key], !entry.acknowledged, let c = line.connection, !c.isClosed,
              entry.sentOn != ObjectIdentifier(c) else { return }
        let ins = entry.instruction
        let frame = StationAlertFrame.alarm(.init(order: ins.order.rawValue, round: UInt32(ins.round), test: ins.test, reAlarm: ins.reAlarm,
                                                  incident: ins.incident.rawValue, keyword: ins.keyword, area: ins.area.rawValue,
                                                  address: ins.address, text: ins.text ?? "", units: ins.units.map(\.rawValue),
                                                  outputs: ins.outputs ?? line.outputs))
        guard c.send(frame.frame) else { return }
        entry.sentOn = ObjectIdentifier(c)
        pending[key] = entry
        let receipt = AlarmCommand.Receipt(order: ins.order, target: ins.target, round: ins.round)
        link.submit(.targetSent(receipt), id: GatewayLink.receiptID("sent", receipt))
    }

    private func event(_ e: AlarmEvent) {
        // A closed order needs nothing more; its instructions are dropped.
        if e.event == "order.closed", let order = e.order {
            pending = pending.filter { $0.value.instruction.order != order }
        }
    }

    // MARK: - Lines

    fileprivate func hello(_ h: StationAlertFrame.Hello, from c: FrameConnection) {
        guard let peer = c.peer, peer.role == .station, peer.name == h.station else {
            return c.refuse(.unauthorised, "the certificate is not the station's (CN must be the station id)")
        }
        guard let line = lines[h.station] else {
            return c.refuse(.unauthorised, "station \(h.station.prefix(64)) has no line in the registry")
        }
        if let old = line.connection, old !== c { old.close(reason: "replaced by a new connection from the same station") }
        line.connection = c
        line.device = h.device
        line.lastHeard = EventLoop.now()
        let hb = UInt32(max(250, line.supervisionMillis / 4))
        c.send(StationAlertFrame.welcome(.init(heartbeatMillis: hb, supervisionMillis: UInt32(line.supervisionMillis))).frame)
        log("line \(h.station) up (\(h.device))")
        if link.active && line.reported != true { report(line, up: true, reason: nil) }
        for key in pending.keys.sorted() where pending[key]?.instruction.station?.rawValue == h.station { send(key, on: line) }
    }

    fileprivate func heard(_ station: String, _ c: FrameConnection) {
        guard let line = lines[station], line.connection === c else { return }
        line.lastHeard = EventLoop.now()
    }

    fileprivate func heartbeat(_ c: FrameConnection) {
        heartbeatSequence += 1
        c.send(StationAlertFrame.heartbeat(sequence: heartbeatSequence).frame)
    }

    fileprivate func ack(_ a: StationAlertFrame.StationAck, station: String) {
        guard let order = try? OrderID(a.order), let stationID = try? StationID(station) else { return }
        let target = TargetRef.line(stationID)
        let key = "\(order)|\(target)"
        if var entry = pending[key], entry.instruction.round == Int(a.round) {
            entry.acknowledged = true
            pending[key] = entry
        }
        // Reported also by a standby or for an older round: the state keeps what counts.
        let receipt = AlarmCommand.Receipt(order: order, target: target, round: Int(a.round))
        link.submit(.targetDelivered(receipt), id: GatewayLink.receiptID("delivered", receipt)) { [weak self] ok in
            if ok, let self, self.pending[key]?.instruction.round == Int(a.round) { self.pending[key] = nil }
        }
    }

    fileprivate func closed(_ station: String?, _ c: FrameConnection, reason: String) {
        guard let station, let line = lines[station], line.connection === c else { return }
        line.connection = nil
        log("line \(station) connection closed: \(reason)")
    }

    private func report(_ line: Line, up: Bool, reason: String?) {
        line.reported = up
        guard let station = try? StationID(line.station) else { return }
        link.submit(.lineState(.init(station: station, up: up, reason: reason)), id: link.uniqueID("line"))
    }

    private func scheduleSupervision() {
        supervisionTimer = loop.schedule(after: 500_000_000) { [unowned self] in
            self.supervise()
            self.scheduleSupervision()
        }
    }

    /// Closes silent connections and reports silent lines faulted; expires old instructions.
    private func supervise() {
        let now = EventLoop.now()
        for station in lines.keys.sorted() {
            let line = lines[station]!
            let limit = line.supervisionMillis * 1_000_000
            let silentSince = line.connection == nil ? max(line.lastHeard, activeSince) : line.lastHeard
            let silent = now > silentSince ? now - silentSince : 0
            if let c = line.connection, silent > limit {
                c.refuse(.timeout, "no frame for \(silent / 1_000_000) ms (supervision \(line.supervisionMillis) ms)")
                line.connection = nil
            }
            // A line that connected while this gateway stood by is reported once it is active.
            if link.active, line.connection != nil, line.reported != true, silent <= limit {
                report(line, up: true, reason: nil)
            }
            if link.active, line.reported != false, silent > limit {
                let what = line.lastHeard == 0 ? "never connected" : "silent for \(silent / 1_000_000_000) s"
                log("line \(station) faulted: \(what)")
                report(line, up: false, reason: what)
            }
        }
        // An instruction no receipt can help any more after 30 minutes.
        pending = pending.filter { now - $0.value.since < 1_800_000_000_000 }
    }
}

/// One station device's connection: decodes frames, checks that HELLO comes first.
private final class StationConnection: FrameConnectionDelegate {
    unowned let gateway: StationGateway
    var station: String?

    init(gateway: StationGateway, connection: FrameConnection) { self.gateway = gateway }

    func connectionOpened(_ c: FrameConnection) {}

    func connection(_ c: FrameConnection, received frame: ProtocolFrame) {
        if frame.kind == ProtocolFrame.errorKind { return c.close(reason: "device sent error \(frame.errorInfo?.reason ?? "")") }
        let decoded: StationAlertFrame
        do { decoded = try StationAlertFrame.decode(frame) } catch {
            return c.refuse(.malformed, error.description)
        }
        switch decoded {
        case .hello(let h):
            guard station == nil else { return c.refuse(.malformed, "HELLO twice") }
            station = h.station
            gateway.hello(h, from: c)
        case .heartbeat:
            guard let s = station else { return c.refuse(.malformed, "HELLO must come first") }
            gateway.heard(s, c)
            gateway.heartbeat(c)
        case .ack(let a):
            guard let s = station else { return c.refuse(.malformed, "HELLO must come first") }
            gateway.heard(s, c)
            gateway.ack(a, station: s)
        case .welcome, .alarm:
            c.refuse(.malformed, "a device does not send \(frame.kind == 2 ? "WELCOME" : "ALARM")")
        }
    }

    func connectionClosed(_ c: FrameConnection, reason: String) { gateway.closed(station, c, reason: reason) }
}
