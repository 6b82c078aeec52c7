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
}
