/// The alarm dispatcher's master data: stations (Wachen), units (Einsatzmittel), alert groups
/// (Alarmgruppen), sirens, paging channels, areas (Stadtteile) with their station order
/// (Ausrückefolge), the AAO rules and the deadlines. Loaded as one JSON document
/// (`ops/config/frankfurt-registry.json` is a sample) and applied as a command, so every node holds
/// the same. `validated()` refuses a document with dangling references or duplicates.
public struct Registry: Codable, Equatable, Sendable {
    /// Free text shown with the registry (e.g. "SAMPLE DATA — not the real Frankfurt registry").
    public var notice: String?
    public var timing: Timing
    public var channels: [Channel]
    public var stations: [Station]
    public var units: [Unit]
    public var alertGroups: [AlertGroup]
    public var sirens: [Siren]
    public var areas: [Area]
    public var aao: [AAORule]
    /// Derived from the lists above (not encoded): id → position, so lookups are O(1).
    private var lookup = Lookup()

    struct Lookup: Equatable, Sendable {
        var units: [UnitID: Int] = [:]
        var stations: [StationID: Int] = [:]
        var groups: [AlertGroupID: Int] = [:]
        var sirens: [SirenID: Int] = [:]
        // Derived data: equal lists give equal lookups.
        static func == (a: Lookup, b: Lookup) -> Bool { true }
    }

    enum CodingKeys: String, CodingKey { case notice, timing, channels, stations, units, alertGroups, sirens, areas, aao }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(notice: try c.decodeIfPresent(String.self, forKey: .notice), timing: try c.decode(Timing.self, forKey: .timing),
                  channels: try c.decode([Channel].self, forKey: .channels), stations: try c.decode([Station].self, forKey: .stations),
                  units: try c.decode([Unit].self, forKey: .units), alertGroups: try c.decode([AlertGroup].self, forKey: .alertGroups),
                  sirens: try c.decode([Siren].self, forKey: .sirens), areas: try c.decode([Area].self, forKey: .areas),
                  aao: try c.decode([AAORule].self, forKey: .aao))
    }

    private mutating func buildLookup() {
        lookup = Lookup()
        for (k, u) in units.enumerated() where lookup.units[u.id] == nil { lookup.units[u.id] = k }
        for (k, s) in stations.enumerated() where lookup.stations[s.id] == nil { lookup.stations[s.id] = k }
        for (k, g) in alertGroups.enumerated() where lookup.groups[g.id] == nil { lookup.groups[g.id] = k }
        for (k, s) in sirens.enumerated() where lookup.sirens[s.id] == nil { lookup.sirens[s.id] = k }
    }

    /// The area an incident at `position` lies in: the one with the nearest centre, if that is
    /// within `Position.maxAreaDistanceMetres` (else the point is outside the registry's city).
    public func area(at position: Position) -> AreaID? {
        var best: (AreaID, Int64)?
        for a in areas {
            guard let c = a.centre else { continue }
            let d = c.squaredDistance(to: position)
            if best == nil || d < best!.1 { best = (a.id, d) }
        }
        guard let (id, d) = best, d <= Position.maxAreaDistanceMetres * Position.maxAreaDistanceMetres else { return nil }
        return id
    }

    public func unit(_ id: UnitID) -> Unit? { lookup.units[id].map { units[$0] } }
    public func station(_ id: StationID) -> Station? { lookup.stations[id].map { stations[$0] } }
    public func group(_ id: AlertGroupID) -> AlertGroup? { lookup.groups[id].map { alertGroups[$0] } }
    public func siren(_ id: SirenID) -> Siren? { lookup.sirens[id].map { sirens[$0] } }

    public init(notice: String? = nil, timing: Timing = Timing(), channels: [Channel], stations: [Station], units: [Unit],
                alertGroups: [AlertGroup], sirens: [Siren], areas: [Area], aao: [AAORule]) {
        self.notice = notice
        self.timing = timing
        self.channels = channels
        self.stations = stations
        self.units = units
        self.alertGroups = alertGroups
        self.sirens = sirens
        self.areas = areas
        self.aao = aao
        buildLookup()
    }

    /// Deadlines, in seconds of the state clock.
    public struct Timing: Codable, Equatable, Sendable {
        /// A station line must ACK an alarm within this (then the station's fallback groups are paged).
        public var lineAckSeconds: Int
        /// A page must be aired within this (then the units' station lines are used as fallback).
        public var pageAirSeconds: Int
        /// A siren call must be aired within this.
        public var sirenAirSeconds: Int
        /// A unit of a professional station must acknowledge (status 3) within this, else it is re-alarmed once.
        public var professionalAckSeconds: Int
        /// The same for a volunteer brigade (longer: the crew comes from home).
        public var volunteerAckSeconds: Int
        /// A gateway lease lasts this long unless renewed.
        public var leaseSeconds: Int

        public init(lineAckSeconds: Int = 10, pageAirSeconds: Int = 60, sirenAirSeconds: Int = 60,
                    professionalAckSeconds: Int = 90, volunteerAckSeconds: Int = 300, leaseSeconds: Int = 6) {
            self.lineAckSeconds = lineAckSeconds
            self.pageAirSeconds = pageAirSeconds
            self.sirenAirSeconds = sirenAirSeconds
            self.professionalAckSeconds = professionalAckSeconds
            self.volunteerAckSeconds = volunteerAckSeconds
            self.leaseSeconds = leaseSeconds
        }
    }

    /// A POCSAG paging channel.
    public struct Channel: Codable, Equatable, Sendable {
        public var id: ChannelID
        /// 512, 1200 or 2400 bit/s.
        public var baud: Int
        public init(id: ChannelID, baud: Int) { self.id = id; self.baud = baud }
    }

    public enum StationKind: String, Codable, Sendable {
        /// Berufsfeuerwehr: Feuer- und Rettungswache with a permanent crew.
        case professional
        /// Freiwillige Feuerwehr: volunteers alerted at home by pager and siren.
        case volunteer
    }

    /// A station's wired alerting line (station-alert protocol, Protocols/station-alert.md).
    public struct Line: Codable, Equatable, Sendable {
        /// The device must be heard at least this often; silence longer than this is a line fault.
        public var supervisionSeconds: Int
        /// Outputs the station device drives on an alarm (gong, lights, doors, printer, …).
        public var outputs: [String]
        public init(supervisionSeconds: Int = 10, outputs: [String] = ["gong", "lights", "doors", "printer"]) {
            self.supervisionSeconds = supervisionSeconds
            self.outputs = outputs
        }
    }

    public struct Station: Codable, Equatable, Sendable {
        public var id: StationID
        public var name: String
        public var kind: StationKind
        public var area: AreaID
        /// nil: the station has no wired line (reached only by pagers and sirens).
        public var line: Line?
        /// Paged when the station's line fails or does not ACK in time.
        public var fallbackGroups: [AlertGroupID]
        public init(id: StationID, name: String, kind: StationKind, area: AreaID, line: Line?, fallbackGroups: [AlertGroupID] = []) {
            self.id = id
            self.name = name
            self.kind = kind
            self.area = area
            self.line = line
            self.fallbackGroups = fallbackGroups
        }
    }

    public struct Unit: Codable, Equatable, Sendable {
        public var id: UnitID
        /// HLF, LF, DLK, ELW, RW, TLF, GW-…, RTW, NEF, … (upper-case letters, digits, '-').
        public var type: String
        public var station: StationID
        /// Alert groups whose pagers this unit's crew carries (volunteers; professional crews use the line).
        public var groups: [AlertGroupID]
        /// Sirens sounded when this unit is alarmed (volunteer brigades).
        public var sirens: [SirenID]
        public init(id: UnitID, type: String, station: StationID, groups: [AlertGroupID] = [], sirens: [SirenID] = []) {
            self.id = id
            self.type = type
            self.station = station
            self.groups = groups
            self.sirens = sirens
        }
    }

    /// An Alarmgruppe: the pagers listening to one RIC with one function bit on one channel.
    public struct AlertGroup: Codable, Equatable, Sendable {
        public var id: AlertGroupID
        public var channel: ChannelID
        /// 0 … 2 097 151 (21 bits, ITU-R M.584).
        public var ric: UInt32
        /// Function bits "A" … "D".
        public var function: String
        public var station: StationID
        public init(id: AlertGroupID, channel: ChannelID, ric: UInt32, function: String, station: StationID) {
            self.id = id
            self.channel = channel
            self.ric = ric
            self.function = function
            self.station = station
        }
        /// The function bits as 0…3.
        public var functionBits: UInt8 { UInt8(function.unicodeScalars.first!.value - 65) }
    }

    /// A siren triggered by a ZVEI five-tone call.
    public struct Siren: Codable, Equatable, Sendable {
        public var id: SirenID
        /// Five digits 0–9.
        public var zvei: String
        public var area: AreaID
        public init(id: SirenID, zvei: String, area: AreaID) { self.id = id; self.zvei = zvei; self.area = area }
    }

    /// A Stadtteil with its Ausrückefolge: the stations in the order they are asked for units.
    public struct Area: Codable, Equatable, Sendable {
        public var id: AreaID
        public var stationOrder: [StationID]
        /// A point inside the area: an incident given by coordinates lies in the area whose centre
        /// is nearest (within `Position.maxAreaDistanceMetres`).
        public var centre: Position?
        public init(id: AreaID, stationOrder: [StationID], centre: Position? = nil) {
            self.id = id; self.stationOrder = stationOrder; self.centre = centre
        }
    }

    /// Validates the document; returns it unchanged or throws the first problem found, naming it.
    public func validated() throws(AlarmError) -> Registry {
        func unique<ID: Hashable & CustomStringConvertible>(_ ids: [ID], _ what: String) throws(AlarmError) -> Set<ID> {
            var seen = Set<ID>()
            for id in ids where !seen.insert(id).inserted { throw .invalid("\(what) \(id) is defined twice") }
            return seen
        }
        let channelIDs = try unique(channels.map(\.id), "channel")
        let stationIDs = try unique(stations.map(\.id), "station")
        _ = try unique(units.map(\.id), "unit")
        let groupIDs = try unique(alertGroups.map(\.id), "alert group")
        let sirenIDs = try unique(sirens.map(\.id), "siren")
        let areaIDs = try unique(areas.map(\.id), "area")
        if let n = notice, n.count > 500 { throw .invalid("notice is longer than 500 characters") }

        let t = timing
        for (name, v, range) in [("lineAckSeconds", t.lineAckSeconds, 1...600), ("pageAirSeconds", t.pageAirSeconds, 1...3600),
                                 ("sirenAirSeconds", t.sirenAirSeconds, 1...3600), ("professionalAckSeconds", t.professionalAckSeconds, 10...3600),
                                 ("volunteerAckSeconds", t.volunteerAckSeconds, 10...3600), ("leaseSeconds", t.leaseSeconds, 2...120)]
            where !range.contains(v) {
            throw .invalid("timing.\(name) is \(v), allowed \(range.lowerBound)…\(range.upperBound)")
        }
        for c in channels where ![512, 1200, 2400].contains(c.baud) {
            throw .invalid("channel \(c.id): baud \(c.baud) (allowed 512, 1200, 2400)")
        }
        for s in stations {
            try Self.checkText(s.name, "station \(s.id) name", max: 120)
            guard areaIDs.contains(s.area) else { throw .unknown("station \(s.id) lies in area \(s.area), which is not defined") }
            if let line = s.line {
                guard (2...300).contains(line.supervisionSeconds) else {
                    throw .invalid("station \(s.id): line supervisionSeconds \(line.supervisionSeconds), allowed 2…300")
                }
                guard line.outputs.count <= 16, line.outputs.allSatisfy({ Self.isToken($0, max: 32) }) else {
                    throw .invalid("station \(s.id): line outputs must be up to 16 words of a-z, 0-9, -")
                }
            }
            for g in s.fallbackGroups where !groupIDs.contains(g) { throw .unknown("station \(s.id) falls back to alert group \(g), which is not defined") }
        }
        for u in units {
            guard Self.isUnitType(u.type) else { throw .invalid("unit \(u.id): type \"\(u.type)\" (use upper-case letters, digits, '-', up to 16)") }
            guard stationIDs.contains(u.station) else { throw .unknown("unit \(u.id) belongs to station \(u.station), which is not defined") }
            for g in u.groups where !groupIDs.contains(g) { throw .unknown("unit \(u.id) is paged by alert group \(g), which is not defined") }
            for s in u.sirens where !sirenIDs.contains(s) { throw .unknown("unit \(u.id) sounds siren \(s), which is not defined") }
        }
        var addresses = Set<String>()
        for g in alertGroups {
            guard channelIDs.contains(g.channel) else { throw .unknown("alert group \(g.id) is on channel \(g.channel), which is not defined") }
            guard g.ric <= (1 << 21) - 1 else { throw .invalid("alert group \(g.id): RIC \(g.ric) is above 2097151") }
            guard ["A", "B", "C", "D"].contains(g.function) else { throw .invalid("alert group \(g.id): function \"\(g.function)\" (A, B, C or D)") }
            guard stationIDs.contains(g.station) else { throw .unknown("alert group \(g.id) belongs to station \(g.station), which is not defined") }
            guard addresses.insert("\(g.channel)/\(g.ric)/\(g.function)").inserted else {
                throw .invalid("alert group \(g.id): channel \(g.channel) RIC \(g.ric) function \(g.function) is used by another group")
            }
        }
        for s in sirens {
            guard s.zvei.count == 5, s.zvei.allSatisfy({ $0.isASCII && $0.isNumber }) else { throw .invalid("siren \(s.id): ZVEI address \"\(s.zvei)\" must be five digits") }
            guard areaIDs.contains(s.area) else { throw .unknown("siren \(s.id) stands in area \(s.area), which is not defined") }
        }
        for a in areas {
            if let c = a.centre, let problem = c.problem { throw .invalid("area \(a.id) centre: \(problem)") }
            guard !a.stationOrder.isEmpty else { throw .invalid("area \(a.id) has an empty station order") }
            for s in a.stationOrder where !stationIDs.contains(s) { throw .unknown("area \(a.id) lists station \(s), which is not defined") }
            guard Set(a.stationOrder).count == a.stationOrder.count else { throw .invalid("area \(a.id) lists a station twice") }
        }
        var rules = Set<String>()
        for r in aao {
            try r.check(areas: areaIDs)
            let key = r.keyword + "|" + (r.areas ?? []).map(\.rawValue).sorted().joined(separator: ",")
            guard rules.insert(key).inserted else { throw .invalid("AAO rule \(r.keyword) is defined twice for the same areas") }
        }
        return self
    }

    static func isUnitType(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 16 && s.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    static func isToken(_ s: String, max: Int) -> Bool {
        !s.isEmpty && s.count <= max && s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    /// Free text: at most `max` characters, no control characters.
    static func checkText(_ s: String, _ what: String, max: Int, allowEmpty: Bool = false) throws(AlarmError) {
        if s.isEmpty && !allowEmpty { throw .invalid("\(what) is empty") }
        if s.count > max { throw .invalid("\(what) is longer than \(max) characters") }
        if s.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            throw .invalid("\(what) contains a control character")
        }
    }
}

/// A point in WGS 84, in millionths of a degree (integers, so every node computes the same area
/// for it: no floating point reaches the state).
public struct Position: Codable, Equatable, Sendable {
    public var latE6: Int64
    public var lonE6: Int64
    public init(latE6: Int64, lonE6: Int64) { self.latE6 = latE6; self.lonE6 = lonE6 }

    /// An incident farther than this from every area centre is outside the city.
    public static let maxAreaDistanceMetres: Int64 = 6_000

    var problem: String? {
        guard (-90_000_000...90_000_000).contains(latE6), (-180_000_000...180_000_000).contains(lonE6) else {
            return "latitude/longitude out of range"
        }
        return nil
    }

    /// Squared distance in square metres on a local flat projection: a degree of latitude is
    /// 111 195 m; a degree of longitude 111 195 m × cos(latitude), with cos taken at the mean
    /// latitude from a table of whole degrees (exact enough inside one city, and integer-only).
    func squaredDistance(to other: Position) -> Int64 {
        let dLat = (other.latE6 - latE6) * 111_195 / 1_000_000
        let meanDegree = Int(((latE6 + other.latE6) / 2) / 1_000_000)
        let cosMilli = Position.cosineMilli[min(90, abs(meanDegree))]
        let dLon = (other.lonE6 - lonE6) * 111_195 / 1_000_000 * cosMilli / 1000
        return dLat * dLat + dLon * dLon
    }

    /// cos(n°) × 1000 for n = 0 … 90.
    static let cosineMilli: [Int64] = [
        1000, 1000, 999, 999, 998, 996, 995, 993, 990, 988, 985, 982, 978, 974, 970, 966, 961, 956, 951, 946,
        940, 934, 927, 921, 914, 906, 899, 891, 883, 875, 866, 857, 848, 839, 829, 819, 809, 799, 788, 777,
        766, 755, 743, 731, 719, 707, 695, 682, 669, 656, 643, 629, 616, 602, 588, 574, 559, 545, 530, 515,
        500, 485, 469, 454, 438, 423, 407, 391, 375, 358, 342, 326, 309, 292, 276, 259, 242, 225, 208, 191,
        174, 156, 139, 122, 105, 87, 70, 52, 35, 17, 0,
    ]

    /// Parses "50.1106,8.6820" (decimal degrees).
    public init(parsing text: String) throws(AlarmError) {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let lat = Self.micro(parts[0]), let lon = Self.micro(parts[1]) else {
            throw .invalid("position \"\(text.prefix(40))\" (expected LAT,LON in decimal degrees, e.g. 50.1106,8.6820)")
        }
        self.init(latE6: lat, lonE6: lon)
        if let p = problem { throw .invalid("position \(text.prefix(40)): \(p)") }
    }

    /// Decimal degrees to millionths without floating point: "8.682" → 8 682 000.
    private static func micro(_ s: String) -> Int64? {
        var text = Substring(s)
        var sign: Int64 = 1
        if text.first == "-" { sign = -1; text = text.dropFirst() }
        let pieces = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(pieces.count), let whole = Int64(pieces[0]), whole <= 180 else { return nil }
        var fraction: Int64 = 0
        if pieces.count == 2 {
            let digits = pieces[1]
            guard !digits.isEmpty, digits.count <= 6, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            fraction = Int64(digits + String(repeating: "0", count: 6 - digits.count))!
        }
        return sign * (whole * 1_000_000 + fraction)
    }
}
