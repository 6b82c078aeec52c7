import Consensus

/// Why a bus operation failed.
public enum BusNodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The replica could not commit or read (not the leader, timed out, halted…).
    case replica(ReplicaError)
    /// The command could not be built (a field breaks its rules).
    case invalid(BusError)
    /// The command committed, but the state machine refused it.
    case rejected(BusRejection)
    /// The command committed but its outcome was evicted from the dedup window before it could
    /// be read (only under extreme load); it was applied exactly once.
    case outcomeUnknown

    public var description: String {
        switch self {
        case .replica(let e): return "replica: \(e)"
        case .invalid(let e): return "invalid command: \(e)"
        case .rejected(let r): return "rejected: \(r)"
        case .outcomeUnknown: return "committed, outcome no longer recorded"
        }
    }
}

/// What a local subscription delivers, in offset order.
public enum SubscriptionEvent: Equatable, Sendable {
    case message(StoredMessage)
    /// Retention removed messages `from..<resumeAt` before this subscriber saw them.
    case gap(from: UInt64, resumeAt: UInt64)
}

/// One bus replica with its in-process client API: a `Replica` driving a `BusState`.
///
/// - `submit`/`publish` answer after the command committed and was applied here, with the outcome
///   recorded for its (sender, id) — a retry with the same id gets the first attempt's outcome.
/// - `read` reads this replica's state (possibly behind the leader); `readLinearizable` first gets
///   a read index (thesis §6.4), so it sees every write committed before the call.
/// - `subscribe` pushes a topic's messages from an offset, in order, as they are applied here.
///
/// Confined to one thread like `Replica`.
public final class BusNode {
    public let state: BusState
    public private(set) var replica: Replica!
    private let clock: () -> UInt64
    private var subscriptions: [Int: LocalSubscription] = [:]
    private var nextSubscriptionID = 0

    private struct LocalSubscription {
        var topic: TopicName
        var next: UInt64
        var deliver: (SubscriptionEvent) -> Void
    }

    /// Forwards the replica's state machine calls to `BusState` and tells the node about restores.
    private final class Machine: ReplicatedStateMachine {
        let state: BusState
        weak var node: BusNode?
        init(state: BusState) { self.state = state }
        func apply(_ entry: Entry) { state.apply(entry) }
        func snapshot() -> [UInt8] { state.snapshot() }
        func restore(_ snapshot: Snapshot) throws {
            try state.restore(snapshot)
            node?.catchUpSubscriptions()
        }
    }

    /// `domains`: the domain state machines (alarm, …) registered under their namespaces.
    /// `clock` gives milliseconds since the Unix epoch for the timestamps this node stamps on the
    /// commands it proposes (the state machine's only clock: retention and dedup expiry).
    public init(config: RaftConfig, storage: any LogStorage, transport: any Transport, random: Xoshiro256,
                snapshots: SnapshotPolicy = SnapshotPolicy(), pipelineDepth: Int = 4,
                bus: BusState.Config = .standard, domains: [(namespace: String, machine: any DomainStateMachine)] = [],
                clock: @escaping () -> UInt64) throws {
        let state = BusState(config: bus)
        // Registered before the replica restores a snapshot or applies the log.
        for d in domains { state.register(d.machine, namespace: d.namespace) }
        let machine = Machine(state: state)
        self.state = state
        self.clock = clock
        machine.node = self
        state.onPublished = { [weak self] topic, message in self?.published(topic, message) }
        replica = try Replica(config: config, storage: storage, transport: transport, stateMachine: machine,
                              random: random, snapshots: snapshots, pipelineDepth: pipelineDepth)
    }

    public var id: NodeID { replica.id }
    public func tick() { replica.tick() }
    public func receive(_ message: Message) { replica.receive(message) }

    // MARK: - Commands

    /// Proposes a command; `done` gets its outcome once committed and applied here.
    public func submit(type: String, id: CommandID, sender: String, payload: [UInt8],
                       done: @escaping (Result<CommandOutcome, BusNodeError>) -> Void) {
        let envelope: CommandEnvelope
        do {
            envelope = try CommandEnvelope(type: type, id: id, sender: sender, timestamp: clock(), payload: payload)
        } catch {
            return done(.failure(.invalid(error)))
        }
        submit(envelope: envelope, done: done)
    }

    /// Proposes a command built elsewhere (a follower forwarding its client's command to the
    /// leader); `done` gets the outcome recorded for the envelope's (sender, id).
    public func submit(envelope: CommandEnvelope, done: @escaping (Result<CommandOutcome, BusNodeError>) -> Void) {
        let (sender, id) = (envelope.sender, envelope.id)
        replica.propose(envelope.encode()) { [weak self] result in
            switch result {
            case .failure(let e):
                done(.failure(.replica(e)))
            case .success:
                guard let self, let outcome = self.state.outcome(sender: sender, id: id) else {
                    return done(.failure(.outcomeUnknown))
                }
                done(.success(outcome))
            }
        }
    }

    /// The state clock (milliseconds since the Unix epoch) this node stamps on commands.
    public var now: UInt64 { clock() }

    public func submit(_ command: BusCommand, id: CommandID, sender: String,
                       done: @escaping (Result<CommandOutcome, BusNodeError>) -> Void) {
        submit(type: command.type, id: id, sender: sender, payload: command.encodePayload(), done: done)
    }

    /// Publishes `payload` to `topic` exactly once per (sender, id); `done` gets the offset.
    public func publish(topic: TopicName, payload: [UInt8], id: CommandID, sender: String,
                        done: @escaping (Result<UInt64, BusNodeError>) -> Void) {
        let publish: BusCommand.Publish
        do { publish = try BusCommand.Publish(topic: topic, payload: payload) } catch { return done(.failure(.invalid(error))) }
        submit(.publish(publish), id: id, sender: sender) { result in
            switch result {
            case .success(.published(_, let offset)): done(.success(offset))
            case .success(.rejected(let why)): done(.failure(.rejected(why)))
            case .success(let other): done(.failure(.rejected(.malformed("unexpected outcome \(other)"))))
            case .failure(let e): done(.failure(e))
            }
        }
    }

    // MARK: - Reads

    /// Reads this replica's copy of `topic` (it may lag the leader; for a current answer use
    /// `readLinearizable`).
    public func read(topic: TopicName, from offset: UInt64, limit: Int = 1_000, maxBytes: Int = 1 << 20)
        -> Result<ReadResult, BusRejection> {
        state.read(topic: topic, from: offset, limit: limit, maxBytes: maxBytes)
    }

    /// Calls `body` with the state once it reflects every command committed before this call.
    public func readLinearizable(_ body: @escaping (Result<BusState, BusNodeError>) -> Void) {
        replica.readLinearizable { [weak self] result in
            guard let self else { return }
            switch result {
            case .success: body(.success(self.state))
            case .failure(let e): body(.failure(.replica(e)))
            }
        }
    }

    // MARK: - Local subscriptions

    /// Delivers `topic`'s messages from `offset` on, in order: those already here at once, then
    /// each as it is applied. Messages removed by retention before delivery come as a `.gap`.
    /// Returns a handle for `cancel`.
    @discardableResult
    public func subscribe(topic: TopicName, from offset: UInt64,
                          deliver: @escaping (SubscriptionEvent) -> Void) -> Int {
        let handle = nextSubscriptionID
        nextSubscriptionID += 1
        subscriptions[handle] = LocalSubscription(topic: topic, next: offset, deliver: deliver)
        catchUp(handle)
        return handle
    }

    public func cancel(subscription handle: Int) { subscriptions[handle] = nil }

    private func published(_ topic: TopicName, _ message: StoredMessage) {
        for handle in subscriptions.keys.sorted() where subscriptions[handle]?.topic == topic {
            guard var sub = subscriptions[handle] else { continue }
            if message.offset == sub.next {
                sub.next += 1
                subscriptions[handle] = sub
                sub.deliver(.message(message))
            } else if message.offset > sub.next {
                catchUp(handle)
            }
        }
    }

    fileprivate func catchUpSubscriptions() {
        for handle in subscriptions.keys.sorted() { catchUp(handle) }
    }

    /// Delivers what the state holds beyond the subscription's position.
    private func catchUp(_ handle: Int) {
        while var sub = subscriptions[handle] {
            switch state.read(topic: sub.topic, from: sub.next, limit: 256) {
            case .success(let r):
                guard !r.messages.isEmpty else { return }
                for m in r.messages {
                    sub.next = m.offset + 1
                    subscriptions[handle] = sub
                    sub.deliver(.message(m))
                    guard subscriptions[handle] != nil else { return }
                }
            case .failure(.trimmed(let requested, let first)):
                sub.next = first
                subscriptions[handle] = sub
                sub.deliver(.gap(from: requested, resumeAt: first))
            case .failure:
                return  // unknown topic (not created yet) or beyond the end: wait for publishes
            }
        }
    }
}
