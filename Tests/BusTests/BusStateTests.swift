import XCTest
import Consensus
@testable import Bus

// MARK: - Fixtures

private let anna = "CN=Anna Schmidt,OU=operator,O=Berufsfeuerwehr"
private let gateway = "CN=paging-gw-1,OU=gateway,O=Berufsfeuerwehr"
private let partner = "CN=Rettungsdienst Süd,OU=partner,O=DRK" // non-ASCII on purpose

private func topic(_ name: String) -> TopicName { try! TopicName(name) }
private func sub(_ name: String) -> SubscriptionName { try! SubscriptionName(name) }
private func cid(_ raw: String) -> CommandID { try! CommandID(raw) }
private func retention(count: UInt64 = 0, age: UInt64 = 0) -> Retention { try! Retention(maxCount: count, maxAgeMillis: age) }

private func envelope(_ command: BusCommand, id: String, sender: String = anna, at timestamp: UInt64) -> CommandEnvelope {
    try! command.envelope(id: cid(id), sender: sender, timestamp: timestamp)
}

private func create(_ name: String, _ r: Retention) -> BusCommand { .createTopic(.init(name: topic(name), retention: r)) }
private func publish(_ name: String, _ payload: [UInt8]) -> BusCommand { .publish(try! .init(topic: topic(name), payload: payload)) }
private func subscribe(_ name: String, to t: String, _ start: SubscriptionStart) -> BusCommand {
    .subscribe(.init(subscription: sub(name), topic: topic(t), start: start))
}
private func ack(_ name: String, _ offset: UInt64) -> BusCommand { .ack(.init(subscription: sub(name), offset: offset)) }
private func unsubscribe(_ name: String) -> BusCommand { .unsubscribe(.init(subscription: sub(name))) }

/// Feeds entries with consecutive indexes to a `BusState`, as a replica would.
private final class Feeder {
    let state: BusState
    var index: UInt64 = 0
    var term: UInt64 = 1
    var nextID = 0
    var now: UInt64 = 0

    init(_ state: BusState = BusState()) { self.state = state }

    @discardableResult
    func raw(_ data: [UInt8], kind: Entry.Kind = .command) -> CommandOutcome? {
        index += 1
        return state.execute(Entry(index: index, term: term, kind: kind, data: data))
    }

    @discardableResult
    func send(_ env: CommandEnvelope) -> CommandOutcome? { raw(env.encode()) }

    /// Sends `command` with a fresh id at the current time (advanced by `after` ms first).
    @discardableResult
    func send(_ command: BusCommand, sender: String = anna, after: UInt64 = 1) -> CommandOutcome? {
        now += after
        nextID += 1
        return send(envelope(command, id: "cmd-\(nextID)", sender: sender, at: now))
    }
}

/// CRC-32C (Castagnoli), one table, byte at a time: an independent oracle for re-sealing
/// mutated snapshots.
private let crcTable: [UInt32] = (0..<256).map { (n: UInt32) in
    var c = n
    for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
    return c
}

private func crc32c(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes { crc = crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    return ~crc
}

private func resealed(_ snapshot: [UInt8]) -> [UInt8] {
    var body = Array(snapshot.dropLast(4))
    let crc = crc32c(body)
    body += [UInt8(crc >> 24), UInt8(truncatingIfNeeded: crc >> 16), UInt8(truncatingIfNeeded: crc >> 8), UInt8(truncatingIfNeeded: crc)]
    return body
}

private func payloads(_ result: Result<ReadResult, BusRejection>) -> [[UInt8]]? {
    guard case .success(let r) = result else { return nil }
    return r.messages.map(\.payload)
}

/// A small domain machine: counts the commands of its namespace.
private final class CounterMachine: DomainStateMachine {
    var count: UInt8 = 0
    func apply(_ envelope: CommandEnvelope, at index: UInt64) -> CommandOutcome {
        guard envelope.type == "alarm.raise" else { return .rejected(.refused("alarm: unknown command \(envelope.type)")) }
        count &+= 1
        return .accepted(result: [count])
    }
    func snapshot() -> [UInt8] { [count] }
    func restore(from bytes: [UInt8]) throws {
        guard bytes.count == 1 else { throw BusError.inconsistentSnapshot(reason: "counter state must be 1 byte") }
        count = bytes[0]
    }
    func reset() { count = 0 }
}

final class BusStateTests: XCTestCase {

    // MARK: - Envelope codec

    private var sampleEnvelope: CommandEnvelope {
        try! CommandEnvelope(type: "alarm.raise", id: cid("0f8c1a2e-retry 1"), sender: partner,
                             timestamp: 1_717_171_717_171, payload: Array(0..<200).map { UInt8($0) })
    }

    func testEnvelopeRoundTripsAndStartsWithVersion1() throws {
        for env in [sampleEnvelope,
                    try CommandEnvelope(type: "bus.publish", id: cid("x"), sender: "a", timestamp: 0, payload: []),
                    try CommandEnvelope(type: "a.b", id: cid(String(repeating: "~", count: 64)),
                                        sender: String(repeating: "ü", count: 128), timestamp: .max,
                                        payload: [UInt8](repeating: 0xFF, count: CommandEnvelope.maxPayloadByteCount))] {
            let bytes = env.encode()
            XCTAssertEqual(bytes.first, 1)
            let decoded = try CommandEnvelope.decode(bytes)
            XCTAssertEqual(decoded, env)
            XCTAssertEqual(decoded.encode(), bytes)
        }
        XCTAssertEqual(sampleEnvelope.namespace, "alarm")
    }

    func testEnvelopeRefusesEveryTruncation() {
        let bytes = sampleEnvelope.encode()
        for length in 0..<bytes.count {
            XCTAssertThrowsError(try CommandEnvelope.decode(Array(bytes.prefix(length))), "prefix \(length)")
        }
    }

    func testEnvelopeBitFlipsEitherFailOrDecodeCanonically() {
        let bytes = sampleEnvelope.encode()
        for bit in 0..<(bytes.count * 8) {
            var flipped = bytes
            flipped[bit / 8] ^= 1 << UInt8(bit % 8)
            do {
                let env = try CommandEnvelope.decode(flipped)
                XCTAssertEqual(env.encode(), flipped, "bit \(bit) decoded to a non-canonical envelope")
            } catch {
                XCTAssertFalse(error.description.isEmpty)
            }
        }
    }

    func testEnvelopeRefusesHostileFieldsWithTypedErrors() {
        let good = sampleEnvelope.encode()
        let format = "command envelope"

        var version2 = good
        version2[0] = 2
        XCTAssertEqual(decodeError(version2), .unsupportedVersion(format: format, found: 2, supported: 1))
        XCTAssertEqual(decodeError(good + [0]), .trailingBytes(format: format, count: 1))
        XCTAssertEqual(decodeError([]), .truncated(format: format, field: "version"))

        // A type length of 65, a payload length of 2^62: refused on the prefix, before allocation.
        XCTAssertEqual(decodeError([1, 65] + [UInt8](repeating: 0x61, count: 65)),
                       .fieldTooLong(format: format, field: "type", length: 65, limit: 64))
        let head: [UInt8] = [1, 3] + Array("a.b".utf8) + [1, 0x78] + [1, 0x61] + [UInt8](repeating: 0, count: 8)
        XCTAssertEqual(decodeError(head + [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]),
                       .fieldTooLong(format: format, field: "payload", length: 1 << 62, limit: CommandEnvelope.maxPayloadByteCount))
        XCTAssertEqual(decodeError(head + [0x05, 1, 2]), .truncated(format: format, field: "payload"))
        // Overlong varint (a redundant zero group).
        XCTAssertEqual(decodeError([1, 0x83, 0x00] + Array("a.b".utf8)), .malformedVarint(format: format, field: "type"))

        // Rule violations name the field.
        for (type, field) in [("Alarm.raise", "type"), ("alarm", "type"), (".alarm", "type")] {
            let bytes: [UInt8] = [1, UInt8(type.utf8.count)] + Array(type.utf8) + [1, 0x78, 1, 0x61] + [UInt8](repeating: 0, count: 8) + [0]
            guard case .invalidField(_, let f, _)? = decodeError(bytes) else { return XCTFail("\(type) accepted") }
            XCTAssertEqual(f, field)
        }
        let badID: [UInt8] = [1, 3] + Array("a.b".utf8) + [1, 0x07, 1, 0x61] + [UInt8](repeating: 0, count: 8) + [0]
        guard case .invalidField(_, "id", _)? = decodeError(badID) else { return XCTFail("control character id accepted") }
        let badUTF8: [UInt8] = [1, 3] + Array("a.b".utf8) + [1, 0x78, 2, 0xC3, 0x28] + [UInt8](repeating: 0, count: 8) + [0]
        XCTAssertEqual(decodeError(badUTF8), .invalidField(format: format, field: "sender", reason: "is not valid UTF-8"))
        let controlSender: [UInt8] = [1, 3] + Array("a.b".utf8) + [1, 0x78, 2, 0x61, 0x0A] + [UInt8](repeating: 0, count: 8) + [0]
        XCTAssertEqual(decodeError(controlSender), .invalidField(format: format, field: "sender", reason: "contains a control character"))
        let emptySender: [UInt8] = [1, 3] + Array("a.b".utf8) + [1, 0x78, 0] + [UInt8](repeating: 0, count: 8) + [0]
        XCTAssertEqual(decodeError(emptySender), .invalidField(format: format, field: "sender", reason: "is empty"))
    }

    private func decodeError(_ bytes: [UInt8]) -> BusError? {
        do {
            _ = try CommandEnvelope.decode(bytes)
            return nil
        } catch {
            return error
        }
    }

    func testEnvelopeAndIdentifierInitialisersValidate() {
        XCTAssertThrowsError(try CommandID(""))
        XCTAssertThrowsError(try CommandID(String(repeating: "a", count: 65)))
        XCTAssertThrowsError(try CommandID("tab\there"))
        XCTAssertThrowsError(try CommandID("ü"))
        XCTAssertNoThrow(try CommandID("retry 2 of 550e8400-e29b-41d4-a716-446655440000"))
        XCTAssertThrowsError(try CommandEnvelope(type: "bus.publish", id: cid("1"), sender: "", timestamp: 0, payload: []))
        XCTAssertThrowsError(try CommandEnvelope(type: "bus.publish", id: cid("1"), sender: String(repeating: "x", count: 257),
                                                 timestamp: 0, payload: []))
        XCTAssertThrowsError(try CommandEnvelope(type: "BUS.publish", id: cid("1"), sender: "x", timestamp: 0, payload: []))
        XCTAssertThrowsError(try CommandEnvelope(type: "bus.", id: cid("1"), sender: "x", timestamp: 0, payload: []))
        XCTAssertThrowsError(try CommandEnvelope(type: "bus.publish", id: cid("1"), sender: "x", timestamp: 0,
                                                 payload: [UInt8](repeating: 0, count: CommandEnvelope.maxPayloadByteCount + 1)))

        for valid in ["alarm/orders", "a", "partner/drk/status.v1", "x_y-z", String(repeating: "a", count: 128)] {
            XCTAssertNoThrow(try TopicName(valid), valid)
            XCTAssertNoThrow(try SubscriptionName(valid), valid)
        }
        for invalid in ["", "/a", "a/", "a//b", "Alarm", "a b", "ä", String(repeating: "a", count: 129)] {
            XCTAssertThrowsError(try TopicName(invalid), invalid)
            XCTAssertThrowsError(try SubscriptionName(invalid), invalid)
        }
        XCTAssertThrowsError(try Retention(maxCount: 0, maxAgeMillis: 0))
        XCTAssertNoThrow(try Retention(maxCount: 0, maxAgeMillis: 1))
        XCTAssertNoThrow(try Retention(maxCount: 1, maxAgeMillis: 0))
        XCTAssertThrowsError(try BusCommand.Publish(topic: topic("t"), payload: [UInt8](repeating: 0, count: 256 * 1024 + 1)))
        XCTAssertThrowsError(try BusState.Config(dedupWindowMillis: 0))
        XCTAssertThrowsError(try BusState.Config(dedupMaxEntries: 0))
    }

    // MARK: - Bus command codecs

    private let sampleCommands: [BusCommand] = [
        create("alarm/orders", retention(count: 1000, age: 3_600_000)),
        publish("alarm/orders", Array("F2 Hauptstraße 5".utf8)),
        publish("alarm/orders", []),
        subscribe("paging-gw", to: "alarm/orders", .earliest),
        subscribe("paging-gw", to: "alarm/orders", .latest),
        subscribe("paging-gw", to: "alarm/orders", .offset(.max)),
        ack("paging-gw", 42),
        unsubscribe("paging-gw"),
    ]

    func testBusCommandsRoundTripAndRefuseEveryTruncation() throws {
        for command in sampleCommands {
            let bytes = command.encodePayload()
            XCTAssertEqual(bytes.first, 1)
            XCTAssertEqual(try BusCommand.decode(type: command.type, payload: bytes), command)
            for length in 0..<bytes.count {
                XCTAssertThrowsError(try BusCommand.decode(type: command.type, payload: Array(bytes.prefix(length))))
            }
            XCTAssertThrowsError(try BusCommand.decode(type: command.type, payload: bytes + [0]))
            var version = bytes
            version[0] = 9
            XCTAssertThrowsError(try BusCommand.decode(type: command.type, payload: version))
            for bit in 0..<(bytes.count * 8) {
                var flipped = bytes
                flipped[bit / 8] ^= 1 << UInt8(bit % 8)
                if let decoded = try? BusCommand.decode(type: command.type, payload: flipped) {
                    XCTAssertEqual(decoded.encodePayload(), flipped)
                }
            }
        }
        XCTAssertNil(try BusCommand.decode(type: "bus.topic.delete", payload: [1]))
        // A create-topic without any bound, an unknown subscribe start.
        let unbounded = [1, 1, 0x74] + [UInt8](repeating: 0, count: 16)
        XCTAssertThrowsError(try BusCommand.decode(type: "bus.topic.create", payload: unbounded))
        XCTAssertThrowsError(try BusCommand.decode(type: "bus.subscribe", payload: [1, 1, 0x73, 1, 0x74, 3]))
    }

    // MARK: - Topics, publish, read

    func testPublishAssignsConsecutiveOffsetsAndReadsResume() {
        let f = Feeder()
        XCTAssertEqual(f.send(create("alarm/orders", retention(count: 100))), .topicCreated)
        for i in 0..<5 {
            XCTAssertEqual(f.send(publish("alarm/orders", [UInt8(i)])), .published(topic: topic("alarm/orders"), offset: UInt64(i)))
        }
        let info = f.state.topic(named: topic("alarm/orders"))
        XCTAssertEqual(info?.firstOffset, 0)
        XCTAssertEqual(info?.nextOffset, 5)

        guard case .success(let first) = f.state.read(topic: topic("alarm/orders"), from: 0, limit: 2) else { return XCTFail() }
        XCTAssertEqual(first.messages.map(\.payload), [[0], [1]])
        XCTAssertEqual(first.messages.map(\.offset), [0, 1])
        XCTAssertEqual(first.nextOffset, 2)
        XCTAssertEqual(first.messages.first?.sender, anna)
        XCTAssertEqual(first.messages.first?.commandID, cid("cmd-2"))
        XCTAssertEqual(payloads(f.state.read(topic: topic("alarm/orders"), from: first.nextOffset)), [[2], [3], [4]])

        guard case .success(let atEnd) = f.state.read(topic: topic("alarm/orders"), from: 5) else { return XCTFail() }
        XCTAssertEqual(atEnd.messages, [])
        XCTAssertEqual(atEnd.nextOffset, 5)
        XCTAssertEqual(atEnd.endOffset, 5)
        XCTAssertEqual(f.state.read(topic: topic("alarm/orders"), from: 6), .failure(.offsetBeyondEnd(requested: 6, nextOffset: 5)))
        XCTAssertEqual(f.state.read(topic: topic("nope"), from: 0), .failure(.unknownTopic(topic("nope"))))
        XCTAssertEqual(f.send(publish("nope", [1])), .rejected(.unknownTopic(topic("nope"))))
    }

    func testReadStopsAtMaxBytesButReturnsAtLeastOneMessage() {
        let f = Feeder()
        f.send(create("t", retention(count: 10)))
        f.send(publish("t", [UInt8](repeating: 1, count: 100)))
        f.send(publish("t", [UInt8](repeating: 2, count: 100)))
        f.send(publish("t", [UInt8](repeating: 3, count: 100)))
        XCTAssertEqual(payloads(f.state.read(topic: topic("t"), from: 0, maxBytes: 10))?.count, 1)
        XCTAssertEqual(payloads(f.state.read(topic: topic("t"), from: 0, maxBytes: 200))?.count, 2)
        XCTAssertEqual(payloads(f.state.read(topic: topic("t"), from: 0, limit: 0))?.count, 0)
    }

    func testCreatingAnExistingTopicIsIdempotentButRefusesOtherRetention() {
        let f = Feeder()
        XCTAssertEqual(f.send(create("t", retention(count: 5))), .topicCreated)
        f.send(publish("t", [9]))
        XCTAssertEqual(f.send(create("t", retention(count: 5))), .topicCreated)
        XCTAssertEqual(f.state.topic(named: topic("t"))?.nextOffset, 1)
        XCTAssertEqual(f.send(create("t", retention(count: 6))),
                       .rejected(.topicExists(topic("t"), existing: retention(count: 5), requested: retention(count: 6))))
        XCTAssertEqual(f.state.topic(named: topic("t"))?.retention, retention(count: 5))
    }

    // MARK: - Retention

    func testRetentionByCountTrimsTheHeadAndReadsReportTheLoss() {
        let f = Feeder()
        f.send(create("t", retention(count: 3)))
        for i in 0..<10 { f.send(publish("t", [UInt8(i)])) }
        let info = f.state.topic(named: topic("t"))!
        XCTAssertEqual(info.firstOffset, 7)
        XCTAssertEqual(info.nextOffset, 10)
        XCTAssertEqual(payloads(f.state.read(topic: topic("t"), from: 7)), [[7], [8], [9]])
        XCTAssertEqual(f.state.read(topic: topic("t"), from: 2), .failure(.trimmed(requested: 2, firstAvailable: 7)))
        XCTAssertTrue(BusRejection.trimmed(requested: 2, firstAvailable: 7).description.contains("5 messages lost"))
    }

    func testRetentionByAgeTrimsEveryTopicAsTheClockAdvances() {
        let f = Feeder()
        f.send(create("short", retention(age: 1_000)))
        f.send(create("long", retention(age: 10_000)))
        f.send(create("other", retention(count: 1)))
        f.send(publish("short", [1]), after: 0)     // at t0
        f.send(publish("long", [1]), after: 0)      // at t0
        f.send(publish("short", [2]), after: 500)   // t0+500
        f.send(publish("other", [0]), after: 500)   // t0+1000: age exactly 1000 is kept
        XCTAssertEqual(f.state.topic(named: topic("short"))?.firstOffset, 0)
        f.send(publish("other", [0]), after: 1)     // t0+1001: the first message of "short" goes
        XCTAssertEqual(f.state.topic(named: topic("short"))?.firstOffset, 1)
        f.send(publish("other", [0]), after: 500)   // t0+1501: the second one too
        XCTAssertEqual(f.state.topic(named: topic("short"))?.firstOffset, 2)
        XCTAssertEqual(f.state.topic(named: topic("short"))?.messageCount, 0)
        XCTAssertEqual(f.state.topic(named: topic("long"))?.messageCount, 1)
        // A topic emptied by age keeps its offsets and is scheduled again when it gets a message.
        XCTAssertEqual(f.send(publish("short", [3])), .published(topic: topic("short"), offset: 2))
        f.send(publish("other", [0]), after: 1_001)
        XCTAssertEqual(f.state.topic(named: topic("short"))?.messageCount, 0)
        XCTAssertEqual(f.state.read(topic: topic("short"), from: 0), .failure(.trimmed(requested: 0, firstAvailable: 3)))
        f.send(publish("other", [0]), after: 10_000)
        XCTAssertEqual(f.state.topic(named: topic("long"))?.messageCount, 0)
    }

    func testAMessageExactlyMaxAgeOldIsKeptWhileAnOlderOneGoes() {
        let f = Feeder()
        f.send(create("t", retention(age: 1_000)))
        f.send(create("other", retention(count: 1)))
        f.send(publish("t", [1]), after: 10)       // t1
        f.send(publish("t", [2]), after: 1)        // t1 + 1
        f.send(publish("other", [0]), after: 1_000) // t1 + 1001: [1] is 1001 ms old, [2] exactly 1000
        XCTAssertEqual(payloads(f.state.read(topic: topic("t"), from: 1)), [[2]])
        f.send(publish("other", [0]), after: 1)
        XCTAssertEqual(f.state.topic(named: topic("t"))?.messageCount, 0)
    }

    func testAClockGoingBackDoesNotMoveStateTimeBack() {
        let f = Feeder()
        f.send(create("t", retention(age: 100)))
        f.now = 10_000
        f.send(publish("t", [1]), after: 0)
        f.now = 5_000  // a proposer with a lagging clock
        f.send(publish("t", [2]), after: 0)
        XCTAssertEqual(f.state.clock, 10_000)
        guard case .success(let r) = f.state.read(topic: topic("t"), from: 0) else { return XCTFail() }
        XCTAssertEqual(r.messages.map(\.timestamp), [10_000, 10_000])
    }

    // MARK: - Exactly once

    func testSameSenderAndIDIsAppliedOnceAndKeepsItsOutcome() {
        let f = Feeder()
        f.send(create("t", retention(count: 10)))
        let first = envelope(publish("t", [1]), id: "order-77", at: 1_000)
        XCTAssertEqual(f.send(first), .published(topic: topic("t"), offset: 0))
        let retry = envelope(publish("t", [1]), id: "order-77", at: 2_000)
        XCTAssertEqual(f.send(retry), .published(topic: topic("t"), offset: 0))
        // Even a different payload under the same id is the same command.
        XCTAssertEqual(f.send(envelope(publish("t", [2]), id: "order-77", at: 3_000)), .published(topic: topic("t"), offset: 0))
        XCTAssertEqual(f.state.topic(named: topic("t"))?.nextOffset, 1)
        XCTAssertEqual(f.state.outcome(sender: anna, id: cid("order-77")), .published(topic: topic("t"), offset: 0))

        XCTAssertEqual(f.send(envelope(publish("t", [1]), id: "order-77", sender: gateway, at: 4_000)),
                       .published(topic: topic("t"), offset: 1))
        XCTAssertEqual(f.state.topic(named: topic("t"))?.nextOffset, 2)
        XCTAssertNil(f.state.outcome(sender: partner, id: cid("order-77")))
    }

    func testRejectedCommandsAreRecordedToo() {
        let f = Feeder()
        let env = envelope(publish("missing", [1]), id: "p1", at: 1_000)
        XCTAssertEqual(f.send(env), .rejected(.unknownTopic(topic("missing"))))
        f.send(create("missing", retention(count: 1)))
        // The retry returns the recorded rejection; it is not applied now that the topic exists.
        XCTAssertEqual(f.send(env), .rejected(.unknownTopic(topic("missing"))))
        XCTAssertEqual(f.state.topic(named: topic("missing"))?.nextOffset, 0)
    }

    func testSendersDifferingOnlyByUnicodeNormalisationAreDistinct() {
        let f = Feeder()
        f.send(create("t", retention(count: 10)))
        let composed = "CN=Jos\u{E9}", decomposed = "CN=Jose\u{301}" // equal as Swift Strings
        f.send(envelope(publish("t", [1]), id: "x", sender: composed, at: 1))
        f.send(envelope(publish("t", [1]), id: "x", sender: decomposed, at: 2))
        XCTAssertEqual(f.state.topic(named: topic("t"))?.nextOffset, 2)
    }

    func testDedupEntriesExpireAfterTheWindow() throws {
        let f = Feeder(BusState(config: try .init(dedupWindowMillis: 1_000)))
        f.send(create("t", retention(count: 10)))
        XCTAssertEqual(f.send(envelope(publish("t", [1]), id: "a", at: 10_000)), .published(topic: topic("t"), offset: 0))
        XCTAssertEqual(f.send(envelope(publish("t", [1]), id: "a", at: 11_000)), .published(topic: topic("t"), offset: 0))
        XCTAssertEqual(f.state.topic(named: topic("t"))?.nextOffset, 1)
        f.send(envelope(publish("t", [9]), id: "tick", at: 11_001))
        XCTAssertNil(f.state.outcome(sender: anna, id: cid("a")))
        XCTAssertEqual(f.send(envelope(publish("t", [1]), id: "a", at: 11_002)), .published(topic: topic("t"), offset: 2))
    }

    func testDedupEvictsTheOldestBeyondTheEntryLimit() throws {
        let f = Feeder(BusState(config: try .init(dedupMaxEntries: 3)))
        f.send(create("t", retention(count: 100)))                    // cmd-1
        for _ in 0..<4 { f.send(publish("t", [0])) }                   // cmd-2 … cmd-5
        XCTAssertEqual(f.state.dedupEntryCount, 3)
        XCTAssertNil(f.state.outcome(sender: anna, id: cid("cmd-2")))
        XCTAssertEqual(f.state.outcome(sender: anna, id: cid("cmd-3")), .published(topic: topic("t"), offset: 1))
        // cmd-2 is forgotten, so its retry is applied again.
        XCTAssertEqual(f.send(envelope(publish("t", [0]), id: "cmd-2", at: f.now + 1)), .published(topic: topic("t"), offset: 4))
        XCTAssertNil(f.state.outcome(sender: anna, id: cid("cmd-3")))
    }

    // MARK: - Subscriptions

    func testSubscribeAtEarliestLatestOrAnOffset() {
        let f = Feeder()
        f.send(create("t", retention(count: 3)))
        for i in 0..<5 { f.send(publish("t", [UInt8(i)])) }        // retained: 2, 3, 4
        XCTAssertEqual(f.send(subscribe("early", to: "t", .earliest)), .subscribed(offset: 2))
        XCTAssertEqual(f.send(subscribe("late", to: "t", .latest)), .subscribed(offset: 5))
        XCTAssertEqual(f.send(subscribe("mid", to: "t", .offset(3))), .subscribed(offset: 3))
        XCTAssertEqual(f.send(subscribe("end", to: "t", .offset(5))), .subscribed(offset: 5))
        XCTAssertEqual(f.send(subscribe("gone", to: "t", .offset(1))), .rejected(.trimmed(requested: 1, firstAvailable: 2)))
        XCTAssertEqual(f.send(subscribe("ahead", to: "t", .offset(6))), .rejected(.offsetBeyondEnd(requested: 6, nextOffset: 5)))
        XCTAssertEqual(f.send(subscribe("x", to: "missing", .earliest)), .rejected(.unknownTopic(topic("missing"))))
        XCTAssertNil(f.state.subscription(named: sub("gone")))
        XCTAssertEqual(f.state.subscription(named: sub("mid")), Subscription(name: sub("mid"), topic: topic("t"), committedOffset: 3))
        XCTAssertEqual(f.state.subscriptionNames, [sub("early"), sub("end"), sub("late"), sub("mid")])

        // Subscribing again resumes; another topic under the same name is refused.
        f.send(create("u", retention(count: 3)))
        XCTAssertEqual(f.send(subscribe("mid", to: "t", .latest)), .subscribed(offset: 3))
        XCTAssertEqual(f.send(subscribe("mid", to: "u", .earliest)), .rejected(.subscriptionExists(sub("mid"), topic: topic("t"))))
    }

    func testAckMovesForwardOnlyAndNotBeyondTheEnd() {
        let f = Feeder()
        f.send(create("t", retention(count: 10)))
        for _ in 0..<4 { f.send(publish("t", [0])) }
        f.send(subscribe("s", to: "t", .earliest))
        XCTAssertEqual(f.send(ack("s", 2)), .acked(offset: 2))
        XCTAssertEqual(f.send(ack("s", 2)), .acked(offset: 2))
        XCTAssertEqual(f.send(ack("s", 1)), .rejected(.ackBehindCommitted(requested: 1, committed: 2)))
        XCTAssertEqual(f.send(ack("s", 5)), .rejected(.offsetBeyondEnd(requested: 5, nextOffset: 4)))
        XCTAssertEqual(f.send(ack("s", 4)), .acked(offset: 4))
        XCTAssertEqual(f.state.subscription(named: sub("s"))?.committedOffset, 4)
        XCTAssertEqual(f.send(ack("nobody", 0)), .rejected(.unknownSubscription(sub("nobody"))))
    }

    func testUnsubscribeRemovesTheSubscription() {
        let f = Feeder()
        f.send(create("t", retention(count: 10)))
        f.send(subscribe("s", to: "t", .earliest))
        XCTAssertEqual(f.send(unsubscribe("s")), .unsubscribed)
        XCTAssertNil(f.state.subscription(named: sub("s")))
        XCTAssertEqual(f.send(unsubscribe("s")), .rejected(.unknownSubscription(sub("s"))))
        XCTAssertEqual(f.send(ack("s", 0)), .rejected(.unknownSubscription(sub("s"))))
    }

    // MARK: - Entries that are not bus commands

    func testUnknownCommandTypeIsRejectedButRecorded() throws {
        let f = Feeder()
        let env = try CommandEnvelope(type: "alarm.raise", id: cid("a1"), sender: anna, timestamp: 5, payload: [1])
        XCTAssertEqual(f.send(env), .rejected(.unknownCommandType("alarm.raise")))
        XCTAssertEqual(f.state.outcome(sender: anna, id: cid("a1")), .rejected(.unknownCommandType("alarm.raise")))
        let busTypo = try CommandEnvelope(type: "bus.pubish", id: cid("a2"), sender: anna, timestamp: 5, payload: [1])
        XCTAssertEqual(f.send(busTypo), .rejected(.unknownCommandType("bus.pubish")))
        let badPayload = try CommandEnvelope(type: "bus.publish", id: cid("a3"), sender: anna, timestamp: 5, payload: [1, 200])
        guard case .rejected(.malformed(let why))? = f.send(badPayload) else { return XCTFail("malformed payload accepted") }
        XCTAssertTrue(why.contains("bus.publish"), why)
        XCTAssertNotNil(f.state.outcome(sender: anna, id: cid("a3")))
    }

    func testUndecodableEntriesAndNoopsAdvanceLastAppliedOnly() {
        let f = Feeder()
        let before = f.state.snapshot()
        guard case .rejected(.malformed)? = f.raw([7, 7, 7]) else { return XCTFail() }
        XCTAssertNil(f.raw([], kind: .noop))
        XCTAssertEqual(f.state.lastApplied, 2)
        XCTAssertEqual(f.state.undecodableCount, 1)
        XCTAssertEqual(f.state.dedupEntryCount, 0)
        XCTAssertNotEqual(f.state.snapshot(), before)
        // An entry at or below lastApplied is not applied again.
        XCTAssertNil(f.state.execute(Entry(index: 2, term: 1, data: envelope(create("t", retention(count: 1)), id: "c", at: 1).encode())))
        XCTAssertTrue(f.state.topicNames.isEmpty)
        f.term = 3
        f.raw([], kind: .noop)
        XCTAssertEqual(f.state.lastAppliedTerm, 3)
    }

    func testOnPublishedSeesEveryNewMessageOnce() {
        let f = Feeder()
        var seen: [(TopicName, UInt64)] = []
        f.state.onPublished = { seen.append(($0, $1.offset)) }
        f.send(create("t", retention(count: 10)))
        f.send(publish("t", [1]))
        f.send(envelope(publish("t", [1]), id: "cmd-2", at: f.now + 1)) // a retry: no new message
        f.send(publish("t", [2]))
        XCTAssertEqual(seen.map(\.1), [0, 1])
        XCTAssertEqual(seen.map(\.0), [topic("t"), topic("t")])
    }

    func testDomainMachinesGetTheirNamespaceAndJoinTheSnapshot() throws {
        let counter = CounterMachine()
        let f = Feeder()
        f.state.register(counter, namespace: "alarm")
        let raise = try CommandEnvelope(type: "alarm.raise", id: cid("r1"), sender: anna, timestamp: 1, payload: [])
        XCTAssertEqual(f.send(raise), .accepted(result: [1]))
        XCTAssertEqual(f.send(raise), .accepted(result: [1]))
        XCTAssertEqual(counter.count, 1)
        let other = try CommandEnvelope(type: "alarm.cancel", id: cid("r2"), sender: anna, timestamp: 1, payload: [])
        XCTAssertEqual(f.send(other), .rejected(.refused("alarm: unknown command alarm.cancel")))
        XCTAssertEqual(f.send(try CommandEnvelope(type: "helper.ask", id: cid("h"), sender: anna, timestamp: 1, payload: [])),
                       .rejected(.unknownCommandType("helper.ask")))

        let snapshot = f.state.snapshot()
        let restoredCounter = CounterMachine()
        let restored = BusState()
        restored.register(restoredCounter, namespace: "alarm")
        try restored.restore(from: snapshot)
        XCTAssertEqual(restoredCounter.count, 1)
        XCTAssertEqual(restored.snapshot(), snapshot)

        // A node without the domain refuses the snapshot; a snapshot without it resets the domain.
        XCTAssertThrowsError(try BusState().restore(from: snapshot)) { error in
            guard case BusError.inconsistentSnapshot = error else { return XCTFail("\(error)") }
        }
        try restored.restore(from: BusState().snapshot())
        XCTAssertEqual(restoredCounter.count, 0)
    }

    // MARK: - Determinism and snapshots

    /// A history touching every feature: topics with both retentions, trimming, subscriptions,
    /// retries, rejections, non-ASCII senders, no-ops and garbage.
    private func richHistory(into f: Feeder) {
        f.send(create("alarm/orders", retention(count: 2, age: 60_000)))
        f.send(create("station/1/status", retention(age: 5_000)))
        f.send(create("partner/drk", retention(count: 2)), sender: partner)
        for i in 0..<9 {
            f.send(publish(["alarm/orders", "station/1/status", "partner/drk"][i % 3], Array("msg \(i)".utf8)),
                   sender: [anna, gateway, partner][i % 3], after: UInt64(700 * i))
        }
        f.send(subscribe("paging-gw", to: "alarm/orders", .earliest), sender: gateway)
        f.send(subscribe("drk-feed", to: "partner/drk", .latest), sender: partner)
        f.send(ack("paging-gw", 7), sender: gateway)
        f.send(ack("paging-gw", 1), sender: gateway)
        f.raw([], kind: .noop)
        f.raw([0xDE, 0xAD])
        f.send(envelope(publish("alarm/orders", [1]), id: "cmd-4", at: f.now + 1))
        f.send(create("alarm/orders", retention(count: 5)))
    }

    func testReplicasFedTheSameEntriesHaveIdenticalSnapshots() {
        let a = Feeder(), b = Feeder()
        richHistory(into: a)
        richHistory(into: b)
        XCTAssertEqual(a.state.snapshot(), b.state.snapshot())
        XCTAssertEqual(a.state.stateDigest, b.state.stateDigest)
        XCTAssertEqual(a.state.stateDigest.count, 64)
        XCTAssertGreaterThan(a.state.topic(named: topic("alarm/orders"))!.firstOffset, 0)
    }

    func testSnapshotRestoreSnapshotIsByteIdenticalAndBehavesTheSame() throws {
        let original = Feeder()
        richHistory(into: original)
        let bytes = original.state.snapshot()
        XCTAssertEqual(bytes.first, 1)

        let copy = Feeder(BusState())
        try copy.state.restore(from: bytes)
        XCTAssertEqual(copy.state.snapshot(), bytes)
        XCTAssertEqual(copy.state.lastApplied, original.state.lastApplied)
        XCTAssertEqual(copy.state.clock, original.state.clock)
        copy.index = original.index
        copy.now = original.now
        copy.nextID = original.nextID

        // Time-driven expiry continues identically after the restore.
        for feeder in [original, copy] {
            feeder.send(publish("partner/drk", [1]), after: 10_000)
            feeder.send(envelope(publish("alarm/orders", [1]), id: "cmd-5", at: feeder.now + 1))
            feeder.send(ack("paging-gw", 9), sender: gateway)
        }
        XCTAssertEqual(copy.state.snapshot(), original.state.snapshot())

        let snapshot = Snapshot(metadata: SnapshotMetadata(index: original.state.lastApplied, term: 1, voters: [NodeID(1)]),
                                data: original.state.snapshot())
        let viaReplica = BusState()
        try viaReplica.restore(snapshot)
        XCTAssertEqual(viaReplica.stateDigest, original.state.stateDigest)
        var wrong = snapshot
        wrong.metadata.index += 1
        XCTAssertThrowsError(try BusState().restore(wrong)) { error in
            guard case BusError.snapshotPositionMismatch = error else { return XCTFail("\(error)") }
        }
    }

    func testRestoreRefusesTruncatedOrDamagedSnapshotsAndKeepsItsState() {
        let source = Feeder()
        richHistory(into: source)
        let bytes = source.state.snapshot()
        let target = Feeder()
        target.send(create("kept", retention(count: 1)))
        let kept = target.state.snapshot()

        for length in 0..<bytes.count {
            XCTAssertThrowsError(try target.state.restore(from: Array(bytes.prefix(length))), "prefix \(length)")
        }
        XCTAssertThrowsError(try target.state.restore(from: bytes + [0]))
        for bit in stride(from: 0, to: bytes.count * 8, by: 7) {
            var flipped = bytes
            flipped[bit / 8] ^= 1 << UInt8(bit % 8)
            XCTAssertThrowsError(try target.state.restore(from: flipped), "bit \(bit)")
        }
        var version = bytes
        version[0] = 2
        XCTAssertThrowsError(try target.state.restore(from: version)) { error in
            XCTAssertEqual(error as? BusError, .unsupportedVersion(format: "bus snapshot", found: 2, supported: 1))
        }
        XCTAssertEqual(target.state.snapshot(), kept)
    }

    func testRestoreOfResealedDamageEitherFailsOrIsCanonical() {
        // With the checksum recomputed, damage reaches the structural checks: every flipped bit must
        // be refused or decode to a state that re-encodes to exactly those bytes.
        let source = Feeder()
        richHistory(into: source)
        let bytes = source.state.snapshot()
        XCTAssertEqual(resealed(bytes), bytes, "the test's CRC-32C disagrees with the snapshot's")
        var accepted = 0
        // Every fifth bit (coprime to 8, so every bit position of a byte is hit) keeps it quick.
        for bit in stride(from: 0, to: (bytes.count - 4) * 8, by: 5) {
            var flipped = Array(bytes.dropLast(4))
            flipped[bit / 8] ^= 1 << UInt8(bit % 8)
            flipped = resealed(flipped + [0, 0, 0, 0])
            let state = BusState()
            if (try? state.restore(from: flipped)) != nil {
                accepted += 1
                XCTAssertEqual(state.snapshot(), flipped, "bit \(bit) decoded to a non-canonical state")
            }
        }
        XCTAssertGreaterThan(accepted, 0) // payload bits, for one, are free
    }

    // MARK: - Randomized: two replicas, one restored midway, and a plain model as oracle

    func testRandomHistoriesAgreeAcrossReplicasRestoresAndAModel() throws {
        for seed: UInt64 in [1, 0xF10_2025, 77] {
            try runRandomHistory(seed: seed, steps: 3_000)
        }
    }

    private func runRandomHistory(seed: UInt64, steps: Int) throws {
        var rng = Xoshiro256(seed: seed)
        // About 130 commands fit in the window and at most 100 outcomes are kept: both the window and
        // the entry limit expire outcomes, and retries of recent commands land on either side.
        let config = try BusState.Config(dedupWindowMillis: 4_000, dedupMaxEntries: 100)
        let a = BusState(config: config), b = BusState(config: config)
        var c: BusState? = nil
        var model = Model(window: 4_000, maxEntries: 100)
        var retriesApplied = 0, retriesDeduplicated = 0

        let topics = ["alarm/orders", "station/1/status", "partner/drk", "pager.acks", "missing"]
        let retentions = [retention(count: 3), retention(age: 700), retention(count: 5, age: 2_000), retention(count: 50)]
        let subs = ["gw-1", "gw-2", "drk", "stats"]
        let senders = [anna, gateway, partner]
        var sent: [CommandEnvelope] = []
        var now: UInt64 = 1_000_000

        func pick<T>(_ xs: [T]) -> T { xs[Int(rng.below(UInt64(xs.count)))] }

        for step in 1...steps {
            now += rng.below(60)
            let timestamp = rng.chance(0.05) ? now - rng.below(500) : now
            let id = "c\(rng.below(UInt64(steps)))"
            let entryData: [UInt8]
            var kind = Entry.Kind.command
            var env: CommandEnvelope? = nil
            let roll = rng.below(100)
            switch roll {
            case 0..<3: kind = .noop; entryData = []
            case 3..<5: entryData = (0..<rng.below(20)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            default:
                if roll >= 93, !sent.isEmpty {
                    let old = sent[sent.count - 1 - Int(rng.below(UInt64(min(sent.count, 200))))] // a recent command,
                    // retried and stamped anew by the proposing node
                    if a.outcome(sender: old.sender, id: old.id) == nil { retriesApplied += 1 } else { retriesDeduplicated += 1 }
                    env = try CommandEnvelope(type: old.type, id: old.id, sender: old.sender, timestamp: timestamp, payload: old.payload)
                } else {
                    let command: BusCommand?
                    switch roll {
                    case 5..<7: command = nil
                    case 7..<12: command = create(pick(topics), pick(retentions))
                    case 12..<55: command = publish(pick(topics), (0..<rng.below(40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
                    case 55..<68:
                        let start: SubscriptionStart = [.earliest, .latest, .offset(rng.below(60))][Int(rng.below(3))]
                        command = subscribe(pick(subs), to: pick(topics), start)
                    case 68..<88:
                        let committed = a.subscription(named: sub(pick(subs)))?.committedOffset ?? 0
                        command = ack(pick(subs), committed + rng.below(8) - min(committed, 2))
                    default: command = unsubscribe(pick(subs))
                    }
                    let sender = pick(senders)
                    if let command {
                        env = envelope(command, id: id, sender: sender, at: timestamp)
                    } else {
                        env = try CommandEnvelope(type: pick(["alarm.raise", "bus.topic.delete"]), id: cid(id), sender: sender,
                                                  timestamp: timestamp, payload: [1])
                    }
                    sent.append(env!)
                }
                entryData = env!.encode()
            }

            let entry = Entry(index: UInt64(step), term: 1 + UInt64(step / 1_000), kind: kind, data: entryData)
            let outcome = a.execute(entry)
            XCTAssertEqual(b.execute(entry), outcome, "seed \(seed) step \(step): replicas disagree")
            if let c { XCTAssertEqual(c.execute(entry), outcome, "seed \(seed) step \(step): restored replica disagrees") }
            let expected: CommandOutcome? = if let env { model.apply(env) } else if kind == .command { .rejected(.malformed("")) } else { nil }
            XCTAssertTrue(Model.same(outcome, expected), "seed \(seed) step \(step): \(String(describing: outcome)) vs model \(String(describing: expected))")

            if step % 97 == 0 {
                let t = pick(topics), from = rng.below(80)
                XCTAssertTrue(Model.same(a.read(topic: topic(t), from: from, limit: 7), model.read(t, from: from, limit: 7)),
                              "seed \(seed) step \(step): read of \(t) from \(from) differs from the model")
            }
            if step == steps / 2 {
                XCTAssertEqual(a.snapshot(), b.snapshot())
                let restored = BusState()
                try restored.restore(from: b.snapshot())
                XCTAssertEqual(restored.snapshot(), b.snapshot())
                c = restored
            }
        }
        XCTAssertEqual(a.stateDigest, b.stateDigest, "seed \(seed)")
        XCTAssertEqual(a.stateDigest, c?.stateDigest, "seed \(seed)")
        XCTAssertGreaterThan(a.undecodableCount, 0)
        XCTAssertGreaterThan(retriesApplied, 20, "seed \(seed): too few retries after expiry")
        XCTAssertGreaterThan(retriesDeduplicated, 20, "seed \(seed): too few deduplicated retries")
        XCTAssertFalse(a.topicNames.isEmpty)
    }
}

/// A deliberately plain model of the bus (linear scans, no heaps, no ring buffers) to check the
/// real one's outcomes and reads against.
private struct Model {
    struct Message { var offset: UInt64; var sender: String; var id: CommandID; var timestamp: UInt64; var payload: [UInt8] }
    struct Topic { var retention: Retention; var next: UInt64 = 0; var messages: [Message] = [] }
    struct Seen { var sender: [UInt8]; var id: CommandID; var at: UInt64; var outcome: CommandOutcome }

    let window: UInt64
    let maxEntries: Int
    var clock: UInt64 = 0
    var topics: [String: Topic] = [:]
    var subs: [String: (topic: String, committed: UInt64)] = [:]
    var seen: [Seen] = []

    init(window: UInt64, maxEntries: Int) {
        self.window = window
        self.maxEntries = maxEntries
    }

    mutating func apply(_ env: CommandEnvelope) -> CommandOutcome {
        clock = max(clock, env.timestamp)
        seen.removeAll { clock - $0.at > window }
        for name in topics.keys {
            let r = topics[name]!.retention
            if r.maxAgeMillis > 0 { topics[name]!.messages.removeAll { clock - $0.timestamp > r.maxAgeMillis } }
        }
        let sender = Array(env.sender.utf8)
        if let earlier = seen.first(where: { $0.sender == sender && $0.id == env.id }) { return earlier.outcome }
        let outcome = decide(env)
        seen.append(Seen(sender: sender, id: env.id, at: clock, outcome: outcome))
        if seen.count > maxEntries { seen.removeFirst(seen.count - maxEntries) }
        return outcome
    }

    private mutating func decide(_ env: CommandEnvelope) -> CommandOutcome {
        guard let command = try? BusCommand.decode(type: env.type, payload: env.payload) else {
            return .rejected(.unknownCommandType(env.type))
        }
        switch command {
        case .createTopic(let c):
            if let t = topics[c.name.rawValue] {
                return t.retention == c.retention ? .topicCreated
                    : .rejected(.topicExists(c.name, existing: t.retention, requested: c.retention))
            }
            topics[c.name.rawValue] = Topic(retention: c.retention)
            return .topicCreated
        case .publish(let c):
            guard var t = topics[c.topic.rawValue] else { return .rejected(.unknownTopic(c.topic)) }
            t.messages.append(Message(offset: t.next, sender: env.sender, id: env.id, timestamp: clock, payload: c.payload))
            t.next += 1
            if t.retention.maxCount > 0, t.messages.count > Int(t.retention.maxCount) {
                t.messages.removeFirst(t.messages.count - Int(t.retention.maxCount))
            }
            topics[c.topic.rawValue] = t
            return .published(topic: c.topic, offset: t.next - 1)
        case .subscribe(let c):
            guard let t = topics[c.topic.rawValue] else { return .rejected(.unknownTopic(c.topic)) }
            if let s = subs[c.subscription.rawValue] {
                return s.topic == c.topic.rawValue ? .subscribed(offset: s.committed)
                    : .rejected(.subscriptionExists(c.subscription, topic: try! TopicName(s.topic)))
            }
            let first = t.messages.first?.offset ?? t.next
            let offset: UInt64
            switch c.start {
            case .earliest: offset = first
            case .latest: offset = t.next
            case .offset(let o):
                if o < first { return .rejected(.trimmed(requested: o, firstAvailable: first)) }
                if o > t.next { return .rejected(.offsetBeyondEnd(requested: o, nextOffset: t.next)) }
                offset = o
            }
            subs[c.subscription.rawValue] = (c.topic.rawValue, offset)
            return .subscribed(offset: offset)
        case .ack(let c):
            guard let s = subs[c.subscription.rawValue] else { return .rejected(.unknownSubscription(c.subscription)) }
            if c.offset < s.committed { return .rejected(.ackBehindCommitted(requested: c.offset, committed: s.committed)) }
            let end = topics[s.topic]!.next
            if c.offset > end { return .rejected(.offsetBeyondEnd(requested: c.offset, nextOffset: end)) }
            subs[c.subscription.rawValue] = (s.topic, c.offset)
            return .acked(offset: c.offset)
        case .unsubscribe(let c):
            return subs.removeValue(forKey: c.subscription.rawValue) == nil
                ? .rejected(.unknownSubscription(c.subscription)) : .unsubscribed
        }
    }

    func read(_ name: String, from: UInt64, limit: Int) -> Result<ReadResult, BusRejection> {
        guard let t = topics[name] else { return .failure(.unknownTopic(try! TopicName(name))) }
        let first = t.messages.first?.offset ?? t.next
        if from < first { return .failure(.trimmed(requested: from, firstAvailable: first)) }
        if from > t.next { return .failure(.offsetBeyondEnd(requested: from, nextOffset: t.next)) }
        let picked = t.messages.filter { $0.offset >= from }.prefix(limit).map {
            StoredMessage(offset: $0.offset, sender: $0.sender, commandID: $0.id, timestamp: $0.timestamp, payload: $0.payload)
        }
        return .success(ReadResult(messages: Array(picked), nextOffset: from + UInt64(picked.count), firstOffset: first, endOffset: t.next))
    }

    /// Equal, except that malformed texts are not compared (the model does not word errors).
    static func same(_ a: CommandOutcome?, _ b: CommandOutcome?) -> Bool {
        if case .rejected(.malformed)? = a, case .rejected(.malformed)? = b { return true }
        return a == b
    }

    static func same(_ a: Result<ReadResult, BusRejection>, _ b: Result<ReadResult, BusRejection>) -> Bool { a == b }
}
