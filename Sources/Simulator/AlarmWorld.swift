import Alarming
import Bus
@_spi(Simulation) import Consensus
import Domains
import Foundation
@_spi(Simulation) import GatewayCore
import Wire

/// A deliberate defect in a gateway core, set only by the simulator (`--mutant`).
public enum AlarmMutant: String, Sendable, CaseIterable {
    /// The lease link never steps down once active.
    case gatewayIgnoresEpoch = "gateway-ignores-epoch"
    /// The station core forgets ACKs and committed receipts: a reconnecting device gets its
    /// confirmed alarms again.
    case gatewayForgetsAcks = "gateway-forgets-acks"
}

/// Runs one seed of an alarm scenario.
public enum AlarmSimulation {
    public static func run(seed: UInt64, scenario: AlarmScenario, registry: Registry, mutant: AlarmMutant? = nil) -> AlarmOutcome {
        AlarmWorld(seed: seed, scenario: scenario, registry: registry, mutant: mutant).run()
    }
}

/// The alarm dispatcher end to end on virtual time: a cluster of real replicas with the real
/// alarm state machine on virtual disks and a virtual network; two gateways per network running
/// the shipped cores (`StationCore`, `PagingCore`, their `LeaseLink`) with lease handover; the
/// station devices on supervised lines; the nodes' `LeaderClock`; a dispatcher opening incidents
/// and alarming the AAO's proposals; crews answering with status 3 (or not); an operator deciding
/// escalations; and the scenario's faults — lost messages, node partitions, gateways cut from the
/// cluster or killed, line failures, connection resets, leader kills.
///
/// It checks Raft's invariants after every step; that at most one gateway per network is active
/// at any instant and each lease epoch has one holder; that no gateway sends a device an alarm
/// whose receipt it knows to be committed; that every order reaches a final state; and that all
/// replicas end byte-identical.
final class AlarmWorld {
    enum Event {
        case tick(node: Int, incarnation: Int)
        case deliver(Message, incarnation: Int)
        case sync(node: Int, generation: Int, complete: () -> Void)
        case send(op: String, attempt: Int)
        case timeout(op: String, attempt: Int)
        case reply(op: String, attempt: Int, Result<CommandOutcome, BusNodeError>)
        case incident(Int)
        case closeIncident(IncidentID)
        case crew(UnitID, status: Int)
        case operatorRound
        case infoPages
        case lineFail(String), lineRestore(String)
        case killLeader(downSeconds: Double)
        case restart(Int)
        // Gateways and their clients.
        case gatewayInput(Int, life: Int, GatewayInput, known: [String])
        case gatewayTimer(Int, life: Int, GatewayTimer, generation: Int)
        case requestArrive(Int, node: Int)
        case requestTimeout(Int)
        case maintain(Int)
        case killGateway(Network, seconds: Double)
        case restartGateway(Int)
        case cutGateway(Network, seconds: Double)
        // Station devices.
        case deviceConnect(station: Int, gateway: Int)
        case deviceFrame(UInt64, StationAlertFrame)
        case deviceHeartbeat(UInt64)
        case deviceAck(UInt64, StationAlertFrame.StationAck)
        case deviceLost(UInt64)
        // Faults.
        case chaos
        case heal(generation: Int)
        case healAll
        case end
    }

    final class Node {
        let id: NodeID
        let disk = SimDisk()
        var bus: BusNode?
        var machine = AlarmMachine()
        var incarnation = 0
        var lastSync: UInt64 = 0
        var clock = LeaderClock()
        init(id: NodeID) { self.id = id }
    }

    final class Link: Transport {
        unowned let world: AlarmWorld
        init(world: AlarmWorld) { self.world = world }
        func send(_ messages: [Message]) { for m in messages { world.transmit(m) } }
    }

    struct Op {
        var type: String
        var payload: [UInt8]
        var sender: String
        var id: CommandID
        var attempt = 0
        var then: (CommandOutcome) -> Void
    }

    let seed: UInt64
    var rng: Xoshiro256
    let scenario: AlarmScenario
    let faults: AlarmScenario.Faults
    let registry: Registry
    let mutant: AlarmMutant?
    var now: UInt64 = 0
    var queue = EventQueue<Event>()
    var nodes: [Node]
    var checker: Checker
    var violation: Violation?
    var events = 0
    var ops: [String: Op] = [:]
    var leaderGuess: Int?
    var responding: Set<String> = []
    var decided: Set<String> = []
    var incidentPlan: [(at: UInt64, keyword: String, area: AreaID, test: Bool)] = []
    var sha = SHA256()
    var stats: [String: Int] = [:]
    /// Mesh links cut by a partition ([from][to]).
    var cut: [[Bool]]
    var partitionGeneration = 0
    var healed = false
    // Gateways and devices (AlarmWorld+Gateways.swift).
    var gateways: [Gateway] = []
    var requests: [Int: Request] = [:]
    var nextRequest = 0
    var devices: [Device] = []
    var connections: [UInt64: Connection] = [:]
    var nextConnection: UInt64 = 0
    /// Per network, who was granted each lease epoch.
    var epochHolders: [Network: [UInt64: String]] = [:]
    /// Receipts (by id) whose crews have been alerted.
    var alertedReceipts: Set<String> = []
    var countedLineReports: Set<String> = []
    static let epochMillis: UInt64 = 1_800_000_000_000
    static let tickMicros: UInt64 = 100_000
    static let chaosMicros: UInt64 = 1_000_000

    init(seed: UInt64, scenario: AlarmScenario, registry: Registry, mutant: AlarmMutant?) {
        self.seed = seed
        self.scenario = scenario
        self.registry = registry
        self.mutant = mutant
        faults = scenario.faults ?? .init(drop: 0, delayMs: [1, 5], partitionsPerHour: 0, partitionSeconds: [1, 1], gatewayCuts: [],
                                          gatewayKills: [], connectionResetsPerHour: 0)
        rng = Xoshiro256(seed: seed)
        nodes = (1...scenario.nodes).map { Node(id: NodeID(UInt64($0))) }
        checker = Checker(nodes: scenario.nodes)
        cut = Array(repeating: Array(repeating: false, count: scenario.nodes), count: scenario.nodes)
    }

    var nowMillis: UInt64 { Self.epochMillis + now / 1000 }
    func schedule(_ e: Event, after micros: UInt64) { queue.push(e, at: now + micros) }
    func push(_ e: Event, at micros: UInt64) { queue.push(e, at: max(now, micros)) }
    func seconds(_ s: Double) -> UInt64 { UInt64(s * 1_000_000) }
    func netDelay() -> UInt64 { UInt64(rng.double(in: faults.delayMs[0]...faults.delayMs[1]) * 1000) }
    func lost() -> Bool { !healed && faults.drop > 0 && rng.chance(faults.drop) }
    func trace(_ line: String) { sha.update("\(now) \(line)\n") }
    func count(_ key: String) { stats[key, default: 0] += 1 }
    func fail(_ invariant: String, _ detail: String) {
        if violation == nil { violation = Violation(invariant: invariant, detail: detail, time: now) }
    }

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
        // The registry is applied first (by the operator), then the gateways and devices start.
        submit(.applyRegistry(registry), sender: "operator:disponent-sim", id: "registry") { _ in }
        startGateways(after: seconds(2))
        schedule(.operatorRound, after: seconds(15))
        for f in scenario.lineFailures {
            queue.push(.lineFail(f.station), at: seconds(f.atMinute * 60))
            queue.push(.lineRestore(f.station), at: seconds((f.atMinute + f.forMinutes) * 60))
        }
        if let s = scenario.saturatedChannel { queue.push(.infoPages, at: seconds(s.fromMinute * 60)) }
        for k in scenario.leaderKills { queue.push(.killLeader(downSeconds: k.downSeconds), at: seconds(k.atMinute * 60)) }
        for g in faults.gatewayKills { queue.push(.killGateway(g.network, seconds: g.seconds), at: seconds(g.atMinute * 60)) }
        for g in faults.gatewayCuts { queue.push(.cutGateway(g.network, seconds: g.seconds), at: seconds(g.atMinute * 60)) }
        schedule(.chaos, after: Self.chaosMicros)
        queue.push(.healAll, at: seconds(scenario.minutes * 60))
        queue.push(.end, at: seconds((scenario.minutes + scenario.settleMinutes) * 60))

        while violation == nil, let (t, event) = queue.pop() {
            now = t
            events += 1
            if case .end = event { break }
            handle(event)
            if violation == nil { checkAll() }
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
        case let .crew(unit, status): crew(unit, status)
        case .operatorRound: operatorRound()
        case .infoPages: infoPages()
        case .lineFail(let s): lineFail(s)
        case .lineRestore(let s): lineRestore(s)
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
        case let .gatewayInput(g, life, input, known): gatewayInput(g, life: life, input, known: known)
        case let .gatewayTimer(g, life, timer, generation): gatewayTimer(g, life: life, timer, generation: generation)
        case let .requestArrive(r, k): requestArrive(r, node: k)
        case .requestTimeout(let r): requestTimeout(r)
        case .maintain(let g): maintain(g)
        case let .killGateway(n, s): killGateway(n, seconds: s)
        case .restartGateway(let g): restartGateway(g)
        case let .cutGateway(n, s): cutGateway(n, seconds: s)
        case let .deviceConnect(s, g): deviceConnect(s, gateway: g)
        case let .deviceFrame(c, frame): deviceFrame(c, frame)
        case .deviceHeartbeat(let c): deviceHeartbeat(c)
        case let .deviceAck(c, a): deviceAck(c, a)
        case .deviceLost(let c): deviceLost(c)
        case .chaos: chaos()
        case .heal(let generation): if generation == partitionGeneration { healPartition() }
        case .healAll: healAll()
        case .end: break
        }
    }

    // MARK: - Nodes and network

    private func start(_ k: Int) {
        let node = nodes[k]
        node.incarnation += 1
        node.clock = LeaderClock()
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
            let bus = try BusNode(config: config, storage: node.disk, transport: Link(world: self),
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
        let a = Int(m.from.rawValue) - 1, b = Int(m.to.rawValue) - 1
        guard nodes[a].bus != nil, !cut[a][b], !lost() else { return }
        schedule(.deliver(m, incarnation: nodes[b].incarnation), after: netDelay())
    }

    /// The leader moves the state clock when a deadline is due: `LeaderClock`, as in `NodeServer`.
    private func proposeClock(_ k: Int) {
        let node = nodes[k]
        guard let bus = node.bus else { return }
        let raft = bus.replica.raft
        guard let id = node.clock.propose(isLeader: raft.role == .leader, deadline: bus.state.nextDomainDeadline, now: nowMillis,
                                          node: node.id.rawValue, term: raft.term) else { return }
        let inc = node.incarnation
        bus.submit(type: LeaderClock.commandType, id: id, sender: "node:\(node.id)", payload: LeaderClock.payload) { [unowned self] _ in
            if self.nodes[k].incarnation == inc { self.nodes[k].clock.completed() }
        }
    }

    private func checkAll() {
        do throws(Violation) {
            for (k, node) in nodes.enumerated() {
                guard let r = node.bus?.replica else { continue }
                if let reason = r.haltReason { throw Violation(invariant: "replica halted", detail: "\(node.id): \(reason)", time: now) }
                try checker.check(node: k, replica: r, now: now)
            }
        } catch { violation = error }
    }

    // MARK: - Partitions

    /// Every second while faults last: a node partition (or a gateway cut) now and then, and
    /// devices' connections reset.
    private func chaos() {
        guard !healed else { return }
        schedule(.chaos, after: Self.chaosMicros)
        let dt = Double(Self.chaosMicros) / 3_600_000_000
        if faults.partitionsPerHour > 0, rng.chance(faults.partitionsPerHour * dt) { partition() }
        if faults.connectionResetsPerHour > 0 {
            for s in devices.indices where rng.chance(faults.connectionResetsPerHour * dt) { resetConnections(s) }
        }
    }

    private func partition() {
        let n = nodes.count
        healPartition()
        let d = seconds(rng.double(in: faults.partitionSeconds[0]...faults.partitionSeconds[1]))
        var kind = ""
        switch rng.below(4) {
        case 0:  // two sides
            var side = (0..<n).map { _ in rng.chance(0.5) }
            if side.allSatisfy({ $0 }) || side.allSatisfy({ !$0 }) { side[rng.int(in: 0...(n - 1))].toggle() }
            for a in 0..<n { for b in 0..<n where side[a] != side[b] { cut[a][b] = true } }
            kind = "two sides " + side.map { $0 ? "A" : "B" }.joined()
        case 1:  // the leader isolated
            let l = nodes.firstIndex { $0.bus?.replica.raft.role == .leader } ?? rng.int(in: 0...(n - 1))
            for b in 0..<n where b != l { cut[l][b] = true; cut[b][l] = true }
            kind = "isolate \(nodes[l].id)"
        case 2:  // a bridge: two sides only one node connects
            let bridge = rng.int(in: 0...(n - 1))
            let side = (0..<n).map { $0 == bridge ? false : rng.chance(0.5) }
            for a in 0..<n where a != bridge { for b in 0..<n where b != bridge && side[a] != side[b] { cut[a][b] = true } }
            kind = "bridge \(nodes[bridge].id)"
        default:  // one gateway cut from every node
            let g = rng.int(in: 0...(gateways.count - 1))
            gateways[g].cutUntil = now + d
            kind = "gateway \(gateways[g].name) cut"
        }
        partitionGeneration += 1
        count("partitions")
        trace("partition \(kind) for \(d) us")
        schedule(.heal(generation: partitionGeneration), after: d)
    }

    private func healPartition() {
        for a in cut.indices { for b in cut.indices { cut[a][b] = false } }
    }

    private func healAll() {
        healed = true
        partitionGeneration += 1
        healPartition()
        for g in gateways { g.cutUntil = 0 }
        trace("heal all")
    }

    // MARK: - Commands (a client that retries with the same id until it has an outcome)

    func submit(_ command: AlarmCommand, sender: String, id: String, then: @escaping (CommandOutcome) -> Void) {
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
    var state: AlarmState? {
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
    func alerted(order: OrderID, units: [UnitID], test: Bool) {
        guard !test else { return }
        for unit in units where responding.insert("\(order)#\(unit)").inserted {
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

    /// Background information pages (long texts) on the saturated channel, queued on the active
    /// paging gateway.
    private func infoPages() {
        guard let s = scenario.saturatedChannel else { return }
        guard now < seconds((s.fromMinute + s.forMinutes) * 60) else { return }
        schedule(.infoPages, after: UInt64(1_000_000 / s.pagesPerSecond))
        guard let g = gateways.first(where: { $0.network == .wireless && $0.paging != nil && $0.active }) else {
            return count("information pages without an active paging gateway")
        }
        let n = stats["information pages", default: 0]
        let text = "Info \(n): Unwetterwarnung Stufe 3, Sturmboeen bis 110 km/h, Einsatzbereitschaft pruefen"
        guard let page = try? POCSAG.Page(ric: 1_300_000 + UInt32(n % 64) * 8, function: 1, content: .alphanumeric(text)),
              let directives = g.paging!.enqueue(page, pageClass: .information, channel: s.channel, now: nowMillis) else { return }
        count("information pages")
        perform(g.index, directives)
    }

    // MARK: - End

    private func finish() {
        guard ops.isEmpty else {
            let key = ops.keys.sorted().first!
            return fail("liveness", "\(ops.count) commands still without an outcome, e.g. \(key)")
        }
        let live = nodes.filter { $0.bus != nil }
        guard live.count == nodes.count, let reference = live.first?.bus?.state else {
            return fail("liveness", "not every node is up at the end")
        }
        for node in live where node.bus!.replica.appliedIndex != reference.lastApplied || node.bus!.state.snapshot() != reference.snapshot() {
            return fail("identical state", "\(node.id) differs from \(nodes[0].id) at the end")
        }
        let state = nodes[0].machine.state
        if let open = state.orders.values.filter(\.isOpen).map(\.id).sorted().first {
            return fail("every order final", "order \(open) is still open after the settle time")
        }
        for n in Network.allCases where !gateways.contains(where: { $0.network == n && $0.active }) {
            return fail("liveness", "no \(n.rawValue) gateway is active at the end")
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
