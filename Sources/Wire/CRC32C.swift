/// CRC-32C (Castagnoli; RFC 3720 §12.1, reflected polynomial 0x82F63B78), incremental.
///
/// Slicing-by-8: eight bytes per step through eight 256-entry tables (Kounavis and Berry, 2005).
/// The check value of "123456789" is 0xE3069283. Detects every burst error up to 32 bits and any
/// odd number of bit errors, which is what it is for here: noticing a damaged record, not an attacker.
public struct CRC32C: Sendable {
    /// The running remainder, kept inverted as the algorithm works on it.
    private var remainder: UInt32 = 0xFFFF_FFFF

    public init() {}

    /// The CRC-32C of everything added so far.
    public var value: UInt32 { ~remainder }

    /// The CRC-32C of `bytes` in one call.
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }

    /// Adds `bytes`. Contiguous collections are read in place; other sequences are copied once.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let handled: Void? = bytes.withContiguousStorageIfAvailable {
            update(bufferPointer: UnsafeRawBufferPointer($0))
        }
        if handled == nil {
            let copy = Array(bytes)
            copy.withUnsafeBytes { update(bufferPointer: $0) }
        }
    }

    /// Adds the bytes in `buffer`.
    public mutating func update(bufferPointer buffer: UnsafeRawBufferPointer) {
        var crc = remainder
        Self.tables.withUnsafeBufferPointer { t in
            var i = 0
            let count = buffer.count
            while count - i >= 8 {
                let word = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                let low = UInt32(truncatingIfNeeded: word) ^ crc
                let high = UInt32(truncatingIfNeeded: word >> 32)
                crc = t[7 &* 256 &+ Int(low & 0xFF)] ^ t[6 &* 256 &+ Int((low >> 8) & 0xFF)]
                    ^ t[5 &* 256 &+ Int((low >> 16) & 0xFF)] ^ t[4 &* 256 &+ Int(low >> 24)]
                    ^ t[3 &* 256 &+ Int(high & 0xFF)] ^ t[2 &* 256 &+ Int((high >> 8) & 0xFF)]
                    ^ t[1 &* 256 &+ Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
                i &+= 8
            }
            while i < count {
                crc = t[Int((crc ^ UInt32(buffer[i])) & 0xFF)] ^ (crc >> 8)
                i &+= 1
            }
        }
        remainder = crc
    }

    /// Table k at offsets k·256 ..< (k+1)·256: table 0 is the bytewise table, table k advances
    /// table k−1 by one more zero byte.
    private static let tables: [UInt32] = {
        let polynomial: UInt32 = 0x82F6_3B78
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for n in 0..<256 {
            var c = UInt32(n)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ polynomial : c >> 1 }
            tables[n] = c
        }
        for k in 1..<8 {
            for n in 0..<256 {
                let previous = tables[(k - 1) * 256 + n]
                tables[k * 256 + n] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()
}
