import Bus
import Consensus

/// The state machine the simulator replicates: a register of client command ids, each applied
/// once (the dedup that makes client retries safe), with a running digest of what was applied.
final class SimStateMachine: ReplicatedStateMachine {
    private(set) var appliedIDs: [UInt64] = []
    private var seen: Set<UInt64> = []
    private(set) var lastApplied: UInt64 = 0
    private(set) var digest: UInt64 = 0xcbf2_9ce4_8422_2325
    var onApply: ((Entry, _ commandID: UInt64?, _ duplicate: Bool) -> Void)?
    var onSnapshot: ((_ index: UInt64, _ bytes: [UInt8]) -> Void)?
    var onRestore: ((_ snapshot: Snapshot, _ after: [UInt8]) -> Void)?

    struct MalformedSnapshot: Error {}

    func contains(_ id: UInt64) -> Bool { seen.contains(id) }

    func apply(_ entry: Entry) {
        lastApplied = entry.index
        guard entry.kind == .command else {
            onApply?(entry, nil, false)
            return
        }
        let id = Command.id(of: entry.data)
        let duplicate = id.map { !seen.insert($0).inserted } ?? false
        if let id, !duplicate {
            appliedIDs.append(id)
            digest = (digest ^ id) &* 0x100_0000_01b3
        }
        onApply?(entry, id, duplicate)
    }

    func snapshot() -> [UInt8] {
        let bytes = encode()
        onSnapshot?(lastApplied, bytes)
        return bytes
    }

    func restore(_ snapshot: Snapshot) throws {
        let d = snapshot.data
        guard d.count >= 24, (d.count - 24) % 8 == 0 else { throw MalformedSnapshot() }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 << 8 | UInt64(d[at + $1]) } }
        lastApplied = u64(0)
        digest = u64(8)
        let n = Int(u64(16))
        guard n == (d.count - 24) / 8 else { throw MalformedSnapshot() }
        appliedIDs = (0..<n).map { u64(24 + 8 * $0) }
        seen = Set(appliedIDs)
        guard lastApplied == snapshot.metadata.index else { throw MalformedSnapshot() }
        onRestore?(snapshot, encode())
    }

    /// Canonical bytes: last applied, digest, count, ids in apply order (all big-endian u64).
    private func encode() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(24 + 8 * appliedIDs.count)
        func put(_ x: UInt64) { for k in (0..<8).reversed() { out.append(UInt8(truncatingIfNeeded: x >> (UInt64(k) * 8))) } }
        put(lastApplied)
        put(digest)
        put(UInt64(appliedIDs.count))
        for id in appliedIDs { put(id) }
        return out
    }
}

/// The simulator's command encoding: an 8-byte big-endian id, then payload.
enum Command {
    static func encode(id: UInt64, payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(8 + payload.count)
        for k in (0..<8).reversed() { out.append(UInt8(truncatingIfNeeded: id >> (UInt64(k) * 8))) }
        return out + payload
    }

    static func id(of data: [UInt8]) -> UInt64? {
        guard data.count >= 8 else { return nil }
        var id: UInt64 = 0
        for k in 0..<8 { id = id << 8 | UInt64(data[k]) }
        return id
    }

    /// FNV-1a over kind and data: equal entries hash equal on every machine.
    static func digest(_ e: Entry) -> UInt64 { digest(kind: e.kind.rawValue, e.data) }

    static func digest(kind: UInt8, _ data: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        h = (h ^ UInt64(kind)) &* 0x100_0000_01b3
        for b in data { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}
