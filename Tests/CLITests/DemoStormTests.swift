import Foundation
import XCTest

/// `florian demo --scenario FILE`: a scenario played on the demo's real cluster (here the short
/// `Simulations/demo-smoke.json`: incidents alarmed, a station line cut and restored, the leader
/// killed and restarted, crews answering) with a live summary; exit 0 when every order is final,
/// and no process left behind. The storm night itself runs the same code for ~25 minutes.
final class DemoStormTests: XCTestCase {
    func testTheSmokeScenarioOnTheRealCluster() throws {
        guard FileManager.default.isExecutableFile(atPath: SimulateCommandTests.binary.path) else { throw XCTSkip("no release binary") }
        let dir = tempDir("demo-storm")
        let scenario = SimulateCommandTests.packageRoot.appendingPathComponent("Simulations/demo-smoke.json").path
        let r = try run(SimulateCommandTests.binary, ["demo", "--dir", dir.path, "--scenario", scenario, "--speed", "6", "--seed", "3"], limit: 600)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let out = r.stdout
        for expected in ["storm: demo-smoke — 12 incidents", "storm: station line FRW1 cut", "line.faulted line:FRW1",
                         "storm: leader node", "demo: node", "demo: station device FRW1 restarted", "line.up line:FRW1",
                         "storm: done — every order final", "demo: stopped"] {
            XCTAssertTrue(out.contains(expected), "missing \"\(expected)\":\n\(out)")
        }
        // The live summary came more than once, and the final counts add up.
        XCTAssertGreaterThan(out.components(separatedBy: "\nstorm ").count, 3, out)
        let final = try XCTUnwrap(out.split(separator: "\n").first { $0.hasPrefix("storm: 12 incidents") }, out)
        XCTAssertTrue(final.contains("0 still open"), String(final))
        XCTAssertTrue(final.contains("12 orders + 0 test orders") || final.range(of: #"1[0-2] orders"#, options: .regularExpression) != nil, String(final))
        let left = try run(URL(fileURLWithPath: "/usr/bin/pgrep"), ["-a", "-f", "^[^ ]*/florian .*\(dir.path)"], limit: 10).stdout
        XCTAssertEqual(left, "", "processes left behind")
    }

    func testScenarioArgumentsAreChecked() throws {
        guard FileManager.default.isExecutableFile(atPath: SimulateCommandTests.binary.path) else { throw XCTSkip("no release binary") }
        let bad = try run(SimulateCommandTests.binary, ["demo", "--scenario", "/nonexistent.json"], limit: 30)
        XCTAssertEqual(bad.status, 2, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("cannot read scenario"), bad.stderr)
        let speed = try run(SimulateCommandTests.binary, ["demo", "--scenario", "storm", "--speed", "0"], limit: 30)
        XCTAssertEqual(speed.status, 2, speed.stderr)
        XCTAssertTrue(speed.stderr.contains("--speed"), speed.stderr)
        let lonely = try run(SimulateCommandTests.binary, ["demo", "--speed", "5"], limit: 30)
        XCTAssertEqual(lonely.status, 2, lonely.stderr)
    }
}
