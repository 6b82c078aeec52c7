import Foundation
import IncidentStore
import Incidents
import Statistics

extension CommandLine {
    static let statsUsage = """
        usage: florian stats forecast --store DIR --freq hour|day --train-end TIMESTAMP --horizon N [--format table|csv]
                      [--source NAME] [--category NAME] [--time-zone ZONE]
               florian stats backtest --store DIR --freq hour|day [--origins N] [--step N] [--horizon N]
                      [--source NAME] [--category NAME] [--time-zone ZONE]
               florian stats aggregate --store DIR --by area|category|hour|day|week[,…] [--from DATE] [--to DATE] [--quantiles exact|sketch] [--format table|csv]
               florian stats hilfsfrist --store DIR [--target-seconds S] [--goal PERCENT] [--category NAME|all] [--from DATE] [--to DATE] [--format table|csv]
               florian stats utilisation --store DIR [--registry FILE] [--from DATE] [--to DATE] [--format table|csv]
               florian stats report --store DIR --out DIR [--freq day|hour] [--horizon N]
        TIMESTAMP: the last period of the training data, in the data's local time: a date (2026-08-14: the
        whole day) or a date and time (2026-08-14T23:00); the forecast starts with the period after it.
        """

    /// `florian stats forecast|backtest|aggregate|hilfsfrist|utilisation|report …` (Protocols/statistics.md).
    static func stats(_ raw: [String]) throws -> Int32 {
        guard let sub = raw.first else { throw UsageError(statsUsage) }
        let rest = Array(raw.dropFirst())
        switch sub {
        case "forecast": return try statsForecast(rest)
        case "backtest": return try statsBacktest(rest)
        case "aggregate": return try statsAggregate(rest)
        case "hilfsfrist": return try statsHilfsfrist(rest)
        case "utilisation", "utilization": return try statsUtilisation(rest)
        case "report": return try statsReport(rest)
        default: throw UsageError("unknown stats command '\(sub)'\n\(statsUsage)")
        }
    }

    /// The store the statistics read: it must exist already (reading never makes an empty one).
    static func existingStore(_ dir: String) throws -> IncidentStore {
        guard FileManager.default.fileExists(atPath: URL(fileURLWithPath: dir).appendingPathComponent("incidents.sqlite").path) else {
            throw UsageError("no incident store in \(dir) (make one with florian incidents import or florian pipeline)")
        }
        return try IncidentStore(directory: dir)
    }

    /// A count series from the store with what it is, for headers.
    struct StoreSeries {
        var series: CountSeries
        var clock: LocalClock
        var source: String
        var what: String
    }

    static func frequency(_ args: inout Arguments) throws -> Frequency {
        guard let f = args.string("freq") else { throw UsageError("needs --freq hour|day") }
        guard let freq = Frequency(rawValue: f) else { throw UsageError("--freq must be hour or day, got '\(f)'") }
        return freq
    }

    /// The store's source to use: the one named, or the only one.
    static func pickSource(_ store: IncidentStore, _ named: String?) throws -> String {
        let sources = try store.sources()
        if let named {
            guard sources.contains(named) else { throw UsageError("the store has no source '\(named)' (it has: \(sources.isEmpty ? "none" : sources.joined(separator: ", ")))") }
            return named
        }
        guard !sources.isEmpty else { throw UsageError("the store \(store.directory) holds no incidents and no counts (florian incidents import …)") }
        guard sources.count == 1 else { throw UsageError("the store holds several sources (\(sources.joined(separator: ", "))): choose one with --source NAME") }
        return sources[0]
    }

    static func clock(_ store: IncidentStore, source: String, zone: String?) throws -> LocalClock {
        let name = try zone ?? store.meta("timezone.\(source)") ?? "Europe/Berlin"
        do { return try LocalClock(name) } catch { throw UsageError("\(error)") }
    }

    /// Day series come from published day counts when the source has them (category `all` unless
    /// --category), else from the individual records; hour series from records with call times.
    static func loadSeries(_ store: IncidentStore, freq: Frequency, source named: String?, category: String?, zone: String?) throws -> StoreSeries {
        let source = try pickSource(store, named)
        let clock = try clock(store, source: source, zone: zone)
        if freq == .day {
            let counts = try store.dayCounts(source: source, category: category ?? "all")
            if let s = CountSeries.of(dayCounts: counts, clock: clock) {
                return StoreSeries(series: s, clock: clock, source: source, what: "published day counts of \(category ?? "all") incidents")
            }
        }
        let (times, dayOnly) = try store.openingTimes(source: source, category: category == "all" ? nil : category)
        guard !times.isEmpty else { throw UsageError("source \(source) has no \(category.map { "\($0) " } ?? "")incidents\(freq == .day ? " and no day counts" : "")") }
        guard let s = CountSeries.of(records: times, precisionIsDay: dayOnly, frequency: freq, clock: clock) else {
            throw UsageError("the incidents of source \(source) are known only to the day; an hourly series needs call times")
        }
        return StoreSeries(series: s, clock: clock, source: source, what: "\(category.map { "\($0) " } ?? "")incidents per \(freq.rawValue) from \(times.count) records")
    }

    /// "2026-08-15T00:00:00+02:00": ISO 8601 in local time with the offset.
    static func isoLocal(_ t: Int64, _ clock: LocalClock) -> String { clock.iso(t, milliseconds: false) }

    /// The last training instant named by --train-end: a local date means its whole day.
    static func trainEnd(_ text: String, clock: LocalClock) throws -> Int64 {
        if let d = CivilDate.parse(text), text.count == 10 {
            guard let next = clock.utcMillis(localDay: d + 1) else { throw UsageError("--train-end \(text): no local midnight after it") }
            return next - 1
        }
        let format = try TimeFormat("iso8601")
        switch format.parse(text, clock: clock) {
        case .success(let p): return p.utcMillis
        case .failure(.nonexistentLocalTime): throw UsageError("--train-end \(text) does not exist in \(clock.zone.identifier) (the clocks go forward then)")
        case .failure: throw UsageError("--train-end needs a date (2026-08-14) or an ISO 8601 time (2026-08-14T23:00), got '\(text)'")
        }
    }

    static func format(_ args: inout Arguments) throws -> Bool {
        let f = args.string("format") ?? "table"
        guard f == "table" || f == "csv" else { throw UsageError("--format must be table or csv, got '\(f)'") }
        return f == "csv"
    }

    static func statsForecast(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: [])
        guard let dir = args.string("store") else { throw UsageError("forecast needs --store DIR") }
        let freq = try frequency(&args)
        guard let endText = args.string("train-end") else { throw UsageError("forecast needs --train-end TIMESTAMP") }
        guard let h = try args.uint("horizon") else { throw UsageError("forecast needs --horizon N") }
        let csv = try format(&args)
        let source = args.string("source"), category = args.string("category"), zone = args.string("time-zone")
        try args.finish()
        let limit = freq == .day ? 731 : 24 * 92
        guard h >= 1, h <= limit else { throw UsageError("--horizon must be 1…\(limit) \(freq.rawValue)s") }
        let store = try existingStore(dir)
        let data = try loadSeries(store, freq: freq, source: source, category: category, zone: zone)
        let end = try trainEnd(endText, clock: data.clock)
        let s = data.series
        guard let last = s.index(containing: end) else {
            let first = isoLocal(s.starts[0], data.clock), lastP = isoLocal(s.starts[s.count - 1], data.clock)
            throw UsageError("--train-end \(endText) is outside the data (\(first) … \(lastP))")
        }
        let train = s.prefix(last + 1)
        var model = VolumeForecaster(frequency: freq)
        do { try model.fit(train, horizon: Int(h)) } catch { throw UsageError("forecast: \(error)") }
        let points = model.forecast(train.following(Int(h), clock: data.clock))
        let p = model.parameters
        let header = "forecast: source \(data.source), \(data.what), trained on \(isoLocal(train.starts[0], data.clock)) … \(isoLocal(train.starts[train.count - 1], data.clock)); "
            + String(format: "model: week profile × level (α %.4g) × shock (φ %.3g, κ %.3g), negative-binomial intervals", p.alpha, p.phi, p.kappa)
        if csv {
            FileHandle.standardError.write(Data((header + "\n").utf8))
            var out = "period_start,mean,lo80,hi80,lo95,hi95\n"
            for q in points {
                out += isoLocal(q.start, data.clock) + "," + [q.mean, q.lo80, q.hi80, q.lo95, q.hi95].map { String(format: "%.3f", $0) }.joined(separator: ",") + "\n"
            }
            FileHandle.standardOutput.write(Data(out.utf8))
        } else {
            print(header)
            print("period_start                     mean      lo80      hi80      lo95      hi95")
            for q in points {
                print(isoLocal(q.start, data.clock).padding(toLength: 27, withPad: " ", startingAt: 0)
                      + [q.mean, q.lo80, q.hi80, q.lo95, q.hi95].map { String(format: "%10.1f", $0) }.joined())
            }
        }
        return 0
    }

    static func statsBacktest(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: [])
        guard let dir = args.string("store") else { throw UsageError("backtest needs --store DIR") }
        let freq = try frequency(&args)
        var design = Backtest(frequency: freq)
        if let o = try args.uint("origins") { guard o >= 1, o <= 520 else { throw UsageError("--origins must be 1…520") }; design.origins = Int(o) }
        if let s = try args.uint("step") { guard s >= 1 else { throw UsageError("--step must be at least 1") }; design.step = Int(s) }
        if let h = try args.uint("horizon") { guard h >= 1, h <= 731 else { throw UsageError("--horizon must be 1…731") }; design.horizon = Int(h) }
        let source = args.string("source"), category = args.string("category"), zone = args.string("time-zone")
        try args.finish()
        let store = try existingStore(dir)
        let data = try loadSeries(store, freq: freq, source: source, category: category, zone: zone)
        let lengths: [Int]
        do { lengths = try design.trainingLengths(data.series) } catch { throw UsageError("backtest: \(error)") }
        let unit = freq == .day ? "days" : "hours"
        let origins = lengths.map { isoLocal(data.series.starts[$0 - 1], data.clock) }
        print("backtest: source \(data.source), \(data.what); \(design.origins) origins \(design.step) \(unit) apart (\(origins.first!) … \(origins.last!), the last training period of each), each forecasting the next \(design.horizon) \(unit)")
        print("backtest: MAE and MAPE of the mean; MASE scaled by each origin's in-sample seasonal-naive MAE at lag \(freq.maseLag) (\(freq == .day ? "a week" : "a day"), as in M4); coverage: share of actual counts inside the 80 % and 95 % intervals")
        let scores = try design.run(data.series, clock: data.clock)
        print("model            origins  periods        MAE    MASE    MAPE  cov80  cov95")
        for s in scores {
            print(s.model.padding(toLength: 16, withPad: " ", startingAt: 0)
                  + String(format: "%8d %8d %10.2f %7.3f ", s.origins, s.periods, s.mae, s.mase)
                  + (s.mape.map { String(format: "%6.2f%%", $0) } ?? "    n/a")
                  + String(format: " %5.1f%% %5.1f%%", 100 * s.coverage80, 100 * s.coverage95))
        }
        if scores.count == 2, scores[0].mape == nil { print("backtest: MAPE n/a: some actual counts are 0") }
        if freq == .hour {
            print("backtest: MASE scaled at lag 168 (a week) instead: " + scores.map { "\($0.model) \(String(format: "%.3f", $0.maseWeekly))" }.joined(separator: ", "))
        }
        return 0
    }
}
