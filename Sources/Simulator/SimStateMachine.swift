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
    static func digest(_ e: Entry) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        h = (h ^ UInt64(e.kind.rawValue)) &* 0x100_0000_01b3
        for b in e.data { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}
