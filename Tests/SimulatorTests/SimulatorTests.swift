import XCTest
@_spi(Simulation) import Consensus
@_spi(Simulation) import Simulator

final class SimulatorTests: XCTestCase {
    private func run(_ seed: UInt64, mutants: Mutants = [], trace: Bool = false) -> SeedOutcome {
        var o = SimulationOptions()
        o.mutants = mutants
        o.trace = trace
        return Simulation.run(seed: seed, options: o)
    }

    func testSameSeedGivesTheSameTraceAndOtherSeedsDiffer() {
        let a = run(11, trace: true), b = run(11, trace: true), c = run(12, trace: true)
        XCTAssertNotNil(a.traceHash)
        XCTAssertEqual(a.traceHash, b.traceHash)
        XCTAssertNotEqual(a.traceHash, c.traceHash)
        XCTAssertEqual(a.stats.events, b.stats.events)
    }

    func testCorrectRaftPassesAndMakesProgress() {
        for seed in UInt64(1)...8 {
            let o = run(seed)
            XCTAssertNil(o.violation, "seed \(seed): \(String(describing: o.violation))")
            XCTAssertGreaterThan(o.stats.acknowledged, 0, "seed \(seed) acknowledged nothing")
        }
    }

    // Regression seeds: each mutant must be caught (found with `florian simulate --seeds 2000 --mutant …`).
    func testFigure8MutantIsCaught() {
        let o = run(123, mutants: .commitPreviousTermByCount)
        XCTAssertEqual(o.violation?.invariant, "committed entry not durable", "\(String(describing: o.violation))")
        XCTAssertNil(run(123).violation, "the same seed must pass without the mutant")
    }

    func testVoteWithoutLogCheckMutantIsCaught() {
        let o = run(4, mutants: .skipVoteLogCheck)
        XCTAssertNotNil(o.violation)
        XCTAssertNil(run(4).violation)
    }

    func testStaleReadMutantIsCaught() {
        let o = run(3, mutants: .staleRead)
        XCTAssertEqual(o.violation?.invariant, "linearizable read", "\(String(describing: o.violation))")
        XCTAssertNil(run(3).violation)
    }

    func testScenarioParsing() throws {
        let s = try Scenario.parse("""
            # storm
            nodes = 5
            drop = 0.1..0.3
            crash_rate = 0.5
            """, name: "storm")
        XCTAssertEqual(s.clusterSizes, [5])
        XCTAssertEqual(s.drop, 0.1...0.3)
        XCTAssertEqual(s.crashRate, 0.5...0.5)
        XCTAssertThrowsError(try Scenario.parse("dorp = 0.1", name: "x"))
        XCTAssertThrowsError(try Scenario.parse("drop = 0.3..0.1", name: "x"))
        XCTAssertThrowsError(try Scenario.parse("drop = 1.5", name: "x"))
        XCTAssertThrowsError(try Scenario.parse("nodes = 4", name: "x"))
        XCTAssertThrowsError(try Scenario.parse("drop 0.1", name: "x"))
        XCTAssertThrowsError(try Scenario.parse("drop = nan", name: "x"))
    }

    func testShippedScenariosParse() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Simulations")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".scenario") }
        XCTAssertFalse(files.isEmpty)
        for f in files {
            let text = try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8)
            XCTAssertNoThrow(try Scenario.parse(text, name: f), f)
        }
    }
}
