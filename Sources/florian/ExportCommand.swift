import Foundation
import IncidentStore
import Incidents
import Synchronization
import Wire

extension CommandLine {
    /// `florian export --store DIR --from DATE --to DATE --format csv|ndjson|parquet --out DIR
    /// [--compression none|snappy] [--time-zone ZONE]` and `florian export --open-data --store DIR
    /// --from DATE --to DATE --out DIR [--k N]` (Protocols/incidents.md, "Exports").
    static func export(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: ["open-data"])
        let openData = args.flag("open-data")
        guard let dir = args.string("store") else { throw UsageError("export needs --store DIR") }
        guard let fromText = args.string("from"), let fromDay = CivilDate.parse(fromText) else { throw UsageError("export needs --from YYYY-MM-DD") }
        guard let toText = args.string("to"), let toDay = CivilDate.parse(toText) else { throw UsageError("export needs --to YYYY-MM-DD (inclusive)") }
        guard toDay >= fromDay else { throw UsageError("--to \(toText) lies before --from \(fromText)") }
        guard let out = args.string("out") else { throw UsageError("export needs --out DIR") }
        let clock = try LocalClock(args.string("time-zone") ?? "Europe/Berlin")
        if openData {
            let k = try args.uint("k") ?? 5
            guard k >= 2 else { throw UsageError("--k must be at least 2 (a group of one is one person's incident)") }
            try args.finish()
            return try exportOpenData(store: dir, fromDay: fromDay, toDay: toDay, out: out, k: Int(k), clock: clock)
        }
        guard let format = ExportFormat(rawValue: args.string("format") ?? "") else { throw UsageError("export needs --format csv, ndjson or parquet") }
        guard let compression = ParquetWriter.Compression(rawValue: args.string("compression") ?? "none") else {
            throw UsageError("--compression takes none or snappy")
        }
        guard compression == .none || format == .parquet else { throw UsageError("--compression applies to parquet only") }
        try args.finish()
        guard FileManager.default.fileExists(atPath: dir + "/incidents.sqlite") else { throw UsageError("no incident store in \(dir)") }
        let store = try IncidentStore(directory: dir)
        let keys = try KeyFiles.load(store: dir)
        let job = ExportJob(store: store, keys: keys, clock: clock, fromDay: fromDay, toDay: toDay, format: format, compression: compression, out: out)
        return try job.run()
    }

    static func exportOpenData(store dir: String, fromDay: Int64, toDay: Int64, out: String, k: Int, clock: LocalClock) throws -> Int32 {
        guard FileManager.default.fileExists(atPath: dir + "/incidents.sqlite") else { throw UsageError("no incident store in \(dir)") }
        let store = try IncidentStore(directory: dir)
        guard let from = clock.utcMillis(localDay: fromDay), let to = clock.utcMillis(localDay: toDay + 1) else { throw UsageError("the dates do not exist in the time zone") }
        let records = try store.records(from: from, to: to)
        let open = OpenData(records: records, clock: clock, k: k)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try Data(open.dailyCSV()).write(to: URL(fileURLWithPath: out + "/daily_counts.csv"))
        try Data(open.responseTimesCSV()).write(to: URL(fileURLWithPath: out + "/response_times.csv"))
        let sources = Set(records.map(\.source)).sorted()
        var attributions: [String] = []
        for s in sources { if let a = try store.meta("attribution.\(s)") { attributions.append("- \(s): \(a)") } }
        let readme = """
            Florian open data: incidents \(LocalClock.format(days: fromDay)) … \(LocalClock.format(days: toDay)) (\(clock.zone.identifier))

            daily_counts.csv     date, Stadtteil (area), category, count of incidents that day
            response_times.csv   per Stadtteil and category over the period: incidents with a known
                                 response time, p50 and p90 of call → first unit on scene (seconds,
                                 exact, nearest rank)

            Only groups of at least \(k) incidents are published. Stadtteile below that are merged into
            "\(OpenData.mergedArea)"; a merged group still below \(k) is withheld. No totals are given
            (they would reveal withheld groups). Test alarms are not counted.
            Withheld: \(open.suppressedGroups) group(s).

            Sources:
            \(attributions.isEmpty ? "- Branddirektion Frankfurt am Main (Florian)" : attributions.joined(separator: "\n"))
            """
        try Data((readme + "\n").utf8).write(to: URL(fileURLWithPath: out + "/README.txt"))
        say("open data: \(open.daily.count) daily counts, \(open.responseTimes.count) response-time groups, k = \(k), \(open.suppressedGroups) group(s) withheld, in \(out)")
        return 0
    }
}

enum ExportFormat: String { case csv, ndjson, parquet }

/// One export run: every (dataset, month) partition of the period as one file, written to a
/// temporary name and renamed when complete, so a run interrupted at any point and started again
/// with the same arguments skips the finished files and writes the same bytes for the rest.
struct ExportJob {
    let store: IncidentStore
    let keys: PseudonymKeys
    let clock: LocalClock
    let fromDay: Int64
    let toDay: Int64
    let format: ExportFormat
    let compression: ParquetWriter.Compression
    let out: String

    static let manifestName = "_florian_export.json"

    struct Partition { var dataset: String; var year: Int; var month: Int; var from: Int64; var to: Int64 }

    /// Month partitions of [fromDay, toDay] by local date.
    func partitions() throws -> [Partition] {
        var out: [Partition] = []
        var day = fromDay
        while day <= toDay {
            let c = CivilDate.civil(days: day)
            let nextMonth = c.month == 12 ? CivilDate.days(year: c.year + 1, month: 1, day: 1) : CivilDate.days(year: c.year, month: c.month + 1, day: 1)
            let end = min(nextMonth, toDay + 1)
            guard let from = clock.utcMillis(localDay: day), let to = clock.utcMillis(localDay: end) else {
                throw UsageError("local midnight of \(LocalClock.format(days: day)) does not exist in \(clock.zone.identifier)")
            }
            for d in ExportTable.datasets { out.append(Partition(dataset: d, year: c.year, month: c.month, from: from, to: to)) }
            day = end
        }
        return out
    }

    func path(_ p: Partition) -> String {
        "\(p.dataset)/year=\(p.year)/month=\(LocalClock.pad(p.month, 2))/part-00000.\(format.rawValue)"
    }

    func run() throws -> Int32 {
        let fm = FileManager.default
        let parameters: [String: String] = [
            "from": LocalClock.format(days: fromDay), "to": LocalClock.format(days: toDay), "format": format.rawValue,
            "compression": compression.rawValue, "timeZone": clock.zone.identifier, "pseudonymKey": "k\(keys.current.version)",
            "store": URL(fileURLWithPath: store.path).standardized.path,
        ]
        let manifestPath = out + "/" + Self.manifestName
        if let existing = fm.contents(atPath: manifestPath) {
            guard let m = try? JSONSerialization.jsonObject(with: existing) as? [String: Any], let p = m["parameters"] as? [String: String], p == parameters else {
                throw UsageError("\(out) holds another export (\(Self.manifestName) differs); give an empty --out or the same arguments to resume")
            }
        } else if let items = try? fm.contentsOfDirectory(atPath: out), !items.isEmpty {
            throw UsageError("--out \(out) is not empty and holds no export of ours; give an empty or new folder")
        }
        try fm.createDirectory(atPath: out, withIntermediateDirectories: true)
        try writeManifest(manifestPath, parameters: parameters, files: nil)

        let interrupted = Mutex(false)
        let sources = onTermination { interrupted.withLock { $0 = true } }
        defer { _ = sources }
        let partitions = try partitions()
        let bar = ProgressBar(total: partitions.count)
        var written: [[String: Any]] = []
        var rows: [String: Int] = [:]
        var skipped = 0
        for (i, p) in partitions.enumerated() {
            if interrupted.withLock({ $0 }) {
                bar.finish()
                say("export: interrupted after \(i) of \(partitions.count) partitions; run the same command again to resume")
                return 130
            }
            let table = try self.table(p)
            bar.update(done: i, rows: rows.values.reduce(0, +))
            guard table.rowCount > 0 else { continue }
            let relative = path(p)
            let final = out + "/" + relative
            rows[p.dataset, default: 0] += table.rowCount
            if fm.fileExists(atPath: final) {
                skipped += 1
            } else {
                try fm.createDirectory(atPath: (final as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                let temporary = final + ".tmp"
                try write(table, to: temporary)
                guard rename(temporary, final) == 0 else { throw UsageError("cannot rename \(temporary): \(String(cString: strerror(errno)))") }
            }
            let digest = Hex.encode(SHA256.hash(Array(try Data(contentsOf: URL(fileURLWithPath: final)))))
            written.append(["path": relative, "rows": table.rowCount, "sha256": digest])
        }
        bar.finish()
        try writeManifest(manifestPath, parameters: parameters, files: written)
        let total = rows.values.reduce(0, +)
        let per = ExportTable.datasets.map { "\($0) \(rows[$0] ?? 0)" }.joined(separator: ", ")
        say("export: \(written.count) files (\(skipped) already there), \(total) rows (\(per)), \(format.rawValue), in \(out)")
        return 0
    }

    func table(_ p: Partition) throws -> ExportTable {
        switch p.dataset {
        case "incidents": return ExportTable.incidents(try store.records(from: p.from, to: p.to), clock: clock, keys: keys)
        case "dispatches": return ExportTable.dispatches(try store.dispatches(from: p.from, to: p.to), keys: keys)
        default: return ExportTable.counts(try store.counts(from: p.from, to: p.to))
        }
    }

    func write(_ table: ExportTable, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw UsageError("cannot create \(path)") }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        switch format {
        case .csv: try handle.write(contentsOf: table.csv(clock: clock))
        case .ndjson: try handle.write(contentsOf: table.ndjson(clock: clock))
        case .parquet:
            var options = ParquetWriter.Options()
            options.compression = compression
            var writer = try ParquetWriter(schema: table.parquetSchema, options: options) { bytes in try handle.write(contentsOf: bytes) }
            var start = 0
            repeat {
                let end = min(table.rowCount, start + 100_000)
                try writer.writeRowGroup(table.parquetColumns(start..<end))
                start = end
            } while start < table.rowCount
            try writer.finish(metadata: [("florian.dataset", table.dataset), ("florian.time_zone", clock.zone.identifier),
                                         ("florian.pseudonym_key", "k\(keys.current.version)")])
        }
        try handle.synchronize()
    }

    func writeManifest(_ path: String, parameters: [String: String], files: [[String: Any]]?) throws {
        var m: [String: Any] = ["parameters": parameters, "complete": files != nil]
        if let files { m["files"] = files }
        let data = try JSONSerialization.data(withJSONObject: m, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// A progress bar on standard error when it is a terminal; nothing when it is piped or a file.
final class ProgressBar {
    let total: Int
    let enabled: Bool
    private var rows = 0
    init(total: Int) {
        self.total = total
        enabled = isatty(2) == 1
    }
    func update(done: Int, rows: Int) {
        guard enabled, total > 0 else { return }
        self.rows = rows
        let width = 30
        let filled = width * done / total
        let line = "\rexport [" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] \(done)/\(total) partitions, \(rows) rows"
        FileHandle.standardError.write(Data(line.utf8))
    }
    func finish() {
        guard enabled else { return }
        update(done: total, rows: rows)
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
