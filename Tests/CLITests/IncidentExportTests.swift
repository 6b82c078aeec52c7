import Foundation
import XCTest

/// The analyst's path through the release binary: the Berlin open data imported with its
/// mappings, exported as CSV, NDJSON and Parquet, and every row checked by independent readers —
/// pyarrow (also as a Hive-partitioned dataset, as Spark reads it), DuckDB and pandas — against the
/// source files themselves; the open data holds no group below k; an interrupted export resumes
/// to the same bytes. Needs python3 with pyarrow, duckdb and pandas (installed by .ci/run).
final class IncidentExportTests: XCTestCase {
    /// The Berlin data: $FLORIAN_DATA/berlin, else ../shared/data/berlin beside the checkout, else /work/shared/data/berlin.
    static let berlin: URL = {
        let candidates = [ProcessInfo.processInfo.environment["FLORIAN_DATA"].map { $0 + "/berlin" },
                          SimulateCommandTests.packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/berlin").path,
                          "/work/shared/data/berlin"].compactMap { $0 }
        return URL(fileURLWithPath: candidates.first { FileManager.default.fileExists(atPath: $0 + "/README.md") } ?? candidates[0])
    }()
    static var missions: [String] {
        ["2025", "2026"].map { berlin.appendingPathComponent("mission_data/mission_data_set_open_data_\($0)_partial.csv").path }
    }
    static var daily: String { berlin.appendingPathComponent("Datasets/Daily_Data/BFw_mission_data_daily.csv").path }
    static var root: String { SimulateCommandTests.packageRoot.path }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: SimulateCommandTests.binary.path) else { throw XCTSkip("no release binary") }
    }

    func requireBerlin() throws {
        guard FileManager.default.fileExists(atPath: Self.daily) else { throw XCTSkip("the Berlin data (../shared/data/berlin) is not here") }
    }

    func florian(_ args: [String], limit: TimeInterval = 300) throws -> Run { try run(SimulateCommandTests.binary, args, limit: limit) }

    func python(_ script: String, _ args: [String], limit: TimeInterval = 300) throws -> Run {
        let r = try run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script] + args, limit: limit)
        XCTAssertEqual(r.status, 0, "python oracle failed:\n\(r.stdout)\n\(r.stderr)")
        return r
    }

    /// A store with both Berlin mission files and the daily counts.
    func berlinStore() throws -> (store: String, output: String) {
        try requireBerlin()
        let store = tempDir("berlin-store").path
        let a = try florian(["incidents", "import", "--store", store, "--mapping", Self.root + "/ops/mappings/berlin-missions.json"] + Self.missions)
        XCTAssertEqual(a.status, 0, a.stdout + a.stderr)
        let b = try florian(["incidents", "import", "--store", store, "--mapping", Self.root + "/ops/mappings/berlin-daily.json", Self.daily])
        XCTAssertEqual(b.status, 0, b.stdout + b.stderr)
        return (store, a.stdout + b.stdout)
    }

    func testBerlinImportReportsEveryRowAndIsIdempotent() throws {
        let (store, output) = try berlinStore()
        XCTAssertTrue(output.contains("mission_data_set_open_data_2025_partial.csv: read 35886, accepted 35884 incidents, rejected 2 (unknown keyword 2)"), output)
        XCTAssertTrue(output.contains("mission_data_set_open_data_2026_partial.csv: read 32756, accepted 32756 incidents, rejected 0"), output)
        XCTAssertTrue(output.contains("BFw_mission_data_daily.csv: read 3149, accepted 3149 rows (18894 period counts), rejected 0"), output)
        XCTAssertTrue(output.contains("Berliner Feuerwehr, BF-Open-Data, CC BY 4.0"), output)
        let rejects = try String(contentsOfFile: store + "/rejects/mission_data_set_open_data_2025_partial.rejects.csv", encoding: .utf8)
        XCTAssertEqual(rejects, "line,reason,column,value\r\n1065,unknown keyword,mission_type,Hinweis\r\n1160,unknown keyword,mission_type,Befristete Außerdienstnahme\r\n")
        // Importing the same files again replaces, never doubles.
        _ = try florian(["incidents", "import", "--store", store, "--mapping", Self.root + "/ops/mappings/berlin-missions.json"] + Self.missions)
        let s = try florian(["incidents", "summary", "--store", store])
        XCTAssertTrue(s.stdout.contains(": 68640 incidents, 0 dispatches, 18894 period counts"), s.stdout)
    }

    /// The generic mapping from flags alone: a call log with a custom time format.
    func testGenericImportFromFlags() throws {
        let dir = tempDir("generic")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let log = dir.appendingPathComponent("calls.csv")
        try "Zeit;Art;Ortsteil\n".write(to: log, atomically: true, encoding: .utf8)
        var text = "when,what,where,caller\n"
        for k in 0..<100 { text += "0\(1 + k % 9).03.2025 1\(k % 10):0\(k % 10),\(k % 3 == 0 ? "F2" : "Structure Fire"),Bornheim,Caller \(k)\n" }
        text += "31.02.2025 10:00,F2,Bornheim,x\n30.03.2025 02:30,F2,Bornheim,y\n01.03.2025 10:00,,Bornheim,z\n"
        try text.write(to: log, atomically: true, encoding: .utf8)
        let store = dir.appendingPathComponent("store").path
        let r = try florian(["incidents", "import", "--store", store, "--time-column", "when", "--time-format", "%d.%m.%Y %H:%M",
                             "--type-column", "what", "--area-column", "where", log.path])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("calls.csv: read 103, accepted 100 incidents, rejected 3 (nonexistent local time 1, unknown keyword 1, unparseable time 1)"), r.stdout)
        // Without a mapping or a time column: a clear refusal.
        let bad = try florian(["incidents", "import", "--store", store, log.path])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("--mapping FILE or --time-column NAME"), bad.stderr)
        let missing = try florian(["incidents", "import", "--store", store, "--time-column", "zeit", log.path])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stdout.contains("the header lacks the column 'zeit'"), missing.stdout)
    }

    /// Every format, every row, every column: read back by pyarrow, DuckDB and pandas and compared
    /// with the Berlin source files (not with our store).
    func testExportsReadBackExactlyByPyarrowDuckDBAndPandas() throws {
        let (store, _) = try berlinStore()
        var outs: [String: String] = [:]
        for format in ["csv", "ndjson", "parquet"] {
            let out = tempDir("export-\(format)").path
            let r = try florian(["export", "--store", store, "--from", "2024-12-01", "--to", "2026-08-31", "--format", format, "--out", out])
            XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
            XCTAssertTrue(r.lastLine.contains("rows (incidents 68640, dispatches 0, counts 3738)"), r.stdout)
            XCTAssertEqual(r.stderr, "", "no progress bar when piped")
            outs[format] = out
        }
        let snappy = tempDir("export-snappy").path
        XCTAssertEqual(try florian(["export", "--store", store, "--from", "2024-12-01", "--to", "2026-08-31", "--format", "parquet",
                                    "--compression", "snappy", "--out", snappy]).status, 0)
        let r = try python(Self.oracle, [Self.missions[0], Self.missions[1], Self.daily, Self.root + "/ops/mappings/berlin-missions.json",
                                         outs["parquet"]!, outs["csv"]!, outs["ndjson"]!, snappy])
        XCTAssertTrue(r.stdout.contains("oracle: 68640 incidents equal in parquet (pyarrow, dataset, duckdb, snappy), csv (pandas), ndjson"), r.stdout)
        XCTAssertTrue(r.stdout.contains("oracle: counts equal"), r.stdout)
    }

    static let oracle = #"""
import csv, json, sys, glob, os, datetime, zoneinfo, math
import pyarrow.parquet as pq, pyarrow.dataset as ds, duckdb, pandas as pd
m25, m26, daily, mapping_path, pq_dir, csv_dir, nd_dir, snappy_dir = sys.argv[1:9]
mapping = json.load(open(mapping_path))
kw = mapping["type"]["keywords"]
berlin = zoneinfo.ZoneInfo("Europe/Berlin")
expected = {}
for path in (m25, m26):
    for row in csv.DictReader(open(path, encoding="utf-8")):
        t = row["mission_type"]
        if t not in kw:
            continue
        d = datetime.date.fromisoformat(row["mission_date"])
        rid = f"{d.year}-{row['']}"
        rt = row["response_time"]
        expected[rid] = dict(source="berlin", incident_id=rid,
            opened_at=datetime.datetime(d.year, d.month, d.day, tzinfo=berlin).astimezone(datetime.timezone.utc),
            opened_date=d, time_precision="day", closed_at=None, keyword=kw[t]["keyword"], category=kw[t]["category"],
            area=row["mission_location_district"] or None, grid_cell=None, test=False, orders=0, units_alarmed=0,
            first_alarm_at=None, first_delivered_at=None, first_en_route_at=None, first_on_scene_at=None,
            call_to_alarm_s=None, alarm_to_en_route_s=None, call_to_on_scene_s=float(rt) if rt else None,
            outcome="imported", opened_by=None)
assert len(expected) == 68640, len(expected)
cols = list(next(iter(expected.values())).keys())

def check(rows, how):
    got = {r["incident_id"]: r for r in rows}
    assert len(got) == len(rows) == len(expected), (how, len(got), len(rows))
    for rid, e in expected.items():
        g = got[rid]
        for c in cols:
            a, b = g[c], e[c]
            if isinstance(a, float) and isinstance(b, float):
                assert a == b, (how, rid, c, a, b)
            else:
                assert a == b, (how, rid, c, a, b)

def norm_ts(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, str):
        return datetime.datetime.fromisoformat(v).astimezone(datetime.timezone.utc)
    if hasattr(v, "to_pydatetime"):
        return v.to_pydatetime().astimezone(datetime.timezone.utc)
    return v.astimezone(datetime.timezone.utc)

def norm(r):
    out = {}
    for c in cols:
        v = r.get(c)
        if isinstance(v, float) and math.isnan(v):
            v = None
        if c.endswith("_at"):
            v = norm_ts(v)
        elif c == "opened_date" and isinstance(v, str):
            v = datetime.date.fromisoformat(v)
        elif c == "opened_date" and hasattr(v, "date") and not isinstance(v, datetime.date):
            v = v.date()
        elif c in ("orders", "units_alarmed") and v is not None:
            v = int(v)
        elif c == "test" and isinstance(v, str):
            v = v == "true"
        elif c in ("area", "grid_cell", "opened_by", "call_to_alarm_s", "alarm_to_en_route_s") and v == "":
            v = None
        out[c] = v
    return out

# pyarrow, file by file
files = sorted(glob.glob(pq_dir + "/incidents/year=*/month=*/*.parquet"))
rows = []
for f in files:
    t = pq.read_table(f)
    assert t.schema.field("opened_at").type.unit == "ms" and str(t.schema.field("opened_at").type.tz) == "UTC"
    rows += [norm(r) for r in t.to_pylist()]
check(rows, "pyarrow")
# the partitioned dataset as a whole (Hive partitions, as Spark/Trino read it)
dset = ds.dataset(pq_dir + "/incidents", format="parquet", partitioning="hive").to_table()
assert set(dset.column("year").to_pylist()) == {2025, 2026}
for r in dset.slice(0, 5).to_pylist():
    assert r["year"] == r["opened_date"].year and r["month"] == r["opened_date"].month
check([norm(r) for r in dset.to_pylist()], "dataset")
# duckdb
con = duckdb.connect()
cur = con.execute(f"select * from read_parquet('{pq_dir}/incidents/**/*.parquet', hive_partitioning=true)")
names = [d[0] for d in cur.description]
check([norm(dict(zip(names, r))) for r in cur.fetchall()], "duckdb")
# statistics must let DuckDB filter correctly
n = con.execute(f"select count(*) from read_parquet('{pq_dir}/incidents/**/*.parquet') where call_to_on_scene_s between 600 and 900").fetchone()[0]
assert n == sum(1 for e in expected.values() if e["call_to_on_scene_s"] is not None and 600 <= e["call_to_on_scene_s"] <= 900), n
n = con.execute(f"select count(*) from read_parquet('{pq_dir}/incidents/**/*.parquet') where area = 'Spandau' and category = 'fire'").fetchone()[0]
assert n == sum(1 for e in expected.values() if e["area"] == "Spandau" and e["category"] == "fire"), n
# snappy
check([norm(r) for f in sorted(glob.glob(snappy_dir + "/incidents/**/*.parquet", recursive=True)) for r in pq.read_table(f).to_pylist()], "snappy")
# pandas on the CSV
frames = [pd.read_csv(f, keep_default_na=True, dtype={"incident_id": str}) for f in sorted(glob.glob(csv_dir + "/incidents/year=*/month=*/*.csv"))]
check([norm(r) for r in pd.concat(frames).to_dict("records")], "csv")
# ndjson
nd = [json.loads(l) for f in sorted(glob.glob(nd_dir + "/incidents/year=*/month=*/*.ndjson")) for l in open(f, encoding="utf-8")]
check([norm(r) for r in nd], "ndjson")
print(f"oracle: {len(expected)} incidents equal in parquet (pyarrow, dataset, duckdb, snappy), csv (pandas), ndjson")
# counts against the daily file (period 2024-12-01 .. 2026-08-31)
want = {}
catmap = {"mission_count_all": "all", "mission_count_ems": "ems", "mission_count_ems_critical": "ems_critical",
          "mission_count_ems_critical_cpr": "ems_critical_cpr", "mission_count_fire": "fire", "mission_count_technical_rescue": "technical_rescue"}
for row in csv.DictReader(open(daily)):
    d = datetime.date.fromisoformat(row["mission_created_date"])
    if datetime.date(2024, 12, 1) <= d <= datetime.date(2026, 8, 31):
        for c, cat in catmap.items():
            want[(d, cat)] = int(row[c])
got = {(r[0], r[1]): r[2] for r in con.execute(f"select local_date, category, count from read_parquet('{pq_dir}/counts/**/*.parquet')").fetchall()}
assert got == want, (len(got), len(want))
got_csv = {(datetime.date.fromisoformat(r["local_date"]), r["category"]): int(r["count"]) for f in glob.glob(csv_dir + "/counts/**/*.csv", recursive=True) for r in csv.DictReader(open(f))}
assert got_csv == want
print("oracle: counts equal")
"""#

    func testOpenDataHasNoGroupBelowK() throws {
        let (store, _) = try berlinStore()
        for k in [5, 20] {
            let out = tempDir("open-\(k)").path
            let r = try florian(["export", "--open-data", "--store", store, "--from", "2025-01-01", "--to", "2026-01-31", "--k", String(k), "--out", out])
            XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
            let check = try python(#"""
import csv, sys, collections
out, k, m25, m26 = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
daily = list(csv.DictReader(open(out + "/daily_counts.csv")))
rt = list(csv.DictReader(open(out + "/response_times.csv")))
assert daily and rt
assert all(int(r["count"]) >= k for r in daily), "daily group below k"
assert all(int(r["incidents"]) >= k for r in rt), "response-time group below k"
merged = [r for r in daily if r["area"] == "andere Stadtteile"]
# the truth: per day, category and district, from the source
types = {"Brand": "fire", "Technische Hilfeleistung": "technical_rescue", "Rettungsdienst": "ems",
         "Rettungsdienst mit Technischer Hilfeleistung": "ems", "Notverlegung": "ems_transfer", "Sonstige": "other"}
truth = collections.Counter()
for p in (m25, m26):
    for r in csv.DictReader(open(p, encoding="utf-8")):
        if r["mission_type"] in types:
            truth[(r["mission_date"], types[r["mission_type"]], r["mission_location_district"] or "unbekannt")] += 1
small = [key for key, n in truth.items() if n < k]
assert small, "the test needs small groups"
for r in daily:
    if r["area"] != "andere Stadtteile":
        assert truth[(r["date"], r["category"], r["area"])] == int(r["count"]), r
published = sum(int(r["count"]) for r in daily)
print(f"open data k={k}: {len(daily)} daily groups, {len(merged)} merged, {len(small)} small source groups, published {published} of {sum(truth.values())}")
"""#, [out, String(k), Self.missions[0], Self.missions[1]])
            XCTAssertTrue(check.stdout.contains("open data k=\(k):"), check.stdout)
            let readme = try String(contentsOfFile: out + "/README.txt", encoding: .utf8)
            XCTAssertTrue(readme.contains("Berliner Feuerwehr, BF-Open-Data, CC BY 4.0"), readme)
        }
        let refused = try florian(["export", "--open-data", "--store", store, "--from", "2025-01-01", "--to", "2025-01-31", "--k", "1", "--out", tempDir("open-1").path])
        XCTAssertEqual(refused.status, 2)
    }

    /// SIGINT in the middle of an export, then the same command again: the same files, byte for
    /// byte, as one uninterrupted run.
    func testInterruptedExportResumesToTheSameFiles() throws {
        let dir = tempDir("resume")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // Ten years of a call log, one partition per month and dataset.
        var text = "t,type,area\n"
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<120_000 {
            let y = 2015 + Int.random(in: 0..<10, using: &rng), m = 1 + Int.random(in: 0..<12, using: &rng), d = 1 + Int.random(in: 0..<28, using: &rng)
            text += String(format: "%04d-%02d-%02dT%02d:%02d:00Z,%@,%@\n", y, m, d, Int.random(in: 0..<24, using: &rng), Int.random(in: 0..<60, using: &rng),
                           ["F1", "TH1", "RD1"][Int.random(in: 0..<3, using: &rng)], ["Bornheim", "Nied", "Höchst"][Int.random(in: 0..<3, using: &rng)])
        }
        try text.write(to: dir.appendingPathComponent("calls.csv"), atomically: true, encoding: .utf8)
        let store = dir.appendingPathComponent("store").path
        XCTAssertEqual(try florian(["incidents", "import", "--store", store, "--time-column", "t", "--type-column", "type", "--area-column", "area",
                                    dir.appendingPathComponent("calls.csv").path]).status, 0)
        let args = ["export", "--store", store, "--from", "2015-01-01", "--to", "2024-12-31", "--format", "parquet", "--out"]
        let whole = dir.appendingPathComponent("whole").path
        XCTAssertEqual(try florian(args + [whole]).status, 0)

        let resumed = dir.appendingPathComponent("resumed").path
        let p = Process()
        p.executableURL = SimulateCommandTests.binary
        p.arguments = args + [resumed]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        // Interrupt as soon as the first partition file is complete.
        let first = resumed + "/incidents/year=2015/month=01/part-00000.parquet"
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: first) && Date() < deadline && p.isRunning { usleep(2000) }
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        let said = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 130, said)
        XCTAssertTrue(said.contains("interrupted after"), said)
        let again = try florian(args + [resumed])
        XCTAssertEqual(again.status, 0, again.stdout + again.stderr)
        XCTAssertTrue(again.lastLine.contains("already there"), again.stdout)
        func files(_ root: String) throws -> [String: Data] {
            var out: [String: Data] = [:]
            let e = FileManager.default.enumerator(atPath: root)!
            while let f = e.nextObject() as? String {
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: root + "/" + f, isDirectory: &isDir), !isDir.boolValue {
                    out[f] = try Data(contentsOf: URL(fileURLWithPath: root + "/" + f))
                }
            }
            return out
        }
        let a = try files(whole), b = try files(resumed)
        XCTAssertEqual(a.keys.sorted(), b.keys.sorted())
        XCTAssertGreaterThan(a.count, 100)
        for (k, v) in a { XCTAssertEqual(v, b[k], k) }
        XCTAssertFalse(b.keys.contains { $0.hasSuffix(".tmp") })
        // Another export into the same folder is refused, nothing overwritten.
        let other = try florian(["export", "--store", store, "--from", "2016-01-01", "--to", "2024-12-31", "--format", "parquet", "--out", resumed])
        XCTAssertEqual(other.status, 2)
        XCTAssertTrue(other.stderr.contains("holds another export"), other.stderr)
    }

    /// The benchmark's smoke: both writers run and the ratio line is printed.
    func testBenchExportSmoke() throws {
        let r = try florian(["bench", "export", "--rows", "20000"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("bench export: uncompressed threads=1: florian"), r.stdout)
        XCTAssertTrue(r.stdout.contains("ratio"), r.stdout)
    }
}
