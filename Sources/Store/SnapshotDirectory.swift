import Consensus
import Foundation
import Wire
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the log records about its snapshot: which file holds it and what that file must hash to.
struct SnapshotRecord: Equatable {
    var index: UInt64
    var term: UInt64
    /// A plain file name in the snapshot directory.
    var file: String
    /// The file's SHA-256 (its last 32 bytes).
    var digest: [UInt8]
}

/// The directory of snapshot files beside a log, `<log path>.snapshots` (format: `SnapshotFile`).
///
/// Writes are atomic and durable: a temp file in the same directory, fsync, rename, fsync of the
/// directory. Which file is current is decided by the SQLite log alone; any other snapshot or temp
/// file here is garbage from a superseded snapshot or an interrupted write, and is removed.
struct SnapshotDirectory {
    let path: String
    /// The directory holding the log and this directory, synced when this directory is created.
    let parent: String

    init(logPath: String) {
        path = logPath + ".snapshots"
        parent = URL(fileURLWithPath: logPath).deletingLastPathComponent().path
    }

    func filePath(_ name: String) -> String { path + "/" + name }

    /// Writes `snapshot` to its file and makes it durable under its final name, reporting each step
    /// to `step` (crash tests). Returns the record to commit to the log.
    ///
    /// - Throws: `StoreError.diskFull` or `.snapshotIO`. Nothing the log refers to is touched: on
    ///   failure the temp file is removed; a renamed file whose directory sync failed is left for
    ///   the caller's cleanup.
    func write(_ snapshot: Snapshot, step: (SQLiteLogStorage.PersistStep) -> Void) throws(StoreError) -> SnapshotRecord {
        let metadata = snapshot.metadata
        let header = SnapshotFile.header(metadata, dataCount: snapshot.data.count)
        var hasher = SHA256()
        hasher.update(header)
        hasher.update(snapshot.data)
        let digest = hasher.finalize()
        let name = SnapshotFile.name(index: metadata.index, term: metadata.term, digest: digest)
        let target = filePath(name)
        let temporary = target + SnapshotFile.temporarySuffix

        try attempt("create the directory for", path) { () throws(SystemError) in
            if try FileSystem.makeDirectory(path) { try FileSystem.syncDirectory(parent) }
        }
        do {
            let file = try attempt("create", temporary) { () throws(SystemError) in
                try OpenFile(path: temporary, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
            }
            try attempt("write", temporary) { () throws(SystemError) in
                try file.write(header)
                try file.write(snapshot.data)
                try file.write(digest)
            }
            step(.wroteSnapshotFile)
            try attempt("fsync", temporary) { () throws(SystemError) in try file.sync() }
            step(.syncedSnapshotFile)
            try attempt("rename", temporary) { () throws(SystemError) in try FileSystem.rename(temporary, to: target) }
            step(.renamedSnapshotFile)
        } catch {
            try? FileSystem.removeFile(temporary)
            throw error
        }
        try attempt("sync the directory of", target) { () throws(SystemError) in try FileSystem.syncDirectory(path) }
        step(.syncedSnapshotDirectory)
        return SnapshotRecord(index: metadata.index, term: metadata.term, file: name, digest: digest)
    }

    /// Reads the file `record` names and checks it is exactly the recorded snapshot.
    ///
    /// - Throws: `StoreError.corrupt(path: <file>, .snapshotFile(…))` when the file is missing,
    ///   damaged or another snapshot; `.unsupportedSnapshotFormat`; `.snapshotIO`.
    func read(_ record: SnapshotRecord) throws(StoreError) -> Snapshot {
        let path = filePath(record.file)
        let file: OpenFile
        do {
            file = try OpenFile(path: path, flags: O_RDONLY)
        } catch {
            if error.isNotFound { throw .corrupt(path: path, .snapshotFile(.missing)) }
            throw .snapshotIO(path: path, operation: "open", reason: error.message)
        }
        let (snapshot, digest) = try SnapshotFile.read(file, path: path)
        func mismatch(_ detail: String) -> StoreError { .corrupt(path: path, .snapshotFile(.doesNotMatchLog(detail))) }
        guard snapshot.metadata.index == record.index, snapshot.metadata.term == record.term else {
            throw mismatch("it covers \(snapshot.metadata.position), the log recorded \(record.index)/\(record.term)")
        }
        guard digest == record.digest else {
            throw mismatch("its SHA-256 is \(Hex.encode(digest)), the log recorded \(Hex.encode(record.digest))")
        }
        return snapshot
    }

    /// Removes every snapshot and snapshot temp file except `keep`, leaving other files alone.
    /// Returns what could not be removed (a description per file); the directory not existing is
    /// not a failure.
    func removeFiles(except keep: String?) -> [String] {
        let names: [String]
        do {
            names = try FileSystem.fileNames(in: path)
        } catch {
            return ["cannot list \(path): \(error.message)"]
        }
        var failures: [String] = []
        for name in names.sorted() where name != keep && SnapshotFile.isOwnFileName(name) {
            do {
                try FileSystem.removeFile(filePath(name))
            } catch where !error.isNotFound {
                failures.append("cannot remove \(filePath(name)): \(error.message)")
            } catch {}
        }
        return failures
    }

    /// Runs a file-system call, mapping its errno to a `StoreError` naming `file`.
    private func attempt<T>(_ operation: String, _ file: String, _ body: () throws(SystemError) -> T) throws(StoreError) -> T {
        do {
            return try body()
        } catch {
            if error.isDiskFull { throw .diskFull(path: file) }
            throw .snapshotIO(path: file, operation: operation, reason: error.message)
        }
    }
}
