import XCTest
@_spi(Simulation) import Consensus

/// The safety properties of Raft figure 3 checked over randomized runs of the test network (lost
/// messages, shifting partitions): Election Safety, Log Matching, State Machine Safety; and that a
/// healed cluster converges (§5.3). Each failure names its seed so it can be replayed.
final class SafetyTests: XCTestCase {

    private func chaosRun(seed: UInt64, mutants: Mutants = [], file: StaticString = #filePath, line: UInt = #line)
        -> (net: TestNetwork, violation: String?) {
        var rng = Xoshiro256(seed: seed)
        let net = TestNetwork(size: 5, seed: seed) { $0.mutants = mutants }
        var leaderOfTerm: [UInt64: NodeID] = [:]
        net.dropIf = { _ in rng.chance(0.1) }
        for k in 0..<400 {
            if k % 25 == 0 {
                net.heal()
                net.dropIf = { _ in rng.chance(0.1) }
                for _ in 0..<rng.int(in: 0...2) { net.isolate(UInt64(rng.int(in: 1...5))) }
            }
            if rng.chance(0.3), let leader = net.leaders.randomElement(using: &rng) {
                net.propose(leader.rawValue, [UInt8(truncatingIfNeeded: k)])
            }
            net.run(ticks: 1)
            for l in net.leaders {
                let t = net.nodes[l]!.term
                if let other = leaderOfTerm[t], other != l {
                    return (net, "seed \(seed) tick \(k): two leaders in term \(t): \(other), \(l)")
                }
                leaderOfTerm[t] = l
            }
            if net.safetyViolated { return (net, "seed \(seed) tick \(k): state machine safety violated") }
            // Log Matching: same index and term ⇒ same entries up to there.
            for a in net.ids where k % 10 == 9 {
                for b in net.ids where a < b {
                    let la = net.nodes[a]!, lb = net.nodes[b]!
                    let common = min(la.lastIndex, lb.lastIndex)
                    guard common > 0 else { continue }
                    if let i = (1...common).last(where: { la.term(at: $0) == lb.term(at: $0) }),
                       la.logEntries.prefix(Int(i)) != lb.logEntries.prefix(Int(i)) {
                        return (net, "seed \(seed) tick \(k): logs of \(a) and \(b) match at \(i) but differ before")
                    }
                }
            }
        }
        net.heal()
        net.run(ticks: 100)
        return (net, nil)
    }

    func testRandomPartitionsAndLossKeepSafetyAndConverge() {
        for seed in UInt64(1)...12 {
            let (net, violation) = chaosRun(seed: seed)
            XCTAssertNil(violation)
            guard violation == nil else { continue }
            XCTAssertEqual(net.leaders.count, 1, "seed \(seed)")
            guard let leader = net.leaders.first else { continue }
            let reference = net.nodes[leader]!
            for id in net.ids {
                XCTAssertEqual(net.nodes[id]!.logEntries, reference.logEntries, "seed \(seed) \(id)")
                XCTAssertEqual(net.nodes[id]!.commitIndex, reference.commitIndex, "seed \(seed) \(id)")
                XCTAssertEqual(net.applied[id]!, net.applied[leader]!, "seed \(seed) \(id)")
            }
            XCTAssertGreaterThan(reference.commitIndex, 20, "seed \(seed): the run made progress")
            net.assertStorageMatchesMemory()
        }
    }

    /// The same runs find the skipVoteLogCheck mutant in some seed, so the checks above are not
    /// vacuous. (commitPreviousTermByCount needs the rare figure-8 schedule; PaperCaseTests stages it.)
    func testRandomRunsCatchMutants() {
        for mutants: Mutants in [.skipVoteLogCheck] {
            let caught = (UInt64(1)...40).contains { chaosRun(seed: $0, mutants: mutants).violation != nil }
            XCTAssertTrue(caught, "\(mutants) not caught in 40 seeds")
        }
    }
}
