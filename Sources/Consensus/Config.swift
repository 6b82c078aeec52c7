/// Deliberate defects that only the simulator switches on, to prove its invariant checks find
/// real bugs. The node has no way to set them (they are SPI, and no command line reaches them).
@_spi(Simulation)
public struct Mutants: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Commit an entry of an earlier term by counting replicas — the error Raft §5.4.2 and
    /// figure 8 warn about.
    public static let commitPreviousTermByCount = Mutants(rawValue: 1 << 0)
    /// Grant votes without the up-to-date check of §5.4.1.
    public static let skipVoteLogCheck = Mutants(rawValue: 1 << 1)
    /// A follower serves reads from its own state without a read index (thesis §6.4).
    public static let staleRead = Mutants(rawValue: 1 << 2)
}

/// Static parameters of one replica's Raft state machine.
public struct RaftConfig: Sendable {
    public var id: NodeID
    /// Every voting member, this node included.
    public var voters: [NodeID]
    /// Ticks without hearing from a leader before a follower campaigns; the actual timeout is
    /// drawn from `electionTicks..<2*electionTicks` (§5.2). Also the check-quorum period.
    public var electionTicks: Int = 10
    /// Ticks between a leader's heartbeats; must be well below `electionTicks`.
    public var heartbeatTicks: Int = 1
    /// Pre-vote (thesis §9.6): a partitioned node does not inflate terms and disrupt a leader.
    public var preVote: Bool = true
    /// Check-quorum (thesis §6.2): a leader that has not heard from a quorum for an election
    /// timeout steps down, and followers that hear from a live leader ignore vote requests.
    public var checkQuorum: Bool = true
    /// Batching: at most this many entries / about this many bytes per append.
    public var maxEntriesPerAppend: Int = 256
    public var maxBytesPerAppend: Int = 1 << 20
    /// Pipelining: appends in flight to one follower before the leader waits for an answer.
    public var maxInflightAppends: Int = 64
    /// Largest command accepted by `propose`.
    public var maxEntryBytes: Int = 2 << 20

    @_spi(Simulation) public var mutants: Mutants = []

    public init(id: NodeID, voters: [NodeID]) {
        self.id = id
        self.voters = voters.sorted()
    }

    var quorum: Int { voters.count / 2 + 1 }
}
