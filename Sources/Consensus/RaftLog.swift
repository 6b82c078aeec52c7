/// The in-memory log of one replica: entries after the snapshot point, plus the commit, apply and
/// persist cursors. Pure; `Raft` owns it.
struct RaftLog: Sendable {
    /// The last entry dropped by compaction (.zero: nothing compacted).
    private(set) var compacted = LogPosition.zero
    private var snapshotIndex: UInt64 { compacted.index }
    private var snapshotTerm: UInt64 { compacted.term }
    /// `entries[k].index == compacted.index + 1 + k`.
    private(set) var entries: [Entry] = []
    /// Highest index known committed.
    private(set) var committed: UInt64 = 0
    /// Highest index handed out for applying.
    var applied: UInt64 = 0
    /// Highest index handed out for persisting; entries above it still need a `Ready`.
    var stable: UInt64 = 0

    /// The log as recovered. A recovered snapshot is the state machine's starting point: applying
    /// resumes after it.
    init(recovered: RecoveredLog) {
        compacted = recovered.compacted
        entries = recovered.entries
        stable = lastIndex
        let snapshotIndex = recovered.snapshot?.metadata.index ?? 0
        committed = max(min(recovered.hardState.commit, lastIndex), snapshotIndex)
        applied = snapshotIndex
    }

    var firstIndex: UInt64 { compacted.index + 1 }
    var lastIndex: UInt64 { snapshotIndex + UInt64(entries.count) }
    var lastTerm: UInt64 { entries.last?.term ?? snapshotTerm }

    /// The term of the entry at `index`, or nil when it is compacted or beyond the end.
    func term(at index: UInt64) -> UInt64? {
        if index == snapshotIndex { return snapshotTerm }
        if index < snapshotIndex || index > lastIndex { return nil }
        return entries[Int(index - snapshotIndex - 1)].term
    }

    func entry(at index: UInt64) -> Entry? {
        guard index > snapshotIndex, index <= lastIndex else { return nil }
        return entries[Int(index - snapshotIndex - 1)]
    }

    func matchTerm(_ index: UInt64, _ term: UInt64) -> Bool { self.term(at: index) == term }

    /// Raft §5.4.1: a candidate's log is at least as up-to-date as ours.
    func isUpToDate(lastIndex candidateIndex: UInt64, lastTerm candidateTerm: UInt64) -> Bool {
        candidateTerm > lastTerm || (candidateTerm == lastTerm && candidateIndex >= lastIndex)
    }

    /// Entries in `lo...hi` (both present), at most `maxCount` and about `maxBytes` (at least one).
    func slice(from lo: UInt64, through hi: UInt64, maxCount: Int = .max, maxBytes: Int = .max) -> [Entry] {
        guard lo <= hi, lo > snapshotIndex, hi <= lastIndex else { return [] }
        var out: [Entry] = []
        var bytes = 0
        var i = lo
        while i <= hi, out.count < maxCount {
            let e = entries[Int(i - snapshotIndex - 1)]
            if !out.isEmpty, bytes + e.size > maxBytes { break }
            bytes += e.size
            out.append(e)
            i += 1
        }
        return out
    }

    /// Leader append; entries must continue the log.
    mutating func append(_ entry: Entry) {
        precondition(entry.index == lastIndex + 1)
        entries.append(entry)
    }

    /// The first index at which `incoming` disagrees with the log (by term), or nil when every
    /// entry is already present. Raft §5.3.
    func firstConflict(in incoming: [Entry]) -> UInt64? {
        for e in incoming where !matchTerm(e.index, e.term) { return e.index }
        return nil
    }

    /// Replaces everything from `incoming[k]` on, where `incoming[k].index == from`.
    mutating func truncateAndAppend(_ incoming: ArraySlice<Entry>) {
        guard let first = incoming.first else { return }
        precondition(first.index > snapshotIndex && first.index <= lastIndex + 1)
        entries.removeSubrange(Int(first.index - snapshotIndex - 1)...)
        entries.append(contentsOf: incoming)
        stable = min(stable, first.index - 1)
    }

    /// Drops entries up to `position` (which must be applied and handed out for persisting).
    mutating func compact(through position: LogPosition) {
        guard position.index > compacted.index else { return }
        precondition(position.index <= applied && position.index <= stable && term(at: position.index) == position.term)
        entries.removeFirst(Int(position.index - compacted.index))
        compacted = position
    }

    /// Replaces the whole log with a snapshot's position (InstallSnapshot, §7): everything up to it
    /// is committed and, once the state machine restores the snapshot, applied.
    mutating func restore(_ position: LogPosition) {
        entries.removeAll()
        compacted = position
        committed = position.index
        applied = position.index
        stable = position.index
    }

    mutating func commit(to index: UInt64) {
        precondition(index <= lastIndex, "commit beyond the log")
        if index > committed { committed = index }
    }

    /// etcd/raft's findConflictByTerm: the largest index ≤ `index` whose term is ≤ `term`
    /// (or the snapshot point), with its term. Lets a leader skip a whole term per round trip.
    func conflictHint(index: UInt64, term: UInt64) -> (index: UInt64, term: UInt64) {
        var i = min(index, lastIndex)
        while i > snapshotIndex, let t = self.term(at: i), t > term { i -= 1 }
        return (i, self.term(at: i) ?? 0)
    }

    /// Entries not yet handed out for persisting; marks them handed out.
    mutating func takeUnstable() -> [Entry] {
        guard stable < lastIndex else { return [] }
        let out = slice(from: stable + 1, through: lastIndex)
        stable = lastIndex
        return out
    }

    var hasUnstable: Bool { stable < lastIndex }
    var hasUnapplied: Bool { applied < committed }

    /// Committed entries not yet handed out for applying; marks them handed out.
    mutating func takeCommitted() -> [Entry] {
        guard applied < committed else { return [] }
        let out = slice(from: applied + 1, through: committed)
        applied = committed
        return out
    }
}
