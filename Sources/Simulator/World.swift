import Bus
@_spi(Simulation) import Consensus
import Wire

/// The result of simulating one seed.
public struct SeedOutcome: Sendable {
    public var seed: UInt64
    public var violation: Violation?
    /// The last trace lines before the violation (only when the run was traced).
    public var traceTail: [String]
    /// SHA-256 of the canonical trace (only when the run was traced).
    public var traceHash: String?
    public var stats: Stats

    public struct Stats: Sendable {
        public var events = 0
        public var nodes = 0
        public var acknowledged = 0
        public var committedEntries: UInt64 = 0
        public var crashes = 0
        public var partitions = 0
        public var elections = 0
        public var virtualMicros: UInt64 = 0
    }
}

/// Options for one run.
public struct SimulationOptions: Sendable {
    public var scenario = Scenario()
    @_spi(Simulation) public var mutants: Mutants = []
    public var trace = false
    /// How many of the last trace lines to keep (for `--trace`, all).
    public var traceLines = 40
    public init() {}
}

/// One deterministic world: a cluster of real `Replica`s on virtual time, virtual disks and a
/// virtual network, with clients, faults and the checker — all drawn from one seed.
final class World {
    private enum Event {
        case tick(node: Int, incarnation: Int)
        case deliver(Message, incarnation: Int)
        case sync(node: Int, generation: Int, complete: () -> Void)
        case request(client: Int, attempt: Int, node: Int)
        case response(client: Int, attempt: Int, op: String, result: Result<CommandOutcome, BusNodeError>, from: Int)
        case timeout(client: Int, attempt: Int)
        case nextOp(client: Int)
        case read(reader: Int)
        case chaos
        case restart(node: Int)
        case leaderFault(node: Int, term: UInt64)
        case healPartition(generation: Int)
        case unclog(from: Int, to: Int, generation: Int)
        case healAll
        case deadline
    }

    private final class Node {
        let id: NodeID
        let disk = SimDisk()
        var bus: BusNode?
        var replica: Replica? { bus?.replica }
        var incarnation = 0
        /// This incarnation's local subscriptions: the next offset each topic's must deliver, and
        /// every publish (sender/id) delivered so far.
        var expected: [UInt64] = []
        var delivered: Set<String> = []
        var lastSync: UInt64 = 0
        init(id: NodeID) { self.id = id }
    }

    private final class Link: Transport {
        unowned let world: World
        let from: Int
        let incarnation: Int
        init(world: World, from: Int, incarnation: Int) {
            self.world = world
            self.from = from
            self.incarnation = incarnation
        }
        /// Every batch crosses the simulated network as the mesh's bytes (`MessageCodec`), so the
        /// codec runs under every fault the simulator injects; a batch that does not come back
        /// unchanged is a violation.
        func send(_ messages: [Message]) {
            let bytes = MessageCodec.encode(messages)
            guard let decoded = try? MessageCodec.decode(bytes), decoded == messages else {
                return world.codecMismatch(messages)
            }
            for m in decoded { world.transmit(m) }
        }
    }

    /// One client command in flight: retried with the same id until it has an outcome.
    private struct Op {
        var id: CommandID
        var key: String
        var command: BusCommand
        var topic: Int
        var digest: UInt64
    }

    private struct Client {
        var sender: String
        var seq = 0
        var op: Op?
        var attempt = 0
        var believedLeader: Int?
        var done = false
        var acknowledged = 0
    }

    /// A publish a client saw acknowledged.
    private struct Acked {
        var key: String
        var sender: String
        var id: CommandID
        var topic: Int
        var offset: UInt64
    }

    private struct TopicOffset: Hashable {
        var topic: Int
        var offset: UInt64
    }

    // Parameters drawn from the seed.
    private let seed: UInt64
    private var rng: Xoshiro256
    private let n: Int
    private let tickMicros: UInt64
    private let electionTicks: Int
    private let delay: ClosedRange<Double>
    private var drop: Double
    private var duplicate: Double
    private let fsync: ClosedRange<Double>
    private let crashRate: Double
    private let down: ClosedRange<Double>
    private let partitionRate: Double
    private let partitionDuration: ClosedRange<Double>
    private let clogRate: Double
    private let leaderFault: Double
    private let leaderFaultDelay: ClosedRange<Double>
    private var leaderSeen: [UInt64] = []
    private let clogDuration: ClosedRange<Double>
    private let payloadBytes: ClosedRange<Int>
    private let clientTimeout: UInt64
    private let faultEnd: UInt64
    private let deadline: UInt64
    private let config: (NodeID) -> RaftConfig
    private let snapshotPolicy: SnapshotPolicy
    private let pipelineDepth: Int

    // State.
    private var now: UInt64 = 0
    private var queue = EventQueue<Event>()
    private var nodes: [Node] = []
    private var clients: [Client] = []
    private var cut: [[Bool]]
    private var clog: [[UInt64]]
    private var clogGeneration = 0
    private var partitionGeneration = 0
    private var healed = false
    private var checker: Checker
    private var topics: [(name: TopicName, retention: Retention)] = []
    /// Every (sender/id) a client issued.
    private var issued: Set<String> = []
    /// Acknowledged publishes in the order clients learned of them.
    private var acked: [Acked] = []
    /// What each (topic, offset) holds, as first seen by any replica: all must agree.
    private var published: [TopicOffset: (key: String, digest: UInt64)] = [:]
    private var readers = 0
    private static let epochMillis: UInt64 = 1_800_000_000_000
    private var violation: Violation?
    private var stats = SeedOutcome.Stats()
    private var durableCheckedAt: UInt64 = 0
    private var convergeDeadlineSet = false

    // Trace.
    private let tracing: Bool
    private let traceLines: Int
    private var sha = SHA256()
    private var tail: [String] = []

    private static let chaosPeriod: UInt64 = 100_000

    init(seed: UInt64, options: SimulationOptions) {
        self.seed = seed
        var r = Xoshiro256(seed: seed)
        let s = options.scenario
        func draw(_ range: ClosedRange<Double>) -> Double { r.double(in: range) }
        func drawInt(_ range: ClosedRange<Double>) -> Int { r.int(in: Int(range.lowerBound.rounded())...Int(range.upperBound.rounded())) }
        n = s.clusterSizes[Int(r.below(UInt64(s.clusterSizes.count)))]
        let clientCount = drawInt(s.clients)
        tickMicros = UInt64(draw(s.tickMs) * 1000)
        electionTicks = max(2, drawInt(s.electionTicks))
        // Swarm testing (Groce et al. 2012): each fault kind is switched on or off per seed, so
        // some seeds are calm, some suffer one kind of fault intensely, some a storm of all.
        func feature(_ range: ClosedRange<Double>) -> Double { r.chance(0.5) ? r.double(in: range) : 0 }
        func lowOrDrawn(_ range: ClosedRange<Double>) -> Int {
            r.chance(0.5) ? Int(range.lowerBound.rounded()) : drawInt(range)
        }
        let d1 = draw(s.delayMs), d2 = draw(s.delayMs)
        delay = min(d1, d2)...max(d1, d2)
        drop = feature(s.drop)
        duplicate = feature(s.duplicate)
        let f1 = draw(s.fsyncMs), f2 = draw(s.fsyncMs)
        fsync = min(f1, f2)...max(f1, f2)
        crashRate = feature(s.crashRate)
        down = s.downMs
        partitionRate = feature(s.partitionRate)
        partitionDuration = s.partitionMs
        clogRate = feature(s.clogRate)
        clogDuration = s.clogMs
        leaderFault = feature(s.leaderFault)
        leaderFaultDelay = s.leaderFaultMs
        payloadBytes = Int(s.payloadBytes.lowerBound)...Int(s.payloadBytes.upperBound)
        clientTimeout = UInt64(draw(s.clientTimeoutMs) * 1000)
        faultEnd = UInt64(draw(s.faultSeconds) * 1_000_000)
        deadline = faultEnd + UInt64(draw(s.healBoundSeconds) * 1_000_000)
        snapshotPolicy = r.chance(draw(s.snapshotChance))
            ? SnapshotPolicy(every: UInt64(max(1, drawInt(s.snapshotEvery))), trailing: UInt64(drawInt(s.snapshotTrailing)))
            : SnapshotPolicy(every: 0, trailing: 0)
        pipelineDepth = max(1, drawInt(s.pipelineDepth))
        let maxEntries = max(1, lowOrDrawn(s.maxEntriesPerAppend))
        let maxInflight = max(1, lowOrDrawn(s.maxInflight))
        let voters = (1...n).map { NodeID(UInt64($0)) }
        let mutants = options.mutants
        let et = electionTicks
        config = { id in
            var c = RaftConfig(id: id, voters: voters)
            c.electionTicks = et
            c.heartbeatTicks = 1
            c.maxEntriesPerAppend = maxEntries
            c.maxInflightAppends = maxInflight
            c.mutants = mutants
            return c
        }
        rng = r
        tracing = options.trace
        traceLines = options.traceLines
        cut = Array(repeating: Array(repeating: false, count: n), count: n)
        clog = Array(repeating: Array(repeating: 0, count: n), count: n)
        checker = Checker(nodes: n)
        clients = (0..<clientCount).map { Client(sender: "client\($0)") }
        readers = drawInt(s.readers)
        for t in 0..<max(1, drawInt(s.topics)) {
            let count = UInt64(drawInt(s.retentionCount))
            let age = r.chance(0.5) ? UInt64(drawInt(s.retentionSeconds) * 1000) : 0
            // Both bounds are drawn non-negative; a count of at least 1 keeps the pair valid.
            let retention = (try? Retention(maxCount: max(1, count), maxAgeMillis: age))!
            topics.append(((try? TopicName("t\(t)"))!, retention))
        }
        stats.nodes = n
        nodes = voters.map { Node(id: $0) }
        leaderSeen = Array(repeating: 0, count: n)
    }

    // MARK: - Running

    func run() -> SeedOutcome {
        trace("world seed=\(seed) nodes=\(n) clients=\(clients.count) drop=\(fmt(drop)) dup=\(fmt(duplicate)) crash=\(fmt(crashRate)) partition=\(fmt(partitionRate)) clog=\(fmt(clogRate)) faults-until=\(faultEnd)")
        for k in 0..<n { start(node: k) }
        for c in clients.indices { schedule(.nextOp(client: c), after: UInt64(rng.int(in: 0...200_000))) }
        for r in 0..<readers { schedule(.read(reader: r), after: UInt64(rng.int(in: 0...200_000))) }
        schedule(.chaos, after: Self.chaosPeriod)
        push(.healAll, at: faultEnd)
        push(.deadline, at: deadline)
        while violation == nil, let (t, event) = queue.pop() {
            now = t
            stats.events += 1
            if case .deadline = event {
                // Liveness: every proposal pending when the faults healed has an outcome by now.
                if clients.contains(where: { $0.op != nil }) { finish(); break }
                // Then lagging followers get time to catch up, in proportion to the worst batching.
                if !convergeDeadlineSet {
                    convergeDeadlineSet = true
                    push(.deadline, at: now + 120_000_000)
                    continue
                }
                finish()
                break
            }
            handle(event)
            if violation == nil { checkAll() }
            if healed && clients.allSatisfy(\.done) && converged() { finishConverged(); break }
        }
        stats.virtualMicros = now
        stats.committedEntries = checker.committedCount
        stats.acknowledged = acked.count
        var hash: String?
        if tracing {
            trace(violation.map { "end violation \($0.invariant)" } ?? "end ok")
            hash = sha.finalize().map { String(format2hex: $0) }.joined()
        }
        return SeedOutcome(seed: seed, violation: violation, traceTail: tail, traceHash: hash, stats: stats)
    }

    private func handle(_ event: Event) {
        switch event {
        case let .tick(k, inc):
            guard let r = nodes[k].replica, nodes[k].incarnation == inc else { return }
            r.tick()
            schedule(.tick(node: k, incarnation: inc), after: tickMicros)
        case let .deliver(m, inc):
            let k = index(of: m.to)
            guard let r = nodes[k].replica, nodes[k].incarnation == inc else { return }
            trace("recv \(m)")
            r.receive(m)
        case let .sync(k, gen, complete):
            trace("fsync \(nodes[k].id) gen=\(gen)")
            complete()
        case let .request(c, attempt, k):
            request(client: c, attempt: attempt, node: k)
        case let .response(c, attempt, op, result, from):
            response(client: c, attempt: attempt, op: op, result: result, from: from)
        case let .timeout(c, attempt):
            guard clients[c].attempt == attempt, clients[c].op != nil else { return }
            trace("client\(c) timeout attempt=\(attempt)")
            clients[c].believedLeader = nil
            retry(client: c, after: 0)
        case let .nextOp(c):
            nextOp(client: c)
        case let .read(r):
            read(reader: r)
        case .chaos:
            chaos()
        case let .restart(k):
            if nodes[k].replica == nil { start(node: k) }
        case let .leaderFault(k, term):
            guard !healed, let r = nodes[k].replica, r.raft.role == .leader, r.raft.term == term else { return }
            if rng.chance(0.5) {
                crash(node: k)
                schedule(.restart(node: k), after: UInt64(rng.double(in: down) * 1000))
            } else {
                isolate(k)
            }
        case let .healPartition(gen):
            if gen == partitionGeneration { healPartitions() }
        case let .unclog(a, b, gen):
            if gen == clogGeneration { clog[a][b] = 0 }
        case .healAll:
            healAll()
        case .deadline:
            break
        }
    }

    // MARK: - Nodes

    private func index(of id: NodeID) -> Int { Int(id.rawValue) - 1 }

    private func start(node k: Int) {
        let node = nodes[k]
        node.incarnation += 1
        let inc = node.incarnation
        node.disk.scheduleSync = { [unowned self] gen, complete in
            // One device per node: a batch's sync completes after the previous one's.
            let at = max(self.now + UInt64(self.rng.double(in: self.fsync) * 1000), node.lastSync)
            node.lastSync = at
            self.push(.sync(node: k, generation: gen, complete: complete), at: at)
        }
        node.disk.observeWrite = { [unowned self] batch, before in
            guard self.violation == nil else { return }
            do throws(Violation) {
                try self.checker.checkWrite(node: node.id, batch: batch, before: before, now: self.now)
                if let s = batch.snapshot?.snapshot {
                    if case .installed = batch.snapshot { self.trace("install \(node.id) snapshot \(s.metadata.position)") }
                    try self.checker.checkSnapshot(node: node.id, index: s.metadata.index, bytes: s.data, now: self.now)
                }
            } catch {
                self.violation = error
            }
        }
        node.expected = Array(repeating: 0, count: topics.count)
        node.delivered = []
        do {
            let bus = try BusNode(config: config(node.id), storage: node.disk,
                                  transport: Link(world: self, from: k, incarnation: inc),
                                  random: Xoshiro256(seed: rng.next()), snapshots: snapshotPolicy,
                                  pipelineDepth: pipelineDepth,
                                  clock: { [unowned self] in Self.epochMillis + self.now / 1000 })
            node.bus = bus
            // What the replica replayed while it started was applied before the hook was set:
            // check it from its log, then follow the apply stream.
            try checker.replayed(node: k, id: node.id, replica: bus.replica, now: now)
            bus.replica.onApply = { [unowned self] entry in
                guard self.violation == nil else { return }
                do throws(Violation) { try self.checker.applied(node: k, id: node.id, entry: entry, now: self.now) } catch {
                    self.violation = error
                }
            }
            bus.replica.onRestore = { [unowned self] snapshot in
                self.checker.restored(node: k, at: snapshot.metadata.index)
            }
            for t in topics.indices {
                bus.subscribe(topic: topics[t].name, from: 0) { [unowned self] event in
                    self.delivered(node: k, topic: t, event)
                }
            }
        } catch let v as Violation {
            violation = v
            return
        } catch {
            violation = Violation(invariant: "recovery", detail: "\(node.id) cannot recover its log: \(error)", time: now)
            return
        }
        trace("start \(node.id) incarnation=\(inc) log=\(node.disk.durable.compacted)..\(node.disk.durable.last) term=\(node.disk.durable.hardState.term)")
        schedule(.tick(node: k, incarnation: inc), after: UInt64(rng.int(in: 1...Int(tickMicros))))
    }

    private func crash(node k: Int) {
        let node = nodes[k]
        guard node.bus != nil else { return }
        let keep = node.disk.unsyncedCount == 0 ? 0 : rng.int(in: 0...node.disk.unsyncedCount)
        trace("crash \(node.id) keeps \(keep)/\(node.disk.unsyncedCount) unsynced writes")
        node.disk.crash(keepingUnsynced: keep)
        node.bus = nil
        node.incarnation += 1
        stats.crashes += 1
    }

    // MARK: - Network

    fileprivate func transmit(_ m: Message) {
        let a = index(of: m.from), b = index(of: m.to)
        guard nodes[a].replica != nil else { return }
        if cut[a][b] || rng.chance(drop) {
            trace("drop \(m)")
            return
        }
        let copies = rng.chance(duplicate) ? 2 : 1
        for _ in 0..<copies {
            let d = UInt64(rng.double(in: delay) * 1000) + clog[a][b]
            schedule(.deliver(m, incarnation: nodes[b].incarnation), after: d)
        }
    }

    private func netDelay() -> UInt64 { UInt64(rng.double(in: delay) * 1000) }

    // MARK: - Clients

    /// Client 0 first creates the topics; then every client publishes to random topics.
    private func nextOp(client c: Int) {
        guard !healed else {
            clients[c].done = true
            return
        }
        clients[c].seq += 1
        let seq = clients[c].seq
        let sender = clients[c].sender
        let id = (try? CommandID("c\(c)-\(seq)"))!
        let op: Op
        if c == 0 && seq <= topics.count {
            let t = seq - 1
            op = Op(id: id, key: "\(sender)/\(id)",
                    command: .createTopic(.init(name: topics[t].name, retention: topics[t].retention)), topic: t, digest: 0)
        } else {
            let t = rng.int(in: 0...(topics.count - 1))
            var payload = [UInt8](repeating: 0, count: rng.int(in: payloadBytes))
            for k in payload.indices { payload[k] = UInt8(truncatingIfNeeded: rng.next()) }
            op = Op(id: id, key: "\(sender)/\(id)",
                    command: .publish((try? BusCommand.Publish(topic: topics[t].name, payload: payload))!),
                    topic: t, digest: Fingerprint.of(kind: 0, payload))
        }
        clients[c].op = op
        issued.insert(op.key)
        trace("client\(c) submit \(op.key) \(op.command.type) \(topics[op.topic].name)")
        retry(client: c, after: 0)
    }

    private func retry(client c: Int, after delayMicros: UInt64) {
        clients[c].attempt += 1
        let attempt = clients[c].attempt
        let target = clients[c].believedLeader ?? rng.int(in: 0...(n - 1))
        schedule(.request(client: c, attempt: attempt, node: target), after: delayMicros + netDelay())
        schedule(.timeout(client: c, attempt: attempt), after: delayMicros + clientTimeout)
    }

    private func request(client c: Int, attempt: Int, node k: Int) {
        guard let op = clients[c].op, clients[c].attempt == attempt, let bus = nodes[k].bus else { return }
        trace("client\(c) attempt=\(attempt) at \(nodes[k].id)")
        bus.submit(op.command, id: op.id, sender: clients[c].sender) { [unowned self] result in
            // The answer travels back over the network (and may be lost with the node).
            if self.rng.chance(self.drop) { return }
            self.schedule(.response(client: c, attempt: attempt, op: op.key, result: result, from: k), after: self.netDelay())
        }
    }

    private func response(client c: Int, attempt: Int, op key: String, result: Result<CommandOutcome, BusNodeError>, from k: Int) {
        guard let op = clients[c].op, op.key == key else { return }
        switch result {
        case .success(let outcome):
            // A success for any attempt of the current operation acknowledges it.
            trace("client\(c) ack \(op.key): \(outcome)")
            switch (op.command, outcome) {
            case (.createTopic, .topicCreated):
                break
            case (.publish, .published(let name, let offset)):
                guard name == topics[op.topic].name,
                      let stored = published[TopicOffset(topic: op.topic, offset: offset)],
                      stored.key == op.key, stored.digest == op.digest else {
                    violation = Violation(invariant: "acknowledged publish lost",
                                          detail: "\(op.key) acknowledged at \(name)@\(offset), but no replica holds it there", time: now)
                    return
                }
                acked.append(Acked(key: op.key, sender: clients[c].sender, id: op.id, topic: op.topic, offset: offset))
            case (.publish, .rejected(.unknownTopic)):
                break  // published before client 0 created the topic: a correct refusal
            default:
                violation = Violation(invariant: "client", detail: "\(op.key) got unexpected outcome \(outcome)", time: now)
                return
            }
            clients[c].op = nil
            clients[c].acknowledged += 1
            clients[c].believedLeader = k
            schedule(.nextOp(client: c), after: UInt64(rng.int(in: 0...50_000)))
        case .failure(let error):
            guard attempt == clients[c].attempt else { return }
            trace("client\(c) attempt=\(attempt) failed \(error)")
            switch error {
            case .replica(.notLeader(let leader)):
                clients[c].believedLeader = leader.map(index(of:))
                retry(client: c, after: leader == nil ? 50_000 : 0)
            case .replica:
                clients[c].believedLeader = nil
                retry(client: c, after: 20_000)
            case .invalid, .rejected, .outcomeUnknown:
                violation = Violation(invariant: "client", detail: "\(op.key) failed: \(error)", time: now)
            }
        }
    }

    /// A linearizable read at a random node (followers too). Every publish a client had seen
    /// acknowledged before the read began must be in the state the read observes (§6.4).
    private func read(reader r: Int) {
        guard !healed else { return }
        let k = rng.int(in: 0...(n - 1))
        let mustSee = acked.suffix(64)
        let began = now
        let next = UInt64(rng.int(in: 20_000...300_000))
        guard let bus = nodes[k].bus else { return schedule(.read(reader: r), after: next) }
        trace("reader\(r) read at \(nodes[k].id)")
        bus.readLinearizable { [unowned self] result in
            switch result {
            case .success(let state):
                if let missing = mustSee.first(where: { a in
                    (state.topic(named: self.topics[a.topic].name)?.nextOffset ?? 0) <= a.offset
                }) {
                    self.violation = Violation(
                        invariant: "linearizable read",
                        detail: "read at \(self.nodes[k].id) (applied \(state.lastApplied)) begun at \(began) misses \(missing.key) at \(self.topics[missing.topic].name)@\(missing.offset), acknowledged before it",
                        time: self.now)
                }
                self.trace("reader\(r) read ok applied=\(state.lastApplied)")
            case .failure(let e):
                self.trace("reader\(r) read failed \(e)")
            }
        }
        schedule(.read(reader: r), after: next)
    }

    fileprivate func codecMismatch(_ messages: [Message]) {
        guard violation == nil else { return }
        violation = Violation(invariant: "mesh codec",
                              detail: "a batch of \(messages.count) messages did not survive MessageCodec: \(messages.first.map { "\($0)" } ?? "")",
                              time: now)
    }

    /// A local subscription delivered: in offset order, each publish once, the same content on
    /// every replica, and only what a client issued.
    private func delivered(node k: Int, topic t: Int, _ event: SubscriptionEvent) {
        guard violation == nil else { return }
        let node = nodes[k]
        func fail(_ invariant: String, _ detail: String) {
            violation = Violation(invariant: invariant, detail: "\(node.id) \(topics[t].name): \(detail)", time: now)
        }
        switch event {
        case .gap(let from, let resumeAt):
            guard from == node.expected[t], resumeAt > from else {
                return fail("subscription order", "gap \(from)..<\(resumeAt) while expecting \(node.expected[t])")
            }
            node.expected[t] = resumeAt
        case .message(let m):
            guard m.offset == node.expected[t] else {
                return fail("subscription order", "delivered offset \(m.offset) while expecting \(node.expected[t])")
            }
            node.expected[t] = m.offset + 1
            let key = "\(m.sender)/\(m.commandID)"
            guard issued.contains(key) else { return fail("only proposed commands applied", "\(key) was never issued") }
            guard node.delivered.insert(key).inserted else {
                return fail("publish applied once", "\(key) published twice (again at offset \(m.offset))")
            }
            let digest = Fingerprint.of(kind: 0, m.payload)
            let at = TopicOffset(topic: t, offset: m.offset)
            if let known = published[at] {
                if known.key != key || known.digest != digest {
                    return fail("replicas agree", "offset \(m.offset) holds \(key) here but \(known.key) elsewhere")
                }
            } else {
                published[at] = (key, digest)
            }
        }
    }

    // MARK: - Faults

    private func chaos() {
        guard !healed else { return }
        let dt = Double(Self.chaosPeriod) / 1_000_000
        for k in 0..<n where nodes[k].replica != nil && rng.chance(crashRate * dt) {
            crash(node: k)
            schedule(.restart(node: k), after: UInt64(rng.double(in: down) * 1000))
        }
        if rng.chance(partitionRate * dt) { partition() }
        if rng.chance(clogRate * dt) {
            let a = rng.int(in: 0...(n - 1)), b = rng.int(in: 0...(n - 1))
            if a != b {
                clogGeneration += 1
                let d = UInt64(rng.double(in: clogDuration) * 1000)
                clog[a][b] = d
                trace("clog \(nodes[a].id)->\(nodes[b].id) \(d)us")
                schedule(.unclog(from: a, to: b, generation: clogGeneration), after: d)
            }
        }
        schedule(.chaos, after: Self.chaosPeriod)
    }

    private func partition() {
        for a in 0..<n { for b in 0..<n { cut[a][b] = false } }
        var kind = ""
        switch rng.below(4) {
        case 0:  // symmetric: two sides
            var side = (0..<n).map { _ in rng.chance(0.5) }
            if side.allSatisfy({ $0 }) || side.allSatisfy({ !$0 }) { side[rng.int(in: 0...(n - 1))].toggle() }
            for a in 0..<n { for b in 0..<n where side[a] != side[b] { cut[a][b] = true } }
            kind = "symmetric " + side.map { $0 ? "A" : "B" }.joined()
        case 1:  // asymmetric: one node cannot reach some others, but hears them
            let a = rng.int(in: 0...(n - 1))
            for b in 0..<n where b != a && rng.chance(0.6) { cut[a][b] = true }
            kind = "asymmetric from \(nodes[a].id)"
        case 2:  // isolate the leader
            let leader = nodes.firstIndex { $0.replica?.raft.role == .leader } ?? rng.int(in: 0...(n - 1))
            return isolate(leader)
        default:  // bridge: two sides that only one node connects
            let bridge = rng.int(in: 0...(n - 1))
            let side = (0..<n).map { $0 == bridge ? false : rng.chance(0.5) }
            for a in 0..<n where a != bridge { for b in 0..<n where b != bridge && side[a] != side[b] { cut[a][b] = true } }
            kind = "bridge \(nodes[bridge].id)"
        }
        partitionGeneration += 1
        stats.partitions += 1
        let d = UInt64(rng.double(in: partitionDuration) * 1000)
        trace("partition \(kind) for \(d)us")
        schedule(.healPartition(generation: partitionGeneration), after: d)
    }

    private func isolate(_ k: Int) {
        for a in 0..<n { for b in 0..<n { cut[a][b] = false } }
        for b in 0..<n where b != k { cut[k][b] = true; cut[b][k] = true }
        partitionGeneration += 1
        stats.partitions += 1
        let d = UInt64(rng.double(in: partitionDuration) * 1000)
        trace("partition isolate \(nodes[k].id) for \(d)us")
        schedule(.healPartition(generation: partitionGeneration), after: d)
    }

    private func healPartitions() {
        for a in 0..<n { for b in 0..<n { cut[a][b] = false } }
        trace("partition healed")
    }

    private func healAll() {
        healed = true
        drop = 0
        duplicate = 0
        partitionGeneration += 1
        clogGeneration += 1
        healPartitions()
        for a in 0..<n { for b in 0..<n { clog[a][b] = 0 } }
        for k in 0..<n where nodes[k].replica == nil { start(node: k) }
        trace("heal all")
        for c in clients.indices where clients[c].op == nil { clients[c].done = true }
    }

    // MARK: - Checks

    private func checkAll() {
        do throws(Violation) {
            for (k, node) in nodes.enumerated() {
                guard let r = node.replica else { continue }
                if let reason = r.haltReason {
                    throw Violation(invariant: "replica halted", detail: "\(node.id): \(reason)", time: now)
                }
                try checker.check(node: k, replica: r, now: now)
                if r.raft.role == .leader, leaderSeen[k] != r.raft.term {
                    leaderSeen[k] = r.raft.term
                    stats.elections += 1
                    trace("leader \(node.id) term \(r.raft.term)")
                    if !healed, rng.chance(leaderFault) {
                        schedule(.leaderFault(node: k, term: r.raft.term), after: UInt64(rng.double(in: leaderFaultDelay) * 1000))
                    }
                }
            }
            if checker.committedCount > durableCheckedAt, let latest = checker.latestCommitted {
                durableCheckedAt = checker.committedCount
                let logs = nodes.map { node in
                    let d = node.disk.durable
                    if let r = node.replica {
                        let holds = latest.index <= r.raft.compacted.index || r.raft.term(at: latest.index) == latest.term
                        return (last: LogPosition(index: r.raft.lastIndex, term: r.raft.lastTerm), holdsCommitted: holds, durable: d.last)
                    }
                    let holds = latest.index <= d.compacted.index || d.term(at: latest.index) == latest.term
                    return (last: d.last, holdsCommitted: holds, durable: d.last)
                }
                try checker.checkCommitDurable(logs: logs, ids: nodes.map(\.id), now: now)
            }
        } catch {
            violation = error
        }
        for c in clients.indices where healed && clients[c].op == nil { clients[c].done = true }
    }

    /// Every node is up and has applied the same, complete committed log.
    private func converged() -> Bool {
        guard let first = nodes[0].replica else { return false }
        let commit = first.raft.commitIndex
        return nodes.allSatisfy { node in
            guard let r = node.replica else { return false }
            return r.raft.commitIndex == commit && r.appliedIndex == commit && r.raft.lastIndex == commit
        }
    }

    private func finishConverged() {
        // Byte-identical state everywhere, and every acknowledged publish in it, once.
        guard let reference = nodes[0].bus?.state.snapshot() else { return }
        for node in nodes {
            guard let state = node.bus?.state else { continue }
            if state.snapshot() != reference {
                violation = Violation(invariant: "identical snapshots",
                                      detail: "\(node.id) state differs from \(nodes[0].id) at the same applied index \(state.lastApplied)",
                                      time: now)
                return
            }
            for a in acked where state.outcome(sender: a.sender, id: a.id) != .published(topic: topics[a.topic].name, offset: a.offset) {
                violation = Violation(invariant: "acknowledged publish lost",
                                      detail: "\(node.id) does not hold acknowledged \(a.key) at \(topics[a.topic].name)@\(a.offset)",
                                      time: now)
                return
            }
        }
    }

    private func finish() {
        let pending = clients.enumerated().filter { $0.element.op != nil }
        if let (c, client) = pending.first, let op = client.op {
            violation = Violation(invariant: "liveness",
                                  detail: "client\(c) command \(op.key) still pending \(Double(deadline - faultEnd) / 1e6)s after all faults healed (\(pending.count) pending)",
                                  time: now)
            return
        }
        let roles = nodes.map { "\($0.id)=\($0.replica.map { "\($0.raft.role.rawValue)/t\($0.raft.term)/c\($0.raft.commitIndex)/l\($0.raft.lastIndex)" } ?? "down")" }
        violation = Violation(invariant: "liveness",
                              detail: "cluster did not converge \(Double(now - faultEnd) / 1e6)s after healing: \(roles.joined(separator: " "))",
                              time: now)
    }

    // MARK: - Scheduling and trace

    private func schedule(_ e: Event, after micros: UInt64) { queue.push(e, at: now + micros) }
    private func push(_ e: Event, at time: UInt64) { queue.push(e, at: time) }

    private func trace(_ line: @autoclosure () -> String) {
        guard tracing else { return }
        let text = "\(now) \(line())"
        sha.update(text + "\n")
        tail.append(text)
        if tail.count > traceLines + traceLines / 2 { tail.removeFirst(tail.count - traceLines) }
    }

    private func fmt(_ x: Double) -> String {
        let v = Int((x * 1000).rounded())
        return "\(v / 1000).\(String(v % 1000).leftPadded(3))"
    }
}

extension String {
    init(format2hex byte: UInt8) {
        let digits = Array("0123456789abcdef")
        self = String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }

    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
