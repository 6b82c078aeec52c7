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
    /// The whole state after the last applied entry, as canonical bytes: replicas that applied
    /// the same log produce identical bytes.
    func snapshot() -> [UInt8]
    /// Replaces the whole state with a snapshot's. Throws when the bytes are not a valid snapshot.
    func restore(_ snapshot: Snapshot) throws
}

/// When a replica snapshots its state machine and compacts its log.
public struct SnapshotPolicy: Sendable {
    /// Take a snapshot once this many entries were applied since the last one (0: never).
    public var every: UInt64
    /// Entries kept in the log before the snapshot point, so followers a little behind catch up
    /// by append rather than by snapshot.
    public var trailing: UInt64
    /// Also wait until the commands applied since the last snapshot add up to at least this
    /// fraction of that snapshot's size (0: off). With 1, writing snapshots costs at most as
    /// many bytes as the log itself — a large state (many retained messages, a full dedup window)
    /// is not rewritten every `every` entries.
    public var logToStateRatio: Double
    public init(every: UInt64 = 10_000, trailing: UInt64 = 1_000, logToStateRatio: Double = 0) {
        self.every = every
        self.trailing = trailing
        self.logToStateRatio = logToStateRatio
    }
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
    /// No read index could be had now (no leader known, or leadership changed); retry.
    case readUnavailable
    /// The operation got no answer in time; its outcome is unknown. Retry (idempotently).
    case timedOut
}

/// Where a committed proposal landed in the log.
public struct CommitPosition: Equatable, Sendable {
    public var index: UInt64
    public var term: UInt64
}

/// One replica: drives `Raft` through a `LogStorage`, a `Transport` and a state machine, in
/// etcd/raft's Ready/Advance order — a leader's appends out, persist (one group commit per Ready),
/// then the other messages, then apply.
/// The same code runs in the simulator and in the node process. Not thread-safe: confine each
/// replica to one thread, event loop or actor.
public final class Replica {
    public private(set) var raft: Raft
    /// Set once the replica stopped serving; it then accepts nothing and answers `.halted`.
    public private(set) var haltReason: String?

    private let storage: any LogStorage
    private let transport: any Transport
    private let stateMachine: any ReplicatedStateMachine
    private let snapshotPolicy: SnapshotPolicy
    /// Readies taken and not yet finished, oldest first; `durable` once their batch is synced.
    private var inFlight: [(sequence: UInt64, ready: Ready, durable: Bool)] = []
    private var nextBatch: UInt64 = 0
    private let pipelineDepth: Int
    private var driving = false
    /// Proposals waiting for their index to be applied.
    private var pending: [UInt64: (term: UInt64, done: (Result<CommitPosition, ReplicaError>) -> Void)] = [:]
    /// Linearizable reads: waiting for a read index (by context), then for the apply of that index.
    private var nextReadContext: UInt64 = 1
    private var readsAwaitingIndex: [UInt64: (issuedAt: UInt64, done: (Result<UInt64, ReplicaError>) -> Void)] = [:]
    private var readsAwaitingApply: [(index: UInt64, issuedAt: UInt64, done: (Result<UInt64, ReplicaError>) -> Void)] = []
    private var ticks: UInt64 = 0
    private var lastSnapshotIndex: UInt64
    private var lastSnapshotBytes = 0
    private var bytesSinceSnapshot = 0
    /// The index the state machine reflects. Raft's own apply cursor runs ahead of it while a
    /// Ready is being persisted (simulator seed 12 with reads: a read served from it saw state
    /// that was not applied yet).
    public private(set) var appliedIndex: UInt64
    /// Observers (simulator checks, metrics): called after each entry is applied and after each
    /// snapshot received from the leader is restored. They must not call back into the replica.
    public var onApply: ((Entry) -> Void)?
    public var onRestore: ((Snapshot) -> Void)?

    /// Recovers the log from `storage` (and the state machine from its snapshot) and starts as a
    /// follower. Throws when the storage is corrupt or torn: such a node must not serve.
    public init(config: RaftConfig, storage: any LogStorage, transport: any Transport,
                stateMachine: any ReplicatedStateMachine, random: Xoshiro256,
                snapshots: SnapshotPolicy = SnapshotPolicy(), pipelineDepth: Int = 4) throws {
        let recovered = try storage.recover()
        if let snapshot = recovered.snapshot { try stateMachine.restore(snapshot) }
        self.raft = Raft(config: config, recovered: recovered, random: random)
        self.storage = storage
        self.transport = transport
        self.stateMachine = stateMachine
        self.snapshotPolicy = snapshots
        self.pipelineDepth = max(1, pipelineDepth)
        self.lastSnapshotIndex = recovered.snapshot?.metadata.index ?? 0
        self.lastSnapshotBytes = recovered.snapshot?.data.count ?? 0
        self.appliedIndex = lastSnapshotIndex
        drive()
    }

    public var id: NodeID { raft.config.id }

    /// One tick of the replica's clock (the caller maps real or virtual time to ticks).
    public func tick() {
        guard haltReason == nil else { return }
        ticks += 1
        raft.tick()
        expireReads()
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

    /// A linearizable read (read index, thesis §6.4): `done` is called with the applied index once
    /// this replica's state machine reflects every write committed before the call — read the
    /// state inside `done`. Works on followers too (they ask the leader). Fails with
    /// `.readUnavailable` when no leader can confirm, `.timedOut` after two election timeouts.
    public func readLinearizable(_ done: @escaping (Result<UInt64, ReplicaError>) -> Void) {
        if let haltReason { return done(.failure(.halted(reason: haltReason))) }
        let context = nextReadContext
        nextReadContext += 1
        readsAwaitingIndex[context] = (ticks, done)
        raft.readIndex(context: context)
        drive()
    }

    private func expireReads() {
        let limit = UInt64(2 * raft.config.electionTicks)
        let expired = readsAwaitingIndex.filter { ticks - $0.value.issuedAt > limit }.keys.sorted()
        for context in expired {
            readsAwaitingIndex.removeValue(forKey: context)?.done(.failure(.timedOut))
        }
        let stale = readsAwaitingApply.filter { ticks - $0.issuedAt > limit }
        readsAwaitingApply.removeAll { ticks - $0.issuedAt > limit }
        for r in stale { r.done(.failure(.timedOut)) }
    }

    /// Runs Ready cycles until Raft has nothing to do or `pipelineDepth` batches are being written.
    /// Each Ready is applied when taken; its batch is written in order and its messages leave,
    /// in order, once it is durable. A Ready may be taken while earlier ones are still being
    /// written, so the log device never waits for the replica.
    private func drive() {
        guard !driving else { return }
        driving = true
        defer { driving = false }
        while haltReason == nil {
            if let fault = raft.fault { return halt(fault) }
            finishDurable()
            guard inFlight.count < pipelineDepth, raft.hasReady else { return }
            let rd = raft.ready()
            // A leader's appends go out while it writes its own copy (thesis §10.2.1).
            if !rd.earlyMessages.isEmpty { transport.send(rd.earlyMessages) }
            apply(rd)
            if haltReason != nil { return }
            let batch = rd.persistBatch
            nextBatch += 1
            let sequence = nextBatch
            inFlight.append((sequence, rd, batch.isEmpty))
            if batch.isEmpty { continue }
            storage.persist(batch) { [weak self] result in
                guard let self else { return }
                switch result {
                case .success:
                    if let k = self.inFlight.firstIndex(where: { $0.sequence == sequence }) { self.inFlight[k].durable = true }
                case .failure(let error):
                    self.halt("log storage failed: \(error)")
                }
                if !self.driving { self.drive() }
            }
        }
    }

    /// Finishes, in order, every Ready at the head of the pipeline whose writes are durable.
    private func finishDurable() {
        while haltReason == nil, let head = inFlight.first, head.durable {
            inFlight.removeFirst()
            raft.persisted(head.ready)
            if !head.ready.messages.isEmpty { transport.send(head.ready.messages) }
        }
    }

    /// Restores, applies and serves reads at once: committed entries are durable on a majority
    /// already, so the state machine need not wait for this node's own write (as etcd/raft with
    /// asynchronous storage writes). Only the messages wait for it.
    private func apply(_ rd: Ready) {
        if let snapshot = rd.restore {
            do {
                try stateMachine.restore(snapshot)
                lastSnapshotIndex = snapshot.metadata.index
                lastSnapshotBytes = snapshot.data.count
                bytesSinceSnapshot = 0
                appliedIndex = snapshot.metadata.index
                onRestore?(snapshot)
            } catch {
                return halt("cannot restore snapshot \(snapshot.metadata.position) from the leader: \(error)")
            }
        }
        for entry in rd.committed {
            stateMachine.apply(entry)
            appliedIndex = entry.index
            bytesSinceSnapshot += entry.size
            onApply?(entry)
            if let waiter = pending.removeValue(forKey: entry.index) {
                if waiter.term == entry.term {
                    waiter.done(.success(CommitPosition(index: entry.index, term: entry.term)))
                } else {
                    waiter.done(.failure(.dropped))
                }
            }
        }
        for read in rd.readStates {
            guard let waiter = readsAwaitingIndex.removeValue(forKey: read.context) else { continue }
            guard let index = read.index else {
                waiter.done(.failure(.readUnavailable))
                continue
            }
            readsAwaitingApply.append((index, waiter.issuedAt, waiter.done))
        }
        if !readsAwaitingApply.isEmpty {
            let applied = appliedIndex
            let ready = readsAwaitingApply.filter { $0.index <= applied }
            readsAwaitingApply.removeAll { $0.index <= applied }
            for r in ready { r.done(.success(applied)) }
        }
        maybeSnapshot()
    }

    /// Snapshots the state machine and compacts the log when the policy says so.
    private func maybeSnapshot() {
        let applied = appliedIndex
        guard snapshotPolicy.every > 0, applied >= lastSnapshotIndex + snapshotPolicy.every,
              Double(bytesSinceSnapshot) >= snapshotPolicy.logToStateRatio * Double(lastSnapshotBytes),
              let term = raft.term(at: applied) else { return }
        let snapshot = Snapshot(metadata: SnapshotMetadata(index: applied, term: term, voters: raft.config.voters),
                                data: stateMachine.snapshot())
        if raft.compact(snapshot: snapshot, trailing: snapshotPolicy.trailing) {
            lastSnapshotIndex = applied
            lastSnapshotBytes = snapshot.data.count
            bytesSinceSnapshot = 0
        }
    }

    private func halt(_ reason: String) {
        guard haltReason == nil else { return }
        haltReason = reason
        let waiters = pending.sorted { $0.key < $1.key }
        pending.removeAll()
        for (_, w) in waiters { w.done(.failure(.halted(reason: reason))) }
        let reads = readsAwaitingIndex.sorted { $0.key < $1.key }.map(\.value.done) + readsAwaitingApply.map(\.done)
        readsAwaitingIndex.removeAll()
        readsAwaitingApply.removeAll()
        for done in reads { done(.failure(.halted(reason: reason))) }
    }
}
