/// A volunteer's pseudonymous id ("V-7f3a…"): issued by the helper platform, never a name.
public struct VolunteerID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let raw: String
    public init(_ raw: String) throws(HelpersError) {
        guard (1...64).contains(raw.utf8.count), raw.utf8.allSatisfy({ HelpersError.isNameByte($0) }) else {
            throw .invalid("volunteer id '\(raw.prefix(80))': 1–64 of A–Z a–z 0–9 - _ .")
        }
        self.raw = raw
    }
    public static func < (a: Self, b: Self) -> Bool { a.raw.utf8.lexicographicallyPrecedes(b.raw.utf8) }
    public var description: String { raw }
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(text) } catch { throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description)) }
    }
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(raw) }
}

/// A request for help's id ("H-000001"), minted by the state.
public struct RequestID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let raw: String
    public init(_ raw: String) { self.raw = raw }
    public static func < (a: Self, b: Self) -> Bool { a.raw.utf8.lexicographicallyPrecedes(b.raw.utf8) }
    public var description: String { raw }
    public init(from decoder: Decoder) throws { raw = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(raw) }
}

/// A position on the city's planar grid, metres (EPSG:3035 easting and northing, as the incident
/// pipeline's grid cells). Exact positions are kept only where the task needs them: a request's
/// place, and a volunteer's shared location while an ask to them is open.
public struct GridPoint: Equatable, Codable, Sendable {
    public var x: Int64, y: Int64
    public init(x: Int64, y: Int64) { self.x = x; self.y = y }
    public func distance(to o: GridPoint) -> Double {
        let dx = Double(x - o.x), dy = Double(y - o.y)
        return (dx * dx + dy * dy).squareRoot()
    }
}

/// A volunteer's home as a coarse cell: the 500 m square the home lies in, never the address.
public struct HomeCell: Hashable, Codable, Sendable, Comparable {
    public static let size: Int64 = 500
    /// 20,000 cells of 500 m: 10,000 km, the extent of EPSG:3035.
    public static let maxIndex: Int32 = 20_000
    public var col: Int32, row: Int32
    public init(col: Int32, row: Int32) { self.col = col; self.row = row }
    public init(containing p: GridPoint) { col = Int32(p.x / Self.size); row = Int32(p.y / Self.size) }
    /// The cell's centre: where travel times are estimated from.
    public var centre: GridPoint { GridPoint(x: Int64(col) * Self.size + Self.size / 2, y: Int64(row) * Self.size + Self.size / 2) }
    public static func < (a: Self, b: Self) -> Bool { (a.col, a.row) < (b.col, b.row) }
}

/// A skill, who verified it and until when (a first-aid course, a chainsaw licence, a language).
public struct SkillCredential: Equatable, Codable, Sendable {
    public var skill: String
    public var verifiedBy: String
    /// UTC milliseconds.
    public var validUntil: Int64
    public init(skill: String, verifiedBy: String, validUntil: Int64) { self.skill = skill; self.verifiedBy = verifiedBy; self.validUntil = validUntil }
}

/// When a volunteer may be asked: absolute windows [from, to) in UTC milliseconds, as the
/// volunteer sets them in the platform's app ("available today 14–22 h").
public struct TimeWindow: Equatable, Codable, Sendable {
    public var from: Int64, to: Int64
    public init(from: Int64, to: Int64) { self.from = from; self.to = to }
    public func contains(_ t: Int64) -> Bool { t >= from && t < to }
}

/// Rest rules: at most `maxMinutesPerDay` on site in a day (UTC day of the state's clock plus
/// the configured offset), and at least `minRestMinutes` between a check-out and the next ask.
public struct RestRule: Equatable, Codable, Sendable {
    public var maxMinutesPerDay: Int
    public var minRestMinutes: Int
    public init(maxMinutesPerDay: Int = 600, minRestMinutes: Int = 480) { self.maxMinutesPerDay = maxMinutesPerDay; self.minRestMinutes = minRestMinutes }
}

/// A volunteer in the registry, with the least data that works: a pseudonym, verified skills, a
/// coarse home cell, availability, languages, rest rules and the platform that reaches them.
/// No name, no address, no phone number — the platform keeps those; a name reaches the state
/// only with an acceptance, and only for that request.
public struct Volunteer: Equatable, Codable, Sendable {
    public var id: VolunteerID
    public var skills: [SkillCredential]
    public var home: HomeCell
    public var availability: [TimeWindow]
    public var languages: [String]
    public var rest: RestRule
    /// The helper platform (gateway) that carries asks to this person.
    public var platform: String

    public init(id: VolunteerID, skills: [SkillCredential], home: HomeCell, availability: [TimeWindow], languages: [String] = [], rest: RestRule = RestRule(), platform: String) {
        self.id = id; self.skills = skills; self.home = home; self.availability = availability
        self.languages = languages; self.rest = rest; self.platform = platform
    }

    /// Bounds for what a platform may register: plausible sizes and times, so no field can
    /// overflow the router's arithmetic or bloat the replicated state.
    public func validate() throws(HelpersError) {
        guard (1...40).contains(platform.utf8.count), platform.utf8.allSatisfy({ HelpersError.isNameByte($0) }) else {
            throw .invalid("platform '\(platform.prefix(60))': 1–40 of A–Z a–z 0–9 - _ .")
        }
        guard !skills.isEmpty, skills.count <= 32, skills.allSatisfy({ (1...64).contains($0.skill.utf8.count) && $0.verifiedBy.utf8.count <= 80 }) else {
            throw .invalid("skills: 1–32, each 1–64 bytes, verifiedBy at most 80")
        }
        guard availability.count <= 64, availability.allSatisfy({ $0.to > $0.from && $0.from >= 0 && $0.to <= HelpersError.latestTime }) else {
            throw .invalid("availability: at most 64 windows, each ending after it starts, before 2100")
        }
        guard (0...HomeCell.maxIndex).contains(home.col), (0...HomeCell.maxIndex).contains(home.row) else { throw .invalid("home cell outside the grid (0…\(HomeCell.maxIndex))") }
        guard (0...1440).contains(rest.maxMinutesPerDay), (0...10_080).contains(rest.minRestMinutes) else { throw .invalid("rest: maxMinutesPerDay 0…1440, minRestMinutes 0…10080") }
        guard languages.count <= 16, languages.allSatisfy({ (1...16).contains($0.utf8.count) }) else { throw .invalid("languages: at most 16, each 1–16 bytes") }
    }

    public func has(_ skill: String, at t: Int64) -> Bool { skills.contains { $0.skill == skill && $0.validUntil > t } }
    public func isAvailable(at t: Int64) -> Bool { availability.contains { $0.contains(t) } }
}

/// Errors of the helpers domain, worded for the person who must act on them.
public enum HelpersError: Error, Equatable, CustomStringConvertible {
    case invalid(String)
    case unknown(String)
    case conflict(String)
    case forbidden(String)

    public var description: String {
        switch self {
        case .invalid(let s): "invalid: \(s)"
        case .unknown(let s): "unknown: \(s)"
        case .conflict(let s): "not possible: \(s)"
        case .forbidden(let s): "forbidden: \(s)"
        }
    }

    /// 2100-01-01 in UTC milliseconds: no time in a command may lie beyond it.
    public static let latestTime: Int64 = 4_102_444_800_000
    /// Positions are metres on EPSG:3035, whose easting and northing lie within 0 … 10,000 km.
    public static func isOnGrid(_ p: GridPoint) -> Bool { (0...10_000_000).contains(p.x) && (0...10_000_000).contains(p.y) }

    static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F || b == 0x2E
    }
}
