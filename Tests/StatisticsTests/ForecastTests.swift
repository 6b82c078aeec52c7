import Foundation
import Incidents
@testable import Statistics
import XCTest

/// Deterministic draws for generated test series (SplitMix64; Box–Muller; Marsaglia–Tsang gamma;
/// Poisson by inversion).
struct Draws {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992 }
    mutating func normal() -> Double { (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform()) }
    mutating func gamma(shape k: Double, scale: Double) -> Double {
        let d = k - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            let x = normal(), v0 = 1 + c * x
            guard v0 > 0 else { continue }
            let v = v0 * v0 * v0, u = uniform()
            if log(u) < 0.5 * x * x + d - d * v + d * log(v) { return d * v * scale }
        }
    }
    mutating func poisson(_ lambda: Double) -> Int {
        if lambda > 200 { return max(0, Int((lambda + lambda.squareRoot() * normal()).rounded())) }
        let u = uniform()
        var k = 0, p = exp(-lambda), cdf = p
        while cdf < u && k < 10_000 { k += 1; p *= lambda / Double(k); cdf += p }
        return k
    }
    mutating func negativeBinomial(mean: Double, size: Double) -> Int { poisson(gamma(shape: size, scale: mean / size)) }
}

/// The forecaster on series generated with what holds for emergency calls — a week profile, a
/// slowly moving level, shocks that last a day or two, over-dispersed counts — where the truth
/// is known: the intervals must cover at their nominal rates, the forecasts must beat the
/// seasonal naive, and missing days must not break anything.
final class ForecastTests: XCTestCase {
    let clock = try! LocalClock("Europe/Berlin")

    /// An hourly series of `weeks` weeks from 2024-01-01 (local), mean `mean` per hour.
    func hourly(seed: UInt64, weeks: Int, mean: Double, size: Double) -> (CountSeries, [Double]) {
        var g = Draws(seed: seed)
        let base: [Double] = [0.55, 0.48, 0.42, 0.38, 0.36, 0.35, 0.45, 0.7, 0.95, 1.1, 1.2, 1.25, 1.3, 1.3, 1.3, 1.35, 1.45, 1.5, 1.5, 1.4, 1.25, 1.1, 0.9, 0.7]
        var profile: [Double] = (0..<168).map { (k: Int) -> Double in
            let weekendNight: Bool = k / 24 >= 5 && k % 24 < 5
            return base[k % 24] * (weekendNight ? 1.35 : 1.0)
        }
        let m = profile.reduce(0, +) / 168
        profile = profile.map { $0 / m }
        let start = clock.utcMillis(localDay: CivilDate.days(year: 2024, month: 1, day: 1))!
        var starts: [Int64] = [], slots: [Int] = [], values: [Double?] = [], rates: [Double] = []
        var walk = 0.0, shock = 0.0, day: Int64 = -1
        for h in 0..<(weeks * 168) {
            let t = start + Int64(h) * 3_600_000
            let slot = CountSeries.hourSlot(t, clock)
            let d = clock.local(t).days
            if d != day { day = d; walk += 0.004 * g.normal(); shock = 0.6 * shock + 0.07 * g.normal() }
            let rate = mean * exp(walk + shock) * profile[slot]
            starts.append(t); slots.append(slot); rates.append(rate)
            values.append(Double(g.negativeBinomial(mean: rate, size: size)))
        }
        return (CountSeries(frequency: .hour, starts: starts, slots: slots, values: values), rates)
    }

    func testHourlyIntervalsCoverAtTheirNominalRatesOnGeneratedCalls() throws {
        // Three different worlds: busy, quiet (many zeros), strongly over-dispersed.
        for (seed, mean, size) in [(UInt64(11), 14.0, 40.0), (22, 3.0, 60.0), (33, 20.0, 12.0)] {
            let (series, _) = hourly(seed: seed, weeks: 60, mean: mean, size: size)
            let scores = try Backtest(frequency: .hour).run(series, clock: clock)
            let ours = scores[0], naive = scores[1]
            XCTAssertEqual(ours.periods, 12 * 168)
            XCTAssert((0.75...0.85).contains(ours.coverage80), "seed \(seed): 80 % interval covered \(ours.coverage80)")
            XCTAssert((0.92...0.97).contains(ours.coverage95), "seed \(seed): 95 % interval covered \(ours.coverage95)")
            XCTAssertLessThan(ours.mase, 0.85 * naive.mase, "seed \(seed): \(ours.mase) vs seasonal naive \(naive.mase)")
            XCTAssertNil(ours.mape, "zeros among the actuals: MAPE undefined")
        }
    }

    func testTheProfileIsRecoveredAndTheMeanTracksTheTruth() throws {
        let (series, rates) = hourly(seed: 5, weeks: 40, mean: 30, size: 1e6)
        let n = series.count - 168
        var model = VolumeForecaster(frequency: .hour)
        try model.fit(series.prefix(n), horizon: 24)
        let fc = model.forecast(series.prefix(n).following(24, clock: clock))
        // Poisson-ish world: the mean should be within a few per cent of the true rate.
        let rel = zip(fc, rates[n..<(n + 24)]).map { abs($0.mean - $1) / $1 }
        XCTAssertLessThan(rel.reduce(0, +) / 24, 0.08, "mean relative error \(rel)")
        // The profile's night trough and evening peak are where they were generated.
        let monday = Array(model.profile[0..<24])
        XCTAssert(abs(monday.firstIndex(of: monday.min()!)! - 5) <= 1, "\(monday)")
        XCTAssert([17, 18].contains(monday.firstIndex(of: monday.max()!)!), "\(monday)")
        XCTAssertEqual(model.profile.reduce(0, +) / 168, 1, accuracy: 1e-9)
        for p in fc { XCTAssert(p.lo95 <= p.lo80 && p.lo80 <= p.mean && p.mean <= p.hi80 && p.hi80 <= p.hi95, "\(p)") }
    }

    func testDailySeriesWithMissingDaysForecastsAndScoresOnlyPresentDays() throws {
        var g = Draws(seed: 9)
        let first = CivilDate.days(year: 2023, month: 1, day: 2)
        let days = Array(first..<(first + 500))
        let dow: [Double] = [1.05, 1.02, 1.0, 1.0, 1.04, 0.98, 0.91]
        var values: [Double?] = days.map { d in Double(g.negativeBinomial(mean: 1500 * dow[CountSeries.weekday(days: d)], size: 300)) }
        for k in [100, 101, 250, 480, 495] { values[k] = nil }
        let s = CountSeries(frequency: .day, starts: days.map { clock.utcMillis(localDay: $0)! }, slots: days.map { CountSeries.weekday(days: $0) }, values: values)
        let scores = try Backtest(frequency: .day).run(s, clock: clock)
        XCTAssertEqual(scores[0].periods, 84 - 2, "two missing days in the scored weeks are not scored")
        XCTAssertNotNil(scores[0].mape)
        XCTAssertLessThan(scores[0].mape!, scores[1].mape!)
        var m = VolumeForecaster(frequency: .day)
        try m.fit(s, horizon: 7)
        let fc = m.forecast(s.following(7, clock: clock))
        XCTAssertEqual(fc.count, 7)
        XCTAssertEqual(fc[0].start, clock.utcMillis(localDay: first + 500)!)
        // Sunday is the quiet day.
        let sunday = fc.first { CountSeries.weekday(days: clock.local($0.start).days) == 6 }!
        XCTAssertLessThan(sunday.mean, fc.map(\.mean).max()! * 0.95)
    }

    func testTooShortTrainingDataIsRefusedWithTheReason() {
        let s = CountSeries(frequency: .day, starts: (0..<20).map { Int64($0) * 86_400_000 }, slots: (0..<20).map { $0 % 7 }, values: (0..<20).map { _ in 5 })
        var m = VolumeForecaster(frequency: .day)
        XCTAssertThrowsError(try m.fit(s, horizon: 7)) { XCTAssertEqual($0 as? VolumeForecaster.Failure, .tooShort(have: 20, need: 28)) }
        XCTAssertThrowsError(try Backtest(frequency: .day).trainingLengths(s))
    }

    func testHourSeriesAcrossTheAutumnClockChangeHasTwentyFiveHoursThatDay() {
        // 2025-10-26: 02:00–03:00 local happens twice in Europe/Berlin.
        let day = CivilDate.days(year: 2025, month: 10, day: 26)
        let t0 = clock.utcMillis(localDay: day)!, t1 = clock.utcMillis(localDay: day + 1)!
        let calls = stride(from: t0, to: t1, by: 3_600_000).map { $0 + 60_000 }
        let s = CountSeries.of(records: calls, precisionIsDay: false, frequency: .hour, clock: clock)!
        XCTAssertEqual(s.count, 25)
        XCTAssertEqual(s.slots.filter { $0 == 6 * 24 + 2 }.count, 2, "both 02:00 hours are Sunday 02:00")
        XCTAssertEqual(s.values.compactMap { $0 }.reduce(0, +), 25)
        let d = CountSeries.of(records: calls, precisionIsDay: false, frequency: .day, clock: clock)!
        XCTAssertEqual(d.values, [25])
        XCTAssertNil(CountSeries.of(records: calls, precisionIsDay: true, frequency: .hour, clock: clock), "day-only records make no hourly series")
        // The periods after a Saturday run into the short spring day correctly.
        let spring = clock.utcMillis(localDay: CivilDate.days(year: 2026, month: 3, day: 28))!
        let next = CountSeries.periods(.day, after: spring, count: 2, clock: clock)
        XCTAssertEqual(next[1].start - next[0].start, 23 * 3_600_000)
        XCTAssertEqual(next.map(\.slot), [6, 0])
    }
}

/// The negative binomial against its definition.
final class NegativeBinomialTests: XCTestCase {
    func testPMFSumsToOneWithTheRightMeanAndVariance() {
        for (mu, size) in [(0.7, 3.0), (12.0, 40.0), (1500.0, 300.0), (5.0, 1e12)] {
            let nb = NegativeBinomial(mean: mu, size: size)
            var total = 0.0, m1 = 0.0, m2 = 0.0
            for k in 0..<Int(mu * 3 + 200) { let p = exp(nb.logPMF(k)); total += p; m1 += Double(k) * p; m2 += Double(k * k) * p }
            XCTAssertEqual(total, 1, accuracy: 1e-9)
            XCTAssertEqual(m1, mu, accuracy: 1e-6 * max(1, mu))
            XCTAssertEqual(m2 - m1 * m1, nb.variance, accuracy: 1e-5 * nb.variance)
        }
    }

    func testMidQuantilesCoverIntegersAtTheNominalRateOnAverage() {
        // Over a spread of small means, the share of probability mass inside [q10, q90] is 80 %
        // on average (discrete quantiles would give ≈ 87 %).
        var shares: [Double] = []
        for i in 0..<200 {
            let nb = NegativeBinomial(mean: 1 + Double(i) * 0.05, size: 1e12)
            let q = nb.quantiles([0.1, 0.9])
            var inside = 0.0
            for k in 0..<60 where Double(k) >= q[0] && Double(k) <= q[1] { inside += exp(nb.logPMF(k)) }
            shares.append(inside)
        }
        XCTAssertEqual(shares.reduce(0, +) / 200, 0.8, accuracy: 0.02)
    }

    func testFittedSizeFindsTheGeneratingDispersion() {
        var g = Draws(seed: 3)
        let mu = (0..<20_000).map { 5 + Double($0 % 20) }
        let y = mu.map { Double(g.negativeBinomial(mean: $0, size: 8)) }
        let size = NegativeBinomial.fitSize(y: y, mu: mu)
        XCTAssertEqual(size, 8, accuracy: 1.0)
        let poisson = mu.map { Double(g.poisson($0)) }
        XCTAssertGreaterThan(NegativeBinomial.fitSize(y: poisson, mu: mu), 500, "Poisson counts: no over-dispersion")
    }
}
