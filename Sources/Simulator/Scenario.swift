import Foundation

/// Fault rates and durations for a simulation run, read from a scenario file in `Simulations/`.
///
/// Each parameter is a range; every seed draws its own value from it (swarm testing), so some
/// seeds are calm and some are storms. The file format is one `key = value` or `key = lo..hi`
/// per line; `#` starts a comment. Unknown keys and malformed values are errors.
public struct Scenario: Sendable, Equatable {
    public var name = "default"
    /// Cluster sizes to choose from (3 and 5).
    public var clusterSizes: [Int] = [3, 5]
    public var clients: ClosedRange<Double> = 2...8
    /// Bus topics (client 0 creates them first) and their retention: a message count bound, and
    /// for half the topics an age bound in seconds.
    public var topics: ClosedRange<Double> = 1...3
    public var retentionCount: ClosedRange<Double> = 10...400
    public var retentionSeconds: ClosedRange<Double> = 2...20
    /// Clients doing linearizable reads at random nodes.
    public var readers: ClosedRange<Double> = 0...3
    /// Length of the fault phase; afterwards every fault heals.
    public var faultSeconds: ClosedRange<Double> = 8...25
    /// After healing, every pending proposal must commit within this virtual time (liveness).
    public var healBoundSeconds: ClosedRange<Double> = 20...20
    public var tickMs: ClosedRange<Double> = 50...50
    public var electionTicks: ClosedRange<Double> = 10...10
    public var delayMs: ClosedRange<Double> = 1...30
    public var drop: ClosedRange<Double> = 0...0.2
    public var duplicate: ClosedRange<Double> = 0...0.1
    public var fsyncMs: ClosedRange<Double> = 0.2...8
    /// Crashes per node per second during the fault phase, and how long a node stays down.
    public var crashRate: ClosedRange<Double> = 0...0.3
    public var downMs: ClosedRange<Double> = 100...4000
    /// Partitions (symmetric, asymmetric, isolate-the-leader, bridge) per second and their length.
    public var partitionRate: ClosedRange<Double> = 0...0.6
    public var partitionMs: ClosedRange<Double> = 200...6000
    /// Chance that a newly elected leader is crashed or cut off shortly after its election
    /// (within `leaderFaultMs`): flapping leaders are where Raft's figure 8 lives.
    public var leaderFault: ClosedRange<Double> = 0...0.9
    public var leaderFaultMs: ClosedRange<Double> = 0...200
    /// Clogged links (a long extra delay) per second and their length.
    public var clogRate: ClosedRange<Double> = 0...0.3
    public var clogMs: ClosedRange<Double> = 100...3000
    /// Batching limit; small values split appends and expose ordering bugs.
    public var maxEntriesPerAppend: ClosedRange<Double> = 1...32
    public var maxInflight: ClosedRange<Double> = 1...16
    /// Persist batches a replica may have in flight at once (1: strictly one Ready at a time).
    public var pipelineDepth: ClosedRange<Double> = 1...4
    public var payloadBytes: ClosedRange<Double> = 0...200
    /// Chance a seed snapshots and compacts at all; then every how many applied entries, and how
    /// many entries it keeps behind the snapshot point.
    public var snapshotChance: ClosedRange<Double> = 0.7...0.7
    public var snapshotEvery: ClosedRange<Double> = 5...200
    public var snapshotTrailing: ClosedRange<Double> = 0...20
    public var clientTimeoutMs: ClosedRange<Double> = 800...2500

    public init() {}

    public enum ParseError: Error, CustomStringConvertible {
        case malformed(line: Int, text: String)
        case unknownKey(line: Int, key: String)
        case badValue(line: Int, key: String, value: String)

        public var description: String {
            switch self {
            case let .malformed(line, text): return "scenario line \(line): expected 'key = value', got '\(text)'"
            case let .unknownKey(line, key): return "scenario line \(line): unknown key '\(key)'"
            case let .badValue(line, key, value): return "scenario line \(line): bad value '\(value)' for '\(key)'"
            }
        }
    }

    private static var keys: [String: WritableKeyPath<Scenario, ClosedRange<Double>>] { [
        "clients": \.clients, "readers": \.readers, "topics": \.topics,
        "retention_count": \.retentionCount, "retention_seconds": \.retentionSeconds, "fault_seconds": \.faultSeconds, "heal_bound_seconds": \.healBoundSeconds,
        "tick_ms": \.tickMs, "election_ticks": \.electionTicks, "delay_ms": \.delayMs, "drop": \.drop,
        "duplicate": \.duplicate, "fsync_ms": \.fsyncMs, "crash_rate": \.crashRate, "down_ms": \.downMs,
        "partition_rate": \.partitionRate, "partition_ms": \.partitionMs, "clog_rate": \.clogRate,
        "clog_ms": \.clogMs, "leader_fault": \.leaderFault, "leader_fault_ms": \.leaderFaultMs, "max_entries_per_append": \.maxEntriesPerAppend, "max_inflight": \.maxInflight, "pipeline_depth": \.pipelineDepth,
        "payload_bytes": \.payloadBytes, "snapshot_chance": \.snapshotChance,
        "snapshot_every": \.snapshotEvery, "snapshot_trailing": \.snapshotTrailing, "client_timeout_ms": \.clientTimeoutMs,
    ] }

    /// Parses scenario text; `name` labels it in reports.
    public static func parse(_ text: String, name: String) throws -> Scenario {
        var s = Scenario()
        s.name = name
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                .trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ParseError.malformed(line: n + 1, text: line)
            }
            let key = parts[0], value = parts[1]
            if key == "nodes" {
                let sizes = value.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard !sizes.isEmpty, sizes.allSatisfy({ $0 == 3 || $0 == 5 }) else {
                    throw ParseError.badValue(line: n + 1, key: key, value: value)
                }
                s.clusterSizes = sizes.compactMap { $0 }
                continue
            }
            guard let path = keys[key] else { throw ParseError.unknownKey(line: n + 1, key: key) }
            guard let range = parseRange(value), range.lowerBound >= 0 else {
                throw ParseError.badValue(line: n + 1, key: key, value: value)
            }
            if ["drop", "duplicate", "leader_fault", "snapshot_chance"].contains(key), range.upperBound > 0.9 {
                throw ParseError.badValue(line: n + 1, key: key, value: value)
            }
            s[keyPath: path] = range
        }
        return s
    }

    private static func parseRange(_ v: String) -> ClosedRange<Double>? {
        let bounds = v.components(separatedBy: "..")
        if bounds.count == 1, let x = Double(bounds[0]), x.isFinite { return x...x }
        if bounds.count == 2, let lo = Double(bounds[0].trimmingCharacters(in: .whitespaces)),
           let hi = Double(bounds[1].trimmingCharacters(in: .whitespaces)), lo.isFinite, hi.isFinite, lo <= hi {
            return lo...hi
        }
        return nil
    }
}
