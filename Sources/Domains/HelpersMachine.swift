import Bus
import Helpers

/// The helper-network router (`Helpers.HelpersDomain`) as a bus domain under the namespace
/// "helpers": commands `helpers.…` in; asks to `helpers/asks/<platform>`, requests to the
/// external platforms on `helpers/platforms`, counts on `helpers/events` out. Not yet registered
/// in the node or the simulator (issue 18 continues).
public final class HelpersMachine: DomainStateMachine {
    public static let namespace = "helpers"
    public private(set) var domain = HelpersDomain()
    private var outbox: [HelpersPublication] = []

    public init() {}

    public func apply(_ envelope: CommandEnvelope, at index: UInt64) -> CommandOutcome {
        switch domain.apply(type: envelope.type, sender: envelope.sender, timestamp: envelope.timestamp, payload: envelope.payload, publications: &outbox) {
        case .success(let result): .accepted(result: result)
        case .failure(let error): .rejected(.refused(error.description))
        }
    }

    public func snapshot() -> [UInt8] { domain.router.snapshot() }

    public func restore(from bytes: [UInt8]) throws {
        domain = try HelpersDomain(snapshot: bytes)
        outbox = []
    }

    public func reset() {
        domain = HelpersDomain()
        outbox = []
    }

    public var nextDeadline: UInt64? { domain.nextDeadline }

    public func advance(to clock: UInt64) { domain.advance(to: clock, publications: &outbox) }

    public func takePublications() -> [(topic: TopicName, payload: [UInt8])] {
        defer { outbox = [] }
        // Topic names are the domain's constants and platform names (validated on registration).
        return outbox.compactMap { p in (try? TopicName(p.topic)).map { ($0, p.payload) } }
    }
}
