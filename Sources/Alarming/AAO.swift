/// One rule of the Alarm- und Ausrückeordnung (AAO, alarm and turn-out order): for an incident
/// keyword (Einsatzstichwort) — in the listed areas, or everywhere when `areas` is nil — the unit
/// types and how many of each. A rule for the incident's area wins over the city-wide rule.
public struct AAORule: Codable, Equatable, Sendable {
    /// F1, F2, F3, F-BMA, TH1, TH-VU, ABC1, WASS, … (upper-case letters, digits, '-').
    public var keyword: String
    public var description: String
    /// nil: applies in every area that has no rule of its own for this keyword.
    public var areas: [AreaID]?
    public var units: [Requirement]

    public struct Requirement: Codable, Equatable, Sendable {
        public var type: String
        public var count: Int
        /// Types that may stand in when no unit of `type` is available (Fahrzeugersatz), in order
        /// of preference — e.g. an LF for an HLF.
        public var alternatives: [String]?
        public init(type: String, count: Int, alternatives: [String]? = nil) {
            self.type = type; self.count = count; self.alternatives = alternatives
        }
    }

    public init(keyword: String, description: String, areas: [AreaID]? = nil, units: [Requirement]) {
        self.keyword = keyword
        self.description = description
        self.areas = areas
        self.units = units
    }

    func check(areas known: Set<AreaID>) throws(AlarmError) {
        guard Registry.isUnitType(keyword) else { throw .invalid("AAO keyword \"\(keyword)\" (use upper-case letters, digits, '-', up to 16)") }
        try Registry.checkText(description, "AAO rule \(keyword) description", max: 200, allowEmpty: true)
        guard !units.isEmpty else { throw .invalid("AAO rule \(keyword) requires no units") }
        for r in units {
            guard Registry.isUnitType(r.type) else { throw .invalid("AAO rule \(keyword): unit type \"\(r.type)\"") }
            for a in r.alternatives ?? [] where !Registry.isUnitType(a) || a == r.type {
                throw .invalid("AAO rule \(keyword): alternative \"\(a)\" for \(r.type)")
            }
            guard (1...20).contains(r.count) else { throw .invalid("AAO rule \(keyword): count \(r.count) for \(r.type), allowed 1…20") }
        }
        if let areas {
            guard !areas.isEmpty else { throw .invalid("AAO rule \(keyword) has an empty area list (leave it out for a city-wide rule)") }
            for a in areas where !known.contains(a) { throw .unknown("AAO rule \(keyword) names area \(a), which is not defined") }
        }
    }
}

/// What the AAO proposes for an incident: the units picked, in the area's station order, and what
/// it could not fill because no unit of that type is available.
public struct Proposal: Codable, Equatable, Sendable {
    public struct Pick: Codable, Equatable, Sendable {
        public var unit: UnitID
        public var type: String
        public var station: StationID
    }
    public struct Shortfall: Codable, Equatable, Sendable {
        public var type: String
        public var missing: Int
    }
    public var keyword: String
    public var area: AreaID
    public var units: [Pick]
    public var unfilled: [Shortfall]
}

extension Registry {
    /// The rule for `keyword` in `area`: the area's own rule, else the city-wide one.
    public func rule(keyword: String, area: AreaID) -> AAORule? {
        aao.first { $0.keyword == keyword && ($0.areas?.contains(area) ?? false) } ?? aao.first { $0.keyword == keyword && $0.areas == nil }
    }

    /// The AAO's proposal: for each requirement in the rule's order, the first available units of
    /// that type walking the area's station order (units of one station in registry order), then
    /// of its alternatives; never a unit in `excluded`. Pure and deterministic.
    public func propose(keyword: String, area: AreaID, isAvailable: (UnitID) -> Bool,
                        excluded: Set<UnitID> = []) throws(AlarmError) -> Proposal {
        guard let order = areas.first(where: { $0.id == area })?.stationOrder else { throw .unknown("area \(area)") }
        guard let rule = rule(keyword: keyword, area: area) else { throw .unknown("keyword \(keyword) (no AAO rule)") }
        var taken = excluded
        var picks: [Proposal.Pick] = []
        var unfilled: [Proposal.Shortfall] = []
        for requirement in rule.units {
            var needed = requirement.count
            // The type itself along the whole station order first, then each alternative.
            types: for type in [requirement.type] + (requirement.alternatives ?? []) {
                for station in order {
                    for unit in units where unit.station == station && unit.type == type && !taken.contains(unit.id)
                        && isAvailable(unit.id) {
                        picks.append(.init(unit: unit.id, type: unit.type, station: station))
                        taken.insert(unit.id)
                        needed -= 1
                        if needed == 0 { break types }
                    }
                }
            }
            if needed > 0 { unfilled.append(.init(type: requirement.type, missing: needed)) }
        }
        return Proposal(keyword: keyword, area: area, units: picks, unfilled: unfilled)
    }

    /// The next available unit of `type` for `area` (Nachalarmierung), skipping `excluded`.
    public func nextUnit(type: String, area: AreaID, isAvailable: (UnitID) -> Bool, excluded: Set<UnitID>) -> UnitID? {
        guard let order = areas.first(where: { $0.id == area })?.stationOrder else { return nil }
        for station in order {
            for unit in units where unit.station == station && unit.type == type && !excluded.contains(unit.id) && isAvailable(unit.id) {
                return unit.id
            }
        }
        return nil
    }
}
