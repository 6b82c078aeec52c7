import Wire

/// The CRC-32C each stored record carries, over a canonical big-endian encoding of its fields.
///
/// Entry: `"E"`, index u64, term u64, kind u8, data length u64, data.
/// Hard state: `"H"`, term u64, vote u64 (0 = none), commit u64.
/// The leading tag keeps a hard-state row from ever validating as an entry. Part of the durable
/// format: changing it needs a new format version.
enum RecordChecksum {
    static func entry(index: UInt64, term: UInt64, kind: UInt8, data: [UInt8]) -> UInt32 {
        var crc = CRC32C()
        crc.add(UInt8(ascii: "E"))
        crc.add(index)
        crc.add(term)
        crc.add(kind)
        crc.add(UInt64(data.count))
        crc.update(data)
        return crc.value
    }

    static func hardState(term: UInt64, vote: UInt64, commit: UInt64) -> UInt32 {
        var crc = CRC32C()
        crc.add(UInt8(ascii: "H"))
        crc.add(term)
        crc.add(vote)
        crc.add(commit)
        return crc.value
    }
}

private extension CRC32C {
    mutating func add<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { update(bufferPointer: $0) }
    }
}
