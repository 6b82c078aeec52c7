import Wire

/// Reads one record of a bus format field by field over a `ByteReader`, turning every `WireError`
/// into a `BusError` that names the format and the field — what an operator needs to find the
/// sender of a bad command.
struct FieldReader {
    let format: String
    private var reader: ByteReader

    init(_ bytes: [UInt8], format: String) {
        self.format = format
        reader = ByteReader(bytes)
    }

    var remainingCount: Int { reader.remainingCount }

    /// Reads the version byte and refuses any but `supported`.
    mutating func version(_ supported: UInt8) throws(BusError) {
        let found = try u8("version")
        guard found == supported else {
            throw .unsupportedVersion(format: format, found: found, supported: supported)
        }
    }

    mutating func u8(_ field: String) throws(BusError) -> UInt8 {
        do throws(WireError) { return try reader.readUInt8() } catch { throw map(error, field) }
    }

    /// A big-endian fixed 8-byte integer.
    mutating func u64(_ field: String) throws(BusError) -> UInt64 {
        do throws(WireError) { return try reader.readUInt64() } catch { throw map(error, field) }
    }

    mutating func u32(_ field: String) throws(BusError) -> UInt32 {
        do throws(WireError) { return try reader.readUInt32() } catch { throw map(error, field) }
    }

    /// A varint element count. Every element takes at least one byte, so a count beyond the bytes
    /// left is refused before anyone loops or reserves on it.
    mutating func count(_ field: String) throws(BusError) -> Int {
        let value: UInt64
        do throws(WireError) { value = try reader.readVarint() } catch { throw map(error, field) }
        guard value <= UInt64(reader.remainingCount) else { throw .truncated(format: format, field: field) }
        return Int(value)
    }

    /// A varint length, then at most `limit` bytes.
    mutating func bytes(_ field: String, limit: Int) throws(BusError) -> [UInt8] {
        do throws(WireError) { return try reader.readLengthPrefixed(limit: limit) } catch { throw map(error, field) }
    }

    /// A length-prefixed field checked by `rule` (which returns why the bytes break it, or nil).
    mutating func checked(_ field: String, limit: Int, _ rule: ([UInt8]) -> String?) throws(BusError) -> [UInt8] {
        let raw = try bytes(field, limit: limit)
        if let reason = rule(raw) { throw .invalidField(format: format, field: field, reason: reason) }
        return raw
    }

    /// A length-prefixed string that must be valid UTF-8. Invalid sequences are refused, not
    /// replaced: a replacement would change the bytes and break canonical re-encoding.
    mutating func utf8(_ field: String, limit: Int) throws(BusError) -> String {
        let raw = try bytes(field, limit: limit)
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw .invalidField(format: format, field: field, reason: "is not valid UTF-8")
        }
        return text
    }

    /// Declares the record complete.
    func finish() throws(BusError) {
        guard reader.isAtEnd else { throw .trailingBytes(format: format, count: reader.remainingCount) }
    }

    func invalid(_ field: String, _ reason: String) -> BusError {
        .invalidField(format: format, field: field, reason: reason)
    }

    private func map(_ error: WireError, _ field: String) -> BusError {
        switch error {
        case .truncated: .truncated(format: format, field: field)
        case .overlongVarint: .malformedVarint(format: format, field: field)
        case let .lengthExceedsLimit(length, limit): .fieldTooLong(format: format, field: field, length: length, limit: limit)
        case let .trailingBytes(count): .trailingBytes(format: format, count: count)
        case .frameTooLarge: .invalidField(format: format, field: field, reason: "is too large")
        case .frameTooShort, .unsupportedFrameVersion: .invalidField(format: format, field: field, reason: "is not a valid frame")
        }
    }
}

/// The character rules of bus identifiers. Each returns why `bytes` break the rule, or nil.
enum IdentifierRules {
    /// `min...max` bytes, each in `allowed`.
    static func ascii(_ bytes: [UInt8], max: Int, allowed: (UInt8) -> Bool, allowedText: String) -> String? {
        guard !bytes.isEmpty else { return "is empty" }
        guard bytes.count <= max else { return "is \(bytes.count) bytes long, the limit is \(max)" }
        if let i = bytes.firstIndex(where: { !allowed($0) }) {
            return "has byte \(hex8(bytes[i])) at position \(i); allowed are \(allowedText)"
        }
        return nil
    }

    static func isLowerAlnum(_ b: UInt8) -> Bool { (0x61...0x7A).contains(b) || (0x30...0x39).contains(b) }

    /// Topic and subscription names: [a-z0-9._/-], no leading or trailing '/', no "//".
    static func pathName(_ bytes: [UInt8], max: Int) -> String? {
        if let reason = ascii(bytes, max: max, allowed: { isLowerAlnum($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2F || $0 == 0x2D },
                              allowedText: "a-z 0-9 . _ / -") { return reason }
        if bytes.first == 0x2F || bytes.last == 0x2F { return "starts or ends with '/'" }
        for i in 1..<bytes.count where bytes[i] == 0x2F && bytes[i - 1] == 0x2F { return "contains '//' at position \(i - 1)" }
        return nil
    }

    static func hex8(_ b: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return "0x" + String(digits[Int(b >> 4)]) + String(digits[Int(b & 0x0F)])
    }

    /// Strict byte-wise order, the only order that goes into canonical bytes (String's `<` compares
    /// by Unicode rules, which are not ours to freeze).
    static func precedes(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}
