import Alarming
import Client
import Foundation
import GatewayCore
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
/// knows the lines when it takes over. What it decides is `StationCore`'s; this shell performs it
/// over TLS and the cluster client. Confined to its event loop's thread.
public final class StationGateway {
    public struct Options: Sendable {
        public var name: String
        public var host = "127.0.0.1"
        public var port: UInt16 = 0
        public init(name: String) { self.name = name }
    }

    private let loop: EventLoop
    private let link: GatewayLink<StationCore>
    private var server: TLSServer!
    /// The devices' connections by the id the core knows them by.
    private var connections: [UInt64: FrameConnection] = [:]
    private var nextConnection: UInt64 = 0

    /// The listener's port (for `cluster.json` and tests).
    public var port: UInt16 { server.port }

    /// `registry` gives the stations with lines and their supervision intervals; `serverContext`
    /// must accept role `station`. Call on the loop's thread, then run the loop.
    public init(loop: EventLoop, client: FlorianClient, registry: Registry, serverContext: TLSContext, options: Options,
                log: @escaping (String) -> Void) throws {
        self.loop = loop
        link = GatewayLink(core: StationCore(name: options.name, nonce: processNonce(), registry: registry, now: GatewayLink<StationCore>.now()),
                           network: .wired, client: client, loop: loop, log: log)
        var limits = TLSLimits()
        limits.maxFrameSize = StationAlertFrame.maxFrameSize
        limits.idleTimeout = .seconds(600)
        limits.maxBufferedBytes = 1 << 20
        server = try TLSServer(loop: loop, context: serverContext, host: options.host, port: options.port, limits: limits,
                               log: log) { [unowned self] c in StationConnection(gateway: self, connection: c) }
        link.device = { [unowned self] d in self.perform(d) }
        let previous = loop.everyIteration
        loop.everyIteration = { [unowned self] in
            previous?()
            self.link.drain()
        }
        link.start()
    }

    public func stop() {
        link.stop()
        server.stop()
    }

    private func perform(_ d: GatewayDirective) -> GatewayInput? {
        switch d {
        case let .send(id, frame):
            guard let c = connections[id], !c.isClosed else { return .closed(connection: id, reason: "connection gone") }
            return c.send(frame.frame) ? nil : .closed(connection: id, reason: "send failed")
        case let .refuse(id, code, reason):
            connections[id]?.refuse(code, reason)
        case let .close(id, reason):
            connections[id]?.close(reason: reason)
        default:
            break
        }
        return nil
    }

    fileprivate func opened(_ c: FrameConnection) -> UInt64 {
        nextConnection += 1
        connections[nextConnection] = c
        return nextConnection
    }

    fileprivate func feed(_ input: GatewayInput) { link.feed(input) }

    fileprivate func closed(_ id: UInt64, reason: String) {
        connections[id] = nil
        link.feed(.closed(connection: id, reason: reason))
    }
}

/// One station device's connection: decodes frames, checks that HELLO comes first.
private final class StationConnection: FrameConnectionDelegate {
    unowned let gateway: StationGateway
    let id: UInt64
    var station: String?

    init(gateway: StationGateway, connection: FrameConnection) {
        self.gateway = gateway
        id = gateway.opened(connection)
    }

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
            gateway.feed(.hello(connection: id, peerRole: c.peer?.role.rawValue, peerName: c.peer?.name, h))
        case .heartbeat:
            guard station != nil else { return c.refuse(.malformed, "HELLO must come first") }
            gateway.feed(.heartbeat(connection: id))
        case .ack(let a):
            guard station != nil else { return c.refuse(.malformed, "HELLO must come first") }
            gateway.feed(.ack(connection: id, a))
        case .welcome, .alarm:
            c.refuse(.malformed, "a device does not send \(frame.kind == 2 ? "WELCOME" : "ALARM")")
        }
    }

    func connectionClosed(_ c: FrameConnection, reason: String) { gateway.closed(id, reason: reason) }
}
