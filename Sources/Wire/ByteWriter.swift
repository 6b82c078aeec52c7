/// Builds an encoded message: varints, fixed-width big-endian integers, length-prefixed strings.
/// The counterpart of `ByteReader`; what one writes the other reads back.
public struct ByteWriter: Sendable {
    /// The encoded bytes so far.
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Empties the writer and keeps its storage, to encode the next message without allocating.
    public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

    public mutating func writeUInt8(_ value: UInt8) { bytes.append(value) }

    public mutating func writeUInt16(_ value: UInt16) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func writeUInt32(_ value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func writeUInt64(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends `value` as an unsigned LEB128 varint (1–10 bytes).
    public mutating func writeVarint(_ value: UInt64) { Varint.encode(value, into: &bytes) }

    /// Appends `raw` as it is, with no length: the reader must know the length from elsewhere.
    public mutating func writeBytes(_ raw: some Sequence<UInt8>) { bytes.append(contentsOf: raw) }

    /// Appends the varint length of `raw`, then `raw`.
    public mutating func writeLengthPrefixed(_ raw: some Collection<UInt8>) {
        writeVarint(UInt64(raw.count))
        bytes.append(contentsOf: raw)
    }

    /// Appends the varint length of the UTF-8 encoding of `string`, then that encoding.
    public mutating func writeLengthPrefixed(_ string: String) { writeLengthPrefixed(string.utf8) }
}
