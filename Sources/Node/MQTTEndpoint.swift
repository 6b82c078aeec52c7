import Bus
import Domains
import Foundation
import Partners
import Secure

/// The partner endpoint on one node (Protocols/partner-mqtt.md): MQTT 3.1.1 over TLS 1.3 with
/// partner certificates. Each connection runs `MQTTConnectionLogic`; its commands go through
/// Raft like any client's (forwarded to the leader), and the acknowledgements follow their
/// commits. Deliveries come from the node's own replica: a session's queue after every commit
/// the connection waited for, every message a command published as this node applies it
/// (`PartnerMachine.onPublished`: QoS 0 to the matching local connections, and a look at the
/// queues), a sweep every second (a follower applies a moment after the leader answered).
/// Takeovers and lost nodes arrive on `mqtt/control`. On the node's loop thread.
final class MQTTEndpoint {
    /// A packet may not exceed this: the largest payload the rights allow (512 KiB) with its
    /// topic, and one such item still fits a command (1 MiB).
    static let maxPacket = 600 << 10
    /// A packet whose first bytes arrived must be complete within this (checked every second).
    static let incompleteLimit: UInt64 = 20_000_000_000
    static let acceptedRoles: Set<Secure.Role> = [.partner]

    private unowned let node: NodeServer
    private let loop: EventLoop
    private var server: TLSServer?
    private var links: [ObjectIdentifier: Link] = [:]
    private var connections: UInt64 = 0
    private var commands: UInt64 = 0
    private let boot = UInt32.random(in: 0...UInt32.max)
    private var sweepTimer: UInt64?
    /// This run of the node, as sessions name where they are held: "NAME@BOOT".
    private let instance: String
    private let started = EventLoop.now()
    /// A node silent this long has lost its partners' connections (their wills are published).
    static let nodeLostAfter: UInt64 = 10_000_000_000
    private var declaring: Set<String> = []

    private let log: (String) -> Void

    init(node: NodeServer, loop: EventLoop, context: TLSContext, endpoint: Endpoint, log: @escaping (String) -> Void) throws {
        self.log = log
        self.node = node
        self.loop = loop
        instance = "\(node.config.me.name)@\(String(boot, radix: 16))"
        // Idle connections are MQTT's business (keep alive, up to 65 535 s × 1.5; none with keep
        // alive 0), not a transport timeout's; an unfinished packet is not (`incompleteLimit`).
        var limits = TLSLimits()
        limits.idleTimeout = .seconds(65_535 * 3 / 2 + 60)
        server = try TLSServer(loop: loop, context: context, host: endpoint.host, port: endpoint.port, limits: limits,
                               splitter: { bytes in try MQTTPacket.frame(in: bytes, limit: Self.maxPacket)?.total }, log: log) { [unowned self] c in
            self.accept(c)
        }
        node.partners.onPublished = { [unowned self] messages in self.published(messages) }
        let control = try! TopicName(PartnerMachine.controlTopic)
        node.bus.subscribe(topic: control, from: node.bus.state.topic(named: control)?.nextOffset ?? 0) { [unowned self] event in
            guard case .message(let m) = event, let kick = try? JSONDecoder().decode(PartnerState.Kick.self, from: Data(m.payload)) else { return }
            for link in self.links.values where link.logic.session == kick.session && link.logic.epoch == kick.epoch {
                link.connection.close(reason: "session ended elsewhere: taken over by a new connection (MQTT-3.1.4-2), or this node was declared lost")
            }
        }
        sweep()
        announce()
    }

    /// A node that starts again ends the sessions its previous run held (their connections died
    /// with it): until that is committed, retried every second.
    private func announce(attempt: Int = 1) {
        let payload = PartnerState.json(PartnerState.NodeLost(node: node.config.me.name, except: instance))
        command("mqtt.node.lost", payload) { [weak self] result in
            guard result == nil, let self else { return }
            if attempt % 60 == 1 { self.log("partner sessions of this node's previous run not ended yet (attempt \(attempt)); retrying every second") }
            _ = self.loop.schedule(after: 1_000_000_000) { [weak self] in self?.announce(attempt: attempt + 1) }
        }
    }

    /// On the leader: a node that holds sessions and has been silent for `nodeLostAfter` has
    /// lost their connections; its sessions end with their wills (MQTT-3.1.2-8: the network
    /// connection failed). Should it come back, the kicks close what it still holds.
    private func declareLostNodes() {
        guard node.bus.replica.raft.role == .leader else { return }
        let me = node.config.me.name, now = EventLoop.now()
        let holders = Set(state.sessions.values.compactMap { $0.node.map { String(PartnerState.nodeName($0)) } })
        for name in holders.sorted() where name != me && !declaring.contains(name) {
            guard let member = node.config.members.first(where: { $0.name == name }) else { continue }
            let heard = max(node.mesh.lastHeard[member.id] ?? started, started)
            guard now - heard > Self.nodeLostAfter else { continue }
            declaring.insert(name)
            log("partner sessions of \(name): node silent for \((now - heard) / 1_000_000_000) s, ending them (wills published)")
            command("mqtt.node.lost", PartnerState.json(PartnerState.NodeLost(node: name, except: nil))) { [weak self] _ in
                self?.declaring.remove(name)
            }
        }
    }

    func stop() {
        if let t = sweepTimer { loop.cancel(timer: t) }
        server?.stop()
    }

    private var state: PartnerState { node.partners.state }

    private func accept(_ c: FrameConnection) -> FrameConnectionDelegate? {
        guard let peer = c.peer else { return nil }
        connections += 1
        let org = state.rights?.organisation(certificateO: peer.organisation)?.id ?? "?" + peer.organisation
        let link = Link(endpoint: self, connection: c,
                        logic: MQTTConnectionLogic(org: org, identity: peer.name, node: instance, connection: connections))
        links[ObjectIdentifier(link)] = link
        // 3.1.4: a connection that sends no CONNECT within 10 s is closed.
        _ = loop.schedule(after: 10_000_000_000) { [weak link] in
            guard let link, link.logic.phase == .awaitingConnect, !link.connection.isClosed else { return }
            link.connection.close(reason: "no CONNECT within 10 s")
        }
        return link
    }

    final class Link: PacketConnectionDelegate {
        unowned let endpoint: MQTTEndpoint
        let connection: FrameConnection
        var logic: MQTTConnectionLogic
        var lastPacket = EventLoop.now()
        var keepAliveTimer: UInt64?
        var incompleteSince: UInt64?
        /// A PUBLISH waits for its organisation's rate (the connection is held meanwhile).
        var waitingForToken = false

        init(endpoint: MQTTEndpoint, connection: FrameConnection, logic: MQTTConnectionLogic) {
            self.endpoint = endpoint
            self.connection = connection
            self.logic = logic
        }

        func connectionOpened(_ connection: FrameConnection) {}

        func connection(_ connection: FrameConnection, receivedPacket bytes: ArraySlice<UInt8>) {
            lastPacket = EventLoop.now()
            incompleteSince = nil
            let packet: MQTTPacket
            do {
                guard let f = try MQTTPacket.frame(in: bytes, limit: MQTTEndpoint.maxPacket) else { throw MQTTError("incomplete packet") }
                packet = try MQTTPacket.decode(header: f.header, body: bytes[f.body])
            } catch {
                return endpoint.perform(self, logic.lost("protocol violation: \(error)"))
            }
            // Fairness: an organisation over its rate waits (TCP back-pressure), it is not dropped.
            // The held packet goes first when its token is due, then the ones behind it
            // (MQTT-4.6.0-2: acknowledgements in order).
            if case .publish = packet, let wait = endpoint.admit(org: logic.org) {
                waitingForToken = true
                connection.hold(true)
                _ = endpoint.loop.schedule(after: wait) { [weak self] in
                    guard let self, !self.connection.isClosed else { return }
                    self.waitingForToken = false
                    self.connection(self.connection, receivedPacket: bytes)
                    if !self.waitingForToken { self.connection.hold(false) }
                }
                return
            }
            let wasConnecting = logic.phase == .awaitingConnect
            endpoint.perform(self, logic.received(packet))
            if wasConnecting && logic.keepAlive > 0 { watchKeepAlive() }
        }

        func connectionClosed(_ connection: FrameConnection, reason: String) {
            if let t = keepAliveTimer { endpoint.loop.cancel(timer: t) }
            endpoint.perform(self, logic.lost(reason))
            endpoint.links[ObjectIdentifier(self)] = nil
        }

        /// MQTT-3.1.2-24: no packet for 1.5 × the keep alive closes the connection (will published).
        private func watchKeepAlive() {
            let limit = UInt64(logic.keepAlive) * 1_500_000_000
            keepAliveTimer = endpoint.loop.schedule(after: limit / 3) { [weak self] in
                guard let self, !self.connection.isClosed else { return }
                if EventLoop.now() - self.lastPacket > limit {
                    self.endpoint.perform(self, self.logic.lost("keep alive expired (\(self.logic.keepAlive) s)"))
                } else {
                    self.watchKeepAlive()
                }
            }
        }
    }

    /// Token buckets per organisation (a second's worth of its `messagesPerSecond`), on this node.
    private var buckets: [String: (tokens: Double, at: UInt64)] = [:]

    /// Takes a token for one PUBLISH of `org`: nil when it may go now, else how long to wait (ns).
    func admit(org: String) -> UInt64? {
        let rate = Double(state.rights?.organisations.first { $0.id == org }?.messagesPerSecond ?? 100)
        let now = EventLoop.now()
        var b = buckets[org] ?? (rate, now)
        b.tokens = min(rate, b.tokens + Double(now - b.at) / 1e9 * rate)
        b.at = now
        defer { buckets[org] = b }
        if b.tokens >= 1 {
            b.tokens -= 1
            return nil
        }
        return UInt64((1 - b.tokens) / rate * 1e9) + 1
    }

    /// Carries out what the connection logic asks for.
    func perform(_ link: Link, _ actions: [MQTTConnectionLogic.Action]) {
        for action in actions {
            switch action {
            case .send(let packet): link.connection.sendPacket(packet.encode())
            case .close(let reason): link.connection.close(reason: reason)
            case let .submit(type, payload, then): submit(type, payload, link, then)
            }
        }
    }

    private func submit(_ type: String, _ payload: [UInt8], _ link: Link, _ then: MQTTConnectionLogic.Continuation) {
        // Publishes and acknowledgements that arrive in one turn of the loop (from any connection, each connection's in
        // order) go into the log as one command: one commit for many, the way they queue anyway.
        if type == MQTTConnectionLogic.batchItem {
            // A command holds at most 1 MiB: a batch that would grow beyond goes first.
            if publishesBytes + payload.count > Self.maxBatchBytes { flushPublishes() }
            if publishes.isEmpty { _ = loop.schedule(after: 0) { [weak self] in self?.flushPublishes() } }
            publishes.append((payload, link, then))
            publishesBytes += payload.count
            if publishes.count >= PartnerState.maxBatch { flushPublishes() }
            return
        }
        command(type, payload) { [weak self] bytes in self?.finish(link, then, bytes) }
    }

    private var publishes: [(payload: [UInt8], link: Link, then: MQTTConnectionLogic.Continuation)] = []

    /// The items of one `mqtt.batch`, leaving room for its header within a command's payload.
    static let maxBatchBytes = CommandEnvelope.maxPayloadByteCount - 64
    private var publishesBytes = 0

    private func flushPublishes() {
        let batch = publishes
        publishes = []
        publishesBytes = 0
        guard !batch.isEmpty else { return }
        command("mqtt.batch", PartnerState.binaryBatch(batch.map(\.payload))) { [weak self] bytes in
            guard let self else { return }
            // Every publish of a committed batch is acknowledged (a discarded one too, MQTT-3.3.5-2).
            let results = bytes.flatMap { PartnerState.readBinaryResults($0) }
            let ok = results?.count == batch.count
            for (k, p) in batch.enumerated() {
                if ok, let r = results?[k], r.outcome == "discarded" { self.logDiscarded(p.payload, p.link, r.reason ?? "") }
                self.finish(p.link, p.then, ok ? [] : nil)
            }
        }
    }

    /// Discarded publishes are logged (and reported on the organisation's errors topic by the
    /// state): at most 20 lines a minute per organisation, then how many more there were.
    private var discardLog: [String: (minute: UInt64, lines: Int, suppressed: Int)] = [:]

    private func logDiscarded(_ item: [UInt8], _ link: Link, _ reason: String) {
        let org = link.logic.org, minute = EventLoop.now() / 60_000_000_000
        var d = discardLog[org] ?? (minute, 0, 0)
        if d.minute != minute {
            if d.suppressed > 0 { log("partner \(org): \(d.suppressed) more discarded publishes not logged in the last minute") }
            d = (minute, 0, 0)
        }
        defer { discardLog[org] = d }
        guard d.lines < 20 else { d.suppressed += 1; return }
        d.lines += 1
        var topic = "?"
        if case .publish(let p)? = (try? PartnerState.readBinaryBatch(PartnerState.binaryBatch([item])))?.first { topic = p.topic }
        log("partner \(link.logic.session ?? org) (\(link.logic.identity)): PUBLISH to \(topic.prefix(200)) discarded: \(reason.prefix(300))")
    }

    /// The connection's answer once its command is committed (`bytes`: the result) or failed.
    private func finish(_ link: Link, _ then: MQTTConnectionLogic.Continuation, _ bytes: [UInt8]?) {
        let connack: Bool = if case .connack = then { true } else { false }
        guard !link.connection.isClosed || then == .none || connack else { return }
        let resumed: Bool = if case .connack = then { true } else { false }
        perform(link, link.logic.committed(then, result: bytes))
        deliver(link, resumed: resumed)
    }

    /// Submits one command as this node; `done` gets its result, or nil when it failed. While
    /// the cluster has no leader (an election after a node died) it is retried with the same
    /// id — the log applies it once — for up to `retryFor`. The caller's link is held until then:
    /// a lost connection's `mqtt.lost` must still be committed after the link is gone.
    private func command(_ type: String, _ payload: [UInt8], done: @escaping ([UInt8]?) -> Void) {
        commands += 1
        guard let id = try? CommandID("mqtt-\(node.config.node)-\(boot)-\(commands)"),
              let envelope = try? CommandEnvelope(type: type, id: id, sender: "node:\(node.config.me.name)", timestamp: node.bus.now, payload: payload)
        else { return done(nil) }
        attempt(envelope, until: EventLoop.now() + Self.retryFor, done: done)
    }

    static let retryFor: UInt64 = 10_000_000_000

    private func attempt(_ envelope: CommandEnvelope, until deadline: UInt64, done: @escaping ([UInt8]?) -> Void) {
        node.submit(envelope) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let encoded):
                if case .accepted(let r)? = try? CommandOutcome.decode(encoded) { return done(r) }
                done(nil)
            case .failure(let f) where (f.code == .unavailable || f.code == .timedOut) && EventLoop.now() < deadline:
                _ = self.loop.schedule(after: 100_000_000) { [weak self] in self?.attempt(envelope, until: deadline, done: done) }
            case .failure:
                done(nil)
            }
        }
    }

    private func deliver(_ link: Link, resumed: Bool = false) {
        guard link.logic.phase == .connected, let key = link.logic.session, let s = state.sessions[key],
              s.epoch == link.logic.epoch else { return }
        perform(link, link.logic.deliver(queue: s.queue, resumed: resumed))
    }

    /// What a command just published: live QoS 0 copies, then each connection's queue once.
    private func published(_ messages: [PartnerState.Message]) {
        for link in links.values where link.logic.phase == .connected {
            if let key = link.logic.session {
                for m in messages { perform(link, link.logic.live(m, subscribedAt: state.deliveryQoS(session: key, topic: m.topic))) }
            }
            deliver(link)
        }
    }

    private func sweep() {
        sweepTimer = loop.schedule(after: 1_000_000_000) { [weak self] in
            guard let self else { return }
            let now = EventLoop.now()
            for link in self.links.values {
                self.deliver(link)
                // Slow loris: a packet begun must be finished within `incompleteLimit`.
                if !link.waitingForToken, link.connection.hasIncompletePacket {
                    let since = link.incompleteSince ?? now
                    link.incompleteSince = since
                    if now - since > Self.incompleteLimit { link.connection.close(reason: "a packet left incomplete for \(Self.incompleteLimit / 1_000_000_000) s") }
                } else {
                    link.incompleteSince = nil
                }
            }
            self.declareLostNodes()
            self.sweep()
        }
    }
}
