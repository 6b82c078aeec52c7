import XCTest
@_spi(Simulation) import Consensus

/// Leader election: Raft §5.2 (election), §5.4.1 (election restriction), thesis §9.6 (pre-vote) and
/// §6.2 (check-quorum and the leader lease on votes). Modelled on etcd/raft's raft_paper_test.go.
final class ElectionTests: XCTestCase {

    // MARK: §5.2 — timeouts and campaigns

    /// §5.2: "When servers start up, they begin as followers."
    func testNodeStartsAsFollowerInTermZero() {
        var r = makeRaft(id: 1)
        XCTAssertEqual(r.role, .follower)
        XCTAssertEqual(r.term, 0)
        XCTAssertNil(r.vote)
        XCTAssertNil(r.leader)
        XCTAssertFalse(r.hasReady)
        XCTAssertTrue(r.ready().isEmpty)
    }

    /// §5.2: a follower that hears nothing for an election timeout (randomized within
    /// [T, 2T)) becomes a candidate, increments its term, votes for itself and sends RequestVote
    /// carrying its last log index and term to every other server.
    func testFollowerCampaignsAfterRandomizedElectionTimeout() {
        var r = makeRaft(id: 1, recovered: recovered(terms: [1, 1, 2], term: 2)) { $0.preVote = false }
        var ticks = 0
        while r.role == .follower && ticks < 100 {
            r.tick()
            ticks += 1
        }
        XCTAssertGreaterThanOrEqual(ticks, r.config.electionTicks)
        XCTAssertLessThan(ticks, 2 * r.config.electionTicks)
        XCTAssertEqual(r.role, .candidate)
        XCTAssertEqual(r.term, 3)
        XCTAssertEqual(r.vote, n(1))
        let rd = r.ready()
        XCTAssertEqual(rd.hardState, HardState(term: 3, vote: n(1), commit: 0))
        XCTAssertEqual(Set(rd.messages.map(\.to)), [n(2), n(3)])
        for m in rd.messages {
            XCTAssertEqual(m.term, 3)
            XCTAssertEqual(m.body, .requestVote(pre: false, lastIndex: 3, lastTerm: 2))
        }
    }

    /// §5.2: "election timeouts are chosen randomly from a fixed interval" so that split votes are
    /// rare. Different seeds give different timeouts, all within [T, 2T).
    func testElectionTimeoutsAreRandomizedWithinOneToTwoTimeouts() {
        var seen = Set<Int>()
        for seed in UInt64(1)...40 {
            var r = makeRaft(id: 1, seed: seed) { $0.preVote = false }
            var ticks = 0
            while r.role == .follower && ticks < 100 {
                r.tick()
                ticks += 1
            }
            XCTAssertTrue((10..<20).contains(ticks), "seed \(seed): timeout \(ticks) outside [10, 20)")
            seen.insert(ticks)
        }
        XCTAssertGreaterThan(seen.count, 3, "timeouts are not randomized: \(seen.sorted())")
    }

    /// Thesis §9.6: with pre-vote a timed-out follower first asks whether it could win, for the
    /// term it would campaign in, without changing its own term or vote.
    func testPreCandidateAsksForTermPlusOneWithoutChangingItsTerm() {
        var r = makeRaft(id: 1, recovered: recovered(terms: [1, 2], term: 4, vote: 2))
        var ticks = 0
        while r.role == .follower && ticks < 100 { r.tick(); ticks += 1 }
        XCTAssertEqual(r.role, .preCandidate)
        XCTAssertEqual(r.term, 4)
        XCTAssertEqual(r.vote, n(2))
        let rd = r.ready()
        XCTAssertNil(rd.hardState, "a pre-vote changes nothing durable")
        XCTAssertEqual(rd.messages.count, 2)
        for m in rd.messages {
            XCTAssertEqual(m.term, 5)
            XCTAssertEqual(m.body, .requestVote(pre: true, lastIndex: 2, lastTerm: 2))
        }
    }

    /// §5.2: "a candidate wins an election if it receives votes from a majority of the servers in
    /// the full cluster for the same term"; it returns to follower once a majority refused
    /// (etcd's TestLeaderElectionInOneRoundRPC).
    func testElectionOutcomeFromOneRoundOfVotes() {
        struct Case { var size: Int; var votes: [UInt64: Bool]; var role: Role }
        let cases: [Case] = [
            Case(size: 1, votes: [:], role: .leader),
            Case(size: 3, votes: [2: true, 3: true], role: .leader),
            Case(size: 3, votes: [2: true], role: .leader),
            Case(size: 5, votes: [2: true, 3: true, 4: true, 5: true], role: .leader),
            Case(size: 5, votes: [2: true, 3: true, 4: true], role: .leader),
            Case(size: 5, votes: [2: true, 3: true], role: .leader),
            Case(size: 3, votes: [2: false, 3: false], role: .follower),
            Case(size: 5, votes: [2: false, 3: false, 4: false, 5: false], role: .follower),
            Case(size: 5, votes: [2: true, 3: false, 4: false, 5: false], role: .follower),
            Case(size: 3, votes: [:], role: .candidate),
            Case(size: 5, votes: [2: true], role: .candidate),
            Case(size: 5, votes: [2: false, 3: false], role: .candidate),
            Case(size: 5, votes: [:], role: .candidate),
        ]
        for (k, c) in cases.enumerated() {
            var r = makeRaft(id: 1, voters: Array(1...UInt64(c.size))) { $0.preVote = false }
            while r.role == .follower { r.tick() }
            _ = r.ready()
            for (from, granted) in c.votes.sorted(by: { $0.key < $1.key }) {
                r.step(Message(from: n(from), to: n(1), term: 1, body: .voteResponse(pre: false, granted: granted)))
            }
            XCTAssertEqual(r.role, c.role, "case \(k)")
            XCTAssertEqual(r.term, 1, "case \(k)")
        }
    }

    /// Thesis §9.6: pre-votes granted by a majority start the real election in term + 1; a majority
    /// of refusals ends the pre-campaign without touching the term.
    func testPreVoteMajorityStartsRealElection() {
        var r = makeRaft(id: 1)
        while r.role == .follower { r.tick() }
        _ = r.ready()
        r.step(Message(from: n(2), to: n(1), term: 1, body: .voteResponse(pre: true, granted: true)))
        XCTAssertEqual(r.role, .candidate)
        XCTAssertEqual(r.term, 1)
        XCTAssertEqual(r.vote, n(1))
        let rd = r.ready()
        XCTAssertEqual(rd.hardState, HardState(term: 1, vote: n(1), commit: 0))
        XCTAssertEqual(rd.messages.filter { $0.body == .requestVote(pre: false, lastIndex: 0, lastTerm: 0) }.count, 2)

        var s = makeRaft(id: 1)
        while s.role == .follower { s.tick() }
        _ = s.ready()
        s.step(Message(from: n(2), to: n(1), term: 0, body: .voteResponse(pre: true, granted: false)))
        s.step(Message(from: n(3), to: n(1), term: 0, body: .voteResponse(pre: true, granted: false)))
        XCTAssertEqual(s.role, .follower)
        XCTAssertEqual(s.term, 0)
    }

    /// §5.2: "If many followers become candidates at the same time, votes could be split so that no
    /// candidate obtains a majority. When this happens, each candidate will time out and start a
    /// new election by incrementing its term."
    func testCandidateStartsNewElectionWhenTimeoutElapsesWithoutWinner() {
        var r = makeRaft(id: 1) { $0.preVote = false }
        while r.role == .follower { r.tick() }
        XCTAssertEqual(r.term, 1)
        _ = r.ready()
        for _ in 0..<(2 * r.config.electionTicks) { r.tick() }
        XCTAssertEqual(r.role, .candidate)
        XCTAssertEqual(r.term, 2)
        let rd = r.ready()
        XCTAssertEqual(rd.hardState, HardState(term: 2, vote: n(1), commit: 0))
        XCTAssertEqual(rd.messages.filter { $0.term == 2 && $0.body == .requestVote(pre: false, lastIndex: 0, lastTerm: 0) }.count, 2)
    }

    /// §5.2: "If the leader's term is at least as large as the candidate's current term, then the
    /// candidate recognizes the leader as legitimate and returns to follower state."
    func testCandidateReturnsToFollowerOnAppendFromLeaderOfSameOrNewerTerm() {
        for leaderTerm: UInt64 in [1, 2] {
            var r = makeRaft(id: 1) { $0.preVote = false }
            while r.role == .follower { r.tick() }
            XCTAssertEqual(r.term, 1)
            r.step(Message(from: n(2), to: n(1), term: leaderTerm,
                           body: .append(prevIndex: 0, prevTerm: 0, entries: [], commit: 0)))
            XCTAssertEqual(r.role, .follower, "leader term \(leaderTerm)")
            XCTAssertEqual(r.term, leaderTerm)
            XCTAssertEqual(r.leader, n(2))
        }
        // A pre-candidate likewise yields to a heartbeat of its own term.
        var p = makeRaft(id: 1, recovered: recovered(terms: [], term: 3))
        while p.role == .follower { p.tick() }
        XCTAssertEqual(p.role, .preCandidate)
        p.step(Message(from: n(3), to: n(1), term: 3, body: .heartbeat(commit: 0)))
        XCTAssertEqual(p.role, .follower)
        XCTAssertEqual(p.leader, n(3))
        XCTAssertEqual(p.term, 3)
    }

    /// §5.2: "A leader sends periodic heartbeats (AppendEntries RPCs that carry no log entries) to
    /// all followers in order to maintain its authority."
    func testLeaderSendsHeartbeatsEveryHeartbeatInterval() {
        let net = TestNetwork(size: 3) { $0.heartbeatTicks = 3 }
        net.elect(1)
        for k in 1...6 {
            net.tick(1)
            net.flush(1)
            let beats = net.queued(from: 1).filter { if case .heartbeat = $0.body { return true } else { return false } }
            XCTAssertEqual(beats.count, k % 3 == 0 ? 2 : 0, "tick \(k)")
            XCTAssertEqual(Set(beats.map(\.to)), k % 3 == 0 ? [n(2), n(3)] : [])
            XCTAssertTrue(beats.allSatisfy { $0.term == 1 })
            net.dropQueued()
        }
    }

    /// §5.2: "A server remains in follower state as long as it receives valid RPCs from a leader."
    func testHeartbeatsResetFollowerElectionTimer() {
        var r = makeRaft(id: 2, recovered: recovered(terms: [], term: 1))
        for _ in 0..<5 {
            for _ in 0..<(r.config.electionTicks - 1) { r.tick() }
            r.step(Message(from: n(1), to: n(2), term: 1, body: .heartbeat(commit: 0)))
            XCTAssertEqual(r.role, .follower)
        }
        XCTAssertEqual(r.leader, n(1))
        for _ in 0..<(2 * r.config.electionTicks) { r.tick() }
        XCTAssertNotEqual(r.role, .follower, "without heartbeats the follower campaigns")
    }

    /// Figure 2 (Followers): "If election timeout elapses without receiving AppendEntries RPC from
    /// current leader or granting vote to candidate: convert to candidate" — granting a vote
    /// restarts the timer. A twin with the same seed measures when the follower would campaign.
    func testGrantingVoteResetsElectionTimer() {
        // Term 1 already, so the request (also term 1) does not restart the timer by a term change.
        var twin = makeRaft(id: 2, seed: 5, recovered: recovered(terms: [], term: 1))
        var timeout = 0
        while twin.role == .follower { twin.tick(); timeout += 1 }

        var r = makeRaft(id: 2, seed: 5, recovered: recovered(terms: [], term: 1))
        for _ in 0..<(timeout - 1) { r.tick() }
        r.step(Message(from: n(1), to: n(2), term: 1, body: .requestVote(pre: false, lastIndex: 0, lastTerm: 0)))
        XCTAssertEqual(r.ready().messages.map(\.voteGranted), [true])
        for _ in 0..<(r.config.electionTicks - 1) { r.tick() }
        XCTAssertEqual(r.role, .follower, "the timer restarted when the vote was granted")
        XCTAssertEqual(r.term, 1)
    }

    // MARK: §5.2 — one vote per term

    /// §5.2: "Each server will vote for at most one candidate in a given term, on a
    /// first-come-first-served basis" (etcd's TestFollowerVote).
    func testVoterGrantsAtMostOneVotePerTerm() {
        let cases: [(vote: UInt64?, from: UInt64, granted: Bool)] = [
            (nil, 2, true), (nil, 3, true), (2, 2, true), (3, 3, true), (2, 3, false), (3, 2, false),
        ]
        for c in cases {
            var r = makeRaft(id: 1, recovered: recovered(terms: [], term: 1, vote: c.vote))
            r.step(Message(from: n(c.from), to: n(1), term: 1, body: .requestVote(pre: false, lastIndex: 0, lastTerm: 0)))
            let rd = r.ready()
            XCTAssertEqual(rd.messages, [Message(from: n(1), to: n(c.from), term: 1,
                                                 body: .voteResponse(pre: false, granted: c.granted))],
                           "vote \(String(describing: c.vote)) from \(c.from)")
            XCTAssertEqual(r.vote, c.vote.map(n) ?? n(c.from))
        }
    }

    /// §5.2: the first vote request of a term wins the vote, which is made durable; a second
    /// candidate of the same term is refused.
    func testSecondCandidateOfSameTermIsRefused() {
        var r = makeRaft(id: 1, recovered: recovered(terms: [1], term: 1))
        r.step(Message(from: n(2), to: n(1), term: 2, body: .requestVote(pre: false, lastIndex: 1, lastTerm: 1)))
        let first = r.ready()
        XCTAssertEqual(first.hardState, HardState(term: 2, vote: n(2), commit: 0))
        XCTAssertEqual(first.messages.map(\.voteGranted), [true])
        r.step(Message(from: n(3), to: n(1), term: 2, body: .requestVote(pre: false, lastIndex: 5, lastTerm: 2)))
        let second = r.ready()
        XCTAssertEqual(second.messages.map(\.voteGranted), [false])
        XCTAssertNil(second.hardState)
        XCTAssertEqual(r.vote, n(2))
    }

    /// §5.2 Election Safety: two candidates campaigning in the same term elect at most one leader.
    func testSimultaneousCandidatesElectAtMostOneLeaderPerTerm() {
        for seed in UInt64(1)...10 {
            let net = TestNetwork(size: 3, seed: seed) { $0.preVote = false }
            net.tickUntilCampaign(1)
            net.tickUntilCampaign(2)
            XCTAssertEqual(net[1].term, 1)
            XCTAssertEqual(net[2].term, 1)
            net.stabilize()
            let leaders = net.leaders
            XCTAssertEqual(leaders.count, 1, "seed \(seed)")
            XCTAssertTrue(leaders.allSatisfy { net.nodes[$0]!.term == 1 })
            XCTAssertEqual(net[3].vote, leaders.first, "n3's single vote decided the election")
        }
    }

    // MARK: §5.4.1 — election restriction

    /// §5.4.1: "the voter denies its vote if its own log is more up-to-date than that of the
    /// candidate": the later last term wins; with equal last terms, the longer log (etcd's TestVoter).
    /// Pre-votes apply the same check (thesis §9.6).
    private let upToDateCases: [(log: [UInt64], lastIndex: UInt64, lastTerm: UInt64, granted: Bool)] = [
        ([1], 1, 1, true),
        ([1], 2, 1, true),
        ([1, 1], 1, 1, false),   // shorter log, same last term
        ([1], 1, 2, true),
        ([1], 2, 2, true),
        ([1, 1], 1, 2, true),    // shorter but newer last term
        ([2], 1, 1, false),      // older last term
        ([2], 2, 1, false),
        ([1, 2], 3, 1, false),   // longer but older last term
        ([1, 2], 2, 2, true),
        ([1, 2], 1, 2, false),
        ([], 0, 0, true),
    ]

    func testVoteRefusedToCandidateWithLessUpToDateLog() {
        for pre in [false, true] {
            for c in upToDateCases {
                var r = makeRaft(id: 1, recovered: recovered(terms: c.log, term: 3))
                r.step(Message(from: n(2), to: n(1), term: 4,
                               body: .requestVote(pre: pre, lastIndex: c.lastIndex, lastTerm: c.lastTerm)))
                let replies = r.ready().messages
                XCTAssertEqual(replies.count, 1)
                XCTAssertEqual(replies.first?.voteGranted, c.granted,
                               "pre=\(pre) log \(c.log) vs candidate \(c.lastIndex)/\(c.lastTerm)")
                XCTAssertEqual(r.vote, !pre && c.granted ? n(2) : nil)
            }
        }
    }

    /// The skipVoteLogCheck mutant drops the §5.4.1 check: every case above is granted.
    func testSkipVoteLogCheckMutantGrantsVoteToStaleCandidate() {
        for c in upToDateCases {
            var r = makeRaft(id: 1, recovered: recovered(terms: c.log, term: 3)) { $0.mutants = [.skipVoteLogCheck] }
            r.step(Message(from: n(2), to: n(1), term: 4,
                           body: .requestVote(pre: false, lastIndex: c.lastIndex, lastTerm: c.lastTerm)))
            XCTAssertEqual(r.ready().messages.first?.voteGranted, true, "log \(c.log) vs \(c.lastIndex)/\(c.lastTerm)")
        }
    }

    /// §5.4.1 in a cluster: a node that missed a committed entry cannot be elected, so the entry
    /// survives. With the skipVoteLogCheck mutant it is elected and would overwrite the committed
    /// entry (the followers detect it and fault), which shows the check is what keeps it safe.
    func testNodeMissingCommittedEntryCannotBeElected() {
        func scenario(mutants: Mutants) -> TestNetwork {
            let net = TestNetwork(size: 3) {
                $0.preVote = false
                $0.checkQuorum = false
                $0.mutants = mutants
            }
            net.elect(1)
            net.isolate(3)
            net.propose(1, [42])
            net.stabilize()
            XCTAssertEqual(net[1].commitIndex, 2)
            XCTAssertEqual(net[3].lastIndex, 1)
            net.heal()
            net.tickUntilCampaign(3)
            net.stabilize()
            return net
        }
        let correct = scenario(mutants: [])
        XCTAssertNotEqual(correct[3].role, .leader)
        XCTAssertNil(correct[1].fault)
        XCTAssertNil(correct[2].fault)
        XCTAssertEqual(correct[1].entry(at: 2)?.data, [42])

        let mutant = scenario(mutants: [.skipVoteLogCheck])
        XCTAssertEqual(mutant[3].role, .leader, "the mutant elects the node without the committed entry")
        XCTAssertNotEqual(mutant[3].entry(at: 2)?.data, [42], "the new leader's log lacks the committed entry")
        XCTAssertTrue(mutant.safetyViolated, "a committed entry is lost (divergent applies or a fault)")
        XCTAssertFalse(correct.safetyViolated)
    }

    // MARK: Thesis §9.6 — pre-vote

    /// Thesis §9.6: a node cut off from the cluster keeps timing out but, failing its pre-votes,
    /// never raises its term; when it rejoins, the leader is not disrupted.
    func testPreVoteKeepsPartitionedNodeFromRaisingTermAndDisruptingLeader() {
        let net = TestNetwork(size: 3)
        net.elect(1)
        net.isolate(3)
        for k in 0..<100 {
            net.run(ticks: 1)
            XCTAssertEqual(net[3].term, 1, "tick \(k)")
            XCTAssertEqual(net[1].role, .leader, "tick \(k)")
        }
        XCTAssertNotEqual(net[3].role, .follower, "the isolated node did time out and campaign")
        net.heal()
        net.run(ticks: 50)
        XCTAssertEqual(net.leaders, [n(1)])
        for id in 1...3 as ClosedRange<UInt64> { XCTAssertEqual(net[id].term, 1, "n\(id)") }
        XCTAssertEqual(net[3].role, .follower)
        XCTAssertEqual(net[3].leader, n(1))
        guard case .success(let p) = net.propose(1, [7]) else { return XCTFail("leader refused proposal") }
        net.stabilize()
        XCTAssertEqual(net.applied[n(3)]!.last, Entry(index: p.index, term: 1, data: [7]))
    }

    /// The same partition without pre-vote: the isolated node's term climbs and its return deposes
    /// the leader (the problem §9.6 solves), so the previous test can fail.
    func testWithoutPreVotePartitionedNodeDisruptsLeaderOnRejoin() {
        let net = TestNetwork(size: 3) { $0.preVote = false }
        net.elect(1)
        net.isolate(3)
        net.run(ticks: 100)
        XCTAssertEqual(net[1].role, .leader)
        XCTAssertGreaterThan(net[3].term, 1)
        net.heal()
        net.run(ticks: 50)
        XCTAssertGreaterThan(net[1].term, 1, "the old leader's term was overtaken")
        XCTAssertEqual(net.leaders.count, 1)
    }

    // MARK: Thesis §6.2 — check-quorum and lease

    /// Thesis §6.2: a leader that has not heard from a majority for an election timeout steps down.
    /// Checked once per election timeout, so it happens between one and two timeouts after the
    /// leader was cut off.
    func testIsolatedLeaderStepsDownAfterElectionTimeout() {
        let net = TestNetwork(size: 3)
        net.elect(1)
        net.isolate(1)
        var ticks = 0
        while net[1].role == .leader && ticks < 100 {
            net.tick(1)
            ticks += 1
        }
        let t = net[1].config.electionTicks
        XCTAssertGreaterThanOrEqual(ticks, t)
        XCTAssertLessThanOrEqual(ticks, 2 * t)
        XCTAssertEqual(net[1].role, .follower)
        XCTAssertEqual(net[1].term, 1, "stepping down does not change the term")
        XCTAssertNil(net[1].leader)
        guard case .failure(let e) = net.propose(1, [1]) else { return XCTFail("deposed leader accepted a proposal") }
        XCTAssertEqual(e, .notLeader(leader: nil))
        // The majority side elects a new leader.
        net.run(ticks: 60)
        let leaders = net.leaders
        XCTAssertEqual(leaders.count, 1)
        XCTAssertNotEqual(leaders.first, n(1))
        XCTAssertEqual(leaders.first.map { net.nodes[$0]!.term }, 2)
    }

    /// Thesis §6.2: a leader that keeps hearing from a majority stays leader.
    func testLeaderWithQuorumKeepsLeading() {
        let net = TestNetwork(size: 5)
        net.elect(1)
        net.isolate(4)
        net.isolate(5)
        net.run(ticks: 200)
        XCTAssertEqual(net[1].role, .leader)
        XCTAssertEqual(net[1].term, 1)
    }

    /// Contrast: without check-quorum an isolated leader never notices.
    func testWithoutCheckQuorumIsolatedLeaderStaysLeader() {
        let net = TestNetwork(size: 3) { $0.checkQuorum = false }
        net.elect(1)
        net.isolate(1)
        for _ in 0..<200 { net.tick(1) }
        XCTAssertEqual(net[1].role, .leader)
    }

    /// Thesis §6.2 (leader lease on votes): a follower that heard from the leader within the
    /// minimum election timeout ignores (pre-)vote requests of a higher term — no term change, no
    /// vote, no answer. Once the timeout passes without the leader it votes again.
    func testFollowerThatHeardFromLeaderRecentlyIgnoresVoteRequests() {
        let net = TestNetwork(size: 3)
        net.elect(1)
        var f = net[2]
        XCTAssertEqual(f.leader, n(1))
        for pre in [true, false] {
            f.step(Message(from: n(3), to: n(2), term: 2,
                           body: .requestVote(pre: pre, lastIndex: f.lastIndex + 5, lastTerm: f.lastTerm)))
            XCTAssertEqual(f.term, 1)
            XCTAssertEqual(f.vote, n(1))
            XCTAssertEqual(f.role, .follower)
            XCTAssertTrue(f.ready().messages.isEmpty, "pre=\(pre): the request must be ignored")
        }
        for _ in 0..<f.config.electionTicks { f.tick() }
        _ = f.ready()
        f.step(Message(from: n(3), to: n(2), term: 2,
                       body: .requestVote(pre: false, lastIndex: f.lastIndex + 5, lastTerm: f.lastTerm)))
        XCTAssertEqual(f.term, 2)
        XCTAssertEqual(f.vote, n(3))
        XCTAssertEqual(f.ready().messages.map(\.voteGranted), [true])
    }

    /// Contrast: without check-quorum there is no lease and the vote is granted at once.
    func testWithoutCheckQuorumFollowerGrantsHigherTermVoteAtOnce() {
        let net = TestNetwork(size: 3) { $0.checkQuorum = false }
        net.elect(1)
        var f = net[2]
        f.step(Message(from: n(3), to: n(2), term: 2,
                       body: .requestVote(pre: false, lastIndex: f.lastIndex, lastTerm: f.lastTerm)))
        XCTAssertEqual(f.term, 2)
        XCTAssertEqual(f.vote, n(3))
        XCTAssertEqual(f.ready().messages.map(\.voteGranted), [true])
    }
}
