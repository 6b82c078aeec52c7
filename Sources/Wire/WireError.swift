/// Why bytes from outside the process could not be decoded. Decoders in this module report these
/// instead of trapping, so a malformed or hostile peer costs at most its connection.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input ended inside a value: `needed` bytes were required where only `available` remained.
    case truncated(needed: Int, available: Int)
    /// A LEB128 varint longer than 10 bytes, wider than 64 bits, or not in its shortest form.
    case overlongVarint
    /// A length prefix announced `length` bytes, more than the caller's `limit` allows.
    case lengthExceedsLimit(length: UInt64, limit: Int)
    /// A message was fully decoded but `count` bytes were left over.
    case trailingBytes(count: Int)
    /// A frame header announced `size` payload bytes, more than the `limit` the endpoint accepts.
    case frameTooLarge(size: Int, limit: Int)
    /// A frame too short to hold its version and kind bytes.
    case frameTooShort(size: Int)
    /// A frame of a framing version this build does not speak.
    case unsupportedFrameVersion(found: UInt8, supported: UInt8)

    public var description: String {
        switch self {
        case let .truncated(needed, available):
            "input ends early: \(needed) bytes needed, \(available) available"
        case .overlongVarint:
            "malformed varint: longer than 10 bytes, wider than 64 bits, or not in shortest form"
        case let .lengthExceedsLimit(length, limit):
            "length prefix \(length) exceeds the limit of \(limit) bytes"
        case let .trailingBytes(count):
            "\(count) unexpected bytes after the end of the message"
        case let .frameTooLarge(size, limit):
            "frame of \(size) bytes exceeds the limit of \(limit) bytes; the stream cannot be resynchronised"
        case let .frameTooShort(size):
            "frame of \(size) bytes has no room for its version and kind"
        case let .unsupportedFrameVersion(found, supported):
            "frame version \(found) is not supported (this build speaks \(supported))"
        }
    }
}
