import Foundation

/// Civil dates on the proleptic Gregorian calendar (H. Hinnant, "chrono-compatible low-level date
/// algorithms"): days since 1970-01-01 ↔ (year, month, day), exact for every Int64 day we meet.
public enum CivilDate {
    public static func days(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public static func civil(days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = Int(doy - (153 * mp + 2) / 5 + 1)
        let m = Int(mp < 10 ? mp + 3 : mp - 9)
        return (Int(yoe + era * 400) + (m <= 2 ? 1 : 0), m, d)
    }

    public static func isValid(year: Int, month: Int, day: Int) -> Bool {
        guard (1...12).contains(month), day >= 1 else { return false }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return day <= lengths[month - 1]
    }

    /// Days since the epoch of an ISO date "YYYY-MM-DD"; nil if it is not one.
    public static func parse(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        guard b.count == 10, b[4] == 0x2D, b[7] == 0x2D else { return nil }
        func num(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r { guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }; v = v * 10 + Int(b[i] - 0x30) }
            return v
        }
        guard let y = num(0..<4), let m = num(5..<7), let d = num(8..<10), isValid(year: y, month: m, day: d) else { return nil }
        return days(year: y, month: m, day: d)
    }
}

/// A time zone's wall clock (default Europe/Berlin, Frankfurt's): UTC instants ↔ local dates and
/// times, with the offsets from the system's tz database. Local times that occur twice (the hour
/// the clocks go back) are taken at their first occurrence; local times that never occur (the hour
/// they go forward) are refused, never silently moved.
public struct LocalClock: Sendable {
    public let zone: TimeZone

    public init(_ identifier: String = "Europe/Berlin") throws(IncidentError) {
        guard let z = TimeZone(identifier: identifier) else { throw .invalid("unknown time zone \(identifier) (an IANA name like Europe/Berlin)") }
        zone = z
    }

    /// The zone's offset from UTC in seconds at a UTC instant.
    public func offset(atUTCSeconds s: Int64) -> Int {
        zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(s)))
    }

    /// The UTC milliseconds of a local wall-clock time, or nil if it does not exist in the zone.
    public func utcMillis(localSeconds l: Int64, millis: Int64 = 0) -> Int64? {
        var best: Int?
        for probe in [offset(atUTCSeconds: l - 14 * 3600), offset(atUTCSeconds: l + 14 * 3600), offset(atUTCSeconds: l - Int64(offset(atUTCSeconds: l)))] {
            guard offset(atUTCSeconds: l - Int64(probe)) == probe else { continue }
            // Both offsets fit (the repeated hour): the larger offset is the earlier instant.
            if best == nil || probe > best! { best = probe }
        }
        guard let best else { return nil }
        return (l - Int64(best)) * 1000 + millis
    }

    /// Local midnight of a date given as days since the epoch.
    public func utcMillis(localDay days: Int64) -> Int64? { utcMillis(localSeconds: days * 86_400) }

    /// The local wall clock of a UTC instant: days since the epoch, milliseconds into that day, and
    /// the offset in seconds.
    public func local(_ utcMillis: Int64) -> (days: Int64, millisOfDay: Int64, offset: Int) {
        let s = utcMillis >= 0 ? utcMillis / 1000 : (utcMillis - 999) / 1000
        let off = offset(atUTCSeconds: s)
        let localMillis = utcMillis + Int64(off) * 1000
        let days = localMillis >= 0 ? localMillis / 86_400_000 : (localMillis - 86_399_999) / 86_400_000
        return (days, localMillis - days * 86_400_000, off)
    }

    /// "2025-01-09" — the local date of an instant.
    public func dateString(_ utcMillis: Int64) -> String { Self.format(days: local(utcMillis).days) }

    public static func format(days: Int64) -> String {
        let c = CivilDate.civil(days: days)
        return pad(c.year, 4) + "-" + pad(c.month, 2) + "-" + pad(c.day, 2)
    }

    /// ISO 8601 in local time with its offset and milliseconds: "2025-01-09T14:03:07.250+01:00";
    /// without them (`milliseconds: false`): "2025-01-09T14:03:07+01:00".
    public func iso(_ utcMillis: Int64, milliseconds: Bool = true) -> String {
        let (days, ms, off) = local(utcMillis)
        let h = Int(ms / 3_600_000), m = Int(ms / 60_000 % 60), s = Int(ms / 1000 % 60), f = Int(ms % 1000)
        let sign = off < 0 ? "-" : "+"
        let a = abs(off)
        return Self.format(days: days) + "T" + Self.pad(h, 2) + ":" + Self.pad(m, 2) + ":" + Self.pad(s, 2) + (milliseconds ? "." + Self.pad(f, 3) : "")
            + sign + Self.pad(a / 3600, 2) + ":" + Self.pad(a / 60 % 60, 2)
    }

    public static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
