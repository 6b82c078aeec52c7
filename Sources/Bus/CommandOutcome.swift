import Wire

/// What applying one command did. Recorded per (sender, id) in the dedup table, so a retry gets the
/// first attempt's outcome back, and part of the replicated state.
public enum CommandOutcome: Equatable, Sendable, CustomStringConvertible {
    /// The message is in `topic` at `offset`.
    case published(topic: TopicName, offset: UInt64)
    /// The topic exists with the requested retention (newly or already).
    case topicCreated
    /// The subscription exists; its committed offset is `offset`.
    case subscribed(offset: UInt64)
    /// The subscription's committed offset is now `offset`.
    case acked(offset: UInt64)
    case unsubscribed
    /// A domain state machine applied the command; `result` is in that machine's own format.
    case accepted(result: [UInt8])
    /// Nothing changed, for this reason.
    case rejected(BusRejection)

    public var isRejected: Bool {
        if case .rejected = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case let .published(topic, offset): "published to \(topic) at offset \(offset)"
        case .topicCreated: "topic created"
        case let .subscribed(offset): "subscribed at offset \(offset)"
        case let .acked(offset): "acknowledged up to offset \(offset)"
        case .unsubscribed: "unsubscribed"
        case let .accepted(result): "accepted (\(result.count) bytes of result)"
        case let .rejected(why): "rejected: \(why)"
        }
    }
}

/// Why the state machine refused a command (or a read). Descriptions are written for the operator
/// or the client that sent it.
public enum BusRejection: Error, Equatable, Sendable, CustomStringConvertible {
    /// The entry, the envelope or the command payload could not be decoded.
    case malformed(String)
    /// No state machine handles this command type.
    case unknownCommandType(String)
    case unknownTopic(TopicName)
    case unknownSubscription(SubscriptionName)
    /// The topic exists with another retention.
    case topicExists(TopicName, existing: Retention, requested: Retention)
    /// The subscription name is taken, on another topic.
    case subscriptionExists(SubscriptionName, topic: TopicName)
    /// The offset asked for was removed by retention: messages from `requested` up to
    /// `firstAvailable` are lost to this reader.
    case trimmed(requested: UInt64, firstAvailable: UInt64)
    /// The offset lies beyond the topic's end (`nextOffset`, the offset the next message gets).
    case offsetBeyondEnd(requested: UInt64, nextOffset: UInt64)
    /// An ack tried to move a subscription back.
    case ackBehindCommitted(requested: UInt64, committed: UInt64)
    /// The topic used every offset a UInt64 holds.
    case topicFull(TopicName)
    /// A domain state machine refused the command, for this reason.
    case refused(String)

    public var description: String {
        switch self {
        case let .malformed(why): "malformed command: \(why)"
        case let .unknownCommandType(type): "unknown command type '\(type)'"
        case let .unknownTopic(topic): "unknown topic '\(topic)'"
        case let .unknownSubscription(name): "unknown subscription '\(name)'"
        case let .topicExists(topic, existing, requested):
            "topic '\(topic)' already exists with retention (\(existing)), not (\(requested))"
        case let .subscriptionExists(name, topic): "subscription '\(name)' already exists, on topic '\(topic)'"
        case let .trimmed(requested, first):
            "offset \(requested) was removed by retention; the oldest retained offset is \(first) (\(first - min(first, requested)) messages lost)"
        case let .offsetBeyondEnd(requested, next):
            "offset \(requested) is beyond the end of the topic (next offset \(next))"
        case let .ackBehindCommitted(requested, committed):
            "ack to offset \(requested) would move the subscription back from \(committed)"
        case let .topicFull(topic): "topic '\(topic)' has used every offset"
        case let .refused(why): why
        }
    }
}

// MARK: - Canonical encoding (inside bus snapshots). Tags are durable: never renumber.

extension CommandOutcome {
    func encode(into w: inout ByteWriter) {
        switch self {
        case let .published(topic, offset):
            w.writeUInt8(0)
            w.writeLengthPrefixed(topic.rawValue)
            w.writeUInt64(offset)
        case .topicCreated: w.writeUInt8(1)
        case let .subscribed(offset):
            w.writeUInt8(2)
            w.writeUInt64(offset)
        case let .acked(offset):
            w.writeUInt8(3)
            w.writeUInt64(offset)
        case .unsubscribed: w.writeUInt8(4)
        case let .accepted(result):
            w.writeUInt8(5)
            w.writeLengthPrefixed(result)
        case let .rejected(why):
            w.writeUInt8(6)
            why.encode(into: &w)
        }
    }

    static func decode(from r: inout FieldReader) throws(BusError) -> CommandOutcome {
        switch try r.u8("outcome") {
        case 0: return .published(topic: try r.topic("outcome topic"), offset: try r.u64("outcome offset"))
        case 1: return .topicCreated
        case 2: return .subscribed(offset: try r.u64("outcome offset"))
        case 3: return .acked(offset: try r.u64("outcome offset"))
        case 4: return .unsubscribed
        case 5: return .accepted(result: try r.bytes("outcome result", limit: .max))
        case 6: return .rejected(try BusRejection.decode(from: &r))
        case let tag: throw r.invalid("outcome", "has unknown kind \(tag)")
        }
    }
}

extension BusRejection {
    func encode(into w: inout ByteWriter) {
        switch self {
        case let .malformed(why):
            w.writeUInt8(0)
            w.writeLengthPrefixed(why)
        case let .unknownCommandType(type):
            w.writeUInt8(1)
            w.writeLengthPrefixed(type)
        case let .unknownTopic(topic):
            w.writeUInt8(2)
            w.writeLengthPrefixed(topic.rawValue)
        case let .unknownSubscription(name):
            w.writeUInt8(3)
            w.writeLengthPrefixed(name.rawValue)
        case let .topicExists(topic, existing, requested):
            w.writeUInt8(4)
            w.writeLengthPrefixed(topic.rawValue)
            w.writeUInt64(existing.maxCount)
            w.writeUInt64(existing.maxAgeMillis)
            w.writeUInt64(requested.maxCount)
            w.writeUInt64(requested.maxAgeMillis)
        case let .subscriptionExists(name, topic):
            w.writeUInt8(5)
            w.writeLengthPrefixed(name.rawValue)
            w.writeLengthPrefixed(topic.rawValue)
        case let .trimmed(requested, first):
            w.writeUInt8(6)
            w.writeUInt64(requested)
            w.writeUInt64(first)
        case let .offsetBeyondEnd(requested, next):
            w.writeUInt8(7)
            w.writeUInt64(requested)
            w.writeUInt64(next)
        case let .ackBehindCommitted(requested, committed):
            w.writeUInt8(8)
            w.writeUInt64(requested)
            w.writeUInt64(committed)
        case let .topicFull(topic):
            w.writeUInt8(9)
            w.writeLengthPrefixed(topic.rawValue)
        case let .refused(why):
            w.writeUInt8(10)
            w.writeLengthPrefixed(why)
        }
    }

    static func decode(from r: inout FieldReader) throws(BusError) -> BusRejection {
        switch try r.u8("rejection") {
        case 0: return .malformed(try r.utf8("rejection text", limit: .max))
        case 1: return .unknownCommandType(try r.utf8("rejection type", limit: .max))
        case 2: return .unknownTopic(try r.topic("rejection topic"))
        case 3: return .unknownSubscription(try r.subscription("rejection subscription"))
        case 4:
            let topic = try r.topic("rejection topic")
            let existing = try r.retention("rejection existing retention")
            let requested = try r.retention("rejection requested retention")
            return .topicExists(topic, existing: existing, requested: requested)
        case 5: return .subscriptionExists(try r.subscription("rejection subscription"), topic: try r.topic("rejection topic"))
        case 6: return .trimmed(requested: try r.u64("rejection offset"), firstAvailable: try r.u64("rejection offset"))
        case 7: return .offsetBeyondEnd(requested: try r.u64("rejection offset"), nextOffset: try r.u64("rejection offset"))
        case 8: return .ackBehindCommitted(requested: try r.u64("rejection offset"), committed: try r.u64("rejection offset"))
        case 9: return .topicFull(try r.topic("rejection topic"))
        case 10: return .refused(try r.utf8("rejection text", limit: .max))
        case let tag: throw r.invalid("rejection", "has unknown kind \(tag)")
        }
    }
}

extension FieldReader {
    /// Two u64 bounds that must form a valid `Retention`.
    mutating func retention(_ field: String) throws(BusError) -> Retention {
        let maxCount = try u64(field), maxAge = try u64(field)
        do throws(BusError) {
            return try Retention(maxCount: maxCount, maxAgeMillis: maxAge)
        } catch {
            throw invalid(field, "has no bound (both are 0)")
        }
    }
}

extension CommandOutcome {
    /// The outcome as bytes (the same canonical form the dedup table keeps), for clients.
    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        encode(into: &w)
        return w.bytes
    }

    /// Parses `encoded()`'s bytes; refuses anything else.
    public static func decode(_ bytes: [UInt8]) throws(BusError) -> CommandOutcome {
        var r = FieldReader(bytes, format: "command outcome")
        let outcome = try decode(from: &r)
        try r.finish()
        return outcome
    }
}
