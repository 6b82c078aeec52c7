import XCTest
import Consensus
@testable import Bus

// MARK: - Fixtures

private let n1 = NodeID(1)
private let n2 = NodeID(2)

private func message(_ body: Message.Body, term: UInt64 = 7) -> Message {
    Message(from: n1, to: n2, term: term, body: body)
}

/// One message of every body case, with the variants that change the bytes (bools, optional
/// rejection, empty and non-empty entry lists, entry kinds, empty and large data).
private let everyBody: [Message] = [
    message(.requestVote(pre: false, lastIndex: 10, lastTerm: 3)),
    message(.requestVote(pre: true, lastIndex: 0, lastTerm: 0)),
    message(.voteResponse(pre: false, granted: false)),
    message(.voteResponse(pre: false, granted: true)),
    message(.voteResponse(pre: true, granted: false)),
    message(.voteResponse(pre: true, granted: true)),
    message(.append(prevIndex: 5, prevTerm: 2, entries: [], commit: 4)),
    message(.append(prevIndex: 5, prevTerm: 2, entries: [
        Entry(index: 6, term: 7, kind: .noop),
        Entry(index: 7, term: 7, kind: .command, data: [0xDE, 0xAD, 0xBE, 0xEF]),
        Entry(index: 8, term: 7, kind: .command, data: []),
    ], commit: 6)),
    message(.append(prevIndex: 0, prevTerm: 0, entries: [
        Entry(index: 1, term: 1, data: (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }),
    ], commit: 0)),
    message(.appendResponse(index: 42, rejection: nil)),
    message(.appendResponse(index: 42, rejection: Message.Rejection(hintIndex: 40, hintTerm: 6))),
    message(.appendResponse(index: 0, rejection: Message.Rejection(hintIndex: 0, hintTerm: 0))),
    message(.heartbeat(commit: 99)),
    message(.heartbeatResponse),
    message(.snapshot(Snapshot(metadata: SnapshotMetadata(index: 100, term: 5, voters: [n1, n2, NodeID(3)]),
                               data: Array("state machine bytes".utf8)))),
    message(.snapshot(Snapshot(metadata: SnapshotMetadata(index: 0, term: 0, voters: []), data: []))),
    message(.snapshot(Snapshot(metadata: SnapshotMetadata(index: 1 << 40, term: 9, voters: [NodeID(UInt64.max)]),
                               data: [UInt8](repeating: 0x5A, count: 70_000)))),
    message(.readIndex(context: 12345)),
    message(.readIndexResponse(context: 12345, index: 0)),
    message(.readIndexResponse(context: 12345, index: 678)),
    message(.readProbe(round: 3, commit: 77)),
    message(.readProbeAck(round: 3)),
    Message(from: NodeID(UInt64.max), to: NodeID(1 << 63), term: UInt64.max, body: .heartbeat(commit: UInt64.max)),
]

/// A batch small enough to corrupt byte by byte, still with one message of every body tag.
private let smallBatch: [Message] = [
    message(.requestVote(pre: true, lastIndex: 300, lastTerm: 2)),
    message(.voteResponse(pre: false, granted: true)),
    message(.append(prevIndex: 5, prevTerm: 2, entries: [
        Entry(index: 6, term: 7, kind: .noop),
        Entry(index: 7, term: 7, data: [1, 2, 3]),
    ], commit: 6)),
    message(.appendResponse(index: 9, rejection: Message.Rejection(hintIndex: 8, hintTerm: 2))),
    message(.appendResponse(index: 9, rejection: nil)),
    message(.heartbeat(commit: 128)),
    message(.heartbeatResponse),
    message(.snapshot(Snapshot(metadata: SnapshotMetadata(index: 100, term: 5, voters: [n1, n2]), data: [9, 8]))),
    message(.readIndex(context: 1)),
    message(.readIndexResponse(context: 1, index: 2)),
    message(.readProbe(round: 3, commit: 4)),
    message(.readProbeAck(round: 3)),
]

/// A uniform value of a random bit width, so one-byte and ten-byte varints both occur.
private func randomValue(_ rng: inout Xoshiro256) -> UInt64 {
    rng.next() >> rng.below(64)
}

private func randomNode(_ rng: inout Xoshiro256) -> NodeID {
    NodeID(max(1, randomValue(&rng)))
}

private func randomBytes(_ rng: inout Xoshiro256, maxCount: UInt64) -> [UInt8] {
    (0..<rng.below(maxCount + 1)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
}

private func randomMessage(_ rng: inout Xoshiro256) -> Message {
    let body: Message.Body
    switch rng.below(11) {
    case 0: body = .requestVote(pre: rng.below(2) == 1, lastIndex: randomValue(&rng), lastTerm: randomValue(&rng))
    case 1: body = .voteResponse(pre: rng.below(2) == 1, granted: rng.below(2) == 1)
    case 2:
        let entries = (0..<rng.below(6)).map { _ in
            Entry(index: randomValue(&rng), term: randomValue(&rng), kind: rng.below(2) == 0 ? .command : .noop,
                  data: randomBytes(&rng, maxCount: rng.below(20) == 0 ? 1000 : 40))
        }
        body = .append(prevIndex: randomValue(&rng), prevTerm: randomValue(&rng), entries: entries, commit: randomValue(&rng))
    case 3:
        let rejection = rng.below(2) == 0 ? nil : Message.Rejection(hintIndex: randomValue(&rng), hintTerm: randomValue(&rng))
        body = .appendResponse(index: randomValue(&rng), rejection: rejection)
    case 4: body = .heartbeat(commit: randomValue(&rng))
    case 5: body = .heartbeatResponse
    case 6:
        let voters = (0..<rng.below(8)).map { _ in randomNode(&rng) }
        body = .snapshot(Snapshot(metadata: SnapshotMetadata(index: randomValue(&rng), term: randomValue(&rng), voters: voters),
                                  data: randomBytes(&rng, maxCount: 300)))
    case 7: body = .readIndex(context: randomValue(&rng))
    case 8: body = .readIndexResponse(context: randomValue(&rng), index: randomValue(&rng))
    case 9: body = .readProbe(round: randomValue(&rng), commit: randomValue(&rng))
    default: body = .readProbeAck(round: randomValue(&rng))
    }
    return Message(from: randomNode(&rng), to: randomNode(&rng), term: randomValue(&rng), body: body)
}

/// The bytes of a one-message batch from n1 to n2 in term 7 with `body` (tag and fields).
private func batch(body: [UInt8]) -> [UInt8] { [1, 1, 1, 2, 7] + body }

private func decodeError(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> MessageCodecError? {
    do {
        let messages = try MessageCodec.decode(bytes)
        XCTFail("decoded \(messages) from \(bytes)", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

// MARK: - Tests

final class MessageCodecTests: XCTestCase {
    // MARK: Round trips

    func testEveryBodyCaseRoundTrips() throws {
        for message in everyBody {
            XCTAssertEqual(try MessageCodec.decode(MessageCodec.encode([message])), [message], "\(message)")
        }
        XCTAssertEqual(try MessageCodec.decode(MessageCodec.encode(everyBody)), everyBody)
    }

    func testEmptyBatchRoundTrips() throws {
        XCTAssertEqual(MessageCodec.encode([]), [1, 0])
        XCTAssertEqual(try MessageCodec.decode([1, 0]), [])
    }

    func testSeededRandomBatchesRoundTrip() throws {
        var rng = Xoshiro256(seed: 0x4D45_5348)
        var total = 0
        for _ in 0..<300 {
            let messages = (0..<rng.below(20)).map { _ in randomMessage(&rng) }
            total += messages.count
            let bytes = MessageCodec.encode(messages)
            XCTAssertEqual(try MessageCodec.decode(bytes), messages)
        }
        let big = (0..<3000).map { _ in randomMessage(&rng) }
        XCTAssertEqual(try MessageCodec.decode(MessageCodec.encode(big)), big)
        XCTAssertGreaterThan(total + big.count, 5000)
    }

    // MARK: The documented layout (Protocols/mesh.md), byte for byte

    func testBytesFollowTheDocumentedLayout() {
        let heartbeat = Message(from: NodeID(1), to: NodeID(2), term: 300, body: .heartbeat(commit: 5))
        XCTAssertEqual(MessageCodec.encode([heartbeat]), [0x01, 0x01, 0x01, 0x02, 0xAC, 0x02, 5, 5])

        XCTAssertEqual(MessageCodec.encode([message(.requestVote(pre: true, lastIndex: 128, lastTerm: 3))]),
                       batch(body: [1, 1, 0x80, 0x01, 3]))
        XCTAssertEqual(MessageCodec.encode([message(.voteResponse(pre: false, granted: true))]), batch(body: [2, 0, 1]))
        XCTAssertEqual(MessageCodec.encode([message(.append(prevIndex: 5, prevTerm: 2, entries: [
            Entry(index: 6, term: 7, kind: .noop),
            Entry(index: 7, term: 7, data: [0xAA, 0xBB]),
        ], commit: 6))]), batch(body: [3, 5, 2, 2, 6, 7, 1, 0, 7, 7, 0, 2, 0xAA, 0xBB, 6]))
        XCTAssertEqual(MessageCodec.encode([message(.appendResponse(index: 9, rejection: nil))]), batch(body: [4, 9, 0]))
        XCTAssertEqual(MessageCodec.encode([message(.appendResponse(index: 9, rejection: .init(hintIndex: 8, hintTerm: 2)))]),
                       batch(body: [4, 9, 1, 8, 2]))
        XCTAssertEqual(MessageCodec.encode([message(.heartbeatResponse)]), batch(body: [6]))
        XCTAssertEqual(MessageCodec.encode([message(.snapshot(Snapshot(
            metadata: SnapshotMetadata(index: 100, term: 5, voters: [n1, n2, NodeID(3)]), data: [0x10, 0x20])))]),
                       batch(body: [7, 100, 5, 3, 1, 2, 3, 2, 0x10, 0x20]))
        XCTAssertEqual(MessageCodec.encode([message(.readIndex(context: 4))]), batch(body: [8, 4]))
        XCTAssertEqual(MessageCodec.encode([message(.readIndexResponse(context: 4, index: 11))]), batch(body: [9, 4, 11]))
        XCTAssertEqual(MessageCodec.encode([message(.readProbe(round: 3, commit: 12))]), batch(body: [10, 3, 12]))
        XCTAssertEqual(MessageCodec.encode([message(.readProbeAck(round: 3))]), batch(body: [11, 3]))
    }

    // MARK: Hostile and damaged input

    func testEveryTruncationIsRefused() {
        for messages in [smallBatch, everyBody] {
            let bytes = MessageCodec.encode(messages)
            // Every prefix of the small batch; the large one (big entries) at a stride plus its edges.
            let step = messages == smallBatch ? 1 : 997
            var lengths = Array(stride(from: 0, to: bytes.count, by: step))
            lengths += (0..<min(512, bytes.count)).flatMap { [$0, bytes.count - 1 - $0] }
            for length in lengths {
                XCTAssertThrowsError(try MessageCodec.decode(Array(bytes[..<length])), "prefix of \(length) bytes")
            }
        }
    }

    func testEverySingleByteCorruptionIsRefusedOrReencodesToItself() {
        let original = MessageCodec.encode(smallBatch)
        var accepted = 0
        for position in original.indices {
            for value in 0...UInt8.max where value != original[position] {
                var corrupted = original
                corrupted[position] = value
                guard let decoded = try? MessageCodec.decode(corrupted) else { continue }
                accepted += 1
                XCTAssertEqual(MessageCodec.encode(decoded), corrupted, "byte \(position) set to \(value)")
            }
        }
        // Corrupting a field's value (a term, a data byte) yields another valid batch.
        XCTAssertGreaterThan(accepted, 0)
    }

    func testUnsupportedVersionIsRefused() {
        for version: UInt8 in [0, 2, 0xFF] {
            var bytes = MessageCodec.encode(smallBatch)
            bytes[0] = version
            XCTAssertEqual(decodeError(bytes), .unsupportedVersion(found: version, supported: 1))
        }
        XCTAssertEqual(decodeError([]), .truncated(field: "the batch header's version"))
    }

    func testBoolBytesOtherThanZeroOrOneAreRefused() {
        XCTAssertEqual(decodeError(batch(body: [1, 2, 0, 0])), .invalidBool(field: "message 0 (requestVote) pre", byte: 2))
        XCTAssertEqual(decodeError(batch(body: [2, 0, 0xFF])), .invalidBool(field: "message 0 (voteResponse) granted", byte: 0xFF))
        XCTAssertEqual(decodeError(batch(body: [4, 9, 2, 8, 2])),
                       .invalidBool(field: "message 0 (appendResponse) rejection presence", byte: 2))
    }

    func testUnknownEntryKindIsRefused() {
        XCTAssertEqual(decodeError(batch(body: [3, 5, 2, 2, 6, 7, 1, 0, 7, 7, 2, 0, 6])),
                       .unknownEntryKind(field: "message 0 (append), entry 1 kind", byte: 2))
    }

    func testUnknownBodyTagIsRefused() {
        for tag: UInt8 in [0, 12, 0xFF] {
            XCTAssertEqual(decodeError(batch(body: [tag, 0, 0, 0])), .unknownBodyTag(field: "message 0 body tag", tag: tag))
        }
    }

    func testNodeIDZeroIsRefused() {
        XCTAssertEqual(decodeError([1, 1, 0, 2, 7, 6]), .zeroNodeID(field: "message 0 from"))
        XCTAssertEqual(decodeError([1, 1, 1, 0, 7, 6]), .zeroNodeID(field: "message 0 to"))
        XCTAssertEqual(decodeError(batch(body: [7, 100, 5, 2, 1, 0, 0])),
                       .zeroNodeID(field: "message 0 (snapshot), voter 1 id"))
    }

    func testNonCanonicalVarintIsRefused() {
        // 7 as two bytes (0x87 0x00) instead of one: a second encoding of the same batch.
        XCTAssertEqual(decodeError([1, 1, 1, 2, 0x87, 0x00, 6]), .malformedVarint(field: "message 0 term"))
    }

    func testTrailingBytesAreRefused() {
        XCTAssertEqual(decodeError(MessageCodec.encode(smallBatch) + [0]), .trailingBytes(count: 1))
        // A count smaller than the messages present leaves the rest over.
        XCTAssertEqual(decodeError([1, 1, 1, 2, 7, 6, 1, 2, 7, 6]), .trailingBytes(count: 4))
    }

    func testHugeCountsWithFewBytesAreRefusedBeforeAllocating() {
        let huge: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        // Message count: 2^64 − 1 messages announced in 12 bytes.
        XCTAssertEqual(decodeError([1] + huge + [0]),
                       .countTooLarge(field: "the batch header's message count", count: UInt64.max, available: 1))
        // One more message than the bytes could hold at four bytes each.
        XCTAssertEqual(decodeError([1, 3, 1, 2, 7, 6, 1, 2, 7, 6]),
                       .countTooLarge(field: "the batch header's message count", count: 3, available: 8))
        // Entry count, voter count, data lengths.
        XCTAssertEqual(decodeError(batch(body: [3, 5, 2] + huge + [6])),
                       .countTooLarge(field: "message 0 (append) entry count", count: UInt64.max, available: 1))
        XCTAssertEqual(decodeError(batch(body: [3, 5, 2, 1, 6, 7, 0, 0x80, 0x80, 0x80, 0x80, 0x01, 1, 2, 3])),
                       .countTooLarge(field: "message 0 (append), entry 0 data length", count: 1 << 28, available: 3))
        XCTAssertEqual(decodeError(batch(body: [7, 100, 5] + huge + [1])),
                       .countTooLarge(field: "message 0 (snapshot) voter count", count: UInt64.max, available: 1))
        XCTAssertEqual(decodeError(batch(body: [7, 100, 5, 0] + huge + [1])),
                       .countTooLarge(field: "message 0 (snapshot) snapshot data length", count: UInt64.max, available: 1))
    }

    func testErrorDescriptionsNameTheProblem() {
        XCTAssertEqual(MessageCodecError.unsupportedVersion(found: 2, supported: 1).description,
                       "Raft message batch has codec version 2, this build reads 1: the peer runs an incompatible release")
        XCTAssertEqual(MessageCodecError.countTooLarge(field: "message 0 (append) entry count", count: 9, available: 3).description,
                       "Raft message batch: message 0 (append) entry count announces 9, more than the 3 remaining bytes can hold")
    }
}
