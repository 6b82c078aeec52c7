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

    /// The network and gateway faults (optional; none when absent). Node partitions, gateway cuts
    /// and connection resets stop at the end of `minutes`; everything is healed for the settle time.
    public var faults: Faults?

    public struct Faults: Codable, Equatable, Sendable {
        /// Share of mesh messages and gateway requests and replies lost.
        public var drop: Double
        /// Network delay per message, [from, to] ms.
        public var delayMs: [Double]
        /// Node partitions per hour (two sides, the leader isolated, a bridge, or one gateway cut
        /// from every node), each for a duration drawn from `partitionSeconds`.
        public var partitionsPerHour: Double
        public var partitionSeconds: [Double]
        /// A network's active gateway cut from every node for `seconds` (its lease passes to the standby).
        public var gatewayCuts: [GatewayFault]
        /// A network's active gateway killed; it restarts after `seconds` as the standby.
        public var gatewayKills: [GatewayFault]
        /// Per station device: its connections reset (and re-made) this often per hour.
        public var connectionResetsPerHour: Double
    }

    public struct GatewayFault: Codable, Equatable, Sendable {
        public var network: Network
        public var atMinute: Double
        public var seconds: Double
    }

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
            if let f = s.faults {
                guard (0...0.2).contains(f.drop), f.delayMs.count == 2, f.delayMs[0] >= 0, f.delayMs[0] <= f.delayMs[1], f.delayMs[1] <= 1000,
                      f.partitionsPerHour >= 0, f.partitionsPerHour <= 60, f.partitionSeconds.count == 2, f.partitionSeconds[0] > 0,
                      f.partitionSeconds[0] <= f.partitionSeconds[1], f.partitionSeconds[1] <= 600,
                      f.connectionResetsPerHour >= 0, f.connectionResetsPerHour <= 60 else {
                    throw AlarmError.invalid("scenario \(name): faults need drop within 0…0.2, delayMs [from, to] within 0…1000, partitionsPerHour and connectionResetsPerHour within 0…60, partitionSeconds [from, to] within 0…600")
                }
                for g in f.gatewayCuts + f.gatewayKills where !(g.atMinute >= 0 && g.atMinute < s.minutes && g.seconds > 0 && g.seconds <= 600) {
                    throw AlarmError.invalid("scenario \(name): a gateway fault must lie within the scenario's minutes and last 0…600 s")
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
