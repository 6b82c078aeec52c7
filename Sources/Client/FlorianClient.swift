import Bus
import Foundation
import Secure
import Synchronization
import Wire

/// The Swift client of the node protocol: connects to any node of `nodes` over mTLS, moves to the
/// leader by itself (from the status it asks for on every connect, and from the leader hint of an
/// `unavailable` answer), and on a lost connection goes to the next node and sends again what had
/// no answer — commands keep their ids, so a command sent twice is applied once. Subscriptions
/// resume after the last event delivered.
///
/// Thread-safe: every method may be called from any thread; completions and events run on the
/// client's own loop thread (do not block in them).
public final class FlorianClient: Sendable {
    public struct Options: Sendable {
        /// How long a request may take, retries included, before it fails with `timedOut`.
        public var requestTimeout: Duration = .seconds(10)
        /// Move to the leader when a node names one.
        public var followLeader = true
        /// A connection on which a request has waited this long while nothing at all arrived is
        /// taken for dead (a hung or partitioned node sends no reset): the client moves to the next
        /// node and sends again. Subscribed connections are probed after this long of silence.
        public var attemptTimeout: Duration = .seconds(1)
        public init() {}
    }

    public typealias Completion = @Sendable (Result<ClientReply, RequestFailure>) -> Void

    enum Job: Sendable {
        case request(ClientRequestBody, Completion)
        case subscribe(id: UInt64, topic: String, from: UInt64, @Sendable (StreamEvent) -> Void)
        case unsubscribe(id: UInt64)
        case close
    }

    private let handle: EventLoop.LoopHandle
    private let nextSubscription = Mutex<UInt64>(1 << 40)

    /// `nodes`: `host:port` of client listeners (any subset of the cluster; the client learns the
    /// rest from status answers). `tls`: a client context accepting role `node`.
    public init(nodes: [String], tls: TLSContext, options: Options = Options()) throws {
        guard !nodes.isEmpty else { throw RequestFailure(code: .invalid, reason: "no node addresses") }
        let finished = Handoff<Bool>()
        let ready = Handoff<Result<EventLoop.LoopHandle, SocketError>>()
        let box = JobBox()
        Thread {
            let loop: EventLoop
            do { loop = try EventLoop() } catch {
                ready.post(.failure(error as? SocketError ?? .system("event loop", EINVAL)))
                return
            }
            let core = ClientCore(loop: loop, nodes: nodes, tls: tls, options: options)
            let handle = loop.handle
            loop.everyIteration = {
                for job in box.take() {
                    if case .close = job { core.close(); handle.stop() } else { core.handle(job) }
                }
            }
            ready.post(.success(loop.handle))
            loop.run()
            core.close()
            // The closure holds the core; dropping it frees the loop, its descriptors and the core.
            loop.everyIteration = nil
            finished.post(true)
        }.start()
        switch ready.wait()! {
        case .success(let h): handle = h
        case .failure(let e): throw e
        }
        self.box = box
        self.finished = finished
    }

    private let box: JobBox
    private let finished: Handoff<Bool>

    /// The queue between callers' threads and the loop.
    final class JobBox: Sendable {
        private let jobs = Mutex<[Job]>([])
        func post(_ job: Job) { jobs.withLock { $0.append(job) } }
        func take() -> [Job] { jobs.withLock { j in defer { j.removeAll() }; return j } }
    }

    deinit { close() }

    private func post(_ job: Job) {
        box.post(job)
        handle.execute {}
    }

    /// Sends a request; `completion` runs once with its reply or failure.
    public func send(_ body: ClientRequestBody, completion: @escaping Completion) {
        post(.request(body, completion))
    }

    /// Stops the client: pending requests fail, the connection closes.
    public func close() { post(.close) }

    /// `close`, then waits (at most 2 s) until the client's thread has finished — call before a
    /// process exits, so that no TLS call runs while the process's exit handlers free OpenSSL.
    public func closeAndWait() {
        post(.close)
        _ = finished.wait(timeout: .now() + 2)
    }

    // MARK: - Convenience (blocking)

    /// Submits a command and waits for its committed outcome.
    public func submit(type: String, commandID: String, payload: [UInt8]) throws -> CommandOutcome {
        // Refused here, at once: the node would refuse it too, but a frame that large is never sent.
        guard payload.count <= CommandEnvelope.maxPayloadByteCount else {
            throw RequestFailure(code: .invalid, reason: "the command is \(payload.count) bytes, the limit is \(CommandEnvelope.maxPayloadByteCount)")
        }
        let reply = try wait { self.send(.submit(type: type, commandID: commandID, payload: payload), completion: $0) }
        guard case .outcome(_, let bytes) = reply else { throw RequestFailure(code: .invalid, reason: "unexpected reply \(reply)") }
        do { return try CommandOutcome.decode(bytes) } catch { throw RequestFailure(code: .invalid, reason: "outcome: \(error)") }
    }

    /// Publishes and waits for the commit; returns the offset. A rejection throws.
    public func publish(topic: String, payload: [UInt8], commandID: String) throws -> UInt64 {
        let publish: BusCommand.Publish
        do { publish = try BusCommand.Publish(topic: TopicName(topic), payload: payload) } catch {
            throw RequestFailure(code: .invalid, reason: "\(error)")
        }
        switch try submit(type: BusCommand.Publish.type, commandID: commandID, payload: publish.encode()) {
        case .published(_, let offset): return offset
        case .rejected(let why): throw RequestFailure(code: .invalid, reason: "\(why)")
        case let other: throw RequestFailure(code: .invalid, reason: "unexpected outcome \(other)")
        }
    }

    /// Creates a topic (an existing one with the same retention is fine).
    public func createTopic(_ topic: String, maxCount: UInt64 = 100_000, maxAgeMillis: UInt64 = 0, commandID: String) throws {
        let create: BusCommand.CreateTopic
        do { create = BusCommand.CreateTopic(name: try TopicName(topic), retention: try Retention(maxCount: maxCount, maxAgeMillis: maxAgeMillis)) } catch {
            throw RequestFailure(code: .invalid, reason: "\(error)")
        }
        switch try submit(type: BusCommand.CreateTopic.type, commandID: commandID, payload: create.encode()) {
        case .topicCreated, .rejected(.topicExists): return
        case .rejected(let why): throw RequestFailure(code: .invalid, reason: "\(why)")
        case let other: throw RequestFailure(code: .invalid, reason: "unexpected outcome \(other)")
        }
    }

    public func read(topic: String, from: UInt64, limit: UInt32 = 1_000, linearizable: Bool = false) throws -> ReadPage {
        let reply = try wait { self.send(.read(topic: topic, from: from, limit: limit, linearizable: linearizable), completion: $0) }
        guard case .messages(_, let page) = reply else { throw RequestFailure(code: .invalid, reason: "unexpected reply \(reply)") }
        return page
    }

    /// Asks a domain a read-only question (e.g. namespace "alarm", name "proposal"); the answer is
    /// in the domain's format. `linearizable`: the answer reflects every command committed before.
    public func query(namespace: String, name: String, payload: [UInt8], linearizable: Bool = true) throws -> [UInt8] {
        let reply = try wait { self.send(.query(namespace: namespace, name: name, payload: payload, linearizable: linearizable), completion: $0) }
        guard case .answer(_, let bytes) = reply else { throw RequestFailure(code: .invalid, reason: "unexpected reply \(reply)") }
        return bytes
    }

    public func status() throws -> ClusterStatus {
        let reply = try wait { self.send(.status, completion: $0) }
        guard case .status(_, let s) = reply else { throw RequestFailure(code: .invalid, reason: "unexpected reply \(reply)") }
        return s
    }

    /// Pushes `topic`'s messages from `from` on to `onEvent`, across reconnects; returns an id for
    /// `unsubscribe`.
    @discardableResult
    public func subscribe(topic: String, from: UInt64, onEvent: @escaping @Sendable (StreamEvent) -> Void) -> UInt64 {
        let id = nextSubscription.withLock { n in defer { n += 1 }; return n }
        post(.subscribe(id: id, topic: topic, from: from, onEvent))
        return id
    }

    public func unsubscribe(_ id: UInt64) { post(.unsubscribe(id: id)) }

    private func wait(_ start: (@escaping Completion) -> Void) throws -> ClientReply {
        let done = Handoff<Result<ClientReply, RequestFailure>>()
        start { done.post($0) }
        return try done.wait()!.get()
    }
}

/// A request without its id (the client numbers them).
public enum ClientRequestBody: Sendable {
    case submit(type: String, commandID: String, payload: [UInt8])
    case read(topic: String, from: UInt64, limit: UInt32, linearizable: Bool)
    case status
    case query(namespace: String, name: String, payload: [UInt8], linearizable: Bool)

    func request(id: UInt64) -> ClientRequest {
        switch self {
        case let .submit(type, commandID, payload): .submit(id: id, type: type, commandID: commandID, payload: payload)
        case let .read(topic, from, limit, linearizable): .read(id: id, topic: topic, from: from, limit: limit, linearizable: linearizable)
        case .status: .status(id: id)
        case let .query(namespace, name, payload, linearizable):
            .query(id: id, namespace: namespace, name: name, payload: payload, linearizable: linearizable)
        }
    }
}

/// The client's state, confined to its loop thread.
private final class ClientCore: FrameConnectionDelegate {
    unowned let loop: EventLoop
    var nodes: [String]
    let tls: TLSContext
    let options: FlorianClient.Options
    private var current = 0
    private var connection: FrameConnection?
    private var ready = false
    private var probeID: UInt64?
    private var attempts = 0
    private var closed = false
    private var nextID: UInt64 = 1
    private var pending: [UInt64: Pending] = [:]
    private var subscriptions: [UInt64: Sub] = [:]
    private var sweepTimer: UInt64?
    private var retryTimer: UInt64?
    private var lastReason = "not connected yet"
    /// Addresses that failed before answering, and until when the client does not move to them
    /// on a leader hint (a leader whose client port this client cannot reach: stay on a follower,
    /// which forwards, instead of bouncing between the two).
    private var unreachableUntil: [String: UInt64] = [:]

    private func reachable(_ address: String) -> Bool {
        guard let until = unreachableUntil[address] else { return true }
        if EventLoop.now() >= until { unreachableUntil[address] = nil; return true }
        return false
    }

    struct Pending {
        var body: ClientRequestBody
        var completion: FlorianClient.Completion
        var deadline: UInt64
        var sent = false
        /// Loop time of the last send on the current connection.
        var sentAt: UInt64 = 0
    }
    /// Loop time of the last frame received on the current connection.
    private var lastReceived: UInt64 = 0

    struct Sub {
        var topic: String
        var next: UInt64
        var onEvent: @Sendable (StreamEvent) -> Void
    }

    init(loop: EventLoop, nodes: [String], tls: TLSContext, options: FlorianClient.Options) {
        self.loop = loop
        self.nodes = nodes
        self.tls = tls
        self.options = options
    }

    private var timeout: UInt64 { EventLoop.nanoseconds(options.requestTimeout) }
    private var attemptTimeout: UInt64 { EventLoop.nanoseconds(options.attemptTimeout) }

    func handle(_ job: FlorianClient.Job) {
        guard !closed else {
            if case .request(_, let c) = job { c(.failure(RequestFailure(code: .unavailable, reason: "client closed"))) }
            return
        }
        switch job {
        case let .request(body, completion):
            let id = nextID
            nextID += 1
            pending[id] = Pending(body: body, completion: completion, deadline: EventLoop.now() + timeout)
            if sweepTimer == nil { sweep() }
            sendPending()
        case let .subscribe(id, topic, from, onEvent):
            subscriptions[id] = Sub(topic: topic, next: from, onEvent: onEvent)
            if ready { connection?.send(ClientRequest.subscribe(id: id, topic: topic, from: from).frame) }
            if sweepTimer == nil { sweep() }
        case let .unsubscribe(id):
            if subscriptions.removeValue(forKey: id) != nil, ready { connection?.send(ClientRequest.unsubscribe(id: id).frame) }
        case .close:
            close()
        }
        if connection == nil && retryTimer == nil { connect() }
    }

    func close() {
        guard !closed else { return }
        closed = true
        if let t = retryTimer { loop.cancel(timer: t) }
        if let t = sweepTimer { loop.cancel(timer: t) }
        connection?.close(reason: "client closed")
        let all = pending.sorted { $0.key < $1.key }
        pending.removeAll()
        for (_, p) in all { p.completion(.failure(RequestFailure(code: .unavailable, reason: "client closed"))) }
    }

    // MARK: - Connection

    private func connect() {
        retryTimer = nil
        guard !closed, connection == nil else { return }
        let address = nodes[current % nodes.count]
        let parts = address.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else {
            lastReason = "bad node address '\(address)'"
            return advance()
        }
        do {
            connection = try FrameConnection.connect(host: String(parts[0]), port: port, context: tls, loop: loop, delegate: self)
        } catch {
            lastReason = "\(address): \(error)"
            unreachableUntil[address] = EventLoop.now() + 5_000_000_000
            advance()
        }
    }

    /// Tries the next node after a growing pause (0, 25, 50 … 400 ms).
    private func advance() {
        connection = nil
        ready = false
        current += 1
        let delay = attempts == 0 ? 0 : min(400_000_000, UInt64(25_000_000) << UInt64(min(attempts - 1, 4)))
        attempts += 1
        guard !closed, !pending.isEmpty || !subscriptions.isEmpty else { return }
        retryTimer = loop.schedule(after: delay) { [weak self] in self?.connect() }
    }

    private func switchTo(_ address: String) {
        if let k = nodes.firstIndex(of: address) { current = k } else {
            nodes.append(address)
            current = nodes.count - 1
        }
        attempts = 0
        let c = connection
        connection = nil
        ready = false
        c?.delegate = nil
        c?.close(reason: "moving to the leader at \(address)")
        for id in pending.keys { pending[id]?.sent = false }
        connect()
    }

    func connectionOpened(_ c: FrameConnection) {
        lastReceived = EventLoop.now()
        // TLS 1.3: the server may still refuse our certificate; the link is up once it answers.
        let id = nextID
        nextID += 1
        probeID = id
        c.send(ClientRequest.status(id: id).frame)
    }

    func connection(_ c: FrameConnection, received frame: ProtocolFrame) {
        guard c === connection else { return }
        lastReceived = EventLoop.now()
        let reply: ClientReply
        do { reply = try ClientReply.decode(frame) } catch {
            return c.refuse(.malformed, "\(error)")
        }
        if reply.id == probeID, case .status(_, let status) = reply {
            probeID = nil
            if let halted = status.halted {
                lastReason = "node \(status.node) stopped serving: \(halted)"
                return c.close(reason: lastReason)
            }
            attempts = 0
            ready = true
            if options.followLeader, status.leader != 0, status.leader != status.node, let leader = status.leaderMember,
               reachable(leader.client) {
                for m in status.members where !nodes.contains(m.client) { nodes.append(m.client) }
                return switchTo(leader.client)
            }
            for m in status.members where !nodes.contains(m.client) { nodes.append(m.client) }
            for (id, s) in subscriptions.sorted(by: { $0.key < $1.key }) {
                c.send(ClientRequest.subscribe(id: id, topic: s.topic, from: s.next).frame)
            }
            return sendPending()
        }
        if case .event(let id, let event) = reply {
            guard var s = subscriptions[id] else { return }
            switch event {
            case .message(let m):
                guard m.offset >= s.next else { return }  // a replay after a reconnect
                s.next = m.offset + 1
            case .gap(_, let resumeAt): s.next = resumeAt
            }
            subscriptions[id] = s
            return s.onEvent(event)
        }
        if case .failure(let id, let f) = reply, subscriptions[id] != nil {
            // A subscription refused (bad topic name, too many on one connection): noted as the
            // last reason; it is asked for again after the next reconnect.
            lastReason = f.reason
            return
        }
        guard let p = pending[reply.id] else { return }
        if case .failure(_, let f) = reply, f.code == .halted {
            // This node stopped serving: send everything again elsewhere (same command ids).
            lastReason = f.reason
            return c.close(reason: f.reason)
        }
        if case .failure(_, let f) = reply, retryable(f, p) {
            pending[reply.id]?.sent = false
            if options.followLeader, f.code == .unavailable, !f.leaderAddress.isEmpty, f.leaderAddress != nodes[current % nodes.count],
               reachable(f.leaderAddress) {
                return switchTo(f.leaderAddress)
            }
            loop.schedule(after: 20_000_000) { [weak self] in self?.sendPending() }
            return
        }
        pending[reply.id] = nil
        switch reply {
        case .failure(_, let f): p.completion(.failure(f))
        default: p.completion(.success(reply))
        }
    }

    /// Failures worth another try before the deadline: no leader yet, or (for idempotent
    /// commands and reads) an answer lost with a leader.
    private func retryable(_ f: RequestFailure, _ p: Pending) -> Bool {
        switch f.code {
        case .unavailable, .overloaded: return true
        case .timedOut: return true  // commands keep their id: a retry is applied at most once
        default: return false
        }
    }

    func connectionClosed(_ c: FrameConnection, reason: String) {
        guard c === connection else { return }
        lastReason = reason
        if !ready { unreachableUntil[nodes[current % nodes.count]] = EventLoop.now() + 5_000_000_000 }
        for id in pending.keys { pending[id]?.sent = false }
        advance()
    }

    private func sendPending() {
        guard ready, let c = connection else {
            if connection == nil && retryTimer == nil && !closed { connect() }
            return
        }
        let now = EventLoop.now()
        for id in pending.keys.sorted() where pending[id]?.sent == false {
            pending[id]?.sent = true
            pending[id]?.sentAt = now
            c.send(pending[id]!.body.request(id: id).frame)
        }
    }

    /// Every 100 ms while anything waits: fails requests past their deadline, moves away from a
    /// connection that went silent with requests waiting, and probes a quiet subscribed one.
    private func sweep() {
        sweepTimer = loop.schedule(after: pending.isEmpty ? 500_000_000 : 100_000_000) { [weak self] in
            guard let self else { return }
            let now = EventLoop.now()
            let expired = self.pending.filter { $0.value.deadline <= now }.sorted { $0.key < $1.key }
            for (id, p) in expired {
                self.pending[id] = nil
                p.completion(.failure(RequestFailure(code: .timedOut, reason: "no answer within the request timeout (last: \(self.lastReason))")))
            }
            if let c = self.connection, self.ready, now - self.lastReceived > self.attemptTimeout {
                let stalled = self.pending.values.contains { $0.sent && now - $0.sentAt > self.attemptTimeout }
                if stalled {
                    c.close(reason: "no answer for \(self.options.attemptTimeout) (node hung or cut off)")
                } else if !self.subscriptions.isEmpty && !self.pending.values.contains(where: { $0.sent }) {
                    // A quiet subscription: ask the node something to learn that it is alive.
                    self.handle(.request(.status, { _ in }))
                }
            }
            if self.pending.isEmpty && self.subscriptions.isEmpty { self.sweepTimer = nil } else { self.sweep() }
        }
    }
}
