import Foundation
@_spi(Simulation) import Consensus
@_spi(Simulation) import Simulator
import Alarming
import Helpers
import Dispatch
import Synchronization

extension CommandLine {
    static let mutants: [String: Mutants] = [
        "figure8": .commitPreviousTermByCount,
        "vote-without-log-check": .skipVoteLogCheck,
        "stale-read": .staleRead,
    ]

    /// `florian simulate`: see `usage`.
    static func simulate(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: ["trace-hash", "trace"])
        var options = SimulationOptions()
        if let path = args.string("scenario"), path.hasSuffix(".json") {
            // A helper-network scenario names its volunteers; an alarm scenario its registry.
            if let data = FileManager.default.contents(atPath: path),
               let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any], o["volunteers"] != nil {
                return try simulateHelpers(path, Array(data), &args)
            }
            return try simulateAlarms(path, &args)
        }
        if let path = args.string("scenario") {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw UsageError("cannot read scenario file '\(path)'")
            }
            options.scenario = try Scenario.parse(text, name: URL(fileURLWithPath: path).lastPathComponent)
        }
        if let name = args.string("mutant") {
            guard let m = mutants[name] else {
                throw UsageError("unknown mutant '\(name)' (known: \(mutants.keys.sorted().joined(separator: ", ")))")
            }
            options.mutants = m
        }
        let single = try args.uint("seed")
        let count = try args.uint("seeds")
        let start = try args.uint("start") ?? 1
        let workers = try args.uint("workers").map(Int.init) ?? ProcessInfo.processInfo.activeProcessorCount
        let traceHash = args.flag("trace-hash")
        let traceAll = args.flag("trace")
        try args.finish()

        if let seed = single {
            guard count == nil else { throw UsageError("give --seed or --seeds, not both") }
            options.trace = true
            if traceAll { options.traceLines = .max / 2 }
            let outcome = Simulation.run(seed: seed, options: options)
            if traceAll { for line in outcome.traceTail { print(line) } }
            if let v = outcome.violation { printViolation(outcome, v) }
            print("simulate: seed \(seed): \(outcome.stats.nodes) nodes, \(outcome.stats.events) events, \(outcome.stats.acknowledged) acknowledged, \(outcome.stats.committedEntries) committed, \(outcome.violation == nil ? "ok" : "VIOLATION")")
            if traceHash { print("trace \(outcome.traceHash ?? "")") }
            return outcome.violation == nil ? 0 : 1
        }
        guard let n = count, n > 0 else { throw UsageError("simulate needs --seeds N (N ≥ 1) or --seed S") }
        guard start <= UInt64.max - n else { throw UsageError("--start + --seeds overflows") }
        let seeds = (0..<n).map { start + $0 }
        let began = Date()
        let outcomes = Simulation.run(seeds: seeds, options: options, workers: max(1, workers))
        var violations = 0
        var events = 0
        var acked = 0
        for o in outcomes {
            events += o.stats.events
            acked += o.stats.acknowledged
            guard o.violation != nil else { continue }
            violations += 1
            if violations <= 5 {
                // Re-run traced (the same seed gives the same history) for a short trace.
                var traced = options
                traced.trace = true
                let t = Simulation.run(seed: o.seed, options: traced)
                printViolation(t, t.violation ?? o.violation!)
            }
        }
        let secs = Date().timeIntervalSince(began)
        print("simulate: \(events) events, \(acked) acknowledged proposals, \(String(format: "%.1f", secs)) s")
        print("simulate: \(n) seeds, \(violations) violations")
        return violations == 0 ? 0 : 1
    }

    /// `florian simulate --scenario FILE.json [--seed S | --seeds N [--start S]] [--workers W]
    /// [--mutant NAME] [--trace-hash]`: an alarm-dispatcher scenario (Simulations/storm-night.json)
    /// on the deterministic world, with the shipped gateway cores.
    static func simulateAlarms(_ path: String, _ args: inout Arguments) throws -> Int32 {
        guard let data = FileManager.default.contents(atPath: path) else { throw AlarmCLIError("cannot read scenario file '\(path)'") }
        let scenario = try AlarmScenario.parse(Array(data), name: URL(fileURLWithPath: path).lastPathComponent)
        let directory = (path as NSString).deletingLastPathComponent
        let registryPath = ((directory.isEmpty ? "." : directory) + "/" + scenario.registry as NSString).standardizingPath
        guard let registryData = FileManager.default.contents(atPath: registryPath) else {
            throw AlarmCLIError("cannot read the scenario's registry '\(registryPath)'")
        }
        let registry = try StrictJSON.decode(Registry.self, from: Array(registryData), what: registryPath).validated()
        let single = try args.uint("seed")
        let count = try args.uint("seeds")
        let start = try args.uint("start") ?? 1
        let workers = try args.uint("workers").map(Int.init) ?? ProcessInfo.processInfo.activeProcessorCount
        let traceHash = args.flag("trace-hash")
        _ = args.flag("trace")
        var mutant: AlarmMutant?
        if let name = args.string("mutant") {
            guard let m = AlarmMutant(rawValue: name) else {
                throw UsageError("unknown mutant '\(name)' for an alarm scenario (known: \(AlarmMutant.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            mutant = m
        }
        try args.finish()
        guard single == nil || count == nil else { throw UsageError("give --seed or --seeds, not both") }
        let seeds = single.map { [$0] } ?? (0..<(count ?? 1)).map { start + $0 }
        // Seeds are independent: they run on all cores, and are reported in seed order.
        let chosen = mutant
        let began = Date()
        let outcomes = Mutex([UInt64: (AlarmOutcome, Double)]())
        let next = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: max(1, min(workers, seeds.count))) { _ in
            while true {
                let k: Int = next.withLock { k in defer { k += 1 }; return k }
                guard k < seeds.count else { return }
                let t = Date()
                let o = AlarmSimulation.run(seed: seeds[k], scenario: scenario, registry: registry, mutant: chosen)
                let secs = Date().timeIntervalSince(t)
                outcomes.withLock { $0[seeds[k]] = (o, secs) }
            }
        }
        var violations = 0
        for seed in seeds {
            let (o, secs) = outcomes.withLock { $0[seed]! }
            if let v = o.violation {
                violations += 1
                print("VIOLATION seed \(seed): \(v.invariant): \(v.detail) (virtual time \(Double(v.time) / 1e6) s)")
                print("  replay: florian simulate --scenario \(path) --seed \(seed)\(mutant.map { " --mutant \($0.rawValue)" } ?? "")")
            } else {
                print("scenario \(scenario.name), seed \(seed): \(o.events) events in \(String(format: "%.1f", secs)) s")
                for line in o.report { print("  \(line)") }
            }
            if traceHash { print("trace \(o.traceHash)") }
        }
        if seeds.count > 1 { print("simulate: \(String(format: "%.1f", Date().timeIntervalSince(began))) s on \(min(workers, seeds.count)) workers") }
        print("simulate: \(seeds.count) seeds, \(violations) violations")
        return violations == 0 ? 0 : 1
    }

    /// `florian simulate --scenario Simulations/main-flood.json [--seeds N | --seed S]`: each seed's
    /// night played through the real router with our waves and with Katretter's rule (3 nearest,
    /// 30 s, the next 3); per seed the time-to-fill p50/p90, asks per filled slot, the Gini of
    /// assignments and rest violations of both; the last line
    /// `helpers: seeds N, beats baseline on B, rest violations R` — B counts the seeds where ours
    /// fills faster at p90 with no more asks per filled slot.
    static func simulateHelpers(_ path: String, _ data: [UInt8], _ args: inout Arguments) throws -> Int32 {
        let scenario: FloodScenario
        do { scenario = try FloodScenario.parse(data) } catch { throw UsageError("\(path): \(error)") }
        let single = try args.uint("seed")
        let count = try args.uint("seeds")
        let start = try args.uint("start") ?? 1
        _ = args.flag("trace-hash"); _ = args.flag("trace")
        try args.finish()
        guard single == nil || count == nil else { throw UsageError("give --seed or --seeds, not both") }
        let seeds = single.map { [$0] } ?? (0..<(count ?? 1)).map { start + $0 }
        var ours = RouterConfig.waves, baseline = RouterConfig.nearestThree
        ours.utcOffsetMinutes = 120; baseline.utcOffsetMinutes = 120
        var beats = 0, rest = 0
        func line(_ o: FloodOutcome) -> String {
            String(format: "%@: fill p50 %.0f s, p90 %.0f s, unfilled %d, asks/slot %.2f (%d asks, %d slots), Gini %.3f, rest violations %d",
                   o.policy.rawValue, o.quantile(0.5), o.quantile(0.9), o.unfilled, o.asksPerSlot, o.asks, o.filledSlots, o.gini, o.restViolations)
        }
        for seed in seeds {
            let a = FloodSimulation.run(scenario, seed: seed, config: ours)
            let b = FloodSimulation.run(scenario, seed: seed, config: baseline)
            let better = a.quantile(0.9) < b.quantile(0.9) && a.asksPerSlot <= b.asksPerSlot
            if better { beats += 1 }
            rest += a.restViolations + b.restViolations
            print("scenario \(scenario.name), seed \(seed): \(better ? "beats" : "does not beat") the baseline")
            print("  " + line(a))
            print("  " + line(b))
        }
        print("helpers: seeds \(seeds.count), beats baseline on \(beats), rest violations \(rest)")
        return rest == 0 ? 0 : 1
    }

    private static func printViolation(_ o: SeedOutcome, _ v: Violation) {
        print("VIOLATION seed \(o.seed): \(v.invariant): \(v.detail) (virtual time \(Double(v.time) / 1e6) s)")
        print("  replay: florian simulate --seed \(o.seed) --trace")
        for line in o.traceTail.suffix(20) { print("  | \(line)") }
    }
}
