import Alarming
import Bus
import Client
import Foundation
import Secure
import Wire

/// The cluster side of a gateway (station or paging), confined to the gateway's event loop:
/// keeps the network's lease (renewed every third of its lifetime), and while it holds it, feeds
/// the gateway the open instructions (`pending` query) and then every new one from the network's
/// instruction topic; carries receipts and line reports back as commands, retried until they are
/// committed (their ids make a retry harmless).
///
/// Only the lease holder sends: the link deactivates as soon as a renewal is refused, or when it
/// could not renew before the lease would have run out (the cluster is unreachable) — so two
/// gateways never both believe they are active for longer than the clock skew.
final class GatewayLink {
    enum Input: Sendable {
        case lease(Result<LeaseAnswer, RequestFailure>, sentAt: UInt64)
        case activated(PendingInstructions, from: UInt64, eventsFrom: UInt64, epoch: UInt64)
        case activationFailed(String)
        case message(BusMessage, subscription: UInt64)
        case committed(key: String, Result<CommandOutcome, RequestFailure>)
        case registry(Registry)
    }

    let network: Network
    let holder: String
    let client: FlorianClient
    private unowned let loop: EventLoop
    let mailbox = Mailbox<Input>()
    private let log: (String) -> Void
    private let nonce = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    private var counter: UInt64 = 0

    private(set) var active = false
    private(set) var epoch: UInt64 = 0
    private var activating = false
    private var leaseValidUntil: UInt64 = 0
    private var leaseMillis: UInt64 = 6_000
    private var leaseTimer: UInt64?
    private var subscription: UInt64?
    private var seenSequence: UInt64 = 0
    /// Commands waiting for their commit, with what to do then.
    private var unconfirmed: [String: (type: String, payload: [UInt8], attempts: Int, done: (Bool) -> Void)] = [:]
    /// The gateway's own fault (transmitter sink, …), reported with every renewal.
    var sinkFault: String?

    var onActivated: ([Instruction]) -> Void = { _ in }
    var onDeactivated: (String) -> Void = { _ in }
    var onInstruction: (Instruction) -> Void = { _ in }
    var onEvent: (AlarmEvent) -> Void = { _ in }
    /// A new registry was applied (read back from the cluster after its `registry.applied` event).
    var onRegistry: (Registry) -> Void = { _ in }

    init(network: Network, holder: String, client: FlorianClient, loop: EventLoop, log: @escaping (String) -> Void) {
        self.network = network
        self.holder = holder
        self.client = client
        self.loop = loop
        self.log = log
    }

    /// Call from the loop's `everyIteration`.
    func drain() {
        for input in mailbox.takeNow() { handle(input) }
    }

    func start() { renew() }

    func stop() {
        if let t = leaseTimer { loop.cancel(timer: t) }
        if let s = subscription { client.unsubscribe(s) }
        subscription = nil
        active = false
    }

    /// The wake-up that makes the loop drain the mailbox.
    private var wake: @Sendable () -> Void {
        let handle = loop.handle
        return { handle.execute {} }
    }

    private func nextID(_ prefix: String) -> String {
        counter += 1
        return "\(prefix)-\(nonce)-\(counter)"
    }

    // MARK: - Lease

    private func renew() {
        let request = AlarmCommand.lease(.init(network: network, holder: holder, sinkFault: sinkFault))
        let box = mailbox, wake = wake, sentAt = EventLoop.now()
        client.send(.submit(type: request.type, commandID: nextID("lease"), payload: request.payload)) { result in
            let answer: Result<LeaseAnswer, RequestFailure> = result.flatMap { reply in
                guard case .outcome(_, let bytes) = reply, let outcome = try? CommandOutcome.decode(bytes) else {
                    return .failure(RequestFailure(code: .invalid, reason: "unexpected reply"))
                }
                switch outcome {
                case .accepted(let json):
                    guard let a = try? JSONDecoder().decode(LeaseAnswer.self, from: Data(json)) else {
                        return .failure(RequestFailure(code: .invalid, reason: "unreadable lease answer"))
                    }
                    return .success(a)
                case .rejected(let why): return .failure(RequestFailure(code: .invalid, reason: "\(why)"))
                default: return .failure(RequestFailure(code: .invalid, reason: "unexpected outcome \(outcome)"))
                }
            }
            box.post(.lease(answer, sentAt: sentAt))
            wake()
        }
        scheduleRenewal(after: max(leaseMillis / 3, 500))
    }

    private func scheduleRenewal(after millis: UInt64) {
        if let t = leaseTimer { loop.cancel(timer: t) }
        leaseTimer = loop.schedule(after: millis * 1_000_000) { [unowned self] in
            self.leaseTimer = nil
            // Unable to renew in time: stop sending before the lease can have passed to another.
            if self.active, EventLoop.now() >= self.leaseValidUntil { self.deactivate("lease not renewed in time (cluster unreachable)") }
            self.renew()
        }
    }

    private func handle(_ input: Input) {
        switch input {
        case let .lease(.success(answer), sentAt):
            leaseMillis = answer.ttlMillis
            if answer.granted && answer.holder == holder {
                // Valid for ttl from when the command was sent, minus a margin for clock rates.
                leaseValidUntil = sentAt + (answer.ttlMillis * 1_000_000) * 9 / 10
                if !active && !activating { activate(epoch: answer.epoch) }
            } else if active {
                deactivate("the lease belongs to \(answer.holder) now")
            }
        case let .lease(.failure(f), _):
            if f.code == .invalid { log("lease refused: \(f.reason)") }
        case let .activated(pending, from, eventsFrom, epoch):
            activating = false
            guard EventLoop.now() < leaseValidUntil else { return }
            active = true
            self.epoch = epoch
            seenSequence = pending.sequence
            log("active for the \(network.rawValue) network (lease epoch \(epoch)); \(pending.instructions.count) open instructions")
            let box = mailbox, wake = wake
            let id = client.subscribe(topic: AlarmTopic.instructions(network), from: from) { event in
                if case .message(let m) = event { box.post(.message(m, subscription: 0)); wake() }
            }
            subscription = id
            let events = client.subscribe(topic: AlarmTopic.events, from: eventsFrom) { event in
                if case .message(let m) = event { box.post(.message(m, subscription: 1)); wake() }
            }
            eventsSubscription = events
            onActivated(pending.instructions)
        case .activationFailed(let why):
            activating = false
            log("could not take over: \(why); retrying with the next renewal")
        case let .message(m, kind):
            guard active else { return }
            if kind == 0 {
                guard let ins = try? JSONDecoder().decode(Instruction.self, from: Data(m.payload)) else {
                    return log("unreadable instruction at offset \(m.offset) skipped")
                }
                guard ins.sequence > seenSequence else { return }
                seenSequence = ins.sequence
                onInstruction(ins)
            } else if let e = try? JSONDecoder().decode(AlarmEvent.self, from: Data(m.payload)) {
                if e.event == "registry.applied" { fetchRegistry() }
                onEvent(e)
            }
        case .registry(let r):
            onRegistry(r)
        case let .committed(key, result):
            guard let entry = unconfirmed[key] else { return }
            switch result {
            case .success(let outcome):
                unconfirmed[key] = nil
                if case .rejected(let why) = outcome { log("\(entry.type) refused: \(why)") }
                entry.done(!outcome.isRejected)
            case .failure(let f):
                guard entry.attempts < 30 else {
                    unconfirmed[key] = nil
                    log("\(entry.type) given up after 30 attempts: \(f.reason)")
                    return entry.done(false)
                }
                unconfirmed[key]!.attempts += 1
                _ = loop.schedule(after: 1_000_000_000) { [weak self] in self?.send(key) }
            }
        }
    }

    private var eventsSubscription: UInt64?

    /// Reads the registry (linearizable) on a helper thread and hands it to `onRegistry`.
    private func fetchRegistry() {
        let client = client, box = mailbox, wake = wake
        Thread {
            // On failure the gateway keeps working with the registry it has.
            if let bytes = try? client.query(namespace: "alarm", name: "registry", payload: Array("{}".utf8)),
               let registry = try? JSONDecoder().decode(Registry.self, from: Data(bytes)) {
                box.post(.registry(registry))
                wake()
            }
        }.start()
    }

    /// Reads where the instruction topic ends, then the open instructions (linearizable), on a
    /// helper thread (the client's calls block); the subscription starts at that end, and the
    /// instructions' sequence numbers drop what the query already gave.
    private func activate(epoch: UInt64) {
        activating = true
        let client = client, network = network, box = mailbox, wake = wake
        Thread {
            func end(_ topic: String) throws -> UInt64 {
                do { return try client.read(topic: topic, from: 0, limit: 1).endOffset } catch let f as RequestFailure where f.code == .notFound {
                    return 0
                }
            }
            do {
                let from = try end(AlarmTopic.instructions(network)), eventsFrom = try end(AlarmTopic.events)
                let bytes = try client.query(namespace: "alarm", name: "pending", payload: StrictJSON.encode(["network": network.rawValue]))
                let pending = try JSONDecoder().decode(PendingInstructions.self, from: Data(bytes))
                box.post(.activated(pending, from: from, eventsFrom: eventsFrom, epoch: epoch))
            } catch {
                box.post(.activationFailed("\(error)"))
            }
            wake()
        }.start()
    }

    private func deactivate(_ why: String) {
        guard active else { return }
        active = false
        if let s = subscription { client.unsubscribe(s) }
        if let s = eventsSubscription { client.unsubscribe(s) }
        subscription = nil
        eventsSubscription = nil
        log("standing by: \(why)")
        onDeactivated(why)
    }

    // MARK: - Commands

    /// Submits `command` with `id` until it is committed (at most 30 attempts a second apart);
    /// `done(true)` once it was accepted.
    func submit(_ command: AlarmCommand, id: String, done: @escaping (Bool) -> Void = { _ in }) {
        guard unconfirmed[id] == nil else { return }
        unconfirmed[id] = (command.type, command.payload, 0, done)
        send(id)
    }

    /// A receipt's id: the same for the same (kind, order, target, round), so a retry — also by a
    /// restarted gateway with the same certificate — is applied once.
    static func receiptID(_ kind: String, _ r: AlarmCommand.Receipt) -> String {
        let digest = SHA256.hash(Array("\(kind)|\(r.order)|\(r.target)|\(r.round)".utf8))
        return "rcpt-" + digest.prefix(20).map { String($0, radix: 16).leftPadded(2) }.joined()
    }

    func uniqueID(_ prefix: String) -> String { nextID(prefix) }

    private func send(_ key: String) {
        guard let entry = unconfirmed[key] else { return }
        let box = mailbox, wake = wake
        client.send(.submit(type: entry.type, commandID: key, payload: entry.payload)) { result in
            let outcome: Result<CommandOutcome, RequestFailure> = result.flatMap { reply in
                guard case .outcome(_, let bytes) = reply, let o = try? CommandOutcome.decode(bytes) else {
                    return .failure(RequestFailure(code: .invalid, reason: "unexpected reply"))
                }
                return .success(o)
            }
            box.post(.committed(key: key, outcome))
            wake()
        }
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}
