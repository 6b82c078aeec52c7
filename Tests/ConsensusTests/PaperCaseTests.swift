import XCTest
@_spi(Simulation) import Consensus

/// The worked examples of the Raft paper (Ongaro & Ousterhout, extended version): figure 7 (how a
/// new leader repairs followers' logs, §5.3) and figure 8 (why a leader must not commit an entry of
/// an earlier term by counting replicas, §5.4.2).
final class PaperCaseTests: XCTestCase {

    // MARK: Figure 7

    /// Figure 7: the leader for term 8 has log terms 1,1,1,4,4,5,5,6,6,6; followers (a)–(f) are
    /// missing entries (a, b), have extra uncommitted entries (c, d), or both (e, f).
    static let figure7Leader: [UInt64] = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
    static let figure7Followers: [(name: String, terms: [UInt64])] = [
        ("a", [1, 1, 1, 4, 4, 5, 5, 6, 6]),
        ("b", [1, 1, 1, 4]),
        ("c", [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]),
        ("d", [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]),
        ("e", [1, 1, 1, 4, 4, 4, 4]),
        ("f", [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]),
    ]

    /// §5.3: "the leader handles inconsistencies by forcing the followers' logs to duplicate its
    /// own": each of (a)–(f) ends with exactly the leader's log (etcd's TestLeaderSyncFollowerLog).
    /// A third server holding the leader's log supplies the majority, since (c), (d) would refuse
    /// their vote (§5.4.1).
    func testFigure7LeaderBringsEachFollowerToItsLog() {
        for follower in Self.figure7Followers {
            // Entries the leader does not have (index and term differ) carry other data, so a
            // leftover would be visible; entries with the leader's index and term are the same entry.
            var followerLog = recovered(terms: follower.terms, term: 7)
            followerLog.entries = followerLog.entries.map { e in
                var e = e
                if e.index > 10 || Self.figure7Leader[Int(e.index - 1)] != e.term { e.data = [0xF0] + e.data }
                return e
            }
            let net = TestNetwork(size: 3, logs: [
                1: recovered(terms: Self.figure7Leader, term: 7),
                2: followerLog,
                3: recovered(terms: Self.figure7Leader, term: 7),
            ])
            net.elect(1)
            XCTAssertEqual(net[1].term, 8, "(\(follower.name))")
            net.propose(1, [0xAB])
            net.stabilize()
            XCTAssertEqual(net[2].logTerms, Self.figure7Leader + [8, 8], "(\(follower.name))")
            XCTAssertEqual(net[2].logEntries, net[1].logEntries, "(\(follower.name))")
            XCTAssertEqual(net.storage[n(2)]!, net[1].logEntries, "(\(follower.name)): the stored log too")
            XCTAssertEqual(net[2].commitIndex, 12, "(\(follower.name))")
            XCTAssertEqual(net[2].role, .follower)
            XCTAssertNil(net[2].fault)
            let rejections = net.sent.filter { $0.from == n(2) && $0.rejection != nil }
            XCTAssertLessThanOrEqual(rejections.count, 1,
                                     "(\(follower.name)): the hint should find the match point in one round trip")
        }
    }

    /// Figure 7 with the follower's vote needed: a follower whose log is less up-to-date than the
    /// leader's — (a), (b), (e), (f) — grants its vote, (c) and (d) refuse (§5.4.1).
    func testFigure7FollowersVoteAccordingToElectionRestriction() {
        for follower in Self.figure7Followers {
            var r = makeRaft(id: 2, recovered: recovered(terms: follower.terms, term: 7))
            r.step(Message(from: n(1), to: n(2), term: 8, body: .requestVote(pre: false, lastIndex: 10, lastTerm: 6)))
            let expected = !["c", "d"].contains(follower.name)
            XCTAssertEqual(r.ready().messages.first?.voteGranted, expected, "(\(follower.name))")
        }
    }

    // MARK: Figure 8

    /// Builds figure 8 (c): five servers; S1 is leader of term 4 and has just replicated the term-2
    /// entry at index 2 to S3, so it is stored on a majority (S1, S2, S3), while S1's own term-4
    /// entry (its no-op at index 3) has not reached S3. S5, holding the term-3 entry of (b) at index
    /// 2, and S4 are cut off. The paper's basic algorithm: no pre-vote, no check-quorum. One entry
    /// per append, so index 2 can reach S3 alone.
    private func figure8StageC(mutants: Mutants) -> TestNetwork {
        let net = TestNetwork(size: 5, logs: [
            1: recovered(terms: [1, 2], term: 3, commit: 1),
            2: recovered(terms: [1, 2], term: 3, commit: 1),
            3: recovered(terms: [1], term: 3, commit: 1),
            4: recovered(terms: [1], term: 3, commit: 1),
            5: recovered(terms: [1, 3], term: 3, vote: 5, commit: 1),
        ]) {
            $0.preVote = false
            $0.checkQuorum = false
            $0.maxEntriesPerAppend = 1
            $0.mutants = mutants
        }
        net.isolate(4)
        net.isolate(5)
        // The link to S3 loses every append that would give S3 an entry of term 4.
        net.dropIf = { [unowned net] m in
            guard m.to == n(3), case .append(let prevIndex, let prevTerm, let es, _) = m.body else { return false }
            return es.contains { $0.term == 4 } && net[3].term(at: prevIndex) == prevTerm
        }
        net.elect(1)
        XCTAssertEqual(net[1].term, 4)
        XCTAssertEqual(net[1].logTerms, [1, 2, 4])
        XCTAssertEqual(net[3].logTerms, [1, 2], "the term-2 entry reached S3, the term-4 one did not")
        XCTAssertEqual([1, 2, 3].filter { net[$0].term(at: 2) == 2 }.count, 3, "index 2 is on a majority")
        return net
    }

    /// §5.4.2 and figure 8 (c)/(e): the leader of term 4 does not commit the term-2 entry although a
    /// majority stores it; once its own term-4 entry is on a majority, both commit.
    func testFigure8LeaderDoesNotCommitPreviousTermEntryByCountingReplicas() {
        let net = figure8StageC(mutants: [])
        XCTAssertEqual(net[1].commitIndex, 1, "a term-2 entry must not be committed by counting replicas")
        XCTAssertFalse(net.applied[n(1)]!.contains { $0.index == 2 })
        // More heartbeats do not change that while the term-4 entry stays off the majority.
        for _ in 0..<5 {
            net.tick(1)
            net.stabilize()
        }
        XCTAssertEqual(net[1].commitIndex, 1)

        // (e): the term-4 entry reaches S3; now index 3 — and with it index 2 — is committed.
        net.dropIf = nil
        net.tick(1)
        net.stabilize()
        XCTAssertEqual(net[3].logTerms, [1, 2, 4])
        XCTAssertEqual(net[1].commitIndex, 3)
        XCTAssertEqual(net.applied[n(1)]!.map { [$0.index, $0.term] }, [[1, 1], [2, 2], [3, 4]])
        XCTAssertEqual(net[3].commitIndex, 3)

        // …and S5 can no longer be elected: S2 and S3 hold a newer last term than S5.
        net.heal()
        net.isolate(1)
        for _ in 0..<(6 * net[5].config.electionTicks) {
            net.tick(5)
            net.stabilize()
            XCTAssertNotEqual(net[5].role, .leader)
        }
        XCTAssertEqual(net[3].term(at: 2), 2)
        XCTAssertFalse(net.safetyViolated)
    }

    /// Figure 8 (d): had S1 crashed at (c), S5 could be elected (votes of S3 and S4) and overwrite
    /// index 2 — which is safe only because, correctly, nobody committed it.
    func testFigure8UncommittedPreviousTermEntryIsSafelyOverwritten() {
        let net = figure8StageC(mutants: [])
        net.heal()
        net.isolate(1)
        net.dropQueued()
        electS5(net)
        XCTAssertEqual(net[5].term, 5)
        net.stabilize()
        for id: UInt64 in [2, 3, 4] {
            XCTAssertEqual(net[id].term(at: 2), 3, "S\(id): index 2 now holds S5's term-3 entry")
            XCTAssertEqual(net[id].logEntries, net[5].logEntries, "S\(id)")
        }
        XCTAssertEqual(net[5].commitIndex, 3)
        XCTAssertFalse(net.safetyViolated, "nothing committed was lost")
        for id in net.ids { XCTAssertNil(net.nodes[id]!.fault) }
    }

    /// The commitPreviousTermByCount mutant commits index 2 at (c) — and at (d) S5 is still elected
    /// and commits its own entry at index 2: two state machines apply different entries at one
    /// index. This is what makes the rule of §5.4.2 necessary.
    func testFigure8CommitPreviousTermByCountMutantCommitsAndThenLosesTheEntry() {
        let net = figure8StageC(mutants: [.commitPreviousTermByCount])
        XCTAssertEqual(net[1].commitIndex, 2, "the mutant commits the term-2 entry by counting replicas")
        XCTAssertEqual(net.applied[n(1)]!.last.map { [$0.index, $0.term] }, [2, 2])
        // S1 crashes; S2 (which learned commit index 2) is down too: S5 needs only S3 and S4.
        net.heal()
        net.isolate(1)
        net.isolate(2)
        net.dropQueued()
        electS5(net)
        net.stabilize()
        XCTAssertEqual(net.applied[n(5)]!.first { $0.index == 2 }?.term, 3)
        XCTAssertTrue(net.safetyViolated, "S1 applied 2/2, S5 applied 2/3")
    }

    /// Ticks only S5 until it wins an election.
    private func electS5(_ net: TestNetwork, file: StaticString = #filePath, line: UInt = #line) {
        for _ in 0..<(10 * net[5].config.electionTicks) where net[5].role != .leader {
            net.tick(5)
            net.stabilize()
        }
        XCTAssertEqual(net[5].role, .leader, "S5 wins with the votes of S3 and S4", file: file, line: line)
    }
}
