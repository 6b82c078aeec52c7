import Incidents

/// A position in WGS 84, degrees × 10⁶ (as the alarm registry holds them).
public struct Position: Equatable, Codable, Sendable {
    public var latE6: Int64, lonE6: Int64
    public init(latE6: Int64, lonE6: Int64) { self.latE6 = latE6; self.lonE6 = lonE6 }

    /// The position on EPSG:3035 (metres), where the router matches; nil outside Europe's grid.
    public var gridPoint: GridPoint? {
        guard (-90_000_000...90_000_000).contains(latE6), (-180_000_000...180_000_000).contains(lonE6),
              let p = GridCell.project(lat: Double(latE6) / 1e6, lon: Double(lonE6) / 1e6) else { return nil }
        let point = GridPoint(x: Int64(p.easting.rounded()), y: Int64(p.northing.rounded()))
        return HelpersError.isOnGrid(point) ? point : nil
    }
}

/// What a partner organisation's system sends on `florian/helpers/<O>/in` over MQTT (JSON, the
/// message names after OASIS EDXL-RM 1.0):
///
/// - `RequestResource` without `request`: a commander of O asks for help (`skill`, `count`,
///   `position`, `area`, optional `window`, `priority`, `safetyNotes`, `briefing`);
///   with `request` and `count`: O changes how many it needs on its own request.
/// - `ReleaseResource` {`request`}: O no longer needs its request (cancelled).
/// - `CommitResource` {`request`, `count`}: O, as a helper platform, commits people of its own.
///
/// `ref` is O's own reference, echoed in the answer on `florian/helpers/<O>/out`.
public struct PartnerHelpMessage: Equatable, Codable, Sendable {
    public var message: String
    public var ref: String?
    public var request: RequestID?
    public var skill: String?
    public var count: Int?
    public var position: Position?
    public var area: String?
    public var window: TimeWindow?
    public var priority: Int?
    public var safetyNotes: String?
    public var briefing: String?

    public static let names: Set<String> = ["RequestResource", "ReleaseResource", "CommitResource"]

    /// Decodes and checks the shape (every field the message needs, none it may not carry).
    public static func decode(_ payload: [UInt8]) throws(HelpersError) -> PartnerHelpMessage {
        let m = try HelpersJSON.decode(PartnerHelpMessage.self, from: payload, what: "helper message")
        guard names.contains(m.message) else { throw .invalid("message must be one of \(names.sorted().joined(separator: ", ")), not '\(m.message.prefix(40))'") }
        if let r = m.ref, r.isEmpty || r.utf8.count > 64 { throw .invalid("ref: 1–64 bytes") }
        let openFields = m.skill != nil || m.position != nil || m.area != nil || m.window != nil || m.priority != nil || m.safetyNotes != nil || m.briefing != nil
        switch (m.message, m.request) {
        case ("RequestResource", nil):
            guard m.skill != nil, m.count != nil, m.position != nil, m.area != nil else { throw .invalid("a new RequestResource needs skill, count, position and area") }
        case ("RequestResource", _?), ("CommitResource", _?):
            guard m.count != nil, !openFields else { throw .invalid("\(m.message) for a request carries request and count only") }
        case ("ReleaseResource", _?):
            guard m.count == nil, !openFields else { throw .invalid("ReleaseResource carries request only") }
        default: throw .invalid("\(m.message) needs the request it refers to")
        }
        return m
    }
}

/// The partner side of the helpers domain: messages from and to organisations over MQTT.
extension HelpersDomain {
    /// The open needs, for organisations that are helper platforms (RequestResource, then
    /// ReleaseResource once a need is gone). Area and window only, never the place.
    public static func partnerRequest(_ id: RequestID) -> String { "florian/helpers/requests/\(id)" }
    public static func partnerInbox(_ org: String) -> String { "florian/helpers/\(org)/in" }
    public static func partnerOutbox(_ org: String) -> String { "florian/helpers/\(org)/out" }

    /// The organisation whose inbox `topic` is, or nil when it is none.
    public static func inboxOrganisation(_ topic: String) -> String? {
        let parts = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "florian", parts[1] == "helpers", parts[3] == "in", !parts[2].isEmpty else { return nil }
        return String(parts[2])
    }

    /// Applies what organisation `org` sent to its inbox (the MQTT rights let only O publish
    /// there) as its commander or its platform would, with the sender `partner:<org>`. Every
    /// message is answered on O's outbox: ResponseToRequestResource (accepted with the request
    /// id, changed, cancelled, or refused with the reason) or, for a commitment, CommitResource
    /// with the place and briefing its people need.
    public mutating func applyPartner(org: String, payload: [UInt8], timestamp: UInt64, publications: inout [HelpersPublication]) {
        let sender = "partner:" + org
        let t = Int64(clamping: timestamp)
        var answer = Reply(message: "ResponseToRequestResource")
        var out: [RouterOutput] = []
        do throws(HelpersError) {
            let m = try PartnerHelpMessage.decode(payload)
            answer.ref = m.ref
            answer.request = m.request
            switch (m.message, m.request) {
            case ("RequestResource", nil):
                guard let point = m.position!.gridPoint else { throw .invalid("position outside Europe's grid (EPSG:3035)") }
                let window = m.window ?? TimeWindow(from: t, to: t + 4 * 3_600_000)
                let need = NewRequest(skill: m.skill!, count: m.count!, place: point, area: m.area!, window: window, priority: m.priority ?? 2,
                                      safetyNotes: m.safetyNotes ?? "", briefing: m.briefing ?? "", position: m.position)
                answer.request = try router.open(need, by: sender, at: t, outputs: &out)
                answer.event = "accepted"
            case ("RequestResource", let id?):
                try owned(id, by: sender)
                try router.change(id, count: m.count!, at: t, outputs: &out)
                answer.event = "changed"
            case ("ReleaseResource", let id?):
                try owned(id, by: sender)
                try router.cancel(id, at: t, outputs: &out)
                answer.event = "cancelled"
            case ("CommitResource", let id?):
                let before = router.requests[id]?.filled ?? 0
                try router.platformCommit(id, count: m.count!, at: t, outputs: &out)
                let r = router.requests[id]!
                answer.message = "CommitResource"
                answer.count = r.filled - before
                answer.position = r.need.position
                answer.area = r.need.area
                answer.briefing = r.need.briefing
                answer.safetyNotes = r.need.safetyNotes
                answer.window = r.need.window
            default: throw .invalid("unreachable message shape")
            }
        } catch {
            answer.event = "refused"
            answer.reason = error.description
        }
        publications += out.map(publication)
        publications.append(HelpersPublication(topic: Self.partnerOutbox(org), payload: HelpersJSON.encode(answer), toPartners: true))
        publications += partnerProgress(out)
    }

    /// Partners change and cancel only their own requests (the control room any).
    func owned(_ id: RequestID, by sender: String) throws(HelpersError) {
        guard let r = router.requests[id] else { throw .unknown("request \(id)") }
        guard r.by == sender else { throw .forbidden("request \(id) was not made by \(sender.dropFirst("partner:".count))") }
    }

    struct Reply: Codable {
        var message: String
        var ref: String?
        var request: RequestID?
        var event: String?
        var reason: String?
        var count: Int?, filled: Int?
        var helpers: [String]?
        var position: Position?, area: String?, briefing: String?, safetyNotes: String?
        var window: TimeWindow?
    }

    /// What the router's outputs mean for organisations: progress of a partner's own request
    /// to its outbox (with the accepted helpers' names: the commander of that request sees
    /// them), and open needs to the platforms' topic.
    func partnerProgress(_ outputs: [RouterOutput]) -> [HelpersPublication] {
        var pubs: [HelpersPublication] = []
        for o in outputs {
            switch o {
            case .progress(let id, let event, let filled, let count, _):
                guard let r = router.requests[id] else { continue }
                if r.by.hasPrefix("partner:") {
                    let org = String(r.by.dropFirst("partner:".count))
                    var x = Reply(message: "ResponseToRequestResource")
                    x.request = id; x.event = event; x.filled = filled; x.count = count
                    x.helpers = router.commanderView(id, as: r.by)?.names
                    pubs.append(HelpersPublication(topic: Self.partnerOutbox(org), payload: HelpersJSON.encode(x), toPartners: true))
                }
                if r.platformsAsked, ["filled", "cancelled", "expired"].contains(event) {
                    var x = Reply(message: "ReleaseResource")
                    x.request = id; x.event = r.status.rawValue
                    pubs.append(HelpersPublication(topic: Self.partnerRequest(id), payload: HelpersJSON.encode(x), toPartners: true))
                    // The need is gone: an empty retained message removes the retained RequestResource.
                    pubs.append(HelpersPublication(topic: Self.partnerRequest(id), payload: [], toPartners: true, retain: true))
                }
            case .platformRequest(let id, let skill, let count, let area, let window):
                var x = Message(message: "RequestResource", request: id)
                x.skill = skill; x.count = count; x.area = area; x.window = window
                x.priority = router.requests[id]?.need.priority
                pubs.append(HelpersPublication(topic: Self.partnerRequest(id), payload: HelpersJSON.encode(x), toPartners: true, retain: true))
            default: continue
            }
        }
        return pubs
    }
}
