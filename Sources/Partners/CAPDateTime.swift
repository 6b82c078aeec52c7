/// A CAP date and time (§3.3.2; the schema's pattern on xs:dateTime):
/// `YYYY-MM-DDThh:mm:ss±hh:mm`, always with a numeric offset. Alphabetic time zone designators such
/// as "Z" must not be used; UTC is "-00:00", and that is how an offset of zero is written back
/// ("+00:00" reads as the same value). No fractional seconds. Only real calendar dates and times of
/// day exist as values (years 0001…9999, offsets within ±14:00): the initialisers refuse the rest.
public struct CAPDateTime: Hashable, Sendable, CustomStringConvertible {
    public let year: Int, month: Int, day: Int
    public let hour: Int, minute: Int, second: Int
    /// Minutes east of UTC.
    public let offsetMinutes: Int

    public init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, offsetMinutes: Int) throws(CAPError) {
        guard (1...9999).contains(year) else { throw CAPError("the year \(year) is outside 0001…9999") }
        guard (1...12).contains(month) else { throw CAPError("there is no month \(month)") }
        let date = "\(Self.digits(year, 4))-\(Self.digits(month, 2))-\(Self.digits(day, 2))"
        guard (1...Self.days(inMonth: month, of: year)).contains(day) else { throw CAPError("\(date) is not a calendar date") }
        guard (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second) else {
            throw CAPError("\(Self.digits(hour, 2)):\(Self.digits(minute, 2)):\(Self.digits(second, 2)) is not a time of day")
        }
        guard (-14 * 60...14 * 60).contains(offsetMinutes) else { throw CAPError("the time zone offset is beyond ±14:00") }
        self.year = year; self.month = month; self.day = day
        self.hour = hour; self.minute = minute; self.second = second
        self.offsetMinutes = offsetMinutes
    }

    /// Reads the CAP form exactly; the reason says what is wrong.
    public init(_ text: String) throws(CAPError) {
        let u = Array(text.utf8)
        let form = "\"\(text.prefix(40))\" is not a CAP date and time (YYYY-MM-DDThh:mm:ss±hh:mm)"
        if let last = u.last, (0x41...0x5A).contains(last) || (0x61...0x7A).contains(last) {
            throw CAPError("\(form): alphabetic time zone designators such as Z are not allowed, UTC is -00:00")
        }
        guard u.count == 25 else {
            if u.count > 19, u[19] == UInt8(ascii: ".") { throw CAPError("\(form): no fractional seconds") }
            if u.count == 19 { throw CAPError("\(form): the numeric time zone offset is missing") }
            throw CAPError(form)
        }
        let separators: [Int: UInt8] = [4: 0x2D, 7: 0x2D, 10: 0x54, 13: 0x3A, 16: 0x3A, 22: 0x3A]
        for (i, c) in u.enumerated() {
            let ok = i == 19 ? (c == 0x2B || c == 0x2D) : separators[i].map { c == $0 } ?? (0x30...0x39).contains(c)
            guard ok else { throw CAPError(form) }
        }
        func number(_ range: Range<Int>) -> Int { u[range].reduce(0) { $0 * 10 + Int($1 - 0x30) } }
        let zoneHours = number(20..<22), zoneMinutes = number(23..<25)
        guard zoneMinutes < 60 else { throw CAPError("\(form): the offset's minutes exceed 59") }
        try self.init(year: number(0..<4), month: number(5..<7), day: number(8..<10), hour: number(11..<13),
                      minute: number(14..<16), second: number(17..<19),
                      offsetMinutes: (u[19] == 0x2D ? -1 : 1) * (zoneHours * 60 + zoneMinutes))
    }

    public var description: String {
        let zone = abs(offsetMinutes)
        return "\(Self.digits(year, 4))-\(Self.digits(month, 2))-\(Self.digits(day, 2))T"
            + "\(Self.digits(hour, 2)):\(Self.digits(minute, 2)):\(Self.digits(second, 2))"
            + "\(offsetMinutes > 0 ? "+" : "-")\(Self.digits(zone / 60, 2)):\(Self.digits(zone % 60, 2))"
    }

    static func days(inMonth month: Int, of year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    static func digits(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}
