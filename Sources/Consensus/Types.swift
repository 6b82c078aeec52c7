/// Identity of a replica in the cluster. Zero is never a valid node.
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(_ rawValue: UInt64) {
        precondition(rawValue != 0, "node id 0 is reserved for 'none'")
        self.rawValue = rawValue
    }
    public static func < (a: NodeID, b: NodeID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "n\(rawValue)" }
}

/// One record of the replicated log.
public struct Entry: Equatable, Sendable {
    /// What the entry carries. Raw values are part of the durable format: never renumber.
    public enum Kind: UInt8, Sendable {
        /// A command for the replicated state machine.
        case command = 0
        /// The empty entry a new leader appends to commit its predecessors' entries (Raft §5.4.2, §8).
        case noop = 1
    }

    public var index: UInt64
    public var term: UInt64
    public var kind: Kind
    public var data: [UInt8]

    public init(index: UInt64, term: UInt64, kind: Kind = .command, data: [UInt8] = []) {
        self.index = index
        self.term = term
        self.kind = kind
        self.data = data
    }

    /// Bytes this entry costs in a message, for batching limits.
    public var size: Int { data.count + 24 }
}

/// The state that must be on stable storage before any message that depends on it leaves the node
/// (Raft figure 2: currentTerm, votedFor; plus the commit index, which only saves replay work).
public struct HardState: Equatable, Sendable {
    public var term: UInt64
    public var vote: NodeID?
    public var commit: UInt64

    public init(term: UInt64 = 0, vote: NodeID? = nil, commit: UInt64 = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }
}

/// A place in the log: an index and the term of the entry there.
public struct LogPosition: Equatable, Sendable, CustomStringConvertible {
    public var index: UInt64
    public var term: UInt64
    public init(index: UInt64, term: UInt64) {
        self.index = index
        self.term = term
    }
    public static let zero = LogPosition(index: 0, term: 0)
    public var description: String { "\(index)/\(term)" }
}

/// What a snapshot covers: the state after applying the log up to `index` (whose entry has
/// `term`), and the membership then (Raft §7).
public struct SnapshotMetadata: Equatable, Sendable {
    public var index: UInt64
    public var term: UInt64
    public var voters: [NodeID]
    public init(index: UInt64, term: UInt64, voters: [NodeID]) {
        self.index = index
        self.term = term
        self.voters = voters
    }
    public var position: LogPosition { LogPosition(index: index, term: term) }
}

/// A state machine snapshot: metadata and the state machine's own canonical bytes.
public struct Snapshot: Equatable, Sendable {
    public var metadata: SnapshotMetadata
    public var data: [UInt8]
    public init(metadata: SnapshotMetadata, data: [UInt8]) {
        self.metadata = metadata
        self.data = data
    }
}

/// A snapshot to make durable, and what it does to the stored log.
public enum SnapshotWrite: Equatable, Sendable {
    /// This node's own snapshot: keep the log, but drop every entry at or below `compactedThrough`
    /// (≤ the snapshot's index; entries after it stay so slow followers can catch up by append).
    case taken(Snapshot, compactedThrough: LogPosition)
    /// A snapshot received from the leader (InstallSnapshot, Raft §7): it replaces the whole log;
    /// the log continues at `index + 1`.
    case installed(Snapshot)

    public var snapshot: Snapshot {
        switch self {
        case .taken(let s, _), .installed(let s): return s
        }
    }
}

/// Everything a node finds on its disk when it starts.
public struct RecoveredLog: Equatable, Sendable {
    public var hardState: HardState
    /// The newest durable snapshot, if any.
    public var snapshot: Snapshot?
    /// The last entry no longer stored (`.zero` when nothing was compacted); `entries` start after it.
    public var compacted: LogPosition
    /// Contiguous entries, the first at `compacted.index + 1`.
    public var entries: [Entry]

    public init(hardState: HardState = HardState(), snapshot: Snapshot? = nil, compacted: LogPosition = .zero,
                entries: [Entry] = []) {
        self.hardState = hardState
        self.snapshot = snapshot
        self.compacted = compacted
        self.entries = entries
    }
}

/// One group commit: what a `Ready` asks to make durable, in one write and one sync: the hard
/// state, the snapshot (with its effect on the stored log), the entries. A store that is not
/// atomic per batch must write them in that order, so that a crash keeps a prefix that Raft can
/// recover from (a term and vote never behind the entries; a commit index beyond the surviving
/// log is clamped at recovery).
public struct PersistBatch: Equatable, Sendable {
    public var snapshot: SnapshotWrite?
    /// New hard state, or nil when unchanged.
    public var hardState: HardState?
    /// Entries to store. Every stored entry with an index ≥ `entries.first.index` is replaced
    /// (conflict truncation, Raft §5.3); entries must be contiguous.
    public var entries: [Entry]

    public init(snapshot: SnapshotWrite? = nil, hardState: HardState? = nil, entries: [Entry] = []) {
        self.snapshot = snapshot
        self.hardState = hardState
        self.entries = entries
    }

    public var isEmpty: Bool { snapshot == nil && hardState == nil && entries.isEmpty }

    /// This batch followed by `next` as one batch with the same effect (for a store that writes
    /// several queued batches in one transaction and one sync). Nil when they cannot be merged:
    /// either carries a snapshot, or `next`'s entries do not continue or overwrite these.
    public func merged(with next: PersistBatch) -> PersistBatch? {
        guard snapshot == nil, next.snapshot == nil else { return nil }
        var entries = self.entries
        if let first = next.entries.first {
            if let mine = entries.first {
                guard first.index >= mine.index, first.index <= mine.index + UInt64(entries.count) else { return nil }
                entries.removeSubrange(Int(first.index - mine.index)...)
            }
            entries.append(contentsOf: next.entries)
        }
        return PersistBatch(hardState: next.hardState ?? hardState, entries: entries)
    }
}

/// The durable side of a replica, like etcd/raft's `Storage` plus its WAL. Implemented on SQLite
/// (`Store`) and by the simulator's virtual disk.
///
/// Contract: `persist` calls `done` only once every write of the batch is synced to stable
/// storage; a crash before that may keep any prefix of the batch's writes (in the order
/// `PersistBatch` gives), never more.
/// Batches are persisted in the order given; the caller issues the next one only after `done`.
public protocol LogStorage: AnyObject {
    /// What survived the last run. Throws when the log is corrupt or torn — a node must refuse to
    /// serve rather than run on a damaged log.
    func recover() throws -> RecoveredLog
    /// Writes and syncs `batch`, then calls `done` (possibly before returning). On failure `done`
    /// gets the error and nothing of the batch may be assumed durable.
    func persist(_ batch: PersistBatch, done: @escaping (Result<Void, any Error>) -> Void)
}
