import XCTest
@testable import Consensus

/// `PersistBatch.merged(with:)`: writing two queued batches as one must have the same effect as
/// writing them one after the other.
final class PersistBatchTests: XCTestCase {
    private func e(_ i: UInt64, _ t: UInt64) -> Entry { Entry(index: i, term: t, data: [UInt8(i), UInt8(t)]) }

    func testMergeAppendsContinuingEntriesAndKeepsTheLaterHardState() {
        let a = PersistBatch(hardState: HardState(term: 2, vote: NodeID(1), commit: 3), entries: [e(4, 2), e(5, 2)])
        let b = PersistBatch(hardState: nil, entries: [e(6, 2)])
        let m = a.merged(with: b)
        XCTAssertEqual(m?.entries, [e(4, 2), e(5, 2), e(6, 2)])
        XCTAssertEqual(m?.hardState, a.hardState)
        let c = PersistBatch(hardState: HardState(term: 3, vote: nil, commit: 4), entries: [])
        XCTAssertEqual(a.merged(with: c)?.hardState, c.hardState)
        XCTAssertEqual(a.merged(with: c)?.entries, a.entries)
    }

    func testMergeAppliesTheLaterBatchsTruncation() {
        let a = PersistBatch(entries: [e(4, 2), e(5, 2), e(6, 2)])
        let b = PersistBatch(entries: [e(5, 3), e(6, 3)])
        XCTAssertEqual(a.merged(with: b)?.entries, [e(4, 2), e(5, 3), e(6, 3)])
        let c = PersistBatch(entries: [e(4, 4)])
        XCTAssertEqual(a.merged(with: c)?.entries, [e(4, 4)])
    }

    func testBatchesThatCannotBeOneAreNotMerged() {
        let a = PersistBatch(entries: [e(4, 2)])
        XCTAssertNil(a.merged(with: PersistBatch(entries: [e(6, 2)])), "a gap")
        XCTAssertNil(a.merged(with: PersistBatch(entries: [e(3, 2)])), "overwrites before the first entry")
        let snap = Snapshot(metadata: SnapshotMetadata(index: 4, term: 2, voters: [NodeID(1)]), data: [])
        XCTAssertNil(a.merged(with: PersistBatch(snapshot: .installed(snap))), "snapshots are written alone")
        XCTAssertNil(PersistBatch(snapshot: .installed(snap)).merged(with: a))
    }
}
