import Consensus
import Foundation
import XCTest
@testable import Store

/// A directory under the system's temporary directory, removed when the test ends.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("florian-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func subdirectory(_ name: String) throws -> URL {
        let sub = url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        return sub
    }
}

/// Persists `batch` and returns what `done` received; fails the test if `done` was not called
/// before `persist` returned.
func persist(_ store: SQLiteLogStorage, _ batch: PersistBatch, file: StaticString = #filePath, line: UInt = #line) -> Result<Void, any Error> {
    var outcome: Result<Void, any Error>?
    store.persist(batch) { outcome = $0 }
    guard let outcome else {
        XCTFail("done was not called", file: file, line: line)
        return .failure(CancellationError())
    }
    return outcome
}

/// The store error `persist` failed with, or nil when it succeeded.
func persistError(_ store: SQLiteLogStorage, _ batch: PersistBatch) -> StoreError? {
    guard case let .failure(error) = persist(store, batch) else { return nil }
    return error as? StoreError
}

/// The oracle: what a log should hold after `batch`, computed without SQLite: the snapshot write
/// (compaction, or replacing the log, Raft §7), then the entries (§5.3 truncation), then the hard state.
func applying(_ batch: PersistBatch, to log: RecoveredLog) -> RecoveredLog {
    var log = log
    switch batch.snapshot {
    case .taken(let snapshot, let through)?:
        log.snapshot = snapshot
        if through.index > log.compacted.index {
            log.entries.removeAll { $0.index <= through.index }
            log.compacted = through
        }
    case .installed(let snapshot)?:
        log.snapshot = snapshot
        log.entries = []
        log.compacted = snapshot.metadata.position
    case nil:
        break
    }
    if let first = batch.entries.first {
        log.entries.removeAll { $0.index >= first.index }
        log.entries += batch.entries
    }
    if let hardState = batch.hardState { log.hardState = hardState }
    return log
}

/// Entries `indexes` in `term`, each with `size` bytes of data that start with a unique marker.
func entries(_ indexes: ClosedRange<UInt64>, term: UInt64, size: Int = 16) -> [Entry] {
    indexes.map { index in
        let marker = Array("ENTRY-\(String(format: "%04d", index))-T\(term)|".utf8)
        let filler = (0..<max(0, size - marker.count)).map { UInt8(ascii: "a") + UInt8($0 % 26) }
        return Entry(index: index, term: term, data: marker + filler)
    }
}

func fileSize(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
}

/// A snapshot at `index`/`term` whose `size` data bytes start with a unique marker.
func makeSnapshot(index: UInt64, term: UInt64, voters: [UInt64] = [1, 2, 3], size: Int = 200) -> Snapshot {
    let marker = Array("SNAPSHOT-\(index)-T\(term)|".utf8)
    let filler = (0..<max(0, size - marker.count)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    return Snapshot(metadata: SnapshotMetadata(index: index, term: term, voters: voters.map(NodeID.init)),
                    data: Array((marker + filler).prefix(max(size, 0))))
}

/// Copies the database, its WAL (the -shm is rebuilt from the WAL on open) and its snapshot
/// directory into `directory`.
func copyDatabase(at path: String, into directory: URL) throws -> String {
    let name = URL(fileURLWithPath: path).lastPathComponent
    let target = directory.appendingPathComponent(name).path
    for suffix in ["", "-wal", ".snapshots"] where FileManager.default.fileExists(atPath: path + suffix) {
        try FileManager.default.copyItem(atPath: path + suffix, toPath: target + suffix)
    }
    return target
}

/// The names in the snapshot directory of the log at `path`, sorted (empty when there is none).
func snapshotFiles(of path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path + ".snapshots")) ?? []).sorted()
}

/// Offsets in `syncedSize ..< size` to cut a WAL at: every 512 bytes, and around every frame
/// boundary (just before, at, inside the 24-byte frame header, and mid-page).
func tornOffsets(syncedSize: Int, size: Int, image: String) -> [Int] {
    guard size > syncedSize else { return [] }
    var offsets = Set(stride(from: syncedSize, to: size, by: 512))
    let pageSize = (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: image + "-wal")).prefix(32)))
        .flatMap { $0.count == 32 ? readBigEndian32($0, at: 8) : nil } ?? 4096
    var boundary = 32
    while boundary < size {
        for cut in [boundary - 1, boundary, boundary + 1, boundary + 12, boundary + 24, boundary + 24 + pageSize / 2] {
            offsets.insert(cut)
        }
        boundary += 24 + pageSize
    }
    return offsets.filter { $0 >= syncedSize && $0 < size }.sorted()
}

func readBigEndian32(_ bytes: [UInt8], at offset: Int) -> Int {
    bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
}

/// The number of valid commit frames in a WAL file (sqlite.org/fileformat2.html §4.1): frames whose
/// salts match the header and whose "database size after commit" field is non-zero.
func walCommitCount(_ walPath: String) throws -> Int {
    guard FileManager.default.fileExists(atPath: walPath) else { return 0 }
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: walPath)))
    guard bytes.count >= 32 else { return 0 }
    let pageSize = readBigEndian32(bytes, at: 8)
    let salts = bytes[16..<24]
    var commits = 0
    var offset = 32
    while offset + 24 + pageSize <= bytes.count {
        if bytes[offset + 8..<offset + 16] == salts && readBigEndian32(bytes, at: offset + 4) != 0 { commits += 1 }
        offset += 24 + pageSize
    }
    return commits
}

/// Every offset at which `pattern` occurs in `bytes`.
func occurrences(of pattern: [UInt8], in bytes: [UInt8]) -> [Int] {
    guard !pattern.isEmpty, bytes.count >= pattern.count else { return [] }
    return (0...(bytes.count - pattern.count)).filter { bytes[$0..<$0 + pattern.count].elementsEqual(pattern) }
}
