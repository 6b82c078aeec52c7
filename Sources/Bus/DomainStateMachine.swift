/// A domain's replicated state machine (alarms, helper requests, incidents) plugged into
/// `BusState`: it gets the committed commands of its namespace, after dedup, in log order.
///
/// Like the bus it must be deterministic: the same commands give the same state and the same
/// `snapshot()` bytes on every node. It takes time only from the envelopes' timestamps, holds no
/// dictionary order in its bytes, and does no IO while applying.
public protocol DomainStateMachine: AnyObject {
    /// Applies a command whose type is in this machine's namespace. Called once per (sender, id)
    /// within the dedup window; the outcome is recorded for retries. Outcomes go into every bus
    /// snapshot for the dedup window, so keep `.accepted(result:)` small.
    func apply(_ envelope: CommandEnvelope, at index: UInt64) -> CommandOutcome
    /// The machine's whole state as canonical bytes.
    func snapshot() -> [UInt8]
    /// Replaces the state with `snapshot()` bytes. Throws when they are not valid.
    func restore(from bytes: [UInt8]) throws
    /// Returns to the empty initial state (a snapshot taken before this machine existed).
    func reset()

    /// The earliest state-clock time at which the machine has something due (a deadline); nil
    /// when nothing is. The bus calls `advance(to:)` once its clock reaches it.
    var nextDeadline: UInt64? { get }
    /// The state clock moved to `clock` (by any command): fire what is due.
    func advance(to clock: UInt64)
    /// Messages the machine published while applying or advancing, to be appended to bus topics
    /// in this order (the bus creates a missing topic with `retention(forTopic:)`). Emptied by the call.
    func takePublications() -> [(topic: TopicName, payload: [UInt8])]
    /// The retention of a topic this machine publishes to.
    func retention(forTopic topic: TopicName) -> Retention
    /// Answers a read-only question about the state (`name`, `payload` in the machine's format).
    func query(_ name: String, _ payload: [UInt8]) throws(DomainQueryError) -> [UInt8]
    /// The same, for `asker` (the certificate's `role:CN`): for answers that depend on who asks
    /// (a commander sees the names of the helpers on their own request only). Defaults to `query`.
    func query(_ name: String, _ payload: [UInt8], asker: String) throws(DomainQueryError) -> [UInt8]
}

/// Why a domain query was not answered.
public enum DomainQueryError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)
    case notFound(String)
    public var description: String {
        switch self {
        case .invalid(let s), .notFound(let s): s
        }
    }
}

extension DomainStateMachine {
    public var nextDeadline: UInt64? { nil }
    public func advance(to clock: UInt64) {}
    public func takePublications() -> [(topic: TopicName, payload: [UInt8])] { [] }
    public func retention(forTopic topic: TopicName) -> Retention { try! Retention(maxCount: 10_000, maxAgeMillis: 0) }
    public func query(_ name: String, _ payload: [UInt8]) throws(DomainQueryError) -> [UInt8] {
        throw .notFound("this domain answers no queries")
    }
    public func query(_ name: String, _ payload: [UInt8], asker: String) throws(DomainQueryError) -> [UInt8] {
        try query(name, payload)
    }
}
