/// Signed 16-bit PCM as transmitter interfaces take it.
public enum PCM {
    /// `samples` as little-endian bytes (two per sample).
    public static func littleEndian(_ samples: [Int16]) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(samples.count * 2)
        for s in samples {
            let u = UInt16(bitPattern: s)
            bytes.append(UInt8(u & 0xFF))
            bytes.append(UInt8(u >> 8))
        }
        return bytes
    }
}
