import Consensus
import Foundation
import XCTest
@testable import Store

final class SQLiteLogStorageTests: XCTestCase {
    func testNewStoreRecoversEmptyLog() throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteLogStorage(path: directory.path("log.sqlite"))
        XCTAssertEqual(try store.recover(), RecoveredLog())
    }

    func testBatchesRoundTripThroughReopen() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        let batches = [
            PersistBatch(hardState: HardState(term: 1, vote: NodeID(1))),
            PersistBatch(entries: [Entry(index: 1, term: 1, kind: .noop)] + entries(2...3, term: 1)),
            PersistBatch(hardState: HardState(term: 1, vote: NodeID(1), commit: 2), entries: entries(4...5, term: 1, size: 3000)),
            PersistBatch(hardState: HardState(term: 2, vote: nil, commit: 2)),
            // A new leader's entries replace the uncommitted suffix 4…5 (Raft §5.3).
            PersistBatch(entries: [Entry(index: 4, term: 2, kind: .noop)] + entries(5...6, term: 2)),
            PersistBatch(hardState: HardState(term: 3, vote: NodeID(3), commit: 5), entries: [Entry(index: 7, term: 3, data: [])]),
            PersistBatch(),
        ]
        var expected = RecoveredLog()
        do {
            let store = try SQLiteLogStorage(path: path)
            XCTAssertEqual(try store.recover(), expected)
            for batch in batches {
                XCTAssertNoThrow(try persist(store, batch).get())
                expected = applying(batch, to: expected)
            }
            XCTAssertEqual(try store.recover(), expected)
        }
        XCTAssertEqual(expected.entries.map(\.index), Array(1...7))
        XCTAssertEqual(expected.entries[3].term, 2)
        let reopened = try SQLiteLogStorage(path: path)
        XCTAssertEqual(try reopened.recover(), expected)
    }

    func testTruncationAtTheEndOfTheLogKeepsLaterBatchesWorking() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        do {
            let store = try SQLiteLogStorage(path: path)
            _ = try store.recover()
            try persist(store, PersistBatch(hardState: HardState(term: 2), entries: entries(1...5, term: 1))).get()
            try persist(store, PersistBatch(entries: entries(2...2, term: 2))).get()
            try persist(store, PersistBatch(entries: entries(3...4, term: 2))).get()
        }
        let recovered = try SQLiteLogStorage(path: path).recover()
        XCTAssertEqual(recovered.entries, entries(1...1, term: 1) + entries(2...4, term: 2))
    }

    func testThousandEntryBatchIsOneCommit() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        let batch = PersistBatch(hardState: HardState(term: 1, vote: NodeID(2), commit: 0), entries: entries(1...1000, term: 1, size: 40))
        do {
            let store = try SQLiteLogStorage(path: path)
            _ = try store.recover()
            var commits = 0
            store.crashPoint = { if $0 == .committed { commits += 1 } }
            let walCommitsBefore = try walCommitCount(path + "-wal")
            try persist(store, batch).get()
            XCTAssertEqual(commits, 1)
            XCTAssertEqual(try walCommitCount(path + "-wal") - walCommitsBefore, 1, "one commit record, so one WAL sync")
        }
        XCTAssertEqual(try SQLiteLogStorage(path: path).recover(), applying(batch, to: RecoveredLog()))
    }

    // MARK: - Refused batches

    private func storeWithFiveEntries(at path: String) throws -> (SQLiteLogStorage, RecoveredLog) {
        let store = try SQLiteLogStorage(path: path)
        _ = try store.recover()
        let batch = PersistBatch(hardState: HardState(term: 2, vote: NodeID(1), commit: 3),
                                 entries: entries(1...2, term: 1) + entries(3...5, term: 2))
        try persist(store, batch).get()
        return (store, applying(batch, to: RecoveredLog()))
    }

    func testBadBatchesAreRefusedAndLeaveTheStoreUnchanged() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        let (store, before) = try storeWithFiveEntries(at: path)
        let cases: [(PersistBatch, StoreError.BatchRefusal)] = [
            (PersistBatch(entries: entries(7...7, term: 2)), .gap(lastIndex: 5, firstIndex: 7)),
            (PersistBatch(entries: entries(6...6, term: 2) + entries(8...8, term: 2)), .notContiguous(after: 6, next: 8)),
            (PersistBatch(entries: entries(6...6, term: 2) + entries(6...6, term: 2)), .notContiguous(after: 6, next: 6)),
            (PersistBatch(entries: [Entry(index: 0, term: 2)]), .indexOutOfRange(0)),
            (PersistBatch(entries: entries(6...6, term: 2) + entries(7...7, term: 1)), .termDecreases(index: 7, term: 1, previousTerm: 2)),
            (PersistBatch(entries: entries(6...6, term: 1)), .termDecreases(index: 6, term: 1, previousTerm: 2)),
            (PersistBatch(entries: entries(4...4, term: 1)), .termDecreases(index: 4, term: 1, previousTerm: 2)),
            (PersistBatch(entries: entries(3...3, term: 2)), .truncatesCommitted(firstIndex: 3, commit: 3)),
            (PersistBatch(hardState: HardState(term: 2, commit: 6)), .commitBeyondLog(commit: 6, lastIndex: 5)),
            (PersistBatch(entries: entries(6...6, term: 3)), .hardStateBehindLog(term: 2, lastEntryTerm: 3)),
            (PersistBatch(hardState: HardState(term: 1, commit: 3)), .termRegresses(from: 2, to: 1)),
        ]
        for (batch, refusal) in cases {
            XCTAssertEqual(persistError(store, batch), .refused(path: path, refusal))
        }
        XCTAssertEqual(try store.recover(), before)
        // Still usable: a valid batch after the refusals lands.
        let good = PersistBatch(hardState: HardState(term: 3, commit: 5), entries: entries(6...6, term: 3))
        XCTAssertNoThrow(try persist(store, good).get())
        XCTAssertEqual(try store.recover(), applying(good, to: before))
    }

    func testRefusedBatchesAreNotOnDiskAfterReopen() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        var before = RecoveredLog()
        do {
            let (store, state) = try storeWithFiveEntries(at: path)
            before = state
            XCTAssertNotNil(persistError(store, PersistBatch(hardState: HardState(term: 9), entries: entries(8...9, term: 9))))
            XCTAssertNotNil(persistError(store, PersistBatch(hardState: HardState(term: 9, commit: 5), entries: entries(6...6, term: 9) + entries(8...8, term: 9))))
        }
        XCTAssertEqual(try SQLiteLogStorage(path: path).recover(), before)
    }

    func testPersistBeforeRecoverIsRefused() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        let store = try SQLiteLogStorage(path: path)
        XCTAssertEqual(persistError(store, PersistBatch(hardState: HardState(term: 1))), .notRecovered(path: path))
    }

    // MARK: - Disk full

    func testDiskFullFailsTheBatchAndKeepsTheOldState() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        let (store, before) = try storeWithFiveEntries(at: path)
        let pages = try XCTUnwrap(store.database.scalarText("PRAGMA page_count").flatMap { Int($0) })
        _ = try store.database.scalarText("PRAGMA max_page_count = \(pages + 1)")
        let big = PersistBatch(hardState: HardState(term: 3, commit: 5), entries: entries(6...205, term: 3, size: 2000))

        XCTAssertEqual(persistError(store, big), .diskFull(path: path))
        XCTAssertEqual(try store.recover(), before)

        // Space freed: the same instance goes on.
        _ = try store.database.scalarText("PRAGMA max_page_count = 1073741823")
        XCTAssertNoThrow(try persist(store, big).get())
        XCTAssertEqual(try store.recover(), applying(big, to: before))
    }

    func testDiskFullStateSurvivesReopen() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        var before = RecoveredLog()
        do {
            let (store, state) = try storeWithFiveEntries(at: path)
            before = state
            let pages = try XCTUnwrap(store.database.scalarText("PRAGMA page_count").flatMap { Int($0) })
            _ = try store.database.scalarText("PRAGMA max_page_count = \(pages)")
            let big = PersistBatch(entries: entries(6...105, term: 2, size: 2000))
            XCTAssertEqual(persistError(store, big), .diskFull(path: path))
        }
        XCTAssertEqual(try SQLiteLogStorage(path: path).recover(), before)
    }

    // MARK: - Opening

    func testSecondInstanceOnTheSameFileIsLockedOut() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        let first = try SQLiteLogStorage(path: path)
        _ = try first.recover()
        XCTAssertThrowsError(try SQLiteLogStorage(path: path)) {
            XCTAssertEqual($0 as? StoreError, .locked(path: path))
        }
        withExtendedLifetime(first) {}
    }

    func testUnknownFormatVersionIsRefused() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        _ = try SQLiteLogStorage(path: path)
        try Database(path: path).execute("UPDATE meta SET value = 3 WHERE key = 'format_version'")
        XCTAssertThrowsError(try SQLiteLogStorage(path: path)) {
            XCTAssertEqual($0 as? StoreError, .unsupportedFormat(path: path, version: 3, supported: 2))
        }
    }

    func testFileThatIsNotADatabaseIsReportedCorrupt() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        var rng = SystemRandomNumberGenerator()
        try Data((0..<8192).map { _ in UInt8.random(in: 0...255, using: &rng) }).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try SQLiteLogStorage(path: path)) { error in
            guard case .corrupt(path, .database)? = error as? StoreError else { return XCTFail("\(error)") }
        }
    }

    func testOtherSQLiteDatabaseWithoutFormatRecordIsRefused() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        try Database(path: path).execute("CREATE TABLE alarms (id INTEGER PRIMARY KEY)")
        XCTAssertThrowsError(try SQLiteLogStorage(path: path)) {
            XCTAssertEqual($0 as? StoreError, .corrupt(path: path, .missingFormatVersion))
        }
    }

    func testMissingDirectoryCannotBeOpened() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("no/such/dir/log.sqlite")
        XCTAssertThrowsError(try SQLiteLogStorage(path: path)) { error in
            guard case .cannotOpen(path, _)? = error as? StoreError else { return XCTFail("\(error)") }
        }
    }

    // MARK: - Damage made through SQL: checksums and shape are checked, not repaired

    private func damagedStore(_ sql: (String) -> String) throws -> (path: String, error: StoreError?, directory: TemporaryDirectory) {
        let directory = try TemporaryDirectory()
        let path = directory.path("log.sqlite")
        do { _ = try storeWithFiveEntries(at: path) }
        try Database(path: path).execute(sql(path))
        do {
            _ = try SQLiteLogStorage(path: path).recover()
            return (path, nil, directory)
        } catch {
            return (path, error, directory)
        }
    }

    func testEntryChangedWithoutItsChecksumIsCorrupt() throws {
        let damaged = try damagedStore { _ in "UPDATE entries SET term = 7 WHERE idx = 4" }
        XCTAssertEqual(damaged.error, .corrupt(path: damaged.path, .entryChecksum(index: 4)))
    }

    func testEntryOfUnknownKindIsCorrupt() throws {
        let checksum = RecordChecksum.entry(index: 2, term: 1, kind: 9, data: entries(2...2, term: 1)[0].data)
        let damaged = try damagedStore { _ in "UPDATE entries SET kind = 9, checksum = \(checksum) WHERE idx = 2" }
        XCTAssertEqual(damaged.error, .corrupt(path: damaged.path, .unknownKind(index: 2, rawValue: 9)))
    }

    func testEntryDataOfWrongTypeIsMalformed() throws {
        let damaged = try damagedStore { _ in "UPDATE entries SET data = 'text' WHERE idx = 3" }
        XCTAssertEqual(damaged.error, .corrupt(path: damaged.path, .malformedEntry(index: 3, column: "data")))
    }

    func testMissingMiddleEntryIsTorn() throws {
        let damaged = try damagedStore { _ in "DELETE FROM entries WHERE idx = 3" }
        XCTAssertEqual(damaged.error, .torn(path: damaged.path, .gap(after: 2, next: 4)))
    }

    func testMissingFirstEntryIsTorn() throws {
        let damaged = try damagedStore { _ in "DELETE FROM entries WHERE idx = 1" }
        XCTAssertEqual(damaged.error, .torn(path: damaged.path, .firstIndexNotAfterLogStart(2, expected: 1)))
    }

    func testCommitPastTheLastEntryIsTorn() throws {
        let damaged = try damagedStore { _ in "DELETE FROM entries WHERE idx >= 3" }
        XCTAssertEqual(damaged.error, .torn(path: damaged.path, .commitBeyondLog(commit: 3, lastIndex: 2)))
    }

    func testLostHardStateIsTorn() throws {
        let damaged = try damagedStore { _ in "DELETE FROM hard_state" }
        XCTAssertEqual(damaged.error, .torn(path: damaged.path, .hardStateBehindLog(term: 0, lastEntryTerm: 2)))
    }

    func testHardStateChangedWithoutItsChecksumIsCorrupt() throws {
        let damaged = try damagedStore { _ in "UPDATE hard_state SET vote = 2" }
        XCTAssertEqual(damaged.error, .corrupt(path: damaged.path, .hardStateChecksum))
    }

    func testErrorMessageTellsTheOperatorWhatToDo() {
        let error = StoreError.corrupt(path: "/var/lib/florian/log.sqlite", .entryChecksum(index: 17))
        XCTAssertEqual(error.description, "log entry 17 fails its checksum: the log at /var/lib/florian/log.sqlite is damaged; restore this node from a peer, do not start it on this log")
    }
}
