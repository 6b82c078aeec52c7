import Alarming
import Foundation
import Secure
import Wire

/// A station device for tests and the demo (`florian station-sim`): connects to every station
/// gateway with the station's certificate, says HELLO, keeps the line up with heartbeats, shows
/// each alarm once per (order, round) — also when it arrives again over another gateway or after a
/// reconnect — and ACKs it. It can be slow to ACK, never ACK, drop its line or flap, to exercise
/// supervision and fallback. Confined to its event loop's thread.
public final class StationSimulator {
    public struct Behaviour: Sendable {
        /// Wait this long before ACKing an alarm.
        public var ackDelayMillis: UInt64 = 0
        /// Never ACK (a station whose alarm output is broken).
        public var acknowledges = true
        /// Flapping: connected for `up`, then disconnected for `down`, over and over.
        public var flap: (up: UInt64, down: UInt64)?
        /// Drop the line after this many milliseconds and stay silent.
        public var dropAfterMillis: UInt64?
        public init() {}
    }

    public let station: String
    private let loop: EventLoop
    private let context: TLSContext
    private let gateways: [(host: String, port: UInt16)]
    private let behaviour: Behaviour
    private let output: (String) -> Void
    private let printout: (String) -> Void
    private var links: [Link] = []
    private var shown: Set<String> = []
    private var down = false
    private var heartbeatSequence: UInt64 = 0

    fileprivate final class Link: FrameConnectionDelegate {
        unowned let sim: StationSimulator
        let index: Int
        var connection: FrameConnection?
        var welcomed = false
        var heartbeatTimer: UInt64?
        var supervisionMillis: UInt64 = 10_000
        var lastHeard: UInt64 = 0
        var backoff: UInt64 = 250
        init(sim: StationSimulator, index: Int) { self.sim = sim; self.index = index }

        func connectionOpened(_ c: FrameConnection) {
            c.send(StationAlertFrame.hello(.init(station: sim.station, device: "florian station-sim 1")).frame)
        }
        func connection(_ c: FrameConnection, received frame: ProtocolFrame) {
            lastHeard = EventLoop.now()
            if let info = frame.errorInfo { return sim.output("ERROR from gateway \(index + 1): \(info.reason)") }
            let decoded: StationAlertFrame
            do { decoded = try StationAlertFrame.decode(frame) } catch {
                return c.refuse(.malformed, error.description)
            }
            switch decoded {
            case .welcome(let w):
                welcomed = true
                backoff = 250
                supervisionMillis = UInt64(w.supervisionMillis)
                sim.output("LINE UP gateway=\(index + 1)")
                sim.scheduleHeartbeat(self, every: UInt64(w.heartbeatMillis))
            case .alarm(let a): sim.alarm(a, on: c)
            case .heartbeat: break
            case .hello, .ack: c.refuse(.malformed, "a gateway does not send this frame")
            }
        }
        func connectionClosed(_ c: FrameConnection, reason: String) {
            guard connection === c else { return }
            connection = nil
            if let t = heartbeatTimer { sim.loop.cancel(timer: t) }
            heartbeatTimer = nil
            if welcomed { sim.output("LINE DOWN gateway=\(index + 1): \(reason)") }
            welcomed = false
            sim.reconnect(self)
        }
    }

    /// `context`: a client context with the station's certificate, accepting role `gateway`.
    /// `output` gets one line per alarm and line change (the demo and tests read them).
    public init(station: String, gateways: [(host: String, port: UInt16)], context: TLSContext, loop: EventLoop,
                behaviour: Behaviour = Behaviour(), printout: @escaping (String) -> Void = { _ in }, output: @escaping (String) -> Void) {
        self.station = station
        self.printout = printout
        self.gateways = gateways
        self.context = context
        self.loop = loop
        self.behaviour = behaviour
        self.output = output
    }

    public func start() {
        links = gateways.indices.map { Link(sim: self, index: $0) }
        for l in links { connect(l) }
        if let drop = behaviour.dropAfterMillis {
            _ = loop.schedule(after: drop * 1_000_000) { [unowned self] in
                self.down = true
                self.output("DROPPING LINE")
                for l in self.links { l.connection?.close(reason: "line dropped (simulated)") }
            }
        }
        if let flap = behaviour.flap { scheduleFlap(flap, goingDown: true) }
    }

    private func scheduleFlap(_ flap: (up: UInt64, down: UInt64), goingDown: Bool) {
        _ = loop.schedule(after: (goingDown ? flap.up : flap.down) * 1_000_000) { [unowned self] in
            self.down = goingDown
            if goingDown {
                self.output("FLAP down")
                for l in self.links { l.connection?.close(reason: "line flapping (simulated)") }
            } else {
                self.output("FLAP up")
                for l in self.links where l.connection == nil { self.connect(l) }
            }
            self.scheduleFlap(flap, goingDown: !goingDown)
        }
    }

    private func connect(_ l: Link) {
        guard !down else { return }
        let g = gateways[l.index]
        var limits = TLSLimits()
        limits.maxFrameSize = StationAlertFrame.maxFrameSize
        do {
            l.connection = try FrameConnection.connect(host: g.host, port: g.port, context: context, loop: loop, limits: limits, delegate: l)
            l.lastHeard = EventLoop.now()
        } catch {
            reconnect(l)
        }
    }

    fileprivate func reconnect(_ l: Link) {
        guard !down else { return }
        let delay = l.backoff
        l.backoff = min(l.backoff * 2, 2_000)
        _ = loop.schedule(after: delay * 1_000_000) { [weak self, weak l] in
            guard let self, let l, l.connection == nil else { return }
            self.connect(l)
        }
    }

    fileprivate func scheduleHeartbeat(_ l: Link, every millis: UInt64) {
        l.heartbeatTimer = loop.schedule(after: millis * 1_000_000) { [weak self, weak l] in
            guard let self, let l, let c = l.connection, !c.isClosed else { return }
            // The gateway must be heard too: a silent gateway means a broken line.
            if EventLoop.now() - l.lastHeard > l.supervisionMillis * 1_000_000 {
                return c.close(reason: "gateway silent for more than \(l.supervisionMillis) ms")
            }
            self.heartbeatSequence += 1
            c.send(StationAlertFrame.heartbeat(sequence: self.heartbeatSequence).frame)
            self.scheduleHeartbeat(l, every: millis)
        }
    }

    fileprivate func alarm(_ a: StationAlertFrame.StationAlarm, on c: FrameConnection) {
        let key = "\(a.order)#\(a.round)"
        if shown.insert(key).inserted {
            var flags = ""
            if a.test { flags += " TEST" }
            if a.reAlarm { flags += " RE-ALARM" }
            // The address (and any text) is the station's printout, not a log line: logs carry no
            // personal data (a caller's address can name a person).
            output("ALARM \(a.order) round=\(a.round)\(flags) \(a.keyword) \(a.area) | address on the printout | units=\(a.units.joined(separator: ",")) outputs=\(a.outputs.joined(separator: ","))")
            printout("ALARM \(a.order) round=\(a.round)\(flags) \(a.keyword) \(a.area) | \(a.address) | units=\(a.units.joined(separator: ","))")
        }
        guard behaviour.acknowledges else { return }
        let ack = StationAlertFrame.ack(.init(order: a.order, round: a.round)).frame
        if behaviour.ackDelayMillis == 0 {
            c.send(ack)
        } else {
            _ = loop.schedule(after: behaviour.ackDelayMillis * 1_000_000) { [weak c] in
                guard let c, !c.isClosed else { return }
                c.send(ack)
            }
        }
    }
}
