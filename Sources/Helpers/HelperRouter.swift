/// A message of the router to a helper platform or to the commanders' feed.
public enum RouterOutput: Equatable, Sendable {
    /// Ask a volunteer (through their platform): what they need to decide, nothing more — the
    /// skill, the coarse area, the estimated travel time and the priority; no place, no incident
    /// data before they accept.
    case ask(platform: String, volunteer: VolunteerID, request: RequestID, skill: String, area: String, travelMinutes: Int, priority: Int)
    /// The ask is no longer needed (filled, cancelled, timed out).
    case withdraw(platform: String, volunteer: VolunteerID, request: RequestID)
    /// After acceptance: the place, the briefing and the safety notes.
    case confirm(platform: String, volunteer: VolunteerID, request: RequestID, place: GridPoint, briefing: String, safetyNotes: String)
    /// An acceptance that came when the need was already filled: thanks, not needed.
    case notNeeded(platform: String, volunteer: VolunteerID, request: RequestID)
    /// EDXL-RM RequestResource to the external helper platforms: the remaining count.
    case platformRequest(request: RequestID, skill: String, count: Int, area: String, window: TimeWindow)
    /// For the commanders' feed: counts only, never a person.
    case progress(request: RequestID, event: String, filled: Int, count: Int, asked: Int)
}

/// What the router knows of a volunteer beyond the registry entry: their open ask or
/// assignment, and what the rest rules and fairness need.
public struct VolunteerLoad: Equatable, Codable, Sendable {
    public var openAsk: RequestID?
    public var assignedTo: RequestID?
    public var lastCheckOut: Int64?
    /// Minutes on site per day (day number in local time), oldest first, the last 7 days.
    public var minutesByDay: [DayMinutes] = []
    /// When they accepted, the last 7 days: the fairness term.
    public var recentAssignments: [Int64] = []
}

public struct DayMinutes: Equatable, Codable, Sendable { public var day: Int64; public var minutes: Int }

/// Acceptances and asks of one cohort (skill × local hour of day): the estimate of p is
/// per cohort, never per person.
public struct CohortCount: Equatable, Codable, Sendable { public var asks: Double = 0; public var accepts: Double = 0 }

/// The helper-network router: a deterministic reducer (no clock, no IO, no randomness), driven
/// by commands and by `advance(to:)`, answering with `RouterOutput`s.
///
/// A request is filled in waves: each wave asks ⌈remaining ÷ p⌉ of the best eligible candidates
/// within the wave's radius (p: the acceptance rate estimated for the cohort skill × hour of day,
/// a Beta prior updated by every answer and timeout), scored by travel time plus a fairness term
/// for recent load; a wave ends when its asks are all answered or time out; the radius doubles
/// per wave; after `wavesBeforePlatforms` the external platforms are asked for the rest as well.
/// The moment a need is filled every open ask is withdrawn. Eligible means: the verified skill is
/// valid, the volunteer is available now, has no other open ask or assignment, was not asked for
/// this request before, and the rest rules hold (rested since the last check-out, and today's
/// minutes plus the expected shift within the daily maximum).
public struct HelperRouter: Sendable {
    public private(set) var config: RouterConfig
    public private(set) var clock: Int64 = 0
    public private(set) var volunteers: [VolunteerID: Volunteer] = [:]
    public private(set) var load: [VolunteerID: VolunteerLoad] = [:]
    public private(set) var requests: [RequestID: HelpRequest] = [:]
    public private(set) var cohorts: [String: CohortCount] = [:]
    public private(set) var requestCount = 0
    /// Assignments made while a rest rule did not hold (must stay 0; counted, never allowed silently).
    public private(set) var restViolations = 0

    private var index = CandidateIndex()
    private var slots: [VolunteerID] = []
    private var slotOf: [VolunteerID: Int32] = [:]
    private var freeSlots: [Int32] = []
    // Derived per slot, for the hot loop of a wave: home centre and a bit per skill (the first
    // 64 skill names seen get a bit; a candidate without the bit is skipped before any lookup).
    private var slotHome: [GridPoint] = []
    private var slotSkills: [UInt64] = []
    private var skillBit: [String: Int] = [:]

    public init(config: RouterConfig) { self.config = config }

    // MARK: - Registry

    /// Adds or replaces a volunteer (the platform's registration).
    public mutating func register(_ v: Volunteer) {
        if let old = volunteers[v.id], let slot = slotOf[v.id] { index.remove(slot, at: old.home.centre) }
        let slot: Int32
        if let s = slotOf[v.id] { slot = s } else if let s = freeSlots.popLast() { slot = s; slots[Int(s)] = v.id } else { slot = Int32(slots.count); slots.append(v.id) }
        slotOf[v.id] = slot
        index.insert(slot, at: v.home.centre)
        while slotHome.count <= Int(slot) { slotHome.append(GridPoint(x: 0, y: 0)); slotSkills.append(0) }
        slotHome[Int(slot)] = v.home.centre
        var bits: UInt64 = 0
        for c in v.skills {
            if skillBit[c.skill] == nil && skillBit.count < 64 { skillBit[c.skill] = skillBit.count }
            if let b = skillBit[c.skill] { bits |= 1 << UInt64(b) }
        }
        slotSkills[Int(slot)] = bits
        volunteers[v.id] = v
        if load[v.id] == nil { load[v.id] = VolunteerLoad() }
    }

    /// Deletion on request: the person is removed everywhere — registry, load, open asks, the
    /// asked lists, the names on assignments — except the pseudonym in past assignments (audit).
    public mutating func delete(_ id: VolunteerID, outputs: inout [RouterOutput]) throws(HelpersError) {
        guard let v = volunteers.removeValue(forKey: id) else { throw .unknown("volunteer \(id)") }
        if let slot = slotOf.removeValue(forKey: id) { index.remove(slot, at: v.home.centre); freeSlots.append(slot); slotSkills[Int(slot)] = 0 }
        load[id] = nil
        for rid in requests.keys.sorted() {
            var r = requests[rid]!
            if r.pending.contains(where: { $0.volunteer == id }) { outputs.append(.withdraw(platform: v.platform, volunteer: id, request: rid)) }
            r.pending.removeAll { $0.volunteer == id }
            r.asked.removeAll { $0 == id }
            for i in r.assigned.indices where r.assigned[i].volunteer == id { r.assigned[i].name = nil }
            requests[rid] = r
        }
    }

    // MARK: - Requests

    /// Opens a request and asks its first wave. Returns its id.
    public mutating func open(_ need: NewRequest, by sender: String, at t: Int64, outputs: inout [RouterOutput]) throws(HelpersError) -> RequestID {
        advance(to: t, outputs: &outputs)
        guard need.count >= 1, need.count <= 1000 else { throw .invalid("count must be 1…1000") }
        guard !need.skill.isEmpty, need.skill.utf8.count <= 64 else { throw .invalid("skill must be 1–64 bytes") }
        guard need.window.to > need.window.from, need.window.to > t else { throw .invalid("the time window must end after it starts and in the future") }
        guard (1...3).contains(need.priority) else { throw .invalid("priority must be 1, 2 or 3") }
        guard HelpersError.isOnGrid(need.place) else { throw .invalid("the place must be on the grid (metres on EPSG:3035, 0…10,000 km)") }
        guard need.window.from >= 0, need.window.to <= min(HelpersError.latestTime, need.window.from + 14 * 86_400_000) else {
            throw .invalid("the time window must lie before 2100 and last at most 14 days")
        }
        guard (1...80).contains(need.area.utf8.count), need.briefing.utf8.count <= 4000, need.safetyNotes.utf8.count <= 4000 else {
            throw .invalid("area 1–80 bytes, briefing and safety notes at most 4000 bytes each")
        }
        requestCount += 1
        let id = RequestID("H-" + String(repeating: "0", count: max(0, 6 - String(requestCount).count)) + String(requestCount))
        requests[id] = HelpRequest(id: id, by: sender, need: need, status: .open, openedAt: t, filledAt: nil, wave: 0, waveDeadline: nil,
                                   radius: config.firstRadius, pending: [], asked: [], assigned: [], external: 0, asks: 0, platformsAsked: false)
        outputs.append(.progress(request: id, event: "opened", filled: 0, count: need.count, asked: 0))
        nextWave(id, outputs: &outputs)
        return id
    }

    /// Changes how many are needed (a partial fill may make it filled at once).
    public mutating func change(_ id: RequestID, count: Int, at t: Int64, outputs: inout [RouterOutput]) throws(HelpersError) {
        advance(to: t, outputs: &outputs)
        guard var r = requests[id] else { throw .unknown("request \(id)") }
        guard r.status == .open else { throw .conflict("request \(id) is \(r.status.rawValue)") }
        guard count >= 1, count <= 1000 else { throw .invalid("count must be 1…1000") }
        r.need.count = count
        requests[id] = r
        if r.remaining == 0 { close(id, .filled, outputs: &outputs) } else if r.pending.isEmpty { nextWave(id, outputs: &outputs) }
    }

    public mutating func cancel(_ id: RequestID, at t: Int64, outputs: inout [RouterOutput]) throws(HelpersError) {
        advance(to: t, outputs: &outputs)
        guard let r = requests[id] else { throw .unknown("request \(id)") }
        guard r.status == .open else { throw .conflict("request \(id) is \(r.status.rawValue)") }
        close(id, .cancelled, outputs: &outputs)
    }

    /// A volunteer's answer through their platform. `name` and `location` only with an acceptance.
    public mutating func answer(_ vid: VolunteerID, request id: RequestID, accept: Bool, name: String?, at t: Int64, outputs: inout [RouterOutput]) throws(HelpersError) {
        advance(to: t, outputs: &outputs)
        guard let v = volunteers[vid] else { throw .unknown("volunteer \(vid)") }
        guard var r = requests[id] else { throw .unknown("request \(id)") }
        let ask = r.pending.firstIndex { $0.volunteer == vid }
        guard ask != nil || (accept && config.lateAcceptance && r.asked.contains(vid)) else {
            if accept { outputs.append(.notNeeded(platform: v.platform, volunteer: vid, request: id)) }
            return
        }
        if let ask {
            let cohort = cohortKey(r.need.skill, at: r.pending[ask].askedAt)
            cohorts[cohort, default: CohortCount()].asks += 1
            if accept { cohorts[cohort, default: CohortCount()].accepts += 1 }
            r.pending.remove(at: ask)
            load[vid]?.openAsk = nil
        } else {
            // A late acceptance: its ask was counted as a timeout; the acceptance counts now.
            cohorts[cohortKey(r.need.skill, at: t), default: CohortCount()].accepts += 1
        }
        requests[id] = r
        if accept {
            guard r.status == .open, r.remaining > 0, load[vid]?.assignedTo == nil else {
                outputs.append(.notNeeded(platform: v.platform, volunteer: vid, request: id))
                return
            }
            if !restOK(v, at: t, shiftEnd: r.need.window.to) { restViolations += 1 }
            r.assigned.append(Assignment(volunteer: vid, name: name, acceptedAt: t, checkedInAt: nil, checkedOutAt: nil))
            requests[id] = r
            load[vid]?.assignedTo = id
            load[vid]?.recentAssignments.append(t)
            outputs.append(.confirm(platform: v.platform, volunteer: vid, request: id, place: r.need.place, briefing: r.need.briefing, safetyNotes: r.need.safetyNotes))
            outputs.append(.progress(request: id, event: "accepted", filled: r.filled, count: r.need.count, asked: r.asks))
            if r.remaining == 0 { close(id, .filled, outputs: &outputs); return }
        }
        if r.status == .open && r.pending.isEmpty && r.remaining > 0 { nextWave(id, outputs: &outputs) }
    }

    /// An external platform commits helpers it manages itself (EDXL-RM CommitResource).
    public mutating func platformCommit(_ id: RequestID, count: Int, at t: Int64, outputs: inout [RouterOutput]) throws(HelpersError) {
        advance(to: t, outputs: &outputs)
        guard var r = requests[id] else { throw .unknown("request \(id)") }
        guard r.status == .open else { throw .conflict("request \(id) is \(r.status.rawValue)") }
        guard count >= 1 else { throw .invalid("count must be at least 1") }
        r.external += min(count, r.remaining)
        requests[id] = r
        outputs.append(.progress(request: id, event: "committed by a platform", filled: r.filled, count: r.need.count, asked: r.asks))
        if r.remaining == 0 { close(id, .filled, outputs: &outputs) }
    }

    public mutating func checkIn(_ vid: VolunteerID, request id: RequestID, at t: Int64, outputs: inout [RouterOutput]) throws(HelpersError) {
        advance(to: t, outputs: &outputs)
        guard var r = requests[id], let i = r.assigned.firstIndex(where: { $0.volunteer == vid }) else { throw .unknown("\(vid) is not assigned to \(id)") }
        guard r.assigned[i].checkedInAt == nil else { throw .conflict("\(vid) is already checked in") }
        r.assigned[i].checkedInAt = t
        requests[id] = r
    }

    /// Check-out: the minutes count for the rest rules and the insurance; the volunteer is free
    /// (after the rest time).
    public mutating func checkOut(_ vid: VolunteerID, request id: RequestID, at t: Int64, outputs: inout [RouterOutput]) throws(HelpersError) {
        advance(to: t, outputs: &outputs)
        guard var r = requests[id], let i = r.assigned.firstIndex(where: { $0.volunteer == vid }) else { throw .unknown("\(vid) is not assigned to \(id)") }
        guard let start = r.assigned[i].checkedInAt, r.assigned[i].checkedOutAt == nil else { throw .conflict("\(vid) is not checked in") }
        r.assigned[i].checkedOutAt = t
        requests[id] = r
        if var l = load[vid] {
            l.assignedTo = nil
            l.lastCheckOut = t
            // Minutes per local day (a shift over midnight counts on both days).
            var from = start
            while from < t {
                let day = localDay(from)
                let dayEnd = (day + 1) * 86_400_000 - Int64(config.utcOffsetMinutes) * 60_000
                let until = min(t, dayEnd)
                let minutes = Int((until - from) / 60_000)
                if let k = l.minutesByDay.firstIndex(where: { $0.day == day }) { l.minutesByDay[k].minutes += minutes } else { l.minutesByDay.append(DayMinutes(day: day, minutes: minutes)) }
                from = until
            }
            l.minutesByDay.removeAll { $0.day < localDay(t) - 7 }
            load[vid] = l
        }
    }

    // MARK: - Time

    public var nextDeadline: Int64? {
        var best: Int64?
        for r in requests.values where r.status == .open {
            for d in [r.waveDeadline, r.need.window.to].compactMap({ $0 }) where best == nil || d < best! { best = d }
        }
        return best
    }

    /// Fires every deadline up to `t` in time order (ties by request id): wave timeouts start the
    /// next wave, a window's end expires the request.
    public mutating func advance(to t: Int64, outputs: inout [RouterOutput]) {
        while let d = nextDeadline, d <= t {
            clock = max(clock, d)
            for id in requests.keys.sorted() {
                guard let r = requests[id], r.status == .open else { continue }
                if r.need.window.to <= d { close(id, .expired, outputs: &outputs); continue }
                if let w = r.waveDeadline, w <= d { timeOut(id, outputs: &outputs) }
            }
        }
        clock = max(clock, t)
    }

    // MARK: - Waves

    mutating func timeOut(_ id: RequestID, outputs: inout [RouterOutput]) {
        guard var r = requests[id] else { return }
        for a in r.pending {
            cohorts[cohortKey(r.need.skill, at: a.askedAt), default: CohortCount()].asks += 1
            load[a.volunteer]?.openAsk = nil
            if let v = volunteers[a.volunteer] { outputs.append(.withdraw(platform: v.platform, volunteer: a.volunteer, request: id)) }
        }
        r.pending = []
        r.waveDeadline = nil
        requests[id] = r
        nextWave(id, outputs: &outputs)
    }

    /// The estimated acceptance of a cohort: a Beta prior updated by its answers.
    public func acceptance(skill: String, at t: Int64) -> Double {
        let c = cohorts[cohortKey(skill, at: t)] ?? CohortCount()
        let p = (c.accepts + config.priorAcceptance * config.priorWeight) / (c.asks + config.priorWeight)
        return min(max(p, 0.02), 1)
    }

    mutating func nextWave(_ id: RequestID, outputs: inout [RouterOutput]) {
        guard var r = requests[id], r.status == .open, r.remaining > 0 else { return }
        r.wave += 1
        if r.wave > 1 && config.policy == .waves { r.radius = min(config.maxRadius, r.radius * 2) }
        let want: Int
        switch config.policy {
        case .waves: want = min(config.maxAsksPerWave, Int((Double(r.remaining) / acceptance(skill: r.need.skill, at: clock)).rounded(.up)))
        case .nearestThree: want = 3
        }
        var chosen = candidates(for: r, count: want)
        // Too few within the radius: widen at once rather than wait a wave for nothing.
        while chosen.count < want && r.radius < config.maxRadius {
            r.radius = min(config.maxRadius, r.radius * 2)
            chosen = candidates(for: r, count: want)
        }
        // The external platforms after the waves before them — or at once when the registry has
        // no one left to ask even at the widest radius (waiting would only lose time).
        let exhausted = chosen.isEmpty && r.radius >= config.maxRadius
        if config.policy == .waves && (r.wave > config.wavesBeforePlatforms || exhausted) && !r.platformsAsked {
            r.platformsAsked = true
            outputs.append(.platformRequest(request: id, skill: r.need.skill, count: r.remaining, area: r.need.area, window: r.need.window))
        }
        for (vid, travel) in chosen {
            let v = volunteers[vid]!
            r.pending.append(PendingAsk(volunteer: vid, wave: r.wave, askedAt: clock, sharedLocation: nil))
            let at = r.asked.firstIndex { vid < $0 } ?? r.asked.count
            r.asked.insert(vid, at: at)
            r.asks += 1
            load[vid]?.openAsk = id
            outputs.append(.ask(platform: v.platform, volunteer: vid, request: id, skill: r.need.skill, area: r.need.area,
                                travelMinutes: Int((travel / 60).rounded(.up)), priority: r.need.priority))
        }
        // Nobody left to ask: try again after a wave's time (people become available, rested).
        r.waveDeadline = clock + config.waveTimeoutMs
        requests[id] = r
        if !chosen.isEmpty { outputs.append(.progress(request: id, event: "wave \(r.wave)", filled: r.filled, count: r.need.count, asked: r.asks)) }
    }

    /// The best `count` eligible candidates within the request's radius: (volunteer, travel seconds).
    func candidates(for r: HelpRequest, count: Int) -> [(VolunteerID, Double)] {
        guard count > 0 else { return [] }
        var scored: [(score: Double, id: VolunteerID, travel: Double)] = []
        let t = clock
        // No bit for the skill (a 65th skill name): every slot is checked in full.
        let bit: UInt64 = skillBit[r.need.skill].map { 1 << UInt64($0) } ?? (skillBit.count >= 64 ? ~0 : 0)
        guard bit != 0 else { return [] }
        func better(_ a: (score: Double, id: VolunteerID, travel: Double), _ b: (score: Double, id: VolunteerID, travel: Double)) -> Bool {
            a.score != b.score ? a.score < b.score : a.id < b.id
        }
        // k-nearest by rings of buckets: after each ring keep only the best `count`; stop when
        // the worst of them scores below the least travel time the next ring could offer (the
        // fairness term only adds), so a dense centre costs the nearest buckets, not the circle.
        index.rings(near: r.need.place, radius: r.radius) { k, ring in
            for slot in ring {
                guard slotSkills[Int(slot)] & bit != 0 else { continue }
                let d = slotHome[Int(slot)].distance(to: r.need.place)
                guard d <= r.radius else { continue }
                let vid = slots[Int(slot)]
                guard let v = volunteers[vid], let l = load[vid] else { continue }
                guard l.openAsk == nil, l.assignedTo == nil, v.has(r.need.skill, at: t), v.isAvailable(at: t),
                      !r.asked.contains(vid), restOK(v, l, at: t, shiftEnd: r.need.window.to) else { continue }
                let travel = config.startSeconds + d * config.detour / config.speed
                var recent = 0
                for a in l.recentAssignments where a > t - 7 * 86_400_000 { recent += 1 }
                scored.append((travel + config.fairnessSeconds * Double(recent), vid, travel))
            }
            if scored.count > count {
                scored.sort(by: better)
                scored.removeLast(scored.count - count)
            }
            let nextRingNearest = Double(k) * Double(index.bucketSize)
            return !(scored.count == count && scored.last!.score <= config.startSeconds + nextRingNearest * config.detour / config.speed)
        }
        scored.sort(by: better)
        return scored.prefix(count).map { ($0.id, $0.travel) }
    }

    /// The rest rules for a shift starting now and ending at `shiftEnd` (at most the expected shift).
    public func restOK(_ v: Volunteer, at t: Int64, shiftEnd: Int64) -> Bool { restOK(v, load[v.id] ?? VolunteerLoad(), at: t, shiftEnd: shiftEnd) }

    func restOK(_ v: Volunteer, _ l: VolunteerLoad, at t: Int64, shiftEnd: Int64) -> Bool {
        if let out = l.lastCheckOut, t < out + Int64(v.rest.minRestMinutes) * 60_000 { return false }
        let today = l.minutesByDay.first { $0.day == localDay(t) }?.minutes ?? 0
        let shift = min(config.expectedShiftMinutes, Int(max(0, shiftEnd - t) / 60_000))
        return today + shift <= v.rest.maxMinutesPerDay
    }

    mutating func close(_ id: RequestID, _ status: HelpRequest.Status, outputs: inout [RouterOutput]) {
        guard var r = requests[id] else { return }
        for a in r.pending {
            load[a.volunteer]?.openAsk = nil
            if let v = volunteers[a.volunteer] { outputs.append(.withdraw(platform: v.platform, volunteer: a.volunteer, request: id)) }
        }
        r.pending = []
        r.asked = []
        r.waveDeadline = nil
        r.status = status
        if status == .filled { r.filledAt = clock }
        if status != .filled { for a in r.assigned where a.checkedInAt == nil { load[a.volunteer]?.assignedTo = nil } }
        requests[id] = r
        outputs.append(.progress(request: id, event: status.rawValue, filled: r.filled, count: r.need.count, asked: r.asks))
    }

    func localDay(_ t: Int64) -> Int64 {
        let l = t + Int64(config.utcOffsetMinutes) * 60_000
        return l >= 0 ? l / 86_400_000 : (l - 86_399_999) / 86_400_000
    }

    func cohortKey(_ skill: String, at t: Int64) -> String {
        let l = t + Int64(config.utcOffsetMinutes) * 60_000
        let hour = ((l % 86_400_000) + 86_400_000) % 86_400_000 / 3_600_000
        return skill + "@" + (hour < 10 ? "0" : "") + String(hour)
    }

    // MARK: - Views (privacy)

    /// What a commander sees of a request: helpers' names only for the request's own commander
    /// and only for accepted helpers; everyone else sees counts.
    public func commanderView(_ id: RequestID, as sender: String) -> (status: HelpRequest.Status, filled: Int, count: Int, names: [String])? {
        guard let r = requests[id] else { return nil }
        let names = r.by == sender ? r.assigned.compactMap(\.name) : []
        return (r.status, r.filled, r.need.count, names)
    }
}

// MARK: - Canonical snapshot

extension HelperRouter {
    struct Snapshot: Codable {
        var config: RouterConfig
        var clock: Int64
        var volunteers: [Volunteer]
        var load: [LoadEntry]
        var requests: [HelpRequest]
        var cohorts: [String: CohortCount]
        var requestCount: Int
        var restViolations: Int
    }
    struct LoadEntry: Codable { var volunteer: VolunteerID; var load: VolunteerLoad }

    /// The state as canonical JSON (sorted keys, every collection in id order): the same state
    /// gives the same bytes on every node. The spatial index is derived and not in it.
    public func snapshot() -> [UInt8] {
        let s = Snapshot(config: config, clock: clock, volunteers: volunteers.keys.sorted().map { volunteers[$0]! },
                         load: load.keys.sorted().map { LoadEntry(volunteer: $0, load: load[$0]!) },
                         requests: requests.keys.sorted().map { requests[$0]! }, cohorts: cohorts,
                         requestCount: requestCount, restViolations: restViolations)
        return HelpersJSON.encode(s)
    }

    /// Restores a snapshot (refusing anything but the canonical form's fields).
    public init(snapshot bytes: [UInt8]) throws(HelpersError) {
        let s = try HelpersJSON.decode(Snapshot.self, from: bytes, what: "helpers snapshot")
        self.init(config: s.config)
        for v in s.volunteers { register(v) }
        for e in s.load { load[e.volunteer] = e.load }
        for r in s.requests { requests[r.id] = r }
        cohorts = s.cohorts
        clock = s.clock
        requestCount = s.requestCount
        restViolations = s.restViolations
    }
}
