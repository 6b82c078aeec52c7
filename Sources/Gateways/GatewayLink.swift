import Alarming
import Bus
import Client
import Foundation
import GatewayCore
import Secure
import Wire

/// A gateway core (`PagingCore`, `StationCore`) that the shell drives.
protocol GatewayCoreType: Sendable {
    mutating func handle(_ input: GatewayInput, now: UInt64) -> [GatewayDirective]
}

extension PagingCore: GatewayCoreType {}
extension StationCore: GatewayCoreType {}

/// The shell around a gateway core, confined to the gateway's event loop: performs the core's
/// directives over the cluster client (commands, the lease, the activation reads, the
/// subscriptions), arms its timers on the loop, and hands device directives (key a transmission,
/// send a frame) to the gateway. Everything the core decides is in the core; the simulator
/// drives the same core on virtual time.
final class GatewayLink<Core: GatewayCoreType> {
    private(set) var core: Core
    let network: Network
    let client: FlorianClient
    private unowned let loop: EventLoop
    let mailbox = Mailbox<GatewayInput>()
    private let log: (String) -> Void
    private var timers: [GatewayTimer: UInt64] = [:]
    private var subscriptions: [UInt64] = []
    private var stopped = false
    /// Performs a device directive (key, sound, send, refuse, close); returns what the core must
    /// be told at once (`.keyed`, `.sounded`, or `.closed` for a send that failed).
    var device: (GatewayDirective) -> GatewayInput? = { _ in nil }
    /// A registry read back from the cluster, before the core sees it (to open transmitters).
    var onRegistry: (Registry) -> Void = { _ in }

    init(core: Core, network: Network, client: FlorianClient, loop: EventLoop, log: @escaping (String) -> Void) {
        self.core = core
        self.network = network
        self.client = client
        self.loop = loop
        self.log = log
    }

    /// The core's clock: the loop's monotonic time in ms.
    static func now() -> UInt64 { EventLoop.now() / 1_000_000 }

    /// Call from the loop's `everyIteration`.
    func drain() {
        for input in mailbox.takeNow() where !stopped {
            if case .registry(let r) = input { onRegistry(r) }
            feed(input)
        }
    }

    func start() { feed(.start) }

    func stop() {
        stopped = true
        for t in timers.values { loop.cancel(timer: t) }
        timers.removeAll()
        unsubscribe()
    }

    /// Tells the core `input` and performs what it answers.
    func feed(_ input: GatewayInput) {
        guard !stopped else { return }
        perform(core.handle(input, now: Self.now()))
    }

    /// The wake-up that makes the loop drain the mailbox.
    private var wake: @Sendable () -> Void {
        let handle = loop.handle
        return { handle.execute {} }
    }

    private func perform(_ directives: [GatewayDirective]) {
        for d in directives {
            switch d {
            case let .submit(id, type, payload):
                let box = mailbox, wake = wake
                client.send(.submit(type: type, commandID: id, payload: payload)) { result in
                    box.post(.outcome(id: id, result.mapError { GatewayFailure($0.reason, refused: $0.code == .invalid) }.flatMap { reply in
                        guard case .outcome(_, let bytes) = reply, let o = try? CommandOutcome.decode(bytes) else {
                            return .failure(GatewayFailure("unexpected reply"))
                        }
                        return .success(o)
                    }))
                    wake()
                }
            case let .renewLease(id, type, payload):
                let box = mailbox, wake = wake, sentAt = Self.now()
                client.send(.submit(type: type, commandID: id, payload: payload)) { result in
                    box.post(.leaseAnswer(Self.leaseAnswer(result), sentAt: sentAt))
                    wake()
                }
            case .activate:
                activate()
            case let .subscribe(from, eventsFrom):
                unsubscribe()
                let box = mailbox, wake = wake
                subscriptions.append(client.subscribe(topic: AlarmTopic.instructions(network), from: from) { event in
                    if case .message(let m) = event { box.post(.instruction(payload: m.payload, offset: m.offset)); wake() }
                })
                subscriptions.append(client.subscribe(topic: AlarmTopic.events, from: eventsFrom) { event in
                    if case .message(let m) = event { box.post(.event(payload: m.payload)); wake() }
                })
            case .unsubscribe:
                unsubscribe()
            case .fetchRegistry:
                fetchRegistry()
            case let .arm(timer, at):
                if let old = timers[timer] { loop.cancel(timer: old) }
                let now = Self.now()
                timers[timer] = loop.schedule(after: (at > now ? at - now : 0) * 1_000_000) { [unowned self] in
                    self.timers[timer] = nil
                    self.feed(.timer(timer))
                }
            case .log(let line):
                log(line)
            case .becameActive, .stepDown:
                break  // logged by the core's `.log`
            case .key, .sound, .send, .refuse, .close:
                if let answer = device(d) { feed(answer) }
            }
        }
    }

    private func unsubscribe() {
        for s in subscriptions { client.unsubscribe(s) }
        subscriptions.removeAll()
    }

    private static func leaseAnswer(_ result: Result<ClientReply, RequestFailure>) -> Result<LeaseAnswer, GatewayFailure> {
        result.mapError { GatewayFailure($0.reason, refused: $0.code == .invalid) }.flatMap { reply in
            guard case .outcome(_, let bytes) = reply, let outcome = try? CommandOutcome.decode(bytes) else {
                return .failure(GatewayFailure("unexpected reply", refused: true))
            }
            switch outcome {
            case .accepted(let json):
                guard let a = try? JSONDecoder().decode(LeaseAnswer.self, from: Data(json)) else {
                    return .failure(GatewayFailure("unreadable lease answer", refused: true))
                }
                return .success(a)
            case .rejected(let why): return .failure(GatewayFailure("\(why)", refused: true))
            default: return .failure(GatewayFailure("unexpected outcome \(outcome)", refused: true))
            }
        }
    }

    /// Reads the registry (linearizable) on a helper thread (the client's calls block).
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

    /// Reads where the instruction and event topics end, then the open instructions
    /// (linearizable), on a helper thread; the subscriptions start at those ends, and the
    /// instructions' sequence numbers drop what the query already gave.
    private func activate() {
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
                box.post(.activated(pending, instructionsFrom: from, eventsFrom: eventsFrom))
            } catch {
                box.post(.activationFailed("\(error)"))
            }
            wake()
        }.start()
    }
}

/// A random nonce for a process's command ids.
func processNonce() -> String { String(UInt32.random(in: 0...UInt32.max), radix: 16) }
