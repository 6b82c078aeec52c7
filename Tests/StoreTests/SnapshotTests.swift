import Consensus
import Foundation
import Wire
import XCTest
@testable import Store

/// Snapshot writes through `persist`: compaction, install, validation, files on disk, and recovery
/// of each (Raft §7).
final class SnapshotTests: XCTestCase {
    /// A store holding entries 1…5 in term 1 and 6…`last` in term 2, hard state term 2 with `commit`.
    private func storeWithEntries(at path: String, through last: UInt64 = 30, commit: UInt64 = 20) throws -> (SQLiteLogStorage, RecoveredLog) {
        let store = try SQLiteLogStorage(path: path)
        _ = try store.recover()
        let batch = PersistBatch(hardState: HardState(term: 2, vote: NodeID(1), commit: commit),
                                 entries: entries(1...5, term: 1) + entries(6...last, term: 2))
        try persist(store, batch).get()
        return (store, applying(batch, to: RecoveredLog()))
    }

    // MARK: - Round trips

    func testTakenSnapshotCompactsAndKeepsTrailingEntries() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        var expected: RecoveredLog
        do {
            let (store, before) = try storeWithEntries(at: path)
            let batch = PersistBatch(snapshot: .taken(makeSnapshot(index: 12, term: 2), compactedThrough: LogPosition(index: 8, term: 2)),
                                     hardState: HardState(term: 2, vote: NodeID(1), commit: 22),
                                     entries: entries(31...32, term: 2))
            try persist(store, batch).get()
            expected = applying(batch, to: before)
            XCTAssertEqual(try store.recover(), expected)
        }
        XCTAssertEqual(expected.compacted, LogPosition(index: 8, term: 2))
        XCTAssertEqual(expected.entries.map(\.index), Array(9...32))
        XCTAssertEqual(expected.snapshot, makeSnapshot(index: 12, term: 2))
        XCTAssertEqual(try SQLiteLogStorage(path: path).recover(), expected)
        let files = snapshotFiles(of: path)
        XCTAssertEqual(files.count, 1)
        XCTAssertTrue(files[0].hasPrefix("snap-00000000000000000012-00000000000000000002-"), files[0])
        XCTAssertTrue(files[0].hasSuffix(".flsnap"), files[0])
    }

    func testSnapshotWithoutCompactionKeepsEveryEntry() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        let batch = PersistBatch(snapshot: .taken(makeSnapshot(index: 10, term: 2), compactedThrough: .zero))
        var expected = RecoveredLog()
        do {
            let (store, before) = try storeWithEntries(at: path)
            try persist(store, batch).get()
            expected = applying(batch, to: before)
        }
        XCTAssertEqual(expected.entries.count, 30)
        XCTAssertEqual(try SQLiteLogStorage(path: path).recover(), expected)
    }

    func testCompactingTheWholeLogLeavesAnEmptyLogThatContinues() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        var expected = RecoveredLog()
        do {
            let (store, before) = try storeWithEntries(at: path, through: 20, commit: 20)
            let position = LogPosition(index: 20, term: 2)
            let compaction = PersistBatch(snapshot: .taken(makeSnapshot(index: 20, term: 2), compactedThrough: position))
            try persist(store, compaction).get()
            expected = applying(compaction, to: before)
            XCTAssertEqual(expected.entries, [])
            XCTAssertEqual(try store.recover(), expected)
            let append = PersistBatch(hardState: HardState(term: 3, commit: 21), entries: entries(21...23, term: 3))
            try persist(store, append).get()
            expected = applying(append, to: expected)
        }
        XCTAssertEqual(try SQLiteLogStorage(path: path).recover(), expected)
        XCTAssertEqual(expected.entries.map(\.index), [21, 22, 23])
    }

    func testInstalledSnapshotReplacesTheLogAndEntriesAppendAfterIt() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        var expected = RecoveredLog()
        let installed = makeSnapshot(index: 50, term: 4, voters: [1, 2, 3, 4, 5], size: 5000)
        do {
            let (store, before) = try storeWithEntries(at: path, through: 10, commit: 5)
            let install = PersistBatch(snapshot: .installed(installed), hardState: HardState(term: 4, vote: nil, commit: 50))
            try persist(store, install).get()
            expected = applying(install, to: before)
            XCTAssertEqual(expected, RecoveredLog(hardState: HardState(term: 4, commit: 50), snapshot: installed,
                                                  compacted: LogPosition(index: 50, term: 4)))
            XCTAssertEqual(try store.recover(), expected)
            let append = PersistBatch(hardState: HardState(term: 4, commit: 52), entries: entries(51...55, term: 4))
            try persist(store, append).get()
            expected = applying(append, to: expected)
        }
        XCTAssertEqual(try SQLiteLogStorage(path: path).recover(), expected)
        XCTAssertEqual(expected.entries.map(\.index), Array(51...55))
    }

    func testInstallWithEntriesInTheSameBatch() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        let batch = PersistBatch(snapshot: .installed(makeSnapshot(index: 40, term: 3)),
                                 hardState: HardState(term: 3, vote: NodeID(2), commit: 41),
                                 entries: entries(41...43, term: 3))
        var expected = RecoveredLog()
        do {
            let (store, before) = try storeWithEntries(at: path, through: 10, commit: 5)
            try persist(store, batch).get()
            expected = applying(batch, to: before)
        }
        XCTAssertEqual(try SQLiteLogStorage(path: path).recover(), expected)
    }

    func testInstallOverAnEarlierSnapshotAndCompaction() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        let (store, start) = try storeWithEntries(at: path)
        var state = start
        let batches = [
            PersistBatch(snapshot: .taken(makeSnapshot(index: 15, term: 2), compactedThrough: LogPosition(index: 10, term: 2))),
            PersistBatch(snapshot: .installed(makeSnapshot(index: 100, term: 7)), hardState: HardState(term: 7, commit: 100)),
            PersistBatch(hardState: HardState(term: 7, commit: 106), entries: entries(101...110, term: 7)),
            PersistBatch(snapshot: .taken(makeSnapshot(index: 105, term: 7), compactedThrough: LogPosition(index: 103, term: 7))),
        ]
        for batch in batches {
            try persist(store, batch).get()
            state = applying(batch, to: state)
            XCTAssertEqual(try store.recover(), state)
        }
        XCTAssertEqual(state.compacted, LogPosition(index: 103, term: 7))
        XCTAssertEqual(state.entries.map(\.index), Array(104...110))
        XCTAssertEqual(snapshotFiles(of: path).count, 1)
    }

    func testMultiMegabyteSnapshotRoundTrips() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        let big = makeSnapshot(index: 20, term: 2, voters: Array(1...7), size: 4 << 20)
        do {
            let (store, _) = try storeWithEntries(at: path)
            try persist(store, PersistBatch(snapshot: .taken(big, compactedThrough: LogPosition(index: 20, term: 2)))).get()
        }
        let recovered = try SQLiteLogStorage(path: path).recover()
        XCTAssertEqual(recovered.snapshot, big)
        XCTAssertEqual(fileSize(path + ".snapshots/" + snapshotFiles(of: path)[0]), 70 + 7 * 8 + (4 << 20))
    }

    // MARK: - Files on disk

    func testNewerSnapshotRemovesTheOlderFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        let (store, _) = try storeWithEntries(at: path)
        try persist(store, PersistBatch(snapshot: .taken(makeSnapshot(index: 5, term: 1), compactedThrough: .zero))).get()
        let first = snapshotFiles(of: path)
        XCTAssertEqual(first.count, 1)
        try persist(store, PersistBatch(snapshot: .taken(makeSnapshot(index: 10, term: 2), compactedThrough: LogPosition(index: 4, term: 1)))).get()
        let second = snapshotFiles(of: path)
        XCTAssertEqual(second.count, 1)
        XCTAssertNotEqual(first, second)
        XCTAssertTrue(second[0].contains("-00000000000000000010-"))
        XCTAssertEqual(store.cleanupFailures, [])
    }

    func testSameSnapshotWrittenTwiceKeepsItsFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        let batch = PersistBatch(snapshot: .taken(makeSnapshot(index: 10, term: 2), compactedThrough: LogPosition(index: 4, term: 1)))
        let again = PersistBatch(snapshot: .taken(makeSnapshot(index: 10, term: 2), compactedThrough: LogPosition(index: 6, term: 2)))
        var expected = RecoveredLog()
        do {
            let (store, before) = try storeWithEntries(at: path)
            try persist(store, batch).get()
            try persist(store, again).get()
            expected = applying(again, to: applying(batch, to: before))
        }
        XCTAssertEqual(try SQLiteLogStorage(path: path).recover(), expected)
        XCTAssertEqual(snapshotFiles(of: path).count, 1)
    }

    /// Two different snapshots at the same index and term (a non-deterministic state machine) get
    /// different files, so writing the second never replaces the file the log refers to.
    func testDifferentBytesAtTheSamePositionGetTheirOwnFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        let (store, before) = try storeWithEntries(at: path)
        let one = makeSnapshot(index: 10, term: 2)
        var other = one
        other.data[other.data.count - 1] ^= 0xFF
        let first = PersistBatch(snapshot: .taken(one, compactedThrough: .zero))
        try persist(store, first).get()
        let firstFiles = snapshotFiles(of: path)
        let second = PersistBatch(snapshot: .taken(other, compactedThrough: .zero))
        try persist(store, second).get()
        XCTAssertNotEqual(snapshotFiles(of: path), firstFiles)
        XCTAssertEqual(try store.recover(), applying(second, to: applying(first, to: before)))
    }

    func testOrphanAndUnreferencedFilesAreIgnoredAndRemovedAtRecovery() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        var expected = RecoveredLog()
        do {
            let (store, before) = try storeWithEntries(at: path)
            let batch = PersistBatch(snapshot: .taken(makeSnapshot(index: 10, term: 2), compactedThrough: LogPosition(index: 7, term: 2)))
            try persist(store, batch).get()
            expected = applying(batch, to: before)
        }
        let referenced = snapshotFiles(of: path)
        let dir = path + ".snapshots/"
        let strays = [
            "snap-00000000000000000020-00000000000000000002-0123456789abcdef.flsnap",
            "snap-00000000000000000020-00000000000000000002-0123456789abcdef.flsnap.tmp",
            "snap-00000000000000000003-00000000000000000001-fedcba9876543210.flsnap",
        ]
        for name in strays { try Data("not a snapshot".utf8).write(to: URL(fileURLWithPath: dir + name)) }
        try Data("operator's notes".utf8).write(to: URL(fileURLWithPath: dir + "NOTES.txt"))

        let store = try SQLiteLogStorage(path: path)
        XCTAssertEqual(try store.recover(), expected)
        XCTAssertEqual(snapshotFiles(of: path), (referenced + ["NOTES.txt"]).sorted())
        XCTAssertEqual(store.cleanupFailures, [])
    }

    /// A stray that cannot be removed (here a directory under a snapshot file's name, which
    /// unlink(2) refuses even to root) is reported in `cleanupFailures`, never as an error.
    func testCleanupFailureIsReportedButNotFatal() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        let (store, before) = try storeWithEntries(at: path)
        let first = PersistBatch(snapshot: .taken(makeSnapshot(index: 5, term: 1), compactedThrough: .zero))
        try persist(store, first).get()
        let stray = path + ".snapshots/snap-00000000000000000001-00000000000000000001-0000000000000000.flsnap"
        try FileManager.default.createDirectory(atPath: stray + "/inside", withIntermediateDirectories: true)

        let second = PersistBatch(snapshot: .taken(makeSnapshot(index: 10, term: 2), compactedThrough: LogPosition(index: 4, term: 1)))
        XCTAssertNoThrow(try persist(store, second).get())
        XCTAssertEqual(store.cleanupFailures.count, 1)
        XCTAssertTrue(store.cleanupFailures.first?.contains(stray) ?? false, "\(store.cleanupFailures)")
        XCTAssertEqual(try store.recover(), applying(second, to: applying(first, to: before)))
        XCTAssertEqual(store.cleanupFailures.count, 1, "recovery retries and reports it again")
        XCTAssertEqual(snapshotFiles(of: path).count, 2, "the new snapshot and the stray; the old snapshot is gone")
    }

    func testFailedBatchRemovesItsSnapshotFileAndKeepsTheOldState() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        let (store, start) = try storeWithEntries(at: path)
        let first = PersistBatch(snapshot: .taken(makeSnapshot(index: 8, term: 2), compactedThrough: LogPosition(index: 5, term: 1)))
        try persist(store, first).get()
        let before = applying(first, to: start)
        let files = snapshotFiles(of: path)

        let pages = try XCTUnwrap(store.database.scalarText("PRAGMA page_count").flatMap { Int($0) })
        _ = try store.database.scalarText("PRAGMA max_page_count = \(pages + 1)")
        let big = PersistBatch(snapshot: .taken(makeSnapshot(index: 12, term: 2), compactedThrough: LogPosition(index: 10, term: 2)),
                               hardState: HardState(term: 2, vote: NodeID(1), commit: 25),
                               entries: entries(31...130, term: 2, size: 2000))
        XCTAssertEqual(persistError(store, big), .diskFull(path: path))
        XCTAssertEqual(snapshotFiles(of: path), files, "the failed batch's snapshot file is removed")
        XCTAssertEqual(try store.recover(), before)

        _ = try store.database.scalarText("PRAGMA max_page_count = 1073741823")
        try persist(store, big).get()
        XCTAssertEqual(try store.recover(), applying(big, to: before))
        XCTAssertEqual(snapshotFiles(of: path).count, 1)
    }

    // MARK: - Refused batches

    func testBadSnapshotBatchesAreRefusedAndWriteNoFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        // Entries 1…5 term 1, 6…10 term 2, commit 8; snapshot at 6, compacted through 4.
        let (store, start) = try storeWithEntries(at: path, through: 10, commit: 8)
        let setup = PersistBatch(snapshot: .taken(makeSnapshot(index: 6, term: 2), compactedThrough: LogPosition(index: 4, term: 1)))
        try persist(store, setup).get()
        let before = applying(setup, to: start)
        let files = snapshotFiles(of: path)

        func taken(_ index: UInt64, _ term: UInt64, through: (UInt64, UInt64)) -> SnapshotWrite {
            .taken(makeSnapshot(index: index, term: term), compactedThrough: LogPosition(index: through.0, term: through.1))
        }
        let installed = SnapshotWrite.installed(makeSnapshot(index: 20, term: 3))
        let cases: [(PersistBatch, StoreError.BatchRefusal)] = [
            (PersistBatch(snapshot: taken(5, 1, through: (4, 1))), .snapshotOlderThanStored(index: 5, stored: 6)),
            (PersistBatch(snapshot: taken(8, 2, through: (9, 2))), .compactionBeyondSnapshot(through: 9, snapshot: 8)),
            (PersistBatch(snapshot: taken(11, 2, through: (8, 2))), .snapshotBeyondLog(index: 11, lastIndex: 10)),
            (PersistBatch(snapshot: taken(8, 2, through: (3, 1))), .compactionBehindLogStart(through: 3, compacted: 4)),
            (PersistBatch(snapshot: taken(8, 1, through: (7, 2))), .termMismatch(index: 8, term: 1, storedTerm: 2)),
            (PersistBatch(snapshot: taken(8, 2, through: (7, 1))), .termMismatch(index: 7, term: 1, storedTerm: 2)),
            (PersistBatch(snapshot: taken(8, 2, through: (4, 2))), .termMismatch(index: 4, term: 2, storedTerm: 1)),
            (PersistBatch(snapshot: taken(9, 2, through: (7, 2))), .snapshotNotCommitted(snapshot: 9, commit: 8)),
            // The snapshot counts as committed: entries may not rewrite at or below it either.
            (PersistBatch(snapshot: taken(9, 2, through: (7, 2)), hardState: HardState(term: 2, vote: NodeID(1), commit: 10),
                          entries: entries(9...10, term: 2)), .truncatesCommitted(firstIndex: 9, commit: 9)),
            (PersistBatch(snapshot: .installed(makeSnapshot(index: 7, term: 2)), hardState: HardState(term: 2, commit: 8)),
             .snapshotBehindCommit(index: 7, commit: 8)),
            (PersistBatch(snapshot: .installed(makeSnapshot(index: 0, term: 2))), .indexOutOfRange(0)),
            (PersistBatch(snapshot: installed), .snapshotNotCommitted(snapshot: 20, commit: 8)),
            (PersistBatch(snapshot: installed, hardState: HardState(term: 2, commit: 20)), .hardStateBehindLog(term: 2, lastEntryTerm: 3)),
            (PersistBatch(snapshot: installed, hardState: HardState(term: 3, commit: 20), entries: entries(20...21, term: 3)),
             .entriesBeforeLogStart(firstIndex: 20, compacted: 20)),
            (PersistBatch(snapshot: installed, hardState: HardState(term: 3, commit: 20), entries: entries(22...22, term: 3)),
             .gap(lastIndex: 20, firstIndex: 22)),
            (PersistBatch(snapshot: installed, hardState: HardState(term: 3, commit: 20), entries: entries(21...21, term: 2)),
             .termDecreases(index: 21, term: 2, previousTerm: 3)),
            (PersistBatch(snapshot: installed, hardState: HardState(term: 3, commit: 22), entries: entries(21...21, term: 3)),
             .commitBeyondLog(commit: 22, lastIndex: 21)),
            (PersistBatch(entries: entries(4...4, term: 1)), .entriesBeforeLogStart(firstIndex: 4, compacted: 4)),
            (PersistBatch(hardState: HardState(term: 2, commit: 5)), .snapshotNotCommitted(snapshot: 6, commit: 5)),
        ]
        for (batch, refusal) in cases {
            XCTAssertEqual(persistError(store, batch), .refused(path: path, refusal), "\(refusal)")
        }
        XCTAssertEqual(snapshotFiles(of: path), files, "a refused batch writes no snapshot file")
        XCTAssertEqual(try store.recover(), before)
        // Still usable: the valid forms of the refused batches land.
        let good = PersistBatch(snapshot: installed, hardState: HardState(term: 3, commit: 20), entries: entries(21...21, term: 3))
        try persist(store, good).get()
        XCTAssertEqual(try store.recover(), applying(good, to: before))
    }

    // MARK: - Damaged snapshot files

    /// A closed store whose log refers to one snapshot file; returns the file's path and bytes.
    private func storeWithSnapshotFile(in directory: TemporaryDirectory) throws -> (path: String, file: String, bytes: [UInt8], log: RecoveredLog) {
        let path = directory.path("log.sqlite")
        var log = RecoveredLog()
        do {
            let (store, before) = try storeWithEntries(at: path)
            let batch = PersistBatch(snapshot: .taken(makeSnapshot(index: 10, term: 2, voters: [1, 2], size: 200),
                                                      compactedThrough: LogPosition(index: 9, term: 2)))
            try persist(store, batch).get()
            log = applying(batch, to: before)
        }
        let file = path + ".snapshots/" + (try XCTUnwrap(snapshotFiles(of: path).first))
        return (path, file, [UInt8](try Data(contentsOf: URL(fileURLWithPath: file))), log)
    }

    private func recoverAfterWriting(_ bytes: [UInt8]?, to file: String, log path: String) -> Result<RecoveredLog, any Error> {
        do {
            if let bytes {
                try Data(bytes).write(to: URL(fileURLWithPath: file))
            } else {
                try FileManager.default.removeItem(atPath: file)
            }
            return .success(try SQLiteLogStorage(path: path).recover())
        } catch {
            return .failure(error)
        }
    }

    func testSnapshotFileLayoutIsAsDocumented() throws {
        let directory = try TemporaryDirectory()
        let (_, file, bytes, _) = try storeWithSnapshotFile(in: directory)
        let data = makeSnapshot(index: 10, term: 2, voters: [1, 2], size: 200).data
        var expected: [UInt8] = Array("FLSNAP\r\n".utf8) + [0, 1]
        expected += [0, 0, 0, 0, 0, 0, 0, 10] + [0, 0, 0, 0, 0, 0, 0, 2] + [0, 0, 0, 2]
        expected += [0, 0, 0, 0, 0, 0, 0, 1] + [0, 0, 0, 0, 0, 0, 0, 2] + [0, 0, 0, 0, 0, 0, 0, 200] + data
        expected += SHA256.hash(expected)
        XCTAssertEqual(bytes, expected)
        XCTAssertEqual(URL(fileURLWithPath: file).lastPathComponent,
                       "snap-00000000000000000010-00000000000000000002-\(Hex.encode(SHA256.hash(Array(expected.dropLast(32))).prefix(8))).flsnap")
    }

    func testMissingReferencedSnapshotFileIsCorrupt() throws {
        let directory = try TemporaryDirectory()
        let (path, file, _, _) = try storeWithSnapshotFile(in: directory)
        XCTAssertThrowsError(try recoverAfterWriting(nil, to: file, log: path).get()) {
            XCTAssertEqual($0 as? StoreError, .corrupt(path: file, .snapshotFile(.missing)))
        }
        XCTAssertThrowsError(try recoverAfterWriting(nil, to: path + ".snapshots", log: path).get()) {
            XCTAssertEqual($0 as? StoreError, .corrupt(path: file, .snapshotFile(.missing)), "the whole directory gone")
        }
    }

    func testTruncatedSnapshotFileIsCorrupt() throws {
        let directory = try TemporaryDirectory()
        let (path, file, pristine, _) = try storeWithSnapshotFile(in: directory)
        let size = UInt64(pristine.count)
        let cases: [(Int, StoreError.SnapshotFileDamage)] = [
            (0, .truncated(fileSize: 0)),
            (5, .truncated(fileSize: 5)),
            (9, .truncated(fileSize: 9)),
            (69, .truncated(fileSize: 69)),
            (100, .lengthMismatch(field: "data length", value: 200, fileSize: 100)),
            (pristine.count - 1, .lengthMismatch(field: "data length", value: 200, fileSize: size - 1)),
            (pristine.count - 32, .lengthMismatch(field: "data length", value: 200, fileSize: size - 32)),
        ]
        for (length, damage) in cases {
            XCTAssertThrowsError(try recoverAfterWriting(Array(pristine.prefix(length)), to: file, log: path).get(), "\(length)") {
                XCTAssertEqual($0 as? StoreError, .corrupt(path: file, .snapshotFile(damage)), "cut at \(length)")
            }
        }
        XCTAssertThrowsError(try recoverAfterWriting(pristine + [0], to: file, log: path).get()) {
            XCTAssertEqual($0 as? StoreError, .corrupt(path: file, .snapshotFile(.lengthMismatch(field: "data length", value: 200, fileSize: size + 1))))
        }
    }

    /// Flips one bit in every byte of the file: each flip is refused with the error its field calls for.
    func testEveryFlippedByteInTheSnapshotFileIsDetected() throws {
        let directory = try TemporaryDirectory()
        let (path, file, pristine, log) = try storeWithSnapshotFile(in: directory)
        let size = UInt64(pristine.count)
        for offset in pristine.indices {
            var damaged = pristine
            damaged[offset] ^= 1 << UInt8(offset % 8)
            let expected: StoreError
            switch offset {
            case 0..<8: expected = .corrupt(path: file, .snapshotFile(.notASnapshotFile))
            case 8..<10: expected = .unsupportedSnapshotFormat(path: file, version: UInt16(damaged[8]) << 8 | UInt16(damaged[9]), supported: 1)
            case 26..<30:
                let count = UInt64(readBigEndian32(damaged, at: 26))
                expected = count * 8 <= size - 70
                    ? .corrupt(path: file, .snapshotFile(.lengthMismatch(field: "data length", value: 200, fileSize: size)))
                    : .corrupt(path: file, .snapshotFile(.lengthMismatch(field: "voter count", value: count, fileSize: size)))
            case 46..<54:
                let length = damaged[46..<54].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                expected = .corrupt(path: file, .snapshotFile(.lengthMismatch(field: "data length", value: length, fileSize: size)))
            default: expected = .corrupt(path: file, .snapshotFile(.checksumMismatch))
            }
            XCTAssertThrowsError(try recoverAfterWriting(damaged, to: file, log: path).get(), "offset \(offset)") {
                XCTAssertEqual($0 as? StoreError, expected, "offset \(offset)")
            }
        }
        XCTAssertEqual(try recoverAfterWriting(pristine, to: file, log: path).get(), log)
    }

    func testUnknownSnapshotFormatVersionIsRefused() throws {
        let directory = try TemporaryDirectory()
        let (path, file, pristine, _) = try storeWithSnapshotFile(in: directory)
        var future = pristine
        future[8...9] = [0, 2]
        XCTAssertThrowsError(try recoverAfterWriting(future, to: file, log: path).get()) {
            XCTAssertEqual($0 as? StoreError, .unsupportedSnapshotFormat(path: file, version: 2, supported: 1))
            XCTAssertEqual(($0 as? StoreError)?.description,
                           "the snapshot at \(file) has format version 2, this build reads version 1; run a build that knows it")
        }
    }

    /// Length fields that claim up to 2⁶⁴ bytes, in a file whose digest is valid, are refused by
    /// comparing them with the file's size before anything is allocated (an allocation of that
    /// size would trap).
    func testHostileLengthFieldsAreRefusedWithoutAllocating() throws {
        let directory = try TemporaryDirectory()
        let (path, file, pristine, _) = try storeWithSnapshotFile(in: directory)
        func resealed(_ bytes: [UInt8]) -> [UInt8] {
            let body = Array(bytes.dropLast(32))
            return body + SHA256.hash(body)
        }
        let size = UInt64(pristine.count)
        var voters = pristine
        voters[26..<30] = [0xFF, 0xFF, 0xFF, 0xFF]
        var data = pristine
        data[46..<54] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0]
        var wrapping = pristine
        wrapping[26..<30] = [0x20, 0x00, 0x00, 0x00]  // 2²⁹ voters: 2³² bytes, wraps a 32-bit multiply
        let cases: [([UInt8], StoreError.SnapshotFileDamage)] = [
            (voters, .lengthMismatch(field: "voter count", value: 0xFFFF_FFFF, fileSize: size)),
            (data, .lengthMismatch(field: "data length", value: 0xFFFF_FFFF_FFFF_FFF0, fileSize: size)),
            (wrapping, .lengthMismatch(field: "voter count", value: 1 << 29, fileSize: size)),
        ]
        for (bytes, damage) in cases {
            XCTAssertThrowsError(try recoverAfterWriting(resealed(bytes), to: file, log: path).get()) {
                XCTAssertEqual($0 as? StoreError, .corrupt(path: file, .snapshotFile(damage)))
            }
        }
    }

    func testVoterZeroWithAValidDigestIsCorrupt() throws {
        let directory = try TemporaryDirectory()
        let (path, file, pristine, _) = try storeWithSnapshotFile(in: directory)
        var bytes = pristine
        bytes[38..<46] = [0, 0, 0, 0, 0, 0, 0, 0]  // the second voter
        let body = Array(bytes.dropLast(32))
        XCTAssertThrowsError(try recoverAfterWriting(body + SHA256.hash(body), to: file, log: path).get()) {
            XCTAssertEqual($0 as? StoreError, .corrupt(path: file, .snapshotFile(.invalidVoter(position: 1))))
        }
    }

    /// An intact snapshot file that is not the one the log committed (an old backup, another
    /// node's file under this name) is refused.
    func testIntactFileOfAnotherSnapshotIsRefused() throws {
        let directory = try TemporaryDirectory()
        let (path, file, pristine, _) = try storeWithSnapshotFile(in: directory)
        var otherData = pristine
        otherData[60] ^= 0x55
        let body = Array(otherData.dropLast(32))
        XCTAssertThrowsError(try recoverAfterWriting(body + SHA256.hash(body), to: file, log: path).get()) { error in
            guard case .corrupt(file, .snapshotFile(.doesNotMatchLog))? = error as? StoreError else { return XCTFail("\(error)") }
        }
        var otherIndex = pristine
        otherIndex[17] = 11
        let moved = Array(otherIndex.dropLast(32))
        XCTAssertThrowsError(try recoverAfterWriting(moved + SHA256.hash(moved), to: file, log: path).get()) {
            XCTAssertEqual($0 as? StoreError, .corrupt(path: file, .snapshotFile(.doesNotMatchLog("it covers 11/2, the log recorded 10/2"))))
        }
    }

    func testSnapshotErrorMessageNamesTheFile() {
        let error = StoreError.corrupt(path: "/var/lib/florian/log.sqlite.snapshots/snap-1.flsnap", .snapshotFile(.checksumMismatch))
        XCTAssertEqual(error.description, "the snapshot file fails its SHA-256 checksum: the snapshot at /var/lib/florian/log.sqlite.snapshots/snap-1.flsnap is damaged; restore this node from a peer, do not start it on this log")
    }

    // MARK: - Damaged records

    private func damagedStore(_ sql: String) throws -> (path: String, error: StoreError?, directory: TemporaryDirectory) {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        do {
            let (store, _) = try storeWithEntries(at: path)
            try persist(store, PersistBatch(snapshot: .taken(makeSnapshot(index: 10, term: 2), compactedThrough: LogPosition(index: 9, term: 2)))).get()
        }
        try Database(path: path).execute(sql)
        do {
            _ = try SQLiteLogStorage(path: path).recover()
            return (path, nil, directory)
        } catch {
            return (path, error, directory)
        }
    }

    func testCompactionWithoutSnapshotIsTorn() throws {
        let damaged = try damagedStore("DELETE FROM snapshot")
        XCTAssertEqual(damaged.error, .torn(path: damaged.path, .compactedWithoutSnapshot(compacted: 9)))
    }

    func testLostCompactionPointIsTorn() throws {
        let damaged = try damagedStore("DELETE FROM log_start")
        XCTAssertEqual(damaged.error, .torn(path: damaged.path, .firstIndexNotAfterLogStart(10, expected: 1)))
    }

    func testSnapshotRecordChangedWithoutItsChecksumIsCorrupt() throws {
        let damaged = try damagedStore("UPDATE snapshot SET term = 3")
        XCTAssertEqual(damaged.error, .corrupt(path: damaged.path, .snapshotRecordChecksum))
    }

    func testCompactionPointChangedWithoutItsChecksumIsCorrupt() throws {
        let damaged = try damagedStore("UPDATE log_start SET idx = 8")
        XCTAssertEqual(damaged.error, .corrupt(path: damaged.path, .logStartChecksum))
    }

    func testSnapshotRecordNamingAPathIsMalformed() throws {
        let file = "../../etc/passwd"
        let digest = [UInt8](repeating: 7, count: 32)
        let checksum = RecordChecksum.snapshot(index: 10, term: 2, file: file, digest: digest)
        let damaged = try damagedStore("UPDATE snapshot SET file = '\(file)', digest = x'\(Hex.encode(digest))', checksum = \(checksum)")
        XCTAssertEqual(damaged.error, .corrupt(path: damaged.path, .malformedSnapshotRecord("file \(file) is not a snapshot file name")))
    }

    func testMissingEntryAtTheSnapshotIsTorn() throws {
        let damaged = try damagedStore("DELETE FROM entries WHERE idx >= 10")
        XCTAssertEqual(damaged.error, .torn(path: damaged.path, .snapshotBeyondLog(snapshot: 10, lastIndex: 9)))
    }

    // MARK: - Format migration

    func testFormatOneLogIsMigratedInPlace() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        var before = RecoveredLog()
        do { (_, before) = try storeWithEntries(at: path) }
        // What format 1 looked like: the same tables without snapshot and log_start.
        try Database(path: path).execute("""
            DROP TABLE snapshot; DROP TABLE log_start;
            UPDATE meta SET value = 1 WHERE key = 'format_version';
            """)
        do {
            let store = try SQLiteLogStorage(path: path)
            XCTAssertEqual(try store.recover(), before)
            XCTAssertEqual(try store.database.scalarText("SELECT value FROM meta WHERE key = 'format_version'"), "2")
            let batch = PersistBatch(snapshot: .taken(makeSnapshot(index: 10, term: 2), compactedThrough: LogPosition(index: 9, term: 2)))
            try persist(store, batch).get()
            before = applying(batch, to: before)
        }
        XCTAssertEqual(try SQLiteLogStorage(path: path).recover(), before)
    }
}
