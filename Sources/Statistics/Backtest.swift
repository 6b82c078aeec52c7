import Foundation
import Incidents

/// Rolling-origin evaluation (Tashman 2000): the model is fitted on the data up to an origin and
/// forecasts the next `horizon` periods, for `origins` origins `step` periods apart, the last one
/// `horizon` periods before the data ends. Every forecast is scored against what happened; the
/// model never sees a period it is scored on.
public struct Backtest: Sendable {
    public var origins: Int
    public var step: Int
    public var horizon: Int

    /// The default design: 12 origins a week apart, each forecasting the next week (7 days, or
    /// 168 hours).
    public init(frequency: Frequency) {
        origins = 12
        step = frequency.seasonLength
        horizon = frequency.seasonLength
    }

    public init(origins: Int, step: Int, horizon: Int) {
        precondition(origins >= 1 && step >= 1 && horizon >= 1, "backtest design")
        self.origins = origins; self.step = step; self.horizon = horizon
    }

    /// The scores of one model over all origins.
    public struct Score: Equatable, Sendable {
        public var model: String
        public var origins: Int
        /// Periods scored (a missing actual is not scored).
        public var periods: Int
        public var mae: Double
        /// Mean absolute error scaled by each origin's in-sample seasonal-naive MAE (lag `maseLag`).
        public var mase: Double
        /// The same scaled by the seasonal-naive MAE at lag one week (7 days, 168 hours).
        public var maseWeekly: Double
        /// Mean absolute percentage error, only when no scored actual is 0 (else undefined: nil).
        public var mape: Double?
        /// Share of actuals inside the 80 % and 95 % intervals.
        public var coverage80: Double
        public var coverage95: Double
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case tooShort(have: Int, need: Int)
        public var description: String {
            switch self {
            case .tooShort(let have, let need): "the data has \(have) periods; this backtest needs at least \(need) (four weeks before the first origin plus the origins and the horizon)"
            }
        }
    }

    /// The first training length (index after the first origin) and the origins' training lengths.
    public func trainingLengths(_ series: CountSeries) throws(Failure) -> [Int] {
        let last = series.count - horizon
        let first = last - (origins - 1) * step
        let need = VolumeForecaster.minimumPeriods(series.frequency) + (origins - 1) * step + horizon
        guard first >= VolumeForecaster.minimumPeriods(series.frequency) else { throw .tooShort(have: series.count, need: need) }
        return (0..<origins).map { first + $0 * step }
    }

    /// Runs the backtest of our forecaster and of the seasonal-naive baseline (last week's value,
    /// with normal intervals from its in-sample errors, widened with √(weeks ahead)).
    public func run(_ series: CountSeries, clock: LocalClock) throws -> [Score] {
        let lengths = try trainingLengths(series)
        var ours = Accumulator(model: "florian"), naive = Accumulator(model: "seasonal_naive")
        for n in lengths {
            let train = series.prefix(n)
            let scale = Self.naiveScale(train, lag: series.frequency.maseLag)
            let weekly = Self.naiveScale(train, lag: series.frequency.seasonLength)
            var model = VolumeForecaster(frequency: series.frequency)
            try model.fit(train, horizon: horizon)
            let fc = model.forecast(train.following(horizon, clock: clock))
            let nv = Self.seasonalNaive(train, horizon: horizon)
            for h in 0..<horizon {
                guard n + h < series.count, let y = series.values[n + h] else { continue }
                ours.add(y, fc[h], scale: scale, weekly: weekly)
                naive.add(y, nv[h], scale: scale, weekly: weekly)
            }
            ours.origins += 1; naive.origins += 1
        }
        return [ours.score, naive.score]
    }

    struct Accumulator {
        var model: String
        var origins = 0, periods = 0, in80 = 0, in95 = 0
        var ae = 0.0, se = 0.0, sw = 0.0, ape = 0.0, zero = false
        init(model: String) { self.model = model }
        mutating func add(_ y: Double, _ f: ForecastPoint, scale: Double, weekly: Double) {
            let e = abs(y - f.mean)
            periods += 1; ae += e; se += scale > 0 ? e / scale : .infinity; sw += weekly > 0 ? e / weekly : .infinity
            if y > 0 { ape += e / y } else { zero = true }
            if y >= f.lo80 && y <= f.hi80 { in80 += 1 }
            if y >= f.lo95 && y <= f.hi95 { in95 += 1 }
        }
        var score: Score {
            let n = Double(max(periods, 1))
            return Score(model: model, origins: origins, periods: periods, mae: ae / n, mase: se / n, maseWeekly: sw / n, mape: zero || periods == 0 ? nil : 100 * ape / n,
                         coverage80: Double(in80) / n, coverage95: Double(in95) / n)
        }
    }

    /// The in-sample MAE of the seasonal-naive forecast with the given lag (the MASE denominator,
    /// Hyndman & Koehler 2006).
    public static func naiveScale(_ s: CountSeries, lag: Int) -> Double {
        var t = 0.0, n = 0
        for i in stride(from: lag, to: s.count, by: 1) {
            guard let a = s.values[i], let b = s.values[i - lag] else { continue }
            t += abs(a - b); n += 1
        }
        return n > 0 ? t / Double(n) : 0
    }

    /// Seasonal naive: each period gets the value of the same slot one week earlier (or the latest
    /// earlier week with a value); intervals normal with the in-sample one-week-lag error spread.
    public static func seasonalNaive(_ train: CountSeries, horizon: Int) -> [ForecastPoint] {
        let m = train.frequency.seasonLength, n = train.count
        var sq = 0.0, c = 0
        for i in m..<n { if let a = train.values[i], let b = train.values[i - m] { sq += (a - b) * (a - b); c += 1 } }
        let sd = c > 1 ? (sq / Double(c)).squareRoot() : 0
        return (0..<horizon).map { h in
            let weeks = h / m + 1
            var i = n + h - weeks * m
            while i >= 0 && train.values[i] == nil { i -= m }
            let f = i >= 0 ? train.values[i]! : 0
            let w = sd * Double(weeks).squareRoot()
            return ForecastPoint(start: 0, mean: f, lo80: max(0, f - 1.2816 * w), hi80: f + 1.2816 * w, lo95: max(0, f - 1.96 * w), hi95: f + 1.96 * w)
        }
    }
}
