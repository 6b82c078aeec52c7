import Foundation
import XCTest

/// `florian simulate --scenario X.json`: the alarm dispatcher end to end on virtual time.
final class AlarmScenarioTests: XCTestCase {
    func florian(_ args: String...) throws -> SimulateCommandTests.Run {
        try run(SimulateCommandTests.binary, args, limit: 600)
    }

    func testTheStormNightEndsWithEveryOrderFinalAndReportsLatenciesPerNetwork() throws {
        let r = try florian("simulate", "--scenario", "Simulations/storm-night.json", "--seed", "1")
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(r.lastLine, "simulate: 1 seeds, 0 violations")
        XCTAssertTrue(r.stdout.contains("; all final"), r.stdout)
        for network in ["wired", "wireless"] {
            XCTAssertTrue(r.stdout.contains("\(network): order → first delivery p50 "), r.stdout)
        }
        // The scenario's faults all happened: its two leader kills and gateway kills, its cut, its
        // partitions; line faults come from its two line failures and from connection resets.
        for fault in ["leader kills 2", "gateway kills 2", "gateway cuts 1", "partitions ", "line faults reported ", "connection resets ",
                      "gateway activations ", "gateway step-downs ", "information pages"] {
            XCTAssertTrue(r.stdout.contains(fault), "\(fault) missing: \(r.stdout)")
        }
    }

    func testAnAlarmScenarioIsDeterministicPerSeed() throws {
        func hash(_ seed: String) throws -> String {
            let r = try florian("simulate", "--scenario", "Simulations/line-failure.json", "--seed", seed, "--trace-hash")
            XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
            return try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("trace ") }.map(String.init))
        }
        let a = try hash("3")
        XCTAssertEqual(try hash("3"), a)
        XCTAssertNotEqual(try hash("4"), a)
    }

    func testOrdersLeftOpenAreAViolation() throws {
        // Too little time after the last incident for crews to answer: orders stay open.
        let text = try String(contentsOf: SimulateCommandTests.packageRoot.appendingPathComponent("Simulations/line-failure.json"), encoding: .utf8)
            .replacingOccurrences(of: "\"settleMinutes\": 20", with: "\"settleMinutes\": 0.2")
        let file = SimulateCommandTests.packageRoot.appendingPathComponent("Simulations/.test-open-\(getpid()).json")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let r = try florian("simulate", "--scenario", file.path, "--seed", "3")
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stdout.contains("VIOLATION seed 3: every order final"), r.stdout)
    }

    func testABadScenarioIsRefusedClearly() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bad-scenario-\(getpid()).json")
        try #"{"name": "x", "registry": "r.json", "nodes": 4}"#.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let r = try florian("simulate", "--scenario", file.path, "--seed", "1")
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("field minutes is missing"), r.stderr)
        // The optional crew times: ranges must be [from, to] within 0…3600 (the demo refuses too).
        let smoke = try String(contentsOf: SimulateCommandTests.packageRoot.appendingPathComponent("Simulations/demo-smoke.json"), encoding: .utf8)
        try smoke.replacingOccurrences(of: #""professional": [2, 6]"#, with: #""professional": [6, 2]"#)
            .replacingOccurrences(of: "../ops", with: SimulateCommandTests.packageRoot.path + "/ops").write(to: file, atomically: true, encoding: .utf8)
        let crews = try florian("simulate", "--scenario", file.path, "--seed", "1")
        XCTAssertEqual(crews.status, 1)
        XCTAssertTrue(crews.stderr.contains("crewAnswerSeconds ranges"), crews.stderr)
        let demo = try run(SimulateCommandTests.binary, ["demo", "--scenario", file.path], limit: 30)
        XCTAssertNotEqual(demo.status, 0, demo.stdout + demo.stderr)
        XCTAssertTrue(demo.stderr.contains("crewAnswerSeconds ranges"), demo.stderr)
    }
}

/// `florian bench alarm`, shortened: all three phases run and report.
final class AlarmBenchTests: XCTestCase {
    func testBenchAlarmReportsLatencyAloneAndUnderLoad() throws {
        let r = try run(SimulateCommandTests.binary, ["bench", "alarm", "--orders", "20"], limit: 300)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("bench alarm: no load: order → station ACK seen by the control room p50 "), r.stdout)
        XCTAssertTrue(r.stdout.contains("publishes/s of 1 KiB in the background"), r.stdout)
        XCTAssertTrue(r.stdout.contains("bench alarm: p99 ratio loaded/quiet "), r.stdout)
        // The partner flood needs paho-mqtt (installed by .ci/run).
        if ProcessInfo.processInfo.environment["CI"] != nil || !r.lastLine.contains("skipped") {
            XCTAssertTrue(r.lastLine.hasPrefix("bench alarm: with a partner flooding MQTT ("), r.stdout)
            XCTAssertTrue(r.lastLine.contains("msg/s") && r.lastLine.contains("order → station ACK p50 "), r.lastLine)
        }
    }
}
