import Foundation
import IncidentStore
import Incidents
import Statistics

extension CommandLine {
    /// [from, to) in UTC ms from --from/--to local dates (both inclusive days; open ends).
    static func dateRange(_ args: inout Arguments, clock: LocalClock) throws -> (Int64, Int64) {
        func day(_ name: String) throws -> Int64? {
            guard let t = args.string(name) else { return nil }
            guard t.count == 10, let d = CivilDate.parse(t) else { throw UsageError("--\(name) needs a date like 2026-01-31, got '\(t)'") }
            return d
        }
        let from = try day("from").map { clock.utcMillis(localDay: $0) ?? $0 * 86_400_000 } ?? Int64.min
        let to = try day("to").map { clock.utcMillis(localDay: $0 + 1) ?? ($0 + 1) * 86_400_000 } ?? Int64.max
        guard from < to else { throw UsageError("--from is after --to") }
        return (from, to)
    }

    /// The records of one source (or all) in a range, and the clock to read them in.
    static func loadRecords(_ store: IncidentStore, source: String?, zone: String?, args: inout Arguments) throws -> ([IncidentRecord], LocalClock, String) {
        let sources = try store.sources()
        if let source, !sources.contains(source) { throw UsageError("the store has no source '\(source)' (it has: \(sources.joined(separator: ", ")))") }
        let one = source ?? (sources.count == 1 ? sources[0] : nil)
        let clock = try clock(store, source: one ?? "", zone: zone)
        let (from, to) = try dateRange(&args, clock: clock)
        var records = try store.records(from: from, to: to)
        if let one { records.removeAll { $0.source != one } }
        return (records, clock, one ?? "all sources (\(sources.joined(separator: ", ")))")
    }

    static func table(_ header: [String], _ rows: [[String]], csv: Bool) {
        if csv {
            print(header.map(CSV.escape).joined(separator: ","))
            for r in rows { print(r.map(CSV.escape).joined(separator: ",")) }
            return
        }
        var width = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { width[i] = max(width[i], c.count) } }
        func line(_ r: [String]) -> String {
            r.enumerated().map { i, c in i == 0 ? c.padding(toLength: width[i], withPad: " ", startingAt: 0) : String(repeating: " ", count: width[i] - c.count) + c }.joined(separator: "  ")
        }
        print(line(header))
        for r in rows { print(line(r)) }
    }

    static func seconds(_ v: Double?) -> String { v.map { String(format: "%.1f", $0) } ?? "" }

    static func statsAggregate(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: [])
        guard let dir = args.string("store") else { throw UsageError("aggregate needs --store DIR") }
        guard let byText = args.string("by") else { throw UsageError("aggregate needs --by area|category|hour|day|week|weekday (several: --by category,area)") }
        var keys: [GroupKey] = []
        for part in byText.split(separator: ",") {
            guard let k = GroupKey(rawValue: String(part)) else { throw UsageError("--by: unknown key '\(part)' (area, category, hour, day, week, weekday)") }
            guard !keys.contains(k) else { throw UsageError("--by names \(k.rawValue) twice") }
            keys.append(k)
        }
        guard !keys.isEmpty else { throw UsageError("--by needs at least one key") }
        let csv = try format(&args)
        let methodText = args.string("quantiles") ?? "exact"
        guard let method = IncidentAggregates.Method(rawValue: methodText) else { throw UsageError("--quantiles must be exact or sketch") }
        let source = args.string("source"), zone = args.string("time-zone")
        let store = try existingStore(dir)
        let (records, clock, what) = try loadRecords(store, source: source, zone: zone, args: &args)
        try args.finish()
        let result = IncidentAggregates.compute(records, by: keys, clock: clock, method: method)
        if !csv {
            print("aggregate: \(what), \(records.count) records (tests left out), by \(keys.map(\.rawValue).joined(separator: " × ")); response time = call → first unit on scene, seconds, \(method == .exact ? "exact quantiles" : "DDSketch quantiles (relative error ≤ 1 %)")")
            if result.skipped > 0 { print("aggregate: \(result.skipped) records known only to the day are not in groupings by hour") }
        }
        table(keys.map(\.rawValue) + ["incidents", "with_response", "response_p50_s", "response_p90_s"],
              result.rows.map { $0.key + [String($0.incidents), String($0.measured), seconds($0.median), seconds($0.p90)] }, csv: csv)
        return 0
    }

    static func statsHilfsfrist(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: [])
        guard let dir = args.string("store") else { throw UsageError("hilfsfrist needs --store DIR") }
        var target = HilfsfristTarget.agbfCriticalHouseFire
        if let s = args.string("target-seconds") {
            guard let v = Double(s), v > 0, v <= 7200 else { throw UsageError("--target-seconds must be 1…7200, got '\(s)'") }
            target.seconds = v; target.name = "target \(s) s"
        }
        if let g = args.string("goal") {
            guard let v = Double(g), v > 0, v <= 100 else { throw UsageError("--goal must be a percentage 1…100, got '\(g)'") }
            target.goal = v / 100
        }
        if let c = args.string("category") { target.categories = c == "all" ? nil : Set(c.split(separator: ",").map(String.init)) }
        let csv = try format(&args)
        let source = args.string("source"), zone = args.string("time-zone")
        let store = try existingStore(dir)
        let (records, _, what) = try loadRecords(store, source: source, zone: zone, args: &args)
        try args.finish()
        let rows = Hilfsfrist.compliance(records, target: target)
        if !csv {
            print("hilfsfrist: \(what); \(target.name): call → first unit on scene within \(Int(target.seconds)) s, goal \(String(format: "%.0f", target.goal * 100)) %, categories \(target.categories.map { $0.sorted().joined(separator: ",") } ?? "all")")
            print("hilfsfrist: AGBF-Bund, Qualitätskriterien für die Bedarfsplanung von Feuerwehren in Städten (1998, updated 2015)")
        }
        table(["area", "measured", "within", "share_pct", "goal_met", "p50_s", "p90_s", "without_arrival"],
              rows.map { r in [r.area ?? "all", String(r.measured), String(r.within), r.share.map { String(format: "%.1f", 100 * $0) } ?? "",
                               r.share.map { $0 >= target.goal ? "yes" : "no" } ?? "", seconds(r.median), seconds(r.p90), String(r.unmeasured)] }, csv: csv)
        return 0
    }

    /// unit id → station id from a registry file (the demo's, or ops/config/frankfurt-registry.json).
    static func stationsOfUnits(_ path: String?) throws -> [String: String] {
        guard let path = path ?? defaultRegistryPath() else { return [:] }
        guard let data = FileManager.default.contents(atPath: path),
              let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let units = o["units"] as? [[String: Any]] else {
            throw UsageError("cannot read the units of the registry \(path)")
        }
        var map: [String: String] = [:]
        for u in units { if let id = u["id"] as? String, let s = u["station"] as? String { map[id] = s } }
        return map
    }

    static func statsUtilisation(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: [])
        guard let dir = args.string("store") else { throw UsageError("utilisation needs --store DIR") }
        let csv = try format(&args)
        let registry = args.string("registry"), zone = args.string("time-zone")
        let store = try existingStore(dir)
        let clock = try clock(store, source: "florian", zone: zone)
        var (from, to) = try dateRange(&args, clock: clock)
        try args.finish()
        let dispatches = try store.dispatches(from: from, to: to)
        guard let first = dispatches.first else { throw UsageError("the store has no unit dispatches in that period (they come from the pipeline's alarm events)") }
        if from == Int64.min { from = clock.utcMillis(localDay: clock.local(first.alarmedAt).days) ?? first.alarmedAt }
        if to == Int64.max {
            let last = dispatches.map { max($0.freeAt ?? $0.alarmedAt, $0.onSceneAt ?? 0, $0.enRouteAt ?? 0) }.max()!
            to = clock.utcMillis(localDay: clock.local(last).days + 1) ?? last + 1
        }
        let result = Utilisation.compute(dispatches, from: from, to: to, stationOf: try stationsOfUnits(registry))
        if !csv { print("utilisation: \(dispatches.count) dispatches, \(isoLocal(from, clock)) … \(isoLocal(to, clock)); status 3 = en route, status 4 = on scene; share = (3 + 4) / the period (per station: / the period × its units)") }
        let rows = (result.units + result.stations.map { var s = $0; s.name = "station " + $0.name; return s })
        table(["unit", "station", "dispatches", "status3_s", "status4_s", "open", "share_pct"],
              rows.map { [$0.name, $0.station ?? "", String($0.dispatches), String(format: "%.1f", $0.enRouteSeconds), String(format: "%.1f", $0.onSceneSeconds), String($0.open), String(format: "%.2f", 100 * $0.share)] }, csv: csv)
        return 0
    }

    static func statsReport(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: [])
        guard let dir = args.string("store") else { throw UsageError("report needs --store DIR") }
        guard let out = args.string("out") else { throw UsageError("report needs --out DIR") }
        let freq = try args.string("freq").map { t -> Frequency in guard let f = Frequency(rawValue: t) else { throw UsageError("--freq must be hour or day") }; return f } ?? .day
        let horizon = Int(try args.uint("horizon") ?? UInt64(freq == .day ? 14 : 168))
        guard horizon >= 1, horizon <= (freq == .day ? 731 : 2208) else { throw UsageError("--horizon out of range") }
        let source = args.string("source"), category = args.string("category"), zone = args.string("time-zone")
        try args.finish()
        let store = try existingStore(dir)
        let data = try loadSeries(store, freq: freq, source: source, category: category, zone: zone)
        let clock = data.clock, s = data.series
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var report = ReportData(title: "Incident statistics — \(data.source)", source: "\(data.source): \(data.what)",
                                attribution: try store.meta("attribution.\(data.source)"),
                                generated: isoLocal(now - now % 60_000, clock) + " (\(clock.zone.identifier))", frequency: freq)
        var model = VolumeForecaster(frequency: freq)
        do { try model.fit(s, horizon: horizon) } catch { throw UsageError("report: \(error)") }
        let label = { (t: Int64) -> String in freq == .day ? clock.dateString(t) : String(isoLocal(t, clock).prefix(16)) }
        let shown = min(s.count, freq == .day ? 56 : 336)
        report.history = (s.count - shown..<s.count).map { (label(s.starts[$0]), s.values[$0]) }
        report.forecast = model.forecast(s.following(horizon, clock: clock)).map { (label($0.start), $0) }
        let design = Backtest(frequency: freq)
        if let lengths = try? design.trainingLengths(s) {
            report.backtest = try design.run(s, clock: clock)
            report.backtestDesign = "Rolling origin: \(design.origins) origins \(design.step) \(freq.rawValue)s apart, the last \(isoLocal(s.starts[lengths.last! - 1], clock)), each forecasting the next \(design.horizon) \(freq.rawValue)s from the data before it. MASE is scaled by the in-sample seasonal-naive error at lag \(freq.maseLag); the baseline repeats last week."
        }
        // Weekly totals from a daily series (weeks with a missing day are left out).
        let daily = freq == .day ? s : try loadSeries(store, freq: .day, source: data.source, category: category, zone: zone).series
        var weeks: [(String, Double?)] = []
        var i = 0
        while i < daily.count {
            let days = clock.local(daily.starts[i]).days
            let name = IncidentAggregates.isoWeek(days: days)
            var total = 0.0, complete = true, n = 0
            while i < daily.count && IncidentAggregates.isoWeek(days: clock.local(daily.starts[i]).days) == name {
                if let v = daily.values[i] { total += v } else { complete = false }
                n += 1; i += 1
            }
            weeks.append((name, complete && n == 7 ? total : nil))
        }
        report.weekly = weeks
        var records = try store.allRecords()
        records.removeAll { $0.source != data.source || $0.test }
        var byCategory: [String: [Double]] = [:]
        for r in records { if let t = r.callToOnSceneSeconds, t >= 0 { byCategory[r.category, default: []].append(t) } }
        report.responseByCategory = byCategory.keys.sorted().compactMap { k in
            var v = byCategory[k]!
            guard v.count >= 5, let q = ExactQuantile.of(&v, [0.1, 0.5, 0.9]) else { return nil }
            return (k, byCategory[k]!.count, q)
        }
        report.compliance = Hilfsfrist.compliance(records, target: .agbfCriticalHouseFire)
        do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
            throw UsageError("cannot create the report directory \(out): \((error as NSError).localizedDescription)")
        }
        let path = URL(fileURLWithPath: out).appendingPathComponent("index.html").path
        guard FileManager.default.createFile(atPath: path, contents: Data(Report.html(report).utf8)) else { throw UsageError("cannot write \(path)") }
        say("report: \(path) (\(report.history.count) periods of history, \(report.forecast.count) forecast, \(report.weekly.count) weeks, \(report.responseByCategory.count) categories with response times, \(report.compliance.count - 1) areas)")
        return 0
    }
}
