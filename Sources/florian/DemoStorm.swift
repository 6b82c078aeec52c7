import Alarming
import Bus
import Client
import Consensus
import Dispatch
import Foundation
import Secure
import Simulator
import Synchronization

/// `florian demo --scenario storm`: an alarm scenario (`Simulations/storm-night.json`) played on
/// the demo's real cluster — node processes, gateways, station simulators, paging sink — with a
/// live summary. The scenario's time runs `speed` times faster (incidents, line failures, leader
/// kills, how long crews stay out); what the cluster decides runs on its own real clock
/// (acknowledgement deadlines, re-alarms, escalations), and so do the crews' answer times, so
/// a crew that is too slow for its deadline is too slow here too.
///
/// Actors: a dispatcher (operator certificate) opens each incident and alarms its AAO proposal,
/// confirms proposed Nachalarmierungen (or dismisses them when no unit is left) and closes an
/// incident when its orders are final and its crews are back; the crews' radio status (FMS, a
/// gateway certificate) answers with 3, then 4, then 1 — or, for `unitNoAnswer` of them, never.
/// The scenario's saturated paging channel has no counterpart here (information pages are not a
/// bus command yet); the simulator plays it.
final class DemoStorm: @unchecked Sendable {
    struct Planned {
        var at: Double
        var keyword: String
        var area: AreaID
        var test: Bool
    }

    struct Tally {
        var incidents = 0, incidentsRefused = 0, ordersRefused = 0, closedIncidents = 0
        var orders = 0, testOrders = 0, complete = 0, incomplete = 0, cancelled = 0
        var delivered = 0, failed = 0, acknowledged = 0, reAlerted = 0, escalations = 0, confirmed = 0, dismissed = 0
        var open: Set<OrderID> = []
        var firstDelivery: [Network: [UInt64]] = [.wired: [], .wireless: []]
        var delivered1: Set<String> = []
        var acks: [UInt64] = []
        var faulted: Set<String> = []
        var gatewaysLost = 0
    }

    let cluster: LocalCluster
    let file: ClusterFile
    let scenario: AlarmScenario
    let speed: Double
    let stopped: @Sendable () -> Bool
    let registry: Registry
    let dispatcher: FlorianClient
    let fms: FlorianClient
    /// Every action of the dispatcher and the crews runs here, one at a time.
    let queue = DispatchQueue(label: "florian.demo.storm")
    private var rng: Xoshiro256
    private var plan: [Planned] = []
    /// Per incident: its orders still open and its crews still out (driver's view, on `queue`).
    private var out: [IncidentID: Set<UnitID>] = [:]
    private var openOrders: [IncidentID: Set<OrderID>] = [:]
    /// Per incident: proposed Nachalarmierungen the dispatcher has not decided yet.
    private var deciding: [IncidentID: Int] = [:]
    private var launched = 0
    let tally = Mutex(Tally())
    /// Set when `run` returns: nothing scheduled acts after it.
    let ended = Mutex(false)
    let start = DispatchTime.now()
    /// The demo's keeper of processes: kills a node or a station device for a while.
    let keeper: Mailbox<KeeperRequest>

    init(cluster: LocalCluster, file: ClusterFile, scenario: AlarmScenario, speed: Double, seed: UInt64,
         keeper: Mailbox<KeeperRequest>, stopped: @escaping @Sendable () -> Bool) throws {
        self.cluster = cluster
        self.file = file
        self.scenario = scenario
        self.speed = speed
        self.stopped = stopped
        self.keeper = keeper
        rng = Xoshiro256(seed: seed)
        dispatcher = try file.client(role: "operator")
        fms = try file.client(role: "gateway")
        let bytes = try dispatcher.query(namespace: "alarm", name: "registry", payload: Array("{}".utf8))
        registry = try JSONDecoder().decode(Registry.self, from: Data(bytes))
        // Incidents: uniform over the scenario's minutes (after the first), keywords by weight,
        // areas where the keyword has a rule.
        let keywords = scenario.keywords.sorted { $0.key < $1.key }
        let total = keywords.reduce(0) { $0 + $1.value }
        for _ in 0..<scenario.incidents {
            let minute = scenario.minutes <= 1 ? rng.double(in: 0...scenario.minutes) : rng.double(in: 1...scenario.minutes)
            var pick = rng.int(in: 1...total)
            let keyword = keywords.first { pick -= $0.value; return pick <= 0 }!.key
            let areas = registry.areas.map(\.id)
            plan.append(Planned(at: minute * 60 / speed, keyword: keyword, area: areas[rng.int(in: 0...(areas.count - 1))],
                                test: rng.chance(scenario.testShare)))
        }
        plan.sort { $0.at < $1.at }
    }

    func seconds(since: DispatchTime = DispatchTime.now()) -> Double { Double(since.uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 }

    private func later(_ seconds: Double, _ work: @escaping @Sendable () -> Void) {
        queue.asyncAfter(deadline: .now() + max(0, seconds)) { [self] in if !stopped() && !ended.withLock({ $0 }) { work() } }
    }

    private var ids = 0
    private func submit(_ client: FlorianClient, _ c: AlarmCommand) -> CommandOutcome? {
        ids += 1
        return try? client.submit(type: c.type, commandID: "storm-\(start.uptimeNanoseconds)-\(ids)", payload: c.payload)
    }

    /// Plays the scenario; true when every order reached a final state in time.
    func run(notices: Mailbox<String>) -> Bool {
        let times = scenario.crewTimes
        let longestDeadline = Double(max(registry.timing.professionalAckSeconds, registry.timing.volunteerAckSeconds))
        let lastIncident = plan.last?.at ?? 0
        let settle = max(scenario.settleMinutes * 60 / speed, 2 * longestDeadline + times.slowVolunteer.upperBound + 60)
        say("storm: \(scenario.name) — \(scenario.incidents) incidents over \(Int(scenario.minutes)) scenario minutes, played \(Self.number(speed))× faster: "
            + "incidents for \(Self.clock(lastIncident)), then up to \(Self.clock(settle)) until every order is final")
        let cuts = scenario.lineFailures.map { "\($0.station) at minute \(Self.number($0.atMinute))" }
        let kills = scenario.leaderKills.map { "minute \(Self.number($0.atMinute))" }
        say("storm: line failures \(cuts.isEmpty ? "none" : cuts.joined(separator: ", ")); "
            + "leader kills \(kills.isEmpty ? "none" : "at " + kills.joined(separator: ", "))"
            + (scenario.saturatedChannel == nil ? "" : "; the saturated paging channel is played by the simulator only"))
        let from = (try? dispatcher.read(topic: AlarmTopic.events, from: 0, limit: 1, linearizable: true).endOffset) ?? 0
        dispatcher.subscribe(topic: AlarmTopic.events, from: from) { [self] event in
            guard case .message(let m) = event, let e = try? JSONDecoder().decode(AlarmEvent.self, from: Data(m.payload)) else { return }
            observe(e, notices: notices)
        }
        for (n, p) in plan.enumerated() { later(p.at) { [self] in open(n) } }
        for f in scenario.lineFailures {
            later(f.atMinute * 60 / speed) { [self] in
                keeper.post(.cutStation(f.station, seconds: f.forMinutes * 60 / speed))
                notices.post("storm: station line \(f.station) cut (its device killed) for \(Self.number(f.forMinutes)) scenario minutes")
            }
        }
        for k in scenario.leaderKills {
            later(k.atMinute * 60 / speed) { [self] in
                guard let s = try? dispatcher.status(), s.leader != 0 else { return notices.post("storm: no leader to kill") }
                keeper.post(.killNode(s.leader, seconds: k.downSeconds))
                notices.post("storm: leader node \(s.leader) killed (SIGKILL) for \(Self.number(k.downSeconds)) s")
            }
        }
        // The live summary every 5 s, until every incident is out and every order final.
        var lastSummary = 0.0
        var done = false
        while !stopped() {
            for n in notices.takeAll(until: .now() + 0.25) { say(n) }
            let now = seconds()
            let open = tally.withLock { $0.open.count }
            let (allLaunched, undecided) = queue.sync { (launched == plan.count, deciding.values.reduce(0, +)) }
            done = allLaunched && open == 0 && undecided == 0 && now > lastIncident
            if now - lastSummary >= 5 || done {
                lastSummary = now
                say(summary(now))
            }
            if done || now > lastIncident + settle { break }
        }
        ended.withLock { $0 = true }
        queue.sync {}
        dispatcher.closeAndWait()
        fms.closeAndWait()
        say(report(done: done))
        return done
    }

    // MARK: - The dispatcher and the crews (on `queue`)

    private func open(_ n: Int) {
        let p = plan[n]
        defer { launched += 1 }
        let c = AlarmCommand.openIncident(.init(keyword: p.keyword, area: p.area, address: "Einsatzstelle \(n + 1)", test: p.test))
        guard case .accepted(let json)? = submit(dispatcher, c),
              let r = try? JSONDecoder().decode([String: String].self, from: Data(json)), let id = r["incident"].flatMap({ try? IncidentID($0) }) else {
            return tally.withLock { $0.incidentsRefused += 1 }
        }
        tally.withLock { $0.incidents += 1 }
        guard let bytes = try? dispatcher.query(namespace: "alarm", name: "proposal", payload: StrictJSON.encode(["incident": id.rawValue])),
              let proposal = try? JSONDecoder().decode(Proposal.self, from: Data(bytes)), !proposal.units.isEmpty else {
            // Nothing available: the incident waits for nobody.
            _ = submit(dispatcher, .closeIncident(.init(incident: id)))
            return
        }
        out[id] = []
        if case .rejected? = submit(dispatcher, .createOrder(.init(incident: id, units: proposal.units.map(\.unit)))) {
            tally.withLock { $0.ordersRefused += 1 }
            closeIfDone(id)
        }
    }

    /// A new order: each crew answers (or not); test alarms are not answered.
    private func alarmed(_ order: OrderID, incident: IncidentID, units: [UnitID], test: Bool) {
        openOrders[incident, default: []].insert(order)
        guard !test else { return }
        let times = scenario.crewTimes
        for unit in units {
            guard !rng.chance(scenario.unitNoAnswer) else { continue }
            let volunteer = registry.unit(unit).flatMap { registry.station($0.station) }?.kind == .volunteer
            let delay = volunteer ? rng.double(in: rng.chance(scenario.slowVolunteers) ? times.slowVolunteer : times.volunteer) : rng.double(in: times.professional)
            let onScene = rng.double(in: 120...480) / speed, back = rng.double(in: 300...1500) / speed
            out[incident, default: []].insert(unit)
            later(delay) { [self] in
                _ = submit(fms, .unitStatus(.init(unit: unit, status: 3)))
                later(onScene) { [self] in
                    _ = submit(fms, .unitStatus(.init(unit: unit, status: 4)))
                    later(back) { [self] in
                        _ = submit(fms, .unitStatus(.init(unit: unit, status: 1)))
                        out[incident]?.remove(unit)
                        closeIfDone(incident)
                    }
                }
            }
        }
    }

    private func closeIfDone(_ incident: IncidentID) {
        guard let crews = out[incident], crews.isEmpty, openOrders[incident, default: []].isEmpty, deciding[incident, default: 0] == 0 else { return }
        out[incident] = nil
        if case .accepted? = submit(dispatcher, .closeIncident(.init(incident: incident))) { tally.withLock { $0.closedIncidents += 1 } }
    }

    private func observe(_ e: AlarmEvent, notices: Mailbox<String>) {
        tally.withLock { t in
            switch e.event {
            case "order.created":
                if e.test == true { t.testOrders += 1 } else { t.orders += 1 }
                if let o = e.order { t.open.insert(o) }
            case "order.closed":
                if let o = e.order { t.open.remove(o) }
                switch e.detail { case "complete": t.complete += 1; case "incomplete": t.incomplete += 1; default: t.cancelled += 1 }
            case "target.delivered":
                t.delivered += 1
                if let o = e.order, let target = e.target, let ms = e.latencyMillis, t.delivered1.insert("\(o) \(target.network)").inserted {
                    t.firstDelivery[target.network, default: []].append(ms)
                }
            case "target.failed": t.failed += 1
            case "unit.acknowledged":
                t.acknowledged += 1
                if let ms = e.latencyMillis { t.acks.append(ms) }
            case "unit.re-alerted": t.reAlerted += 1
            case "escalation.proposed": t.escalations += 1
            case "line.faulted": if let s = e.station { t.faulted.insert(s.rawValue) }
            case "line.up": if let s = e.station { t.faulted.remove(s.rawValue) }
            case "gateway.lost": t.gatewaysLost += 1
            default: break
            }
        }
        switch e.event {
        case "order.created":
            guard let o = e.order, let i = e.incident else { return }
            queue.async { [self] in alarmed(o, incident: i, units: e.units ?? [], test: e.test == true) }
        case "order.closed":
            guard let o = e.order, let i = e.incident else { return }
            queue.async { [self] in
                openOrders[i]?.remove(o)
                closeIfDone(i)
            }
        case "escalation.proposed":
            guard let o = e.order, let u = e.unit, let i = e.incident else { return }
            // The dispatcher reads the proposal and decides after a few seconds; the incident stays
            // open until then (its order is final already: the unit is "unanswered").
            queue.async { [self] in
                deciding[i, default: 0] += 1
                later(rng.double(in: 3...10)) { [self] in
                    defer {
                        deciding[i, default: 1] -= 1
                        closeIfDone(i)
                    }
                    var why = "no replacement proposed"
                    if e.replacement != nil {
                        switch submit(dispatcher, .confirmEscalation(.init(order: o, unit: u))) {
                        case .accepted(let json)?:
                            tally.withLock { $0.confirmed += 1 }
                            if let r = try? JSONDecoder().decode([String: String].self, from: Data(json)), let n = r["order"].flatMap({ try? OrderID($0) }) {
                                openOrders[i, default: []].insert(n)
                            }
                            return
                        case let other: why = other.map { "\($0)" } ?? "no answer"
                        }
                    }
                    // No replacement, or it was taken meanwhile; a late acknowledgement voids both.
                    switch submit(dispatcher, .dismissEscalation(.init(order: o, unit: u))) {
                    case .accepted?: tally.withLock { $0.dismissed += 1 }
                    case let other: notices.post("storm: Nachalarmierung for \(u) in \(o) neither confirmed (\(why)) nor dismissed (\(other.map { "\($0)" } ?? "no answer"))")
                    }
                }
            }
        case "line.faulted", "line.up", "gateway.lost", "gateway.active", "target.failed", "fallback.none":
            notices.post("event: " + AlarmSession.describe(e))
        default: break
        }
    }

    // MARK: - Summary

    func summary(_ now: Double) -> String {
        let t = tally.withLock { $0 }
        let virtual = min(now * speed / 60, scenario.minutes + scenario.settleMinutes)
        return "storm \(Self.clock(now)) (scenario minute \(Int(virtual))): incidents \(t.incidents)/\(scenario.incidents), "
            + "orders \(t.orders + t.testOrders) (open \(t.open.count)), delivered \(t.delivered), failed \(t.failed), "
            + "acknowledged \(t.acknowledged), re-alarmed \(t.reAlerted), Nachalarmierungen \(t.escalations), "
            + "lines faulted \(t.faulted.isEmpty ? "none" : t.faulted.sorted().joined(separator: " "))"
    }

    func report(done: Bool) -> String {
        let t = tally.withLock { $0 }
        func p(_ v: [UInt64], _ q: Double) -> String {
            guard !v.isEmpty else { return "–" }
            let s = v.sorted()
            return Self.millis(s[min(s.count - 1, Int((Double(s.count) * q).rounded(.up)) - 1)])
        }
        var lines = [
            "storm: \(t.incidents) incidents (\(t.incidentsRefused) refused), \(t.orders) orders + \(t.testOrders) test orders: "
                + "\(t.complete) complete, \(t.incomplete) incomplete, \(t.cancelled) closed by the dispatcher, \(t.open.count) still open",
            "storm: order → first delivery: wired p50 \(p(t.firstDelivery[.wired] ?? [], 0.5)) p99 \(p(t.firstDelivery[.wired] ?? [], 0.99)), "
                + "wireless p50 \(p(t.firstDelivery[.wireless] ?? [], 0.5)) p99 \(p(t.firstDelivery[.wireless] ?? [], 0.99)); "
                + "order → acknowledgement p50 \(p(t.acks, 0.5)) p99 \(p(t.acks, 0.99))",
            "storm: \(t.delivered) deliveries, \(t.failed) failed targets, \(t.reAlerted) re-alarms, \(t.escalations) Nachalarmierungen "
                + "(\(t.confirmed) confirmed, \(t.dismissed) dismissed, \(t.escalations - t.confirmed - t.dismissed) void by a late acknowledgement), "
                + "\(t.gatewaysLost) gateway failovers, \(t.closedIncidents) incidents closed",
        ]
        lines.append(done ? "storm: done — every order final" : "storm: NOT DONE — \(t.open.count) orders still open")
        return lines.joined(separator: "\n")
    }

    static func clock(_ s: Double) -> String { String(format: "%d:%02d", Int(s) / 60, Int(s) % 60) }
    static func number(_ d: Double) -> String { d == d.rounded() ? String(Int(d)) : String(format: "%.1f", d) }
    static func millis(_ ms: UInt64) -> String { ms < 10_000 ? "\(ms) ms" : String(format: "%.1f s", Double(ms) / 1000) }
}
