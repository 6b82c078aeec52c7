/// A replica's role (Raft §5.1, with the pre-candidate of thesis §9.6).
public enum Role: String, Sendable {
    case follower, preCandidate, candidate, leader
}

/// Why a proposal was not appended.
public enum ProposeError: Error, Equatable, Sendable {
    /// Only the leader appends; `leader` is the one this node last heard of, if any.
    case notLeader(leader: NodeID?)
    case entryTooLarge(size: Int, limit: Int)
    /// The replica stopped after an internal fault (see `Raft.fault`).
    case halted
}

/// The answer to `Raft.readIndex` (thesis §6.4): once the state machine has applied `index`, a
/// read started before the request reflects every write committed before it. `index` nil: this
/// node could not get a read index (no leader known, leadership lost); retry.
public struct ReadState: Equatable, Sendable {
    public var context: UInt64
    public var index: UInt64?
    public init(context: UInt64, index: UInt64?) {
        self.context = context
        self.index = index
    }
}

/// What the replica must do next, in this order (etcd/raft's Ready): send `earlyMessages` (they do
/// not depend on this Ready's writes); persist `snapshot`, `entries` and `hardState` and sync;
/// call `Raft.persisted(_:)`; send `messages`; restore the state machine from `restore` if set,
/// apply `committed`, and serve `readStates`; then take the next `Ready`.
public struct Ready: Equatable, Sendable {
    public var snapshot: SnapshotWrite?
    public var hardState: HardState?
    public var entries: [Entry]
    /// A leader's appends, heartbeats and probes: the leader writes its log in parallel with
    /// replicating it (thesis §10.2.1) and counts its own copy only once `persisted` says so.
    public var earlyMessages: [Message]
    /// Everything else: votes and answers that promise what this Ready makes durable.
    public var messages: [Message]
    /// A snapshot received from the leader that the state machine must load before `committed`.
    public var restore: Snapshot?
    public var committed: [Entry]
    public var readStates: [ReadState]

    public var persistBatch: PersistBatch { PersistBatch(snapshot: snapshot, hardState: hardState, entries: entries) }
    public var isEmpty: Bool {
        snapshot == nil && hardState == nil && entries.isEmpty && earlyMessages.isEmpty && messages.isEmpty
            && restore == nil && committed.isEmpty && readStates.isEmpty
    }
}

/// Raft (Ongaro & Ousterhout 2014; Ongaro 2014 thesis) as a pure, deterministic state machine in
/// the style of etcd/raft. Inputs: `step` (a message), `tick` (logical time), `propose`.
/// Outputs: `ready()`. No clock, no IO; election jitter comes from the generator it is given.
///
/// Safety rests on the caller's side of `Ready`: nothing in `messages` may leave before
/// `hardState` and `entries` of the same `Ready` are synced. Because of that the leader may count
/// its own log as replicated the moment it appends.
public struct Raft: Sendable {
    public let config: RaftConfig
    public private(set) var term: UInt64 = 0
    public private(set) var vote: NodeID?
    public private(set) var role: Role = .follower
    /// The leader of `term` as far as this node knows.
    public private(set) var leader: NodeID?
    /// Set when an input contradicts an invariant that Raft guarantees (for example an append
    /// that would overwrite a committed entry). A replica with a fault must stop serving.
    public private(set) var fault: String?

    var log: RaftLog
    private var rng: Xoshiro256
    private var electionElapsed = 0
    private var heartbeatElapsed = 0
    private var randomizedElectionTimeout = 0
    private var votesGranted: Set<NodeID> = []
    private var votesRejected: Set<NodeID> = []
    /// Leader only: one per voter, in `config.voters` order.
    private var progress: [Progress] = []
    private var needsBroadcast = false
    private var outbox: [Message] = []
    private var earlyOutbox: [Message] = []
    /// The last entry known durable on this node's own disk (what the leader counts for itself).
    private var durable = LogPosition.zero
    private var lastHardState: HardState
    /// The newest snapshot of this node's state machine (taken or received), for lagging followers.
    public private(set) var latestSnapshot: Snapshot?
    private var pendingSnapshotWrite: SnapshotWrite?
    private var pendingRestore: Snapshot?
    // Read index (thesis §6.4), leader side: requests waiting for a quorum to confirm leadership
    // in `round`, requests waiting for the first commit of this term, and the next round to probe.
    private struct ReadRequest: Sendable {
        var context: UInt64
        var from: NodeID
        var index: UInt64
        var round: UInt64
    }
    private var readQueue: [ReadRequest] = []
    private var readsAwaitingCommit: [(context: UInt64, from: NodeID)] = []
    private var readRound: UInt64 = 0
    private var needsReadProbe = false
    private var readStates: [ReadState] = []

    /// Restores a replica from what its storage recovered. `random` drives election jitter only.
    public init(config: RaftConfig, recovered: RecoveredLog = RecoveredLog(), random: Xoshiro256) {
        precondition(config.voters.contains(config.id) || config.voters.isEmpty == false)
        self.config = config
        self.rng = random
        self.log = RaftLog(recovered: recovered)
        self.term = recovered.hardState.term
        self.vote = recovered.hardState.vote
        self.lastHardState = HardState(term: term, vote: vote, commit: log.committed)
        self.latestSnapshot = recovered.snapshot
        self.durable = LogPosition(index: log.lastIndex, term: log.lastTerm)
        resetElectionTimer()
    }

    // MARK: - Observers

    public var commitIndex: UInt64 { log.committed }
    public var lastIndex: UInt64 { log.lastIndex }
    public var lastTerm: UInt64 { log.lastTerm }
    public var appliedIndex: UInt64 { log.applied }
    /// The last entry dropped by compaction; entries after it are in memory.
    public var compacted: LogPosition { log.compacted }
    public func term(at index: UInt64) -> UInt64? { log.term(at: index) }
    public func entry(at index: UInt64) -> Entry? { log.entry(at: index) }
    public var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }
    /// Leader only: the highest index known to match `node`'s log (nil on followers or for a
    /// node that is no voter).
    public func matchIndex(of node: NodeID) -> UInt64? {
        guard role == .leader, let k = config.voters.firstIndex(of: node), k < progress.count else { return nil }
        return node == id ? durable.index : progress[k].match
    }
    private var quorum: Int { config.quorum }
    private var id: NodeID { config.id }
    private var isVoter: Bool { config.voters.contains(id) }

    /// Ticks until `tick()` next acts on its own (a heartbeat, a quorum check, an election): a
    /// driver may deliver no ticks until then, as long as it delivers every elapsed tick before
    /// the next `step` (a node that sleeps between heartbeats instead of waking every tick).
    public var ticksUntilDue: Int {
        guard fault == nil else { return Int.max / 4 }
        switch role {
        case .leader:
            return max(1, min(config.heartbeatTicks - heartbeatElapsed, config.electionTicks - electionElapsed))
        case .follower, .preCandidate, .candidate:
            return isVoter ? max(1, randomizedElectionTimeout - electionElapsed) : Int.max / 4
        }
    }

    // MARK: - Inputs

    /// Advances logical time by one tick.
    public mutating func tick() {
        guard fault == nil else { return }
        switch role {
        case .leader:
            heartbeatElapsed += 1
            electionElapsed += 1
            if electionElapsed >= config.electionTicks {
                electionElapsed = 0
                if config.checkQuorum && !quorumRecentlyActive() {
                    becomeFollower(term: term, leader: nil)
                    return
                }
            }
            if heartbeatElapsed >= config.heartbeatTicks {
                heartbeatElapsed = 0
                broadcastHeartbeat()
            }
            // A snapshot unanswered for two election timeouts was lost: probe again (and resend).
            for k in progress.indices {
                guard case .snapshot = progress[k].state else { continue }
                progress[k].snapshotTicks += 1
                if progress[k].snapshotTicks >= 2 * config.electionTicks { progress[k].becomeProbe() }
            }
        case .follower, .preCandidate, .candidate:
            electionElapsed += 1
            if isVoter && electionElapsed >= randomizedElectionTimeout {
                campaign(preVote: config.preVote)
            }
        }
    }

    /// Appends a command when this node leads. Returns the index and term the entry got; it is
    /// committed once an applied entry has that index and term.
    public mutating func propose(_ data: [UInt8]) -> Result<(index: UInt64, term: UInt64), ProposeError> {
        guard fault == nil else { return .failure(.halted) }
        guard role == .leader else { return .failure(.notLeader(leader: leader)) }
        guard data.count <= config.maxEntryBytes else {
            return .failure(.entryTooLarge(size: data.count, limit: config.maxEntryBytes))
        }
        let entry = Entry(index: log.lastIndex + 1, term: term, kind: .command, data: data)
        appendAsLeader(entry)
        return .success((entry.index, entry.term))
    }

    /// Asks for a read index (thesis §6.4) for a read identified by `context`; the answer comes as
    /// a `ReadState` in a later `Ready`. The leader confirms with a quorum that it still leads;
    /// a follower asks the leader.
    public mutating func readIndex(context: UInt64) {
        guard fault == nil else { return readStates.append(ReadState(context: context, index: nil)) }
        if config.mutants.contains(.staleRead) && role != .leader {
            // Mutant: serve from the local state without asking anyone.
            return readStates.append(ReadState(context: context, index: log.committed))
        }
        switch role {
        case .leader:
            handleReadRequest(context: context, from: id)
        case .follower:
            if let leader {
                send(to: leader, .readIndex(context: context))
            } else {
                readStates.append(ReadState(context: context, index: nil))
            }
        case .preCandidate, .candidate:
            readStates.append(ReadState(context: context, index: nil))
        }
    }

    /// Records a snapshot of the state machine taken at `snapshot.metadata.index` (≤ applied) and
    /// compacts the in-memory log behind it, keeping `trailing` entries before the snapshot point
    /// for followers that are only a little behind. The durable write comes in the next `Ready`.
    /// Returns false (and does nothing) when the snapshot is not newer than the current one, does
    /// not match the log, or a received snapshot is still being persisted.
    @discardableResult
    public mutating func compact(snapshot: Snapshot, trailing: UInt64) -> Bool {
        let index = snapshot.metadata.index
        guard fault == nil, index <= log.applied, index > (latestSnapshot?.metadata.index ?? 0),
              log.term(at: index) == snapshot.metadata.term else { return false }
        if case .installed? = pendingSnapshotWrite { return false }
        let through = max(log.compacted.index, index > trailing ? index - trailing : 0)
        guard let throughTerm = log.term(at: through) else { return false }
        let position = LogPosition(index: through, term: throughTerm)
        log.compact(through: position)
        latestSnapshot = snapshot
        pendingSnapshotWrite = .taken(snapshot, compactedThrough: position)
        return true
    }

    /// Handles one message from a peer.
    public mutating func step(_ m: Message) {
        guard fault == nil, m.to == id else { return }
        // Term rules (§5.1), with the lease and pre-vote exceptions (thesis §6.2, §9.6).
        if m.term > term {
            switch m.body {
            case .requestVote(let pre, _, _):
                if config.checkQuorum, leader != nil, electionElapsed < config.electionTicks {
                    return  // we heard from a live leader recently: ignore the disruption
                }
                if !pre { becomeFollower(term: m.term, leader: nil) }
            case .voteResponse(pre: true, granted: true):
                break  // a granted pre-vote carries the term we would campaign in
            case .append, .heartbeat, .snapshot, .readProbe:
                becomeFollower(term: m.term, leader: m.from)
            default:
                becomeFollower(term: m.term, leader: nil)
            }
        } else if m.term < term {
            switch m.body {
            case .append, .heartbeat, .snapshot, .readProbe:
                // A stale leader: tell it our term so it steps down. The answer claims no match
                // (index 0): a current leader of our term may receive it too and must learn nothing
                // from it (simulator seed 272 of flaky-line.scenario).
                send(to: m.from, .appendResponse(index: 0, rejection: nil))
            case .requestVote(pre: true, _, _):
                send(to: m.from, .voteResponse(pre: true, granted: false))
            default:
                break
            }
            return
        }

        switch m.body {
        case let .requestVote(pre, lastIndex, lastTerm):
            handleVoteRequest(m, pre: pre, lastIndex: lastIndex, lastTerm: lastTerm)
        case let .voteResponse(pre, granted):
            handleVoteResponse(m, pre: pre, granted: granted)
        case let .append(prevIndex, prevTerm, entries, commit):
            guard acceptLeader(m) else { return }
            handleAppend(from: m.from, prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, commit: commit)
        case let .heartbeat(commit):
            guard acceptLeader(m) else { return }
            if commit > log.committed { log.commit(to: min(commit, log.lastIndex)) }
            send(to: m.from, .heartbeatResponse)
        case let .appendResponse(index, rejection):
            guard role == .leader else { return }
            handleAppendResponse(from: m.from, index: index, rejection: rejection)
        case .heartbeatResponse:
            guard role == .leader else { return }
            handleHeartbeatResponse(from: m.from)
        case let .snapshot(snapshot):
            guard acceptLeader(m) else { return }
            handleSnapshot(from: m.from, snapshot)
        case let .readIndex(context):
            if role == .leader {
                handleReadRequest(context: context, from: m.from)
            } else {
                send(to: m.from, .readIndexResponse(context: context, index: 0))
            }
        case let .readIndexResponse(context, index):
            readStates.append(ReadState(context: context, index: index == 0 ? nil : index))
        case let .readProbe(round, commit):
            guard acceptLeader(m) else { return }
            if commit > log.committed { log.commit(to: min(commit, log.lastIndex)) }
            send(to: m.from, .readProbeAck(round: round))
        case let .readProbeAck(round):
            guard role == .leader, let k = config.voters.firstIndex(of: m.from) else { return }
            progress[k].recentActive = true
            progress[k].readRoundAcked = max(progress[k].readRoundAcked, round)
            releaseConfirmedReads()
        }
    }

    // MARK: - Output

    /// True when `ready()` has something to do.
    public var hasReady: Bool {
        needsBroadcast || needsReadProbe || !outbox.isEmpty || !earlyOutbox.isEmpty || log.hasUnstable
            || log.hasUnapplied || termOrVoteChanged || pendingSnapshotWrite != nil || pendingRestore != nil
            || !readStates.isEmpty
    }

    /// Takes what must be persisted, sent and applied. The caller persists, then sends, then
    /// applies, and only then asks again.
    public mutating func ready() -> Ready {
        if needsBroadcast {
            needsBroadcast = false
            if role == .leader { broadcastAppend() }
        }
        if needsReadProbe {
            needsReadProbe = false
            if role == .leader { broadcastReadProbe() }
        }
        let hs = hardState
        let entries = log.takeUnstable()
        // Term and vote must be durable before anything that depends on them leaves. The commit
        // index need not be (it is re-learned from the leader): it rides along with writes that
        // happen anyway, so committing costs no fsync of its own.
        let termChanged = termOrVoteChanged
        let mustWrite = termChanged
            || (hs.commit != lastHardState.commit && (!entries.isEmpty || pendingSnapshotWrite != nil))
        if mustWrite { lastHardState = hs }
        var early = earlyOutbox
        var later = outbox
        // Nothing leaves before a term change is durable (ConsensusTests
        // testNothingLeavesEarlyFromReadyThatChangesTerm).
        if termChanged {
            later = early + later
            early = []
        }
        let rd = Ready(
            snapshot: pendingSnapshotWrite,
            hardState: mustWrite ? hs : nil,
            entries: entries,
            earlyMessages: early,
            messages: later,
            restore: pendingRestore,
            committed: log.takeCommitted(),
            readStates: readStates)
        pendingSnapshotWrite = nil
        pendingRestore = nil
        readStates.removeAll()
        outbox.removeAll(keepingCapacity: true)
        earlyOutbox.removeAll(keepingCapacity: true)
        return rd
    }

    private var termOrVoteChanged: Bool { term != lastHardState.term || vote != lastHardState.vote }

    /// Reports that `rd`'s writes are durable. A leader counts its own log for commitment only
    /// from here on (it may have replicated the entries before writing them itself).
    public mutating func persisted(_ rd: Ready) {
        guard let last = rd.entries.last else { return }
        // The entries may have been replaced meanwhile (a follower's conflict); count what still
        // stands at that index.
        guard log.term(at: last.index) == last.term else { return }
        durable = LogPosition(index: last.index, term: last.term)
        if role == .leader, let me = config.voters.firstIndex(of: id) {
            if progress[me].update(matched: last.index), maybeCommit() { needsBroadcast = true }
        }
    }

    // MARK: - Elections (§5.2, thesis §9.6)

    private mutating func resetElectionTimer() {
        electionElapsed = 0
        randomizedElectionTimeout = config.electionTicks + Int(rng.below(UInt64(max(1, config.electionTicks))))
    }

    private mutating func becomeFollower(term newTerm: UInt64, leader newLeader: NodeID?) {
        if role == .leader { refuseQueuedReads() }
        if newTerm != term {
            term = newTerm
            vote = nil
        }
        role = .follower
        leader = newLeader
        progress.removeAll()
        needsBroadcast = false
        heartbeatElapsed = 0
        resetElectionTimer()
    }

    private mutating func campaign(preVote pre: Bool) {
        resetElectionTimer()
        leader = nil
        votesGranted = [id]
        votesRejected = []
        let campaignTerm: UInt64
        if pre {
            role = .preCandidate
            campaignTerm = term + 1
        } else {
            role = .candidate
            term += 1
            vote = id
            campaignTerm = term
        }
        if votesGranted.count >= quorum {
            if pre { campaign(preVote: false) } else { becomeLeader() }
            return
        }
        for peer in config.voters where peer != id {
            outbox.append(Message(from: id, to: peer, term: campaignTerm,
                                  body: .requestVote(pre: pre, lastIndex: log.lastIndex, lastTerm: log.lastTerm)))
        }
    }

    private mutating func handleVoteRequest(_ m: Message, pre: Bool, lastIndex: UInt64, lastTerm: UInt64) {
        // §5.2: one vote per term, first come first served; a pre-vote for a future term binds nothing.
        let canVote = vote == m.from || (vote == nil && leader == nil) || (pre && m.term > term)
        let upToDate = config.mutants.contains(.skipVoteLogCheck)
            || log.isUpToDate(lastIndex: lastIndex, lastTerm: lastTerm)
        if canVote && upToDate {
            outbox.append(Message(from: id, to: m.from, term: pre ? m.term : term,
                                  body: .voteResponse(pre: pre, granted: true)))
            if !pre {
                vote = m.from
                electionElapsed = 0
            }
        } else {
            send(to: m.from, .voteResponse(pre: pre, granted: false))
        }
    }

    private mutating func handleVoteResponse(_ m: Message, pre: Bool, granted: Bool) {
        guard (pre && role == .preCandidate) || (!pre && role == .candidate) else { return }
        if granted { votesGranted.insert(m.from) } else { votesRejected.insert(m.from) }
        if votesGranted.count >= quorum {
            if pre { campaign(preVote: false) } else { becomeLeader() }
        } else if votesRejected.count >= quorum {
            becomeFollower(term: term, leader: nil)
        }
    }

    private mutating func becomeLeader() {
        role = .leader
        leader = id
        heartbeatElapsed = 0
        electionElapsed = 0
        progress = config.voters.map { _ in Progress(next: log.lastIndex + 1) }
        for k in progress.indices { progress[k].recentActive = true }
        if let me = config.voters.firstIndex(of: id), durable.index <= log.lastIndex,
           log.term(at: durable.index) == durable.term {
            _ = progress[me].update(matched: durable.index)
        }
        readQueue.removeAll()
        readsAwaitingCommit.removeAll()
        readRound = 0
        needsReadProbe = false
        // §8: an entry of the new term, so that earlier terms' entries can commit (§5.4.2).
        appendAsLeader(Entry(index: log.lastIndex + 1, term: term, kind: .noop))
    }

    /// Check-quorum (thesis §6.2): true when a quorum was heard from since the last check; starts
    /// the next window.
    private mutating func quorumRecentlyActive() -> Bool {
        var active = 0
        for (k, peer) in config.voters.enumerated() {
            if peer == id || progress[k].recentActive { active += 1 }
            if peer != id { progress[k].recentActive = false }
        }
        return active >= quorum
    }

    // MARK: - Replication (§5.3), leader side

    private mutating func appendAsLeader(_ entry: Entry) {
        log.append(entry)
        needsBroadcast = true
    }

    private mutating func broadcastAppend() {
        for (k, peer) in config.voters.enumerated() where peer != id {
            sendAppend(k, to: peer, evenIfEmpty: true)
        }
    }

    private mutating func broadcastHeartbeat() {
        for (k, peer) in config.voters.enumerated() where peer != id {
            earlyOutbox.append(Message(from: id, to: peer, term: term,
                                       body: .heartbeat(commit: min(progress[k].match, log.committed))))
        }
    }

    /// Sends the next append to one follower if its flow control allows. Returns true if sent.
    @discardableResult
    private mutating func sendAppend(_ k: Int, to peer: NodeID, evenIfEmpty: Bool) -> Bool {
        var pr = progress[k]
        defer { progress[k] = pr }
        if pr.isPaused(maxInflight: config.maxInflightAppends) { return false }
        let prevIndex = pr.next - 1
        guard prevIndex >= log.compacted.index, let prevTerm = log.term(at: prevIndex) else {
            // The follower needs entries compacted away: send the snapshot instead (§7).
            guard let snapshot = latestSnapshot else { return false }
            earlyOutbox.append(Message(from: id, to: peer, term: term, body: .snapshot(snapshot)))
            pr.becomeSnapshot(index: snapshot.metadata.index)
            return true
        }
        let entries = log.slice(from: pr.next, through: log.lastIndex,
                                maxCount: config.maxEntriesPerAppend, maxBytes: config.maxBytesPerAppend)
        if entries.isEmpty && !evenIfEmpty { return false }
        earlyOutbox.append(Message(from: id, to: peer, term: term,
                              body: .append(prevIndex: prevIndex, prevTerm: prevTerm, entries: entries,
                                            commit: log.committed)))
        pr.sent(lastIndex: entries.last?.index ?? prevIndex, entries: entries.count)
        return true
    }

    private mutating func handleAppendResponse(from peer: NodeID, index: UInt64, rejection: Message.Rejection?) {
        guard let k = config.voters.firstIndex(of: peer) else { return }
        progress[k].recentActive = true
        if let rejection {
            var hint = rejection.hintIndex
            if rejection.hintTerm > 0 {
                hint = log.conflictHint(index: rejection.hintIndex, term: rejection.hintTerm).index
            }
            if progress[k].decrease(rejected: index, hint: hint) {
                if progress[k].state == .replicate { progress[k].becomeProbe() }
                sendAppend(k, to: peer, evenIfEmpty: true)
            }
            return
        }
        let moved = progress[k].update(matched: index)
        if case .snapshot(let pending) = progress[k].state {
            // Only the snapshot's answer (or a later one) ends the wait.
            guard progress[k].match >= pending else { return }
            progress[k].becomeReplicate()
        } else {
            guard moved else { return }
            switch progress[k].state {
            case .probe: progress[k].becomeReplicate()
            case .replicate: progress[k].freeInflight(upTo: index)
            case .snapshot: break
            }
        }
        if maybeCommit() {
            needsBroadcast = true  // carry the new commit index to everyone
        }
        while sendAppend(k, to: peer, evenIfEmpty: false) {}
    }

    private mutating func handleHeartbeatResponse(from peer: NodeID) {
        guard let k = config.voters.firstIndex(of: peer) else { return }
        progress[k].recentActive = true
        progress[k].probeSent = false
        if progress[k].state == .replicate, progress[k].inflight.count >= config.maxInflightAppends {
            progress[k].inflight.removeFirst()
        }
        if progress[k].match < log.lastIndex { sendAppend(k, to: peer, evenIfEmpty: true) }
    }

    /// §5.3/§5.4.2: the leader commits the highest index stored on a quorum, but only once an
    /// entry of its own term is among them.
    @discardableResult
    private mutating func maybeCommit() -> Bool {
        var matches = progress.map(\.match)
        matches.sort(by: >)
        let candidate = matches[quorum - 1]
        guard candidate > log.committed else { return false }
        guard log.term(at: candidate) == term || config.mutants.contains(.commitPreviousTermByCount) else { return false }
        log.commit(to: candidate)
        if log.term(at: log.committed) == term, !readsAwaitingCommit.isEmpty {
            // The first commit of this term: reads that waited for it can be served (§6.4 step 1).
            let waiting = readsAwaitingCommit
            readsAwaitingCommit.removeAll()
            for r in waiting { handleReadRequest(context: r.context, from: r.from) }
        }
        return true
    }

    // MARK: - Read index (thesis §6.4)

    private mutating func handleReadRequest(context: UInt64, from: NodeID) {
        // Step 1: until an entry of its own term commits, the leader may not know the latest
        // commit index.
        guard log.term(at: log.committed) == term else {
            readsAwaitingCommit.append((context, from))
            return
        }
        if quorum == 1 {
            return answerRead(ReadRequest(context: context, from: from, index: log.committed, round: 0))
        }
        // Steps 2–3: record the commit index, confirm leadership with a round of probes (one round
        // per Ready for all reads that arrived meanwhile).
        readQueue.append(ReadRequest(context: context, from: from, index: log.committed, round: readRound + 1))
        needsReadProbe = true
    }

    private mutating func broadcastReadProbe() {
        readRound += 1
        for (k, peer) in config.voters.enumerated() where peer != id {
            earlyOutbox.append(Message(from: id, to: peer, term: term,
                                       body: .readProbe(round: readRound, commit: min(progress[k].match, log.committed))))
        }
    }

    private mutating func releaseConfirmedReads() {
        while let first = readQueue.first {
            var acks = 0
            for (k, peer) in config.voters.enumerated() where peer == id || progress[k].readRoundAcked >= first.round {
                acks += 1
            }
            guard acks >= quorum else { return }
            readQueue.removeFirst()
            answerRead(first)
        }
    }

    private mutating func answerRead(_ r: ReadRequest) {
        if r.from == id {
            readStates.append(ReadState(context: r.context, index: r.index))
        } else {
            send(to: r.from, .readIndexResponse(context: r.context, index: r.index))
        }
    }

    /// Leadership lost: every queued read is refused so its client can retry elsewhere.
    private mutating func refuseQueuedReads() {
        let refused = readQueue.map { ($0.context, $0.from) } + readsAwaitingCommit.map { ($0.context, $0.from) }
        readQueue.removeAll()
        readsAwaitingCommit.removeAll()
        needsReadProbe = false
        for (context, from) in refused {
            if from == id {
                readStates.append(ReadState(context: context, index: nil))
            } else {
                send(to: from, .readIndexResponse(context: context, index: 0))
            }
        }
    }

    // MARK: - Replication, follower side

    /// An append or heartbeat in our term: the sender is the leader.
    private mutating func acceptLeader(_ m: Message) -> Bool {
        if role == .leader {
            fault = "two leaders in term \(term): \(id) and \(m.from)"
            return false
        }
        if role != .follower { becomeFollower(term: term, leader: m.from) }
        leader = m.from
        electionElapsed = 0
        return true
    }

    private mutating func handleAppend(from leader: NodeID, prevIndex: UInt64, prevTerm: UInt64,
                                       entries: [Entry], commit: UInt64) {
        if prevIndex < log.committed {
            // Everything up to our commit index matches the leader's log already (§5.4 Log Matching).
            send(to: leader, .appendResponse(index: log.committed, rejection: nil))
            return
        }
        guard log.matchTerm(prevIndex, prevTerm) else {
            let probe = min(prevIndex, log.lastIndex)
            let hint = log.conflictHint(index: probe, term: prevTerm)
            send(to: leader, .appendResponse(index: prevIndex,
                                             rejection: .init(hintIndex: hint.index, hintTerm: hint.term)))
            return
        }
        let lastNew = prevIndex + UInt64(entries.count)
        if let conflict = log.firstConflict(in: entries) {
            if conflict <= log.committed {
                fault = "append from \(leader) in term \(term) would overwrite committed entry \(conflict)"
                return
            }
            log.truncateAndAppend(entries[Int(conflict - entries[0].index)...])
        }
        log.commit(to: min(commit, lastNew))
        send(to: leader, .appendResponse(index: lastNew, rejection: nil))
    }

    /// InstallSnapshot, follower side (§7; etcd/raft's handleSnapshot).
    private mutating func handleSnapshot(from leader: NodeID, _ snapshot: Snapshot) {
        let position = snapshot.metadata.position
        if position.index <= log.committed {
            send(to: leader, .appendResponse(index: log.committed, rejection: nil))
            return
        }
        if log.matchTerm(position.index, position.term) {
            // Our log already holds the snapshot's last entry: keep the log, just commit.
            log.commit(to: position.index)
            send(to: leader, .appendResponse(index: position.index, rejection: nil))
            return
        }
        log.restore(position)
        latestSnapshot = snapshot
        pendingSnapshotWrite = .installed(snapshot)
        pendingRestore = snapshot
        send(to: leader, .appendResponse(index: position.index, rejection: nil))
    }

    private mutating func send(to peer: NodeID, _ body: Message.Body) {
        outbox.append(Message(from: id, to: peer, term: term, body: body))
    }
}
