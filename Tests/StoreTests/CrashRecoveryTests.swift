import Consensus
import Foundation
import XCTest
@testable import Store

/// Kills the store at every step of a persist by copying its files at that moment (the disk image
/// a power cut would leave), tears the WAL's unsynced tail at many offsets, and recovers each image.
/// Atomicity: every image holds exactly the state before the batch or exactly the state after it.
final class CrashRecoveryTests: XCTestCase {
    private struct Image {
        let step: SQLiteLogStorage.PersistStep
        let path: String
    }

    /// How the store looks when the batch under test starts.
    private enum Setup {
        /// Earlier batches still in the WAL.
        case earlierBatchesInWAL
        /// Earlier batches checkpointed into the main file by a clean close; the WAL starts afresh.
        case earlierBatchesCheckpointed
        /// A 10-page cache, so SQLite spills uncommitted pages to the WAL in the middle of the batch.
        case tinyCacheSpillsMidBatch
    }

    func testKillAtEveryStepWithEarlierBatchesInTheWAL() throws {
        try killAtEveryStep(.earlierBatchesInWAL)
    }

    func testKillAtEveryStepWithEarlierBatchesCheckpointed() throws {
        try killAtEveryStep(.earlierBatchesCheckpointed)
    }

    func testKillAtEveryStepWhileUncommittedPagesSpillToTheWAL() throws {
        try killAtEveryStep(.tinyCacheSpillsMidBatch)
    }

    private func killAtEveryStep(_ setup: Setup) throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        let earlier = [
            PersistBatch(hardState: HardState(term: 1, vote: NodeID(1)), entries: entries(1...5, term: 1, size: 300)),
            PersistBatch(hardState: HardState(term: 2, vote: NodeID(2), commit: 5), entries: entries(6...8, term: 2, size: 300)),
        ]
        var before = RecoveredLog()
        var store: SQLiteLogStorage? = try SQLiteLogStorage(path: path)
        _ = try store?.recover()
        for batch in earlier {
            try persist(XCTUnwrap(store), batch).get()
            before = applying(batch, to: before)
        }
        if setup == .earlierBatchesCheckpointed {
            store = nil
            XCTAssertFalse(FileManager.default.fileExists(atPath: path + "-wal"), "a clean close checkpoints and removes the WAL")
            store = try SQLiteLogStorage(path: path)
            XCTAssertEqual(try store?.recover(), before)
        }
        let live = try XCTUnwrap(store)
        if setup == .tinyCacheSpillsMidBatch { try live.database.execute("PRAGMA cache_size = 10") }

        // Replaces the uncommitted entries 7…8 and appends up to 40, with a new term and commit.
        let batch = PersistBatch(hardState: HardState(term: 3, vote: NodeID(3), commit: 6),
                                 entries: entries(7...40, term: 3, size: 900))
        let after = applying(batch, to: before)
        let syncedWALSize = fileSize(path + "-wal")

        var images: [Image] = []
        live.crashPoint = { step in
            do {
                let imageDirectory = try directory.subdirectory("image-\(images.count)")
                images.append(Image(step: step, path: try copyDatabase(at: path, into: imageDirectory)))
            } catch {
                XCTFail("copying the crash image failed: \(error)")
            }
        }
        try persist(live, batch).get()
        live.crashPoint = nil
        store = nil

        XCTAssertEqual(images.count, 1 + 1 + batch.entries.count + 1 + 1, "began, truncated, each insert, hard state, committed")
        XCTAssertEqual(images.last?.step, .committed)

        var outcomes = (before: 0, after: 0)
        var spilledImages = 0
        for (number, image) in images.enumerated() {
            let committed = image.step == .committed
            let walSize = fileSize(image.path + "-wal")
            if !committed && walSize > syncedWALSize { spilledImages += 1 }
            // The unsynced tail may be torn anywhere; what was synced before the batch may not.
            for cut in tornOffsets(syncedSize: syncedWALSize, size: walSize, image: image.path) {
                let recovered = try recoverCopy(of: image.path, cuttingWALAt: cut, into: directory, name: "torn-\(number)-\(cut)")
                if recovered == before {
                    outcomes.before += 1
                } else if recovered == after && committed {
                    outcomes.after += 1
                } else {
                    XCTFail("\(setup): crash at \(image.step) with the WAL cut at \(cut) of \(walSize) recovered neither the state before nor after the batch: \(recovered.entries.count) entries, \(recovered.hardState)")
                }
            }
            let intact = try recoverCopy(of: image.path, cuttingWALAt: nil, into: directory, name: "intact-\(number)")
            XCTAssertEqual(intact, committed ? after : before, "\(setup): crash at \(image.step)")
        }
        // The commit record is the WAL's last frame, so every cut short of the end loses it.
        XCTAssertGreaterThan(outcomes.before, 0, "torn images of the committed batch fall back to the state before it")
        if setup == .tinyCacheSpillsMidBatch {
            XCTAssertGreaterThan(spilledImages, 0, "the tiny cache should have spilled uncommitted pages")
        }
    }

    /// Copies the image, optionally truncates its WAL, opens it with a fresh store and recovers.
    private func recoverCopy(of image: String, cuttingWALAt cut: Int?, into directory: TemporaryDirectory, name: String) throws -> RecoveredLog {
        let copy = try copyDatabase(at: image, into: try directory.subdirectory(name))
        if let cut {
            let wal = try FileHandle(forWritingTo: URL(fileURLWithPath: copy + "-wal"))
            try wal.truncate(atOffset: UInt64(cut))
            try wal.close()
        }
        defer { try? FileManager.default.removeItem(at: URL(fileURLWithPath: copy).deletingLastPathComponent()) }
        return try SQLiteLogStorage(path: copy).recover()
    }
}
