import Foundation

/// Generalises a position to a cell of the European statistical grid: ETRS89-LAEA (EPSG:3035),
/// cells of `metres` (default 500 m) named as INSPIRE and Germany's Zensus 2022 name them,
/// `CRS3035RES500mN3004500E4176000` (north and east of the cell's lower-left corner). The grid is
/// the one official statistics publish on, so an analyst can join our counts with population
/// cells; the exact position is never exported.
public struct GridCell: Equatable, Sendable {
    public var metres: Int
    public var northing: Int64
    public var easting: Int64

    /// The cell sizes we offer: each a divisor of the next, as the Zensus grids are.
    public static let sizes = [100, 250, 500, 1000, 10000]

    public init?(latE6: Int64, lonE6: Int64, metres: Int) {
        guard Self.sizes.contains(metres), let (e, n) = Self.project(lat: Double(latE6) / 1e6, lon: Double(lonE6) / 1e6) else { return nil }
        let m = Int64(metres)
        self.metres = metres
        easting = Int64((e / Double(m)).rounded(.down)) * m
        northing = Int64((n / Double(m)).rounded(.down)) * m
    }

    public var id: String { "CRS3035RES\(metres)mN\(northing)E\(easting)" }

    /// Lambert Azimuthal Equal Area on GRS 80 with EPSG:3035's parameters (φ₀ 52° N, λ₀ 10° E,
    /// false easting 4 321 000 m, false northing 3 210 000 m), after IOGP Guidance Note 7-2
    /// §3.2.2.2 (method 9820). Its worked example: 50° N 5° E → E 3 962 799.45, N 2 999 718.85.
    /// Nil outside Europe's extent (|λ − λ₀| > 60°, φ < 20°), where the grid is not defined.
    public static func project(lat: Double, lon: Double) -> (easting: Double, northing: Double)? {
        guard lat >= 20, lat <= 85, abs(lon - 10) <= 60 else { return nil }
        let a = 6_378_137.0, f = 1 / 298.257222101
        let e2 = f * (2 - f), e = e2.squareRoot()
        func q(_ phi: Double) -> Double {
            let s = sin(phi)
            return (1 - e2) * (s / (1 - e2 * s * s) - (1 / (2 * e)) * log((1 - e * s) / (1 + e * s)))
        }
        let phi0 = 52.0 * .pi / 180, lambda0 = 10.0 * .pi / 180
        let phi = lat * .pi / 180, lambda = lon * .pi / 180
        let qP = q(.pi / 2), q0 = q(phi0), qq = q(phi)
        let beta = asin(qq / qP), beta0 = asin(q0 / qP)
        let rq = a * (qP / 2).squareRoot()
        let d = a * (cos(phi0) / (1 - e2 * sin(phi0) * sin(phi0)).squareRoot()) / (rq * cos(beta0))
        let b = rq * (2 / (1 + sin(beta0) * sin(beta) + cos(beta0) * cos(beta) * cos(lambda - lambda0))).squareRoot()
        let easting = 4_321_000 + b * d * cos(beta) * sin(lambda - lambda0)
        let northing = 3_210_000 + (b / d) * (cos(beta0) * sin(beta) - sin(beta0) * cos(beta) * cos(lambda - lambda0))
        return (easting, northing)
    }
}
