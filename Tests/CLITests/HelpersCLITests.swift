import Foundation
import XCTest

/// The helper-network router's flood night and its bench through the release binary.
final class HelpersCLITests: XCTestCase {
    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: SimulateCommandTests.binary.path) else { throw XCTSkip("no release binary") }
    }

    /// The line, exactly, and the rule behind it: on every seed our waves fill faster at
    /// p90 with no more asks per filled slot than Katretter's rule, with no rest violation; the
    /// same seed gives the same night.
    func testFloodScenarioBeatsKatrettersRuleOnEverySeed() throws {
        let path = SimulateCommandTests.packageRoot.appendingPathComponent("Simulations/main-flood.json").path
        let r = try run(SimulateCommandTests.binary, ["simulate", "--scenario", path, "--seeds", "20"], limit: 300)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(r.lastLine, "helpers: seeds 20, beats baseline on 20, rest violations 0", r.stdout)
        let again = try run(SimulateCommandTests.binary, ["simulate", "--scenario", path, "--seed", "7"], limit: 120)
        XCTAssertTrue(r.stdout.contains(again.stdout.split(separator: "\n").dropLast().joined(separator: "\n")), "seed 7 replays identically")
        XCTAssertEqual(r.stdout.components(separatedBy: "rest violations 0").count - 1, 41)
    }

    func testBenchHelpersSmoke() throws {
        let r = try run(SimulateCommandTests.binary, ["bench", "helpers", "--volunteers", "5000", "--waves", "50"], limit: 120)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("wave matching p50"), r.stdout)
    }
}
