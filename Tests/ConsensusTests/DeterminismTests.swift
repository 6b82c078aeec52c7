import XCTest
@_spi(Simulation) import Consensus

/// `Raft` is a pure function of its seed and inputs: no clock, no global randomness, no hashing
/// order. Two runs with the same seed and inputs produce the same outputs, Ready for Ready.
final class DeterminismTests: XCTestCase {

    /// A scripted run: elections, proposals, a partition of the leader, a heal.
    private func scriptedRun(seed: UInt64) -> TestNetwork {
        let net = TestNetwork(size: 5, seed: seed)
        for k in 0..<150 {
            if k == 60, let leader = net.leaders.first { net.isolate(leader.rawValue) }
            if k == 110 { net.heal() }
            if k % 5 == 0, let leader = net.leaders.last {
                net.propose(leader.rawValue, [UInt8(truncatingIfNeeded: k)])
            }
            net.run(ticks: 1)
        }
        return net
    }

    func testSameSeedAndInputsGiveIdenticalOutputs() {
        let a = scriptedRun(seed: 42)
        let b = scriptedRun(seed: 42)
        XCTAssertGreaterThan(a.sent.count, 100)
        XCTAssertEqual(a.sent, b.sent)
        for id in a.ids {
            XCTAssertEqual(a.readies[id]!, b.readies[id]!, "\(id)")
            XCTAssertEqual(a.nodes[id]!.hardState, b.nodes[id]!.hardState)
            XCTAssertEqual(a.nodes[id]!.logEntries, b.nodes[id]!.logEntries)
        }
    }

    /// The seed is what varies the run (so the test above compares something that could differ).
    func testDifferentSeedsGiveDifferentRuns() {
        let a = scriptedRun(seed: 1)
        let b = scriptedRun(seed: 2)
        XCTAssertNotEqual(a.sent, b.sent)
    }

    /// Two single `Raft` values with one seed, fed the same ticks and messages, emit equal Readys.
    func testTwoInstancesWithSameSeedEmitEqualReadies() {
        var x = makeRaft(id: 1, seed: 99)
        var y = makeRaft(id: 1, seed: 99)
        var outputs = 0
        for k in 0..<200 {
            x.tick()
            y.tick()
            if k % 37 == 0 {
                let m = Message(from: n(2), to: n(1), term: x.term + 1, body: .voteResponse(pre: true, granted: true))
                x.step(m)
                y.step(m)
            }
            let rx = x.ready()
            let ry = y.ready()
            XCTAssertEqual(rx, ry, "tick \(k)")
            if !rx.isEmpty { outputs += 1 }
            XCTAssertEqual(x.role, y.role)
            XCTAssertEqual(x.term, y.term)
        }
        XCTAssertGreaterThan(outputs, 5)
    }
}
