import Foundation

/// One forecast period: the mean count and the 80 % and 95 % prediction intervals.
public struct ForecastPoint: Equatable, Sendable {
    public var start: Int64
    public var mean: Double
    public var lo80: Double, hi80: Double, lo95: Double, hi95: Double
}

/// Forecasts of incident counts per hour or day: a week profile around an adaptive level, with a
/// short-lived shock, and negative-binomial intervals calibrated on the training data.
///
/// The model is what is known to hold for emergency-call volumes: a strong, stable profile over
/// the week (hour of week, day of week); a level that moves slowly (population, season, reporting
/// practice); and shocks that last hours to days (a heat wave, a storm, a holiday weekend) and
/// then fade. A count y_t in profile slot s is modelled as
///
///     y_t ~ NB(mean μ_t = L · S_s · (1 + e), size θ_h),
///
/// with the profile S (mean 1) from the training data's ratios to a centred moving week, the
/// level L and the shock e filtered through the series: with r = y/(L·S) − 1 and the expected
/// shock p = φ·e, e ← p + κ(r − p) and L ← L·(1 + α(r − p)). A forecast h periods ahead is
/// L · S · (1 + φ^h e): the shock decays, the level stays. This is an exponential-smoothing
/// state-space model (Hyndman et al., *Forecasting with Exponential Smoothing*, 2008, ch. 2) with
/// a damped second component, in multiplicative form because the noise grows with the volume.
///
/// α, φ and κ are chosen on the training data alone: the grid point with the least mean absolute
/// error of its own forecasts over the last `fitWindow` periods at horizons up to the one asked
/// for. The intervals come from the same in-sample forecasts: for each of these horizons the
/// maximum-likelihood NB size θ_h of the actual counts around the forecast means, so the bands
/// are as wide as the model's real errors at that distance were, including the level's drift and
/// the shocks — not the Poisson width, which is too narrow for call counts. Nothing here reads a
/// clock or draws random numbers.
public struct VolumeForecaster: Sendable {
    public struct Parameters: Equatable, Sendable {
        public var alpha: Double, phi: Double, kappa: Double
    }

    public let frequency: Frequency
    public private(set) var profile: [Double] = []
    public private(set) var parameters = Parameters(alpha: 0, phi: 0, kappa: 0)
    /// Horizons at which θ was fitted, and θ there.
    public private(set) var sizes: [(horizon: Int, size: Double)] = []
    var level = 0.0, shock = 0.0

    /// Weeks of history for the profile, periods scored when choosing the parameters.
    public var profileWeeks = 104
    public var fitWindow: Int

    /// What a training series needs: four weeks.
    public static func minimumPeriods(_ f: Frequency) -> Int { 4 * f.seasonLength }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case tooShort(have: Int, need: Int)
        case noData
        public var description: String {
            switch self {
            case .tooShort(let have, let need): "the training data has \(have) periods with counts; a forecast needs at least \(need) (four weeks)"
            case .noData: "the training data has no counts"
            }
        }
    }

    static func grid(_ f: Frequency) -> (alpha: [Double], phi: [Double], kappa: [Double]) {
        switch f {
        case .day: ([0.005, 0.01, 0.02, 0.05, 0.1, 0.2], [0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9], [0.25, 0.5, 1])
        case .hour: ([0.0005, 0.001, 0.002, 0.005, 0.01, 0.02], [0.9, 0.95, 0.97, 0.98, 0.99, 0.995], [0.005, 0.01, 0.02, 0.05, 0.1])
        }
    }

    public init(frequency: Frequency) {
        self.frequency = frequency
        fitWindow = frequency == .day ? 730 : 26 * 168
    }

    /// Fits the model to `series` (all of it is training data) for forecasts up to `horizon`
    /// periods ahead.
    public mutating func fit(_ series: CountSeries, horizon: Int) throws(Failure) {
        precondition(horizon >= 1 && series.frequency == frequency, "fit arguments")
        let have = series.values.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
        guard have > 0 else { throw .noData }
        guard have >= Self.minimumPeriods(frequency) else { throw .tooShort(have: have, need: Self.minimumPeriods(frequency)) }
        // The filter runs over at most two years plus the fit window (older data only feeds the
        // level's start, which the filter forgets).
        let keep = min(series.count, fitWindow + 2 * 365 * (frequency == .day ? 1 : 24))
        let y = Array(series.values.suffix(keep)), slots = Array(series.slots.suffix(keep))
        profile = Self.profile(values: y, slots: slots, season: frequency.seasonLength, weeks: profileWeeks)
        let horizons = Self.scoredHorizons(horizon, season: frequency.seasonLength)
        let window = min(fitWindow, max(frequency.seasonLength, y.count / 2))
        let g = Self.grid(frequency)
        var best: (score: Double, p: Parameters)?
        for a in g.alpha { for f in g.phi { for k in g.kappa {
            let p = Parameters(alpha: a, phi: f, kappa: k)
            let s = Self.score(y: y, slots: slots, profile: profile, p, horizons: horizons, window: window)
            if best == nil || s < best!.score { best = (s, p) }
        } } }
        parameters = best!.p
        let run = Self.filter(y: y, slots: slots, profile: profile, parameters)
        level = run.level; shock = run.shock
        sizes = horizons.map { h in
            let pairs = Self.inSample(y: y, slots: slots, profile: profile, parameters, run: run, horizon: h, window: window)
            return (h, NegativeBinomial.fitSize(y: pairs.y, mu: pairs.mu))
        }
    }

    /// The forecast for the given future slots (`CountSeries.following`), h = 1, 2, ….
    public func forecast(_ periods: [(start: Int64, slot: Int)]) -> [ForecastPoint] {
        periods.enumerated().map { i, p in
            let h = i + 1
            let mu = max(0, level * profile[p.slot] * (1 + pow(parameters.phi, Double(h)) * shock))
            let q = NegativeBinomial(mean: mu, size: size(at: h)).quantiles([0.025, 0.10, 0.90, 0.975])
            return ForecastPoint(start: p.start, mean: mu, lo80: q[1], hi80: q[2], lo95: q[0], hi95: q[3])
        }
    }

    /// θ at horizon h: linear in log θ between the fitted horizons, constant beyond them.
    func size(at h: Int) -> Double {
        guard let first = sizes.first else { return NegativeBinomial.poissonSize }
        if h <= first.horizon { return first.size }
        for (a, b) in zip(sizes, sizes.dropFirst()) where h <= b.horizon {
            let w = Double(h - a.horizon) / Double(b.horizon - a.horizon)
            return exp(log(a.size) * (1 - w) + log(b.size) * w)
        }
        return sizes.last!.size
    }

    /// 1, 2, 3, 4, 6, 8, 12, … up to `horizon` (every horizon for short ones): enough to follow
    /// how the error grows without scoring every step of a week of hours.
    static func scoredHorizons(_ horizon: Int, season: Int) -> [Int] {
        let cap = min(horizon, 2 * season)
        if cap <= 8 { return Array(1...cap) }
        var hs: [Int] = [1, 2, 3, 4], x = 6
        while x < cap { hs.append(x); x = x * 3 / 2 }
        hs.append(cap)
        return hs
    }

    /// The week profile: per slot, the ratio of the counts to a centred moving week, over the last
    /// `weeks` weeks — the median of the ratios for large counts (robust to holidays and New
    /// Year's Eve), the ratio of sums for small ones (where a median of discrete ratios is biased);
    /// normalised to mean 1.
    static func profile(values y: [Double?], slots: [Int], season m: Int, weeks: Int) -> [Double] {
        let n = y.count
        let from = max(0, n - weeks * m - m)
        // Centred moving sums over one season of present values (prefix sums).
        var sum = [Double](repeating: 0, count: n + 1), cnt = [Int](repeating: 0, count: n + 1)
        for i in 0..<n { sum[i + 1] = sum[i] + (y[i] ?? 0); cnt[i + 1] = cnt[i] + (y[i] == nil ? 0 : 1) }
        var ratios = [[Double]](repeating: [], count: m)
        var num = [Double](repeating: 0, count: m), den = [Double](repeating: 0, count: m)
        var total = 0.0, present = 0
        for i in from..<n {
            guard let v = y[i] else { continue }
            let lo = max(0, i - m / 2), hi = min(n, lo + m)
            let c = cnt[hi] - cnt[max(0, hi - m)]
            guard hi - lo == m, c * 10 >= m * 7 else { continue }
            let avg = (sum[hi] - sum[hi - m]) / Double(c)
            guard avg > 0 else { continue }
            ratios[slots[i]].append(v / avg)
            num[slots[i]] += v; den[slots[i]] += avg
            total += v; present += 1
        }
        let large = present > 0 && total / Double(present) >= 30
        var s = (0..<m).map { k -> Double in
            if large, !ratios[k].isEmpty {
                let r = ratios[k].sorted(), c = r.count
                return c % 2 == 1 ? r[c / 2] : (r[c / 2 - 1] + r[c / 2]) / 2
            }
            return den[k] > 0 ? num[k] / den[k] : 1
        }
        let mean = s.reduce(0, +) / Double(m)
        if mean > 0 { s = s.map { max($0 / mean, 1e-3) } } else { s = [Double](repeating: 1, count: m) }
        return s
    }

    /// The filter's states: before period t, level[t] and shock[t]; after the last, `level`/`shock`.
    struct Run { var levels: [Double]; var shocks: [Double]; var level: Double; var shock: Double }

    static func filter(y: [Double?], slots: [Int], profile: [Double], _ p: Parameters) -> Run {
        let n = y.count
        var levels = [Double](repeating: 0, count: n), shocks = [Double](repeating: 0, count: n)
        // Start: the mean deseasonalised count of the first four weeks with data.
        var s = 0.0, c = 0
        for i in 0..<n where c < 4 * profile.count { if let v = y[i] { s += v / profile[slots[i]]; c += 1 } }
        var L = max(c > 0 ? s / Double(c) : 1, 1e-3), e = 0.0
        for i in 0..<n {
            levels[i] = L; shocks[i] = e
            let expected = p.phi * e
            guard let v = y[i] else { e = expected; continue }
            let r = v / (L * profile[slots[i]]) - 1
            e = expected + p.kappa * (r - expected)
            L = max(L * (1 + p.alpha * (r - expected)), 1e-3)
        }
        return Run(levels: levels, shocks: shocks, level: L, shock: e)
    }

    /// The in-sample forecasts h periods ahead over the last `window` periods: the forecast of t
    /// made after t − h, from the states before period t − h + 1.
    static func inSample(y: [Double?], slots: [Int], profile: [Double], _ p: Parameters, run: Run, horizon h: Int, window: Int) -> (y: [Double], mu: [Double]) {
        var ys: [Double] = [], mus: [Double] = []
        let decay = pow(p.phi, Double(h))
        for t in max(h, y.count - window)..<y.count {
            guard let v = y[t] else { continue }
            let o = t - h + 1
            ys.append(v)
            mus.append(max(0, run.levels[o] * profile[slots[t]] * (1 + decay * run.shocks[o])))
        }
        return (ys, mus)
    }

    static func score(y: [Double?], slots: [Int], profile: [Double], _ p: Parameters, horizons: [Int], window: Int) -> Double {
        let run = filter(y: y, slots: slots, profile: profile, p)
        var total = 0.0, weights = 0.0
        var previous = 0
        for h in horizons {
            // Each scored horizon stands for those since the previous one, so the score weighs
            // every horizon up to the one asked for equally — as the forecast will be judged.
            let w = Double(h - previous)
            previous = h
            let decay = pow(p.phi, Double(h))
            var sum = 0.0, n = 0
            for t in max(h, y.count - window)..<y.count {
                guard let v = y[t] else { continue }
                let o = t - h + 1
                sum += abs(v - run.levels[o] * profile[slots[t]] * (1 + decay * run.shocks[o]))
                n += 1
            }
            if n > 0 { total += w * sum / Double(n); weights += w }
        }
        return weights > 0 ? total / weights : .infinity
    }
}
