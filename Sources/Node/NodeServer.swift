import Bus
import Client
import Consensus
import Domains
import Foundation
import Secure
import Wire

/// One Florian node process: the bus replica, its SQLite log on an IO thread, the mesh to its
/// peers and the client endpoint, all driven by one event loop thread. `run` blocks until `stop`.
public final class NodeServer {
    public let config: NodeConfig
    let loop: EventLoop
    let bus: BusNode
    let mesh: Mesh
    private let storage: ThreadedLogStorage
    private let completions = Mailbox<StorageCompletion>()
    private var meshServer: TLSServer!
    private var clientServer: TLSServer!
    private var mqtt: MQTTEndpoint?
    let log: (String) -> Void
    private var tickTimer: UInt64?
    /// Lazy ticks: the node sleeps until Raft next acts on its own and delivers every elapsed
    /// tick before anything else reaches Raft (`advanceClock`), instead of waking every tick.
    private let tickInterval: UInt64
    private var lastTick: UInt64
    private var wakeAt: UInt64 = .max
    private var halted = false
    private var lastRole: Consensus.Role = .follower
    private var lastLeader: NodeID?
    /// The alarm dispatcher's state machine (namespace "alarm").
    let alarm = AlarmMachine()
    /// The partner endpoint's MQTT state (namespace "mqtt").
    let partners = PartnerMachine()
    /// The helper-network router (namespace "helpers").
    let helpers = HelpersMachine()
    /// The leader moves the state clock when a domain deadline is due (`alarm.clock`).
    private var deadlineTimer: (timer: UInt64, at: UInt64)?
    private var clock = LeaderClock()

    private struct StorageCompletion: Sendable {
        var token: UInt64
        var error: String?
    }

    /// Opens the log (refusing a corrupt one), binds both listeners and connects to the peers.
    /// Call on the thread that will call `run`.
    public init(config: NodeConfig, log: @escaping (String) -> Void) throws {
        self.config = config
        self.log = log
        let loop = try EventLoop()
        self.loop = loop
        try FileManager.default.createDirectory(atPath: config.data, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let completions = self.completions
        let handle = loop.handle
        storage = try ThreadedLogStorage(path: config.data + "/log.sqlite") { token, error in
            completions.post(StorageCompletion(token: token, error: error))
            handle.execute {}
        }
        func tls(_ roles: Set<Secure.Role>, _ side: TLSContext.Side) throws -> TLSContext {
            try TLSContext(TLSConfiguration(caFile: config.tls.ca, certificateFile: config.tls.cert, keyFile: config.tls.key,
                                            crlFile: config.tls.crl, acceptedRoles: roles), side: side)
        }
        let meshServerContext = try tls([.node], .server)
        let meshClientContext = try tls([.node], .client)
        let clientContext = try tls(ClientSession.acceptedRoles, .server)
        var generator = SystemRandomNumberGenerator()
        let seed = generator.next()
        mesh = Mesh(config: config, loop: loop, dialContext: meshClientContext, seed: seed, log: log)
        let timing = config.timing ?? NodeConfig.Timing()
        var raft = RaftConfig(id: NodeID(config.node), voters: config.members.map { NodeID($0.id) })
        raft.electionTicks = timing.electionTicks
        raft.heartbeatTicks = timing.heartbeatTicks
        HelpersMachine.bridge(helpers, partners)
        bus = try BusNode(config: raft, storage: storage, transport: mesh, random: Xoshiro256(seed: seed ^ 0x9E37_79B9_7F4A_7C15),
                          snapshots: SnapshotPolicy(every: config.snapshotEvery ?? 10_000, trailing: 1_000, logToStateRatio: 1),
                          domains: [(AlarmMachine.namespace, alarm), (PartnerMachine.namespace, partners), (HelpersMachine.namespace, helpers)],
                          clock: { UInt64(Date().timeIntervalSince1970 * 1000) })
        // Before any entry is applied (the replica only restores a snapshot while it starts).
        bus.state.registerBridged(namespace: HelpersMachine.namespace)
        tickInterval = UInt64(timing.tickMillis) * 1_000_000
        lastTick = EventLoop.now()
        mesh.onMessages = { [unowned self] messages in
            self.advanceClock()
            for m in messages { self.bus.receive(m) }
        }
        mesh.onForward = { [unowned self] envelope, reply in self.submitAsLeader(envelope, reply: reply) }
        loop.everyIteration = { [unowned self] in self.drainCompletions() }
        meshServer = try TLSServer(loop: loop, context: meshServerContext, host: config.me.mesh.host, port: config.me.mesh.port,
                                   limits: Mesh.limits, log: { _ in }) { [unowned self] c in self.mesh.accept(c) }
        clientServer = try TLSServer(loop: loop, context: clientContext, host: config.me.client.host, port: config.me.client.port,
                                     log: log) { [unowned self] c in ClientSession(node: self, peer: c.peer!) }
        if let endpoint = config.me.mqtt {
            mqtt = try MQTTEndpoint(node: self, loop: loop, context: try tls(MQTTEndpoint.acceptedRoles, .server), endpoint: endpoint, log: log)
        }
        mesh.start()
        scheduleWake()
        log("node \(config.node) (\(config.me.name)) of cluster '\(config.cluster)': mesh \(config.me.mesh), client \(config.me.client)"
            + (config.me.mqtt.map { ", mqtt \($0)" } ?? "") + ", log \(config.data)/log.sqlite")
    }

    /// Builds the node's TLS contexts once: throws what is wrong with the CA, CRL, certificate
    /// or key (`florian node --check`).
    public static func checkTLS(_ config: NodeConfig) throws {
        for side in [TLSContext.Side.server, .client] {
            _ = try TLSContext(TLSConfiguration(caFile: config.tls.ca, certificateFile: config.tls.cert, keyFile: config.tls.key,
                                                crlFile: config.tls.crl, acceptedRoles: [.node]), side: side)
        }
    }

    /// The thread-safe handle: `stop()` from a signal handler or another thread.
    public var handle: EventLoop.LoopHandle { loop.handle }

    /// Runs the node until `handle.stop()`, then closes connections and the log.
    public func run() {
        loop.run()
        meshServer.stop()
        clientServer.stop()
        mqtt?.stop()
        mesh.stop()
        log("node \(config.node) stopped")
    }

    /// Delivers the ticks that elapsed since the last one (at most 10 000: after a longer stall
    /// the node only needs to know that its timeouts passed).
    func advanceClock() {
        let now = EventLoop.now()
        guard now >= lastTick + tickInterval else { return }
        let n = (now - lastTick) / tickInterval
        for _ in 0..<min(n, 10_000) { bus.tick() }
        lastTick += n * tickInterval
    }

    /// Makes sure the loop wakes when Raft next needs a tick (a heartbeat, an election timeout).
    private func scheduleWake() {
        guard !halted else { return }
        let due = lastTick + UInt64(min(bus.replica.raft.ticksUntilDue, 1_000)) * tickInterval
        guard due < wakeAt else { return }
        if let t = tickTimer { loop.cancel(timer: t) }
        wakeAt = due
        let now = EventLoop.now()
        tickTimer = loop.schedule(after: due > now ? due - now : 0) { [unowned self] in
            self.tickTimer = nil
            self.wakeAt = .max
            self.advanceClock()
            self.noteLeadership()
            self.scheduleWake()
        }
    }

    private func drainCompletions() {
        for c in completions.takeNow() { storage.completed(token: c.token, error: c.error) }
        noteLeadership()
        scheduleWake()
        scheduleDeadline()
    }

    /// On the leader: wakes when the earliest domain deadline is due and proposes a clock command
    /// then, so deadlines fire (re-alarm, fallback, lease expiry) also when no other command comes.
    /// The command's timestamp — the leader's clock — is what moves the state clock.
    private func scheduleDeadline() {
        guard !halted, let due = clock.wake(isLeader: bus.replica.raft.role == .leader, deadline: bus.state.nextDomainDeadline) else { return }
        if let current = deadlineTimer {
            guard due < current.at else { return }
            loop.cancel(timer: current.timer)
        }
        let now = bus.now
        let delay = due > now ? (due - now) * 1_000_000 : 0
        let timer = loop.schedule(after: delay) { [unowned self] in
            self.deadlineTimer = nil
            let raft = self.bus.replica.raft
            guard let id = self.clock.propose(isLeader: raft.role == .leader, deadline: self.bus.state.nextDomainDeadline, now: self.bus.now,
                                              node: self.config.node, term: raft.term) else {
                return self.scheduleDeadline()
            }
            self.bus.submit(type: LeaderClock.commandType, id: id, sender: "node:\(self.config.me.name)", payload: LeaderClock.payload) { [unowned self] _ in
                self.clock.completed()
                self.scheduleDeadline()
            }
        }
        deadlineTimer = (timer, due)
    }

    private func noteLeadership() {
        let role = bus.replica.raft.role, leader = bus.replica.raft.leader
        if role != lastRole || leader != lastLeader {
            let term = bus.replica.raft.term
            if role == .leader && lastRole != .leader { log("became leader in term \(term)") }
            else if leader != lastLeader, let l = leader, l.rawValue != config.node { log("leader is node \(l.rawValue) (term \(term))") }
            lastRole = role
            lastLeader = leader
        }
        if let halt = bus.replica.haltReason, !halted {
            halted = true
            log("HALTED: \(halt)")
            if let t = tickTimer { loop.cancel(timer: t) }
            tickTimer = nil
        }
    }

    // MARK: - Commands

    /// Why a replica error stops a command, as the client protocol says it.
    func failure(_ e: BusNodeError) -> RequestFailure {
        switch e {
        case .replica(.notLeader(let leader)):
            return unavailable(leader: leader, "this node does not lead")
        case .replica(.dropped):
            return RequestFailure(code: .unavailable, reason: "leadership changed before the command committed; retry with the same id")
        case .replica(.halted(let reason)):
            return RequestFailure(code: .halted, reason: reason)
        case .replica(.entryTooLarge(let size, let limit)):
            return RequestFailure(code: .invalid, reason: "command of \(size) bytes over the limit of \(limit)")
        case .replica(.readUnavailable):
            return unavailable(leader: bus.replica.raft.leader, "no leader could confirm a read index")
        case .replica(.timedOut):
            return RequestFailure(code: .timedOut, reason: "no answer in time; retry")
        case .invalid(let b):
            return RequestFailure(code: .invalid, reason: "\(b)")
        case .rejected(let r):
            return RequestFailure(code: .invalid, reason: "\(r)")
        case .outcomeUnknown:
            return RequestFailure(code: .timedOut, reason: "committed, but the outcome is no longer recorded")
        }
    }

    func unavailable(leader: NodeID?, _ reason: String) -> RequestFailure {
        guard let leader, let m = config.members.first(where: { $0.id == leader.rawValue }) else {
            return RequestFailure(code: .unavailable, reason: "no leader elected yet; retry")
        }
        return RequestFailure(code: .unavailable, leader: m.id, leaderAddress: m.client.description, reason: reason)
    }

    /// Runs a command here if this node leads, else forwards it to the leader over the mesh.
    func submit(_ envelope: CommandEnvelope, reply: @escaping (Result<[UInt8], RequestFailure>) -> Void) {
        let raft = bus.replica.raft
        if raft.role == .leader { return submitAsLeader(envelope, reply: reply) }
        guard let leader = raft.leader else { return reply(.failure(unavailable(leader: nil, "no leader"))) }
        mesh.forward(envelope, to: leader.rawValue, done: reply)
    }

    /// Admission to the log for everything but alarm commands: at most this many such commands
    /// are in Raft's pipeline at once; the rest wait here in arrival order. Alarm commands are
    /// never held, so they queue behind at most this many bulk entries, not behind every publish
    /// a busy client has pipelined.
    static let bulkInFlightLimit = 8
    private var bulkInFlight = 0
    private var bulkWaiting = FIFOQueue<(CommandEnvelope, (Result<[UInt8], RequestFailure>) -> Void)>()

    /// Proposes a command (from a local client or forwarded by a peer) on this node, which must lead.
    func submitAsLeader(_ envelope: CommandEnvelope, reply: @escaping (Result<[UInt8], RequestFailure>) -> Void) {
        guard envelope.namespace != AlarmMachine.namespace else { return propose(envelope, reply: reply) }
        guard bulkInFlight < Self.bulkInFlightLimit else { return bulkWaiting.append((envelope, reply)) }
        bulkInFlight += 1
        propose(envelope) { [weak self] result in
            reply(result)
            guard let self else { return }
            self.bulkInFlight -= 1
            if let (next, nextReply) = self.bulkWaiting.popFirst() { self.submitAsLeader(next, reply: nextReply) }
        }
    }

    private func propose(_ envelope: CommandEnvelope, reply: @escaping (Result<[UInt8], RequestFailure>) -> Void) {
        // The leader's clock stamps every command: a follower whose clock runs ahead must not
        // move the state clock (dedup window, retention by age) forward.
        let stamped = (try? CommandEnvelope(type: envelope.type, id: envelope.id, sender: envelope.sender,
                                            timestamp: bus.now, payload: envelope.payload)) ?? envelope
        bus.submit(envelope: stamped) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let outcome): reply(.success(outcome.encoded()))
            case .failure(let e): reply(.failure(self.failure(e)))
            }
        }
    }

    // MARK: - Status

    func status() -> ClusterStatus {
        let raft = bus.replica.raft
        let now = EventLoop.now()
        let members = config.members.map { m -> MemberStatus in
            let isSelf = m.id == config.node
            let match = raft.matchIndex(of: NodeID(m.id))
            return MemberStatus(id: m.id, name: m.name, client: m.client.description,
                                link: isSelf ? "self" : (mesh.isUp(m.id) ? "up" : "down"),
                                lastHeardMillis: isSelf ? 0 : mesh.lastHeard[m.id].map { (now - $0) / 1_000_000 },
                                match: match, lag: match.map { raft.lastIndex > $0 ? raft.lastIndex - $0 : 0 })
        }
        let role: String = switch raft.role {
        case .leader: "leader"
        case .follower: "follower"
        case .candidate: "candidate"
        case .preCandidate: "precandidate"
        }
        return ClusterStatus(node: config.node, role: role, term: raft.term, leader: raft.leader?.rawValue ?? 0,
                             commitIndex: raft.commitIndex, appliedIndex: bus.replica.appliedIndex, lastIndex: raft.lastIndex,
                             halted: bus.replica.haltReason, members: members)
    }
}
