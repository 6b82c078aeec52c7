/// Errors of the incident pipeline's pure parts, worded for the analyst or operator who must act.
public enum IncidentError: Error, Equatable, CustomStringConvertible {
    case invalid(String)
    case mapping(String)
    public var description: String {
        switch self {
        case .invalid(let s): s
        case .mapping(let s): "mapping: \(s)"
        }
    }
}

/// How a timestamp column is written. `iso8601` (the default) takes `2025-01-09`,
/// `2025-01-09 14:03`, `2025-01-09T14:03:07.25`, each with an optional `Z` or `±HH[:MM]`; `epoch`
/// and `epoch-ms` take seconds or milliseconds since 1970 (UTC); anything else is a pattern of
/// strftime's conversions `%Y %m %d %H %M %S %f` (fraction), `%z` (`Z`, `±HH`, `±HHMM`,
/// `±HH:MM`) and `%%`, every other character literal. Times without an offset are local times of
/// the import's zone. A value that has a date but no time of day is known to the day.
public enum TimeFormat: Equatable, Sendable {
    case iso8601
    case epochSeconds
    case epochMillis
    case pattern([Token])

    public enum Token: Equatable, Sendable {
        case year, month, day, hour, minute, second, fraction, zone
        case literal(UInt8)
    }

    public init(_ text: String) throws(IncidentError) {
        switch text {
        case "iso8601", "": self = .iso8601
        case "epoch": self = .epochSeconds
        case "epoch-ms": self = .epochMillis
        default:
            var tokens: [Token] = []
            var b = Array(text.utf8)[...]
            while let c = b.popFirst() {
                guard c == 0x25 else { tokens.append(.literal(c)); continue }
                guard let k = b.popFirst() else { throw .invalid("time format \(text) ends with a lone %") }
                switch k {
                case UInt8(ascii: "Y"): tokens.append(.year)
                case UInt8(ascii: "m"): tokens.append(.month)
                case UInt8(ascii: "d"): tokens.append(.day)
                case UInt8(ascii: "H"): tokens.append(.hour)
                case UInt8(ascii: "M"): tokens.append(.minute)
                case UInt8(ascii: "S"): tokens.append(.second)
                case UInt8(ascii: "f"): tokens.append(.fraction)
                case UInt8(ascii: "z"): tokens.append(.zone)
                case UInt8(ascii: "%"): tokens.append(.literal(0x25))
                default: throw .invalid("time format \(text): %\(Character(Unicode.Scalar(k))) is not supported (use %Y %m %d %H %M %S %f %z %%)")
                }
            }
            guard tokens.contains(.year), tokens.contains(.month), tokens.contains(.day) else {
                throw .invalid("time format \(text) needs %Y, %m and %d")
            }
            self = .pattern(tokens)
        }
    }

    /// A parsed value: UTC milliseconds and whether only the date was given.
    public struct Parsed: Equatable, Sendable { public var utcMillis: Int64; public var precision: TimePrecision }

    public enum Failure: Error, Equatable { case unparseable, nonexistentLocalTime }

    public func parse(_ text: String, clock: LocalClock) -> Result<Parsed, Failure> {
        let b = Array(text.utf8)
        switch self {
        case .epochSeconds, .epochMillis:
            guard let v = Double(text), v.isFinite, abs(v) < 1e15 else { return .failure(.unparseable) }
            let ms = self == .epochSeconds ? v * 1000 : v
            return .success(Parsed(utcMillis: Int64(ms.rounded()), precision: .exact))
        case .iso8601:
            return Self.parseISO(b, clock: clock)
        case .pattern(let tokens):
            var f = Fields()
            var i = 0
            for t in tokens {
                switch t {
                case .literal(let c):
                    guard i < b.count, b[i] == c else { return .failure(.unparseable) }
                    i += 1
                case .year: guard let v = Self.digits(b, &i, min: 4, max: 4) else { return .failure(.unparseable) }; f.year = v
                case .month: guard let v = Self.digits(b, &i, min: 1, max: 2) else { return .failure(.unparseable) }; f.month = v
                case .day: guard let v = Self.digits(b, &i, min: 1, max: 2) else { return .failure(.unparseable) }; f.day = v
                case .hour: guard let v = Self.digits(b, &i, min: 1, max: 2) else { return .failure(.unparseable) }; f.hour = v
                case .minute: guard let v = Self.digits(b, &i, min: 2, max: 2) else { return .failure(.unparseable) }; f.minute = v
                case .second: guard let v = Self.digits(b, &i, min: 2, max: 2) else { return .failure(.unparseable) }; f.second = v
                case .fraction: guard let ms = Self.fraction(b, &i) else { return .failure(.unparseable) }; f.millis = ms
                case .zone: guard let z = Self.zone(b, &i) else { return .failure(.unparseable) }; f.offset = z
                }
            }
            guard i == b.count else { return .failure(.unparseable) }
            if !tokens.contains(.hour) { f.dateOnly = true }
            return f.resolve(clock: clock)
        }
    }

    struct Fields {
        var year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0
        var millis: Int64 = 0
        var offset: Int?
        var dateOnly = false

        func resolve(clock: LocalClock) -> Result<Parsed, Failure> {
            guard CivilDate.isValid(year: year, month: month, day: day), hour < 24, minute < 60, second < 60 else { return .failure(.unparseable) }
            let days = CivilDate.days(year: year, month: month, day: day)
            let localSeconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second)
            let precision: TimePrecision = dateOnly ? .day : .exact
            if let offset { return .success(Parsed(utcMillis: (localSeconds - Int64(offset)) * 1000 + millis, precision: precision)) }
            guard let utc = clock.utcMillis(localSeconds: localSeconds, millis: millis) else { return .failure(.nonexistentLocalTime) }
            return .success(Parsed(utcMillis: utc, precision: precision))
        }
    }

    static func parseISO(_ b: [UInt8], clock: LocalClock) -> Result<Parsed, Failure> {
        var f = Fields()
        var i = 0
        guard let y = digits(b, &i, min: 4, max: 4), i < b.count, b[i] == 0x2D else { return .failure(.unparseable) }
        i += 1
        guard let m = digits(b, &i, min: 2, max: 2), i < b.count, b[i] == 0x2D else { return .failure(.unparseable) }
        i += 1
        guard let d = digits(b, &i, min: 2, max: 2) else { return .failure(.unparseable) }
        (f.year, f.month, f.day) = (y, m, d)
        if i == b.count { f.dateOnly = true; return f.resolve(clock: clock) }
        guard b[i] == UInt8(ascii: "T") || b[i] == 0x20 else { return .failure(.unparseable) }
        i += 1
        guard let h = digits(b, &i, min: 2, max: 2), i < b.count, b[i] == 0x3A else { return .failure(.unparseable) }
        i += 1
        guard let mi = digits(b, &i, min: 2, max: 2) else { return .failure(.unparseable) }
        (f.hour, f.minute) = (h, mi)
        if i < b.count, b[i] == 0x3A {
            i += 1
            guard let s = digits(b, &i, min: 2, max: 2) else { return .failure(.unparseable) }
            f.second = s
            if i < b.count, b[i] == 0x2E || b[i] == 0x2C {
                i += 1
                guard let ms = fraction(b, &i) else { return .failure(.unparseable) }
                f.millis = ms
            }
        }
        if i < b.count {
            guard let z = zone(b, &i) else { return .failure(.unparseable) }
            f.offset = z
        }
        guard i == b.count else { return .failure(.unparseable) }
        return f.resolve(clock: clock)
    }

    static func digits(_ b: [UInt8], _ i: inout Int, min: Int, max: Int) -> Int? {
        var v = 0, n = 0
        while i < b.count, n < max, b[i] >= 0x30, b[i] <= 0x39 { v = v * 10 + Int(b[i] - 0x30); i += 1; n += 1 }
        return n >= min ? v : nil
    }

    /// 1–9 digits of a decimal fraction of a second, as milliseconds (truncated).
    static func fraction(_ b: [UInt8], _ i: inout Int) -> Int64? {
        var ms: Int64 = 0, n = 0
        while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
            if n < 3 { ms = ms * 10 + Int64(b[i] - 0x30) }
            n += 1; i += 1
        }
        guard (1...9).contains(n) else { return nil }
        if n < 3 { for _ in n..<3 { ms *= 10 } }
        return ms
    }

    static func zone(_ b: [UInt8], _ i: inout Int) -> Int? {
        guard i < b.count else { return nil }
        if b[i] == UInt8(ascii: "Z") { i += 1; return 0 }
        guard b[i] == 0x2B || b[i] == 0x2D else { return nil }
        let sign = b[i] == 0x2D ? -1 : 1
        i += 1
        guard let h = digits(b, &i, min: 2, max: 2), h <= 14 else { return nil }
        var m = 0
        if i < b.count, b[i] == 0x3A { i += 1 }
        if i < b.count, let mm = digits(b, &i, min: 2, max: 2) { m = mm }
        guard m < 60 else { return nil }
        return sign * (h * 3600 + m * 60)
    }
}
