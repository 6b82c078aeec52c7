import XCTest
@_spi(Simulation) import Consensus

/// The `Ready` contract (etcd/raft's Ready): the hard state appears when term, vote or commit
/// changed; each entry is handed out for persisting once (again only after a truncation replaced
/// it); committed entries are handed out once, in order; messages never depend on state that is not
/// in the same or an earlier `Ready`.
final class ReadyTests: XCTestCase {

    func testFreshNodeHasNothingReady() {
        var r = makeRaft(id: 1)
        XCTAssertFalse(r.hasReady)
        XCTAssertTrue(r.ready().isEmpty)
        r.tick()
        XCTAssertFalse(r.hasReady, "a tick below the election timeout produces nothing")
    }

    /// Figure 2 "persistent state": currentTerm and votedFor appear in the Ready that changes them,
    /// so they are durable before any message depending on them leaves. The commit index needs no
    /// write of its own (it is re-learned from the leader): it rides along with the next entries.
    func testHardStateAppearsWhenTermOrVoteChangeAndCommitRidesAlongWithEntries() {
        var r = makeRaft(id: 2)
        r.step(Message(from: n(1), to: n(2), term: 1, body: .requestVote(pre: false, lastIndex: 0, lastTerm: 0)))
        XCTAssertEqual(r.ready().hardState, HardState(term: 1, vote: n(1), commit: 0))
        XCTAssertFalse(r.hasReady)
        XCTAssertNil(r.ready().hardState)

        let noop = Entry(index: 1, term: 1, kind: .noop)
        r.step(Message(from: n(1), to: n(2), term: 1, body: .append(prevIndex: 0, prevTerm: 0, entries: [noop], commit: 0)))
        let appended = r.ready()
        XCTAssertNil(appended.hardState, "an append without a new term, vote or commit changes no hard state")
        XCTAssertEqual(appended.entries, [noop])

        r.step(Message(from: n(1), to: n(2), term: 1, body: .heartbeat(commit: 1)))
        let committed = r.ready()
        XCTAssertEqual(committed.committed, [noop])
        XCTAssertNil(committed.hardState, "a commit alone costs no write")

        let e2 = Entry(index: 2, term: 1, data: [2])
        r.step(Message(from: n(1), to: n(2), term: 1, body: .append(prevIndex: 1, prevTerm: 1, entries: [e2], commit: 1)))
        let withEntries = r.ready()
        XCTAssertEqual(withEntries.entries, [e2])
        XCTAssertEqual(withEntries.hardState, HardState(term: 1, vote: n(1), commit: 1), "the commit rides along")

        r.step(Message(from: n(3), to: n(2), term: 2, body: .heartbeat(commit: 1)))
        XCTAssertEqual(r.ready().hardState, HardState(term: 2, vote: nil, commit: 1))
        XCTAssertNil(r.ready().hardState)
    }

    /// Entries are handed out for persisting once; a repeated append does not hand them out again.
    func testEntriesAreHandedOutOnce() {
        let net = TestNetwork(size: 3)
        net.elect(1)
        guard case .success(let p) = net.propose(1, [7]) else { return XCTFail("propose") }
        var leaderReady = net[1].ready()
        XCTAssertEqual(leaderReady.entries, [Entry(index: p.index, term: p.term, data: [7])])
        XCTAssertTrue(net[1].ready().entries.isEmpty)

        var f = net[2]
        let append = (leaderReady.earlyMessages + leaderReady.messages).first { $0.to == n(2) && $0.isAppend }!
        f.step(append)
        XCTAssertEqual(f.ready().entries.map(\.index), [2])
        f.step(append)
        let again = f.ready()
        XCTAssertTrue(again.entries.isEmpty, "a duplicate append persists nothing")
        XCTAssertEqual(again.messages.map(\.body), [.appendResponse(index: 2, rejection: nil)])
        leaderReady = net[1].ready()
        XCTAssertTrue(leaderReady.isEmpty)
    }

    /// Committed entries are handed out exactly once, contiguously and in index order, on every node,
    /// through elections, partitions and a leader change; all nodes apply the same sequence.
    func testCommittedEntriesAreHandedOutOnceAndInOrder() {
        let net = TestNetwork(size: 5, seed: 7)
        net.elect(1)
        for k in 0..<60 {
            if k == 20 { net.isolate(1) }
            if k == 40 { net.heal() }
            if k % 4 == 0, let leader = net.leaders.last {
                net.propose(leader.rawValue, [UInt8(k)])
            }
            net.run(ticks: 1)
        }
        net.run(ticks: 30)
        let reference = net.applied[net.leaders[0]]!
        XCTAssertGreaterThan(reference.count, 10)
        for id in net.ids {
            let applied = net.applied[id]!
            XCTAssertEqual(applied.map(\.index), Array(1...UInt64(applied.count)), "\(id): once, in order, no gaps")
            XCTAssertEqual(applied, reference, "\(id)")
            let perReady = net.readies[id]!.flatMap(\.committed)
            XCTAssertEqual(perReady, applied)
        }
        XCTAssertFalse(net.safetyViolated)
        net.assertStorageMatchesMemory()
    }

    /// Safety depends on "persist before send": a granted vote, and a candidate's own vote, are in the
    /// hard state of the same Ready as the messages that reveal them.
    func testVoteIsInHardStateOfTheReadyThatSendsIt() {
        var voter = makeRaft(id: 2)
        voter.step(Message(from: n(1), to: n(2), term: 1, body: .requestVote(pre: false, lastIndex: 0, lastTerm: 0)))
        let rd = voter.ready()
        XCTAssertEqual(rd.messages.map(\.voteGranted), [true])
        XCTAssertEqual(rd.hardState?.vote, n(1))
        XCTAssertEqual(rd.hardState?.term, 1)

        var candidate = makeRaft(id: 1) { $0.preVote = false }
        while candidate.role == .follower { candidate.tick() }
        let crd = candidate.ready()
        XCTAssertFalse(crd.messages.isEmpty)
        XCTAssertEqual(crd.hardState, HardState(term: 1, vote: n(1), commit: 0))
    }

    /// The split of a Ready's messages: only a leader's appends, heartbeats and probes may leave
    /// before the Ready's writes (`earlyMessages`); votes and append answers promise durable state
    /// and wait (`messages`). An acknowledgement never covers an entry that is not yet stored, and
    /// nothing leaves early from a Ready that changes term or vote.
    func testMessagesThatPromiseDurableStateLeaveOnlyAfterThePersist() {
        let net = TestNetwork(size: 5, seed: 3)
        for k in 0..<80 {
            if k == 30, let leader = net.leaders.first { net.isolate(leader.rawValue) }
            if k == 55 { net.heal() }
            if k % 3 == 0, let leader = net.leaders.last { net.propose(leader.rawValue, [UInt8(k)]) }
            net.run(ticks: 1)
        }
        var checkedAcks = 0
        for id in net.ids {
            var stored: [Entry] = []
            var hs = HardState()
            for rd in net.readies[id]! {
                for m in rd.earlyMessages {
                    switch m.body {
                    case .append, .heartbeat, .snapshot, .readProbe: break
                    default: XCTFail("\(id): \(m) must wait for the persist")
                    }
                }
                if let h = rd.hardState {
                    if h.term != hs.term || h.vote != hs.vote {
                        XCTAssertTrue(rd.earlyMessages.isEmpty, "\(id): term/vote change with early messages")
                    }
                    hs = h
                }
                if let first = rd.entries.first {
                    stored.removeSubrange(min(stored.count, Int(first.index - 1))...)
                    stored.append(contentsOf: rd.entries)
                }
                for m in rd.messages {
                    if case .appendResponse(let index, nil) = m.body, index > 0 {
                        XCTAssertLessThanOrEqual(index, UInt64(stored.count), "\(id) acknowledged an unstored entry")
                        checkedAcks += 1
                    }
                    if case .voteResponse(false, true) = m.body {
                        XCTAssertEqual(hs.vote, m.to, "\(id): a granted vote is durable before it leaves")
                        XCTAssertEqual(hs.term, m.term)
                    }
                }
            }
        }
        XCTAssertGreaterThan(checkedAcks, 20)
        XCTAssertFalse(net.safetyViolated)
    }

    /// A leader that queued heartbeats and then learns of a newer term before its next Ready: that
    /// Ready changes the term, so nothing in it may leave before the write.
    func testNothingLeavesEarlyFromReadyThatChangesTerm() {
        let net = TestNetwork(size: 3)
        net.elect(1)
        net.tick(1)   // heartbeats queued
        net[1].step(Message(from: n(2), to: n(1), term: 5, body: .appendResponse(index: 0, rejection: nil)))
        let rd = net[1].ready()
        XCTAssertEqual(rd.hardState?.term, 5)
        XCTAssertEqual(rd.earlyMessages, [], "the term-1 heartbeats belong in `messages`, after the write")
        XCTAssertEqual(rd.messages.count, 2)
    }

    /// Thesis §10.2.1: the leader may send entries before writing them, but counts its own copy
    /// toward a majority only once `persisted` reports the write.
    func testLeaderCountsItsOwnEntryOnlyOncePersisted() {
        let net = TestNetwork(size: 3)
        net.elect(1)
        net.holdPersisted = [1]
        net.propose(1, [1])
        net.flush(1)
        XCTAssertEqual(net.queued(from: 1).filter(\.isAppend).count, 2, "sent before the leader's own write")
        net.deliver(where: { $0.to == n(2) })
        net.dropQueued()
        net.flush(2)
        net.deliver()
        XCTAssertEqual(net[1].commitIndex, 1, "one follower plus an unwritten leader copy is no majority")
        net.reportPersisted(1)
        XCTAssertEqual(net[1].commitIndex, 2)

        // A single node commits only on its own write.
        let solo = TestNetwork(size: 1)
        solo.elect(1)
        solo.holdPersisted = [1]
        solo.propose(1, [7])
        solo.flush(1)
        XCTAssertEqual(solo[1].commitIndex, 1)
        solo.reportPersisted(1)
        XCTAssertEqual(solo[1].commitIndex, 2)
        solo.flush(1)
        XCTAssertEqual(solo.applied[n(1)]!.last?.data, [7])
    }

    /// After a restart the state machine starts empty (no snapshot), so the first Ready hands out
    /// the recovered committed entries again, once; a recovered commit index beyond the surviving
    /// log is clamped to it; nothing recovered is handed out for persisting again.
    func testRecoveredNodeHandsOutCommittedEntriesOnceAndClampsCommit() {
        var r = makeRaft(id: 1, recovered: recovered(terms: [1, 1, 2], term: 2, vote: 3, commit: 5))
        XCTAssertEqual(r.commitIndex, 3)
        XCTAssertEqual(r.term, 2)
        XCTAssertEqual(r.vote, n(3))
        let rd = r.ready()
        XCTAssertEqual(rd.committed.map(\.index), [1, 2, 3])
        XCTAssertTrue(rd.entries.isEmpty)
        XCTAssertTrue(r.ready().committed.isEmpty)

        var s = makeRaft(id: 1, recovered: recovered(terms: [1, 1, 2], term: 2, commit: 2))
        XCTAssertEqual(s.ready().committed.map(\.index), [1, 2])
    }

    /// `propose` refuses a command larger than maxEntryBytes and appends nothing.
    func testProposeOfOversizeDataReturnsEntryTooLarge() {
        let net = TestNetwork(size: 3) { $0.maxEntryBytes = 8 }
        net.elect(1)
        let before = net[1].lastIndex
        guard case .failure(let e) = net.propose(1, Array(repeating: 1, count: 9)) else {
            return XCTFail("oversize entry accepted")
        }
        XCTAssertEqual(e, .entryTooLarge(size: 9, limit: 8))
        XCTAssertEqual(net[1].lastIndex, before)
        XCTAssertFalse(net[1].hasReady)
        guard case .success(let p) = net.propose(1, Array(repeating: 1, count: 8)) else {
            return XCTFail("entry at the limit refused")
        }
        XCTAssertEqual(p.index, before + 1)
    }
}
