import Consensus

/// A node's virtual disk. Writes land in the page cache (`written`) at once and reach the
/// durable image only when the virtual fsync completes. A crash keeps the durable image plus a
/// random prefix of the unsynced writes (a torn tail), never more.
final class SimDisk: LogStorage {
    private enum Write {
        case entry(Entry)
        case hardState(HardState)
    }

    private(set) var durable = RecoveredLog()
    /// What the node's process sees: durable plus unsynced writes.
    private(set) var written = RecoveredLog()
    private var unsynced: [Write] = []
    private var generation = 0
    /// Schedules the fsync completion `after` microseconds of virtual time.
    var scheduleSync: ((_ generation: Int, _ complete: @escaping () -> Void) -> Void)?
    /// Sees every batch before it is written (for the log-matching check).
    var observeWrite: ((PersistBatch, _ logBefore: RecoveredLog) -> Void)?

    func recover() throws -> RecoveredLog { durable }

    func persist(_ batch: PersistBatch, done: @escaping (Result<Void, any Error>) -> Void) {
        observeWrite?(batch, written)
        // Entries before the hard state: a torn batch never holds a commit index beyond its log.
        for e in batch.entries { unsynced.append(.entry(e)); Self.apply(.entry(e), to: &written) }
        if let hs = batch.hardState { unsynced.append(.hardState(hs)); Self.apply(.hardState(hs), to: &written) }
        let gen = generation
        scheduleSync?(gen) { [weak self] in
            guard let self, self.generation == gen else { return }
            for w in self.unsynced { Self.apply(w, to: &self.durable) }
            self.unsynced.removeAll()
            done(.success(()))
        }
    }

    /// The process dies: unsynced writes are lost except a prefix of `keep` of them; callbacks
    /// of the dead process never fire.
    func crash(keepingUnsynced keep: Int) {
        for w in unsynced.prefix(keep) { Self.apply(w, to: &durable) }
        unsynced.removeAll()
        written = durable
        generation += 1
    }

    var unsyncedCount: Int { unsynced.count }

    private static func apply(_ w: Write, to log: inout RecoveredLog) {
        switch w {
        case .hardState(let hs):
            log.hardState = hs
        case .entry(let e):
            let first = log.entries.first?.index ?? 1
            let keep = Int(e.index) - Int(first)
            if keep < log.entries.count { log.entries.removeSubrange(max(0, keep)...) }
            log.entries.append(e)
        }
    }
}
