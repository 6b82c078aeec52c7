import Consensus

/// Why a bus value could not be built or decoded. Decoders report these instead of trapping, so a
/// malformed command or a damaged snapshot costs an error, never the process.
///
/// Descriptions name the format and the field but never echo field contents: a sender is a person's
/// certificate subject, and error texts end up in logs.
public enum BusError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The first byte announced a format version this code does not read.
    case unsupportedVersion(format: String, found: UInt8, supported: UInt8)
    /// The input ended inside `field`.
    case truncated(format: String, field: String)
    /// A varint in `field` was longer than 10 bytes, wider than 64 bits, or not in shortest form.
    case malformedVarint(format: String, field: String)
    /// A length prefix announced more bytes than `field` may hold.
    case fieldTooLong(format: String, field: String, length: UInt64, limit: Int)
    /// `field` decoded but breaks its rules (characters, range, order).
    case invalidField(format: String, field: String, reason: String)
    /// A value given to an initialiser breaks its rules.
    case invalidValue(kind: String, reason: String)
    /// A record was fully decoded but `count` bytes were left over.
    case trailingBytes(format: String, count: Int)
    /// The stored checksum does not match the bytes: the data was damaged.
    case checksumMismatch(format: String, stored: UInt32, computed: UInt32)
    /// A snapshot decoded but its parts contradict each other (or a domain machine refused its part).
    case inconsistentSnapshot(reason: String)
    /// A snapshot's own applied position differs from the metadata it was delivered with.
    case snapshotPositionMismatch(encoded: LogPosition, metadata: LogPosition)

    public var description: String {
        switch self {
        case let .unsupportedVersion(format, found, supported):
            "\(format): format version \(found) is not supported (this node reads version \(supported))"
        case let .truncated(format, field):
            "\(format): input ends inside field '\(field)'"
        case let .malformedVarint(format, field):
            "\(format): field '\(field)' holds a malformed varint"
        case let .fieldTooLong(format, field, length, limit):
            "\(format): field '\(field)' announces \(length) bytes, the limit is \(limit)"
        case let .invalidField(format, field, reason):
            "\(format): field '\(field)' \(reason)"
        case let .invalidValue(kind, reason):
            "invalid \(kind): \(reason)"
        case let .trailingBytes(format, count):
            "\(format): \(count) unexpected bytes after the end of the record"
        case let .checksumMismatch(format, stored, computed):
            "\(format): checksum mismatch (stored \(hex32(stored)), computed \(hex32(computed))); the data is damaged"
        case let .inconsistentSnapshot(reason):
            "bus snapshot is inconsistent: \(reason)"
        case let .snapshotPositionMismatch(encoded, metadata):
            "bus snapshot covers \(encoded) but its metadata says \(metadata)"
        }
    }
}

private func hex32(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}
