/// Unsigned LEB128 varints, as in Protocol Buffers' wire format ("Base 128 Varints"): seven bits per
/// byte, least significant group first, high bit set on every byte but the last.
///
/// Our decoder accepts only the shortest encoding of each value, so every value has exactly one
/// encoding and checksums over encoded bytes are canonical.
public enum Varint {
    /// The most bytes a `UInt64` takes: ⌈64 / 7⌉.
    public static let maxByteCount = 10

    /// How many bytes `value` takes.
    public static func byteCount(_ value: UInt64) -> Int {
        // One byte per started group of seven significant bits; zero still takes one byte.
        max(1, (64 - value.leadingZeroBitCount + 6) / 7)
    }

    /// Appends the encoding of `value` to `bytes`.
    public static func encode(_ value: UInt64, into bytes: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// Decodes one varint from the start of `bytes`; returns the value and how many bytes it took.
    ///
    /// - Throws: `WireError.truncated` when `bytes` ends inside the varint, `.overlongVarint` when it
    ///   is longer than 10 bytes, does not fit 64 bits, or has a redundant trailing zero group.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> (value: UInt64, byteCount: Int) {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var i = 0
        while true {
            guard i < bytes.count else { throw .truncated(needed: i + 1, available: bytes.count) }
            guard i < maxByteCount else { throw .overlongVarint }
            let byte = bytes[i]
            let group = UInt64(byte & 0x7F)
            // The tenth byte holds only bit 63.
            if i == maxByteCount - 1 && group > 1 { throw .overlongVarint }
            value |= group << shift
            i += 1
            if byte & 0x80 == 0 {
                // A zero last group after the first byte means a shorter encoding existed.
                if group == 0 && i > 1 { throw .overlongVarint }
                return (value, i)
            }
            shift += 7
        }
    }
}
