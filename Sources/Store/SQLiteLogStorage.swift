import Consensus
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The replicated log and hard state of one node, in one SQLite file.
///
/// Durability contract (`LogStorage`): each `persist` is one SQLite transaction in WAL mode with
/// `synchronous=FULL`, so COMMIT returns only after the WAL, commit record included, is fsynced.
/// `done(.success)` is called after COMMIT returns, never before. A crash at any moment leaves
/// either the whole batch or none of it (SQLite ignores WAL frames after the last valid commit
/// record), and everything from earlier successful batches. A batch of many entries costs one
/// fsync (group commit).
///
/// Verification: every entry and the hard state carry a CRC-32C over their fields
/// (`RecordChecksum`). `recover()` checks SQLite's page structure (`PRAGMA quick_check`), every
/// checksum, and the log's shape (contiguous from index 1, terms non-decreasing, commit within the
/// log, hard-state term not behind the log) and throws rather than repair anything.
///
/// Usage: open, `recover()`, then `persist` batches one at a time; `persist` refuses to run before a
/// successful `recover()`, so nothing is ever written on top of an unverified log. `done` is called
/// before `persist` returns. The store keeps an exclusive lock on the file while it is open, so a
/// second process (or a second instance) on the same path fails with `StoreError.locked`.
///
/// After a failed `persist` nothing of the batch is durable and the store stays usable (`.refused`,
/// `.diskFull`, `.locked`), except when COMMIT itself fails otherwise (an fsync error, say): then
/// whether the batch is on disk is unknown, and the store answers `.halted` until the process
/// restarts and recovers.
///
/// Not Sendable: confine an instance to one thread or actor.
public final class SQLiteLogStorage: LogStorage {
    /// The durable format this build writes and reads.
    public static let formatVersion: Int64 = 1

    /// The database file.
    public let path: String
    let database: Database
    private let statements: Statements
    /// What the durable log ends with; nil until `recover()` has verified it.
    private var tail: Tail?
    /// Set when a COMMIT failed with unknown outcome; the store then refuses all work.
    private var haltCause: String?

    /// Test hook for crash testing: called at each step of a `persist`, while the step's effect is
    /// in SQLite's hands. A test copies the files here to get the disk image of a crash at that moment.
    var crashPoint: ((PersistStep) -> Void)?

    /// The steps of a `persist` that `crashPoint` reports.
    enum PersistStep: Equatable {
        case began
        case truncated(from: UInt64)
        case inserted(index: UInt64)
        case wroteHardState
        case committed
    }

    private struct Tail {
        var lastIndex: UInt64
        var lastTerm: UInt64
        var hardState: HardState
    }

    /// Opens the log at `path`, creating an empty one if the file does not exist.
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
        self.path = path
    }

    // MARK: - Recovery

    /// Reads and verifies the whole log. See the type's documentation for what is verified.
    ///
    /// - Throws: `StoreError.corrupt` when bytes fail verification, `.torn` when the log's shape is
    ///   broken, `.halted` after a failed commit. Never repairs.
    public func recover() throws(StoreError) -> RecoveredLog {
        if let haltCause { throw .halted(path: path, cause: haltCause) }
        try checkPages()
        let hardState = try readHardState()
        let entries = try readEntries()
        try checkShape(hardState: hardState, entries: entries)
        tail = Tail(lastIndex: entries.last?.index ?? 0, lastTerm: entries.last?.term ?? 0, hardState: hardState)
        return RecoveredLog(hardState: hardState, entries: entries)
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

    private func checkShape(hardState: HardState, entries: [Entry]) throws(StoreError) {
        if let first = entries.first, first.index != 1 {
            throw .torn(path: path, .firstIndexNotOne(first.index))
        }
        for (previous, entry) in zip(entries, entries.dropFirst()) {
            guard entry.index == previous.index &+ 1 else {
                throw .torn(path: path, .gap(after: previous.index, next: entry.index))
            }
            guard entry.term >= previous.term else {
                throw .torn(path: path, .termDecreases(index: entry.index, term: entry.term, previousTerm: previous.term))
            }
        }
        let lastIndex = entries.last?.index ?? 0
        let lastTerm = entries.last?.term ?? 0
        guard hardState.commit <= lastIndex else {
            throw .torn(path: path, .commitBeyondLog(commit: hardState.commit, lastIndex: lastIndex))
        }
        guard hardState.term >= lastTerm else {
            throw .torn(path: path, .hardStateBehindLog(term: hardState.term, lastEntryTerm: lastTerm))
        }
    }

    // MARK: - Persisting

    /// Writes `batch` in one transaction and calls `done` once COMMIT has returned (synced), or with
    /// the error after rolling back. Validates the batch first and refuses, writing nothing, one
    /// that would break the log's invariants (`StoreError.refused`). An empty batch succeeds at once.
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
        let next = try validate(batch, against: tail)
        guard !batch.isEmpty else { return }

        try statements.begin.run()
        crashPoint?(.began)
        do {
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
            throw error
        }
        do {
            try statements.commit.run()
        } catch {
            // SQLITE_FULL means the commit record was not written, so the batch is not durable.
            // Any other failure (an fsync error above all) may or may not have reached the disk.
            guard case .diskFull = error else {
                haltCause = error.description
                throw .halted(path: path, cause: error.description)
            }
            rollBack(after: error)
            throw error
        }
        crashPoint?(.committed)
        self.tail = next
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

    /// The log's end after `batch`, or the reason to refuse it.
    private func validate(_ batch: PersistBatch, against tail: Tail) throws(StoreError) -> Tail {
        func refuse(_ refusal: StoreError.BatchRefusal) -> StoreError { .refused(path: path, refusal) }
        var next = tail
        if let first = batch.entries.first, let last = batch.entries.last {
            for entry in [first, last] where entry.index == 0 || entry.index > UInt64(Int64.max) {
                throw refuse(.indexOutOfRange(entry.index))
            }
            guard first.index <= tail.lastIndex + 1 else {
                throw refuse(.gap(lastIndex: tail.lastIndex, firstIndex: first.index))
            }
            guard first.index > tail.hardState.commit else {
                throw refuse(.truncatesCommitted(firstIndex: first.index, commit: tail.hardState.commit))
            }
            for (previous, entry) in zip(batch.entries, batch.entries.dropFirst()) {
                guard entry.index == previous.index &+ 1 else {
                    throw refuse(.notContiguous(after: previous.index, next: entry.index))
                }
                guard entry.term >= previous.term else {
                    throw refuse(.termDecreases(index: entry.index, term: entry.term, previousTerm: previous.term))
                }
            }
            let previousTerm: UInt64 =
                if first.index == 1 { 0 }
                else if first.index - 1 == tail.lastIndex { tail.lastTerm }
                else { try storedTerm(at: first.index - 1) }
            guard first.term >= previousTerm else {
                throw refuse(.termDecreases(index: first.index, term: first.term, previousTerm: previousTerm))
            }
            next.lastIndex = last.index
            next.lastTerm = last.term
        }
        if let hardState = batch.hardState {
            guard hardState.term >= tail.hardState.term else {
                throw refuse(.termRegresses(from: tail.hardState.term, to: hardState.term))
            }
            next.hardState = hardState
        }
        guard next.hardState.commit <= next.lastIndex else {
            throw refuse(.commitBeyondLog(commit: next.hardState.commit, lastIndex: next.lastIndex))
        }
        guard next.hardState.term >= next.lastTerm else {
            throw refuse(.hardStateBehindLog(term: next.hardState.term, lastEntryTerm: next.lastTerm))
        }
        return next
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

    /// Creates the schema in an empty file or checks the format of an existing one; true if created.
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
                    """)
            } else {
                guard tables.contains("meta") else { throw StoreError.corrupt(path: database.path, .missingFormatVersion) }
                let version = try database.prepare("SELECT value FROM meta WHERE key = 'format_version'", persistent: false)
                guard try version.step(), version.type(0) == .integer else {
                    throw StoreError.corrupt(path: database.path, .missingFormatVersion)
                }
                guard version.int64(0) == formatVersion else {
                    throw StoreError.unsupportedFormat(path: database.path, version: version.int64(0), supported: formatVersion)
                }
                for table in ["hard_state", "entries"] where !tables.contains(table) {
                    throw StoreError.corrupt(path: database.path, .database("table \(table) is missing"))
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
        let readHardState, readEntries, termAt: Statement

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
            readHardState = try database.prepare("SELECT id, term, vote, commit_index, checksum FROM hard_state")
            readEntries = try database.prepare("SELECT idx, term, kind, data, checksum FROM entries ORDER BY idx")
            termAt = try database.prepare("SELECT term FROM entries WHERE idx = ?1")
        }
    }
}

@available(*, unavailable)
extension SQLiteLogStorage: Sendable {}
