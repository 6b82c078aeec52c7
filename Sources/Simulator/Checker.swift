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
    /// Per node: how far its commit index was checked, and its last observed leadership.
    private var checkedCommit: [UInt64]
    private var leading: [(term: UInt64, lastIndex: UInt64, lastTerm: UInt64)?]

    init(nodes: Int) {
        checkedCommit = Array(repeating: 0, count: nodes)
        leading = Array(repeating: nil, count: nodes)
    }

    var committedCount: UInt64 { UInt64(committed.count) }

    func committedEntry(at index: UInt64) -> (term: UInt64, digest: UInt64)? {
        guard index >= 1, index <= UInt64(committed.count) else { return nil }
        let c = committed[Int(index - 1)]
        return (c.term, c.digest)
    }

    /// A node restarted from its disk: its in-memory view starts over.
    mutating func restarted(node k: Int) {
        checkedCommit[k] = 0
        leading[k] = nil
    }

    /// Checks one node's Raft state after a step.
    mutating func check(node k: Int, raft: Raft, now: UInt64) throws(Violation) {
        // Election safety: at most one leader per term.
        if raft.role == .leader {
            if let other = leaderOfTerm[raft.term], other != raft.config.id {
                throw Violation(invariant: "election safety",
                                detail: "\(other) and \(raft.config.id) both lead term \(raft.term)", time: now)
            }
            leaderOfTerm[raft.term] = raft.config.id
            if let was = leading[k], was.term == raft.term {
                // Leader append-only: a leader never overwrites or deletes its entries.
                if raft.lastIndex < was.lastIndex || raft.term(at: was.lastIndex) != was.lastTerm {
                    throw Violation(invariant: "leader append-only",
                                    detail: "\(raft.config.id) leader of term \(raft.term) lost or changed entry \(was.lastIndex)",
                                    time: now)
                }
            } else {
                // Leader completeness: a new leader holds every entry committed before its term.
                for (i, c) in committed.enumerated() where raft.term(at: UInt64(i + 1)) != c.term {
                    throw Violation(invariant: "leader completeness",
                                    detail: "\(raft.config.id) leads term \(raft.term) without committed entry \(i + 1) (term \(c.term)); it has term \(raft.term(at: UInt64(i + 1)).map(String.init) ?? "none")",
                                    time: now)
                }
            }
            leading[k] = (raft.term, raft.lastIndex, raft.lastTerm)
        } else {
            leading[k] = nil
        }
        // State-machine safety: no two nodes commit different entries at one index.
        while checkedCommit[k] < raft.commitIndex {
            let i = checkedCommit[k] + 1
            guard let e = raft.entry(at: i) else {
                throw Violation(invariant: "state-machine safety",
                                detail: "\(raft.config.id) commit index \(raft.commitIndex) beyond its log", time: now)
            }
            let d = Command.digest(e)
            if i <= UInt64(committed.count) {
                let c = committed[Int(i - 1)]
                if c.term != e.term || c.digest != d {
                    throw Violation(invariant: "state-machine safety",
                                    detail: "\(raft.config.id) committed entry \(i) of term \(e.term); entry \(i) committed elsewhere has term \(c.term)",
                                    time: now)
                }
            } else {
                committed.append(Committed(term: e.term, digest: d))
            }
            checkedCommit[k] = i
        }
    }

    /// Committed means durable against any future election (the argument of Raft §5.4.3): no node
    /// that lacks the latest committed entry may be at least as up-to-date (§5.4.1) as a quorum of
    /// the nodes' durable logs — otherwise it could win an election and overwrite the entry. This
    /// catches an unsafe commit (figure 8) the moment it happens, before the loss it enables.
    /// `logs[k]`: node k's current log (last index, last term, term at the committed index) and
    /// its durable log's last index and term.
    func checkCommitDurable(logs: [(last: (index: UInt64, term: UInt64), termAtCommit: UInt64?,
                                    durable: (index: UInt64, term: UInt64))],
                            ids: [NodeID], now: UInt64) throws(Violation) {
        guard let latest = committed.last else { return }
        let c = UInt64(committed.count)
        let quorum = logs.count / 2 + 1
        for (x, log) in logs.enumerated() where log.termAtCommit != latest.term {
            var votes = 0
            for y in logs where log.last.term > y.durable.term
                || (log.last.term == y.durable.term && log.last.index >= y.durable.index) {
                votes += 1
            }
            if votes >= quorum {
                throw Violation(invariant: "committed entry not durable",
                                detail: "entry \(c) (term \(latest.term)) is committed, but \(ids[x]) lacks it and its log (last \(log.last.index)/\(log.last.term)) is at least as up-to-date as \(votes) of \(logs.count) nodes' durable logs: it can be elected and overwrite the entry",
                                time: now)
            }
        }
    }

    /// What `SQLiteLogStorage` refuses, checked on every batch Raft asks to persist: no gap, no
    /// rewrite at or below the durable commit index, contiguous entries with non-decreasing terms,
    /// a term that never goes back, a commit index within the log and a term not behind it.
    private func checkStorageContract(node: NodeID, batch: PersistBatch, logBefore: RecoveredLog, now: UInt64) throws(Violation) {
        func fail(_ why: String) -> Violation { Violation(invariant: "storage contract", detail: "\(node): \(why)", time: now) }
        var lastIndex = logBefore.entries.last?.index ?? 0
        var lastTerm = logBefore.entries.last?.term ?? 0
        var hs = logBefore.hardState
        if let first = batch.entries.first, let last = batch.entries.last {
            if first.index > lastIndex + 1 { throw fail("batch starts at \(first.index) after log end \(lastIndex)") }
            if first.index <= hs.commit { throw fail("batch rewrites \(first.index) at or below durable commit \(hs.commit)") }
            for (a, b) in zip(batch.entries, batch.entries.dropFirst()) where b.index != a.index + 1 || b.term < a.term {
                throw fail("batch entries \(a.index)/\(a.term) then \(b.index)/\(b.term)")
            }
            let prev = first.index == 1 ? 0 : logBefore.entries[Int(first.index - 2)].term
            if first.term < prev { throw fail("entry \(first.index) term \(first.term) after term \(prev)") }
            lastIndex = last.index
            lastTerm = last.term
        }
        if let new = batch.hardState {
            if new.term < hs.term { throw fail("term goes back from \(hs.term) to \(new.term)") }
            if new.term == hs.term, let v = hs.vote, new.vote != v { throw fail("vote changed within term \(new.term)") }
            hs = new
        }
        if hs.commit > lastIndex { throw fail("commit \(hs.commit) beyond log end \(lastIndex)") }
        if hs.term < lastTerm { throw fail("hard-state term \(hs.term) behind last entry term \(lastTerm)") }
    }

    /// Log matching (§5.3): entries with the same index and term hold the same command and follow
    /// the same predecessor — so by induction the logs are identical up to there.
    mutating func checkWrite(node: NodeID, batch: PersistBatch, logBefore: RecoveredLog, now: UInt64) throws(Violation) {
        try checkStorageContract(node: node, batch: batch, logBefore: logBefore, now: now)
        guard let first = batch.entries.first else { return }
        let base = logBefore.entries.first?.index ?? 1
        var prevTerm: UInt64 = 0
        if first.index > base, Int(first.index - base) - 1 < logBefore.entries.count {
            prevTerm = logBefore.entries[Int(first.index - base) - 1].term
        }
        if first.index > 1 && first.index - 1 > UInt64(logBefore.entries.count) + base - 1 {
            throw Violation(invariant: "log matching", detail: "\(node) writes entry \(first.index) after a gap", time: now)
        }
        for e in batch.entries {
            let facts = EntryFacts(digest: Command.digest(e), prevTerm: prevTerm)
            let key = EntryKey(index: e.index, term: e.term)
            if let known = entryFacts[key] {
                if known.digest != facts.digest || known.prevTerm != facts.prevTerm {
                    throw Violation(invariant: "log matching",
                                    detail: "\(node) holds entry \(e.index)/\(e.term) that differs from the same index and term elsewhere",
                                    time: now)
                }
            } else {
                entryFacts[key] = facts
            }
            prevTerm = e.term
        }
    }
}
