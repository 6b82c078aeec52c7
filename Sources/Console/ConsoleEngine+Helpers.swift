import Alarming
import Client
import Foundation
import Helpers

/// The console's helper-network commands (`helfer …` / `helpers …`): requests as the operator
/// (the commander), so only this operator sees the names of the helpers who accepted.
extension ConsoleEngine {
    func helpers(_ action: ConsoleCommand.HelperAction, confirm: ((String) -> Bool)?, language: Language) throws -> Outcome {
        switch action {
        case let .request(incident, skill, count, minutes, briefing, safetyNotes):
            let view = try query("incident", ["incident": incident], as: AlarmState.IncidentView.self)
            let i = view.incident
            guard i.closedAt == nil else { throw ConsoleFailure(kind: "refused", message: .refused("incident \(incident) is closed")) }
            let registry = try? query("registry", [:], as: Registry.self)
            // The reported position, else the centre of the incident's Stadtteil.
            guard let p = i.position ?? registry?.areas.first(where: { $0.id == i.area })?.centre else {
                throw ConsoleFailure(kind: "refused", message: .refused("incident \(incident) has no position and its area no centre"))
            }
            let position = Helpers.Position(latE6: p.latE6, lonE6: p.lonE6)
            guard let place = position.gridPoint else { throw ConsoleFailure(kind: "refused", message: .refused("the incident's position lies outside Europe's grid")) }
            let now = Int64(Self.nowMillis)
            let need = NewRequest(skill: skill, count: count, place: place, area: i.area.rawValue,
                                  window: TimeWindow(from: now, to: now + Int64(minutes) * 60_000), priority: 2,
                                  safetyNotes: safetyNotes, briefing: briefing.isEmpty ? "\(i.keyword): \(i.address)" : briefing, position: position)
            try ask(confirm, .helpers, .helperSummary(incident: incident, skill: skill, count: count, area: i.area.rawValue), language)
            let id = try submitForResult(type: "helpers.request.open", payload: HelpersJSON.encode(need))
            return success([.helperRequested(request: id, skill: skill, count: count, area: i.area.rawValue)],
                           ["command": "helpers", "action": "request", "request": id, "incident": incident, "skill": skill, "count": count])
        case .show(nil):
            let list = try helpersQuery("requests", [:], as: [RequestView].self)
            return success(list.map(Self.line), ["command": "helpers", "action": "show",
                                                 "requests": list.map { ["request": $0.request.raw, "status": $0.status, "filled": $0.filled, "count": $0.count] }])
        case .show(let id?):
            let r = try helpersQuery("request", ["request": id], as: RequestView.self)
            var m: [Message] = [Self.line(r), .helperBriefing(briefing: r.briefing ?? "", safetyNotes: r.safetyNotes ?? "")]
            m += (r.helpers ?? []).map { .helperLine(volunteer: $0.volunteer.raw, name: $0.name, checkedIn: $0.checkedInAt != nil, checkedOut: $0.checkedOutAt != nil, minutes: $0.minutesOnSite) }
            var json: [String: Any] = ["command": "helpers", "action": "show", "request": id, "status": r.status, "filled": r.filled, "count": r.count, "external": r.external, "asks": r.asks]
            if let h = r.helpers {
                json["helpers"] = h.map { x -> [String: Any] in
                    var o: [String: Any] = ["volunteer": x.volunteer.raw]
                    if let n = x.name { o["name"] = n }
                    if let m = x.minutesOnSite { o["minutesOnSite"] = m }
                    return o
                }
            }
            return success(m, json)
        case .cancel(let id):
            _ = try submit(type: "helpers.request.cancel", payload: HelpersJSON.encode(["request": id]))
            return success([.helperCancelled(request: id)], ["command": "helpers", "action": "cancel", "request": id])
        case let .checkIn(id, volunteer), let .checkOut(id, volunteer):
            let isIn: Bool = if case .checkIn = action { true } else { false }
            _ = try submit(type: isIn ? "helpers.checkin" : "helpers.checkout", payload: HelpersJSON.encode(["volunteer": volunteer, "request": id]))
            return success([isIn ? .helperCheckedIn(request: id, volunteer: volunteer) : .helperCheckedOut(request: id, volunteer: volunteer)],
                           ["command": "helpers", "action": isIn ? "checkin" : "checkout", "request": id, "volunteer": volunteer])
        }
    }

    static func line(_ r: RequestView) -> Message {
        .helperRequestLine(request: r.request.raw, status: r.status, skill: r.skill, filled: r.filled, count: r.count, area: r.area, asks: r.asks,
                           by: String(r.by.split(separator: ":", maxSplits: 1).last ?? ""))
    }

    /// A command whose result is text (the request id).
    private func submitForResult(type: String, payload: [UInt8]) throws -> String {
        switch try client.submit(type: type, commandID: nextCommandID(), payload: payload) {
        case .accepted(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .rejected(let why): throw ConsoleFailure(kind: "refused", message: .refused(why.description))
        case let other: throw ConsoleFailure(kind: "refused", message: .refused("\(other)"))
        }
    }

    private func helpersQuery<T: Decodable>(_ name: String, _ payload: [String: String], as type: T.Type) throws -> T {
        do {
            let bytes = try client.query(namespace: "helpers", name: name, payload: HelpersJSON.encode(payload))
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let f as RequestFailure where f.code == .notFound || f.code == .invalid {
            throw ConsoleFailure(kind: "refused", message: .refused(f.reason))
        }
    }
}
