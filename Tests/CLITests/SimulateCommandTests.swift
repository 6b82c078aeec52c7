import Foundation
import XCTest

/// Runs `florian` as a user would: the release binary, its output and exit status. The simulator's
/// seeds run here and not in debug, which is many times slower.
final class SimulateCommandTests: XCTestCase {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var lastLine: String { stdout.split(separator: "\n").last.map(String.init) ?? "" }
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["FLORIAN_BIN"] { return URL(fileURLWithPath: path) }
        return packageRoot.appendingPathComponent(".build/release/florian")
    }

    func florian(_ args: String...) throws -> Run {
        let bin = Self.binary
        guard FileManager.default.isExecutableFile(atPath: bin.path) else {
            throw NSError(domain: "florian", code: 1, userInfo: [NSLocalizedDescriptionKey: "no release binary at \(bin.path)"])
        }
        let p = Process()
        p.executableURL = bin
        p.arguments = args
        p.currentDirectoryURL = Self.packageRoot
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // No command may hang the suite: past ten minutes it is killed (and the test fails).
        let watchdog = DispatchWorkItem { if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 600, execute: watchdog)
        defer { watchdog.cancel() }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                   stderr: String(decoding: e, as: UTF8.self))
    }

    override func setUpWithError() throws {
        let bin = Self.binary
        // Not a skip: a missing binary means the README's test command was not followed.
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: bin.path),
                      "no release binary at \(bin.path): run `swift build -c release` before `swift test`")
        guard FileManager.default.isExecutableFile(atPath: bin.path) else { throw NSError(domain: "florian", code: 1) }
    }

    func testFiveHundredSeedsHaveNoViolations() throws {
        let r = try florian("simulate", "--seeds", "500")
        XCTAssertEqual(r.lastLine, "simulate: 500 seeds, 0 violations", r.stdout)
        XCTAssertEqual(r.status, 0)
    }

    func testShippedScenariosHaveNoViolations() throws {
        for name in ["storm-night", "datacentre-loss", "flaky-line", "figure8"] {
            let r = try florian("simulate", "--seeds", "60", "--scenario", "Simulations/\(name).scenario")
            XCTAssertEqual(r.lastLine, "simulate: 60 seeds, 0 violations", "\(name): \(r.stdout)")
            XCTAssertEqual(r.status, 0, name)
        }
    }

    func testFigure8MutantIsFoundAtKnownSeed() throws {
        let r = try florian("simulate", "--seeds", "1", "--start", "123", "--mutant", "figure8")
        XCTAssertEqual(r.lastLine, "simulate: 1 seeds, 1 violations", r.stdout)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stdout.contains("VIOLATION seed 123: committed entry not durable"), r.stdout)
        XCTAssertTrue(r.stdout.contains("  | "), "no trace printed:\n\(r.stdout)")
    }

    func testVoteWithoutLogCheckMutantIsFoundAtKnownSeed() throws {
        let r = try florian("simulate", "--seeds", "1", "--start", "4", "--mutant", "vote-without-log-check")
        XCTAssertEqual(r.lastLine, "simulate: 1 seeds, 1 violations", r.stdout)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stdout.contains("VIOLATION seed 4:"), r.stdout)
    }

    func testStaleReadMutantIsFoundAtKnownSeed() throws {
        let r = try florian("simulate", "--seeds", "1", "--start", "3", "--mutant", "stale-read")
        XCTAssertEqual(r.lastLine, "simulate: 1 seeds, 1 violations", r.stdout)
        XCTAssertTrue(r.stdout.contains("VIOLATION seed 3: linearizable read"), r.stdout)
    }

    /// A smoke run of the benchmark: it runs and reports; its numbers are for the closing note,
    /// never asserted (speed is not a unit test).
    func testBenchBusRunsAndReports() throws {
        let r = try florian("bench", "bus", "--seconds", "1")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.lastLine.hasPrefix("bench bus: 1 in flight "), r.stdout)
        XCTAssertTrue(r.lastLine.contains("64 in flight"), r.lastLine)
        XCTAssertTrue(r.stdout.contains("yardstick"), r.stdout)
    }

    func testMutantsAreFoundWithinTwoThousandSeeds() throws {
        // The bound; both are found far earlier (see the known seeds above).
        for mutant in ["figure8", "vote-without-log-check", "stale-read"] {
            let r = try florian("simulate", "--seeds", "400", "--mutant", mutant)
            XCTAssertNotEqual(r.lastLine, "simulate: 400 seeds, 0 violations", mutant)
            XCTAssertTrue(r.lastLine.hasPrefix("simulate: 400 seeds, "), r.lastLine)
        }
    }

    func testTraceHashIsStableAndSeedSpecific() throws {
        let a = try florian("simulate", "--seed", "5", "--trace-hash")
        let b = try florian("simulate", "--seed", "5", "--trace-hash")
        let c = try florian("simulate", "--seed", "6", "--trace-hash")
        XCTAssertEqual(a.status, 0)
        XCTAssertNotNil(a.lastLine.range(of: "^trace [0-9a-f]{64}$", options: .regularExpression), a.lastLine)
        XCTAssertEqual(a.lastLine, b.lastLine)
        XCTAssertNotEqual(a.lastLine, c.lastLine)
    }

    func testBadArgumentsAreRefusedClearly() throws {
        let cases: [([String], String)] = [
            (["simulate", "--seeds", "ten"], "non-negative integer"),
            (["simulate", "--seeds", "5", "--mutant", "nope"], "unknown mutant 'nope'"),
            (["simulate", "--seeds", "5", "--scenario", "/nonexistent.scenario"], "cannot read scenario"),
            (["simulate", "--seeds", "5", "--bogus", "1"], "unknown option --bogus"),
            (["simulate"], "needs --seeds"),
            (["launch"], "unknown command 'launch'"),
        ]
        for (args, message) in cases {
            let p = Process()
            p.executableURL = Self.binary
            p.arguments = args
            let err = Pipe()
            p.standardError = err
            p.standardOutput = Pipe()
            try p.run()
            let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 2, "\(args)")
            XCTAssertTrue(e.contains(message), "\(args): \(e)")
        }
    }

    func testMalformedScenarioFileIsRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("florian-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("bad.scenario")
        try "drop = 0.1\ncrash_rate = lots\n".write(to: file, atomically: true, encoding: .utf8)
        let r = try florian("simulate", "--seeds", "3", "--scenario", file.path)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("scenario line 2: bad value 'lots' for 'crash_rate'"), r.stderr)
    }

    /// A smoke run of the TLS benchmark (numbers go to the closing note, not into assertions).
    func testBenchTLSRunsAndReportsBesideOpenSSL() throws {
        let r = try florian("bench", "tls", "--seconds", "1")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.lastLine.hasPrefix("bench tls: handshakes "), r.stdout)
        XCTAssertTrue(r.stdout.contains("openssl s_time"), r.stdout)
    }

    func testPKICommandBuildsATreeOpenSSLAccepts() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("florian-pki-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertEqual(try florian("pki", "--dir", dir.path, "init").status, 0)
        XCTAssertEqual(try florian("pki", "--dir", dir.path, "issue", "node", "node-1").status, 0)
        XCTAssertEqual(try florian("pki", "--dir", dir.path, "issue", "partner", "drk-kv", "--org", "DRK", "--days", "30").status, 0)
        XCTAssertEqual(try florian("pki", "--dir", dir.path, "revoke", "drk-kv").status, 0)
        let bad = try florian("pki", "--dir", dir.path, "issue", "wizard", "x")
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("unknown role 'wizard'"), bad.stderr)
        func verify(_ name: String) throws -> Int32 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            p.arguments = ["verify", "-CAfile", dir.appendingPathComponent("ca.crt").path, "-crl_check",
                           "-CRLfile", dir.appendingPathComponent("crl.pem").path, dir.appendingPathComponent("\(name).crt").path]
            p.standardOutput = Pipe()
            p.standardError = Pipe()
            try p.run()
            p.waitUntilExit()
            return p.terminationStatus
        }
        XCTAssertEqual(try verify("node-1"), 0)
        XCTAssertNotEqual(try verify("drk-kv"), 0, "a revoked certificate must fail the CRL check")
    }
}
