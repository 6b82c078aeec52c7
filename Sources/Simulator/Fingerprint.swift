import Consensus

/// A 64-bit FNV-1a fingerprint of an entry's kind and data: equal entries give equal values on
/// every machine. For the checker's bookkeeping, not for security.
enum Fingerprint {
    static func of(_ e: Entry) -> UInt64 { of(kind: e.kind.rawValue, e.data) }

    static func of(kind: UInt8, _ data: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        h = (h ^ UInt64(kind)) &* 0x100_0000_01b3
        for b in data { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}
