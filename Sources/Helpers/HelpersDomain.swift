/// The helpers domain's commands, as they arrive on the bus: `helpers.<name>` with a JSON
/// payload, the sender's role checked here (the part of the sender before ":").
public enum HelpersCommand: Equatable, Sendable {
    case register(Volunteer)
    case delete(volunteer: VolunteerID)
    case open(NewRequest)
    case change(request: RequestID, count: Int)
    case cancel(request: RequestID)
    case answer(volunteer: VolunteerID, request: RequestID, accept: Bool, name: String?)
    case commit(request: RequestID, count: Int)
    case checkIn(volunteer: VolunteerID, request: RequestID)
    case checkOut(volunteer: VolunteerID, request: RequestID)

    /// Command type → the roles that may send it. Platforms (gateway certificates) register
    /// their volunteers and carry their answers; commanders (operator certificates) ask for help.
    public static let roles: [String: Set<String>] = [
        "helpers.volunteer.register": ["gateway"],
        "helpers.volunteer.delete": ["gateway", "operator"],
        "helpers.request.open": ["operator"],
        "helpers.request.change": ["operator"],
        "helpers.request.cancel": ["operator"],
        "helpers.answer": ["gateway"],
        "helpers.platform.commit": ["gateway"],
        "helpers.checkin": ["gateway", "operator"],
        "helpers.checkout": ["gateway", "operator"],
    ]

    struct VolunteerRef: Codable { var volunteer: VolunteerID }
    struct RequestRef: Codable { var request: RequestID }
    struct Count: Codable { var request: RequestID; var count: Int }
    struct Answer: Codable { var volunteer: VolunteerID; var request: RequestID; var accept: Bool; var name: String? }
    struct Presence: Codable { var volunteer: VolunteerID; var request: RequestID }

    public static func decode(type: String, payload p: [UInt8]) throws(HelpersError) -> HelpersCommand {
        switch type {
        case "helpers.volunteer.register":
            let v = try HelpersJSON.decode(Volunteer.self, from: p, what: type)
            try v.validate()
            return .register(v)
        case "helpers.volunteer.delete": return .delete(volunteer: try HelpersJSON.decode(VolunteerRef.self, from: p, what: type).volunteer)
        case "helpers.request.open": return .open(try HelpersJSON.decode(NewRequest.self, from: p, what: type))
        case "helpers.request.change": let c = try HelpersJSON.decode(Count.self, from: p, what: type); return .change(request: c.request, count: c.count)
        case "helpers.request.cancel": return .cancel(request: try HelpersJSON.decode(RequestRef.self, from: p, what: type).request)
        case "helpers.answer":
            let a = try HelpersJSON.decode(Answer.self, from: p, what: type)
            guard a.accept || a.name == nil else { throw .invalid("a decline carries no name") }
            if let n = a.name, n.isEmpty || n.utf8.count > 80 { throw .invalid("name: 1–80 bytes") }
            return .answer(volunteer: a.volunteer, request: a.request, accept: a.accept, name: a.name)
        case "helpers.platform.commit": let c = try HelpersJSON.decode(Count.self, from: p, what: type); return .commit(request: c.request, count: c.count)
        case "helpers.checkin": let x = try HelpersJSON.decode(Presence.self, from: p, what: type); return .checkIn(volunteer: x.volunteer, request: x.request)
        case "helpers.checkout": let x = try HelpersJSON.decode(Presence.self, from: p, what: type); return .checkOut(volunteer: x.volunteer, request: x.request)
        default: throw .unknown("command \(type)")
        }
    }
}

/// A message for a bus topic, or (`toPartners`) for the MQTT world of the partner organisations.
public struct HelpersPublication: Equatable, Sendable {
    public var topic: String
    public var payload: [UInt8]
    public var toPartners = false
    /// For partners: kept as the topic's retained message (an empty payload removes it).
    public var retain = false
    public init(topic: String, payload: [UInt8], toPartners: Bool = false, retain: Bool = false) {
        self.topic = topic; self.payload = payload; self.toPartners = toPartners; self.retain = retain
    }
}

/// The router as a bus domain: commands in, publications out — asks, withdrawals and
/// confirmations to `helpers/asks/<platform>` (each platform reads only its own), requests to the
/// external platforms on `helpers/platforms`, counts for the commanders on `helpers/events`.
public struct HelpersDomain: Sendable {
    public static let events = "helpers/events"
    public static let platforms = "helpers/platforms"
    public static func asks(_ platform: String) -> String { "helpers/asks/" + platform }

    public internal(set) var router: HelperRouter

    public init(config: RouterConfig = .waves) { router = HelperRouter(config: config) }
    public init(snapshot: [UInt8]) throws(HelpersError) { router = try HelperRouter(snapshot: snapshot) }

    /// Applies a command; publications only if it succeeds. The result is the request id for
    /// `helpers.request.open`, else empty.
    public mutating func apply(type: String, sender: String, timestamp: UInt64, payload: [UInt8], publications: inout [HelpersPublication]) -> Result<[UInt8], HelpersError> {
        let role = String(sender.split(separator: ":", maxSplits: 1).first ?? "")
        guard let allowed = HelpersCommand.roles[type] else { return .failure(.unknown("command \(type)")) }
        guard allowed.contains(role) else { return .failure(.forbidden("\(type) needs the role \(allowed.sorted().joined(separator: " or "))")) }
        let t = Int64(clamping: timestamp)
        // Deadlines due before the command fire whatever becomes of it (the bus advances every
        // domain before dispatching, so this is normally empty). The router validates before it
        // changes anything, so a refused command leaves no trace.
        var due: [RouterOutput] = []
        router.advance(to: t, outputs: &due)
        publications += due.map(publication) + partnerProgress(due)
        var out: [RouterOutput] = []
        do throws(HelpersError) {
            var result: [UInt8] = []
            let command = try HelpersCommand.decode(type: type, payload: payload)
            if role == "gateway" { try checkPlatform(command, platform: String(sender.dropFirst("gateway:".count))) }
            switch command {
            case .register(let v): router.register(v)
            case .delete(let v): try router.delete(v, outputs: &out)
            case .open(let need): result = Array(try router.open(need, by: sender, at: t, outputs: &out).raw.utf8)
            case .change(let r, let n): try router.change(r, count: n, at: t, outputs: &out)
            case .cancel(let r): try router.cancel(r, at: t, outputs: &out)
            case .answer(let v, let r, let accept, let name): try router.answer(v, request: r, accept: accept, name: name, at: t, outputs: &out)
            case .commit(let r, let n): try router.platformCommit(r, count: n, at: t, outputs: &out)
            case .checkIn(let v, let r): try router.checkIn(v, request: r, at: t, outputs: &out)
            case .checkOut(let v, let r): try router.checkOut(v, request: r, at: t, outputs: &out)
            }
            publications += out.map(publication) + partnerProgress(out)
            return .success(result)
        } catch {
            return .failure(error)
        }
    }

    /// Least privilege for platforms: a gateway registers, answers for and checks in only the
    /// volunteers of its own platform (its certificate's name).
    func checkPlatform(_ command: HelpersCommand, platform: String) throws(HelpersError) {
        let volunteer: VolunteerID
        switch command {
        case .register(let v):
            guard v.platform == platform else { throw .forbidden("the gateway \(platform) registers volunteers of its own platform only, not of \(v.platform)") }
            return
        case .delete(let v), .answer(let v, _, _, _), .checkIn(let v, _), .checkOut(let v, _): volunteer = v
        case .open, .change, .cancel, .commit: return
        }
        if let v = router.volunteers[volunteer], v.platform != platform {
            throw .forbidden("\(volunteer) is reached through the platform \(v.platform), not \(platform)")
        }
    }

    public mutating func advance(to timestamp: UInt64, publications: inout [HelpersPublication]) {
        var out: [RouterOutput] = []
        router.advance(to: Int64(clamping: timestamp), outputs: &out)
        publications += out.map(publication) + partnerProgress(out)
    }

    public var nextDeadline: UInt64? { router.nextDeadline.map { UInt64(max(0, $0)) } }

    struct Message: Codable {
        var message: String
        var request: RequestID
        var volunteer: VolunteerID?
        var skill: String?, area: String?, travelMinutes: Int?, priority: Int?
        var place: GridPoint?, position: Position?, briefing: String?, safetyNotes: String?
        var count: Int?, filled: Int?, asked: Int?, event: String?
        var window: TimeWindow?
    }

    /// Message names after OASIS EDXL-RM 1.0 where one fits (RequestResource,
    /// ResponseToRequestResource, CommitResource, ReleaseResource).
    func publication(_ o: RouterOutput) -> HelpersPublication {
        func m(_ name: String, _ r: RequestID) -> Message { Message(message: name, request: r) }
        switch o {
        case .ask(let p, let v, let r, let skill, let area, let minutes, let priority):
            var x = m("RequestResource", r); x.volunteer = v; x.skill = skill; x.area = area; x.travelMinutes = minutes; x.priority = priority
            return HelpersPublication(topic: Self.asks(p), payload: HelpersJSON.encode(x))
        case .withdraw(let p, let v, let r):
            var x = m("ReleaseResource", r); x.volunteer = v
            return HelpersPublication(topic: Self.asks(p), payload: HelpersJSON.encode(x))
        case .confirm(let p, let v, let r, let place, let briefing, let notes):
            var x = m("CommitResource", r); x.volunteer = v; x.place = place; x.briefing = briefing; x.safetyNotes = notes
            x.position = router.requests[r]?.need.position
            return HelpersPublication(topic: Self.asks(p), payload: HelpersJSON.encode(x))
        case .notNeeded(let p, let v, let r):
            var x = m("ResponseToRequestResource", r); x.volunteer = v; x.event = "not needed"
            return HelpersPublication(topic: Self.asks(p), payload: HelpersJSON.encode(x))
        case .platformRequest(let r, let skill, let count, let area, let window):
            var x = m("RequestResource", r); x.skill = skill; x.count = count; x.area = area; x.window = window
            return HelpersPublication(topic: Self.platforms, payload: HelpersJSON.encode(x))
        case .progress(let r, let event, let filled, let count, let asked):
            var x = m("RequestProgress", r); x.event = event; x.filled = filled; x.count = count; x.asked = asked
            return HelpersPublication(topic: Self.events, payload: HelpersJSON.encode(x))
        }
    }
}
