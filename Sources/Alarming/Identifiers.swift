/// The kinds of thing the alarm domain names; each gets its own identifier type, so a unit id can
/// never be passed where a station id is meant.
public enum StationTag {}
public enum UnitTag {}
public enum AlertGroupTag {}
public enum SirenTag {}
public enum AreaTag {}
public enum ChannelTag {}
public enum IncidentTag {}
public enum OrderTag {}

/// A registry or order identifier: 1–64 characters, letters (also German ones), digits, space and
/// `- _ / . ( )`, no leading or trailing space. Encoded as a plain JSON string; as a dictionary key
/// it encodes as a JSON object key, so sorted-key JSON of the state is canonical.
public struct Identifier<Tag>: Hashable, Comparable, Sendable, Codable, CodingKeyRepresentable,
                               CustomStringConvertible, ExpressibleByStringLiteral {
    public static var maxCount: Int { 64 }
    public let rawValue: String

    /// - Throws: `AlarmError.invalid` when `rawValue` breaks the rules above.
    public init(_ rawValue: String) throws(AlarmError) {
        if let reason = Self.problem(rawValue) { throw .invalid("identifier \"\(rawValue.prefix(80))\" \(reason)") }
        self.rawValue = rawValue
    }

    /// For literals in code and tests; traps on an invalid literal (a programming error).
    public init(stringLiteral value: String) {
        precondition(Self.problem(value) == nil, "invalid identifier literal \(value)")
        rawValue = value
    }

    static func problem(_ s: String) -> String? {
        let count = s.count
        if count == 0 { return "is empty" }
        if count > maxCount { return "is longer than \(maxCount) characters" }
        if s.first == " " || s.last == " " { return "starts or ends with a space" }
        for c in s.unicodeScalars where !(c.properties.isAlphabetic || ("0"..."9").contains(c) || " -_/.()".unicodeScalars.contains(c)) {
            return "contains \"\(c.escaped(asASCII: true))\" (allowed: letters, digits, space, - _ / . ( ))"
        }
        return nil
    }

    public static func < (a: Self, b: Self) -> Bool { a.rawValue.utf8.lexicographicallyPrecedes(b.rawValue.utf8) }
    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(raw) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }

    public var codingKey: any CodingKey { Key(stringValue: rawValue) }
    public init?<T: CodingKey>(codingKey: T) {
        guard Self.problem(codingKey.stringValue) == nil else { return nil }
        rawValue = codingKey.stringValue
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

public typealias StationID = Identifier<StationTag>
public typealias UnitID = Identifier<UnitTag>
public typealias AlertGroupID = Identifier<AlertGroupTag>
public typealias SirenID = Identifier<SirenTag>
/// A Stadtteil (city district): the area an incident lies in.
public typealias AreaID = Identifier<AreaTag>
/// A paging channel (one POCSAG transmitter network on one frequency).
public typealias ChannelID = Identifier<ChannelTag>
public typealias IncidentID = Identifier<IncidentTag>
public typealias OrderID = Identifier<OrderTag>

/// Why the alarm domain refused something; written for the dispatcher or operator who sent it.
public enum AlarmError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The command, query or document is malformed or breaks a rule.
    case invalid(String)
    /// It names something that does not exist.
    case unknown(String)
    /// It is valid but not now (a unit not available, an order already closed…).
    case conflict(String)
    /// The sender's role may not do this.
    case forbidden(String)

    public var description: String {
        switch self {
        case .invalid(let s): "invalid: \(s)"
        case .unknown(let s): "unknown: \(s)"
        case .conflict(let s): "not possible: \(s)"
        case .forbidden(let s): "forbidden: \(s)"
        }
    }
}
