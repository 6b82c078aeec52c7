import Foundation
import XCTest

/// The pipeline on a real cluster (`florian demo`): the demo's incidents reach its store within
/// seconds, with their timelines; canary names and phone numbers planted in incidents are found in
/// no export, no open data, no log line and no command's output; retention deletes them from the
/// store's files; archiving takes stored closed incidents out of the replicated alarm state.
final class IncidentPipelineTests: XCTestCase {
    nonisolated(unsafe) static var demo: SharedDemo?

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: SimulateCommandTests.binary.path) else { throw XCTSkip("no release binary") }
        if Self.demo == nil { Self.demo = try SharedDemo.start("pipeline", in: self) }
    }

    override class func tearDown() {
        demo?.stop()
        demo = nil
        super.tearDown()
    }

    var dir: URL { Self.demo!.dir }
    var clusterFile: String { dir.appendingPathComponent("cluster.json").path }
    var store: String { dir.appendingPathComponent("incidents").path }
    var outputs = ""

    func florian(_ args: [String], limit: TimeInterval = 120) throws -> Run {
        let r = try run(SimulateCommandTests.binary, args, limit: limit)
        outputs += r.stdout + r.stderr
        return r
    }

    func alarm(_ args: [String]) throws -> Run {
        let r = try florian(["alarm", "--cluster", clusterFile] + args)
        XCTAssertEqual(r.status, 0, "alarm \(args): \(r.stdout) \(r.stderr)")
        return r
    }

    static let canaries = ["Kanarienvogel-Schmidtke", "Canary Quintessa", "0171 5550123", "+49 69 5550 4477", "0151-55501999"]

    /// Opens an incident whose address and remarks carry canaries, alarms it, moves its units
    /// through status 3, 4 and 1 and closes it.
    func incident(_ keyword: String, _ area: String, units: [String], at position: String? = nil) throws -> String {
        var open = ["open", "--keyword", keyword, "--address", "Berger Straße 7, bei \(Self.canaries[0]), Tel. \(Self.canaries[2])",
                    "--remarks", "Anruferin \(Self.canaries[1]), Rückruf \(Self.canaries[3]) oder \(Self.canaries[4])"]
        open += position.map { ["--position", $0] } ?? ["--area", area]
        let id = try XCTUnwrap(try alarm(open).stdout.split(separator: "\n").last { $0.hasPrefix("incident ") }?.split(separator: " ").last.map(String.init))
        _ = try alarm(["raise", id, "--units", units.joined(separator: ","), "--wait", "2"])
        for u in units { _ = try alarm(["unit-status", u, "3"]) }
        _ = try alarm(["unit-status", units[0], "4"])
        _ = try alarm(["close", id])
        for u in units { _ = try alarm(["unit-status", u, "1"]) }
        return id
    }

    func summary(_ store: String) throws -> (incidents: Int, dispatches: Int) {
        let s = try florian(["incidents", "summary", "--store", store]).stdout
        let n = s.split(separator: " ").map(String.init)
        let i = n.firstIndex(of: "incidents,").map { Int(n[$0 - 1]) ?? 0 } ?? 0
        let d = n.firstIndex(of: "dispatches,").map { Int(n[$0 - 1]) ?? 0 } ?? 0
        return (i, d)
    }

    func testIncidentsReachTheStoreAndNoCanaryLeaves() throws {
        let before = try summary(store)
        let started = Date()
        let a = try incident("F2", "Bornheim", units: ["1-HLF-1", "1-DLK-1"], at: "50.1275,8.7110")
        let b = try incident("TH1", "Bornheim", units: ["2-HLF-1"])
        let c = try incident("F1", "Bornheim", units: ["3-HLF-1"])
        // Within seconds of the last command, the store holds all three with their dispatches.
        var seen = (incidents: 0, dispatches: 0)
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            seen = try summary(store)
            if seen.incidents >= before.incidents + 3 && seen.dispatches >= before.dispatches + 4 { break }
            usleep(200_000)
        }
        XCTAssertEqual(seen.incidents, before.incidents + 3, "store: \(seen)")
        XCTAssertEqual(seen.dispatches, before.dispatches + 4)
        print("pipeline: 3 incidents in the store \(String(format: "%.1f", Date().timeIntervalSince(started))) s after the first command")

        // Exports and open data.
        var exports: [String] = []
        let today = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "Europe/Berlin")!, formatOptions: [.withFullDate])
        for format in ["csv", "ndjson", "parquet"] {
            let out = dir.appendingPathComponent("export-\(format)").path
            let r = try florian(["export", "--store", store, "--from", "2026-01-01", "--to", today, "--format", format, "--out", out])
            XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
            XCTAssertTrue(r.lastLine.contains("incidents \(seen.incidents), dispatches \(seen.dispatches)"), r.stdout)
            exports.append(out)
        }
        let open = dir.appendingPathComponent("open-data").path
        XCTAssertEqual(try florian(["export", "--open-data", "--store", store, "--from", "2026-01-01", "--to", today, "--k", "3", "--out", open]).status, 0)

        // Statistics on our own incidents: the HLF's time in status 3 and 4, its station from
        // the registry; the Hilfsfrist table lists Bornheim.
        let u = try florian(["stats", "utilisation", "--store", store, "--format", "csv"])
        XCTAssertEqual(u.status, 0, u.stdout + u.stderr)
        let hlfRow = try XCTUnwrap(u.stdout.split(separator: "\n").first { $0.hasPrefix("1-HLF-1,FRW1,") }, u.stdout).split(separator: ",")
        XCTAssertGreaterThan(Double(hlfRow[3])! + Double(hlfRow[4])!, 0, u.stdout)
        XCTAssertTrue(u.stdout.contains("station FRW1,FRW1,"), u.stdout)
        let h = try florian(["stats", "hilfsfrist", "--store", store, "--category", "all", "--format", "csv"])
        XCTAssertEqual(h.status, 0, h.stderr)
        XCTAssertTrue(h.stdout.contains("\nBornheim,"), h.stdout)
        let rep = try florian(["stats", "aggregate", "--store", store, "--by", "category,hour"])
        XCTAssertEqual(rep.status, 0, rep.stderr)

        // The timelines as an analyst reads them (pyarrow), pseudonymised.
        let check = try run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", #"""
import sys, pyarrow.dataset as ds, duckdb
root, a = sys.argv[1], sys.argv[2]
inc = {r["incident_id"]: r for r in ds.dataset(root + "/incidents", format="parquet", partitioning="hive").to_table().to_pylist()}
dis = ds.dataset(root + "/dispatches", format="parquet", partitioning="hive").to_table().to_pylist()
r = inc[a]
assert r["keyword"] == "F2" and r["category"] == "fire" and r["area"] == "Bornheim", r
assert r["grid_cell"].startswith("CRS3035RES500mN"), r["grid_cell"]
assert r["first_alarm_at"] >= r["opened_at"] and r["first_en_route_at"] >= r["first_alarm_at"] and r["first_on_scene_at"] >= r["first_en_route_at"], r
assert r["call_to_on_scene_s"] == (r["first_on_scene_at"] - r["opened_at"]).total_seconds(), r
assert r["outcome"] == "complete" and r["closed_at"] is not None, r
assert r["opened_by"].startswith("k1-") and len(r["opened_by"]) == 19, r["opened_by"]
hlf = [d for d in dis if d["incident_id"] == a and d["unit"] == "1-HLF-1"][0]
assert hlf["en_route_at"] and hlf["on_scene_at"] and hlf["free_at"] and hlf["delivered_at"] and hlf["outcome"] == "acknowledged", hlf
assert hlf["bound_s"] > 0 and hlf["alarm_to_en_route_s"] >= 0, hlf
assert len({d["acknowledged_by"] for d in dis}) == 1, "one dispatcher, one pseudonym"
n = duckdb.execute(f"select count(*) from read_parquet('{root}/dispatches/**/*.parquet') where free_at is not null").fetchone()[0]
assert n == len(dis), (n, len(dis))
print("timelines ok")
"""#, exports[2], a], limit: 120)
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        XCTAssertTrue(check.stdout.contains("timelines ok"))

        // The canary scan: every export, the open data, every log, every command's output.
        var scanned: [String] = []
        var found: [String] = []
        func scan(_ path: String) throws {
            guard let data = FileManager.default.contents(atPath: path) else { return }
            scanned.append(path)
            let text = String(decoding: data, as: UTF8.self)
            for c in Self.canaries where text.contains(c) || data.range(of: Data(c.utf8)) != nil { found.append("\(c) in \(path)") }
        }
        for root in exports + [open, store + "/rejects"] {
            let e = FileManager.default.enumerator(atPath: root)
            while let f = e?.nextObject() as? String { try scan(root + "/" + f) }
        }
        for f in try FileManager.default.contentsOfDirectory(atPath: dir.path) where f.hasSuffix(".log") { try scan(dir.appendingPathComponent(f).path) }
        for (k, c) in Self.canaries.enumerated() where outputs.contains(c) { found.append("\(c) in a command's output (\(k))") }
        XCTAssertTrue(scanned.contains { $0.hasSuffix("pipeline.log") })
        XCTAssertTrue(scanned.contains { $0.hasSuffix("node1.log") })
        XCTAssertTrue(scanned.contains { $0.hasSuffix("station-FRW1.log") })
        XCTAssertGreaterThan(scanned.count, 20)
        XCTAssertEqual(found, [], "canaries leaked")
        // The canaries are where they belong: the store (until retention) and the station's printout.
        let printout = (try? String(contentsOf: dir.appendingPathComponent("station-FRW1.printout"), encoding: .utf8)) ?? ""
        XCTAssertTrue(printout.contains(Self.canaries[0]), printout)
        _ = (b, c)
    }

    /// Retention: personal fields deleted from the store, and from its files' bytes.
    func testRetentionDeletesPersonalDataFromTheFiles() throws {
        let other = dir.appendingPathComponent("retention-store").path
        _ = try incident("F1", "Nied", units: ["4-HLF-1"])
        let r = try florian(["pipeline", "--cluster", clusterFile, "--store", other, "--once"], limit: 60)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        func bytes() -> Data {
            ["incidents.sqlite", "incidents.sqlite-wal"].compactMap { FileManager.default.contents(atPath: other + "/" + $0) }.reduce(Data(), +)
        }
        XCTAssertNotNil(bytes().range(of: Data(Self.canaries[1].utf8)), "the store keeps the remarks until retention")
        let p = try florian(["incidents", "purge", "--store", other, "--older-than-days", "0"])
        XCTAssertEqual(p.status, 0, p.stdout + p.stderr)
        XCTAssertTrue(p.stdout.contains("deleted the personal fields of"), p.stdout)
        for c in Self.canaries { XCTAssertNil(bytes().range(of: Data(c.utf8)), "\(c) still in the store's files") }
        XCTAssertGreaterThan(try summary(other).incidents, 0)
    }

    /// Archiving: a pipeline archives stored closed incidents out of the alarm state (a command
    /// in the log); the incident is gone from every node's state, its record stays in the store.
    func testArchivingTakesStoredIncidentsOutOfTheAlarmState() throws {
        let id = try incident("F1", "Sachsenhausen-Nord", units: ["5-HLF-1"])
        XCTAssertEqual(try alarm(["show", id]).status, 0)
        let other = dir.appendingPathComponent("archive-store").path
        let r = try florian(["pipeline", "--cluster", clusterFile, "--store", other, "--once", "--archive-after", "0"], limit: 60)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("closed incident(s) out of the alarm state"), r.stdout)
        let gone = try florian(["alarm", "--cluster", clusterFile, "show", id])
        XCTAssertNotEqual(gone.status, 0, gone.stdout)
        XCTAssertTrue((gone.stdout + gone.stderr).contains("unknown"), gone.stdout + gone.stderr)
        // The record is stored, and the demo's own pipeline has it too.
        let check = try run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute('select count(*) from incidents where id=? and archived=1', (sys.argv[2],)).fetchone()[0])",
            other + "/incidents.sqlite", id], limit: 30)
        XCTAssertEqual(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "1", check.stderr)
        // A store bound to another cluster is refused, and left as it was.
        _ = try run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"update meta set value='florian-elsewhere/00' where key='cluster'\"); c.commit()",
            other + "/incidents.sqlite"], limit: 30)
        let foreign = try florian(["pipeline", "--cluster", clusterFile, "--store", other, "--once"], limit: 60)
        XCTAssertEqual(foreign.status, 1)
        XCTAssertTrue(foreign.stderr.contains("belongs to cluster florian-elsewhere/00"), foreign.stderr)
    }
}
