import Consensus
import Foundation
import XCTest
@testable import Store

/// Damages the database file byte by byte, as a failing disk would, and checks that recovery
/// refuses it with a `StoreError` instead of crashing or returning a wrong log.
final class CorruptionTests: XCTestCase {
    private let hardStateTerm: UInt64 = 0x0A1B_2C3D_4E5F_6071

    /// A closed (so checkpointed) log with 40 entries whose data carry unique markers, and its bytes.
    private func cleanLog(in directory: TemporaryDirectory) throws -> (path: String, log: RecoveredLog, bytes: [UInt8]) {
        let path = directory.path("log.sqlite")
        let batch = PersistBatch(hardState: HardState(term: hardStateTerm, vote: NodeID(2), commit: 30),
                                 entries: entries(1...40, term: 1, size: 200))
        do {
            let store = try SQLiteLogStorage(path: path)
            _ = try store.recover()
            try persist(store, batch).get()
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + "-wal"), "the log should be checkpointed into the main file")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        return (path, applying(batch, to: RecoveredLog()), bytes)
    }

    private func recoverAfterWriting(_ bytes: [UInt8], to path: String) -> Result<RecoveredLog, any Error> {
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return .success(try SQLiteLogStorage(path: path).recover())
        } catch {
            return .failure(error)
        }
    }

    func testFlippedByteInEntryDataIsCorruptionNamingTheEntry() throws {
        let directory = try TemporaryDirectory()
        let (path, _, pristine) = try cleanLog(in: directory)
        let marker = Array("ENTRY-0017-T1|".utf8)
        let found = occurrences(of: marker, in: pristine)
        XCTAssertEqual(found.count, 1)
        var damaged = pristine
        damaged[try XCTUnwrap(found.first) + marker.count + 5] ^= 0x04

        let result = recoverAfterWriting(damaged, to: path)
        XCTAssertThrowsError(try result.get()) {
            XCTAssertEqual($0 as? StoreError, .corrupt(path: path, .entryChecksum(index: 17)))
        }
    }

    func testEveryFlippedBitInOneEntryIsDetected() throws {
        let directory = try TemporaryDirectory()
        let (path, _, pristine) = try cleanLog(in: directory)
        let start = try XCTUnwrap(occurrences(of: Array("ENTRY-0023-T1|".utf8), in: pristine).first)
        for offset in stride(from: start, to: start + 200, by: 7) {
            var damaged = pristine
            damaged[offset] ^= 1 << UInt8(offset % 8)
            XCTAssertThrowsError(try recoverAfterWriting(damaged, to: path).get(), "offset \(offset)") {
                XCTAssertEqual($0 as? StoreError, .corrupt(path: path, .entryChecksum(index: 23)))
            }
        }
    }

    func testFlippedByteInHardStateIsCorruption() throws {
        let directory = try TemporaryDirectory()
        let (path, _, pristine) = try cleanLog(in: directory)
        let term = withUnsafeBytes(of: hardStateTerm.bigEndian) { Array($0) }
        let found = occurrences(of: term, in: pristine)
        XCTAssertEqual(found.count, 1, "the hard-state term is stored once, as an 8-byte big-endian integer")
        var damaged = pristine
        damaged[try XCTUnwrap(found.first) + 7] ^= 0x01

        XCTAssertThrowsError(try recoverAfterWriting(damaged, to: path).get()) {
            XCTAssertEqual($0 as? StoreError, .corrupt(path: path, .hardStateChecksum))
        }
    }

    /// Flips each byte of the b-tree page header (sqlite.org/fileformat2.html §1.6) of every page
    /// that holds entries. Each must end in a StoreError; a flip SQLite cannot see and that leaves
    /// every record intact may recover the original log, never a different one.
    func testFlippedPageHeaderBytesAreRefused() throws {
        let directory = try TemporaryDirectory()
        let (path, log, pristine) = try cleanLog(in: directory)
        let pageSize = readBigEndian32(pristine, at: 16) == 1 ? 65536 : readBigEndian32(pristine, at: 16) >> 16
        XCTAssertEqual(pristine.count % pageSize, 0)
        let marker = Array("ENTRY-".utf8)
        let leafPages = (1..<pristine.count / pageSize).filter { page in
            let bytes = Array(pristine[page * pageSize..<(page + 1) * pageSize])
            return bytes[0] == 0x0D && !occurrences(of: marker, in: bytes).isEmpty
        }
        XCTAssertGreaterThanOrEqual(leafPages.count, 2)
        var refused = 0, harmless: [String] = []
        for page in leafPages {
            for offset in 0..<8 {
                for mask: UInt8 in [0x01, 0x80, 0xFF] {
                    var damaged = pristine
                    damaged[page * pageSize + offset] ^= mask
                    switch recoverAfterWriting(damaged, to: path) {
                    case .failure(let error):
                        XCTAssertNotNil(error as? StoreError, "page \(page) byte \(offset) mask \(mask): \(error)")
                        refused += 1
                    case .success(let recovered):
                        XCTAssertEqual(recovered, log, "page \(page) byte \(offset) mask \(mask) recovered a different log")
                        harmless.append("page \(page) byte \(offset) mask \(mask)")
                    }
                }
            }
        }
        XCTAssertGreaterThan(refused, 0)
        XCTAssertEqual(harmless, [], "flips that went unnoticed")
    }

    func testTruncatedMainFileIsRefused() throws {
        let directory = try TemporaryDirectory()
        let (path, _, pristine) = try cleanLog(in: directory)
        let pageSize = readBigEndian32(pristine, at: 16) >> 16
        let result = recoverAfterWriting(Array(pristine.prefix(pristine.count - pageSize)), to: path)
        XCTAssertThrowsError(try result.get()) { XCTAssertNotNil($0 as? StoreError, "\($0)") }
    }
}
