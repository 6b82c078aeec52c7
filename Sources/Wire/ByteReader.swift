/// Decodes a message written by `ByteWriter`, front to back.
///
/// Every read checks the bytes remaining first and throws `WireError` instead of trapping, so the
/// input may come from anywhere. A failed read leaves the position where it was.
public struct ByteReader: Sendable {
    private let bytes: [UInt8]
    /// Offset of the next unread byte.
    public private(set) var position: Int = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ bytes: ArraySlice<UInt8>) { self.bytes = Array(bytes) }

    /// Bytes not yet read.
    public var remainingCount: Int { bytes.count - position }
    public var isAtEnd: Bool { position == bytes.count }

    public mutating func readUInt8() throws(WireError) -> UInt8 {
        try require(1)
        defer { position += 1 }
        return bytes[position]
    }

    /// A 4-byte big-endian integer.
    public mutating func readUInt32() throws(WireError) -> UInt32 {
        try require(4)
        let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: position, as: UInt32.self) }
        position += 4
        return UInt32(bigEndian: value)
    }

    /// An 8-byte big-endian integer.
    public mutating func readUInt64() throws(WireError) -> UInt64 {
        try require(8)
        let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: position, as: UInt64.self) }
        position += 8
        return UInt64(bigEndian: value)
    }

    /// An unsigned LEB128 varint in its shortest form (see `Varint.decode`).
    public mutating func readVarint() throws(WireError) -> UInt64 {
        let start = position
        let decoded = try bytes.withUnsafeBytes { raw in
            Result { () throws(WireError) in try Varint.decode(UnsafeRawBufferPointer(rebasing: raw[start...])) }
        }.get()
        position += decoded.byteCount
        return decoded.value
    }

    /// Exactly `count` raw bytes.
    public mutating func readBytes(count: Int) throws(WireError) -> [UInt8] {
        precondition(count >= 0, "negative byte count")
        try require(count)
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    /// A varint length, then that many bytes. The length is checked against `limit` before anything
    /// is allocated, so a hostile prefix cannot make us reserve gigabytes.
    ///
    /// - Throws: `.lengthExceedsLimit` when the prefix exceeds `limit`, `.truncated` when fewer bytes
    ///   follow than it announces. On either, the position is unchanged.
    public mutating func readLengthPrefixed(limit: Int) throws(WireError) -> [UInt8] {
        let start = position
        let length = try readVarint()
        guard length <= UInt64(max(0, limit)) else {
            position = start
            throw .lengthExceedsLimit(length: length, limit: limit)
        }
        guard Int(length) <= remainingCount else {
            let available = remainingCount
            position = start
            throw .truncated(needed: Int(length), available: available)
        }
        return try readBytes(count: Int(length))
    }

    /// A varint length, then that many bytes of UTF-8; invalid sequences become U+FFFD.
    public mutating func readLengthPrefixedString(limit: Int) throws(WireError) -> String {
        String(decoding: try readLengthPrefixed(limit: limit), as: UTF8.self)
    }

    /// Declares the message complete.
    ///
    /// - Throws: `.trailingBytes` when unread bytes remain.
    public func finish() throws(WireError) {
        guard isAtEnd else { throw .trailingBytes(count: remainingCount) }
    }

    private func require(_ count: Int) throws(WireError) {
        guard count <= remainingCount else { throw .truncated(needed: count, available: remainingCount) }
    }
}
