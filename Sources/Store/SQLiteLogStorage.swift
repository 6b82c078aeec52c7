import Consensus
import Foundation
import Wire
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The replicated log, hard state and newest snapshot of one node: one SQLite file, plus one
/// snapshot file in the directory `<path>.snapshots` beside it (format: `SnapshotFile`).
///
/// Durability contract (`LogStorage`): each `persist` is one SQLite transaction in WAL mode with
/// `synchronous=FULL`, so COMMIT returns only after the WAL, commit record included, is fsynced.
/// `done(.success)` is called after COMMIT returns, never before. A crash at any moment leaves
/// either the whole batch or none of it (SQLite ignores WAL frames after the last valid commit
/// record), and everything from earlier successful batches. A batch of many entries costs one
/// fsync (group commit).
///
/// Snapshots: a batch's snapshot is written to its own file first (temp file, fsync, rename, fsync
/// of the directory), before the transaction starts; the transaction then records the file (name
/// and SHA-256), the new compaction point, and deletes the compacted entries, together with the
/// batch's entries and hard state. So the log only ever refers to a complete, synced file. A crash
/// before COMMIT leaves a file nothing refers to; it is ignored, and removed by the next `recover()`.
/// After COMMIT the superseded snapshot file and any temp files are removed (failures land in
/// `cleanupFailures`, they are not errors: the next snapshot or recovery retries).
///
/// Verification: every entry, the hard state, the snapshot record and the compaction point carry a
/// CRC-32C over their fields (`RecordChecksum`); the snapshot file carries a SHA-256 that must match
/// the recorded one. `recover()` checks SQLite's page structure (`PRAGMA quick_check`), every
/// checksum, the snapshot file, and the log's shape (contiguous from the compaction point + 1,
/// terms non-decreasing, the snapshot within the log and committed, commit within the log,
/// hard-state term not behind the log) and throws rather than repair anything.
///
/// Usage: open, `recover()`, then `persist` batches one at a time; `persist` refuses to run before a
/// successful `recover()`, so nothing is ever written on top of an unverified log. `done` is called
/// before `persist` returns. The store keeps an exclusive lock on the file while it is open, so a
/// second process (or a second instance) on the same path fails with `StoreError.locked`.
///
/// After a failed `persist` nothing of the batch is durable and the store stays usable (`.refused`,
/// `.diskFull`, `.locked`, `.snapshotIO`), except when COMMIT itself fails otherwise (an fsync
/// error, say): then whether the batch is on disk is unknown, and the store answers `.halted` until
/// the process restarts and recovers.
///
/// Format version 2 (snapshots) opens a version-1 file by migrating it in place: one transaction
/// adds the empty `snapshot` and `log_start` tables (a v1 log never compacted, which is what empty
/// tables mean) and sets the version. A crash during it leaves the v1 file as it was.
///
/// Not Sendable: confine an instance to one thread or actor.
public final class SQLiteLogStorage: LogStorage {
    /// The durable format this build writes and reads (version 1 is migrated on open).
    public static let formatVersion: Int64 = 2

    /// The database file.
    public let path: String
    let database: Database
    /// Where snapshot files live: `<path>.snapshots`.
    let snapshots: SnapshotDirectory
    private let statements: Statements
    /// What the durable log ends with; nil until `recover()` has verified it.
    private var tail: Tail?
    /// Set when a COMMIT failed with unknown outcome; the store then refuses all work.
    private var haltCause: String?

    /// What the last snapshot-file cleanup could not remove (empty when it removed everything).
    /// Not an error: the files are unreferenced and the next snapshot write or recovery retries.
    public private(set) var cleanupFailures: [String] = []

    /// Test hook for crash testing: called at each step of a `persist`, while the step's effect is
    /// in SQLite's (or the file system's) hands. A test copies the files here to get the disk image
    /// of a crash at that moment.
    var crashPoint: ((PersistStep) -> Void)?

    /// The steps of a `persist` that `crashPoint` reports, in order.
    enum PersistStep: Equatable {
        /// The snapshot's temp file is written, not yet synced.
        case wroteSnapshotFile
        /// The temp file is fsynced.
        case syncedSnapshotFile
        /// The temp file is renamed to its final name; the directory is not yet synced.
        case renamedSnapshotFile
        /// The directory is fsynced: the file is durable under its final name.
        case syncedSnapshotDirectory
        case began
        /// The snapshot row is written (uncommitted).
        case recordedSnapshot
        /// The compaction point is written and the entries through it deleted (uncommitted).
        case compacted(through: UInt64)
        case truncated(from: UInt64)
        case inserted(index: UInt64)
        case wroteHardState
        case committed
        /// Superseded snapshot files and temp files are removed.
        case removedStaleSnapshotFiles
    }

    private struct Tail {
        /// The last compacted entry (`.zero`: none).
        var compacted: LogPosition
        var snapshot: SnapshotRecord?
        /// The last stored entry, or `compacted` when none is stored.
        var last: LogPosition
        var hardState: HardState
    }

    /// Opens the log at `path`, creating an empty one if the file does not exist, migrating a
    /// format-1 file to format 2.
    ///
    /// - Throws: `StoreError.locked` when another instance holds the file, `.unsupportedFormat`
    ///   for another format version, `.corrupt` when the file is not a database or lacks its format
    ///   record, `.cannotOpen` when SQLite cannot open it in WAL mode.
    public init(path: String) throws(StoreError) {
        let database = try Database(path: path)
        try Self.configure(database)
        if try Self.prepareSchema(database) {
            try Self.syncParentDirectory(of: path)
        }
        self.statements = try Statements(database)
        self.database = database
        self.snapshots = SnapshotDirectory(logPath: path)
        self.path = path
    }

    // MARK: - Recovery

    /// Reads and verifies the whole log and its snapshot file, then removes snapshot and temp files
    /// the log does not refer to. See the type's documentation for what is verified.
    ///
    /// Cost: reads every entry and the whole snapshot file (one SHA-256 pass).
    ///
    /// - Throws: `StoreError.corrupt` when bytes fail verification (for the snapshot file, with its
    ///   path: missing, damaged, or not the recorded one), `.unsupportedSnapshotFormat`, `.torn`
    ///   when the log's shape is broken, `.halted` after a failed commit. Never repairs.
    public func recover() throws(StoreError) -> RecoveredLog {
        if let haltCause { throw .halted(path: path, cause: haltCause) }
        try checkPages()
        let hardState = try readHardState()
        let compacted = try readLogStart()
        let record = try readSnapshotRecord()
        let entries = try readEntries()
        let last = try checkShape(hardState: hardState, compacted: compacted, snapshot: record, entries: entries)
        var snapshot: Snapshot?
        if let record { snapshot = try snapshots.read(record) }
        tail = Tail(compacted: compacted, snapshot: record, last: last, hardState: hardState)
        cleanupFailures = snapshots.removeFiles(except: record?.file)
        return RecoveredLog(hardState: hardState, snapshot: snapshot, compacted: compacted, entries: entries)
    }

    private func checkPages() throws(StoreError) {
        let check = try database.prepare("PRAGMA quick_check(10)", persistent: false)
        var problems: [String] = []
        while try check.step() {
            let line = check.text(0) ?? "?"
            if line != "ok" { problems.append(line) }
        }
        guard problems.isEmpty else {
            throw .corrupt(path: path, .database(problems.joined(separator: "; ")))
        }
    }

    private func readHardState() throws(StoreError) -> HardState {
        let row = statements.readHardState
        defer { row.reset() }
        var found: HardState?
        while try row.step() {
            guard found == nil else { throw malformedHardState("more than one row") }
            for (column, name) in ["id", "term", "vote", "commit_index", "checksum"].enumerated()
            where row.type(Int32(column)) != .integer {
                throw malformedHardState("\(name) is not an integer")
            }
            guard row.int64(0) == 0 else { throw malformedHardState("row id \(row.int64(0)) instead of 0") }
            let term = UInt64(bitPattern: row.int64(1))
            let vote = UInt64(bitPattern: row.int64(2))
            let commit = UInt64(bitPattern: row.int64(3))
            guard row.int64(4) == Int64(RecordChecksum.hardState(term: term, vote: vote, commit: commit)) else {
                throw .corrupt(path: path, .hardStateChecksum)
            }
            found = HardState(term: term, vote: vote == 0 ? nil : NodeID(vote), commit: commit)
        }
        return found ?? HardState()
    }

    private func malformedHardState(_ detail: String) -> StoreError {
        .corrupt(path: path, .malformedHardState(detail))
    }

    private func readEntries() throws(StoreError) -> [Entry] {
        let row = statements.readEntries
        defer { row.reset() }
        var entries: [Entry] = []
        while try row.step() {
            let rawIndex = row.int64(0)
            let index = UInt64(bitPattern: rawIndex)
            func malformed(_ column: String) -> StoreError { .corrupt(path: path, .malformedEntry(index: index, column: column)) }
            guard rawIndex >= 1 else { throw malformed("index") }
            guard row.type(1) == .integer else { throw malformed("term") }
            guard row.type(2) == .integer, let kindRaw = UInt8(exactly: row.int64(2)) else { throw malformed("kind") }
            guard row.type(3) == .blob else { throw malformed("data") }
            guard row.type(4) == .integer, let checksum = UInt32(exactly: row.int64(4)) else { throw malformed("checksum") }
            let term = UInt64(bitPattern: row.int64(1))
            let data = row.blob(3)
            guard checksum == RecordChecksum.entry(index: index, term: term, kind: kindRaw, data: data) else {
                throw .corrupt(path: path, .entryChecksum(index: index))
            }
            guard let kind = Entry.Kind(rawValue: kindRaw) else {
                throw .corrupt(path: path, .unknownKind(index: index, rawValue: kindRaw))
            }
            entries.append(Entry(index: index, term: term, kind: kind, data: data))
        }
        return entries
    }

    private func readLogStart() throws(StoreError) -> LogPosition {
        let row = statements.readLogStart
        defer { row.reset() }
        func malformed(_ detail: String) -> StoreError { .corrupt(path: path, .malformedLogStart(detail)) }
        var found: LogPosition?
        while try row.step() {
            guard found == nil else { throw malformed("more than one row") }
            for (column, name) in ["id", "idx", "term", "checksum"].enumerated() where row.type(Int32(column)) != .integer {
                throw malformed("\(name) is not an integer")
            }
            guard row.int64(0) == 0 else { throw malformed("row id \(row.int64(0)) instead of 0") }
            guard row.int64(1) >= 0 else { throw malformed("idx \(row.int64(1)) is negative") }
            let position = LogPosition(index: UInt64(row.int64(1)), term: UInt64(bitPattern: row.int64(2)))
            guard row.int64(3) == Int64(RecordChecksum.logStart(index: position.index, term: position.term)) else {
                throw .corrupt(path: path, .logStartChecksum)
            }
            found = position
        }
        return found ?? .zero
    }

    private func readSnapshotRecord() throws(StoreError) -> SnapshotRecord? {
        let row = statements.readSnapshot
        defer { row.reset() }
        func malformed(_ detail: String) -> StoreError { .corrupt(path: path, .malformedSnapshotRecord(detail)) }
        var found: SnapshotRecord?
        while try row.step() {
            guard found == nil else { throw malformed("more than one row") }
            let types: [(String, Statement.ColumnType)] = [("id", .integer), ("idx", .integer), ("term", .integer),
                                                           ("file", .text), ("digest", .blob), ("checksum", .integer)]
            for (column, (name, type)) in types.enumerated() where row.type(Int32(column)) != type {
                throw malformed("\(name) is not of type \(type)")
            }
            guard row.int64(0) == 0 else { throw malformed("row id \(row.int64(0)) instead of 0") }
            guard row.int64(1) >= 1 else { throw malformed("idx \(row.int64(1)) is not a log index") }
            let record = SnapshotRecord(index: UInt64(row.int64(1)), term: UInt64(bitPattern: row.int64(2)),
                                        file: row.text(3) ?? "", digest: row.blob(4))
            let checksum = RecordChecksum.snapshot(index: record.index, term: record.term, file: record.file, digest: record.digest)
            guard row.int64(5) == Int64(checksum) else { throw .corrupt(path: path, .snapshotRecordChecksum) }
            guard SnapshotFile.isOwnFileName(record.file), record.file.hasSuffix(SnapshotFile.nameSuffix) else {
                throw malformed("file \(record.file) is not a snapshot file name")
            }
            guard record.digest.count == SHA256.digestByteCount else { throw malformed("digest of \(record.digest.count) bytes") }
            found = record
        }
        return found
    }

    /// Checks the log's shape (see the type's documentation) and returns its last position.
    private func checkShape(hardState: HardState, compacted: LogPosition, snapshot: SnapshotRecord?,
                            entries: [Entry]) throws(StoreError) -> LogPosition {
        func torn(_ tear: StoreError.Tear) -> StoreError { .torn(path: path, tear) }
        if compacted.index > 0, snapshot == nil { throw torn(.compactedWithoutSnapshot(compacted: compacted.index)) }
        if let first = entries.first {
            guard first.index == compacted.index &+ 1 else {
                throw torn(.firstIndexNotAfterLogStart(first.index, expected: compacted.index &+ 1))
            }
            guard first.term >= compacted.term else {
                throw torn(.termDecreases(index: first.index, term: first.term, previousTerm: compacted.term))
            }
        }
        for (previous, entry) in zip(entries, entries.dropFirst()) {
            guard entry.index == previous.index &+ 1 else {
                throw torn(.gap(after: previous.index, next: entry.index))
            }
            guard entry.term >= previous.term else {
                throw torn(.termDecreases(index: entry.index, term: entry.term, previousTerm: previous.term))
            }
        }
        let last = entries.last.map { LogPosition(index: $0.index, term: $0.term) } ?? compacted
        if let snapshot {
            guard snapshot.index >= compacted.index else {
                throw torn(.snapshotBehindLogStart(snapshot: snapshot.index, compacted: compacted.index))
            }
            guard snapshot.index <= last.index else {
                throw torn(.snapshotBeyondLog(snapshot: snapshot.index, lastIndex: last.index))
            }
            let logTerm = snapshot.index == compacted.index
                ? compacted.term : entries[Int(snapshot.index - compacted.index - 1)].term
            guard logTerm == snapshot.term else {
                throw torn(.snapshotTermMismatch(index: snapshot.index, snapshotTerm: snapshot.term, logTerm: logTerm))
            }
        }
        // The snapshot lies within the log (checked above), so max(last index, snapshot index) is the last index.
        guard hardState.commit <= last.index else {
            throw torn(.commitBeyondLog(commit: hardState.commit, lastIndex: last.index))
        }
        if let snapshot, hardState.commit < snapshot.index {
            throw torn(.snapshotNotCommitted(snapshot: snapshot.index, commit: hardState.commit))
        }
        guard hardState.term >= last.term else {
            throw torn(.hardStateBehindLog(term: hardState.term, lastEntryTerm: last.term))
        }
        return last
    }

    // MARK: - Persisting

    /// Writes `batch` and calls `done` once it is durable (COMMIT returned), or with the error after
    /// rolling back. Order: the snapshot file (durable before the transaction starts), then in one
    /// transaction the snapshot record, compaction, entries and hard state; then superseded
    /// snapshot files are removed. Validates the batch first and refuses, writing nothing, one that
    /// would break the log's invariants (`StoreError.refused`). An empty batch succeeds at once.
    ///
    /// Cost: one SQLite fsync; with a snapshot, also one SHA-256 pass over it, one file fsync and
    /// two directory fsyncs (three the first time, creating the directory).
    public func persist(_ batch: PersistBatch, done: @escaping (Result<Void, any Error>) -> Void) {
        do {
            try write(batch)
            done(.success(()))
        } catch {
            done(.failure(error))
        }
    }

    private func write(_ batch: PersistBatch) throws(StoreError) {
        if let haltCause { throw .halted(path: path, cause: haltCause) }
        guard let tail else { throw .notRecovered(path: path) }
        var next = try validate(batch, against: tail)
        guard !batch.isEmpty else { return }

        if let snapshotWrite = batch.snapshot {
            do {
                next.snapshot = try snapshots.write(snapshotWrite.snapshot) { crashPoint?($0) }
            } catch {
                discardSnapshotFiles(of: batch, keeping: tail)
                throw error
            }
        }
        do {
            try statements.begin.run()
            crashPoint?(.began)
            if let snapshotWrite = batch.snapshot, let record = next.snapshot {
                try write(record)
                crashPoint?(.recordedSnapshot)
                switch snapshotWrite {
                case .taken(_, let through) where through.index > tail.compacted.index:
                    try write(logStart: through)
                    statements.compact.bind(1, Int64(through.index))
                    try statements.compact.run()
                    crashPoint?(.compacted(through: through.index))
                case .taken:
                    break
                case .installed(let snapshot):
                    try write(logStart: snapshot.metadata.position)
                    try statements.clear.run()
                    crashPoint?(.compacted(through: snapshot.metadata.index))
                }
            }
            if let first = batch.entries.first {
                // Raft §5.3: a new entry at index i replaces the stored entry at i and all after it.
                statements.truncate.bind(1, Int64(first.index))
                try statements.truncate.run()
                crashPoint?(.truncated(from: first.index))
                for entry in batch.entries {
                    try insert(entry)
                    crashPoint?(.inserted(index: entry.index))
                }
            }
            if let hardState = batch.hardState {
                try write(hardState)
                crashPoint?(.wroteHardState)
            }
        } catch {
            rollBack(after: error)
            discardSnapshotFiles(of: batch, keeping: tail)
            throw error
        }
        do {
            try statements.commit.run()
        } catch {
            // SQLITE_FULL means the commit record was not written, so the batch is not durable.
            // Any other failure (an fsync error above all) may or may not have reached the disk:
            // the new snapshot file may be referenced, so it stays too.
            guard case .diskFull = error else {
                haltCause = error.description
                throw .halted(path: path, cause: error.description)
            }
            rollBack(after: error)
            discardSnapshotFiles(of: batch, keeping: tail)
            throw error
        }
        crashPoint?(.committed)
        self.tail = next
        if batch.snapshot != nil {
            cleanupFailures = snapshots.removeFiles(except: next.snapshot?.file)
            crashPoint?(.removedStaleSnapshotFiles)
        }
    }

    /// After a batch with a snapshot failed before COMMIT: removes its file unless it is the one
    /// the durable log refers to (same snapshot, same bytes, same name). Not while halted, when
    /// the durable state is unknown.
    private func discardSnapshotFiles(of batch: PersistBatch, keeping tail: Tail) {
        guard batch.snapshot != nil, haltCause == nil else { return }
        cleanupFailures = snapshots.removeFiles(except: tail.snapshot?.file)
    }

    private func insert(_ entry: Entry) throws(StoreError) {
        let insert = statements.insert
        insert.bind(1, Int64(entry.index))
        insert.bind(2, Int64(bitPattern: entry.term))
        insert.bind(3, Int64(entry.kind.rawValue))
        try insert.bind(4, blob: entry.data)
        insert.bind(5, Int64(RecordChecksum.entry(index: entry.index, term: entry.term, kind: entry.kind.rawValue, data: entry.data)))
        try insert.run()
    }

    private func write(_ hardState: HardState) throws(StoreError) {
        let vote = hardState.vote?.rawValue ?? 0
        let upsert = statements.writeHardState
        upsert.bind(1, Int64(bitPattern: hardState.term))
        upsert.bind(2, Int64(bitPattern: vote))
        upsert.bind(3, Int64(bitPattern: hardState.commit))
        upsert.bind(4, Int64(RecordChecksum.hardState(term: hardState.term, vote: vote, commit: hardState.commit)))
        try upsert.run()
    }

    private func write(_ record: SnapshotRecord) throws(StoreError) {
        let upsert = statements.writeSnapshot
        upsert.bind(1, Int64(record.index))
        upsert.bind(2, Int64(bitPattern: record.term))
        try upsert.bind(3, text: record.file)
        try upsert.bind(4, blob: record.digest)
        upsert.bind(5, Int64(RecordChecksum.snapshot(index: record.index, term: record.term, file: record.file, digest: record.digest)))
        try upsert.run()
    }

    private func write(logStart position: LogPosition) throws(StoreError) {
        let upsert = statements.writeLogStart
        upsert.bind(1, Int64(position.index))
        upsert.bind(2, Int64(bitPattern: position.term))
        upsert.bind(3, Int64(RecordChecksum.logStart(index: position.index, term: position.term)))
        try upsert.run()
    }

    /// Rolls back the open transaction, if SQLite has not already. If that fails too, the
    /// connection's state is unknown and the store halts.
    private func rollBack(after error: StoreError) {
        guard database.isInTransaction else { return }
        do {
            try statements.rollback.run()
        } catch let rollbackError {
            haltCause = "\(error.description); then ROLLBACK failed: \(rollbackError.description)"
        }
    }

    /// The log's end after `batch` (its `snapshot` still the old record: the new one exists only
    /// once its file is written), or the reason to refuse it.
    private func validate(_ batch: PersistBatch, against tail: Tail) throws(StoreError) -> Tail {
        func refuse(_ refusal: StoreError.BatchRefusal) -> StoreError { .refused(path: path, refusal) }
        var next = tail
        var snapshotIndex = tail.snapshot?.index ?? 0
        if let write = batch.snapshot {
            let snapshot = write.snapshot.metadata
            guard snapshot.index >= 1, snapshot.index <= UInt64(Int64.max) else { throw refuse(.indexOutOfRange(snapshot.index)) }
            guard snapshot.voters.count <= Int(UInt32.max) else { throw refuse(.tooManyVoters(snapshot.voters.count)) }
            switch write {
            case .taken(_, let through):
                if let stored = tail.snapshot, snapshot.index < stored.index {
                    throw refuse(.snapshotOlderThanStored(index: snapshot.index, stored: stored.index))
                }
                guard through.index <= snapshot.index else {
                    throw refuse(.compactionBeyondSnapshot(through: through.index, snapshot: snapshot.index))
                }
                guard snapshot.index <= tail.last.index else {
                    throw refuse(.snapshotBeyondLog(index: snapshot.index, lastIndex: tail.last.index))
                }
                guard through.index >= tail.compacted.index else {
                    throw refuse(.compactionBehindLogStart(through: through.index, compacted: tail.compacted.index))
                }
                // Both lie within compacted…last, so the log knows their terms.
                for position in [through, snapshot.position] {
                    let stored = try term(at: position.index, in: tail)
                    guard stored == position.term else {
                        throw refuse(.termMismatch(index: position.index, term: position.term, storedTerm: stored))
                    }
                }
                next.compacted = through
            case .installed:
                guard snapshot.index >= tail.hardState.commit else {
                    throw refuse(.snapshotBehindCommit(index: snapshot.index, commit: tail.hardState.commit))
                }
                next.compacted = snapshot.position
                next.last = snapshot.position
            }
            snapshotIndex = snapshot.index
        }
        if let first = batch.entries.first, let last = batch.entries.last {
            for entry in [first, last] where entry.index == 0 || entry.index > UInt64(Int64.max) {
                throw refuse(.indexOutOfRange(entry.index))
            }
            guard first.index > next.compacted.index else {
                throw refuse(.entriesBeforeLogStart(firstIndex: first.index, compacted: next.compacted.index))
            }
            guard first.index <= next.last.index + 1 else {
                throw refuse(.gap(lastIndex: next.last.index, firstIndex: first.index))
            }
            // A snapshot holds committed state only, so its index counts as committed too.
            let committed = max(tail.hardState.commit, snapshotIndex)
            guard first.index > committed else {
                throw refuse(.truncatesCommitted(firstIndex: first.index, commit: committed))
            }
            for (previous, entry) in zip(batch.entries, batch.entries.dropFirst()) {
                guard entry.index == previous.index &+ 1 else {
                    throw refuse(.notContiguous(after: previous.index, next: entry.index))
                }
                guard entry.term >= previous.term else {
                    throw refuse(.termDecreases(index: entry.index, term: entry.term, previousTerm: previous.term))
                }
            }
            let previousTerm = try term(at: first.index - 1, in: next)
            guard first.term >= previousTerm else {
                throw refuse(.termDecreases(index: first.index, term: first.term, previousTerm: previousTerm))
            }
            next.last = LogPosition(index: last.index, term: last.term)
        }
        if let hardState = batch.hardState {
            guard hardState.term >= tail.hardState.term else {
                throw refuse(.termRegresses(from: tail.hardState.term, to: hardState.term))
            }
            next.hardState = hardState
        }
        // Every snapshot lies within compacted…last, so max(last index, snapshot index) is the last index.
        guard next.hardState.commit <= next.last.index else {
            throw refuse(.commitBeyondLog(commit: next.hardState.commit, lastIndex: next.last.index))
        }
        guard next.hardState.commit >= snapshotIndex else {
            throw refuse(.snapshotNotCommitted(snapshot: snapshotIndex, commit: next.hardState.commit))
        }
        guard next.hardState.term >= next.last.term else {
            throw refuse(.hardStateBehindLog(term: next.hardState.term, lastEntryTerm: next.last.term))
        }
        return next
    }

    /// The term at `index`, which lies within `tail.compacted.index … tail.last.index`; entries
    /// strictly between are read from the database (which still holds them during validation).
    private func term(at index: UInt64, in tail: Tail) throws(StoreError) -> UInt64 {
        if index == tail.compacted.index { return tail.compacted.term }
        if index == tail.last.index { return tail.last.term }
        return try storedTerm(at: index)
    }

    /// The term of the stored entry at `index`, which `recover()` has verified to exist.
    private func storedTerm(at index: UInt64) throws(StoreError) -> UInt64 {
        let row = statements.termAt
        defer { row.reset() }
        row.bind(1, Int64(index))
        guard try row.step() else { throw .torn(path: path, .gap(after: index - 1, next: index + 1)) }
        guard row.type(0) == .integer else { throw .corrupt(path: path, .malformedEntry(index: index, column: "term")) }
        return UInt64(bitPattern: row.int64(0))
    }

    // MARK: - Setup

    private static func configure(_ database: Database) throws(StoreError) {
        // Exclusive first: the file stays locked while we run, and WAL then keeps its index in
        // process memory instead of a -shm file.
        _ = try database.scalarText("PRAGMA locking_mode = EXCLUSIVE")
        let mode = try database.scalarText("PRAGMA journal_mode = WAL")
        guard mode?.lowercased() == "wal" else {
            throw .cannotOpen(path: database.path, reason: "SQLite refused WAL mode (journal_mode is \(mode ?? "unknown"))")
        }
        try database.execute("PRAGMA synchronous = FULL")
        // Check each b-tree page's cells as it is read, so damage surfaces as SQLITE_CORRUPT.
        try database.execute("PRAGMA cell_size_check = ON")
    }

    /// The tables format 2 adds to format 1: the newest snapshot's file and digest, and the
    /// compaction point (the last entry no longer stored). Both hold at most one row, id 0; no row
    /// means no snapshot, and nothing compacted.
    private static let snapshotTables = """
        CREATE TABLE snapshot (
            id INTEGER PRIMARY KEY CHECK (id = 0),
            idx INTEGER NOT NULL, term INTEGER NOT NULL, file TEXT NOT NULL, digest BLOB NOT NULL,
            checksum INTEGER NOT NULL);
        CREATE TABLE log_start (
            id INTEGER PRIMARY KEY CHECK (id = 0),
            idx INTEGER NOT NULL, term INTEGER NOT NULL,
            checksum INTEGER NOT NULL);
        """

    /// Creates the schema in an empty file, migrates a format-1 file, or checks the format of an
    /// existing one, in one transaction; true if created.
    private static func prepareSchema(_ database: Database) throws(StoreError) -> Bool {
        try database.execute("BEGIN IMMEDIATE")
        do throws(StoreError) {
            let list = try database.prepare("SELECT name FROM sqlite_master WHERE type = 'table'", persistent: false)
            var tables: Set<String> = []
            while try list.step() { if let name = list.text(0) { tables.insert(name) } }
            if tables.isEmpty {
                try database.execute("""
                    CREATE TABLE meta (key TEXT PRIMARY KEY, value NOT NULL);
                    INSERT INTO meta (key, value) VALUES ('format_version', \(formatVersion));
                    CREATE TABLE hard_state (
                        id INTEGER PRIMARY KEY CHECK (id = 0),
                        term INTEGER NOT NULL, vote INTEGER NOT NULL, commit_index INTEGER NOT NULL,
                        checksum INTEGER NOT NULL);
                    CREATE TABLE entries (
                        idx INTEGER PRIMARY KEY,
                        term INTEGER NOT NULL, kind INTEGER NOT NULL, data BLOB NOT NULL,
                        checksum INTEGER NOT NULL);
                    \(snapshotTables)
                    """)
            } else {
                guard tables.contains("meta") else { throw StoreError.corrupt(path: database.path, .missingFormatVersion) }
                let version = try database.prepare("SELECT value FROM meta WHERE key = 'format_version'", persistent: false)
                guard try version.step(), version.type(0) == .integer else {
                    throw StoreError.corrupt(path: database.path, .missingFormatVersion)
                }
                let found = version.int64(0)
                version.reset()
                guard found == 1 || found == formatVersion else {
                    throw StoreError.unsupportedFormat(path: database.path, version: found, supported: formatVersion)
                }
                for table in ["hard_state", "entries"] where !tables.contains(table) {
                    throw StoreError.corrupt(path: database.path, .database("table \(table) is missing"))
                }
                if found == 1 {
                    // Format 1 never compacted: empty snapshot and log_start tables say exactly that.
                    try database.execute("""
                        \(snapshotTables)
                        UPDATE meta SET value = \(formatVersion) WHERE key = 'format_version';
                        """)
                } else {
                    for table in ["snapshot", "log_start"] where !tables.contains(table) {
                        throw StoreError.corrupt(path: database.path, .database("table \(table) is missing"))
                    }
                }
            }
            try database.execute("COMMIT")
            return tables.isEmpty
        } catch {
            if database.isInTransaction { try? database.execute("ROLLBACK") }
            throw error
        }
    }

    /// fsyncs the directory holding a newly created log, so the file's name survives a power cut
    /// along with its synced contents (POSIX fsync(2) syncs a file, not the directory entry naming
    /// it). SQLite does this for the WAL it creates, not for the main file.
    private static func syncParentDirectory(of path: String) throws(StoreError) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let descriptor = open(directory, O_RDONLY)
        guard descriptor >= 0, fsync(descriptor) == 0 else {
            let reason = String(cString: strerror(errno))
            if descriptor >= 0 { close(descriptor) }
            throw .cannotOpen(path: path, reason: "cannot sync the directory \(directory): \(reason)")
        }
        close(descriptor)
    }

    private struct Statements {
        let begin, commit, rollback: Statement
        let truncate, insert, writeHardState: Statement
        let writeSnapshot, writeLogStart, compact, clear: Statement
        let readHardState, readEntries, termAt, readSnapshot, readLogStart: Statement

        init(_ database: Database) throws(StoreError) {
            begin = try database.prepare("BEGIN IMMEDIATE")
            commit = try database.prepare("COMMIT")
            rollback = try database.prepare("ROLLBACK")
            truncate = try database.prepare("DELETE FROM entries WHERE idx >= ?1")
            insert = try database.prepare("INSERT INTO entries (idx, term, kind, data, checksum) VALUES (?1, ?2, ?3, ?4, ?5)")
            writeHardState = try database.prepare("""
                INSERT INTO hard_state (id, term, vote, commit_index, checksum) VALUES (0, ?1, ?2, ?3, ?4)
                ON CONFLICT (id) DO UPDATE SET term = excluded.term, vote = excluded.vote,
                    commit_index = excluded.commit_index, checksum = excluded.checksum
                """)
            writeSnapshot = try database.prepare("""
                INSERT INTO snapshot (id, idx, term, file, digest, checksum) VALUES (0, ?1, ?2, ?3, ?4, ?5)
                ON CONFLICT (id) DO UPDATE SET idx = excluded.idx, term = excluded.term, file = excluded.file,
                    digest = excluded.digest, checksum = excluded.checksum
                """)
            writeLogStart = try database.prepare("""
                INSERT INTO log_start (id, idx, term, checksum) VALUES (0, ?1, ?2, ?3)
                ON CONFLICT (id) DO UPDATE SET idx = excluded.idx, term = excluded.term, checksum = excluded.checksum
                """)
            compact = try database.prepare("DELETE FROM entries WHERE idx <= ?1")
            clear = try database.prepare("DELETE FROM entries")
            readHardState = try database.prepare("SELECT id, term, vote, commit_index, checksum FROM hard_state")
            readSnapshot = try database.prepare("SELECT id, idx, term, file, digest, checksum FROM snapshot")
            readLogStart = try database.prepare("SELECT id, idx, term, checksum FROM log_start")
            readEntries = try database.prepare("SELECT idx, term, kind, data, checksum FROM entries ORDER BY idx")
            termAt = try database.prepare("SELECT term FROM entries WHERE idx = ?1")
        }
    }
}

@available(*, unavailable)
extension SQLiteLogStorage: Sendable {}
