import Foundation
import Helpers

extension CommandLine {
    /// `florian bench helpers [--volunteers N] [--waves W]`: the router's wave matching against N
    /// registered volunteers (default 100,000 over a 24 × 18 km city, homes denser towards the
    /// centre): W requests at random places, each timed from `open` to its first wave's asks
    /// (candidates from the spatial index, eligibility, scoring, selection), then cancelled.
    /// Prints p50, p99 and max in milliseconds against the target of 10 ms.
    static func benchHelpers(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: [])
        let n = Int(try args.uint("volunteers") ?? 100_000)
        let waves = Int(try args.uint("waves") ?? 500)
        try args.finish()
        guard n >= 100, n <= 2_000_000, waves >= 10 else { throw UsageError("--volunteers 100…2000000, --waves at least 10") }
        var state: UInt64 = 42
        func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / 9_007_199_254_740_992
        }
        let t0: Int64 = 1_784_073_600_000
        var router = HelperRouter(config: .waves)
        let skills = ["sandsack", "erste-hilfe", "logistik", "motorsaege"], holders = [0.7, 0.35, 0.25, 0.05]
        let built = DispatchTime.now()
        for i in 0..<n {
            let x = (uniform() + uniform()) / 2 * 24_000, y = (uniform() + uniform()) / 2 * 18_000
            var s: [SkillCredential] = []
            for (k, h) in zip(skills, holders) where uniform() < h { s.append(SkillCredential(skill: k, verifiedBy: "DRK", validUntil: t0 + 86_400_000 * 365)) }
            router.register(Volunteer(id: try VolunteerID("V-" + String(i, radix: 16)), skills: s, home: HomeCell(containing: GridPoint(x: Int64(x), y: Int64(y))),
                                      availability: [TimeWindow(from: t0 - 3_600_000, to: t0 + 86_400_000)], platform: "app"))
        }
        say(String(format: "bench helpers: %d volunteers registered in %.2f s", n, Double(DispatchTime.now().uptimeNanoseconds - built.uptimeNanoseconds) / 1e9))
        var times: [Double] = []
        var asked = 0
        for w in 0..<waves {
            let t = t0 + Int64(w) * 1000
            let need = NewRequest(skill: skills[w % 3], count: 1 + Int(uniform() * 20), place: GridPoint(x: Int64(2_000 + uniform() * 20_000), y: Int64(2_000 + uniform() * 14_000)),
                                  area: "x", window: TimeWindow(from: t, to: t + 3 * 3_600_000))
            var out: [RouterOutput] = []
            let start = DispatchTime.now()
            let id = try router.open(need, by: "operator:bench", at: t, outputs: &out)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6)
            asked += out.filter { if case .ask = $0 { return true } else { return false } }.count
            try router.cancel(id, at: t, outputs: &out)
        }
        times.sort()
        let p50 = times[times.count / 2], p99 = times[min(times.count - 1, times.count * 99 / 100)], mx = times.last!
        say(String(format: "bench helpers: %d waves, %d asks: wave matching p50 %.3f ms, p99 %.3f ms, max %.3f ms (target < 10 ms)", waves, asked, p50, p99, mx))
        return 0
    }
}
