import Bus
import Foundation
import Helpers

/// The helper-network router (`Helpers.HelpersDomain`) as a bus domain under the namespace
/// "helpers": commands `helpers.…` in; asks to `helpers/asks/<platform>`, requests to the
/// external platforms on `helpers/platforms`, counts on `helpers/events` out. Bridged to the
/// partner endpoint (`bridge(_:_:)`): what organisations send to `florian/helpers/<O>/in` over
/// MQTT is applied here at the same log index, and the answers for organisations are published
/// into the MQTT world as the control room's — deterministic, so every node does the same.
public final class HelpersMachine: DomainStateMachine {
    public static let namespace = "helpers"
    public private(set) var domain = HelpersDomain()
    private var outbox: [HelpersPublication] = []
    private weak var partners: PartnerMachine?

    public init() {}

    /// Joins the two domains of one bus: organisations' helper messages in, answers out.
    /// Register both on the bus and mark this one bridged (`BusState.registerBridged`).
    public static func bridge(_ helpers: HelpersMachine, _ partners: PartnerMachine) {
        helpers.partners = partners
        partners.bridge = { [unowned helpers] message, timestamp in
            guard let org = HelpersDomain.inboxOrganisation(message.topic) else { return }
            var pubs: [HelpersPublication] = []
            helpers.domain.applyPartner(org: org, payload: Array(message.payload), timestamp: timestamp, publications: &pubs)
            helpers.route(pubs, timestamp: timestamp)
        }
    }

    /// Bus publications to the outbox; those for organisations to the MQTT world now.
    private func route(_ pubs: [HelpersPublication], timestamp: UInt64) {
        for p in pubs {
            if p.toPartners {
                partners?.publishForControlRoom(topic: p.topic, payload: p.payload, retain: p.retain, timestamp: timestamp)
            } else {
                outbox.append(p)
            }
        }
    }

    public func apply(_ envelope: CommandEnvelope, at index: UInt64) -> CommandOutcome {
        var pubs: [HelpersPublication] = []
        let result = domain.apply(type: envelope.type, sender: envelope.sender, timestamp: envelope.timestamp, payload: envelope.payload, publications: &pubs)
        route(pubs, timestamp: envelope.timestamp)
        switch result {
        case .success(let result): return .accepted(result: result)
        case .failure(let error): return .rejected(.refused(error.description))
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

    public func advance(to clock: UInt64) {
        var pubs: [HelpersPublication] = []
        domain.advance(to: clock, publications: &pubs)
        route(pubs, timestamp: clock)
    }

    public func takePublications() -> [(topic: TopicName, payload: [UInt8])] {
        defer { outbox = [] }
        // Topic names are the domain's constants and platform names (validated on registration).
        return outbox.compactMap { p in (try? TopicName(p.topic)).map { ($0, p.payload) } }
    }

    /// `requests` {} → every request with its counts; `request` {"request": ID} → one, with the
    /// accepted helpers (pseudonym, name, times on site) only when the asker made the request.
    public func query(_ name: String, _ payload: [UInt8]) throws(DomainQueryError) -> [UInt8] {
        try query(name, payload, asker: "")
    }

    public func query(_ name: String, _ payload: [UInt8], asker: String) throws(DomainQueryError) -> [UInt8] {
        switch name {
        case "requests":
            let all = domain.router.requests.keys.sorted().map { domain.router.requests[$0]! }
            return HelpersJSON.encode(all.map { RequestView($0, asker: asker, detail: false) })
        case "request":
            guard let q = try? JSONDecoder().decode([String: String].self, from: Data(payload)), let id = q["request"], q.count == 1 else {
                throw .invalid("request needs {\"request\": \"H-…\"}")
            }
            guard let r = domain.router.requests[RequestID(id)] else { throw .notFound("request \(id.prefix(40))") }
            return HelpersJSON.encode(RequestView(r, asker: asker, detail: true))
        case "volunteers":
            // Counts per platform, never who: enough for an operator (and the demo) to see that a
            // platform's people are registered.
            var perPlatform: [String: Int] = [:]
            for v in domain.router.volunteers.values { perPlatform[v.platform, default: 0] += 1 }
            return HelpersJSON.encode(VolunteerCounts(total: domain.router.volunteers.count, platforms: perPlatform))
        default: throw .notFound("query \(name.prefix(40)) (known: requests, request, volunteers)")
        }
    }
}

/// The `volunteers` query's answer: how many people are registered, per platform.
public struct VolunteerCounts: Codable, Sendable, Equatable {
    public var total: Int
    public var platforms: [String: Int]
}
