import XCTest
@_spi(Simulation) import Consensus

/// Log replication: Raft §5.3 (AppendEntries, consistency check, commit), §5.4.2 and §8 (the new
/// leader's no-op), with etcd/raft's flow control (batching, pipelining, rejection hints).
final class ReplicationTests: XCTestCase {

    // MARK: Leader side

    /// §8: "each leader commit a blank no-op entry into the log at the start of its term", which also
    /// commits its predecessors' entries (§5.4.2).
    func testNewLeaderAppendsNoopOfItsTermAndCommitsIt() {
        let net = TestNetwork(size: 3)
        net.elect(1)
        let noop = Entry(index: 1, term: 1, kind: .noop, data: [])
        XCTAssertEqual(net[1].entry(at: 1), noop)
        XCTAssertEqual(net[1].lastIndex, 1)
        XCTAssertTrue(net.readies[n(1)]!.contains { $0.entries == [noop] }, "the no-op is handed out for persisting")
        for id in net.ids {
            XCTAssertEqual(net.nodes[id]!.commitIndex, 1, "\(id)")
            XCTAssertEqual(net.applied[id]!, [noop], "\(id)")
        }
        net.assertStorageMatchesMemory()
    }

    /// §5.3: "A log entry is committed once the leader that created the entry has replicated it on a
    /// majority of the servers" (etcd's TestLeaderAcknowledgeCommit).
    func testProposalCommitsOnceMajorityAcknowledges() {
        let cases: [(size: Int, acks: Set<UInt64>, committed: Bool)] = [
            (1, [], true),
            (3, [], false), (3, [2], true), (3, [2, 3], true),
            (5, [], false), (5, [2], false), (5, [2, 3], true), (5, [2, 3, 4, 5], true),
        ]
        for c in cases {
            let net = TestNetwork(size: c.size)
            net.elect(1)
            guard case .success(let p) = net.propose(1, [9]) else { XCTFail("propose"); continue }
            XCTAssertEqual(p.index, 2)
            net.flush(1)
            net.deliver(where: { c.acks.contains($0.to.rawValue) })
            net.dropQueued()
            for id in c.acks { net.flush(id) }
            net.deliver()
            XCTAssertEqual(net[1].commitIndex, c.committed ? 2 : 1, "size \(c.size) acks \(c.acks.sorted())")
            net.flush(1)
            XCTAssertEqual(net.applied[n(1)]!.last?.data, c.committed ? [9] : [], "size \(c.size) acks \(c.acks.sorted())")
        }
    }

    /// §5.3: "When the leader commits an entry, it also commits all preceding entries in its log,
    /// including entries created by previous leaders" (etcd's TestLeaderCommitPrecedingEntries).
    func testCommittingOwnEntryCommitsPrecedingEntriesOfEarlierTerms() {
        for prior: [UInt64] in [[], [2], [1, 1], [1, 2, 2]] {
            let logs = Dictionary(uniqueKeysWithValues: (1...3 as ClosedRange<UInt64>).map {
                ($0, recovered(terms: prior, term: 2))
            })
            let net = TestNetwork(size: 3, logs: logs)
            net.elect(1)
            XCTAssertEqual(net[1].term, 3)
            net.propose(1, [5])
            net.stabilize()
            let applied = net.applied[n(1)]!
            XCTAssertEqual(applied.map(\.index), Array(1...UInt64(prior.count + 2)), "prior \(prior)")
            XCTAssertEqual(applied.map(\.term), prior + [3, 3], "prior \(prior)")
            XCTAssertEqual(applied.last?.data, [5])
        }
    }

    // MARK: Follower side

    /// §5.3 consistency check: a follower refuses an append whose previous entry it does not hold,
    /// and hints where its log may match (etcd's TestFollowerCheckMsgApp).
    func testFollowerRejectsAppendWhosePreviousEntryDoesNotMatch() {
        let cases: [(prevIndex: UInt64, prevTerm: UInt64, index: UInt64, hint: Message.Rejection?)] = [
            (0, 0, 1, nil),  // below the commit index: already known to match up to commit
            (1, 1, 1, nil),
            (2, 2, 2, nil),
            (1, 2, 1, .init(hintIndex: 1, hintTerm: 1)),   // term mismatch
            (3, 3, 3, .init(hintIndex: 2, hintTerm: 2)),   // beyond the log
        ]
        for c in cases {
            var r = makeRaft(id: 2, recovered: recovered(terms: [1, 2], term: 2, commit: 1))
            r.step(Message(from: n(1), to: n(2), term: 2,
                           body: .append(prevIndex: c.prevIndex, prevTerm: c.prevTerm, entries: [], commit: 1)))
            XCTAssertEqual(r.ready().messages,
                           [Message(from: n(2), to: n(1), term: 2, body: .appendResponse(index: c.index, rejection: c.hint))],
                           "prev \(c.prevIndex)/\(c.prevTerm)")
            XCTAssertEqual(r.logTerms, [1, 2], "a rejected append changes nothing")
        }
    }

    /// §5.3: "If an existing entry conflicts with a new one (same index but different terms), delete
    /// the existing entry and all that follow it"; entries already present are kept and not handed
    /// out again (etcd's TestFollowerAppendEntries).
    func testFollowerTruncatesConflictingSuffixAndAppends() {
        let cases: [(prev: (UInt64, UInt64), new: [(UInt64, UInt64)], log: [UInt64], unstable: [(UInt64, UInt64)])] = [
            ((2, 2), [(3, 3)], [1, 2, 3], [(3, 3)]),
            ((1, 1), [(2, 3), (3, 4)], [1, 3, 4], [(2, 3), (3, 4)]),
            ((0, 0), [(1, 1)], [1, 2], []),
            ((0, 0), [(1, 3)], [3], [(1, 3)]),
            ((1, 1), [(2, 2), (3, 4)], [1, 2, 4], [(3, 4)]),
        ]
        for c in cases {
            var r = makeRaft(id: 2, recovered: recovered(terms: [1, 2], term: 2))
            let new = c.new.map { Entry(index: $0.0, term: $0.1, data: [0xEE]) }
            r.step(Message(from: n(1), to: n(2), term: 4,
                           body: .append(prevIndex: c.prev.0, prevTerm: c.prev.1, entries: new, commit: 0)))
            XCTAssertEqual(r.logTerms, c.log, "prev \(c.prev) new \(c.new)")
            let rd = r.ready()
            XCTAssertEqual(rd.entries.map { [$0.index, $0.term] }, c.unstable.map { [$0.0, $0.1] }, "prev \(c.prev)")
            XCTAssertEqual(rd.messages.first?.body, .appendResponse(index: c.prev.0 + UInt64(new.count), rejection: nil))
            XCTAssertNil(r.fault)
        }
    }

    /// Figure 2, AppendEntries receiver rule 5: "set commitIndex = min(leaderCommit, index of last
    /// new entry)" — never beyond what this append proved matches (etcd's TestFollowerCommitEntry).
    func testFollowerCommitIsBoundedByLastNewEntry() {
        let cases: [(log: [UInt64], prev: UInt64, new: Int, leaderCommit: UInt64, commit: UInt64)] = [
            ([], 0, 1, 1, 1),
            ([], 0, 2, 1, 1),
            ([], 0, 2, 5, 2),
            ([1, 1, 1], 0, 1, 3, 1),   // the tail may be stale: only index 1 is proven
            ([1, 1, 1], 3, 0, 3, 3),
        ]
        for c in cases {
            var r = makeRaft(id: 2, recovered: recovered(terms: c.log, term: 1))
            let new = (0..<c.new).map { Entry(index: c.prev + 1 + UInt64($0), term: 1) }
            r.step(Message(from: n(1), to: n(2), term: 1,
                           body: .append(prevIndex: c.prev, prevTerm: c.prev == 0 ? 0 : 1, entries: new, commit: c.leaderCommit)))
            XCTAssertEqual(r.commitIndex, c.commit, "\(c)")
            XCTAssertEqual(r.ready().committed.map(\.index), Array(stride(from: 1, through: c.commit, by: 1)))
        }
    }

    // MARK: nextIndex backing up (§5.3)

    /// §5.3: after a rejection the leader decrements nextIndex; with the optimisation at the end of
    /// §5.3 (etcd's findConflictByTerm hint) it skips a whole conflicting term per round trip.
    func testLeaderBacksUpNextIndexWithRejectionHintsAndConverges() {
        let leaderLog: [UInt64] = [1, 1, 1, 1, 1, 3, 3, 3, 3, 3]
        let followerLog: [UInt64] = [1, 1, 1, 1, 1] + Array(repeating: 2, count: 10)
        let net = TestNetwork(size: 3, logs: [
            1: recovered(terms: leaderLog, term: 3),
            2: recovered(terms: followerLog, term: 3),
            3: recovered(terms: leaderLog, term: 3),
        ])
        net.elect(1)
        net.stabilize()
        let toN2 = net.sent.filter { $0.from == n(1) && $0.to == n(2) && $0.isAppend }
        let rejections = net.sent.filter { $0.from == n(2) && $0.rejection != nil }
        XCTAssertEqual(rejections.count, 1, "one round trip skips the whole conflicting term 2")
        XCTAssertEqual(rejections.first?.body, .appendResponse(index: 10, rejection: .init(hintIndex: 10, hintTerm: 2)))
        guard toN2.count >= 2, case .append(let prevIndex, let prevTerm, _, _) = toN2[1].body else {
            return XCTFail("expected a second append to n2")
        }
        XCTAssertEqual([prevIndex, prevTerm], [5, 1], "the probe jumps to the last entry of term ≤ 2")
        XCTAssertEqual(net[2].logTerms, leaderLog + [4])
        XCTAssertEqual(net[2].logEntries, net[1].logEntries)
        XCTAssertEqual(net[1].commitIndex, 11)
        // n2 was still being probed when index 11 committed, so it learns the commit index from
        // the next heartbeat (etcd would also resend it on the ack that unpauses the follower).
        net.tick(1)
        net.stabilize()
        XCTAssertEqual(net[2].commitIndex, 11)
        net.assertStorageMatchesMemory()
    }

    /// A follower with an empty log answers the first probe with a hint at its end, so the leader
    /// does not walk back one entry per round trip.
    func testEmptyFollowerIsCaughtUpAfterOneRejection() {
        let long = Array(repeating: UInt64(1), count: 40)
        let net = TestNetwork(size: 3, logs: [1: recovered(terms: long, term: 1), 3: recovered(terms: long, term: 1)])
        net.elect(1)
        net.stabilize()
        XCTAssertEqual(net.sent.filter { $0.from == n(2) && $0.rejection != nil }.count, 1)
        XCTAssertEqual(net[2].logEntries, net[1].logEntries)
        XCTAssertEqual(net[2].lastIndex, 41)
    }

    /// §5.3: "the leader retries AppendEntries RPCs indefinitely ... until all followers eventually
    /// store all log entries", even when messages are lost.
    func testLeaderRetriesUntilLossyFollowerHasEverything() {
        let net = TestNetwork(size: 3)
        net.elect(1)
        var counter = 0
        net.dropIf = { m in
            guard m.to == n(3) || m.from == n(3) else { return false }
            counter += 1
            return counter % 2 == 0
        }
        for k in 0..<20 {
            net.propose(1, [UInt8(k)])
            net.run(ticks: 1)
        }
        net.heal()
        net.run(ticks: 5)
        XCTAssertEqual(net[3].logEntries, net[1].logEntries)
        XCTAssertEqual(net[3].commitIndex, 21)
        XCTAssertEqual(net.applied[n(3)]!.map(\.index), Array(1...21))
        XCTAssertEqual(net.applied[n(3)]!, net.applied[n(1)]!)
    }

    // MARK: Flow control

    /// Batching: no append carries more than `maxEntriesPerAppend` entries; the backlog goes out in
    /// several appends.
    func testBatchingRespectsMaxEntriesPerAppend() {
        let net = TestNetwork(size: 3) { $0.maxEntriesPerAppend = 3 }
        net.elect(1)
        for k in 0..<10 { net.propose(1, [UInt8(k)]) }
        net.stabilize()
        let appends = net.sent.filter(\.isAppend)
        XCTAssertTrue(appends.allSatisfy { $0.appendEntries.count <= 3 }, "\(appends.map { $0.appendEntries.count })")
        let toN2 = appends.filter { $0.to == n(2) && !$0.appendEntries.isEmpty && $0.appendEntries[0].index >= 2 }
        XCTAssertGreaterThanOrEqual(toN2.count, 4)
        XCTAssertTrue(toN2.contains { $0.appendEntries.count == 3 }, "batches are filled up to the limit")
        for id in net.ids { XCTAssertEqual(net.nodes[id]!.commitIndex, 11) }
        XCTAssertEqual(net[2].logEntries, net[1].logEntries)
    }

    /// Batching by size: an append carries about `maxBytesPerAppend` bytes, but always at least one
    /// entry, however big.
    func testBatchingRespectsMaxBytesPerAppend() {
        let net = TestNetwork(size: 3) { $0.maxBytesPerAppend = 300 }
        net.elect(1)
        for k in 0..<6 { net.propose(1, Array(repeating: UInt8(k), count: 100)) }
        net.propose(1, Array(repeating: 0xFF, count: 1000))
        net.stabilize()
        let appends = net.sent.filter { $0.isAppend && !$0.appendEntries.isEmpty }
        for m in appends where m.appendEntries.count > 1 {
            XCTAssertLessThanOrEqual(m.appendEntries.reduce(0) { $0 + $1.size }, 300)
        }
        XCTAssertTrue(appends.contains { $0.appendEntries.count == 2 })
        XCTAssertTrue(appends.contains { $0.appendEntries.count == 1 && $0.appendEntries[0].data.count == 1000 })
        XCTAssertEqual(net[3].logEntries, net[1].logEntries)
        XCTAssertEqual(net[3].commitIndex, 8)
    }

    /// Pipelining: a follower in the replicate state receives up to `maxInflightAppends` appends
    /// before the leader waits for an acknowledgement; each acknowledgement frees room for more.
    func testPipeliningSendsUpToMaxInflightAppendsBeforeAcks() {
        let net = TestNetwork(size: 3) { $0.maxInflightAppends = 3 }
        net.elect(1)
        for k in 0..<5 {
            net.propose(1, [UInt8(k)])
            net.flush(1)
        }
        let inFlight = net.queued(from: 1, to: 2).filter(\.isAppend)
        XCTAssertEqual(inFlight.map { $0.appendEntries.map(\.index) }, [[2], [3], [4]],
                       "three appends out without any acknowledgement, then the leader waits")
        // Acknowledge the first: the leader sends what was held back.
        net.deliver(where: { $0.to == n(2) && $0.appendEntries.first?.index == 2 })
        net.flush(2)
        net.deliver(where: { $0.from == n(2) })
        net.flush(1)
        let next = net.queued(from: 1, to: 2).filter(\.isAppend).map { $0.appendEntries.map(\.index) }
        XCTAssertEqual(next, [[3], [4], [5, 6]])
        net.stabilize()
        for id in net.ids { XCTAssertEqual(net.nodes[id]!.commitIndex, 6) }
        XCTAssertEqual(net[2].logEntries, net[1].logEntries)
    }

    // MARK: Commit index propagation

    /// §5.3: the leader "includes that index in future AppendEntries RPCs ... Once a follower learns
    /// that a log entry is committed, it applies the entry to its local state machine."
    func testCommitIndexReachesFollowersInNextAppend() {
        let net = TestNetwork(size: 3)
        net.elect(1)
        net.propose(1, [1])
        net.flush(1)
        net.deliver(where: { $0.to != n(1) })
        net.flush(2)
        net.flush(3)
        XCTAssertEqual(net[2].lastIndex, 2)
        XCTAssertEqual(net[2].commitIndex, 1, "stored but not yet known committed")
        net.deliver()
        XCTAssertEqual(net[1].commitIndex, 2)
        net.flush(1)
        let carrying = net.queued(from: 1).filter(\.isAppend)
        XCTAssertEqual(carrying.count, 2)
        for m in carrying {
            guard case .append(_, _, _, let commit) = m.body else { continue }
            XCTAssertEqual(commit, 2)
        }
        net.stabilize()
        XCTAssertEqual(net[2].commitIndex, 2)
        XCTAssertEqual(net.applied[n(2)]!.last?.data, [1])
        XCTAssertEqual(net.applied[n(3)]!.last?.data, [1])
    }

    /// §5.3 "(including heartbeats)": when the appends carrying the new commit index are lost, the
    /// next heartbeat brings it.
    func testCommitIndexReachesFollowersThroughHeartbeat() {
        let net = TestNetwork(size: 3)
        net.elect(1)
        net.propose(1, [1])
        net.flush(1)
        net.deliver(where: { $0.to != n(1) })
        net.flushAll()
        net.deliver()
        XCTAssertEqual(net[1].commitIndex, 2)
        net.flush(1)
        net.dropQueued()
        XCTAssertEqual(net[2].commitIndex, 1)
        net.tick(1)
        net.flush(1)
        XCTAssertEqual(net.queued(from: 1).map(\.body), [.heartbeat(commit: 2), .heartbeat(commit: 2)])
        net.deliver()
        XCTAssertEqual(net[2].commitIndex, 2)
        XCTAssertEqual(net[3].commitIndex, 2)
    }

    /// A heartbeat never tells a follower to commit beyond what it is known to hold: the leader caps
    /// the commit index at the follower's match (etcd sends min(match, committed)).
    func testHeartbeatCommitIsCappedAtFollowersMatch() {
        let net = TestNetwork(size: 3)
        net.elect(1)
        net.isolate(3)
        net.propose(1, [1])
        net.stabilize()
        XCTAssertEqual(net[1].commitIndex, 2)
        net.heal()
        net.dropIf = { $0.to == n(3) && $0.isAppend }
        net.tick(1)
        net.flush(1)
        XCTAssertEqual(net.queued(from: 1, to: 3).map(\.body), [.heartbeat(commit: 1)])
        XCTAssertEqual(net.queued(from: 1, to: 2).map(\.body), [.heartbeat(commit: 2)])
        net.stabilize()
        XCTAssertEqual(net[3].commitIndex, 1)
        XCTAssertEqual(net[3].lastIndex, 1)
    }
}
