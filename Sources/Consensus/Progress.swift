/// What a leader knows about one follower's log (Raft figure 2's nextIndex/matchIndex, with
/// etcd/raft's probe and replicate states for flow control).
struct Progress: Sendable {
    enum State: Sendable, Equatable {
        case probe, replicate
        /// InstallSnapshot sent for this index; appends wait for its answer.
        case snapshot(index: UInt64)
    }

    /// Highest index known to match the leader's log.
    var match: UInt64 = 0
    /// Next index to send.
    var next: UInt64
    var state: State = .probe
    /// Probe state: an append is out and unanswered, so wait (one probe per heartbeat).
    var probeSent = false
    /// Replicate state: last index of each append in flight, oldest first (pipelining).
    var inflight: [UInt64] = []
    /// Heard from since the last check-quorum round.
    var recentActive = false
    /// Ticks spent waiting for a snapshot's answer (the leader resends after a while).
    var snapshotTicks = 0
    /// Highest read-probe round this follower acknowledged (thesis §6.4).
    var readRoundAcked: UInt64 = 0

    init(next: UInt64) { self.next = next }

    func isPaused(maxInflight: Int) -> Bool {
        switch state {
        case .probe: return probeSent
        case .replicate: return inflight.count >= maxInflight
        case .snapshot: return true
        }
    }

    mutating func becomeSnapshot(index: UInt64) {
        state = .snapshot(index: index)
        snapshotTicks = 0
        inflight.removeAll()
    }

    mutating func becomeProbe() {
        state = .probe
        next = match + 1
        probeSent = false
        inflight.removeAll()
    }

    mutating func becomeReplicate() {
        state = .replicate
        next = match + 1
        inflight.removeAll()
    }

    /// A success for `index`: returns true when the match moved forward.
    mutating func update(matched index: UInt64) -> Bool {
        var moved = false
        if index > match {
            match = index
            probeSent = false
            moved = true
        }
        next = max(next, index + 1)
        return moved
    }

    /// A rejection of the append probing `rejected`; `hint` is where the follower's log may match.
    /// Returns false when the rejection is stale (answers an older append).
    mutating func decrease(rejected: UInt64, hint: UInt64) -> Bool {
        switch state {
        case .replicate:
            if rejected <= match { return false }
            next = match + 1
            return true
        case .snapshot:
            return false  // answers an append sent before the snapshot
        case .probe:
            break
        }
        if next == 0 || next - 1 != rejected { return false }
        next = max(min(rejected, hint + 1), match + 1)
        probeSent = false
        return true
    }

    mutating func sent(lastIndex: UInt64, entries: Int) {
        switch state {
        case .probe:
            probeSent = true
        case .replicate:
            if entries > 0 {
                next = lastIndex + 1
                inflight.append(lastIndex)
            }
        case .snapshot:
            break
        }
    }

    mutating func freeInflight(upTo index: UInt64) {
        var k = 0
        while k < inflight.count, inflight[k] <= index { k += 1 }
        if k > 0 { inflight.removeFirst(k) }
    }
}
