import Bus
import Client
import Consensus
import Foundation
import Secure
import Wire

/// Frame kinds of the mesh protocol (Protocols/mesh.md).
enum MeshFrameKind: UInt8 {
    case hello = 1, helloAck = 2, raft = 3, forward = 4, forwardResult = 5, ping = 6
}

/// Node↔node traffic over mTLS (Protocols/mesh.md). Each node dials every peer and sends its Raft
/// messages over that outgoing link; it receives each peer's messages on the connection the peer
/// dialled. A follower forwards its clients' commands to the leader over its link, and the
/// leader answers on the same connection.
///
/// Raft tolerates loss, so nothing is queued for a peer that is down, and a link whose buffer is
/// over a quarter of its limit drops Raft messages instead of growing (counted in `dropped`).
/// Links reconnect with exponential backoff (50 ms to 2 s) and ±50 % jitter. Confined to the loop.
final class Mesh: Transport {
    static var limits: TLSLimits {
        var l = TLSLimits()
        l.maxFrameSize = 64 << 20  // whole snapshots travel in one frame
        l.maxBufferedBytes = 96 << 20
        l.idleTimeout = .seconds(60)  // links ping every 20 s both ways
        l.maxConnections = 32  // the peers' links; unverified sockets cannot crowd them out for long
        return l
    }

    let config: NodeConfig
    private unowned let loop: EventLoop
    private var dialContext: TLSContext
    private let log: (String) -> Void
    private var links: [UInt64: PeerLink] = [:]
    private var inbound: [ObjectIdentifier: InboundPeer] = [:]
    private var rng: Xoshiro256
    /// Loop time (ns) of the last frame from each peer.
    private(set) var lastHeard: [UInt64: UInt64] = [:]
    private(set) var dropped = 0
    var onMessages: ([Message]) -> Void = { _ in }
    /// A peer forwards a client's command: answer exactly once.
    var onForward: (_ envelope: CommandEnvelope, _ reply: @escaping (Result<[UInt8], RequestFailure>) -> Void) -> Void = { _, r in
        r(.failure(RequestFailure(code: .unavailable, reason: "not ready")))
    }

    init(config: NodeConfig, loop: EventLoop, dialContext: TLSContext, seed: UInt64, log: @escaping (String) -> Void) {
        self.config = config
        self.loop = loop
        self.dialContext = dialContext
        self.log = log
        self.rng = Xoshiro256(seed: seed)
        for m in config.members where m.id != config.node {
            links[m.id] = PeerLink(member: m, mesh: self)
        }
    }

    func start() { for link in links.values { link.connect() } }

    func stop() {
        for link in links.values { link.stop() }
        for peer in Array(inbound.values) { peer.connection?.close(reason: "node stopping") }
    }

    /// The inbound delegate for a connection accepted on the mesh listener.
    func accept(_ connection: FrameConnection) -> FrameConnectionDelegate {
        let peer = InboundPeer(mesh: self)
        inbound[ObjectIdentifier(connection)] = peer
        return peer
    }

    /// Whether `node`'s link is up both ways (we reach it and it reaches us).
    func isUp(_ node: UInt64) -> Bool {
        guard links[node]?.isUp == true else { return false }
        return inbound.values.contains { $0.peerID == node }
    }

    // MARK: - Transport

    func send(_ messages: [Message]) {
        var byPeer: [UInt64: [Message]] = [:]
        for m in messages { byPeer[m.to.rawValue, default: []].append(m) }
        for (peer, batch) in byPeer {
            guard let link = links[peer], link.send(ProtocolFrame(kind: MeshFrameKind.raft.rawValue, body: MessageCodec.encode(batch))) else {
                dropped += batch.count
                continue
            }
        }
    }

    /// Forwards a command to `leader`; `done` gets the outcome bytes or why not.
    func forward(_ envelope: CommandEnvelope, to leader: UInt64, done: @escaping (Result<[UInt8], RequestFailure>) -> Void) {
        guard let link = links[leader], link.isUp else {
            return done(.failure(RequestFailure(code: .unavailable, leader: leader, reason: "no link to the leader \(leader) yet")))
        }
        link.forward(envelope.encode(), done: done)
    }

    fileprivate func backoff(attempt: Int) -> UInt64 {
        let base = min(2_000_000_000, 50_000_000 << UInt64(min(attempt, 6)))
        let jitter = Double(rng.next() % 1_000) / 1_000  // 0..<1
        return UInt64(Double(base) * (0.5 + jitter))
    }

    fileprivate func heard(_ node: UInt64) { lastHeard[node] = EventLoop.now() }
    fileprivate func closed(_ c: FrameConnection) { inbound[ObjectIdentifier(c)] = nil }
    fileprivate var eventLoop: EventLoop { loop }
    /// The context to dial with, rebuilt when the CRL file changed (peers verified anew).
    fileprivate var context: TLSContext {
        if let crl = dialContext.configuration.crlFile, TLSContext.modificationTime(crl) != dialContext.crlModified,
           let fresh = try? TLSContext(dialContext.configuration, side: .client) {
            dialContext = fresh
        }
        return dialContext
    }
    fileprivate func logLine(_ s: String) { log(s) }

    // MARK: - Outgoing link

    /// Our connection to one peer: hello, then Raft messages and forwarded commands out,
    /// forward results in.
    fileprivate final class PeerLink: FrameConnectionDelegate {
        let member: NodeConfig.Member
        unowned let mesh: Mesh
        private var connection: FrameConnection?
        private(set) var isUp = false
        private var attempts = 0
        private var retryTimer: UInt64?
        private var stopped = false
        private var nextForward: UInt64 = 1
        private var forwards: [UInt64: (sentAt: UInt64, done: (Result<[UInt8], RequestFailure>) -> Void)] = [:]
        private var forwardSweep: UInt64?
        /// A forwarded command the leader has not answered in this long fails with `timedOut`
        /// (a hung leader keeps its connection open).
        static let forwardTimeout: UInt64 = 10_000_000_000
        private var lastError = ""

        init(member: NodeConfig.Member, mesh: Mesh) {
            self.member = member
            self.mesh = mesh
        }

        func connect() {
            guard !stopped, connection == nil else { return }
            retryTimer = nil
            do {
                connection = try FrameConnection.connect(host: member.mesh.host, port: member.mesh.port, context: mesh.context,
                                                         loop: mesh.eventLoop, limits: Mesh.limits, delegate: self)
            } catch {
                scheduleReconnect("\(error)")
            }
        }

        func stop() {
            stopped = true
            if let t = retryTimer { mesh.eventLoop.cancel(timer: t) }
            connection?.close(reason: "node stopping")
        }

        func send(_ frame: ProtocolFrame) -> Bool {
            guard isUp, let c = connection, !c.isCongested else { return false }
            return c.send(frame)
        }

        func forward(_ envelope: [UInt8], done: @escaping (Result<[UInt8], RequestFailure>) -> Void) {
            guard isUp, let c = connection else {
                return done(.failure(RequestFailure(code: .unavailable, leader: member.id, reason: "link to \(member.name) is down")))
            }
            let id = nextForward
            nextForward += 1
            var w = ByteWriter()
            w.writeVarint(id)
            w.writeLengthPrefixed(envelope)
            forwards[id] = (EventLoop.now(), done)
            if forwardSweep == nil { sweepForwards() }
            if !c.send(ProtocolFrame(kind: MeshFrameKind.forward.rawValue, body: w.bytes)) {
                forwards.removeValue(forKey: id)?.done(.failure(RequestFailure(code: .unavailable, leader: member.id, reason: "link to \(member.name) is down")))
            }
        }

        private func sweepForwards() {
            forwardSweep = mesh.eventLoop.schedule(after: 1_000_000_000) { [weak self] in
                guard let self else { return }
                let now = EventLoop.now()
                let expired = self.forwards.filter { now - $0.value.sentAt > Self.forwardTimeout }.keys.sorted()
                for id in expired {
                    self.forwards.removeValue(forKey: id)?.done(.failure(RequestFailure(
                        code: .timedOut, leader: self.member.id, reason: "the leader \(self.member.name) did not answer in 10 s; the outcome is unknown, retry with the same id")))
                }
                if self.forwards.isEmpty { self.forwardSweep = nil } else { self.sweepForwards() }
            }
        }

        func connectionOpened(_ c: FrameConnection) {
            guard c.peer?.name == member.name else {
                return c.close(reason: "peer at \(member.mesh) is '\(c.peer?.name ?? "?")', expected '\(member.name)'")
            }
            var w = ByteWriter()
            w.writeLengthPrefixed(mesh.config.cluster)
            w.writeVarint(mesh.config.node)
            w.writeVarint(member.id)
            c.send(ProtocolFrame(kind: MeshFrameKind.hello.rawValue, body: w.bytes))
        }

        func connection(_ c: FrameConnection, received frame: ProtocolFrame) {
            mesh.heard(member.id)
            switch MeshFrameKind(rawValue: frame.kind) {
            case .helloAck where !isUp:
                isUp = true
                attempts = 0
                mesh.logLine("mesh: link to \(member.name) (\(member.mesh)) up")
                keepAlive(c)
            case .ping where isUp:
                break
            case .forwardResult where isUp:
                var r = ByteReader(frame.body)
                do {
                    let id = try r.readVarint()
                    let status = try r.readUInt8()
                    let result: Result<[UInt8], RequestFailure>
                    if status == 0 {
                        result = .success(try r.readLengthPrefixed(limit: ClientLimits.maxPayload))
                    } else {
                        let reply = try ClientReply.decode(ProtocolFrame(kind: ClientFrameKind.failure.rawValue, body: try r.readBytes(count: r.remainingCount)))
                        guard case .failure(_, let f) = reply else { throw ClientProtocolError("forward result: not a failure") }
                        result = .failure(f)
                    }
                    forwards.removeValue(forKey: id)?.done(result)
                } catch {
                    c.refuse(.malformed, "forward result: \(error)")
                }
            default:
                c.refuse(.malformed, "unexpected mesh frame kind \(frame.kind) on an outgoing link")
            }
        }

        /// A ping every 20 s keeps both ends' idle deadlines (60 s) from closing a quiet link.
        private func keepAlive(_ c: FrameConnection) {
            mesh.eventLoop.schedule(after: 20_000_000_000) { [weak self, weak c] in
                guard let self, let c, !c.isClosed, c === self.connection else { return }
                c.send(ProtocolFrame(kind: MeshFrameKind.ping.rawValue, body: []))
                self.keepAlive(c)
            }
        }

        func connectionClosed(_ c: FrameConnection, reason: String) {
            connection = nil
            if isUp { mesh.logLine("mesh: link to \(member.name) down: \(reason)") }
            isUp = false
            let failed = forwards
            forwards.removeAll()
            for (_, f) in failed.sorted(by: { $0.key < $1.key }) {
                f.done(.failure(RequestFailure(code: .timedOut, leader: member.id,
                                             reason: "link to the leader closed before it answered; the outcome is unknown, retry with the same id")))
            }
            scheduleReconnect(reason)
        }

        private func scheduleReconnect(_ reason: String) {
            guard !stopped else { return }
            if attempts == 0 || reason != lastError {
                if attempts > 0 || !reason.contains("refused") { mesh.logLine("mesh: cannot reach \(member.name) at \(member.mesh): \(reason)") }
            }
            lastError = reason
            let delay = mesh.backoff(attempt: attempts)
            attempts += 1
            retryTimer = mesh.eventLoop.schedule(after: delay) { [weak self] in self?.connect() }
        }
    }

    // MARK: - Incoming connection

    /// A peer's connection to us: hello (checked against its certificate), then its Raft
    /// messages and forwarded commands.
    fileprivate final class InboundPeer: FrameConnectionDelegate {
        unowned let mesh: Mesh
        private(set) var peerID: UInt64?
        weak var connection: FrameConnection?
        private var helloTimer: UInt64?

        init(mesh: Mesh) { self.mesh = mesh }

        func connectionOpened(_ c: FrameConnection) {
            connection = c
            helloTimer = mesh.eventLoop.schedule(after: 5_000_000_000) { [weak c] in
                c?.refuse(.timeout, "no hello within 5 s")
            }
        }

        func connection(_ c: FrameConnection, received frame: ProtocolFrame) {
            guard let peerID else { return hello(c, frame) }
            mesh.heard(peerID)
            switch MeshFrameKind(rawValue: frame.kind) {
            case .raft:
                let messages: [Message]
                do { messages = try MessageCodec.decode(frame.body) } catch { return c.refuse(.malformed, "\(error)") }
                guard messages.allSatisfy({ $0.from.rawValue == peerID && $0.to.rawValue == mesh.config.node }) else {
                    return c.refuse(.unauthorised, "a message not from node \(peerID) to node \(mesh.config.node)")
                }
                mesh.onMessages(messages)
            case .forward:
                var r = ByteReader(frame.body)
                let id: UInt64, envelope: CommandEnvelope
                do {
                    id = try r.readVarint()
                    envelope = try CommandEnvelope.decode(try r.readLengthPrefixed(limit: ClientLimits.maxPayload + 4096))
                    try r.finish()
                } catch { return c.refuse(.malformed, "forward: \(error)") }
                mesh.onForward(envelope) { [weak c] result in
                    guard let c, !c.isClosed else { return }
                    var w = ByteWriter()
                    w.writeVarint(id)
                    switch result {
                    case .success(let outcome):
                        w.writeUInt8(0)
                        w.writeLengthPrefixed(outcome)
                    case .failure(let f):
                        w.writeUInt8(1)
                        w.writeBytes(ClientReply.failure(id: 0, f).frame.body)
                    }
                    c.send(ProtocolFrame(kind: MeshFrameKind.forwardResult.rawValue, body: w.bytes))
                }
            case .ping:
                c.send(ProtocolFrame(kind: MeshFrameKind.ping.rawValue, body: []))
            default:
                c.refuse(.malformed, "unexpected mesh frame kind \(frame.kind)")
            }
        }

        private func hello(_ c: FrameConnection, _ frame: ProtocolFrame) {
            guard frame.kind == MeshFrameKind.hello.rawValue else { return c.refuse(.malformed, "expected hello, got kind \(frame.kind)") }
            var r = ByteReader(frame.body)
            let cluster: String, from: UInt64, to: UInt64
            do {
                cluster = try r.readLengthPrefixedString(limit: 256)
                from = try r.readVarint()
                to = try r.readVarint()
                try r.finish()
            } catch { return c.refuse(.malformed, "hello: \(error)") }
            let config = mesh.config
            guard cluster == config.cluster else { return c.refuse(.unauthorised, "cluster '\(cluster)' is not '\(config.cluster)'") }
            guard to == config.node else { return c.refuse(.unauthorised, "this is node \(config.node), not \(to)") }
            guard let member = config.members.first(where: { $0.id == from }), member.id != config.node else {
                return c.refuse(.unauthorised, "node \(from) is no member of this cluster")
            }
            guard c.peer?.name == member.name else {
                return c.refuse(.unauthorised, "certificate '\(c.peer?.name ?? "?")' may not speak for node \(from) ('\(member.name)')")
            }
            if let t = helloTimer { mesh.eventLoop.cancel(timer: t) }
            // A newer connection from the same peer replaces an old one (after its restart).
            for (key, other) in mesh.inbound where other !== self && other.peerID == from {
                mesh.inbound[key] = nil
                other.connection?.close(reason: "replaced by a new connection from node \(from)")
            }
            peerID = from
            mesh.heard(from)
            c.send(ProtocolFrame(kind: MeshFrameKind.helloAck.rawValue, body: []))
        }

        func connectionClosed(_ c: FrameConnection, reason: String) {
            if let t = helloTimer { mesh.eventLoop.cancel(timer: t) }
            mesh.closed(c)
        }
    }
}
