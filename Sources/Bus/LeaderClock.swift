/// The leader's clock for domain deadlines, as a pure core: when the earliest deadline of the
/// domain states (re-alarm, fallback, lease expiry) is due, the leader proposes one `alarm.clock`
/// command, whose timestamp — the leader's clock — moves the state clock, so deadlines fire also
/// when no other command comes. One at a time; a new leader starts afresh.
///
/// The node (`NodeServer`) wakes at `wake(…)` and the simulator asks on every tick; both propose
/// what `propose(…)` returns, and call `completed()` when it has an outcome.
public struct LeaderClock: Sendable {
    public static let commandType = "alarm.clock"
    public static let payload: [UInt8] = Array("{}".utf8)

    public private(set) var inFlight = false
    private var proposed: UInt64 = 0

    public init() {}

    /// When the node should wake to propose (nil: not the leader, one in flight, or no deadline).
    public func wake(isLeader: Bool, deadline: UInt64?) -> UInt64? {
        isLeader && !inFlight ? deadline : nil
    }

    /// The clock command's id when a deadline is due at `now` on the leader; it is then in flight.
    public mutating func propose(isLeader: Bool, deadline: UInt64?, now: UInt64, node: UInt64, term: UInt64) -> CommandID? {
        guard isLeader, !inFlight, let due = deadline, due <= now else { return nil }
        inFlight = true
        proposed += 1
        return try? CommandID("clock-\(node)-\(term)-\(proposed)")
    }

    /// The clock command has an outcome (or the node lost it).
    public mutating func completed() { inFlight = false }
}
