import Wire

/// The CRC-32C each stored record carries, over a canonical big-endian encoding of its fields.
///
/// Entry: `"E"`, index u64, term u64, kind u8, data length u64, data.
/// Hard state: `"H"`, term u64, vote u64 (0 = none), commit u64.
/// Snapshot (format 2): `"S"`, index u64, term u64, file name length u64, file name (UTF-8),
/// digest length u64, digest (the snapshot file's SHA-256).
/// Log start (format 2): `"L"`, compacted index u64, compacted term u64.
/// The leading tag keeps a row of one table from ever validating as another's. Part of the durable
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

    static func snapshot(index: UInt64, term: UInt64, file: String, digest: [UInt8]) -> UInt32 {
        var crc = CRC32C()
        crc.add(UInt8(ascii: "S"))
        crc.add(index)
        crc.add(term)
        let name = Array(file.utf8)
        crc.add(UInt64(name.count))
        crc.update(name)
        crc.add(UInt64(digest.count))
        crc.update(digest)
        return crc.value
    }

    static func logStart(index: UInt64, term: UInt64) -> UInt32 {
        var crc = CRC32C()
        crc.add(UInt8(ascii: "L"))
        crc.add(index)
        crc.add(term)
        return crc.value
    }
}

private extension CRC32C {
    mutating func add<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { update(bufferPointer: $0) }
    }
}
