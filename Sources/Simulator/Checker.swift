import Bus
import Consensus

/// A broken invariant, with where and when.
public struct Violation: Error, Sendable, Equatable {
    public var invariant: String
    public var detail: String
    public var time: UInt64
}

/// The invariants of Raft (figure 3 of the extended paper) and of what clients see, checked
/// incrementally after every simulator step.
struct Checker {
    private struct Committed { var term: UInt64; var digest: UInt64 }
    private struct EntryKey: Hashable { var index: UInt64; var term: UInt64 }
    private struct EntryFacts { var digest: UInt64; var prevTerm: UInt64 }

    /// The committed prefix of the log as observed across all nodes (index k+1 at k).
    private var committed: [Committed] = []
    /// Election safety: the leader of each term.
    private var leaderOfTerm: [UInt64: NodeID] = [:]
    /// Log matching: what an (index, term) pair stands for, anywhere.
    private var entryFacts: [EntryKey: EntryFacts] = [:]
    /// Identical snapshots: the digest of the state at each index some replica snapshotted.
    private var snapshotDigests: [UInt64: UInt64] = [:]
    /// Per node: how far its commit index was checked, and its last observed leadership.
    private var appliedCursor: [UInt64]
    private var leading: [(term: UInt64, lastIndex: UInt64, lastTerm: UInt64)?]

    init(nodes: Int) {
        appliedCursor = Array(repeating: 0, count: nodes)
        leading = Array(repeating: nil, count: nodes)
    }

    var committedCount: UInt64 { UInt64(committed.count) }

    func committedEntry(at index: UInt64) -> (term: UInt64, digest: UInt64)? {
        guard index >= 1, index <= UInt64(committed.count) else { return nil }
        let c = committed[Int(index - 1)]
        return (c.term, c.digest)
    }

    /// A node restarted from its disk: its in-memory view starts over.
    mutating func restarted(node k: Int, appliedIndex: UInt64) {
        appliedCursor[k] = appliedIndex
        leading[k] = nil
    }

    /// Checks one node's Raft state after a step. It reads the replica's fields in place: a copy
    /// of its Raft per node and step cost more than the rest of the check.
    mutating func check(node k: Int, replica r: Replica, now: UInt64) throws(Violation) {
        let compacted = r.raft.compacted.index
        // Election safety: at most one leader per term.
        if r.raft.role == .leader {
            if let other = leaderOfTerm[r.raft.term], other != r.raft.config.id {
                throw Violation(invariant: "election safety",
                                detail: "\(other) and \(r.raft.config.id) both lead term \(r.raft.term)", time: now)
            }
            leaderOfTerm[r.raft.term] = r.raft.config.id
            if let was = leading[k], was.term == r.raft.term {
                // Leader append-only: a leader never overwrites or deletes its entries.
                if r.raft.lastIndex < was.lastIndex
                    || (was.lastIndex >= compacted && r.raft.term(at: was.lastIndex) != was.lastTerm) {
                    throw Violation(invariant: "leader append-only",
                                    detail: "\(r.raft.config.id) leader of term \(r.raft.term) lost or changed entry \(was.lastIndex)",
                                    time: now)
                }
            } else {
                // Leader completeness: a new leader holds every entry committed before its term
                // (entries behind its snapshot are covered by the snapshot checks).
                var i = max(compacted, 1)
                while i <= UInt64(committed.count) {
                    let c = committed[Int(i - 1)]
                    if i > compacted, r.raft.term(at: i) != c.term {
                        throw Violation(invariant: "leader completeness",
                                        detail: "\(r.raft.config.id) leads term \(r.raft.term) without committed entry \(i) (term \(c.term)); it has term \(r.raft.term(at: i).map(String.init) ?? "none")",
                                        time: now)
                    }
                    i += 1
                }
            }
            leading[k] = (r.raft.term, r.raft.lastIndex, r.raft.lastTerm)
        } else {
            leading[k] = nil
        }
    }

    /// State-machine safety: every replica applies the same entry at each index, in index order
    /// (checked on the apply stream, which also sees entries that are compacted right after).
    mutating func applied(node k: Int, id: NodeID, entry e: Entry, now: UInt64) throws(Violation) {
        let i = e.index
        guard i == appliedCursor[k] + 1 else {
            throw Violation(invariant: "state-machine safety",
                            detail: "\(id) applied entry \(i) after \(appliedCursor[k])", time: now)
        }
        appliedCursor[k] = i
        let d = Fingerprint.of(e)
        if i <= UInt64(committed.count) {
            let c = committed[Int(i - 1)]
            if c.term != e.term || c.digest != d {
                throw Violation(invariant: "state-machine safety",
                                detail: "\(id) applied entry \(i) of term \(e.term); entry \(i) applied elsewhere has term \(c.term)",
                                time: now)
            }
        } else if i == UInt64(committed.count) + 1 {
            committed.append(Committed(term: e.term, digest: d))
        } else {
            throw Violation(invariant: "state-machine safety",
                            detail: "\(id) applied entry \(i) beyond every committed entry seen (\(committed.count))", time: now)
        }
    }

    /// A replica loaded a snapshot: it continues applying after it.
    mutating func restored(node k: Int, at index: UInt64) { appliedCursor[k] = index }

    /// A node restarted: checks what its replica replayed from its log before the apply hook was
    /// set, and moves its cursor to the replica's applied index.
    mutating func replayed(node k: Int, id: NodeID, replica: Replica, now: UInt64) throws(Violation) {
        let raft = replica.raft
        restarted(node: k, appliedIndex: raft.compacted.index)
        var i = raft.compacted.index + 1
        while i <= replica.appliedIndex, let e = raft.entry(at: i) {
            try applied(node: k, id: id, entry: e, now: now)
            i += 1
        }
        restarted(node: k, appliedIndex: replica.appliedIndex)
    }

    /// Replicas that applied the same prefix have byte-identical state: every snapshot taken or
    /// restored at an index must equal every other one at that index.
    mutating func checkSnapshot(node: NodeID, index: UInt64, bytes: [UInt8], now: UInt64) throws(Violation) {
        let digest = Fingerprint.of(kind: 0, bytes) ^ UInt64(bytes.count) << 48
        if let known = snapshotDigests[index] {
            if known != digest {
                throw Violation(invariant: "identical snapshots",
                                detail: "\(node) state at \(index) differs from another replica's at the same index", time: now)
            }
        } else {
            snapshotDigests[index] = digest
        }
    }

    /// Committed means durable against any future election (the argument of Raft §5.4.3): no node
    /// that lacks the latest committed entry may be at least as up-to-date (§5.4.1) as a quorum of
    /// the nodes' durable logs — otherwise it could win an election and overwrite the entry. This
    /// catches an unsafe commit (figure 8) the moment it happens, before the loss it enables.
    /// `logs[k]`: node k's current last position, whether it holds the latest committed entry,
    /// and its durable log's last position.
    func checkCommitDurable(logs: [(last: LogPosition, holdsCommitted: Bool, durable: LogPosition)],
                            ids: [NodeID], now: UInt64) throws(Violation) {
        guard let latest = committed.last else { return }
        let c = UInt64(committed.count)
        let quorum = logs.count / 2 + 1
        for (x, log) in logs.enumerated() where !log.holdsCommitted {
            var votes = 0
            for y in logs where log.last.term > y.durable.term
                || (log.last.term == y.durable.term && log.last.index >= y.durable.index) {
                votes += 1
            }
            if votes >= quorum {
                throw Violation(invariant: "committed entry not durable",
                                detail: "entry \(c) (term \(latest.term)) is committed, but \(ids[x]) lacks it and its log (last \(log.last)) is at least as up-to-date as \(votes) of \(logs.count) nodes' durable logs: it can be elected and overwrite the entry",
                                time: now)
            }
        }
    }

    /// The latest committed position, if any.
    var latestCommitted: LogPosition? {
        committed.last.map { LogPosition(index: UInt64(committed.count), term: $0.term) }
    }

    /// Checks a batch before it is written: the storage contract, then log matching.
    mutating func checkWrite(node: NodeID, batch: PersistBatch, before: DiskImage, now: UInt64) throws(Violation) {
        func fail(_ invariant: String, _ why: String) -> Violation {
            Violation(invariant: invariant, detail: "\(node): \(why)", time: now)
        }
        // What `SQLiteLogStorage` refuses: a term that goes back or a second vote in a term; a
        // snapshot that does not fit; a gap; a rewrite at or below the durable commit index;
        // entries out of order; a commit index beyond the log or a term behind it.
        // The image after the batch, summarised without copying its entries (a copy per write
        // made the checker quadratic in the log's length).
        let image = before
        var compacted = image.compacted, last = image.last, snapshotIndex = image.snapshot?.metadata.index ?? 0
        var installed = false
        func term(at index: UInt64) -> UInt64? {
            if index == compacted.index { return compacted.term }
            guard index > compacted.index, index <= last.index, !installed else { return nil }
            return image.term(at: index)
        }
        if let hs = batch.hardState {
            if hs.term < image.hardState.term { throw fail("storage contract", "term goes back from \(image.hardState.term) to \(hs.term)") }
            if hs.term == image.hardState.term, let v = image.hardState.vote, hs.vote != v {
                throw fail("storage contract", "vote changed within term \(hs.term)")
            }
        }
        // A torn batch may have kept a hard state whose commit index runs past the surviving log;
        // recovery clamps it, and so does this check (SQLite's atomic batches never tear).
        let durableCommit = min(image.hardState.commit, max(image.last.index, image.snapshot?.metadata.index ?? 0))
        if let write = batch.snapshot {
            let s = write.snapshot.metadata
            if let old = image.snapshot, s.index <= old.metadata.index {
                throw fail("storage contract", "snapshot \(s.position) not newer than stored \(old.metadata.position)")
            }
            if case .taken(_, let through) = write {
                if through.index > s.index || (through.index > image.compacted.index && image.term(at: through.index) != through.term) {
                    throw fail("storage contract", "compaction through \(through) does not match the stored log")
                }
            }
            switch write {
            case .taken(_, let through):
                if through.index > compacted.index { compacted = through }
            case .installed(let snapshot):
                compacted = snapshot.metadata.position
                last = compacted
                installed = true
            }
            snapshotIndex = s.index
        }
        if let first = batch.entries.first {
            if first.index > last.index + 1 { throw fail("storage contract", "batch starts at \(first.index) after log end \(image.last.index)") }
            if first.index <= compacted.index { throw fail("storage contract", "batch rewrites compacted entry \(first.index)") }
            if first.index <= durableCommit, batch.snapshot == nil {
                throw fail("storage contract", "batch rewrites \(first.index) at or below durable commit \(durableCommit)")
            }
            for (a, b) in zip(batch.entries, batch.entries.dropFirst()) where b.index != a.index + 1 || b.term < a.term {
                throw fail("storage contract", "batch entries \(a.index)/\(a.term) then \(b.index)/\(b.term)")
            }
            let prevTerm = term(at: first.index - 1) ?? 0
            if first.term < prevTerm { throw fail("storage contract", "entry \(first.index) term \(first.term) after term \(prevTerm)") }
            // Log matching (§5.3): entries with the same index and term hold the same command and
            // follow the same predecessor — so by induction the logs are identical up to there.
            var prev = prevTerm
            for e in batch.entries {
                let facts = EntryFacts(digest: Fingerprint.of(e), prevTerm: prev)
                let key = EntryKey(index: e.index, term: e.term)
                if let known = entryFacts[key] {
                    if known.digest != facts.digest || known.prevTerm != facts.prevTerm {
                        throw fail("log matching", "holds entry \(e.index)/\(e.term) that differs from the same index and term elsewhere")
                    }
                } else {
                    entryFacts[key] = facts
                }
                prev = e.term
            }
            last = LogPosition(index: batch.entries.last!.index, term: batch.entries.last!.term)
        }
        if let hs = batch.hardState {
            if hs.commit > max(last.index, snapshotIndex) {
                throw fail("storage contract", "commit \(hs.commit) beyond log end \(last.index)")
            }
            if hs.term < last.term { throw fail("storage contract", "hard-state term \(hs.term) behind last entry term \(last.term)") }
        }
    }
}
