import Alarming
import Bus

/// The alarm dispatcher's state (`Alarming.AlarmState`) registered on the bus under the namespace
/// "alarm": commands `alarm.…` in, dispatch instructions and events out into the bus topics
/// `alarm/wired`, `alarm/wireless` and `alarm/events`, queries answered from the applied state.
/// The same class runs in the node and in the simulator.
public final class AlarmMachine: DomainStateMachine {
    public static let namespace = "alarm"
    public private(set) var state = AlarmState()
    private var outbox: [Publication] = []

    public init() {}

    public func apply(_ envelope: CommandEnvelope, at index: UInt64) -> CommandOutcome {
        switch state.apply(type: envelope.type, sender: envelope.sender, timestamp: envelope.timestamp,
                           payload: envelope.payload, publications: &outbox) {
        case .success(let result): .accepted(result: result)
        case .failure(let error): .rejected(.refused(error.description))
        }
    }

    public func snapshot() -> [UInt8] { StrictJSON.encode(state) }

    public func restore(from bytes: [UInt8]) throws {
        state = try StrictJSON.decode(AlarmState.self, from: bytes, what: "alarm state snapshot")
        outbox = []
    }

    public func reset() {
        state = AlarmState()
        outbox = []
    }

    public var nextDeadline: UInt64? { state.nextDeadline }

    public func advance(to clock: UInt64) { state.advance(to: clock, publications: &outbox) }

    public func takePublications() -> [(topic: TopicName, payload: [UInt8])] {
        defer { outbox = [] }
        // The topic names are the machine's own constants, valid by construction.
        return outbox.map { (try! TopicName($0.topic), $0.payload) }
    }

    /// Events: the last 20 000 or a day; instructions: the last 5 000 or a day (a gateway taking
    /// over reads the open ones with the `pending` query, not from the topic's history).
    public func retention(forTopic topic: TopicName) -> Retention {
        topic.rawValue == AlarmTopic.events ? try! Retention(maxCount: 20_000, maxAgeMillis: 86_400_000)
                                            : try! Retention(maxCount: 5_000, maxAgeMillis: 86_400_000)
    }

    public func query(_ name: String, _ payload: [UInt8]) throws(DomainQueryError) -> [UInt8] {
        do throws(AlarmError) {
            return try state.query(name, payload)
        } catch {
            if case .unknown = error { throw .notFound(error.description) }
            throw .invalid(error.description)
        }
    }
}
