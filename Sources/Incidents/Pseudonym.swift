import Wire

/// HMAC-SHA256 (RFC 2104 with FIPS 180-4's SHA-256; test vectors RFC 4231).
public enum HMACSHA256 {
    public static func authenticate(_ message: some Sequence<UInt8>, key: [UInt8]) -> [UInt8] {
        var k = key.count > SHA256.blockByteCount ? SHA256.hash(key) : key
        k += [UInt8](repeating: 0, count: SHA256.blockByteCount - k.count)
        var inner = SHA256()
        inner.update(k.map { $0 ^ 0x36 })
        inner.update(message)
        var outer = SHA256()
        outer.update(k.map { $0 ^ 0x5C })
        outer.update(inner.finalize())
        return outer.finalize()
    }
}

/// The keys that turn personal values into pseudonyms: keyed HMAC-SHA256, so that without the key
/// nobody can test a guess ("was it Anna Schmidt?") against an export, as they could against a
/// plain hash. Keys have versions; rotating adds a new one and exports use the newest, so
/// pseudonyms of exports made before and after a rotation cannot be linked. A key is 32 random
/// bytes in a file of its own (`pseudonym-<version>.key`, mode 0600) beside the store.
public struct PseudonymKeys: Sendable {
    public struct Key: Sendable {
        public var version: Int
        public var bytes: [UInt8]
        public init(version: Int, bytes: [UInt8]) { self.version = version; self.bytes = bytes }
    }
    public private(set) var keys: [Key]

    public enum KeyError: Error, Equatable, CustomStringConvertible {
        case none
        case tooShort(version: Int, bytes: Int)
        case duplicate(version: Int)
        public var description: String {
            switch self {
            case .none: "no pseudonym key (florian incidents rotate-key --store DIR makes one)"
            case .tooShort(let v, let n): "pseudonym key \(v) has \(n) bytes; at least 32 are needed"
            case .duplicate(let v): "pseudonym key \(v) is given twice"
            }
        }
    }

    public init(_ keys: [Key]) throws(KeyError) {
        guard !keys.isEmpty else { throw .none }
        for k in keys where k.bytes.count < 32 { throw .tooShort(version: k.version, bytes: k.bytes.count) }
        let sorted = keys.sorted { $0.version < $1.version }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.version == b.version { throw .duplicate(version: a.version) }
        self.keys = sorted
    }

    /// The key exports use: the newest.
    public var current: Key { keys.last! }

    /// The pseudonym of `value` in `field` under the current key: "k<version>-" and 16 hex digits
    /// (64 bits of the HMAC: collisions among a directorate's few thousand people are out of
    /// reach). The field name is part of the message, so the same text in two fields gives two
    /// pseudonyms.
    public func pseudonym(_ value: Personal<String>, field: String) -> String {
        let key = current
        let mac = HMACSHA256.authenticate(Array(field.utf8) + [0] + Array(value.storedValue.utf8), key: key.bytes)
        return "k\(key.version)-" + Hex.encode(Array(mac.prefix(8)))
    }
}
