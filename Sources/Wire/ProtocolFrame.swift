/// One frame of a Florian protocol on TLS (Protocols/framing.md): inside the length prefix of
/// `Frame`, a framing version byte and a kind byte that the protocol defines, then the body.
///
///     frame = length:u32be  version:u8 (= 1)  kind:u8  body   ; length counts version+kind+body
///
/// Kind 0 is reserved in every protocol for `error` (u16be code, UTF-8 reason): the last frame a
/// peer sends before it closes a connection it refuses.
public struct ProtocolFrame: Equatable, Sendable {
    public static let version: UInt8 = 1
    /// The error kind, the same in every protocol.
    public static let errorKind: UInt8 = 0

    public var kind: UInt8
    public var body: [UInt8]

    public init(kind: UInt8, body: [UInt8]) {
        self.kind = kind
        self.body = body
    }

    /// Codes of the `error` frame.
    public enum ErrorCode: UInt16, Sendable {
        case malformed = 1
        case tooLarge = 2
        case unsupportedVersion = 3
        case unauthorised = 4
        case overloaded = 5
        case timeout = 6
        case internalError = 7
    }

    /// An `error` frame with `code` and a short reason (truncated to 256 bytes; never user data).
    public static func error(_ code: ErrorCode, _ reason: String) -> ProtocolFrame {
        var w = ByteWriter()
        w.writeUInt16(code.rawValue)
        w.writeBytes(Array(reason.utf8.prefix(256)))
        return ProtocolFrame(kind: errorKind, body: w.bytes)
    }

    /// The length-prefixed bytes of this frame.
    public func encode(maxPayloadSize: Int) throws(WireError) -> [UInt8] {
        try Frame.encode([Self.version, kind] + body, maxPayloadSize: maxPayloadSize)
    }

    /// Parses the payload `FrameDecoder` returned.
    public static func decode(payload: [UInt8]) throws(WireError) -> ProtocolFrame {
        guard payload.count >= 2 else { throw .frameTooShort(size: payload.count) }
        guard payload[0] == version else { throw .unsupportedFrameVersion(found: payload[0], supported: version) }
        return ProtocolFrame(kind: payload[1], body: Array(payload[2...]))
    }

    /// The code and reason of an `error` frame, if this is one and well formed.
    public var errorInfo: (code: UInt16, reason: String)? {
        guard kind == Self.errorKind, body.count >= 2 else { return nil }
        return (UInt16(body[0]) << 8 | UInt16(body[1]), String(decoding: body[2...], as: UTF8.self))
    }
}
