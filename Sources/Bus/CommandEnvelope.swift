import Wire

/// The id a sender gives a command, so that a retry is recognised and applied once: 1–64 bytes of
/// printable ASCII (0x20–0x7E). Unique per sender, not globally: the dedup key is (sender, id).
public struct CommandID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let maxByteCount = 64

    public let rawValue: String

    /// - Throws: `BusError.invalidValue` when `rawValue` is empty, longer than 64 bytes or not
    ///   printable ASCII.
    public init(_ rawValue: String) throws(BusError) {
        if let reason = Self.problem(Array(rawValue.utf8)) { throw .invalidValue(kind: "command id", reason: reason) }
        self.rawValue = rawValue
    }

    init(checked bytes: [UInt8]) { rawValue = String(decoding: bytes, as: UTF8.self) }

    static func problem(_ bytes: [UInt8]) -> String? {
        IdentifierRules.ascii(bytes, max: maxByteCount, allowed: { (0x20...0x7E).contains($0) },
                              allowedText: "printable ASCII 0x20-0x7E")
    }

    public static func < (a: CommandID, b: CommandID) -> Bool { IdentifierRules.precedes(a.rawValue, b.rawValue) }
    public var description: String { rawValue }
}

/// The one command format of every replicated state machine (bus, alarms, helpers, incidents):
/// what a client asks for, who asks, and when the proposing node received it.
///
/// The state machines take time only from `timestamp` (their clock is the largest timestamp
/// applied so far), so applying a log is deterministic.
///
/// ## Encoding, format version 1
///
/// ```
/// command-envelope = version type id sender timestamp payload
/// version    = %x01                         ; 1 byte; any other value is refused
/// type       = varint-length 1*64 OCTET     ; [a-z0-9._-], "<namespace>.<name>", no '.' first or last
/// id         = varint-length 1*64 OCTET     ; printable ASCII %x20-7E, chosen by the sender
/// sender     = varint-length 1*256 OCTET    ; UTF-8 (strictly valid), no control characters
///                                           ; (U+0000-001F, U+007F-009F); the certificate subject
/// timestamp  = 8 OCTET                      ; unsigned, big-endian: milliseconds since
///                                           ; 1970-01-01T00:00:00Z, stamped by the proposing node
/// payload    = varint-length *1048576 OCTET ; opaque to the envelope; its format belongs to `type`
/// varint-length = unsigned LEB128 (Protocol Buffers "base 128 varint"), shortest form only
/// ```
///
/// The record ends after `payload`: trailing bytes are refused. Every length is checked against
/// its limit before anything is allocated, so a hostile length costs nothing. Each valid envelope
/// has exactly one encoding (shortest varints, no padding, no unknown fields), so
/// `encode(decode(b)) == b` whenever `decode(b)` succeeds.
public struct CommandEnvelope: Equatable, Sendable {
    public static let formatVersion: UInt8 = 1
    public static let maxTypeByteCount = 64
    public static let maxSenderByteCount = 256
    public static let maxPayloadByteCount = 1 << 20

    /// Namespaced command type, e.g. "bus.publish", "alarm.raise".
    public let type: String
    public let id: CommandID
    /// Who sent it: the subject of the client certificate.
    public let sender: String
    /// Milliseconds since the Unix epoch, stamped by the proposing node.
    public let timestamp: UInt64
    public let payload: [UInt8]

    /// - Throws: `BusError.invalidValue` when `type`, `sender` or `payload` break the rules above.
    public init(type: String, id: CommandID, sender: String, timestamp: UInt64, payload: [UInt8]) throws(BusError) {
        if let reason = Self.typeProblem(Array(type.utf8)) { throw .invalidValue(kind: "command type", reason: reason) }
        if let reason = Self.senderProblem(sender) { throw .invalidValue(kind: "sender", reason: reason) }
        guard payload.count <= Self.maxPayloadByteCount else {
            throw .invalidValue(kind: "payload", reason: "is \(payload.count) bytes, the limit is \(Self.maxPayloadByteCount)")
        }
        self.type = type
        self.id = id
        self.sender = sender
        self.timestamp = timestamp
        self.payload = payload
    }

    private init(unchecked type: String, id: CommandID, sender: String, timestamp: UInt64, payload: [UInt8]) {
        self.type = type
        self.id = id
        self.sender = sender
        self.timestamp = timestamp
        self.payload = payload
    }

    /// The part of `type` before the first '.', which selects the state machine ("bus", "alarm").
    public var namespace: Substring { type.prefix { $0 != "." } }

    /// The canonical bytes (format version 1, see the type's documentation).
    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 16 + type.utf8.count + id.rawValue.utf8.count + sender.utf8.count + payload.count)
        w.writeUInt8(Self.formatVersion)
        w.writeLengthPrefixed(type)
        w.writeLengthPrefixed(id.rawValue)
        w.writeLengthPrefixed(sender)
        w.writeUInt64(timestamp)
        w.writeLengthPrefixed(payload)
        return w.bytes
    }

    /// Decodes and validates one envelope.
    ///
    /// - Throws: `BusError.unsupportedVersion`, `.truncated`, `.malformedVarint`, `.fieldTooLong`,
    ///   `.invalidField` or `.trailingBytes`; never traps, whatever the bytes.
    public static func decode(_ bytes: [UInt8]) throws(BusError) -> CommandEnvelope {
        var r = FieldReader(bytes, format: "command envelope")
        try r.version(formatVersion)
        let type = try r.checked("type", limit: maxTypeByteCount, typeProblem)
        let id = try r.checked("id", limit: CommandID.maxByteCount, CommandID.problem)
        let sender = try r.utf8("sender", limit: maxSenderByteCount)
        if let reason = senderProblem(sender) { throw r.invalid("sender", reason) }
        let timestamp = try r.u64("timestamp")
        let payload = try r.bytes("payload", limit: maxPayloadByteCount)
        try r.finish()
        return CommandEnvelope(unchecked: String(decoding: type, as: UTF8.self), id: CommandID(checked: id),
                               sender: sender, timestamp: timestamp, payload: payload)
    }

    static func typeProblem(_ bytes: [UInt8]) -> String? {
        if let reason = IdentifierRules.ascii(bytes, max: maxTypeByteCount,
                                              allowed: { IdentifierRules.isLowerAlnum($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D },
                                              allowedText: "a-z 0-9 . _ -") { return reason }
        guard bytes.contains(0x2E) else { return "has no namespace (expected \"<namespace>.<name>\")" }
        if bytes.first == 0x2E || bytes.last == 0x2E { return "starts or ends with '.'" }
        return nil
    }

    static func senderProblem(_ sender: String) -> String? {
        let count = sender.utf8.count
        guard count > 0 else { return "is empty" }
        guard count <= maxSenderByteCount else { return "is \(count) bytes long, the limit is \(maxSenderByteCount)" }
        if sender.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            return "contains a control character"
        }
        return nil
    }
}
