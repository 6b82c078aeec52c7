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

/// Everything a node finds on its disk when it starts.
public struct RecoveredLog: Equatable, Sendable {
    public var hardState: HardState
    /// Contiguous entries, the first at `entries.first.index` (1 when nothing was compacted).
    public var entries: [Entry]

    public init(hardState: HardState = HardState(), entries: [Entry] = []) {
        self.hardState = hardState
        self.entries = entries
    }
}

/// One group commit: what a `Ready` asks to make durable, in one write and one sync.
public struct PersistBatch: Equatable, Sendable {
    /// New hard state, or nil when unchanged.
    public var hardState: HardState?
    /// Entries to store. Every stored entry with an index ≥ `entries.first.index` is replaced
    /// (conflict truncation, Raft §5.3); entries must be contiguous.
    public var entries: [Entry]

    public init(hardState: HardState? = nil, entries: [Entry] = []) {
        self.hardState = hardState
        self.entries = entries
    }

    public var isEmpty: Bool { hardState == nil && entries.isEmpty }
}

/// The durable side of a replica, like etcd/raft's `Storage` plus its WAL. Implemented on SQLite
/// (`Store`) and by the simulator's virtual disk.
///
/// Contract: `persist` calls `done` only once every write of the batch is synced to stable
/// storage; a crash before that may keep any prefix of the batch's writes, never more.
/// Batches are persisted in the order given; the caller issues the next one only after `done`.
public protocol LogStorage: AnyObject {
    /// What survived the last run. Throws when the log is corrupt or torn — a node must refuse to
    /// serve rather than run on a damaged log.
    func recover() throws -> RecoveredLog
    /// Writes and syncs `batch`, then calls `done` (possibly before returning). On failure `done`
    /// gets the error and nothing of the batch may be assumed durable.
    func persist(_ batch: PersistBatch, done: @escaping (Result<Void, any Error>) -> Void)
}
