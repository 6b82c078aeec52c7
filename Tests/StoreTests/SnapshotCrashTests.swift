import Consensus
import Foundation
import XCTest
@testable import Store

/// Kills the store at every step of a persist that writes a snapshot: the file steps (temp file
/// written, synced, renamed, directory synced) and the SQLite steps, by copying the database, its
/// WAL and the snapshot directory at that moment. Variants model what a power cut may lose on top:
/// the unsynced temp file's tail, an unsynced rename, the WAL's unsynced tail. Every image must
/// recover exactly the state before the batch or (once committed) exactly the state after it, keep
/// only the snapshot file that state refers to, and accept the batch again.
final class SnapshotCrashTests: XCTestCase {
    private typealias Step = SQLiteLogStorage.PersistStep

    private static let olderSnapshot: [PersistBatch] = [
        PersistBatch(hardState: HardState(term: 2, vote: NodeID(1), commit: 15),
                     entries: entries(1...8, term: 1, size: 300) + entries(9...20, term: 2, size: 300)),
        PersistBatch(snapshot: .taken(makeSnapshot(index: 8, term: 1), compactedThrough: LogPosition(index: 5, term: 1))),
    ]

    func testKillAtEveryStepOfTheFirstSnapshot() throws {
        try killAtEveryStep(
            earlier: [PersistBatch(hardState: HardState(term: 1, vote: NodeID(1), commit: 10), entries: entries(1...12, term: 1, size: 300))],
            batch: PersistBatch(snapshot: .taken(makeSnapshot(index: 10, term: 1), compactedThrough: LogPosition(index: 6, term: 1)),
                                hardState: HardState(term: 1, vote: NodeID(1), commit: 12),
                                entries: entries(13...14, term: 1, size: 300)))
    }

    func testKillAtEveryStepOfATakenSnapshotReplacingAnOlderOne() throws {
        try killAtEveryStep(
            earlier: Self.olderSnapshot,
            batch: PersistBatch(snapshot: .taken(makeSnapshot(index: 15, term: 2, size: 3000), compactedThrough: LogPosition(index: 12, term: 2)),
                                hardState: HardState(term: 3, vote: NodeID(2), commit: 18),
                                entries: entries(21...24, term: 3, size: 900)))
    }

    func testKillAtEveryStepOfAnInstalledSnapshot() throws {
        try killAtEveryStep(
            earlier: Self.olderSnapshot,
            batch: PersistBatch(snapshot: .installed(makeSnapshot(index: 60, term: 5, voters: [1, 2, 3, 4, 5], size: 20_000)),
                                hardState: HardState(term: 5, vote: NodeID(3), commit: 61),
                                entries: entries(61...63, term: 5, size: 900)))
    }

    private func killAtEveryStep(earlier: [PersistBatch], batch: PersistBatch, file: StaticString = #filePath, line: UInt = #line) throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        var before = RecoveredLog()
        var store: SQLiteLogStorage? = try SQLiteLogStorage(path: path)
        _ = try store?.recover()
        for earlierBatch in earlier {
            try persist(XCTUnwrap(store), earlierBatch).get()
            before = applying(earlierBatch, to: before)
        }
        let after = applying(batch, to: before)
        let filesBefore = snapshotFiles(of: path)
        let syncedWALSize = fileSize(path + "-wal")

        var images: [(step: Step, path: String)] = []
        let live = try XCTUnwrap(store)
        live.crashPoint = { step in
            do {
                let imageDirectory = try directory.subdirectory("image-\(images.count)")
                images.append((step, try copyDatabase(at: path, into: imageDirectory)))
            } catch {
                XCTFail("copying the crash image failed: \(error)", file: file, line: line)
            }
        }
        try persist(live, batch).get()
        live.crashPoint = nil
        store = nil
        let filesAfter = snapshotFiles(of: path)
        XCTAssertEqual(filesAfter.count, 1, file: file, line: line)
        let newFile = try XCTUnwrap(filesAfter.first)
        XCTAssertFalse(filesBefore.contains(newFile), file: file, line: line)

        let steps = images.map(\.step)
        XCTAssertEqual(Array(steps.prefix(6)), [.wroteSnapshotFile, .syncedSnapshotFile, .renamedSnapshotFile,
                                                .syncedSnapshotDirectory, .began, .recordedSnapshot], file: file, line: line)
        XCTAssertTrue(steps.contains { if case .compacted = $0 { true } else { false } }, file: file, line: line)
        XCTAssertEqual(Array(steps.suffix(3)), [.wroteHardState, .committed, .removedStaleSnapshotFiles], file: file, line: line)

        var checked = (before: 0, after: 0)
        for (number, image) in images.enumerated() {
            let committed = image.step == .committed || image.step == .removedStaleSnapshotFiles
            func check(_ variant: String, expectCommitted: Bool, damage: (String) throws -> Void) throws {
                let copy = try copyDatabase(at: image.path, into: try directory.subdirectory("check-\(number)-\(variant)"))
                defer { try? FileManager.default.removeItem(at: URL(fileURLWithPath: copy).deletingLastPathComponent()) }
                try damage(copy)
                let context = "crash at \(image.step), \(variant)"
                let reopened = try SQLiteLogStorage(path: copy)
                let recovered = try reopened.recover()
                XCTAssertEqual(recovered, expectCommitted ? after : before, context, file: file, line: line)
                XCTAssertEqual(snapshotFiles(of: copy), expectCommitted ? [newFile] : filesBefore,
                               "\(context): only the referenced snapshot file is left", file: file, line: line)
                if expectCommitted { checked.after += 1 } else { checked.before += 1 }
                // The node goes on: the batch lands again on the recovered old state.
                if !expectCommitted {
                    try persist(reopened, batch).get()
                    XCTAssertEqual(try reopened.recover(), after, context, file: file, line: line)
                    XCTAssertEqual(snapshotFiles(of: copy), [newFile], context, file: file, line: line)
                }
            }

            try check("intact", expectCommitted: committed) { _ in }
            switch image.step {
            case .wroteSnapshotFile:
                // Power cut before the fsync: the temp file keeps any prefix of its bytes.
                try check("temp file torn", expectCommitted: false) { copy in
                    let temp = copy + ".snapshots/" + newFile + ".tmp"
                    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temp))
                    try handle.truncate(atOffset: UInt64(fileSize(temp) / 2))
                    try handle.close()
                }
            case .renamedSnapshotFile:
                // Power cut before the directory fsync: the rename may be lost.
                try check("rename lost", expectCommitted: false) { copy in
                    let final = copy + ".snapshots/" + newFile
                    try FileManager.default.moveItem(atPath: final, toPath: final + ".tmp")
                }
            case .syncedSnapshotDirectory, .removedStaleSnapshotFiles:
                break
            default:
                // Inside the transaction, or COMMIT before its fsync returned: the WAL's unsynced
                // tail may be torn anywhere, which loses the commit record.
                let walSize = fileSize(image.path + "-wal")
                for cut in tornOffsets(syncedSize: syncedWALSize, size: walSize, image: image.path) {
                    try check("WAL cut at \(cut) of \(walSize)", expectCommitted: false) { copy in
                        let wal = try FileHandle(forWritingTo: URL(fileURLWithPath: copy + "-wal"))
                        try wal.truncate(atOffset: UInt64(cut))
                        try wal.close()
                    }
                }
            }
        }
        XCTAssertGreaterThan(checked.before, images.count, file: file, line: line)
        XCTAssertEqual(checked.after, 2, file: file, line: line)
    }
}
