import Alarming
import Bus
@_spi(Simulation) import Consensus
import Domains
import Foundation
import Wire

/// Runs one seed of an alarm scenario.
public enum AlarmSimulation {
    public static func run(seed: UInt64, scenario: AlarmScenario, registry: Registry) -> AlarmOutcome {
        AlarmWorld(seed: seed, scenario: scenario, registry: registry).run()
    }
}

/// The alarm dispatcher end to end on virtual time: a cluster of real replicas with the real
/// alarm state machine on virtual disks and a virtual network; a dispatcher opening incidents and
/// alarming the AAO's proposals; a wired gateway with station devices and supervised lines; a
/// paging gateway with the real airtime scheduler; crews answering with status 3 (or not); an
/// operator deciding escalations; and the scenario's faults. It checks Raft's invariants after
/// every step, that no device gets an alarm again after its receipt was committed, that every
/// order reaches a final state, and that all replicas end byte-identical.
final class AlarmWorld {
    private enum Event {
        case tick(node: Int, incarnation: Int)
        case deliver(Message, incarnation: Int)
        case sync(node: Int, generation: Int, complete: () -> Void)
        case send(op: String, attempt: Int)
        case timeout(op: String, attempt: Int)
        case reply(op: String, attempt: Int, Result<CommandOutcome, BusNodeError>)
        case incident(Int)
        case closeIncident(IncidentID)
        case gatewayPoll(Network)
        case instruction(Network, Instruction, attachment: Int)
        case stationReceive(String, Instruction)
        case gatewayAck(String, Instruction)
        case airEnd(String)
        case sirenEnd(Instruction)
        case infoPages
        case crew(UnitID, status: Int)
        case operatorRound
        case lineFail(String), lineRestore(String), lineCheck(String, generation: Int)
        case killLeader(downSeconds: Double)
        case restart(Int)
        case end
    }

    private final class Node {
        let id: NodeID
        let disk = SimDisk()
        var bus: BusNode?
        var machine = AlarmMachine()
        var incarnation = 0
        var lastSync: UInt64 = 0
        var clockInFlight = false
        var clockCount = 0
        init(id: NodeID) { self.id = id }
    }

    private final class Link: Transport {
        unowned let world: AlarmWorld
        let from: Int
        init(world: AlarmWorld, from: Int) { self.world = world; self.from = from }
        func send(_ messages: [Message]) { for m in messages { world.transmit(m) } }
    }

    private struct Op {
        var type: String
        var payload: [UInt8]
        var sender: String
        var id: CommandID
        var attempt = 0
        var then: (CommandOutcome) -> Void
    }

    private final class Gateway {
        let network: Network
        let holder: String
        var node: Int?
        var incarnation = -1
        var attachment = 0
        var handle: Int?
        var seen: UInt64 = 0
        var pending: [String: Instruction] = [:]
        /// ACKed by the device (receipt not yet committed): never sent to it again.
        var acknowledged: Set<String> = []
        init(network: Network, holder: String) { self.network = network; self.holder = holder }
    }

    private final class Channel {
        var scheduler: AirtimeScheduler
        var pages: [UInt64: Instruction] = [:]
        var busy = false
        var onAir: [Instruction] = []
        init(rate: POCSAG.BitRate) { scheduler = AirtimeScheduler(rate: rate) }
    }

    private let seed: UInt64
    private var rng: Xoshiro256
    private let scenario: AlarmScenario
    private let registry: Registry
    private var now: UInt64 = 0
    private var queue = EventQueue<Event>()
    private var nodes: [Node]
    private var checker: Checker
    private var violation: Violation?
    private var events = 0
    private var ops: [String: Op] = [:]
    private var opOrder = 0
    private var leaderGuess: Int?
    private let gateways: [Network: Gateway]
    private var channels: [String: Channel] = [:]
    private var sirenQueue: [Instruction] = []
    private var sirenBusy = false
    private var nextPageID: UInt64 = 0
    private var lineUp: [String: Bool] = [:]
    private var lineGeneration: [String: Int] = [:]
    private var reportedDown: Set<String> = []
    /// Per station: the (order#round) alarms its device has shown.
    private var shown: [String: Set<String>] = [:]
    private var responding: Set<String> = []
    private var decided: Set<String> = []
    private var incidentPlan: [(at: UInt64, keyword: String, area: AreaID, test: Bool)] = []
    private var sha = SHA256()
    private var stats: [String: Int] = [:]
    private static let epochMillis: UInt64 = 1_800_000_000_000
    private static let tickMicros: UInt64 = 100_000

    init(seed: UInt64, scenario: AlarmScenario, registry: Registry) {
        self.seed = seed
        self.scenario = scenario
        self.registry = registry
        rng = Xoshiro256(seed: seed)
        nodes = (1...scenario.nodes).map { Node(id: NodeID(UInt64($0))) }
        checker = Checker(nodes: scenario.nodes)
        gateways = [.wired: Gateway(network: .wired, holder: "gw-wired-sim"), .wireless: Gateway(network: .wireless, holder: "gw-wireless-sim")]
        for c in registry.channels { channels[c.id.rawValue] = Channel(rate: POCSAG.BitRate(rawValue: c.baud) ?? .b1200) }
        for s in registry.stations where s.line != nil { lineUp[s.id.rawValue] = true }
    }

    private var nowMillis: UInt64 { Self.epochMillis + now / 1000 }
    private func schedule(_ e: Event, after micros: UInt64) { queue.push(e, at: now + micros) }
    private func seconds(_ s: Double) -> UInt64 { UInt64(s * 1_000_000) }
    private func netDelay() -> UInt64 { UInt64(rng.double(in: 1_000...5_000)) }
    private func trace(_ line: String) { sha.update("\(now) \(line)\n") }
    private func count(_ key: String) { stats[key, default: 0] += 1 }

    // MARK: - Run

    func run() -> AlarmOutcome {
        for k in nodes.indices { start(k) }
        // The dispatcher's night: incident times uniform over the scenario, sorted.
        let weights = scenario.keywords.sorted { $0.key < $1.key }
        let total = weights.reduce(0) { $0 + $1.value }
        let times = (0..<scenario.incidents).map { _ in seconds(60) + UInt64(rng.double(in: 0...(scenario.minutes * 60 - 60)) * 1_000_000) }.sorted()
        for t in times {
            var pick = rng.int(in: 1...total)
            var keyword = weights[0].key
            for (k, w) in weights { if pick <= w { keyword = k; break }; pick -= w }
            let area = registry.areas[rng.int(in: 0...(registry.areas.count - 1))].id
            incidentPlan.append((t, keyword, area, rng.chance(scenario.testShare)))
        }
        for (n, p) in incidentPlan.enumerated() { queue.push(.incident(n), at: p.at) }
        // The registry is applied first (by the operator), then the gateways start.
        submit(.applyRegistry(registry), sender: "operator:disponent-sim", id: "registry") { _ in }
        schedule(.gatewayPoll(.wired), after: seconds(2))
        schedule(.gatewayPoll(.wireless), after: seconds(2.5))
        schedule(.operatorRound, after: seconds(15))
        for f in scenario.lineFailures {
            queue.push(.lineFail(f.station), at: seconds(f.atMinute * 60))
            queue.push(.lineRestore(f.station), at: seconds((f.atMinute + f.forMinutes) * 60))
        }
        if let s = scenario.saturatedChannel { queue.push(.infoPages, at: seconds(s.fromMinute * 60)) }
        for k in scenario.leaderKills { queue.push(.killLeader(downSeconds: k.downSeconds), at: seconds(k.atMinute * 60)) }
        let endAt = seconds((scenario.minutes + scenario.settleMinutes) * 60)
        queue.push(.end, at: endAt)

        while violation == nil, let (t, event) = queue.pop() {
            now = t
            events += 1
            if case .end = event { break }
            handle(event)
            if violation == nil { checkRaft() }
        }
        if violation == nil { finish() }
        return AlarmOutcome(seed: seed, violation: violation, report: violation == nil ? report() : [],
                            traceHash: sha.finalize().map { String(format2hex: $0) }.joined(), events: events)
    }

    private func handle(_ event: Event) {
        switch event {
        case let .tick(k, inc):
            guard let bus = nodes[k].bus, nodes[k].incarnation == inc else { return }
            bus.tick()
            proposeClock(k)
            schedule(.tick(node: k, incarnation: inc), after: Self.tickMicros)
        case let .deliver(m, inc):
            let k = Int(m.to.rawValue) - 1
            guard let bus = nodes[k].bus, nodes[k].incarnation == inc else { return }
            bus.receive(m)
        case let .sync(_, _, complete):
            complete()
        case let .send(key, attempt): send(key, attempt)
        case let .timeout(key, attempt):
            guard let op = ops[key], op.attempt == attempt else { return }
            leaderGuess = nil
            send(key, attempt)
        case let .reply(key, attempt, result): reply(key, attempt, result)
        case .incident(let n): openIncident(n)
        case .closeIncident(let id):
            submit(.closeIncident(.init(incident: id)), sender: "operator:disponent-sim", id: "close-\(id)") { _ in }
        case .gatewayPoll(let n): poll(gateways[n]!)
        case let .instruction(n, ins, attachment):
            guard gateways[n]!.attachment == attachment else { return }
            received(gateways[n]!, ins)
        case let .stationReceive(station, ins): stationReceive(station, ins)
        case let .gatewayAck(station, ins): gatewayAck(station, ins)
        case .airEnd(let c): airEnd(c)
        case .sirenEnd(let ins):
            sirenBusy = false
            delivered(gateways[.wireless]!, ins)
            pumpSirens()
        case .infoPages: infoPages()
        case let .crew(unit, status): crew(unit, status)
        case .operatorRound: operatorRound()
        case .lineFail(let s):
            lineUp[s] = false
            lineGeneration[s, default: 0] += 1
            trace("line \(s) fails")
            // The gateway hears nothing more: supervision (10 s) plus its 0.5 s check.
            let sup = Double(registry.station((try? StationID(s))!)?.line?.supervisionSeconds ?? 10)
            schedule(.lineCheck(s, generation: lineGeneration[s]!), after: seconds(sup + rng.double(in: 0...0.5)))
        case let .lineCheck(s, generation):
            guard lineGeneration[s] == generation, lineUp[s] == false else { return }
            reportedDown.insert(s)
            count("line faults reported")
            submit(.lineState(.init(station: (try? StationID(s))!, up: false, reason: "silent")), sender: "gateway:gw-wired-sim",
                   id: "line-\(s)-\(generation)-down") { _ in }
        case .lineRestore(let s):
            lineUp[s] = true
            lineGeneration[s, default: 0] += 1
            trace("line \(s) restored")
            if reportedDown.remove(s) != nil {
                submit(.lineState(.init(station: (try? StationID(s))!, up: true)), sender: "gateway:gw-wired-sim",
                       id: "line-\(s)-\(lineGeneration[s]!)-up") { _ in }
            }
            let g = gateways[.wired]!
            for key in g.pending.keys.sorted() where g.pending[key]!.station?.rawValue == s { sendToStation(g.pending[key]!) }
        case let .killLeader(down):
            guard let k = nodes.indices.first(where: { nodes[$0].bus?.replica.raft.role == .leader }) else {
                return schedule(.killLeader(downSeconds: down), after: seconds(1))
            }
            trace("kill leader \(nodes[k].id)")
            count("leader kills")
            crash(k)
            schedule(.restart(k), after: seconds(down))
        case .restart(let k):
            if nodes[k].bus == nil { start(k) }
        case .end: break
        }
    }

    // MARK: - Nodes and network

    private func start(_ k: Int) {
        let node = nodes[k]
        node.incarnation += 1
        node.clockInFlight = false
        let inc = node.incarnation
        node.disk.scheduleSync = { [unowned self] gen, complete in
            let at = max(self.now + UInt64(self.rng.double(in: 200...3_000)), node.lastSync)
            node.lastSync = at
            self.queue.push(.sync(node: k, generation: gen, complete: complete), at: at)
        }
        node.disk.observeWrite = { [unowned self] batch, before in
            guard self.violation == nil else { return }
            do throws(Violation) {
                try self.checker.checkWrite(node: node.id, batch: batch, before: before, now: self.now)
            } catch { self.violation = error }
        }
        node.machine = AlarmMachine()
        var config = RaftConfig(id: node.id, voters: nodes.map(\.id))
        config.electionTicks = 6
        config.heartbeatTicks = 1
        do {
            let bus = try BusNode(config: config, storage: node.disk, transport: Link(world: self, from: k),
                                  random: Xoshiro256(seed: rng.next()), snapshots: SnapshotPolicy(every: 3_000, trailing: 200),
                                  domains: [(AlarmMachine.namespace, node.machine)], clock: { [unowned self] in self.nowMillis })
            node.bus = bus
            // What the replica replayed while it started was applied before the hook was set:
            // check it from its log, then follow the apply stream.
            try checker.replayed(node: k, id: node.id, replica: bus.replica, now: now)
            bus.replica.onApply = { [unowned self] entry in
                guard self.violation == nil else { return }
                do throws(Violation) { try self.checker.applied(node: k, id: node.id, entry: entry, now: self.now) } catch { self.violation = error }
            }
            bus.replica.onRestore = { [unowned self] snapshot in self.checker.restored(node: k, at: snapshot.metadata.index) }
        } catch let v as Violation {
            violation = v
            return
        } catch {
            violation = Violation(invariant: "recovery", detail: "\(node.id) cannot recover: \(error)", time: now)
            return
        }
        trace("start \(node.id) incarnation \(inc)")
        schedule(.tick(node: k, incarnation: inc), after: UInt64(rng.int(in: 1...Int(Self.tickMicros))))
    }

    private func crash(_ k: Int) {
        let node = nodes[k]
        guard node.bus != nil else { return }
        let keep = node.disk.unsyncedCount == 0 ? 0 : rng.int(in: 0...node.disk.unsyncedCount)
        node.disk.crash(keepingUnsynced: keep)
        node.bus = nil
        node.incarnation += 1
    }

    fileprivate func transmit(_ m: Message) {
        let b = Int(m.to.rawValue) - 1
        guard nodes[Int(m.from.rawValue) - 1].bus != nil else { return }
        schedule(.deliver(m, incarnation: nodes[b].incarnation), after: netDelay())
    }

    /// The leader moves the state clock when a deadline is due, as `NodeServer` does.
    private func proposeClock(_ k: Int) {
        let node = nodes[k]
        guard let bus = node.bus, bus.replica.raft.role == .leader, !node.clockInFlight,
              let due = bus.state.nextDomainDeadline, due <= nowMillis else { return }
        node.clockInFlight = true
        node.clockCount += 1
        let inc = node.incarnation
        let id = (try? CommandID("clock-\(k)-\(bus.replica.raft.term)-\(node.clockCount)"))!
        bus.submit(type: "alarm.clock", id: id, sender: "node:\(node.id)", payload: Array("{}".utf8)) { [unowned self] _ in
            if self.nodes[k].incarnation == inc { self.nodes[k].clockInFlight = false }
        }
    }

    private func checkRaft() {
        do throws(Violation) {
            for (k, node) in nodes.enumerated() {
                guard let r = node.bus?.replica else { continue }
                if let reason = r.haltReason { throw Violation(invariant: "replica halted", detail: "\(node.id): \(reason)", time: now) }
                try checker.check(node: k, raft: r.raft, now: now)
            }
        } catch { violation = error }
    }

    // MARK: - Commands (a client that retries with the same id until it has an outcome)

    private func submit(_ command: AlarmCommand, sender: String, id: String, then: @escaping (CommandOutcome) -> Void) {
        let key = "\(sender)|\(id)"
        guard ops[key] == nil else { return }
        // Ids from names with non-ASCII letters (FF-Höchst) are hashed into printable ASCII.
        let ascii = id.utf8.count <= 64 && id.utf8.allSatisfy { (0x20...0x7E).contains($0) }
            ? id : "h-" + SHA256.hash(Array(id.utf8)).prefix(20).map { String(format2hex: $0) }.joined()
        ops[key] = Op(type: command.type, payload: command.payload, sender: sender, id: (try? CommandID(ascii))!, then: then)
        send(key, 0)
    }

    private func send(_ key: String, _ previous: Int) {
        guard var op = ops[key] else { return }
        op.attempt = previous + 1
        ops[key] = op
        let attempt = op.attempt
        let live = nodes.indices.filter { nodes[$0].bus != nil }
        let k = leaderGuess.flatMap { live.contains($0) ? $0 : nil } ?? (live.isEmpty ? nil : live[rng.int(in: 0...(live.count - 1))])
        schedule(.timeout(op: key, attempt: attempt), after: seconds(3))
        guard let k, let bus = nodes[k].bus else { return }
        bus.submit(type: op.type, id: op.id, sender: op.sender, payload: op.payload) { [unowned self] result in
            self.schedule(.reply(op: key, attempt: attempt, result), after: self.netDelay())
        }
    }

    private func reply(_ key: String, _ attempt: Int, _ result: Result<CommandOutcome, BusNodeError>) {
        guard let op = ops[key], op.attempt == attempt else { return }
        switch result {
        case .success(let outcome):
            ops[key] = nil
            op.then(outcome)
        case .failure(let e):
            if case .replica(.notLeader(let l?)) = e { leaderGuess = Int(l.rawValue) - 1 } else { leaderGuess = nil }
            schedule(.send(op: key, attempt: attempt), after: UInt64(rng.int(in: 50_000...250_000)))
        }
    }

    /// The state of the most advanced live replica (what a linearizable read would see, near enough).
    private var state: AlarmState? {
        nodes.filter { $0.bus != nil }.max { $0.bus!.replica.appliedIndex < $1.bus!.replica.appliedIndex }?.machine.state
    }

    // MARK: - Dispatcher, crews, operator

    private func openIncident(_ n: Int) {
        let p = incidentPlan[n]
        let sender = "operator:disponent-sim"
        submit(.openIncident(.init(keyword: p.keyword, area: p.area, address: "Einsatzstelle \(n + 1)", test: p.test)),
               sender: sender, id: "open-\(n)") { [unowned self] outcome in
            guard case .accepted(let json) = outcome, let r = try? JSONDecoder().decode([String: String].self, from: Data(json)),
                  let id = r["incident"].flatMap({ try? IncidentID($0) }) else { return self.count("incidents refused") }
            self.count("incidents")
            self.queue.push(.closeIncident(id), at: self.now + self.seconds(self.rng.double(in: 1200...3600)))
            guard let state = self.state, let bytes = try? state.query("proposal", StrictJSON.encode(["incident": id.rawValue])),
                  let proposal = try? JSONDecoder().decode(Proposal.self, from: Data(bytes)) else { return }
            if !proposal.unfilled.isEmpty { self.count("proposals with a shortfall") }
            guard !proposal.units.isEmpty else { return self.count("incidents without an available unit") }
            self.trace("alarm \(id) \(proposal.units.map(\.unit.rawValue).joined(separator: ","))")
            self.submit(.createOrder(.init(incident: id, units: proposal.units.map(\.unit))), sender: sender, id: "order-\(n)") { outcome in
                if case .rejected(let why) = outcome { self.count("orders refused"); self.trace("order refused \(why)") } else { self.count("orders") }
            }
        }
    }

    /// A crew reached by an alarm answers with status 3 after a while (or never), then 4, then 1.
    private func alerted(_ ins: Instruction) {
        guard !ins.test else { return }
        for unit in ins.units where responding.insert("\(ins.order)#\(unit)").inserted {
            guard !rng.chance(scenario.unitNoAnswer) else { count("crews not answering"); continue }
            let volunteer = registry.unit(unit).flatMap { registry.station($0.station) }?.kind == .volunteer
            let times = scenario.crewTimes
            let delay = volunteer ? (rng.chance(scenario.slowVolunteers) ? rng.double(in: times.slowVolunteer) : rng.double(in: times.volunteer)) : rng.double(in: times.professional)
            schedule(.crew(unit, status: 3), after: seconds(delay))
        }
    }

    private func crew(_ unit: UnitID, _ status: Int) {
        submit(.unitStatus(.init(unit: unit, status: status)), sender: "gateway:fms-sim", id: "fms-\(unit)-\(now)") { _ in }
        switch status {
        // A storm night: short jobs (a tree on the road, a flooded cellar), then free again.
        case 3: schedule(.crew(unit, status: 4), after: seconds(rng.double(in: 120...480)))
        case 4: schedule(.crew(unit, status: 1), after: seconds(rng.double(in: 300...1500)))
        default: break
        }
    }

    /// Every 15 s the operator confirms the proposed Nachalarmierung (or dismisses it when none).
    private func operatorRound() {
        schedule(.operatorRound, after: seconds(15))
        guard let state else { return }
        for id in state.incidents.keys.sorted() {
            for e in state.incidents[id]!.escalations where e.decision == .waiting && decided.insert("\(e.order)#\(e.unit)").inserted {
                count("escalations")
                let sender = "operator:disponent-sim"
                if e.replacement != nil {
                    submit(.confirmEscalation(.init(order: e.order, unit: e.unit)), sender: sender, id: "confirm-\(e.order)-\(e.unit)") { _ in }
                } else {
                    submit(.dismissEscalation(.init(order: e.order, unit: e.unit)), sender: sender, id: "dismiss-\(e.order)-\(e.unit)") { _ in }
                }
            }
        }
    }

    // MARK: - Gateways

    /// Renews the lease; (re)attaches to a live node when the gateway's node died: the open
    /// instructions from the node's state, then the topic from its end, as `GatewayLink` does.
    private func poll(_ g: Gateway) {
        schedule(.gatewayPoll(g.network), after: seconds(2))
        submit(.lease(.init(network: g.network, holder: g.holder)), sender: "gateway:\(g.holder)", id: "lease-\(now)") { _ in }
        if let k = g.node, nodes[k].bus != nil, nodes[k].incarnation == g.incarnation { return }
        let live = nodes.indices.filter { nodes[$0].bus != nil }
        guard !live.isEmpty else { return }
        let k = live[rng.int(in: 0...(live.count - 1))]
        guard let bus = nodes[k].bus, nodes[k].machine.state.registry != nil else { return }
        g.node = k
        g.incarnation = nodes[k].incarnation
        g.attachment += 1
        let attachment = g.attachment
        let state = nodes[k].machine.state
        g.seen = state.instructionCount
        let topic = (try? TopicName(AlarmTopic.instructions(g.network)))!
        let from = bus.state.topic(named: topic)?.nextOffset ?? 0
        count("gateway attachments")
        trace("gateway \(g.network) attaches to \(nodes[k].id) at sequence \(g.seen)")
        for ins in state.pending(g.network) { schedule(.instruction(g.network, ins, attachment: attachment), after: 1_000) }
        g.handle = bus.subscribe(topic: topic, from: from) { [unowned self] event in
            guard case .message(let m) = event, let ins = try? JSONDecoder().decode(Instruction.self, from: Data(m.payload)),
                  ins.sequence > g.seen else { return }
            g.seen = ins.sequence
            self.schedule(.instruction(g.network, ins, attachment: attachment), after: self.netDelay())
        }
    }

    private func received(_ g: Gateway, _ ins: Instruction) {
        let key = "\(ins.order)|\(ins.target)"
        if let p = g.pending[key], p.round >= ins.round { return }
        g.pending[key] = ins
        switch ins.target {
        case .line: sendToStation(ins)
        case .group:
            guard let c = ins.channel?.rawValue, let channel = channels[c], let ric = ins.ric, let f = ins.function,
                  let page = try? POCSAG.Page(ric: ric, function: UInt8(f.unicodeScalars.first!.value - 65), content: .alphanumeric(ins.text ?? "")) else {
                return violation = Violation(invariant: "page encodable", detail: "\(ins.target) in \(ins.order)", time: now)
            }
            nextPageID += 1
            channel.scheduler.enqueue(QueuedPage(id: nextPageID, page: page, pageClass: ins.test ? .test : (ins.reAlarm ? .reAlarm : .alarm),
                                                 queuedAt: nowMillis))
            channel.pages[nextPageID] = ins
            pump(c)
        case .siren:
            sirenQueue.append(ins)
            pumpSirens()
        }
    }

    private func sendToStation(_ ins: Instruction) {
        guard !gateways[.wired]!.acknowledged.contains("\(ins.order)|\(ins.target)|\(ins.round)") else { return }
        guard let s = ins.station?.rawValue, lineUp[s] == true, state?.orders[ins.order]?.isOpen ?? true else { return }
        schedule(.stationReceive(s, ins), after: UInt64(rng.int(in: 3_000...20_000)))
    }

    /// The device shows an alarm once per (order, round) and ACKs every copy. A copy arriving
    /// after the device's receipt for it was committed is a violation: the gateway must not send
    /// again what was confirmed.
    private func stationReceive(_ station: String, _ ins: Instruction) {
        guard lineUp[station] == true else { return }
        let key = "\(ins.order)#\(ins.round)"
        if !shown[station, default: []].insert(key).inserted {
            count("repeats shown once")
            if let t = committedTarget(ins), t.round == ins.round, t.state == .delivered, t.late == false {
                return violation = Violation(invariant: "no alarm twice to a confirmed device",
                                             detail: "\(station) got \(ins.order) round \(ins.round) again after its ACK was committed", time: now)
            }
        } else {
            alerted(ins)
        }
        schedule(.gatewayAck(station, ins), after: UInt64(rng.int(in: 20_000...200_000)))
    }

    /// The target as every replica agrees (the lowest applied index among live nodes).
    private func committedTarget(_ ins: Instruction) -> AlarmTarget? {
        let live = nodes.filter { $0.bus != nil }
        guard let slowest = live.min(by: { $0.bus!.replica.appliedIndex < $1.bus!.replica.appliedIndex }) else { return nil }
        return slowest.machine.state.orders[ins.order]?.targets.first { $0.target == ins.target }
    }

    private func gatewayAck(_ station: String, _ ins: Instruction) {
        guard lineUp[station] == true else { return }
        gateways[.wired]!.acknowledged.insert("\(ins.order)|\(ins.target)|\(ins.round)")
        delivered(gateways[.wired]!, ins)
    }

    private func delivered(_ g: Gateway, _ ins: Instruction) {
        let receipt = AlarmCommand.Receipt(order: ins.order, target: ins.target, round: ins.round)
        let key = "\(ins.order)|\(ins.target)"
        trace("delivered \(ins.order) \(ins.target) round \(ins.round)")
        submit(.targetDelivered(receipt), sender: "gateway:\(g.holder)", id: "delivered-\(ins.order)-\(ins.target)-\(ins.round)") { _ in
            if g.pending[key]?.round == ins.round { g.pending[key] = nil }
        }
    }

    private func pump(_ c: String) {
        let channel = channels[c]!
        guard !channel.busy, let tx = channel.scheduler.next(now: nowMillis) else { return }
        channel.scheduler.forgetWaits()
        channel.busy = true
        channel.onAir = tx.pages.compactMap { channel.pages.removeValue(forKey: $0.id) }
        schedule(.airEnd(c), after: tx.airtimeMillis * 1000)
    }

    private func airEnd(_ c: String) {
        let channel = channels[c]!
        channel.busy = false
        for ins in channel.onAir {
            alerted(ins)
            delivered(gateways[.wireless]!, ins)
        }
        channel.onAir = []
        pump(c)
    }

    private func pumpSirens() {
        guard !sirenBusy, !sirenQueue.isEmpty else { return }
        sirenBusy = true
        let ins = sirenQueue.removeFirst()
        alerted(ins)
        schedule(.sirenEnd(ins), after: seconds(5.35))
    }

    /// Background information pages (long texts) on the saturated channel.
    private func infoPages() {
        guard let s = scenario.saturatedChannel, let channel = channels[s.channel] else { return }
        guard now < seconds((s.fromMinute + s.forMinutes) * 60) else { return }
        nextPageID += 1
        let text = "Info \(nextPageID): Unwetterwarnung Stufe 3, Sturmboeen bis 110 km/h, Einsatzbereitschaft pruefen"
        channel.scheduler.enqueue(QueuedPage(id: nextPageID, page: (try? POCSAG.Page(ric: 1_300_000 + UInt32(nextPageID % 64) * 8, function: 1, content: .alphanumeric(text)))!,
                                             pageClass: .information, queuedAt: nowMillis))
        count("information pages")
        pump(s.channel)
        schedule(.infoPages, after: UInt64(1_000_000 / s.pagesPerSecond))
    }

    // MARK: - End

    private func finish() {
        guard ops.isEmpty else {
            let key = ops.keys.sorted().first!
            return violation = Violation(invariant: "liveness", detail: "\(ops.count) commands still without an outcome, e.g. \(key)", time: now)
        }
        let live = nodes.filter { $0.bus != nil }
        guard live.count == nodes.count, let reference = live.first?.bus?.state else {
            return violation = Violation(invariant: "liveness", detail: "not every node is up at the end", time: now)
        }
        for node in live where node.bus!.replica.appliedIndex != reference.lastApplied || node.bus!.state.snapshot() != reference.snapshot() {
            return violation = Violation(invariant: "identical state", detail: "\(node.id) differs from \(nodes[0].id) at the end", time: now)
        }
        let state = nodes[0].machine.state
        if let open = state.orders.values.filter(\.isOpen).map(\.id).sorted().first {
            return violation = Violation(invariant: "every order final", detail: "order \(open) is still open after the settle time", time: now)
        }
    }

    private func report() -> [String] {
        let state = nodes[0].machine.state
        var firstDelivery: [Network: [UInt64]] = [.wired: [], .wireless: []]
        var ack: [Network: [UInt64]] = [.wired: [], .wireless: []]
        var complete = 0, fallbacks = 0, reAlerts = 0
        for order in state.orders.values where !order.test {
            if order.result == "complete" { complete += 1 }
            fallbacks += order.targets.filter(\.fallback).count
            reAlerts += order.units.filter { $0.reAlertedAt != nil }.count
            for n in Network.allCases {
                if let first = order.targets.filter({ $0.target.network == n }).compactMap(\.firstDeliveredAt).min() {
                    firstDelivery[n]!.append(first - order.createdAt)
                }
            }
            for u in order.units {
                guard let at = u.acknowledgedAt else { continue }
                // A unit belongs to the network its own station is alerted on.
                let lined = registry.unit(u.unit).flatMap { registry.station($0.station) }?.line != nil
                ack[lined ? .wired : .wireless]!.append(at - order.createdAt)
            }
        }
        func pct(_ xs: [UInt64], _ p: Double) -> String {
            guard !xs.isEmpty else { return "-" }
            let s = xs.sorted()
            let v = s[min(s.count - 1, Int((Double(s.count) * p).rounded(.up)) - 1)]
            return v >= 10_000 ? "\(v / 1000) s" : "\(v) ms"
        }
        var lines: [String] = []
        let orders = state.orders.values.filter { !$0.test }.count
        lines.append("orders: \(orders) real (\(complete) complete, \(orders - complete) incomplete), \(state.orders.count - orders) test; all final")
        for n in Network.allCases {
            lines.append("\(n.rawValue): order → first delivery p50 \(pct(firstDelivery[n]!, 0.5)) p99 \(pct(firstDelivery[n]!, 0.99)) (n=\(firstDelivery[n]!.count)); order → acknowledgement p50 \(pct(ack[n]!, 0.5)) p99 \(pct(ack[n]!, 0.99)) (n=\(ack[n]!.count))")
        }
        lines.append("fallback targets \(fallbacks), re-alarmed units \(reAlerts), " + stats.keys.sorted().map { "\($0) \(stats[$0]!)" }.joined(separator: ", "))
        return lines
    }
}
