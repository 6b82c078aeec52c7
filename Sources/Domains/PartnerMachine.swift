import Bus
import Foundation
import Helpers
import Partners

/// The partner endpoint's state (`Partners.PartnerState`) registered on the bus under the
/// namespace "mqtt": commands `mqtt.…` in; out into the bus topic `mqtt/control` (connections to
/// close after a takeover or a lost node), and every published message to `onPublished`, which
/// each node's endpoint delivers at QoS 0 to its own matching connections (queued QoS 1/2
/// deliveries live in the sessions). The same class runs in the node and in tests.
public final class PartnerMachine: DomainStateMachine {
    public static let namespace = "mqtt"
    public static let controlTopic = "mqtt/control"
    public private(set) var state = PartnerState()
    private var outbox: [(topic: TopicName, payload: [UInt8])] = []
    private let check: PartnerState.ContentCheck
    /// Every message a command published, right after the command is applied on this node: the
    /// node's endpoint delivers them live. Not part of the state (no JSON, no topic: the messages
    /// are in the command that published them).
    public var onPublished: (([PartnerState.Message]) -> Void)?
    /// Every message a command published, while it is applied (deterministic: on every node at
    /// the same index): the helpers domain takes the organisations' helper messages from here.
    var bridge: ((PartnerState.Message, UInt64) -> Void)?

    /// `check` vets a payload for a topic; pure and deterministic. The default: alerts must be
    /// valid CAP 1.2.
    public init(check: @escaping PartnerState.ContentCheck = PartnerMachine.alertCheck) { self.check = check }

    /// Messages under `florian/alerts/` must be valid CAP 1.2 (`CAP.validate`); those to an
    /// organisation's helpers inbox must be helper messages (`PartnerHelpMessage`).
    public static let alertCheck: PartnerState.ContentCheck = { topic, payload in
        if topic.hasPrefix("florian/alerts/") {
            if case .invalid(let reason) = CAP.validate(payload) { return "not a valid CAP 1.2 alert: \(reason)" }
        } else if HelpersDomain.inboxOrganisation(topic) != nil {
            do { _ = try PartnerHelpMessage.decode(payload) } catch { return "not a valid helper message: \(error)" }
        }
        return nil
    }

    public func apply(_ envelope: CommandEnvelope, at index: UInt64) -> CommandOutcome {
        var effects = PartnerState.Effects()
        let result = state.apply(type: envelope.type, sender: envelope.sender, timestamp: envelope.timestamp,
                                 payload: envelope.payload, check: check, effects: &effects)
        deliver(effects)
        if let bridge { for m in effects.messages { bridge(m, envelope.timestamp) } }
        switch result {
        case .success(let bytes): return .accepted(result: bytes)
        case .failure(let f): return .rejected(.refused(f.description))
        }
    }

    private func deliver(_ effects: PartnerState.Effects) {
        for k in effects.kicks { outbox.append((try! TopicName(Self.controlTopic), PartnerState.json(k))) }
        if !effects.messages.isEmpty { onPublished?(effects.messages) }
    }

    /// Publishes for the control room (organisation LEITSTELLE) at QoS 1 — what another domain
    /// tells the organisations while a command is applied (the helpers domain's answers).
    func publishForControlRoom(topic: String, payload: [UInt8], retain: Bool, timestamp: UInt64) {
        var effects = PartnerState.Effects()
        let p = PartnerState.Publish(session: nil, org: PartnerState.controlRoomOrg, topic: topic, payload: Data(payload), qos: .atLeastOnce, retain: retain)
        _ = state.apply(type: "mqtt.publish", sender: "operator:florian", timestamp: timestamp, payload: PartnerState.json(p), check: check, effects: &effects)
        deliver(effects)
    }

    public func snapshot() -> [UInt8] { PartnerState.json(state) }

    public func restore(from bytes: [UInt8]) throws {
        state = try JSONDecoder().decode(PartnerState.self, from: Data(bytes))
        outbox = []
    }

    public func reset() {
        state = PartnerState()
        outbox = []
    }

    public func takePublications() -> [(topic: TopicName, payload: [UInt8])] {
        defer { outbox = [] }
        return outbox
    }

    /// The control topic: an hour or 10 000 kicks.
    public func retention(forTopic topic: TopicName) -> Retention { try! Retention(maxCount: 10_000, maxAgeMillis: 3_600_000) }

    /// `session` {"session": KEY} → the session; `retained` → every retained message.
    public func query(_ name: String, _ payload: [UInt8]) throws(DomainQueryError) -> [UInt8] {
        switch name {
        case "session":
            guard let q = try? JSONDecoder().decode([String: String].self, from: Data(payload)), let key = q["session"] else {
                throw .invalid("session needs {\"session\": \"ORG/CLIENT\"}")
            }
            guard let s = state.sessions[key] else { throw .notFound("session \(key)") }
            return PartnerState.json(s)
        case "retained":
            // {} → every retained message; {"topic": T} → the one retained on T.
            guard let q = try? JSONDecoder().decode([String: String].self, from: Data(payload.isEmpty ? Array("{}".utf8) : payload)),
                  Set(q.keys).isSubset(of: ["topic"]) else { throw .invalid("retained takes {} or {\"topic\": \"TOPIC\"}") }
            guard let topic = q["topic"] else { return PartnerState.json(state.retained.keys.sorted().map { state.retained[$0]! }) }
            guard let m = state.retained[topic] else { throw .notFound("no retained message on \(topic)") }
            return PartnerState.json(m)
        case "rights":
            guard let r = state.rights else { throw .notFound("no rights document has been applied") }
            return PartnerState.json(r)
        default: throw .notFound("query \(name) (known: session, retained, rights)")
        }
    }
}
