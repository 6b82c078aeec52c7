import Wire

/// The name of a topic: 1–128 bytes of [a-z0-9._/-], no leading or trailing '/', no "//"
/// (e.g. "alarm/orders", "partner/drk/status").
public struct TopicName: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let maxByteCount = 128
    public let rawValue: String

    /// - Throws: `BusError.invalidValue` when `rawValue` breaks the rules above.
    public init(_ rawValue: String) throws(BusError) {
        if let reason = Self.problem(Array(rawValue.utf8)) { throw .invalidValue(kind: "topic name", reason: reason) }
        self.rawValue = rawValue
    }

    init(checked bytes: [UInt8]) { rawValue = String(decoding: bytes, as: UTF8.self) }
    static func problem(_ bytes: [UInt8]) -> String? { IdentifierRules.pathName(bytes, max: maxByteCount) }

    public static func < (a: TopicName, b: TopicName) -> Bool { IdentifierRules.precedes(a.rawValue, b.rawValue) }
    public var description: String { rawValue }
}

/// The name of a durable subscription; the same rules as `TopicName`.
public struct SubscriptionName: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let maxByteCount = 128
    public let rawValue: String

    /// - Throws: `BusError.invalidValue` when `rawValue` breaks the rules of `TopicName`.
    public init(_ rawValue: String) throws(BusError) {
        if let reason = Self.problem(Array(rawValue.utf8)) { throw .invalidValue(kind: "subscription name", reason: reason) }
        self.rawValue = rawValue
    }

    init(checked bytes: [UInt8]) { rawValue = String(decoding: bytes, as: UTF8.self) }
    static func problem(_ bytes: [UInt8]) -> String? { IdentifierRules.pathName(bytes, max: maxByteCount) }

    public static func < (a: SubscriptionName, b: SubscriptionName) -> Bool { IdentifierRules.precedes(a.rawValue, b.rawValue) }
    public var description: String { rawValue }
}

/// How long a topic keeps its messages: at most `maxCount` messages, none older than
/// `maxAgeMillis` (measured against the state machine's clock). 0 leaves that bound off, but at
/// least one bound must be set: a topic that only grows would grow every snapshot forever, and
/// history that must be kept belongs in the incident pipeline's exports, not in a bus topic.
public struct Retention: Equatable, Sendable, CustomStringConvertible {
    /// Most messages kept; 0 = no count bound.
    public let maxCount: UInt64
    /// Oldest message age kept, in milliseconds; 0 = no age bound. A message goes once the clock
    /// is more than `maxAgeMillis` past its timestamp.
    public let maxAgeMillis: UInt64

    /// - Throws: `BusError.invalidValue` when both bounds are 0.
    public init(maxCount: UInt64, maxAgeMillis: UInt64) throws(BusError) {
        guard maxCount != 0 || maxAgeMillis != 0 else {
            throw .invalidValue(kind: "retention", reason: "needs a count or an age bound (both are 0)")
        }
        self.maxCount = maxCount
        self.maxAgeMillis = maxAgeMillis
    }

    public var description: String {
        let count = maxCount == 0 ? "any count" : "\(maxCount) messages"
        let age = maxAgeMillis == 0 ? "any age" : "\(maxAgeMillis) ms"
        return "\(count), \(age)"
    }
}

/// Where a new subscription starts reading.
public enum SubscriptionStart: Equatable, Sendable {
    /// At the oldest message still retained.
    case earliest
    /// After the newest message: only what is published from now on.
    case latest
    /// At this offset, which must be retained or the topic's next offset.
    case offset(UInt64)
}

/// The payload of one bus command, with its own versioned binary codec.
///
/// Every payload starts with a version byte (1), then its fields: names as varint-length bytes,
/// numbers as big-endian 8-byte integers, blobs as varint-length bytes. Like the envelope, each
/// payload has exactly one encoding; trailing bytes, unknown versions and invalid fields are refused.
public protocol BusCommandPayload: Equatable, Sendable {
    /// The envelope `type` that carries this payload.
    static var type: String { get }
    func encode() -> [UInt8]
    static func decode(_ payload: [UInt8]) throws(BusError) -> Self
}

/// The commands of the bus itself, carried in a `CommandEnvelope` whose `type` is one of the
/// payload types' `type`.
public enum BusCommand: Equatable, Sendable {
    case createTopic(CreateTopic)
    case publish(Publish)
    case subscribe(Subscribe)
    case ack(Ack)
    case unsubscribe(Unsubscribe)

    static let payloadVersion: UInt8 = 1

    /// Creates a topic. Creating an existing topic with the same retention succeeds and changes
    /// nothing (so a retry or a second gateway configuring it is harmless); with a different
    /// retention it is rejected — retention is changed by no command today.
    ///
    /// `01 | varint-length name | u64 maxCount | u64 maxAgeMillis`
    public struct CreateTopic: BusCommandPayload {
        public static let type = "bus.topic.create"
        public var name: TopicName
        public var retention: Retention
        public init(name: TopicName, retention: Retention) {
            self.name = name
            self.retention = retention
        }

        public func encode() -> [UInt8] {
            var w = ByteWriter()
            w.writeUInt8(BusCommand.payloadVersion)
            w.writeLengthPrefixed(name.rawValue)
            w.writeUInt64(retention.maxCount)
            w.writeUInt64(retention.maxAgeMillis)
            return w.bytes
        }

        public static func decode(_ payload: [UInt8]) throws(BusError) -> CreateTopic {
            var r = FieldReader(payload, format: type)
            try r.version(BusCommand.payloadVersion)
            let name = try r.topic("name")
            let maxCount = try r.u64("maxCount"), maxAge = try r.u64("maxAgeMillis")
            try r.finish()
            guard maxCount != 0 || maxAge != 0 else { throw r.invalid("maxCount", "and maxAgeMillis are both 0; one bound is required") }
            return CreateTopic(name: name, retention: try Retention(maxCount: maxCount, maxAgeMillis: maxAge))
        }
    }

    /// Appends `payload` to a topic; the outcome carries its offset.
    ///
    /// `01 | varint-length topic | varint-length payload (≤ 256 KiB)`
    public struct Publish: BusCommandPayload {
        public static let type = "bus.publish"
        public static let maxPayloadByteCount = 256 * 1024
        public let topic: TopicName
        public let payload: [UInt8]

        /// - Throws: `BusError.invalidValue` when `payload` exceeds 256 KiB.
        public init(topic: TopicName, payload: [UInt8]) throws(BusError) {
            guard payload.count <= Self.maxPayloadByteCount else {
                throw .invalidValue(kind: "publish payload", reason: "is \(payload.count) bytes, the limit is \(Self.maxPayloadByteCount)")
            }
            self.topic = topic
            self.payload = payload
        }

        public func encode() -> [UInt8] {
            var w = ByteWriter(capacity: 8 + topic.rawValue.utf8.count + payload.count)
            w.writeUInt8(BusCommand.payloadVersion)
            w.writeLengthPrefixed(topic.rawValue)
            w.writeLengthPrefixed(payload)
            return w.bytes
        }

        public static func decode(_ payload: [UInt8]) throws(BusError) -> Publish {
            var r = FieldReader(payload, format: type)
            try r.version(BusCommand.payloadVersion)
            let topic = try r.topic("topic")
            let body = try r.bytes("payload", limit: maxPayloadByteCount)
            try r.finish()
            return try Publish(topic: topic, payload: body)
        }
    }

    /// Creates a durable subscription: a name that remembers a position in a topic. Subscribing
    /// again under an existing name to the same topic succeeds, keeps the committed offset and
    /// ignores `start` (a consumer that restarts resumes where it acked); to another topic it is
    /// rejected.
    ///
    /// `01 | varint-length subscription | varint-length topic | start`, where start is `00`
    /// (earliest), `01` (latest) or `02 u64` (offset).
    public struct Subscribe: BusCommandPayload {
        public static let type = "bus.subscribe"
        public var subscription: SubscriptionName
        public var topic: TopicName
        public var start: SubscriptionStart
        public init(subscription: SubscriptionName, topic: TopicName, start: SubscriptionStart) {
            self.subscription = subscription
            self.topic = topic
            self.start = start
        }

        public func encode() -> [UInt8] {
            var w = ByteWriter()
            w.writeUInt8(BusCommand.payloadVersion)
            w.writeLengthPrefixed(subscription.rawValue)
            w.writeLengthPrefixed(topic.rawValue)
            switch start {
            case .earliest: w.writeUInt8(0)
            case .latest: w.writeUInt8(1)
            case .offset(let offset):
                w.writeUInt8(2)
                w.writeUInt64(offset)
            }
            return w.bytes
        }

        public static func decode(_ payload: [UInt8]) throws(BusError) -> Subscribe {
            var r = FieldReader(payload, format: type)
            try r.version(BusCommand.payloadVersion)
            let subscription = try r.subscription("subscription")
            let topic = try r.topic("topic")
            let start: SubscriptionStart
            switch try r.u8("start") {
            case 0: start = .earliest
            case 1: start = .latest
            case 2: start = .offset(try r.u64("start offset"))
            case let tag: throw r.invalid("start", "has unknown kind \(tag)")
            }
            try r.finish()
            return Subscribe(subscription: subscription, topic: topic, start: start)
        }
    }

    /// Commits a subscription's position: `offset` is the next offset the subscriber wants (one past
    /// the last message it processed). It may stay put (a retried ack) or move forward up to the
    /// topic's next offset; never back.
    ///
    /// `01 | varint-length subscription | u64 offset`
    public struct Ack: BusCommandPayload {
        public static let type = "bus.ack"
        public var subscription: SubscriptionName
        public var offset: UInt64
        public init(subscription: SubscriptionName, offset: UInt64) {
            self.subscription = subscription
            self.offset = offset
        }

        public func encode() -> [UInt8] {
            var w = ByteWriter()
            w.writeUInt8(BusCommand.payloadVersion)
            w.writeLengthPrefixed(subscription.rawValue)
            w.writeUInt64(offset)
            return w.bytes
        }

        public static func decode(_ payload: [UInt8]) throws(BusError) -> Ack {
            var r = FieldReader(payload, format: type)
            try r.version(BusCommand.payloadVersion)
            let subscription = try r.subscription("subscription")
            let offset = try r.u64("offset")
            try r.finish()
            return Ack(subscription: subscription, offset: offset)
        }
    }

    /// Removes a durable subscription.
    ///
    /// `01 | varint-length subscription`
    public struct Unsubscribe: BusCommandPayload {
        public static let type = "bus.unsubscribe"
        public var subscription: SubscriptionName
        public init(subscription: SubscriptionName) { self.subscription = subscription }

        public func encode() -> [UInt8] {
            var w = ByteWriter()
            w.writeUInt8(BusCommand.payloadVersion)
            w.writeLengthPrefixed(subscription.rawValue)
            return w.bytes
        }

        public static func decode(_ payload: [UInt8]) throws(BusError) -> Unsubscribe {
            var r = FieldReader(payload, format: type)
            try r.version(BusCommand.payloadVersion)
            let subscription = try r.subscription("subscription")
            try r.finish()
            return Unsubscribe(subscription: subscription)
        }
    }

    /// The envelope type of this command.
    public var type: String {
        switch self {
        case .createTopic: CreateTopic.type
        case .publish: Publish.type
        case .subscribe: Subscribe.type
        case .ack: Ack.type
        case .unsubscribe: Unsubscribe.type
        }
    }

    /// The payload bytes for the envelope.
    public func encodePayload() -> [UInt8] {
        switch self {
        case .createTopic(let c): c.encode()
        case .publish(let c): c.encode()
        case .subscribe(let c): c.encode()
        case .ack(let c): c.encode()
        case .unsubscribe(let c): c.encode()
        }
    }

    /// Decodes the payload of an envelope of `type`.
    ///
    /// - Returns: nil when `type` is no bus command type.
    /// - Throws: the payload decoder's `BusError` when the payload is malformed.
    public static func decode(type: String, payload: [UInt8]) throws(BusError) -> BusCommand? {
        switch type {
        case CreateTopic.type: .createTopic(try CreateTopic.decode(payload))
        case Publish.type: .publish(try Publish.decode(payload))
        case Subscribe.type: .subscribe(try Subscribe.decode(payload))
        case Ack.type: .ack(try Ack.decode(payload))
        case Unsubscribe.type: .unsubscribe(try Unsubscribe.decode(payload))
        default: nil
        }
    }

    /// This command in an envelope, ready to propose.
    ///
    /// - Throws: `BusError.invalidValue` when `sender` breaks the envelope's rules.
    public func envelope(id: CommandID, sender: String, timestamp: UInt64) throws(BusError) -> CommandEnvelope {
        try CommandEnvelope(type: type, id: id, sender: sender, timestamp: timestamp, payload: encodePayload())
    }
}

extension FieldReader {
    mutating func topic(_ field: String) throws(BusError) -> TopicName {
        TopicName(checked: try checked(field, limit: TopicName.maxByteCount, TopicName.problem))
    }

    mutating func subscription(_ field: String) throws(BusError) -> SubscriptionName {
        SubscriptionName(checked: try checked(field, limit: SubscriptionName.maxByteCount, SubscriptionName.problem))
    }
}
