import Foundation

/// The negative binomial distribution of a count with mean μ and size θ (variance μ + μ²/θ): the
/// usual model of over-dispersed counts — Poisson as θ → ∞ (Hilbe, *Negative Binomial Regression*,
/// 2nd ed., §8.2, the NB2 parameterisation).
public struct NegativeBinomial: Sendable, Equatable {
    public let mean: Double
    public let size: Double
    /// θ above this is Poisson to well within the quantiles' precision.
    public static let poissonSize = 1e9

    public init(mean: Double, size: Double) {
        precondition(mean >= 0 && size > 0, "NB parameters")
        self.mean = mean; self.size = min(size, Self.poissonSize)
    }

    public var variance: Double { mean + mean * mean / size }

    /// log P(Y = k).
    public func logPMF(_ k: Int) -> Double {
        guard mean > 0 else { return k == 0 ? 0 : -.infinity }
        let kd = Double(k), t = size, m = mean
        if t >= Self.poissonSize { return kd * log(m) - m - lgamma(kd + 1) }
        return lgamma(kd + t) - lgamma(t) - lgamma(kd + 1) + t * log(t / (t + m)) + kd * log(m / (t + m))
    }

    /// Quantiles of the count with each integer's probability spread evenly over [k − ½, k + ½]
    /// (a continuous version of the discrete distribution). An interval between two such quantiles
    /// holds an integer exactly when at least half of that integer's mass lies inside, so integer
    /// outcomes are covered at the nominal rate on average instead of the discrete quantiles'
    /// systematic over-coverage at small means (a 80 % interval of Poisson(3) from discrete
    /// quantiles, 1…5, covers 87 %). `ps` must be ascending in (0, 1).
    public func quantiles(_ ps: [Double]) -> [Double] {
        guard mean > 0 else { return ps.map { _ in 0 } }
        let sd = variance.squareRoot()
        var k = max(0, Int((mean - 14 * sd - 2).rounded(.down)))
        let stop = Int((mean + 14 * sd + 20).rounded(.up))
        var cdf = 0.0
        var out: [Double] = []
        out.reserveCapacity(ps.count)
        var next = 0
        while next < ps.count && k <= stop {
            let p = exp(logPMF(k))
            while next < ps.count && cdf + p >= ps[next] {
                let within = p > 0 ? (ps[next] - cdf) / p : 0.5
                out.append(max(0, Double(k) - 0.5 + within))
                next += 1
            }
            cdf += p
            k += 1
        }
        while out.count < ps.count { out.append(Double(stop)) }
        return out
    }

    /// The maximum-likelihood size θ of counts `y` with known means `mu` (pairs with μ ≤ 0 or a
    /// missing y are skipped): a golden-section search on log θ over [0.1, 10⁹]; returns the upper
    /// end (Poisson) when the counts are not over-dispersed.
    public static func fitSize(y: [Double], mu: [Double]) -> Double {
        var pairs: [(Double, Double)] = []
        for (a, m) in zip(y, mu) where m > 0 && a >= 0 { pairs.append((a.rounded(), m)) }
        guard pairs.count >= 10 else { return poissonSize }
        func nll(_ logT: Double) -> Double {
            let t = exp(logT)
            var s = 0.0
            let lgt: Double = lgamma(t)
            for (k, m) in pairs { s -= lgamma(k + t) - lgt - lgamma(k + 1) + t * log(t / (t + m)) + k * log(m / (t + m)) }
            return s
        }
        var a = log(0.1), b = log(poissonSize)
        let g = (5.0.squareRoot() - 1) / 2
        var c = b - g * (b - a), d = a + g * (b - a)
        var fc = nll(c), fd = nll(d)
        for _ in 0..<60 {
            if fc < fd { b = d; d = c; fd = fc; c = b - g * (b - a); fc = nll(c) } else { a = c; c = d; fc = fd; d = a + g * (b - a); fd = nll(d) }
        }
        return exp((a + b) / 2)
    }
}
