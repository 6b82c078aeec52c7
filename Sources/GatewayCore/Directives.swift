import Alarming
import Bus
import Wire

/// A timer a gateway core asks its shell to arm. Arming a timer again replaces the earlier
/// arming; a timer that fires late or for a state that has moved on is ignored by the core.
public enum GatewayTimer: Hashable, Sendable {
    /// Renew the lease.
    case renew
    /// The lease's validity ends: stop sending unless it was renewed meanwhile.
    case leaseEnd
    /// Send an unconfirmed command again.
    case retry(String)
    /// A paging channel's transmission ends, or the channel becomes free.
    case channel(String)
    /// The siren transmission ends.
    case sirens
    /// Supervise the station lines.
    case supervise
}

/// What a gateway core asks its shell to do. The core never touches a socket, a clock or a
/// file: the shell performs these in order and feeds the results back as `GatewayInput`s.
public enum GatewayDirective: Equatable, Sendable {
    /// Submit a command to the cluster; its result comes back as `.outcome(id:)`.
    case submit(id: String, type: String, payload: [UInt8])
    /// Submit a lease request; its answer comes back as `.leaseAnswer(sentAt:)`.
    case renewLease(id: String, type: String, payload: [UInt8])
    /// Read where the network's instruction topic and the event topic end, then the open
    /// instructions (`pending`, linearizable); answer `.activated` or `.activationFailed`.
    case activate
    /// Subscribe to the network's instructions and to the events from these offsets; every
    /// message comes back as `.instruction` or `.event`.
    case subscribe(instructionsFrom: UInt64, eventsFrom: UInt64)
    case unsubscribe
    /// Read the registry (linearizable); answer `.registry`.
    case fetchRegistry
    /// Feed `.timer(timer)` back at `at` (the core's clock, ms).
    case arm(GatewayTimer, at: UInt64)
    case log(String)
    /// Became the network's active gateway in this lease epoch.
    case becameActive(epoch: UInt64)
    /// Stopped sending: the lease was lost or could not be renewed in time.
    case stepDown(String)
    /// Key this transmission on the channel's transmitter; answer `.keyed(channel:)` at once.
    case key(channel: String, Transmission, rate: POCSAG.BitRate)
    /// Sound this ZVEI call on the siren transmitter; answer `.sounded` at once.
    case sound(digits: String, signal: ZVEI.SirenSignal)
    /// Send a frame to a station device's connection.
    case send(connection: UInt64, StationAlertFrame)
    /// Refuse and close a connection.
    case refuse(connection: UInt64, code: ProtocolFrame.ErrorCode, reason: String)
    case close(connection: UInt64, reason: String)
}

/// Why a request to the cluster did not get an outcome.
public struct GatewayFailure: Error, Equatable, Sendable {
    public var reason: String
    /// The cluster refused the request as invalid (not a transient failure).
    public var refused: Bool
    public init(_ reason: String, refused: Bool = false) {
        self.reason = reason
        self.refused = refused
    }
}

/// What a gateway core is told: results of its directives, messages, timers, and (for each
/// kind of gateway) what its devices and transmitters report.
public enum GatewayInput: Sendable {
    case start
    case timer(GatewayTimer)
    case leaseAnswer(Result<LeaseAnswer, GatewayFailure>, sentAt: UInt64)
    case activated(PendingInstructions, instructionsFrom: UInt64, eventsFrom: UInt64)
    case activationFailed(String)
    case instruction(payload: [UInt8], offset: UInt64)
    case event(payload: [UInt8])
    case registry(Registry)
    case outcome(id: String, Result<CommandOutcome, GatewayFailure>)
    // Paging.
    /// The transmitter took the transmission (nil) or failed.
    case keyed(channel: String, error: String?)
    /// The siren transmitter took the call for this airtime, or failed.
    case sounded(airtimeMillis: UInt64, error: String?)
    /// A channel's (or `zvei`'s) transmitter cannot be opened (nil: it works).
    case sinkState(channel: String, fault: String?)
    // Station lines.
    case hello(connection: UInt64, peerRole: String?, peerName: String?, StationAlertFrame.Hello)
    case heartbeat(connection: UInt64)
    case ack(connection: UInt64, StationAlertFrame.StationAck)
    case closed(connection: UInt64, reason: String)
}

/// A receipt's command id: the same for the same (kind, order, target, round), so a retry —
/// also by a restarted gateway with the same certificate — is applied once.
public func receiptID(_ kind: String, _ r: AlarmCommand.Receipt) -> String {
    let digest = SHA256.hash(Array("\(kind)|\(r.order)|\(r.target)|\(r.round)".utf8))
    let hex = Array("0123456789abcdef")
    return "rcpt-" + String(digest.prefix(20).flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 15)]] })
}
