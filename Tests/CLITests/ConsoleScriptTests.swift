import Foundation
import XCTest

/// `florian console` without a terminal: `-c` commands and stdin lines, exit codes, `--json`,
/// confirmation refused without `--yes`, both languages — against `florian demo`.
final class ConsoleScriptTests: XCTestCase {
    func console(_ dir: URL, _ args: [String], stdin: String? = nil) throws -> Run { try Self.console(dir, args, stdin: stdin) }

    /// `florian console --cluster DIR/cluster.json ARGS` without a terminal.
    static func console(_ dir: URL, _ args: [String], stdin: String? = nil) throws -> Run {
        let p = Process()
        p.executableURL = SimulateCommandTests.binary
        p.arguments = ["console", "--cluster", dir.appendingPathComponent("cluster.json").path] + args
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        try p.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    func testScriptedCommandsExitCodesJSONAndConfirmation() throws {
        guard FileManager.default.isExecutableFile(atPath: SimulateCommandTests.binary.path) else { throw XCTSkip("no release binary") }
        let dir = tempDir("console")
        let (demo, _) = try startDemo(dir, [])
        defer { demo.terminate(); demo.waitUntilExit() }

        // Alarming without a terminal and without --yes fails and alarms nothing.
        let first = try console(dir, ["-c", "einsatz F1 Nied \"Mainzer Landstraße 300\"", "-c", "alarmieren E-000001"])
        XCTAssertEqual(first.status, 1, first.stdout + first.stderr)
        XCTAssertTrue(first.stdout.contains("Einsatz E-000001 eröffnet: F1 in Nied"), first.stdout)
        XCTAssertTrue(first.stderr.contains("--yes"), first.stderr)
        let shown = try console(dir, ["--json", "-c", "show E-000001"])
        XCTAssertEqual(shown.status, 0, shown.stderr)
        XCTAssertTrue(shown.stdout.contains("\"orders\":[]"), shown.stdout)

        // With --yes it alarms; --json gives one object per command.
        let alarmed = try console(dir, ["--yes", "--json", "-c", "alarm E-000001"])
        XCTAssertEqual(alarmed.status, 0, alarmed.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(alarmed.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["ok"] as? Bool, true)
        XCTAssertEqual(object["order"] as? String, "E-000001/1")

        // Commands from stdin, one a line, English; a bad one fails the run but not the others.
        let piped = try console(dir, ["--lang", "en", "--json"], stdin: "lines\nalarmiren E-000001\nincidents\n")
        XCTAssertEqual(piped.status, 1)
        let lines: [[String: Any]] = piped.stdout.split(separator: "\n").map { ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]) ?? [:] }
        XCTAssertEqual(lines.count, 3, piped.stdout)
        XCTAssertEqual(lines.map { $0["ok"] as? Bool }, [true, false, true])
        XCTAssertTrue((lines[1]["message"] as? String ?? "").contains("did you mean \"alarmieren\""), piped.stdout)

        // Help in both languages; the audit names the operator.
        XCTAssertTrue(try console(dir, ["-c", "hilfe"]).stdout.contains("Befehle (auch auf Englisch):"))
        XCTAssertTrue(try console(dir, ["--lang", "en", "-c", "help alarm"]).stdout.contains("alarm INCIDENT [UNIT …]"))
        let audit = try console(dir, ["-c", "protokoll E-000001"])
        XCTAssertTrue(audit.stdout.contains("operator:disponent-demo  order.created E-000001/1"), audit.stdout)

        // An oversize report is refused at once and said to be too large (not "unreachable");
        // the next command works.
        let started = Date()
        let big = try console(dir, ["--yes", "--json"], stdin: "lage E-000001 \"\(String(repeating: "ä", count: 700_000))\"\nlage E-000001 \"kurz\"\n")
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "refused without waiting for a timeout")
        let answers: [[String: Any]] = big.stdout.split(separator: "\n").map { ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]) ?? [:] }
        XCTAssertEqual(answers.map { $0["ok"] as? Bool }, [false, true], big.stdout.prefix(2_000).description)
        XCTAssertEqual(answers.first?["error"] as? String, "refused")
        XCTAssertTrue((answers.first?["message"] as? String ?? "").contains("the limit is 1048576"), big.stdout.prefix(2_000).description)
    }
}
