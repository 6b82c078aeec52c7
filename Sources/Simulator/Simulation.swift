import Dispatch
import Synchronization

/// Runs seeds of the deterministic world. Each seed is independent, so seeds run in parallel on
/// all cores; each seed's history depends on the seed alone.
public enum Simulation {
    /// Simulates one seed.
    public static func run(seed: UInt64, options: SimulationOptions) -> SeedOutcome {
        World(seed: seed, options: options).run()
    }

    /// Simulates `seeds`, `workers` at a time; calls `report` for every finished seed (serially,
    /// in completion order). Returns outcomes in seed order.
    public static func run(seeds: [UInt64], options: SimulationOptions, workers: Int,
                           report: @Sendable (SeedOutcome) -> Void = { _ in }) -> [SeedOutcome] {
        let next = Mutex(0)
        let results = Mutex([SeedOutcome?](repeating: nil, count: seeds.count))
        DispatchQueue.concurrentPerform(iterations: max(1, min(workers, seeds.count))) { _ in
            while true {
                let k: Int = next.withLock { k in
                    defer { k += 1 }
                    return k
                }
                guard k < seeds.count else { return }
                let outcome = run(seed: seeds[k], options: options)
                results.withLock { r in
                    r[k] = outcome
                    report(outcome)
                }
            }
        }
        return results.withLock { $0.compactMap { $0 } }
    }
}
