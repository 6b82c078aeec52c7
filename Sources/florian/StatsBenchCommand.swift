import Foundation
import Incidents
import Statistics

extension CommandLine {
    /// `florian bench stats [--rows N] [--dir DIR]`: N synthetic incident rows (default 2 M:
    /// category, Stadtteil, hour, response seconds) aggregated by our Statistics module and by
    /// DuckDB (ops/bench/duckdb_stats.py, DuckDB from PyPI) in the same run:
    ///
    /// - groupby: the row count per category × area × hour;
    /// - quantiles: the exact (type 7) p50 and p90 of the response seconds per area × category.
    ///
    /// Ours is timed in-process, best of 3, starting from the in-memory columns with the category
    /// and area as Swift strings — the dictionary encoding of both is part of every timed run, as
    /// DuckDB's hash aggregate works from its VARCHAR columns — at this machine's thread count
    /// (DuckDB's default) and at one. DuckDB is timed best of 3 on a table already loaded in memory
    /// (from a Parquet file we write), query plus `fetchall` of the few thousand result rows, at
    /// its default thread count and at one; ratios compare equal thread counts. The answers must
    /// agree — counts exactly, quantiles within 1e-9 relative — or the benchmark fails (exit
    /// status 1).
    static func benchStats(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: [])
        let rows = Int(try args.uint("rows") ?? 2_000_000)
        let base = args.string("dir")
        try args.finish()
        guard rows >= 1000 else { throw UsageError("--rows must be at least 1000") }
        guard let script = repositoryFile("ops/bench/duckdb_stats.py") else { throw UsageError("ops/bench/duckdb_stats.py not found") }
        let dir = URL(fileURLWithPath: base ?? NSTemporaryDirectory()).appendingPathComponent("florian-bench-stats-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        let data = StatsBench.Rows(count: rows, seed: 0x5747_5F0A)
        say("bench stats: \(rows) synthetic rows (\(StatsBench.categories.count) categories, \(StatsBench.areas.count) Stadtteile, 24 hours, response 120…1900 s); timed from the in-memory columns, string dictionary encoding included, best of 3")
        let parquet = dir.appendingPathComponent("rows.parquet").path
        try data.writeParquet(to: parquet)

        // Ours at this machine's thread count (DuckDB's default) and at one, as DuckDB is run.
        let threadCounts = Array(Set([ProcessInfo.processInfo.activeProcessorCount, 1])).sorted(by: >)
        var ours: [String: Double] = [:]
        var answers: [(threads: Int, counts: StatsBench.Counts, quantiles: StatsBench.Quantiles)] = []
        for threads in threadCounts {
            let (groupSeconds, counts) = StatsBench.best { StatsBench.groupBy(data, threads: threads) }
            say(String(format: "florian threads=%d query=groupby rows=%d seconds=%.4f groups=%d", threads, rows, groupSeconds, counts.count))
            let (quantileSeconds, quantiles) = StatsBench.best { StatsBench.quantiles(data, threads: threads) }
            say(String(format: "florian threads=%d query=quantiles rows=%d seconds=%.4f groups=%d", threads, rows, quantileSeconds, quantiles.count))
            ours["groupby \(threads)"] = groupSeconds
            ours["quantiles \(threads)"] = quantileSeconds
            answers.append((threads, counts, quantiles))
        }

        let (ok, output) = try pythonPeer(script, [parquet, String(rows), dir.path])
        guard ok else {
            say("bench stats: DuckDB failed (python3 -m pip install duckdb)")
            return 1
        }

        // The answers first: a benchmark whose answers disagree measures nothing.
        var status: Int32 = 0
        for (threads, counts, quantiles) in answers {
            do {
                let g = try StatsBench.compareCounts(counts, duckdb: dir.appendingPathComponent("duckdb-groupby.tsv").path)
                let q = try StatsBench.compareQuantiles(quantiles, duckdb: dir.appendingPathComponent("duckdb-quantiles.tsv").path)
                say("bench stats: florian threads=\(threads) agrees with DuckDB: \(g) group counts exactly, \(q) groups' p50 and p90 within 1e-9 relative")
            } catch {
                say("bench stats: FAILED: florian threads=\(threads) disagrees with DuckDB: \(error)")
                status = 1
            }
        }
        for line in output.split(separator: "\n") {
            say(String(line))
            let fields = line.split(separator: " ")
            func value(_ key: String) -> Substring? { fields.first { $0.hasPrefix(key + "=") }?.dropFirst(key.count + 1) }
            guard let s = value("seconds").flatMap({ Double($0) }), let t = value("threads"),
                  let query = value("query"), let mine = ours["\(query) \(t)"] else { continue }
            say(String(format: "bench stats: %@ threads=%@: florian %.4f s, DuckDB %.4f s, ratio (DuckDB / florian) %.2f×",
                       String(query), String(t), mine, s, s / mine))
        }
        return status
    }
}

/// The pieces of `florian bench stats`.
enum StatsBench {
    static let categories = ["ems", "fire", "fire_alarm", "technical_rescue", "hazmat", "water", "animal", "other"]
    /// Cumulative weights (out of 100) of the categories: most calls are EMS.
    static let categoryWeights = [40, 55, 67, 82, 86, 88, 93, 100]
    /// Frankfurt's 46 Stadtteile.
    static let areas = [
        "Altstadt", "Innenstadt", "Bahnhofsviertel", "Westend-Süd", "Westend-Nord", "Nordend-West", "Nordend-Ost",
        "Ostend", "Bornheim", "Gutleutviertel", "Gallus", "Bockenheim", "Sachsenhausen-Nord", "Sachsenhausen-Süd",
        "Flughafen", "Oberrad", "Niederrad", "Schwanheim", "Griesheim", "Rödelheim", "Hausen", "Praunheim",
        "Heddernheim", "Niederursel", "Ginnheim", "Dornbusch", "Eschersheim", "Eckenheim", "Preungesheim", "Bonames",
        "Berkersheim", "Riederwald", "Seckbach", "Fechenheim", "Höchst", "Nied", "Sindlingen", "Zeilsheim",
        "Unterliederbach", "Sossenheim", "Nieder-Erlenbach", "Kalbach-Riedberg", "Harheim", "Nieder-Eschbach",
        "Bergen-Enkheim", "Frankfurter Berg",
    ]

    /// The synthetic rows, column by column, as an in-memory table would hold them.
    struct Rows {
        var category: [String] = []
        var area: [String] = []
        var hour: [Int32] = []
        /// Response time, seconds: lognormal around 8 minutes, clamped to 120…1900, in tenths.
        var resp: [Double] = []

        /// Deterministic rows from `seed` (SplitMix64; Box–Muller for the lognormal).
        init(count: Int, seed: UInt64) {
            var state = seed
            func next() -> UInt64 {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return z ^ (z >> 31)
            }
            func uniform() -> Double { (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992 }
            category.reserveCapacity(count)
            area.reserveCapacity(count)
            hour.reserveCapacity(count)
            resp.reserveCapacity(count)
            for _ in 0..<count {
                let w = Int(next() % 100)
                let c = categoryWeights.firstIndex { w < $0 }!
                category.append(categories[c])
                area.append(areas[Int(next() % UInt64(areas.count))])
                hour.append(Int32(next() % 24))
                let normal = (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform())
                let median = c == 2 ? 540.0 : 460.0
                resp.append((min(1900, max(120, median * exp(0.5 * normal))) * 10).rounded() / 10)
            }
        }

        func writeParquet(to path: String) throws {
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw BenchError("cannot create \(path)") }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            let schema = [ParquetField("category", .string), ParquetField("area", .string),
                          ParquetField("hour", .int32), ParquetField("resp", .double)]
            var writer = try ParquetWriter(schema: schema) { try handle.write(contentsOf: $0) }
            var start = 0
            while start < resp.count {
                let end = min(resp.count, start + 100_000)
                try writer.writeRowGroup([.string(category[start..<end].map { $0 }), .string(area[start..<end].map { $0 }),
                                          .int32(hour[start..<end].map { $0 }), .double(resp[start..<end].map { $0 })])
                start = end
            }
            try writer.finish()
        }
    }

    /// The best wall time of 3 runs of `work`, and its last answer.
    static func best<T>(_ work: () -> T) -> (Double, T) {
        var seconds = Double.infinity
        var answer: T?
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            let a = work()
            seconds = min(seconds, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            answer = a
        }
        return (seconds, answer!)
    }

    /// Rows per (category, area, hour), with the names decoded after the count.
    struct Counts {
        var categories: CodeBook
        var areas: CodeBook
        var rows: [(key: [Int32], count: Int64)]
        var count: Int { rows.count }
    }

    /// Workload (a): encode both string columns, then count by the three codes.
    static func groupBy(_ data: Rows, threads: Int) -> Counts {
        var categories = CodeBook(), areas = CodeBook()
        let c = categories.encode(data.category, threads: threads)
        let a = areas.encode(data.area, threads: threads)
        let hours = data.hour.withUnsafeBufferPointer { h in Int(h.max() ?? 0) + 1 }
        let rows = GroupCounter.counts(keys: [c, a, data.hour], cardinalities: [categories.count, areas.count, hours], threads: threads)
        return Counts(categories: categories, areas: areas, rows: rows)
    }

    /// p50 and p90 per (area, category).
    struct Quantiles {
        var areas: CodeBook
        var categories: CodeBook
        /// By group id area × categories.count + category.
        var values: [[Double]?]
        var count: Int { values.lazy.filter { $0 != nil }.count }
    }

    /// Workload (b): encode both string columns, form one group id per row, select per group.
    static func quantiles(_ data: Rows, threads: Int) -> Quantiles {
        var areas = CodeBook(), categories = CodeBook()
        let a = areas.encode(data.area, threads: threads)
        let c = categories.encode(data.category, threads: threads)
        let width = Int32(categories.count)
        let group = [Int32](unsafeUninitializedCapacity: a.count) { out, n in
            a.withUnsafeBufferPointer { a in
                c.withUnsafeBufferPointer { c in
                    for i in 0..<a.count { out[i] = a[i] &* width &+ c[i] }
                }
            }
            n = a.count
        }
        let values = GroupedQuantiles.compute(group: group, value: data.resp, groups: areas.count * categories.count, quantiles: [0.5, 0.9], threads: threads)
        return Quantiles(areas: areas, categories: categories, values: values)
    }

    struct Disagreement: Error, CustomStringConvertible {
        var description: String
    }

    static func tsv(_ path: String) throws -> [[Substring]] {
        guard let data = FileManager.default.contents(atPath: path) else { throw Disagreement(description: "DuckDB wrote no \(path)") }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
    }

    /// Checks our counts against DuckDB's, exactly; returns how many groups matched.
    static func compareCounts(_ ours: Counts, duckdb path: String) throws -> Int {
        var mine: [String: Int64] = [:]
        for r in ours.rows {
            mine["\(ours.categories.names[Int(r.key[0])])\t\(ours.areas.names[Int(r.key[1])])\t\(r.key[2])"] = r.count
        }
        let theirs = try tsv(path)
        guard theirs.count == mine.count else { throw Disagreement(description: "groupby: DuckDB has \(theirs.count) groups, florian \(mine.count)") }
        for f in theirs {
            guard f.count == 4, let n = Int64(f[3]) else { throw Disagreement(description: "groupby: unreadable DuckDB line \(f)") }
            let key = f[0..<3].joined(separator: "\t")
            guard mine[key] == n else { throw Disagreement(description: "groupby: \(key): DuckDB \(n), florian \(mine[key].map(String.init) ?? "none")") }
        }
        return theirs.count
    }

    /// Checks our quantiles against DuckDB's within 1e-9 relative; returns how many groups matched.
    static func compareQuantiles(_ ours: Quantiles, duckdb path: String) throws -> Int {
        var mine: [String: [Double]] = [:]
        for (id, v) in ours.values.enumerated() {
            guard let v else { continue }
            let a = id / ours.categories.count, c = id % ours.categories.count
            mine["\(ours.areas.names[a])\t\(ours.categories.names[c])"] = v
        }
        let theirs = try tsv(path)
        guard theirs.count == mine.count else { throw Disagreement(description: "quantiles: DuckDB has \(theirs.count) groups, florian \(mine.count)") }
        for f in theirs {
            guard f.count == 4, let p50 = Double(f[2]), let p90 = Double(f[3]) else { throw Disagreement(description: "quantiles: unreadable DuckDB line \(f)") }
            let key = f[0..<2].joined(separator: "\t")
            guard let m = mine[key] else { throw Disagreement(description: "quantiles: \(key) only in DuckDB") }
            for (x, y) in zip(m, [p50, p90]) where abs(x - y) > 1e-9 * max(abs(x), abs(y)) {
                throw Disagreement(description: "quantiles: \(key): DuckDB \([p50, p90]), florian \(m)")
            }
        }
        return theirs.count
    }
}
