import Consensus
import Foundation
import Helpers

/// A flood night for the helper-network router (`Simulations/main-flood.json`): a generated city
/// of volunteers, commanders' requests over some hours, people who accept, decline or stay silent
/// with rates that vary by the hour — played on virtual time through the real `HelperRouter`,
/// once with our waves and once with Katretter's rule on the same seed.
public struct FloodScenario: Codable, Equatable, Sendable {
    public var name: String
    public var volunteers: Int
    public var requests: Int
    public var hours: Double
    /// The city's extent, metres (a rectangle on the planar grid).
    public var width: Double, height: Double
    /// Acceptance by local hour of day (24 values, 0…1): the share of asks a person accepts.
    public var acceptanceByHour: [Double]
    /// Of the asks not accepted: the share answered with a decline (the rest stay silent).
    public var declineShare: Double
    /// Seconds from an ask to the answer: the median and the spread (log-normal σ).
    public var answerMedianSeconds: Double, answerSigma: Double
    /// Skills with the share of volunteers who hold each and the share of requests asking for it.
    public var skills: [SkillShare]
    /// Helpers per request: from … to (uniform).
    public var countFrom: Int, countTo: Int
    /// How long a request's time window is, minutes.
    public var windowMinutes: Int
    /// The share of volunteers available for the whole night (the others for a part of it).
    public var availableShare: Double
    /// The local hour the night starts.
    public var startHour: Int

    public struct SkillShare: Codable, Equatable, Sendable { public var skill: String; public var holders: Double; public var demand: Double }

    public static func parse(_ bytes: [UInt8]) throws -> FloodScenario {
        let s = try JSONDecoder().decode(FloodScenario.self, from: Data(bytes))
        guard s.volunteers >= 10, s.volunteers <= 1_000_000, s.requests >= 1, s.requests <= 10_000, s.hours > 0, s.hours <= 72 else { throw HelpersError.invalid("scenario sizes out of range") }
        guard s.acceptanceByHour.count == 24, s.acceptanceByHour.allSatisfy({ (0...1).contains($0) }) else { throw HelpersError.invalid("acceptanceByHour needs 24 values in 0…1") }
        guard !s.skills.isEmpty, s.countFrom >= 1, s.countTo >= s.countFrom, s.windowMinutes >= 10, (0...23).contains(s.startHour) else { throw HelpersError.invalid("scenario fields out of range") }
        return s
    }
}

/// What one policy achieved on one seed.
public struct FloodOutcome: Equatable, Sendable {
    public var policy: AskPolicy
    /// Request → filled, seconds (a request never filled counts with its whole window).
    public var fillSeconds: [Double]
    public var unfilled: Int
    public var asks: Int
    public var filledSlots: Int
    public var gini: Double
    public var restViolations: Int

    public var asksPerSlot: Double { filledSlots > 0 ? Double(asks) / Double(filledSlots) : .infinity }
    public func quantile(_ q: Double) -> Double {
        let s = fillSeconds.sorted()
        guard !s.isEmpty else { return 0 }
        let pos = q * Double(s.count - 1), lo = Int(pos)
        return s[lo] + (pos - Double(lo)) * (s[min(lo + 1, s.count - 1)] - s[lo])
    }
}

public enum FloodSimulation {
    /// The scenario's deterministic draws, on the project's SplitMix64.
    struct Draws {
        var generator: SplitMix64
        init(state: UInt64) { generator = SplitMix64(seed: state) }
        mutating func next() -> UInt64 { generator.next() }
        mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992 }
        mutating func normal() -> Double { (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform()) }
        mutating func pick(_ shares: [Double]) -> Int {
            let total = shares.reduce(0, +)
            var u = uniform() * total
            for (i, s) in shares.enumerated() { u -= s; if u <= 0 { return i } }
            return shares.count - 1
        }
    }

    /// The night's people and requests for a seed (the same for both policies).
    struct World {
        var volunteers: [Volunteer]
        /// A person's own leaning to accept (multiplies the hour's rate; mean 1).
        var propensity: [VolunteerID: Double]
        var needs: [(at: Int64, need: NewRequest)]
        var start: Int64
    }

    static func world(_ s: FloodScenario, seed: UInt64) -> World {
        var g = Draws(state: seed &* 0x2545_F491_4F6C_DD1D)
        // 2026-07-15 at the start hour, Frankfurt local (UTC+2 in summer); the router's offset is 60.
        let start: Int64 = 1_784_073_600_000 + Int64(s.startHour - 2) * 3_600_000
        let end = start + Int64(s.hours * 3_600_000)
        var people: [Volunteer] = []
        var propensity: [VolunteerID: Double] = [:]
        for i in 0..<s.volunteers {
            let id = try! VolunteerID("V-" + String(i, radix: 16))
            // Homes: denser towards the centre (a sum of two uniforms per axis).
            let x = (g.uniform() + g.uniform()) / 2 * s.width, y = (g.uniform() + g.uniform()) / 2 * s.height
            var skills: [SkillCredential] = []
            for k in s.skills where g.uniform() < k.holders { skills.append(SkillCredential(skill: k.skill, verifiedBy: "DRK Frankfurt", validUntil: end + 86_400_000 * 365)) }
            if skills.isEmpty { skills.append(SkillCredential(skill: s.skills[0].skill, verifiedBy: "self", validUntil: end + 86_400_000 * 365)) }
            let window: TimeWindow
            if g.uniform() < s.availableShare { window = TimeWindow(from: start - 3_600_000, to: end + 86_400_000) } else {
                let from = start + Int64(g.uniform() * s.hours * 3_600_000)
                window = TimeWindow(from: from, to: from + Int64((1 + 3 * g.uniform()) * 3_600_000))
            }
            people.append(Volunteer(id: id, skills: skills, home: HomeCell(containing: GridPoint(x: Int64(x), y: Int64(y))), availability: [window],
                                    languages: ["de"], rest: RestRule(maxMinutesPerDay: 480, minRestMinutes: 240), platform: i % 3 == 0 ? "mobile-retter" : "florian-app"))
            propensity[id] = exp(0.5 * g.normal() - 0.125)
        }
        var needs: [(Int64, NewRequest)] = []
        for _ in 0..<s.requests {
            let at = start + Int64(g.uniform() * max(0.1, s.hours - 0.5) * 3_600_000)
            let k = g.pick(s.skills.map(\.demand))
            let count = s.countFrom + Int(g.uniform() * Double(s.countTo - s.countFrom + 1))
            let place = GridPoint(x: Int64((0.15 + 0.7 * g.uniform()) * s.width), y: Int64((0.15 + 0.7 * g.uniform()) * s.height))
            needs.append((at, NewRequest(skill: s.skills[k].skill, count: min(count, s.countTo), place: place, area: "Stadtteil \(Int(place.x / 2000))-\(Int(place.y / 2000))",
                                         window: TimeWindow(from: at, to: at + Int64(s.windowMinutes) * 60_000), priority: 1 + Int(g.uniform() * 3),
                                         safetyNotes: "Hochwasser: Strömung, keine Keller betreten", briefing: "Sammelpunkt am Einsatzleitwagen")))
        }
        needs.sort { $0.0 < $1.0 }
        return World(volunteers: people, propensity: propensity, needs: needs, start: start)
    }

    enum Event { case open(Int), answer(VolunteerID, RequestID, Bool), checkIn(VolunteerID, RequestID), checkOut(VolunteerID, RequestID) }

    /// Plays one seed with one policy.
    public static func run(_ s: FloodScenario, seed: UInt64, config: RouterConfig) -> FloodOutcome {
        let w = world(s, seed: seed)
        var g = Draws(state: seed ^ 0xD1B5_4A32_D192_ED03)
        var router = HelperRouter(config: config)
        for v in w.volunteers { router.register(v) }
        var queue: [(t: Int64, seq: Int, e: Event)] = []
        var seq = 0
        func push(_ t: Int64, _ e: Event) {
            seq += 1
            let item = (t, seq, e)
            let at = queue.firstIndex { ($0.t, $0.seq) > (t, seq) } ?? queue.count
            queue.insert(item, at: at)
        }
        for (i, n) in w.needs.enumerated() { push(n.at, .open(i)) }
        var opened: [RequestID] = []
        var outputs: [RouterOutput] = []
        func handle(_ out: [RouterOutput], at t: Int64) {
            for o in out {
                switch o {
                case .ask(_, let vid, let rid, _, _, _, _):
                    let localHour = Int(((t / 3_600_000) + 2) % 24)
                    let p = min(1, s.acceptanceByHour[localHour] * (w.propensity[vid] ?? 1))
                    let delay = Int64(s.answerMedianSeconds * exp(s.answerSigma * g.normal()) * 1000)
                    if g.uniform() < p { push(t + delay, .answer(vid, rid, true)) } else if g.uniform() < s.declineShare { push(t + delay, .answer(vid, rid, false)) }
                case .confirm(_, let vid, let rid, let place, _, _):
                    let v = w.volunteers[Int(vid.raw.dropFirst(2), radix: 16)!]
                    let travel = Int64((105 + v.home.centre.distance(to: place) * 1.3 / 8.3) * 1000)
                    let end = router.requests[rid]!.need.window.to
                    push(t + travel, .checkIn(vid, rid))
                    push(max(t + travel + 60_000, min(end, t + travel + 4 * 3_600_000)), .checkOut(vid, rid))
                default: break
                }
            }
        }
        let horizon = w.start + Int64((s.hours + 6) * 3_600_000)
        while true {
            let nextEvent = queue.first?.t
            let deadline = router.nextDeadline
            guard let t = [nextEvent, deadline].compactMap({ $0 }).min(), t <= horizon else { break }
            outputs = []
            if let d = deadline, nextEvent == nil || d < nextEvent! {
                router.advance(to: d, outputs: &outputs)
                handle(outputs, at: d)
                continue
            }
            let item = queue.removeFirst()
            switch item.e {
            case .open(let i):
                if let id = try? router.open(w.needs[i].need, by: "operator:Einsatzleitung", at: item.t, outputs: &outputs) { opened.append(id) }
            case .answer(let vid, let rid, let accept):
                try? router.answer(vid, request: rid, accept: accept, name: accept ? "Helfer \(vid.raw)" : nil, at: item.t, outputs: &outputs)
            case .checkIn(let vid, let rid):
                try? router.checkIn(vid, request: rid, at: item.t, outputs: &outputs)
            case .checkOut(let vid, let rid):
                try? router.checkOut(vid, request: rid, at: item.t, outputs: &outputs)
            }
            handle(outputs, at: item.t)
        }
        var fill: [Double] = [], unfilled = 0, asks = 0, slots = 0
        var perPerson: [VolunteerID: Int] = [:]
        for id in opened {
            let r = router.requests[id]!
            asks += r.asks
            slots += r.assigned.count
            for a in r.assigned { perPerson[a.volunteer, default: 0] += 1 }
            if let f = r.filledAt { fill.append(Double(f - r.openedAt) / 1000) } else { unfilled += 1; fill.append(Double(r.need.window.to - r.openedAt) / 1000) }
        }
        let counts = w.volunteers.map { Double(perPerson[$0.id] ?? 0) }.sorted()
        return FloodOutcome(policy: config.policy, fillSeconds: fill, unfilled: unfilled, asks: asks, filledSlots: slots, gini: gini(counts), restViolations: router.restViolations)
    }

    /// The Gini coefficient of non-negative values (0: all equal; 1: one has all).
    public static func gini(_ sorted: [Double]) -> Double {
        let n = Double(sorted.count), total = sorted.reduce(0, +)
        guard n > 0, total > 0 else { return 0 }
        var weighted = 0.0
        for (i, v) in sorted.enumerated() { weighted += Double(i + 1) * v }
        return 2 * weighted / (n * total) - (n + 1) / n
    }
}
