import Bus
import Client
import Consensus
import Secure
import Wire

/// One client connection (console, gateway, tool) on a node: requests in, replies and
/// subscription events out (Protocols/client.md). Commands carry the certificate's identity as
/// their sender, so the log records who did what and a retried command id is applied once.
final class ClientSession: FrameConnectionDelegate {
    /// Roles served on the client listener. Analysts read; only operators and gateways submit.
    static let acceptedRoles: Set<Secure.Role> = [.operator, .gateway, .analyst]
    static let maxPending = 1_024
    static let maxSubscriptions = 64
    /// A submit or read without an answer after this long fails with `timedOut`.
    static let requestTimeout: UInt64 = 10_000_000_000

    unowned let node: NodeServer
    let peer: PeerIdentity
    /// Recorded as the sender of every command: `role:CN`.
    let sender: String
    private weak var connection: FrameConnection?
    private var pending: [UInt64: UInt64] = [:]  // request id → deadline
    private var sweepTimer: UInt64?
    private var subscriptions: [UInt64: Subscription] = [:]

    private struct Subscription {
        var topic: TopicName
        var next: UInt64
        /// Delivering; false while paused for a congested connection.
        var live = false
        var handle: Int?
    }

    init(node: NodeServer, peer: PeerIdentity) {
        self.node = node
        self.peer = peer
        self.sender = "\(peer.role.rawValue):\(peer.name)"
    }

    func connectionOpened(_ c: FrameConnection) { connection = c }

    func connection(_ c: FrameConnection, received frame: ProtocolFrame) {
        let request: ClientRequest
        do { request = try ClientRequest.decode(frame) } catch { return c.refuse(.malformed, "\(error)") }
        // A node that stopped serving (storage failure) answers only status: its state is frozen
        // and its log will not grow; the client moves to another node.
        if let reason = node.bus.replica.haltReason, !(request.isStatus) {
            return reply(.failure(id: request.id, RequestFailure(code: .halted, reason: "this node stopped serving: \(reason)")))
        }
        guard pending.count < Self.maxPending || request.isStatus || request.isUnsubscribe else {
            return reply(.failure(id: request.id, RequestFailure(code: .overloaded, reason: "\(Self.maxPending) requests in flight")))
        }
        switch request {
        case let .submit(id, type, commandID, payload):
            submit(id: id, type: type, commandID: commandID, payload: payload)
        case let .read(id, topic, from, limit, linearizable):
            read(id: id, topic: topic, from: from, limit: Int(limit), linearizable: linearizable)
        case let .subscribe(id, topic, from):
            subscribe(id: id, topic: topic, from: from)
        case let .unsubscribe(id):
            if let h = subscriptions.removeValue(forKey: id)?.handle { node.bus.cancel(subscription: h) }
        case let .status(id):
            reply(.status(id: id, node.status()))
        case let .query(id, namespace, name, payload, linearizable):
            query(id: id, namespace: namespace, name: name, payload: payload, linearizable: linearizable)
        }
    }

    func connectionDrained(_ c: FrameConnection) {
        for (id, sub) in subscriptions.sorted(by: { $0.key < $1.key }) where !sub.live { resume(id) }
    }

    func connectionClosed(_ c: FrameConnection, reason: String) {
        for sub in subscriptions.values { if let h = sub.handle { node.bus.cancel(subscription: h) } }
        subscriptions.removeAll()
        pending.removeAll()
        if let t = sweepTimer { node.loop.cancel(timer: t) }
    }

    private func reply(_ r: ClientReply) {
        connection?.send(r.frame)
    }

    // MARK: - Requests

    private func submit(id: UInt64, type: String, commandID: String, payload: [UInt8]) {
        guard peer.role == .operator || peer.role == .gateway else {
            return reply(.failure(id: id, RequestFailure(code: .forbidden, reason: "\(peer.role.rawValue) certificates may not submit commands")))
        }
        let envelope: CommandEnvelope
        do {
            envelope = try CommandEnvelope(type: type, id: try CommandID(commandID), sender: sender, timestamp: node.bus.now, payload: payload)
        } catch {
            return reply(.failure(id: id, RequestFailure(code: .invalid, reason: "\(error)")))
        }
        track(id)
        node.submit(envelope) { [weak self] result in
            guard let self, self.pending.removeValue(forKey: id) != nil else { return }
            switch result {
            case .success(let outcome): self.reply(.outcome(id: id, outcome: outcome))
            case .failure(let f): self.reply(.failure(id: id, f))
            }
        }
    }

    private func read(id: UInt64, topic: String, from: UInt64, limit: Int, linearizable: Bool) {
        let name: TopicName
        do { name = try TopicName(topic) } catch { return reply(.failure(id: id, RequestFailure(code: .invalid, reason: "\(error)"))) }
        let limit = max(1, min(limit, Int(ClientLimits.maxReadCount)))
        guard linearizable else { return reply(page(id: id, name, from, limit)) }
        track(id)
        node.bus.readLinearizable { [weak self] result in
            guard let self, self.pending.removeValue(forKey: id) != nil else { return }
            switch result {
            case .success: self.reply(self.page(id: id, name, from, limit))
            case .failure(let e): self.reply(.failure(id: id, self.node.failure(e)))
            }
        }
    }

    private func query(id: UInt64, namespace: String, name: String, payload: [UInt8], linearizable: Bool) {
        let answer: () -> ClientReply = { [node, sender] in
            do throws(DomainQueryError) {
                return .answer(id: id, payload: try node.bus.state.query(namespace: namespace, name: name, payload: payload, asker: sender))
            } catch {
                let code: RequestFailure.Code = if case .notFound = error { .notFound } else { .invalid }
                return .failure(id: id, RequestFailure(code: code, reason: error.description))
            }
        }
        guard linearizable else { return reply(answer()) }
        track(id)
        node.bus.readLinearizable { [weak self] result in
            guard let self, self.pending.removeValue(forKey: id) != nil else { return }
            switch result {
            case .success: self.reply(answer())
            case .failure(let e): self.reply(.failure(id: id, self.node.failure(e)))
            }
        }
    }

    /// A page of the local state: trimmed offsets show as `firstOffset` > `from`, the end as an
    /// empty page with `nextOffset == endOffset`.
    private func page(id: UInt64, _ topic: TopicName, _ from: UInt64, _ limit: Int) -> ClientReply {
        // Stay under the frame limit: at most 768 KiB of payload a page.
        switch node.bus.read(topic: topic, from: from, limit: limit, maxBytes: 768 << 10) {
        case .success(let r):
            return .messages(id: id, page: ReadPage(messages: r.messages.map(Self.message), nextOffset: r.nextOffset,
                                                    firstOffset: r.firstOffset, endOffset: r.endOffset))
        case .failure(.trimmed(_, let first)):
            return page(id: id, topic, first, limit)
        case .failure(.offsetBeyondEnd(_, let next)):
            return .messages(id: id, page: ReadPage(messages: [], nextOffset: next, firstOffset: next, endOffset: next))
        case .failure(.unknownTopic):
            return .failure(id: id, RequestFailure(code: .notFound, reason: "unknown topic '\(topic)'"))
        case .failure(let other):
            return .failure(id: id, RequestFailure(code: .invalid, reason: "\(other)"))
        }
    }

    static func message(_ m: StoredMessage) -> BusMessage {
        BusMessage(offset: m.offset, sender: m.sender, commandID: m.commandID.rawValue, timestamp: m.timestamp, payload: m.payload)
    }

    private func subscribe(id: UInt64, topic: String, from: UInt64) {
        let name: TopicName
        do { name = try TopicName(topic) } catch { return reply(.failure(id: id, RequestFailure(code: .invalid, reason: "\(error)"))) }
        guard subscriptions[id] == nil else {
            return reply(.failure(id: id, RequestFailure(code: .invalid, reason: "subscription \(id) exists")))
        }
        guard subscriptions.count < Self.maxSubscriptions else {
            return reply(.failure(id: id, RequestFailure(code: .overloaded, reason: "\(Self.maxSubscriptions) subscriptions on one connection")))
        }
        subscriptions[id] = Subscription(topic: name, next: from)
        resume(id)
    }

    /// (Re)starts the bus subscription from where the client is; pauses it again while the
    /// connection is congested, so a slow subscriber costs a bounded buffer, never lost messages.
    private func resume(_ id: UInt64) {
        guard var sub = subscriptions[id], !sub.live else { return }
        sub.live = true
        subscriptions[id] = sub
        // `subscribe` delivers what is already there before it returns the handle.
        let handle = node.bus.subscribe(topic: sub.topic, from: sub.next) { [weak self] event in
            guard let self, var s = self.subscriptions[id], s.live else { return }
            switch event {
            case .message(let m):
                s.next = m.offset + 1
                self.reply(.event(id: id, .message(Self.message(m))))
            case let .gap(from, resumeAt):
                s.next = resumeAt
                self.reply(.event(id: id, .gap(from: from, resumeAt: resumeAt)))
            }
            if self.connection?.isCongested ?? true {
                s.live = false
                if let h = s.handle { self.node.bus.cancel(subscription: h) }
                s.handle = nil
            }
            self.subscriptions[id] = s
        }
        if var s = subscriptions[id], s.live {
            s.handle = handle
            subscriptions[id] = s
        } else {
            node.bus.cancel(subscription: handle)
        }
    }

    // MARK: - Deadlines

    private func track(_ id: UInt64) {
        pending[id] = EventLoop.now() + Self.requestTimeout
        if sweepTimer == nil { scheduleSweep() }
    }

    private func scheduleSweep() {
        sweepTimer = node.loop.schedule(after: 1_000_000_000) { [weak self] in
            guard let self else { return }
            let now = EventLoop.now()
            let expired = self.pending.filter { $0.value <= now }.keys.sorted()
            for id in expired {
                self.pending[id] = nil
                self.reply(.failure(id: id, RequestFailure(code: .timedOut, reason: "no commit within 10 s; the outcome is unknown, retry with the same id")))
            }
            if self.pending.isEmpty { self.sweepTimer = nil } else { self.scheduleSweep() }
        }
    }
}
