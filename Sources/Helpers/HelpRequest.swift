/// How the router asks: in waves sized by the estimated acceptance (ours), or Katretter's rule
/// (the 3 nearest, 30 s to accept, then the next 3), kept to measure ours against.
public enum AskPolicy: String, Codable, Sendable {
    case waves
    case nearestThree = "nearest-three"
}

/// The router's settings (part of the helpers registry; data, not code).
public struct RouterConfig: Equatable, Codable, Sendable {
    public var policy: AskPolicy
    /// How long an ask stays open before the next wave.
    public var waveTimeoutMs: Int64
    /// The first wave's radius around the place; each further wave doubles it, up to `maxRadius`.
    public var firstRadius: Double
    public var maxRadius: Double
    /// Waves before the external helper platforms are asked as well.
    public var wavesBeforePlatforms: Int
    public var maxAsksPerWave: Int
    /// An acceptance after the ask timed out still fills a slot that is still open.
    public var lateAcceptance: Bool
    /// Travel time estimate: `startSeconds` to leave home (median 1:45 in published studies) plus
    /// the distance × `detour` at `speed` metres per second.
    public var startSeconds: Double, detour: Double, speed: Double
    /// Fairness: seconds added to a candidate's score per assignment in the last 7 days.
    public var fairnessSeconds: Double
    /// The acceptance prior per cohort: mean and weight in asks (a Beta prior).
    public var priorAcceptance: Double, priorWeight: Double
    /// Minutes added to UTC for hour-of-day cohorts and the rest rules' days.
    public var utcOffsetMinutes: Int
    /// The shift a volunteer is assumed to serve when the rest rules are checked before asking.
    public var expectedShiftMinutes: Int

    public static let waves = RouterConfig(policy: .waves, waveTimeoutMs: 90_000, firstRadius: 2_000, maxRadius: 32_000, wavesBeforePlatforms: 4,
                                           maxAsksPerWave: 60, lateAcceptance: true, startSeconds: 105, detour: 1.3, speed: 8.3,
                                           fairnessSeconds: 240, priorAcceptance: 0.3, priorWeight: 10, utcOffsetMinutes: 60, expectedShiftMinutes: 240)
    /// Katretter's rule: 3 nearest, 30 s, the next 3; no radius limit, no late acceptance.
    public static let nearestThree = RouterConfig(policy: .nearestThree, waveTimeoutMs: 30_000, firstRadius: 1e9, maxRadius: 1e9, wavesBeforePlatforms: Int.max,
                                                  maxAsksPerWave: 3, lateAcceptance: false, startSeconds: 105, detour: 1.3, speed: 8.3,
                                                  fairnessSeconds: 0, priorAcceptance: 0.3, priorWeight: 10, utcOffsetMinutes: 60, expectedShiftMinutes: 240)
}

/// An incident commander's request for help (EDXL-RM RequestResource): a skill, how many, where,
/// when, how urgent, and what a helper must know to be safe.
public struct NewRequest: Equatable, Codable, Sendable {
    public var skill: String
    public var count: Int
    public var place: GridPoint
    /// The coarse area a volunteer is told before accepting ("Sachsenhausen-Nord").
    public var area: String
    public var window: TimeWindow
    /// 1 (life-saving) … 3 (support).
    public var priority: Int
    public var safetyNotes: String
    public var briefing: String
    /// The place as WGS 84 (what a helper navigates to), told only after accepting; `place` is
    /// its projection, which the router matches on.
    public var position: Position?
    public init(skill: String, count: Int, place: GridPoint, area: String, window: TimeWindow, priority: Int = 2, safetyNotes: String = "", briefing: String = "", position: Position? = nil) {
        self.skill = skill; self.count = count; self.place = place; self.area = area; self.window = window
        self.priority = priority; self.safetyNotes = safetyNotes; self.briefing = briefing; self.position = position
    }
}

/// One open ask to one volunteer.
public struct PendingAsk: Equatable, Codable, Sendable {
    public var volunteer: VolunteerID
    public var wave: Int
    public var askedAt: Int64
    /// The volunteer's exact location, only if they share it, only while the ask is open.
    public var sharedLocation: GridPoint?
}

/// An accepted helper on one request (EDXL-RM CommitResource).
public struct Assignment: Equatable, Codable, Sendable {
    public var volunteer: VolunteerID
    /// The name the helper gave when accepting, for the commander of this request only; removed
    /// when the person asks to be deleted.
    public var name: String?
    public var acceptedAt: Int64
    public var checkedInAt: Int64?
    public var checkedOutAt: Int64?
    /// Minutes on site (check-in to check-out): the hours for the accident insurance.
    public var minutesOnSite: Int? {
        guard let a = checkedInAt, let b = checkedOutAt else { return nil }
        return Int((b - a) / 60_000)
    }
}

/// A request and how it is being filled.
public struct HelpRequest: Equatable, Codable, Sendable {
    public enum Status: String, Codable, Sendable { case open, filled, cancelled, expired }
    public var id: RequestID
    /// The sender who made it ("operator:…" or "partner:…"): only they see the helpers' names.
    public var by: String
    public var need: NewRequest
    public var status: Status
    public var openedAt: Int64
    public var filledAt: Int64?
    public var wave: Int
    public var waveDeadline: Int64?
    public var radius: Double
    public var pending: [PendingAsk]
    /// Everyone asked while the request is open (so no one is asked twice), sorted; it does not
    /// say who declined, and it is dropped when the request closes.
    public var asked: [VolunteerID]
    public var assigned: [Assignment]
    /// Helpers committed by external platforms (they manage their people themselves).
    public var external: Int
    public var asks: Int
    public var platformsAsked: Bool

    public var filled: Int { assigned.count + external }
    public var remaining: Int { max(0, need.count - filled) }
}

/// A request as a commander sees it (the console's `helfer zeigen`).
public struct RequestView: Codable, Equatable, Sendable {
    public struct Helper: Codable, Equatable, Sendable {
        public var volunteer: VolunteerID
        public var name: String?
        public var acceptedAt: Int64
        public var checkedInAt: Int64?
        public var checkedOutAt: Int64?
        public var minutesOnSite: Int?
    }
    public var request: RequestID
    public var by: String
    public var status: String
    public var skill: String
    public var count: Int
    public var filled: Int
    public var external: Int
    public var area: String
    public var priority: Int
    public var openedAt: Int64
    public var filledAt: Int64?
    public var window: TimeWindow
    public var wave: Int
    public var asks: Int
    public var pending: Int
    /// Only for the request's own commander, and only with `detail`.
    public var helpers: [Helper]?
    public var briefing: String?
    public var safetyNotes: String?

    public init(_ r: HelpRequest, asker: String, detail: Bool) {
        request = r.id; by = r.by; status = r.status.rawValue; skill = r.need.skill; count = r.need.count
        filled = r.filled; external = r.external; area = r.need.area; priority = r.need.priority
        openedAt = r.openedAt; filledAt = r.filledAt; window = r.need.window; wave = r.wave; asks = r.asks; pending = r.pending.count
        if detail {
            briefing = r.need.briefing
            safetyNotes = r.need.safetyNotes
            if !asker.isEmpty, asker == r.by {
                helpers = r.assigned.map { Helper(volunteer: $0.volunteer, name: $0.name, acceptedAt: $0.acceptedAt, checkedInAt: $0.checkedInAt,
                                                  checkedOutAt: $0.checkedOutAt, minutesOnSite: $0.minutesOnSite) }
            }
        }
    }
}
