import Consensus

/// What one node's disk holds: the log store's logical content.
struct DiskImage: Equatable {
    var hardState = HardState()
    var snapshot: Snapshot?
    var compacted = LogPosition.zero
    var entries: [Entry] = []

    var last: LogPosition { entries.last.map { LogPosition(index: $0.index, term: $0.term) } ?? compacted }

    func term(at index: UInt64) -> UInt64? {
        if index == compacted.index { return compacted.term }
        guard index > compacted.index, index <= last.index else { return nil }
        return entries[Int(index - compacted.index - 1)].term
    }

    var recovered: RecoveredLog {
        RecoveredLog(hardState: hardState, snapshot: snapshot, compacted: compacted, entries: entries)
    }

    enum Write {
        case hardState(HardState)
        case snapshot(SnapshotWrite)
        case entry(Entry)
    }

    mutating func apply(_ w: Write) {
        switch w {
        case .hardState(let hs):
            hardState = hs
        case .snapshot(.taken(let s, let through)):
            snapshot = s
            if through.index > compacted.index {
                let drop = min(entries.count, Int(through.index - compacted.index))
                entries.removeFirst(drop)
                compacted = through
            }
        case .snapshot(.installed(let s)):
            snapshot = s
            entries.removeAll()
            compacted = s.metadata.position
        case .entry(let e):
            // The checker has vetted the batch (storage contract); a bad one never gets here.
            guard e.index > compacted.index, e.index <= last.index + 1 else { return }
            entries.removeSubrange(Int(e.index - compacted.index - 1)...)
            entries.append(e)
        }
    }

    /// The writes of a batch, in the order a crash may cut them.
    static func writes(of batch: PersistBatch) -> [Write] {
        var out: [Write] = []
        if let hs = batch.hardState { out.append(.hardState(hs)) }
        if let s = batch.snapshot { out.append(.snapshot(s)) }
        for e in batch.entries { out.append(.entry(e)) }
        return out
    }
}

/// A node's virtual disk. Writes land in the page cache (`written`) at once and reach the
/// durable image only when their batch's virtual fsync completes; batches complete in order. A
/// crash keeps the durable image plus a random prefix of the unsynced writes (a torn tail), never
/// more.
final class SimDisk: LogStorage {
    private(set) var durable = DiskImage()
    /// What the node's process sees: durable plus unsynced writes.
    private(set) var written = DiskImage()
    /// Batches written but not yet synced, oldest first.
    private var unsynced: [[DiskImage.Write]] = []
    private var generation = 0
    /// Schedules a batch's fsync completion in virtual time (completions must keep their order).
    var scheduleSync: ((_ generation: Int, _ complete: @escaping () -> Void) -> Void)?
    /// Sees every batch before it is written (storage contract and log matching checks).
    var observeWrite: ((PersistBatch, _ before: DiskImage) -> Void)?

    func recover() throws -> RecoveredLog { durable.recovered }

    func persist(_ batch: PersistBatch, done: @escaping (Result<Void, any Error>) -> Void) {
        observeWrite?(batch, written)
        let writes = DiskImage.writes(of: batch)
        for w in writes { written.apply(w) }
        unsynced.append(writes)
        let gen = generation
        scheduleSync?(gen) { [weak self] in
            guard let self, self.generation == gen, !self.unsynced.isEmpty else { return }
            for w in self.unsynced.removeFirst() { self.durable.apply(w) }
            done(.success(()))
        }
    }

    /// The process dies: unsynced writes are lost except the first `keep` of them; callbacks of
    /// the dead process never fire.
    func crash(keepingUnsynced keep: Int) {
        for w in unsynced.joined().prefix(keep) { durable.apply(w) }
        unsynced.removeAll()
        written = durable
        generation += 1
    }

    var unsyncedCount: Int { unsynced.reduce(0) { $0 + $1.count } }
}
