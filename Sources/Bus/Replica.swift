import Consensus

/// Carries messages to peers. Delivery is best effort: messages may be lost, delayed, duplicated
/// or reordered, and Raft tolerates all of it.
public protocol Transport: AnyObject {
    func send(_ messages: [Message])
}

/// The deterministic state machine a replica applies committed commands to. It must give the same
/// result on every replica for the same sequence of entries.
public protocol ReplicatedStateMachine: AnyObject {
    /// Applies one committed entry (commands and no-ops, in log order, each index once per run).
    func apply(_ entry: Entry)
}

/// Why a proposal did not commit.
public enum ReplicaError: Error, Equatable, Sendable {
    /// This replica does not lead; retry at `leader` if known.
    case notLeader(leader: NodeID?)
    case entryTooLarge(size: Int, limit: Int)
    /// The entry was replaced by another leader's before it committed: it will not commit.
    /// Retrying with the same command id is safe (the state machine applies an id once).
    case dropped
    /// The replica stopped serving (storage failure or a broken invariant); `reason` says why.
    case halted(reason: String)
}

/// Where a committed proposal landed in the log.
public struct CommitPosition: Equatable, Sendable {
    public var index: UInt64
    public var term: UInt64
}

/// One replica: drives `Raft` through a `LogStorage`, a `Transport` and a state machine, in
/// etcd/raft's Ready/Advance order — persist (one group commit per Ready), then send, then apply.
/// The same code runs in the simulator and in the node process. Not thread-safe: confine each
/// replica to one thread, event loop or actor.
public final class Replica {
    public private(set) var raft: Raft
    /// Set once the replica stopped serving; it then accepts nothing and answers `.halted`.
    public private(set) var haltReason: String?

    private let storage: any LogStorage
    private let transport: any Transport
    private let stateMachine: any ReplicatedStateMachine
    private var persisting = false
    private var driving = false
    /// Proposals waiting for their index to be applied.
    private var pending: [UInt64: (term: UInt64, done: (Result<CommitPosition, ReplicaError>) -> Void)] = [:]

    /// Recovers the log from `storage` and starts as a follower. Throws when the storage is
    /// corrupt or torn: such a node must not serve.
    public init(config: RaftConfig, storage: any LogStorage, transport: any Transport,
                stateMachine: any ReplicatedStateMachine, random: Xoshiro256) throws {
        let recovered = try storage.recover()
        self.raft = Raft(config: config, recovered: recovered, random: random)
        self.storage = storage
        self.transport = transport
        self.stateMachine = stateMachine
        drive()
    }

    public var id: NodeID { raft.config.id }

    /// One tick of the replica's clock (the caller maps real or virtual time to ticks).
    public func tick() {
        guard haltReason == nil else { return }
        raft.tick()
        drive()
    }

    /// A message from a peer.
    public func receive(_ message: Message) {
        guard haltReason == nil else { return }
        raft.step(message)
        drive()
    }

    /// Proposes a command. `done` is called once: with the commit position after the entry is
    /// committed and applied here, or with the reason it will not be.
    public func propose(_ data: [UInt8], done: @escaping (Result<CommitPosition, ReplicaError>) -> Void) {
        if let haltReason { return done(.failure(.halted(reason: haltReason))) }
        switch raft.propose(data) {
        case .success(let at):
            pending[at.index] = (at.term, done)
            drive()
        case .failure(.notLeader(let leader)):
            done(.failure(.notLeader(leader: leader)))
        case .failure(.entryTooLarge(let size, let limit)):
            done(.failure(.entryTooLarge(size: size, limit: limit)))
        case .failure(.halted):
            done(.failure(.halted(reason: raft.fault ?? "halted")))
        }
    }

    /// Runs Ready cycles until Raft has nothing more to do or a persist is in flight.
    private func drive() {
        guard !driving else { return }
        driving = true
        defer { driving = false }
        while haltReason == nil {
            if let fault = raft.fault { return halt(fault) }
            guard !persisting, raft.hasReady else { return }
            let rd = raft.ready()
            let batch = rd.persistBatch
            if batch.isEmpty {
                finish(rd)
                continue
            }
            persisting = true
            storage.persist(batch) { [weak self] result in
                guard let self else { return }
                self.persisting = false
                switch result {
                case .success: self.finish(rd)
                case .failure(let error): self.halt("log storage failed: \(error)")
                }
                if !self.driving { self.drive() }
            }
        }
    }

    /// After the Ready's state is durable: send, then apply.
    private func finish(_ rd: Ready) {
        if !rd.messages.isEmpty { transport.send(rd.messages) }
        for entry in rd.committed {
            stateMachine.apply(entry)
            if let waiter = pending.removeValue(forKey: entry.index) {
                if waiter.term == entry.term {
                    waiter.done(.success(CommitPosition(index: entry.index, term: entry.term)))
                } else {
                    waiter.done(.failure(.dropped))
                }
            }
        }
    }

    private func halt(_ reason: String) {
        guard haltReason == nil else { return }
        haltReason = reason
        let waiters = pending.sorted { $0.key < $1.key }
        pending.removeAll()
        for (_, w) in waiters { w.done(.failure(.halted(reason: reason))) }
    }
}
