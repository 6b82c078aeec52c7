/// Why the durable log could not be opened, read or written. Every message names the file and
/// tells the operator what to do; none of these is repaired silently.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// SQLite could not open or configure the file (permissions, missing directory, no WAL support).
    case cannotOpen(path: String, reason: String)
    /// Another connection, probably another Florian process, holds the log.
    case locked(path: String)
    /// The file is a Florian log of a format this build does not know.
    case unsupportedFormat(path: String, version: Int64, supported: Int64)
    /// The snapshot file at `path` has a format version this build does not know.
    case unsupportedSnapshotFormat(path: String, version: UInt16, supported: UInt16)
    /// Bytes on disk fail verification: the file is damaged.
    case corrupt(path: String, Corruption)
    /// Each record is intact but the log as a whole is not, as a lost or reordered write leaves it.
    case torn(path: String, Tear)
    /// The disk (or the configured page limit) is full. Nothing of the batch was written; the store
    /// stays usable once space is freed.
    case diskFull(path: String)
    /// The batch would break the log's invariants and was not written. A bug in the caller.
    case refused(path: String, BatchRefusal)
    /// `persist` was called before a successful `recover()`.
    case notRecovered(path: String)
    /// An earlier COMMIT failed in a way that leaves unknown whether it is durable; the store
    /// refuses all further work until the process restarts and recovers from disk.
    case halted(path: String, cause: String)
    /// Any other SQLite failure, with SQLite's extended result code and message.
    case sqlite(path: String, operation: String, code: Int32, message: String)
    /// A file-system call on a snapshot file or its directory failed (`reason` is strerror's text).
    case snapshotIO(path: String, operation: String, reason: String)

    /// What failed verification.
    public enum Corruption: Equatable, Sendable {
        /// The entry's stored checksum does not match its index, term, kind and data.
        case entryChecksum(index: UInt64)
        /// The entry's checksum matches, but its kind is not one this build knows.
        case unknownKind(index: UInt64, rawValue: UInt8)
        /// A column of the entry holds the wrong type or an out-of-range value.
        case malformedEntry(index: UInt64, column: String)
        /// The hard-state row's stored checksum does not match its fields.
        case hardStateChecksum
        /// The hard-state table holds the wrong rows, types or values.
        case malformedHardState(String)
        /// The format version record is missing or malformed.
        case missingFormatVersion
        /// The snapshot row's stored checksum does not match its fields.
        case snapshotRecordChecksum
        /// The snapshot table holds the wrong rows, types or values.
        case malformedSnapshotRecord(String)
        /// The log-start (compaction point) row's stored checksum does not match its fields.
        case logStartChecksum
        /// The log-start table holds the wrong rows, types or values.
        case malformedLogStart(String)
        /// The snapshot file (the error's `path`) fails verification.
        case snapshotFile(SnapshotFileDamage)
        /// SQLite itself found the file damaged (SQLITE_CORRUPT, SQLITE_NOTADB, `quick_check`).
        case database(String)
    }

    /// What is wrong with a snapshot file (see `SnapshotFile` for the format).
    public enum SnapshotFileDamage: Equatable, Sendable {
        /// The log refers to this file, but it does not exist.
        case missing
        /// The file does not start with the snapshot magic bytes.
        case notASnapshotFile
        /// The file (`fileSize` bytes) ends before its fixed-size header does.
        case truncated(fileSize: UInt64)
        /// A length field announces more (or fewer) bytes than the file holds: a torn write, or a
        /// damaged field. Checked before anything is allocated.
        case lengthMismatch(field: String, value: UInt64, fileSize: UInt64)
        /// The SHA-256 at the end of the file does not match the bytes before it.
        case checksumMismatch
        /// Voter number `position` (from 0) is node id 0, which is never valid.
        case invalidVoter(position: Int)
        /// The file is intact but is not the snapshot the log recorded (`detail` says what differs).
        case doesNotMatchLog(String)
    }

    /// How the log's structure is broken.
    public enum Tear: Equatable, Sendable {
        /// The first stored entry is not the one right after the compaction point (`expected`).
        case firstIndexNotAfterLogStart(UInt64, expected: UInt64)
        /// Entries were compacted through `compacted`, but no snapshot covers them.
        case compactedWithoutSnapshot(compacted: UInt64)
        /// The snapshot ends before the compaction point: entries between them are lost.
        case snapshotBehindLogStart(snapshot: UInt64, compacted: UInt64)
        /// The snapshot lies past the last stored entry (the log cannot continue from it).
        case snapshotBeyondLog(snapshot: UInt64, lastIndex: UInt64)
        /// The snapshot's term differs from the term the log holds at the snapshot's index.
        case snapshotTermMismatch(index: UInt64, snapshotTerm: UInt64, logTerm: UInt64)
        /// The hard state's commit index lies before the snapshot (snapshots hold committed state only).
        case snapshotNotCommitted(snapshot: UInt64, commit: UInt64)
        /// Entries `after` and `next` are stored with nothing between them.
        case gap(after: UInt64, next: UInt64)
        /// Entry `index` has a lower term than the entry before it (Raft §5.3 forbids it).
        case termDecreases(index: UInt64, term: UInt64, previousTerm: UInt64)
        /// The hard state's commit index lies past the last stored entry (or the snapshot, if later).
        case commitBeyondLog(commit: UInt64, lastIndex: UInt64)
        /// The hard state's term is lower than the last entry's term.
        case hardStateBehindLog(term: UInt64, lastEntryTerm: UInt64)
    }

    /// Why a batch was refused.
    public enum BatchRefusal: Equatable, Sendable {
        /// Index 0 is not a log index, and indexes above `Int64.max` do not fit SQLite's rowid.
        case indexOutOfRange(UInt64)
        /// The batch starts at `firstIndex`, leaving a hole after the last stored `lastIndex`.
        case gap(lastIndex: UInt64, firstIndex: UInt64)
        /// The batch's entries `after` and `next` are not consecutive.
        case notContiguous(after: UInt64, next: UInt64)
        /// Entry `index` has a lower term than the entry before it.
        case termDecreases(index: UInt64, term: UInt64, previousTerm: UInt64)
        /// The batch would replace entries at or below the durable commit index (Raft §5.3/§5.4).
        case truncatesCommitted(firstIndex: UInt64, commit: UInt64)
        /// The resulting commit index would lie past the resulting last entry.
        case commitBeyondLog(commit: UInt64, lastIndex: UInt64)
        /// The resulting hard-state term would be lower than the resulting last entry's term.
        case hardStateBehindLog(term: UInt64, lastEntryTerm: UInt64)
        /// The new hard state's term is lower than the durable one (Raft terms never decrease).
        case termRegresses(from: UInt64, to: UInt64)
        /// A `.taken` snapshot at `index` is older than the stored snapshot at `stored`.
        case snapshotOlderThanStored(index: UInt64, stored: UInt64)
        /// An `.installed` snapshot at `index` would discard entries committed through `commit`.
        case snapshotBehindCommit(index: UInt64, commit: UInt64)
        /// A `.taken` snapshot at `index` covers entries not stored yet (the log ends at `lastIndex`).
        case snapshotBeyondLog(index: UInt64, lastIndex: UInt64)
        /// `.taken` would compact through `through`, past the snapshot at `snapshot`.
        case compactionBeyondSnapshot(through: UInt64, snapshot: UInt64)
        /// `.taken` would compact through `through`, before the current compaction point.
        case compactionBehindLogStart(through: UInt64, compacted: UInt64)
        /// A snapshot or compaction position names `term` at `index`, where the log holds `storedTerm`.
        case termMismatch(index: UInt64, term: UInt64, storedTerm: UInt64)
        /// The batch's entries start at `firstIndex`, at or below the compaction point `compacted`
        /// (after an install: the snapshot's index).
        case entriesBeforeLogStart(firstIndex: UInt64, compacted: UInt64)
        /// The resulting commit index `commit` would lie before the snapshot at `snapshot`.
        case snapshotNotCommitted(snapshot: UInt64, commit: UInt64)
        /// The snapshot has more voters than the file format's u32 count holds.
        case tooManyVoters(Int)
    }

    private static let restore = "restore this node from a peer, do not start it on this log"

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "cannot open the log at \(path): \(reason)"
        case let .locked(path):
            return "the log at \(path) is in use by another process; stop it before starting this one"
        case let .unsupportedFormat(path, version, supported):
            return "the log at \(path) has format version \(version), this build reads version \(supported); run a build that knows it"
        case let .corrupt(path, corruption):
            let what: String
            switch corruption {
            case let .entryChecksum(index): what = "log entry \(index) fails its checksum"
            case let .unknownKind(index, raw): what = "log entry \(index) has unknown kind \(raw)"
            case let .malformedEntry(index, column): what = "log entry \(index) has a malformed \(column)"
            case .hardStateChecksum: what = "the hard state (term, vote, commit) fails its checksum"
            case let .malformedHardState(detail): what = "the hard state is malformed (\(detail))"
            case .missingFormatVersion: what = "the format version record is missing"
            case let .database(message): what = "SQLite reports the file damaged (\(message))"
            case .snapshotRecordChecksum: what = "the snapshot record fails its checksum"
            case let .malformedSnapshotRecord(detail): what = "the snapshot record is malformed (\(detail))"
            case .logStartChecksum: what = "the compaction point record fails its checksum"
            case let .malformedLogStart(detail): what = "the compaction point record is malformed (\(detail))"
            case let .snapshotFile(damage):
                switch damage {
                case .missing: what = "the snapshot file the log refers to is missing"
                case .notASnapshotFile: what = "the snapshot file does not start with the snapshot magic bytes"
                case let .truncated(size): what = "the snapshot file is truncated (\(size) bytes)"
                case let .lengthMismatch(field, value, size):
                    what = "the snapshot file's \(field) (\(value)) does not fit its size of \(size) bytes"
                case .checksumMismatch: what = "the snapshot file fails its SHA-256 checksum"
                case let .invalidVoter(position): what = "the snapshot file's voter \(position) is node id 0"
                case let .doesNotMatchLog(detail): what = "the snapshot file is not the one the log recorded (\(detail))"
                }
                return "\(what): the snapshot at \(path) is damaged; \(Self.restore)"
            }
            return "\(what): the log at \(path) is damaged; \(Self.restore)"
        case let .torn(path, tear):
            let what: String
            switch tear {
            case let .firstIndexNotAfterLogStart(first, expected): what = "the log starts at entry \(first) instead of \(expected)"
            case let .compactedWithoutSnapshot(compacted): what = "entries through \(compacted) were compacted but no snapshot covers them"
            case let .snapshotBehindLogStart(snapshot, compacted): what = "the snapshot at \(snapshot) ends before the compaction point \(compacted)"
            case let .snapshotBeyondLog(snapshot, last): what = "the snapshot at \(snapshot) lies past the last entry \(last)"
            case let .snapshotTermMismatch(index, snapshotTerm, logTerm): what = "the snapshot at \(index) has term \(snapshotTerm), the log has term \(logTerm) there"
            case let .snapshotNotCommitted(snapshot, commit): what = "the snapshot at \(snapshot) lies past the commit index \(commit)"
            case let .gap(after, next): what = "entries \(after &+ 1)…\(next &- 1) are missing"
            case let .termDecreases(index, term, previous): what = "entry \(index) has term \(term) after term \(previous)"
            case let .commitBeyondLog(commit, last): what = "the commit index \(commit) lies past the last entry \(last)"
            case let .hardStateBehindLog(term, lastTerm): what = "the hard-state term \(term) is behind the last entry's term \(lastTerm)"
            }
            return "\(what): the log at \(path) is torn; \(Self.restore)"
        case let .diskFull(path):
            return "the disk holding the log at \(path) is full; the batch was not written; free space, the node can continue"
        case let .refused(path, refusal):
            return "refused a batch for the log at \(path) that would break its invariants (\(refusal)); nothing was written; this is a bug in the caller"
        case let .notRecovered(path):
            return "the log at \(path) was written to before recover(); this is a bug in the caller"
        case let .halted(path, cause):
            return "a commit to the log at \(path) failed (\(cause)) and may or may not be durable; restart the node so it recovers from disk"
        case let .sqlite(path, operation, code, message):
            return "SQLite error \(code) during \(operation) on the log at \(path): \(message)"
        case let .unsupportedSnapshotFormat(path, version, supported):
            return "the snapshot at \(path) has format version \(version), this build reads version \(supported); run a build that knows it"
        case let .snapshotIO(path, operation, reason):
            return "cannot \(operation) the snapshot file \(path): \(reason); check the disk and permissions (a persist that fails so commits nothing)"
        }
    }
}
