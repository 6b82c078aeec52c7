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

    /// The done-when in the demo: a request typed in the console (German, then shown in
    /// English) is filled by the simulated volunteers behind the city's platform and by the DRK
    /// as a platform over MQTT (paho); volunteers hear the area before accepting and the place
    /// only after; the names are the requesting dispatcher's alone.
    func testADemoRequestIsFilledByVolunteersAndByAPartnerPlatformOverMQTT() throws {
        let dir = tempDir("helpers-demo")
        let (demo, _) = try startDemo(dir, [])
        defer { if demo.isRunning { demo.terminate(); demo.waitUntilExit() } }
        let cluster = dir.appendingPathComponent("cluster.json").path
        let platform = Process()
        platform.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        platform.arguments = ["python3", SimulateCommandTests.packageRoot.appendingPathComponent("ops/partners/helper-platform.py").path,
                              "--cluster", cluster, "--cert", "partner-drk", "--org", "DRK", "--seconds", "60"]
        let out = Pipe()
        platform.standardOutput = out
        platform.standardError = out
        try platform.run()
        defer { if platform.isRunning { platform.terminate() } }
        let lines = LineReader(out.fileHandleForReading)
        var seen = ""
        let connectBy = Date().addingTimeInterval(20)
        while Date() < connectBy, let l = lines.next(until: connectBy) { seen += l + "\n"; if l == "platform: connected" { break } }
        XCTAssertTrue(seen.contains("platform: connected"), seen)

        // Typed into the dispatcher's console (plain mode: lines in, the live feed out).
        let console = Process()
        // On a terminal (script(1) gives it one): the console shows its live feed only there.
        console.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        console.arguments = ["-qfec", "\(SimulateCommandTests.binary.path) console --cluster \(cluster) --plain --yes", "/dev/null"]
        let input = Pipe(), output = Pipe()
        console.standardInput = input
        console.standardOutput = output
        console.standardError = FileHandle.nullDevice
        try console.run()
        defer { if console.isRunning { console.terminate() } }
        input.fileHandleForWriting.write(Data("einsatz TH1 Sachsenhausen-Nord \"Schaumainkai 1\"\n".utf8))
        input.fileHandleForWriting.write(Data("helfer anfordern E-000001 sandsack 20 120 \"Sandsäcke füllen\" \"Abstand zur Kaimauer\"\n".utf8))
        let screen = LineReader(output.fileHandleForReading)
        var typed = ""
        let feedBy = Date().addingTimeInterval(60)
        while Date() < feedBy, let l = screen.next(until: feedBy) {
            typed += l + "\n"
            if l.contains("helpers.filled") { break }
        }
        XCTAssertTrue(typed.contains("Helferanfrage H-000001 offen: 20× sandsack in Sachsenhausen-Nord"), typed)
        XCTAssertTrue(typed.contains("helpers.opened") && typed.contains("helpers.filled") && typed.contains("H-000001 20/20"), "the live feed: \(typed)")
        XCTAssertFalse(typed.contains("Helfer 0"), "the feed carries counts, never names")
        input.fileHandleForWriting.closeFile()

        var view: [String: Any] = [:]
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let r = try run(SimulateCommandTests.binary, ["console", "--cluster", cluster, "--json", "--lang", "en", "-c", "helpers show H-000001"], limit: 30)
            view = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:]
            if view["status"] as? String == "filled" { break }
            Thread.sleep(forTimeInterval: 1)
        }
        XCTAssertEqual(view["status"] as? String, "filled", "\(view)")
        let helpers = view["helpers"] as? [[String: Any]] ?? []
        let external = view["external"] as? Int ?? 0
        XCTAssertGreaterThan(helpers.count, 0, "simulated volunteers accepted: \(view)")
        XCTAssertGreaterThan(external, 0, "the DRK committed people over MQTT: \(view)")
        XCTAssertEqual(helpers.count + external, 20)
        XCTAssertTrue(helpers.allSatisfy { ($0["name"] as? String)?.hasPrefix("Helfer ") == true }, "\(helpers)")
        let deadline2 = Date().addingTimeInterval(15)
        while Date() < deadline2, let l = lines.next(until: deadline2) { seen += l + "\n"; if l.hasPrefix("released H-000001") { break } }
        XCTAssertTrue(seen.contains("need H-000001 sandsack"), seen)
        XCTAssertTrue(seen.contains("committed H-000001 \(external) at 50."), "the platform is told the place after committing: \(seen)")

        // The volunteers' side, from the simulator's log.
        var sim = ""
        let onSiteBy = Date().addingTimeInterval(20)
        repeat {
            sim = (try? String(contentsOf: dir.appendingPathComponent("helper-sim.log"), encoding: .utf8)) ?? ""
            if sim.contains("checked in at H-000001") { break }
            Thread.sleep(forTimeInterval: 0.5)
        } while Date() < onSiteBy
        let asked = sim.split(separator: "\n").filter { $0.contains("asked for H-000001") }
        XCTAssertFalse(asked.isEmpty, sim)
        XCTAssertTrue(asked.allSatisfy { $0.contains("in Sachsenhausen-Nord") && !$0.contains("50.") }, "no place before accepting: \(asked)")
        XCTAssertTrue(sim.contains("is on the way to H-000001 at 50."), "the place after accepting")
        XCTAssertTrue(sim.contains("checked in at H-000001"), sim)
        // The gateway keeps where it is on its topic (a restart resumes there).
        let offset = try String(contentsOf: dir.appendingPathComponent("helper-gateway.offset"), encoding: .utf8)
        XCTAssertGreaterThan(UInt64(offset.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, 0, offset)
        // The feed and the request list carry counts, never names.
        let list = try run(SimulateCommandTests.binary, ["console", "--cluster", cluster, "--json", "--lang", "en", "-c", "helpers show"], limit: 30)
        XCTAssertFalse(list.stdout.contains("Helfer "), list.stdout)
    }
}
