import Foundation
import Incidents

extension CommandLine {
    /// `florian bench export [--rows N] [--dir DIR]`: N synthetic incident rows (default 2 M, the
    /// export's incident columns) written to Parquet by our writer, against DuckDB's
    /// `COPY … TO … (FORMAT parquet)` of the same rows (ops/bench/duckdb_copy.py, DuckDB from
    /// PyPI) in the same run; rows/s and the ratio, uncompressed and with Snappy.
    /// Runs a benchmark's Python peer (ops/bench/…) and returns whether it succeeded and its stdout.
    static func pythonPeer(_ script: String, _ args: [String]) throws -> (ok: Bool, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script] + args
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus == 0, output)
    }

    static func benchExport(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: [])
        let rows = Int(try args.uint("rows") ?? 2_000_000)
        let base = args.string("dir")
        try args.finish()
        guard rows >= 1000 else { throw UsageError("--rows must be at least 1000") }
        guard let script = repositoryFile("ops/bench/duckdb_copy.py") else { throw UsageError("ops/bench/duckdb_copy.py not found") }
        let dir = URL(fileURLWithPath: base ?? NSTemporaryDirectory()).appendingPathComponent("florian-bench-export-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        let table = try syntheticIncidents(rows)
        say("bench export: \(rows) synthetic incident rows, \(table.columns.count) columns")
        var results: [(ParquetWriter.Compression, Double)] = []
        for compression in [ParquetWriter.Compression.none, .snappy] {
            let path = dir.appendingPathComponent("florian-\(compression.rawValue).parquet").path
            var best = Double.infinity
            for _ in 0..<2 {
                try? FileManager.default.removeItem(atPath: path)
                let start = DispatchTime.now()
                try writeParquet(table, to: path, compression: compression)
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9)
            }
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            say(String(format: "florian compression=%@ rows=%d seconds=%.4f bytes=%d → %.0f rows/s", compression.rawValue, rows, best, size, Double(rows) / best))
            results.append((compression, best))
        }
        var status: Int32 = 0
        for (compression, ours) in results {
            let duckCompression = compression == .none ? "uncompressed" : "snappy"
            let (ok, output) = try pythonPeer(script, [dir.appendingPathComponent("florian-\(compression.rawValue).parquet").path, dir.path, String(rows), duckCompression])
            guard ok else {
                say("bench export: DuckDB failed (python3 -m pip install duckdb)")
                status = 1
                continue
            }
            for line in output.split(separator: "\n") {
                say(String(line))
                guard let s = line.split(separator: " ").first(where: { $0.hasPrefix("seconds=") }).flatMap({ Double($0.dropFirst(8)) }),
                      let t = line.split(separator: " ").first(where: { $0.hasPrefix("threads=") }) else { continue }
                say(String(format: "bench export: %@ %@: florian %.0f rows/s, DuckDB %.0f rows/s, ratio %.2f×", duckCompression, String(t), Double(rows) / ours, Double(rows) / s, s / ours))
            }
        }
        return status
    }

    static func writeParquet(_ table: ExportTable, to path: String, compression: ParquetWriter.Compression) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw UsageError("cannot create \(path)") }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var options = ParquetWriter.Options()
        options.compression = compression
        var writer = try ParquetWriter(schema: table.parquetSchema, options: options) { try handle.write(contentsOf: $0) }
        var start = 0
        while start < table.rowCount {
            let end = min(table.rowCount, start + 100_000)
            try writer.writeRowGroup(table.parquetColumns(start..<end))
            start = end
        }
        try writer.finish()
    }

    /// Deterministic synthetic incidents shaped like Frankfurt's: keywords and Stadtteile from the
    /// sample registry's mix, times a few minutes apart over years, 20 % without on-scene times.
    static func syntheticIncidents(_ n: Int) throws -> ExportTable {
        var state: UInt64 = 0x5EED_F10A
        func next() -> UInt64 {   // SplitMix64
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let keywords = ["F1", "F2", "F3", "F-BMA", "TH1", "TH-VU", "ABC1", "WASS", "RD1", "RD2"]
        let areas = (1...46).map { "Stadtteil-\($0)" }
        var t: Int64 = 1_704_067_200_000
        var records: [IncidentRecord] = []
        records.reserveCapacity(n)
        for i in 0..<n {
            t += Int64(next() % 600_000)
            let kw = keywords[Int(next() % UInt64(keywords.count))]
            var r = IncidentRecord(source: "florian", id: "E-\(i)", openedAt: t, keyword: kw, category: KeywordCategory.of(keyword: kw),
                                   area: areas[Int(next() % 46)], test: next() % 100 == 0)
            r.gridCell = "CRS3035RES500mN30\(next() % 100)000E41\(next() % 100)000"
            r.orders = 1 + Int(next() % 3)
            r.unitsAlarmed = 1 + Int(next() % 9)
            r.firstAlarmAt = t + Int64(30_000 + next() % 90_000)
            r.firstDeliveredAt = r.firstAlarmAt! + Int64(next() % 3000)
            if next() % 5 != 0 {
                r.firstEnRouteAt = r.firstAlarmAt! + Int64(45_000 + next() % 60_000)
                r.firstOnSceneAt = r.firstEnRouteAt! + Int64(120_000 + next() % 480_000)
            }
            r.closedAt = t + Int64(1_800_000 + next() % 7_200_000)
            r.outcome = next() % 10 == 0 ? "incomplete" : "complete"
            if next() % 2 == 0 { r.personal.openedBy = Personal("operator:Disponent \(next() % 40)") }
            records.append(r)
        }
        let keys = try PseudonymKeys([.init(version: 1, bytes: Array(repeating: 7, count: 32))])
        return ExportTable.incidents(records, clock: try LocalClock(), keys: keys)
    }
}
