import Alarming
import Foundation

/// An alarm-dispatcher scenario (`Simulations/storm-night.json`): the sample registry, incidents
/// over some virtual hours, and the faults — failing station lines, a saturated paging channel,
/// leader kills. Every field is required except where noted; unknown fields are refused.
public struct AlarmScenario: Codable, Equatable, Sendable {
    public struct LineFailure: Codable, Equatable, Sendable {
        public var station: String
        public var atMinute: Double
        public var forMinutes: Double
    }
    public struct Saturation: Codable, Equatable, Sendable {
        public var channel: String
        /// Information pages (long texts) per second queued on the channel: above its capacity.
        public var pagesPerSecond: Double
        public var fromMinute: Double
        public var forMinutes: Double
    }
    public struct LeaderKill: Codable, Equatable, Sendable {
        public var atMinute: Double
        public var downSeconds: Double
    }

    public var name: String
    /// Path of the registry, relative to the scenario file.
    public var registry: String
    public var nodes: Int
    public var minutes: Double
    public var incidents: Int
    /// Relative weight of each keyword among the incidents.
    public var keywords: [String: Int]
    /// Share of incidents that are test alarms (Probealarm).
    public var testShare: Double
    public var lineFailures: [LineFailure]
    public var saturatedChannel: Saturation?
    public var leaderKills: [LeaderKill]
    /// Share of alarmed units whose crew never acknowledges (re-alarm, then escalation).
    public var unitNoAnswer: Double
    /// Share of volunteer crews slower than the acknowledgement deadline (they get the re-alarm).
    public var slowVolunteers: Double
    /// After the last incident, every order must be final within this many minutes.
    public var settleMinutes: Double
    /// How long crews take to answer an alarm with status 3, in seconds (optional; default: the
    /// storm night's — professional 15–80, volunteer 60–280, slow volunteers 310–480).
    public var crewAnswerSeconds: CrewTimes?

    public struct CrewTimes: Codable, Equatable, Sendable {
        public var professional: [Double]
        public var volunteer: [Double]
        public var slowVolunteer: [Double]
        public static let storm = CrewTimes(professional: [15, 80], volunteer: [60, 280], slowVolunteer: [310, 480])
    }

    /// The crews' answer times in force.
    public var crewTimes: (professional: ClosedRange<Double>, volunteer: ClosedRange<Double>, slowVolunteer: ClosedRange<Double>) {
        let t = crewAnswerSeconds ?? .storm
        return (t.professional[0]...t.professional[1], t.volunteer[0]...t.volunteer[1], t.slowVolunteer[0]...t.slowVolunteer[1])
    }

    public static func parse(_ bytes: [UInt8], name: String) throws -> AlarmScenario {
        do {
            let s = try StrictJSON.decode(AlarmScenario.self, from: bytes, what: "scenario \(name)")
            guard s.nodes == 3 || s.nodes == 5 else { throw AlarmError.invalid("scenario \(name): nodes must be 3 or 5") }
            guard s.incidents >= 1, s.incidents <= 100_000, s.minutes > 0, s.settleMinutes > 0 else {
                throw AlarmError.invalid("scenario \(name): incidents, minutes and settleMinutes must be positive")
            }
            guard !s.keywords.isEmpty, s.keywords.values.allSatisfy({ $0 > 0 }) else {
                throw AlarmError.invalid("scenario \(name): keywords needs positive weights")
            }
            for p in [s.testShare, s.unitNoAnswer, s.slowVolunteers] where !(0...1).contains(p) {
                throw AlarmError.invalid("scenario \(name): shares must lie in 0…1")
            }
            if let t = s.crewAnswerSeconds {
                for r in [t.professional, t.volunteer, t.slowVolunteer] where !(r.count == 2 && r[0] >= 0 && r[0] <= r[1] && r[1] <= 3600) {
                    throw AlarmError.invalid("scenario \(name): crewAnswerSeconds ranges are [from, to] seconds within 0…3600")
                }
            }
            return s
        }
    }
}

/// What one seed of an alarm scenario did.
public struct AlarmOutcome: Sendable {
    public var seed: UInt64
    public var violation: Violation?
    public var report: [String]
    public var traceHash: String
    public var events: Int
}
