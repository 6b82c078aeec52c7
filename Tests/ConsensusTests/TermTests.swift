import XCTest
@_spi(Simulation) import Consensus

/// Terms (Raft §5.1): newer terms win, stale terms lose; stale leaders; terms changing while a
/// leader replicates.
final class TermTests: XCTestCase {

    /// A leader of term 1 in a settled 3-node cluster.
    private func leaderAndNetwork(configure: @escaping (inout RaftConfig) -> Void = { _ in }) -> TestNetwork {
        let net = TestNetwork(size: 3, configure: configure)
        net.elect(1)
        return net
    }

    // MARK: Higher terms

    /// §5.1: "If a server receives a request or response with a higher term, it updates its term and
    /// reverts to follower state" (etcd's TestFollowerUpdateTermFromMessage, TestCandidate…,
    /// TestLeader…). An append or heartbeat also names the new leader.
    func testAnyRoleAdoptsHigherTermAndBecomesFollower() {
        let bodies: [(Message.Body, namesLeader: Bool)] = [
            (.append(prevIndex: 0, prevTerm: 0, entries: [], commit: 0), true),
            (.heartbeat(commit: 0), true),
            (.appendResponse(index: 0, rejection: nil), false),
            (.voteResponse(pre: false, granted: false), false),
            (.heartbeatResponse, false),
        ]
        for role in [Role.follower, .candidate, .leader] {
            for (body, namesLeader) in bodies {
                var r: Raft
                switch role {
                case .leader: r = leaderAndNetwork()[1]
                case .candidate:
                    r = makeRaft(id: 1) { $0.preVote = false }
                    while r.role == .follower { r.tick() }
                default: r = makeRaft(id: 1, recovered: recovered(terms: [], term: 1))
                }
                XCTAssertEqual(r.role, role)
                _ = r.ready()
                r.step(Message(from: n(2), to: n(1), term: 5, body: body))
                XCTAssertEqual(r.role, .follower, "\(role) <- \(body.name)")
                XCTAssertEqual(r.term, 5, "\(role) <- \(body.name)")
                XCTAssertNil(r.vote, "\(role) <- \(body.name)")
                XCTAssertEqual(r.leader, namesLeader ? n(2) : nil, "\(role) <- \(body.name)")
                XCTAssertEqual(r.ready().hardState?.term, 5, "the new term is made durable")
            }
        }
    }

    /// §5.1 mid-replication: a leader with appends in flight gets a response carrying a higher term.
    /// It steps down at once, stops replicating (no appends or heartbeats), ignores the late
    /// answers to its old appends, and refuses proposals.
    func testLeaderStepsDownOnHigherTermAppendResponseMidReplication() {
        let net = leaderAndNetwork()
        for k in 0..<3 { net.propose(1, [UInt8(k)]) }
        net.flush(1)
        XCTAssertEqual(net.queued(from: 1).filter(\.isAppend).count, 2)
        net[1].step(Message(from: n(2), to: n(1), term: 5, body: .appendResponse(index: 0, rejection: nil)))
        XCTAssertEqual(net[1].role, .follower)
        XCTAssertEqual(net[1].term, 5)
        XCTAssertNil(net[1].leader)
        guard case .failure(let e) = net.propose(1, [9]) else { return XCTFail("a follower accepted a proposal") }
        XCTAssertEqual(e, .notLeader(leader: nil))

        // The appends already sent are answered in term 1: the deposed leader must learn nothing.
        net.deliver(where: { $0.to != n(1) })
        net.flush(2)
        net.flush(3)
        net.deliver()
        XCTAssertEqual(net[1].commitIndex, 1, "late acknowledgements must not commit anything")
        for _ in 0..<(net[1].config.electionTicks - 1) { net.tick(1) }
        net.flush(1)
        XCTAssertFalse(net.queued(from: 1).contains { m in
            if case .heartbeat = m.body { return true }
            return m.isAppend
        }, "a follower sends no appends or heartbeats")
        XCTAssertEqual(net.storedHardState[n(1)], HardState(term: 5, vote: nil, commit: 1))

        // The cluster recovers with a leader of a newer term and one log.
        net.dropQueued()
        net.run(ticks: 80)
        XCTAssertEqual(net.leaders.count, 1)
        let leader = net.leaders[0]
        XCTAssertGreaterThan(net.nodes[leader]!.term, 5)
        for id in net.ids { XCTAssertEqual(net.nodes[id]!.logEntries, net.nodes[leader]!.logEntries) }
        XCTAssertFalse(net.safetyViolated)
        net.assertStorageMatchesMemory()
    }

    /// §5.1: without check-quorum a leader receiving a vote request of a higher term steps down; it
    /// grants the vote only if the candidate's log is up to date (§5.4.1).
    func testLeaderStepsDownOnHigherTermVoteRequestWithoutCheckQuorum() {
        for upToDate in [true, false] {
            let net = leaderAndNetwork { $0.checkQuorum = false }
            net.propose(1, [1])
            net.flush(1)   // appends to n2 and n3 in flight
            let last = net[1].lastIndex
            net[1].step(Message(from: n(3), to: n(1), term: 2,
                                body: .requestVote(pre: false, lastIndex: upToDate ? last : last - 1, lastTerm: 1)))
            XCTAssertEqual(net[1].role, .follower)
            XCTAssertEqual(net[1].term, 2)
            XCTAssertEqual(net[1].vote, upToDate ? n(3) : nil)
            net.flush(1)
            XCTAssertEqual(net.queued(from: 1).compactMap(\.voteGranted), [upToDate])
            // The in-flight appends are acknowledged in the old term: no commit follows.
            net.deliver(where: { $0.to == n(2) })
            net.flush(2)
            net.deliver(where: { $0.to == n(1) })
            XCTAssertEqual(net[1].commitIndex, 1)
            XCTAssertEqual(net[1].role, .follower)
        }
    }

    /// Thesis §6.2: with check-quorum the leader is within its lease and ignores the request.
    func testLeaderIgnoresHigherTermVoteRequestWithinLease() {
        let net = leaderAndNetwork()
        net[1].step(Message(from: n(3), to: n(1), term: 2,
                            body: .requestVote(pre: false, lastIndex: 10, lastTerm: 1)))
        XCTAssertEqual(net[1].role, .leader)
        XCTAssertEqual(net[1].term, 1)
        net.flush(1)
        XCTAssertTrue(net.queued(from: 1).isEmpty)
    }

    // MARK: Stale terms

    /// §5.1: "If a server receives a request with a stale term number, it rejects the request." A
    /// stale append or heartbeat is answered with the current term (so its sender steps down) and
    /// changes nothing; a stale pre-vote is refused; a stale vote request is dropped.
    func testStaleTermRequestsAreRejectedWithCurrentTerm() {
        let stale: [(Message.Body, Message.Body?)] = [
            (.append(prevIndex: 2, prevTerm: 2, entries: [Entry(index: 3, term: 2)], commit: 3),
             .appendResponse(index: 0, rejection: nil)),
            (.heartbeat(commit: 2), .appendResponse(index: 0, rejection: nil)),
            (.requestVote(pre: true, lastIndex: 9, lastTerm: 2), .voteResponse(pre: true, granted: false)),
            (.requestVote(pre: false, lastIndex: 9, lastTerm: 2), nil),
        ]
        for (body, answer) in stale {
            var r = makeRaft(id: 1, recovered: recovered(terms: [1, 2], term: 3, vote: 3))
            r.step(Message(from: n(2), to: n(1), term: 2, body: body))
            XCTAssertEqual(r.term, 3)
            XCTAssertEqual(r.vote, n(3))
            XCTAssertNil(r.leader, "\(body.name): a stale leader is not recognised")
            XCTAssertEqual(r.logTerms, [1, 2])
            XCTAssertEqual(r.commitIndex, 0)
            XCTAssertEqual(r.ready().messages, answer.map { [Message(from: n(1), to: n(2), term: 3, body: $0)] } ?? [],
                           body.name)
        }
    }

    /// §5.1: stale responses are ignored — votes from an old term do not elect a candidate, and old
    /// acknowledgements do not move a leader's commit index.
    func testStaleTermResponsesAreIgnored() {
        var c = makeRaft(id: 1, recovered: recovered(terms: [], term: 2)) { $0.preVote = false }
        while c.role == .follower { c.tick() }
        XCTAssertEqual(c.term, 3)
        for from: UInt64 in [2, 3] {
            c.step(Message(from: n(from), to: n(1), term: 2, body: .voteResponse(pre: false, granted: true)))
        }
        XCTAssertEqual(c.role, .candidate)

        let net = leaderAndNetwork()
        net.isolate(2)
        net.isolate(3)
        net.propose(1, [1])
        net.stabilize()
        for from: UInt64 in [2, 3] {
            net[1].step(Message(from: n(from), to: n(1), term: 0, body: .appendResponse(index: 2, rejection: nil)))
        }
        XCTAssertEqual(net[1].commitIndex, 1)
        XCTAssertEqual(net[1].role, .leader)
    }

    /// §5.1 and §5.3 (figure 7's "extraneous entries"): a leader partitioned away keeps accepting
    /// proposals it can never commit; the majority elects a new leader; on rejoining, the old leader
    /// learns the newer term from the answer to its own heartbeat, steps down, and its uncommitted
    /// entries are overwritten by the new leader's.
    func testStaleLeaderStepsDownOnRejoinAndItsUncommittedEntriesAreOverwritten() {
        let net = TestNetwork(size: 3)
        net.elect(1)
        net.isolate(1)
        guard case .success(let lost) = net.propose(1, Array("lost".utf8)) else { return XCTFail("propose") }
        XCTAssertEqual([lost.index, lost.term], [2, 1])
        net.stabilize()
        XCTAssertEqual(net[1].commitIndex, 1)

        // Only the majority side's clocks run: the old leader is, say, paused.
        var rounds = 0
        while net.leaders.allSatisfy({ $0 == n(1) }) && rounds < 200 {
            net.tick(2)
            net.tick(3)
            net.stabilize()
            rounds += 1
        }
        let newLeader = net.leaders.first { $0 != n(1) }!
        let newTerm = net.nodes[newLeader]!.term
        XCTAssertEqual(newTerm, 2)
        XCTAssertEqual(net[1].role, .leader, "the old leader does not know yet")
        net.propose(newLeader.rawValue, Array("kept".utf8))
        net.stabilize()

        net.heal()
        net.tick(1)   // the old leader's heartbeat draws an answer in term 2
        net.stabilize()
        XCTAssertEqual(net[1].role, .follower)
        XCTAssertEqual(net[1].term, newTerm)
        net.run(ticks: 3)
        XCTAssertEqual(net[1].leader, newLeader)
        XCTAssertEqual(net[1].logEntries, net.nodes[newLeader]!.logEntries)
        XCTAssertNotEqual(net[1].entry(at: 2)?.term, 1, "the stale entry was overwritten")
        for id in net.ids {
            XCTAssertFalse(net.applied[id]!.contains { $0.data == Array("lost".utf8) }, "\(id)")
            XCTAssertTrue(net.applied[id]!.contains { $0.data == Array("kept".utf8) }, "\(id)")
        }
        XCTAssertFalse(net.safetyViolated)
        net.assertStorageMatchesMemory()
    }

    // MARK: Proposals off the leader

    /// Only the leader appends (§5.3); other nodes name the leader they know so the client can
    /// redirect (§8).
    func testProposalToNonLeaderReturnsNotLeaderWithKnownLeader() {
        let net = TestNetwork(size: 3)
        for id: UInt64 in 1...3 {
            guard case .failure(let e) = net.propose(id, [1]) else { return XCTFail("accepted without a leader") }
            XCTAssertEqual(e, .notLeader(leader: nil))
        }
        net.elect(2)
        for id: UInt64 in [1, 3] {
            guard case .failure(let e) = net.propose(id, [1]) else { return XCTFail("follower accepted") }
            XCTAssertEqual(e, .notLeader(leader: n(2)))
        }
        guard case .success(let p) = net.propose(2, [1]) else { return XCTFail("leader refused") }
        XCTAssertEqual([p.index, p.term], [2, 1])
        XCTAssertEqual(net[1].lastIndex, 1, "a refused proposal appends nothing")

        // A pre-candidate knows no leader.
        var r = makeRaft(id: 1)
        while r.role == .follower { r.tick() }
        guard case .failure(let e) = r.propose([1]) else { return XCTFail("pre-candidate accepted") }
        XCTAssertEqual(e, .notLeader(leader: nil))
    }
}
