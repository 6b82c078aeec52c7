import Alarming
import Bus
import Foundation

/// The cluster side of a gateway (station or paging) as a pure core: keeps the network's lease
/// (renewed every third of its lifetime), and while it holds it, takes the open instructions
/// (`pending`) and then every new one from the network's instruction topic; carries receipts and
/// line reports back as commands, retried until they are committed (their ids make a retry
/// harmless).
///
/// Only the lease holder sends: the link steps down the moment its lease's validity ends
/// without a renewal (sent time + 90 % of the lease, a timer of its own), or when a renewal shows
/// the lease with another holder or in another epoch — so two gateways of a network are never
/// active at once, up to the clock skew between the gateway and the cluster's leader.
public struct LeaseLink: Sendable {
    /// What the link tells its gateway.
    enum Notice {
        case activated([Instruction])
        case deactivated(String)
        case instruction(Instruction)
        case event(AlarmEvent)
        case registry(Registry)
        case committed(id: String, accepted: Bool)
    }

    public let network: Network
    public let holder: String
    private let nonce: String
    private var counter: UInt64 = 0
    public private(set) var active = false
    public private(set) var epoch: UInt64 = 0
    /// The epoch being taken over (the activation reads are in flight).
    private var activating: UInt64?
    /// Until when (core clock, ms) this gateway may act on its lease.
    public private(set) var validUntil: UInt64 = 0
    private var leaseMillis: UInt64 = 6_000
    private var seenSequence: UInt64 = 0
    private struct Unconfirmed: Sendable {
        var type: String
        var payload: [UInt8]
        var attempts: Int
    }
    /// Commands waiting for their commit.
    private var unconfirmed: [String: Unconfirmed] = [:]
    /// The gateway's own fault (a transmitter sink, …), reported with every renewal.
    public var sinkFault: String?
    /// A deliberate defect for the simulator: the link never steps down once active (it ignores
    /// that its lease epoch has passed to another gateway).
    @_spi(Simulation) public var ignoresEpoch = false

    /// Retries of a command before it is given up, and the pause between them (ms).
    public static let maxAttempts = 30
    public static let retryMillis: UInt64 = 1_000

    /// `nonce` makes this instance's command ids unique (a random value in a process, one drawn
    /// from the seed in the simulator).
    public init(network: Network, holder: String, nonce: String) {
        self.network = network
        self.holder = holder
        self.nonce = nonce
    }

    /// Commands still waiting for their commit.
    public var unconfirmedCount: Int { unconfirmed.count }

    public mutating func uniqueID(_ prefix: String) -> String {
        counter += 1
        return "\(prefix)-\(nonce)-\(counter)"
    }

    mutating func start(now: UInt64, _ out: inout [GatewayDirective]) { renew(now: now, &out) }

    private mutating func renew(now: UInt64, _ out: inout [GatewayDirective]) {
        let request = AlarmCommand.lease(.init(network: network, holder: holder, sinkFault: sinkFault))
        out.append(.renewLease(id: uniqueID("lease"), type: request.type, payload: request.payload))
        out.append(.arm(.renew, at: now + max(leaseMillis / 3, 500)))
    }

    /// Submits `command` with `id` until it is committed (at most `maxAttempts`, a second apart);
    /// `.committed(id, accepted:)` tells the outcome.
    mutating func submit(_ command: AlarmCommand, id: String, _ out: inout [GatewayDirective]) {
        guard unconfirmed[id] == nil else { return }
        unconfirmed[id] = Unconfirmed(type: command.type, payload: command.payload, attempts: 0)
        out.append(.submit(id: id, type: command.type, payload: command.payload))
    }

    mutating func handle(_ input: GatewayInput, now: UInt64, _ out: inout [GatewayDirective]) -> [Notice] {
        switch input {
        case .start:
            start(now: now, &out)
        case .timer(.renew):
            var notices: [Notice] = []
            if active, now >= validUntil, !ignoresEpoch { notices = deactivate("lease not renewed in time (cluster unreachable)", &out) }
            renew(now: now, &out)
            return notices
        case .timer(.leaseEnd):
            if active, now >= validUntil, !ignoresEpoch { return deactivate("lease not renewed in time (cluster unreachable)", &out) }
        case .timer(.retry(let id)):
            guard let entry = unconfirmed[id] else { return [] }
            out.append(.submit(id: id, type: entry.type, payload: entry.payload))
        case .timer:
            break
        case let .leaseAnswer(.success(answer), sentAt):
            leaseMillis = answer.ttlMillis
            if answer.granted && answer.holder == holder {
                var notices: [Notice] = []
                if active && answer.epoch != epoch && !ignoresEpoch {
                    // The lease lapsed and came back in a new epoch: take over afresh.
                    notices = deactivate("the lease was granted again in epoch \(answer.epoch)", &out)
                }
                // Valid for ttl from when the command was sent, minus a margin for clock rates.
                validUntil = sentAt + answer.ttlMillis * 9 / 10
                out.append(.arm(.leaseEnd, at: validUntil))
                if !active && activating == nil {
                    activating = answer.epoch
                    out.append(.activate)
                }
                return notices
            }
            validUntil = 0
            if active && !ignoresEpoch { return deactivate("the lease belongs to \(answer.holder) now", &out) }
        case let .leaseAnswer(.failure(f), _):
            if f.refused { out.append(.log("lease refused: \(f.reason)")) }
        case let .activated(pending, from, eventsFrom):
            guard let e = activating else { return [] }
            activating = nil
            guard now < validUntil else {
                out.append(.log("the lease ran out while taking over; retrying with the next renewal"))
                return []
            }
            active = true
            epoch = e
            seenSequence = pending.sequence
            out.append(.becameActive(epoch: e))
            out.append(.log("active for the \(network.rawValue) network (lease epoch \(e)); \(pending.instructions.count) open instructions"))
            out.append(.subscribe(instructionsFrom: from, eventsFrom: eventsFrom))
            return [.activated(pending.instructions)]
        case .activationFailed(let why):
            activating = nil
            out.append(.log("could not take over: \(why); retrying with the next renewal"))
        case let .instruction(payload, offset):
            guard active else { return [] }
            guard let ins = try? JSONDecoder().decode(Instruction.self, from: Data(payload)) else {
                out.append(.log("unreadable instruction at offset \(offset) skipped"))
                return []
            }
            guard ins.sequence > seenSequence else { return [] }
            seenSequence = ins.sequence
            return [.instruction(ins)]
        case .event(let payload):
            guard active, let e = try? JSONDecoder().decode(AlarmEvent.self, from: Data(payload)) else { return [] }
            if e.event == "registry.applied" { out.append(.fetchRegistry) }
            return [.event(e)]
        case .registry(let r):
            return [.registry(r)]
        case let .outcome(id, result):
            guard let entry = unconfirmed[id] else { return [] }
            switch result {
            case .success(let outcome):
                unconfirmed[id] = nil
                if case .rejected(let why) = outcome { out.append(.log("\(entry.type) refused: \(why)")) }
                return [.committed(id: id, accepted: !outcome.isRejected)]
            case .failure(let f):
                guard entry.attempts < Self.maxAttempts else {
                    unconfirmed[id] = nil
                    out.append(.log("\(entry.type) given up after \(Self.maxAttempts) attempts: \(f.reason)"))
                    return [.committed(id: id, accepted: false)]
                }
                unconfirmed[id]!.attempts += 1
                out.append(.arm(.retry(id), at: now + Self.retryMillis))
            }
        case .keyed, .sounded, .sinkState, .hello, .heartbeat, .ack, .closed:
            break
        }
        return []
    }

    private mutating func deactivate(_ why: String, _ out: inout [GatewayDirective]) -> [Notice] {
        guard active else { return [] }
        active = false
        out.append(.unsubscribe)
        out.append(.stepDown(why))
        out.append(.log("standing by: \(why)"))
        return [.deactivated(why)]
    }
}
