import Alarming
import Bus
import Client
import Foundation
import Partners

/// Runs console commands against the cluster as the operator whose certificate the client holds
/// (every command is recorded in the log with that identity). Pure with respect to input and
/// output: it returns what to say (`Message`s, rendered by the caller in its language) and, for
/// `--json`, one JSON object per command.
public final class ConsoleEngine {
    public struct Outcome: Sendable {
        public var ok: Bool
        public var messages: [Message]
        /// One JSON object (text) describing the result, for `--json`.
        public var json: String
    }

    let client: FlorianClient
    private let prefix = "console-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
    private var counter = 0

    public init(client: FlorianClient) { self.client = client }

    /// Parses and runs one line. `confirm` is asked before anything is alarmed; nil means there is
    /// nobody to ask (no terminal and no `--yes`): such commands fail without doing anything.
    public func run(_ line: String, confirm: ((String) -> Bool)?, language: Language) -> Outcome {
        let command: ConsoleCommand
        do { command = try ConsoleCommand.parse(line) } catch {
            return fail([.input(error)], ["error": "input", "message": language.text(.input(error))])
        }
        do {
            return try execute(command, confirm: confirm, language: language)
        } catch let e as ConsoleFailure {
            return fail([e.message], ["error": e.kind, "message": language.text(e.message), "command": command.verb.rawValue])
        } catch let f as RequestFailure where f.code == .invalid || f.code == .forbidden || f.code == .notFound {
            // The cluster (or the client before it) refused the command: not an outage.
            return fail([.refused(f.reason)], ["error": "refused", "message": language.text(.refused(f.reason)), "command": command.verb.rawValue])
        } catch let f as RequestFailure {
            return fail([.unavailable(f.reason)], ["error": "unavailable", "message": f.reason, "command": command.verb.rawValue])
        } catch {
            return fail([.unavailable("\(error)")], ["error": "unavailable", "message": "\(error)", "command": command.verb.rawValue])
        }
    }

    struct ConsoleFailure: Error {
        var kind: String
        var message: Message
    }

    private func fail(_ m: [Message], _ json: [String: Any]) -> Outcome {
        var j = json
        j["ok"] = false
        return Outcome(ok: false, messages: m, json: Self.text(j))
    }

    func success(_ m: [Message], _ json: [String: Any]) -> Outcome {
        var j = json
        j["ok"] = true
        return Outcome(ok: true, messages: m, json: Self.text(j))
    }

    static func text(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: - Commands

    private func submit(_ c: AlarmCommand) throws -> [String: Any] { try submit(type: c.type, payload: c.payload) }

    func nextCommandID() -> String {
        counter += 1
        return "\(prefix)-\(counter)"
    }

    func submit(type: String, payload: [UInt8]) throws -> [String: Any] {
        switch try client.submit(type: type, commandID: nextCommandID(), payload: payload) {
        case .accepted(let bytes): return (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]) ?? [:]
        case .rejected(let why): throw ConsoleFailure(kind: "refused", message: .refused(why.description))
        case let other: throw ConsoleFailure(kind: "refused", message: .refused("\(other)"))
        }
    }

    func query<T: Decodable>(_ name: String, _ payload: [String: String], as type: T.Type) throws -> T {
        do {
            let bytes = try client.query(namespace: "alarm", name: name, payload: StrictJSON.encode(payload))
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let f as RequestFailure where f.code == .notFound || f.code == .invalid {
            throw ConsoleFailure(kind: "refused", message: .refused(f.reason))
        }
    }

    private func proposal(_ incident: String) throws -> Proposal {
        try query("proposal", ["incident": incident], as: Proposal.self)
    }

    private static func proposalMessages(_ incident: String, _ p: Proposal) -> [Message] {
        [.proposalHeader(incident: incident, keyword: p.keyword, area: p.area.rawValue)]
            + p.units.map { .proposedUnit(unit: $0.unit.rawValue, type: $0.type, station: $0.station.rawValue) }
            + p.unfilled.map { .missingUnits(type: $0.type, count: $0.missing) }
    }

    func ask(_ confirm: ((String) -> Bool)?, _ verb: ConsoleCommand.Verb, _ summary: Message, _ language: Language) throws {
        guard let confirm else { throw ConsoleFailure(kind: "needs-confirmation", message: .needsConfirmation(verb)) }
        guard confirm(language.text(.confirm(language.text(summary)))) else { throw ConsoleFailure(kind: "cancelled", message: .cancelled(verb)) }
    }

    private func execute(_ command: ConsoleCommand, confirm: ((String) -> Bool)?, language: Language) throws -> Outcome {
        switch command {
        case .help(let topic):
            let m: Message = topic.map { .help($0) } ?? .helpOverview
            return success([m], ["command": "help", "text": language.text(m)])
        case let .incident(keyword, place, address, remarks, test):
            var area: AreaID?, position: Position?
            do {
                switch place {
                case .area(let a): area = try AreaID(a)
                case .position(let p): position = try Position(parsing: p)
                }
            } catch { throw ConsoleFailure(kind: "refused", message: .refused("\(error)")) }
            if test {
                // A test alarm alarms at once (after confirmation): opening alone would be no test.
                let r = try submit(.openIncident(.init(keyword: keyword, area: area, position: position, address: address, remarks: remarks, test: true)))
                let id = r["incident"] as? String ?? "?", mapped = r["area"] as? String ?? area?.rawValue ?? "?"
                var messages: [Message] = [.incidentOpened(id: id, keyword: keyword, area: mapped, test: true)]
                let p = try proposal(id)
                let units = p.units.map(\.unit.rawValue)
                guard !units.isEmpty else { throw ConsoleFailure(kind: "refused", message: .nothingAvailable(incident: id)) }
                try ask(confirm, .test, .alarmSummary(incident: id, units: units), language)
                let o = try submit(.createOrder(.init(incident: try IncidentID(id), units: p.units.map(\.unit))))
                messages.append(.orderCreated(order: o["order"] as? String ?? "?", units: units))
                return success(messages, ["command": "test", "incident": id, "order": o["order"] ?? "", "units": units])
            }
            let r = try submit(.openIncident(.init(keyword: keyword, area: area, position: position, address: address, remarks: remarks)))
            let id = r["incident"] as? String ?? "?", mapped = r["area"] as? String ?? area?.rawValue ?? "?"
            let p = try proposal(id)
            return success([.incidentOpened(id: id, keyword: keyword, area: mapped, test: false)] + Self.proposalMessages(id, p),
                           ["command": "incident", "incident": id, "area": mapped, "proposal": p.units.map(\.unit.rawValue),
                            "missing": p.unfilled.map { ["type": $0.type, "count": $0.missing] }])
        case .propose(let incident):
            let p = try proposal(incident)
            return success(Self.proposalMessages(incident, p), ["command": "propose", "incident": incident, "proposal": p.units.map(\.unit.rawValue),
                                                                 "missing": p.unfilled.map { ["type": $0.type, "count": $0.missing] }])
        case let .alarm(incident, named):
            let units = named.isEmpty ? try proposal(incident).units.map(\.unit.rawValue) : named
            guard !units.isEmpty else { throw ConsoleFailure(kind: "refused", message: .nothingAvailable(incident: incident)) }
            let ids: [UnitID]
            let incidentID: IncidentID
            do {
                ids = try units.map { try UnitID($0) }
                incidentID = try IncidentID(incident)
            } catch { throw ConsoleFailure(kind: "refused", message: .refused("\(error)")) }
            try ask(confirm, .alarm, .alarmSummary(incident: incident, units: units), language)
            let o = try submit(.createOrder(.init(incident: incidentID, units: ids)))
            let order = o["order"] as? String ?? "?"
            return success([.orderCreated(order: order, units: units)], ["command": "alarm", "incident": incident, "order": order, "units": units])
        case let .reAlarm(order, unit, replacement):
            let (o, u, r) = try ids(order, unit, replacement)
            try ask(confirm, .realarm, .alarmSummary(incident: order, units: [replacement ?? unit]), language)
            let result = try submit(.confirmEscalation(.init(order: o, unit: u, replacement: r)))
            let new = result["order"] as? String ?? "?"
            return success([.reAlarmed(order: new)], ["command": "realarm", "order": new])
        case let .acknowledge(order, unit):
            let (o, u, _) = try ids(order, unit, nil)
            _ = try submit(.acknowledgeUnit(.init(order: o, unit: u)))
            return success([.acknowledged(order: order, unit: unit)], ["command": "ack", "order": order, "unit": unit])
        case let .unitStatus(unit, code):
            let (_, u, _) = try ids(nil, unit, nil)
            _ = try submit(.unitStatus(.init(unit: u, status: code)))
            return success([.statusSet(unit: unit, code: code)], ["command": "status", "unit": unit, "status": code])
        case .close(let incident):
            let id: IncidentID
            do { id = try IncidentID(incident) } catch { throw ConsoleFailure(kind: "refused", message: .refused("\(error)")) }
            _ = try submit(.closeIncident(.init(incident: id)))
            return success([.closed(incident: incident)], ["command": "close", "incident": incident])
        case .show(let id):
            if id.contains("/") {
                let o = try query("order", ["order": id], as: AlarmOrder.self)
                return success(Self.orderMessages(o, language), ["command": "show", "order": id, "state": o.closedAt == nil ? "open" : "closed",
                                                                 "targets": o.targets.map { ["target": $0.target.description, "state": $0.state.rawValue] }])
            }
            let v = try query("incident", ["incident": id], as: AlarmState.IncidentView.self)
            let i = v.incident
            var m: [Message] = [.incidentLine(id: i.id.rawValue, keyword: i.keyword, area: i.area.rawValue, address: i.address, open: i.closedAt == nil, test: i.test)]
            for o in v.orders { m += Self.orderMessages(o, language) }
            return success(m, ["command": "show", "incident": id, "orders": v.orders.map(\.id.rawValue)])
        case .incidents:
            let list = try query("incidents", [:], as: [Incident].self)
            return success(list.map { .incidentLine(id: $0.id.rawValue, keyword: $0.keyword, area: $0.area.rawValue, address: $0.address, open: $0.closedAt == nil, test: $0.test) },
                           ["command": "incidents", "incidents": list.map { ["id": $0.id.rawValue, "open": $0.closedAt == nil] }])
        case .units:
            let list = try query("units", [:], as: [AlarmState.UnitView].self)
            return success(list.map { .unitLine(unit: $0.unit.rawValue, type: $0.type, station: $0.station.rawValue, code: $0.status, incident: $0.incident?.rawValue) },
                           ["command": "units", "units": list.map { ["unit": $0.unit.rawValue, "status": $0.status, "available": $0.available] }])
        case .lines:
            let list = try query("lines", [:], as: [AlarmState.LineView].self)
            return success(list.map { .lineState(station: $0.station.rawValue, name: $0.name, state: $0.state, reason: $0.reason) },
                           ["command": "lines", "lines": list.map { ["station": $0.station.rawValue, "state": $0.state] }])
        case .health:
            let s = try client.status()
            return success([.health(node: s.node, role: s.role, leader: s.leader, term: s.term, commit: s.commitIndex,
                                    members: s.members.map { ($0.name, $0.link) })],
                           ["command": "health", "leader": s.leader, "term": s.term, "members": s.members.map { ["name": $0.name, "link": $0.link] }])
        case .audit(let incident):
            return try audit(incident)
        case let .cap(incident, kind):
            return try cap(incident, kind, confirm: confirm, language: language)
        case let .situation(incident, text):
            return try situation(incident, text, confirm: confirm, language: language)
        case .helpers(let action):
            return try helpers(action, confirm: confirm, language: language)
        }
    }

    private func ids(_ order: String?, _ unit: String, _ replacement: String?) throws -> (OrderID, UnitID, UnitID?) {
        do {
            return (try OrderID(order ?? "x"), try UnitID(unit), try replacement.map { try UnitID($0) })
        } catch { throw ConsoleFailure(kind: "refused", message: .refused("\(error)")) }
    }

    static func orderMessages(_ o: AlarmOrder, _ language: Language) -> [Message] {
        var m: [Message] = []
        for t in o.targets {
            let took = t.deliveredAt.map { " +\($0 - t.issuedAt) ms" } ?? ""
            m.append(.auditLine(time: o.id.rawValue, who: t.target.description, what: "\(t.state.rawValue)\(took)\(t.fallback ? " (fallback)" : "")\(t.reason.map { " — \($0)" } ?? "")"))
        }
        for u in o.units {
            m.append(.auditLine(time: o.id.rawValue, who: u.unit.rawValue, what: u.state.rawValue + (u.acknowledgedBy.map { " (\($0))" } ?? "")))
        }
        return m
    }

    /// Sends the partners a CAP 1.2 alert about an incident (retained on `florian/alerts/<incident>`),
    /// an Update of the one sent before, or its Cancel; as the operator (organisation LEITSTELLE).
    private func cap(_ incident: String, _ kind: IncidentAlert.Kind, confirm: ((String) -> Bool)?, language: Language) throws -> Outcome {
        let view = try query("incident", ["incident": incident], as: AlarmState.IncidentView.self)
        let registry = try? query("registry", [:], as: Registry.self)
        let topic = IncidentAlert.topic(incident: incident)
        var previous: CAPAlert?
        do {
            let bytes = try client.query(namespace: "mqtt", name: "retained", payload: StrictJSON.encode(["topic": topic]))
            let m = try JSONDecoder().decode(PartnerState.Message.self, from: Data(bytes))
            previous = try? CAP.parse(Array(m.payload))
        } catch let f as RequestFailure where f.code == .notFound {}
        let i = view.incident
        let alert: CAPAlert
        do {
            // The AAO rule that applies here: the area's own, else the city-wide one.
            let rules = registry?.aao.filter { $0.keyword == i.keyword } ?? []
            let rule = rules.first { $0.areas?.contains(i.area) == true } ?? rules.first { $0.areas == nil }
            alert = try IncidentAlert.make(incident: i, event: rule?.description,
                                           centre: registry?.areas.first { $0.id == i.area }?.centre, kind: kind,
                                           previous: previous, at: Self.nowMillis)
        } catch { throw ConsoleFailure(kind: "refused", message: .refused(error.reason)) }
        let severity = alert.infos.first?.severity.rawValue
        try ask(confirm, .cap, .capSummary(incident: incident, msgType: alert.msgType.rawValue, severity: severity), language)
        let sessions = try publishRetained(topic: topic, payload: Array(alert.xml().utf8))
        return success([.capSent(incident: incident, identifier: alert.identifier, msgType: alert.msgType.rawValue, topic: topic, sessions: sessions)],
                       ["command": "cap", "incident": incident, "identifier": alert.identifier, "msgType": alert.msgType.rawValue,
                        "topic": topic, "sessions": sessions, "severity": severity ?? ""])
    }

    /// A situation report to the partners on `florian/incidents/<incident>/situation` (QoS 1,
    /// retained: the newest), JSON: incident, sent (Frankfurt time), text, and the incident's
    /// units with their status now.
    private func situation(_ incident: String, _ text: String, confirm: ((String) -> Bool)?, language: Language) throws -> Outcome {
        let view = try query("incident", ["incident": incident], as: AlarmState.IncidentView.self)
        let units = try query("units", [:], as: [AlarmState.UnitView].self).filter { $0.incident?.rawValue == incident }
        try ask(confirm, .sitrep, .situationSummary(incident: incident, units: units.count), language)
        let sent: String
        do { sent = try IncidentAlert.dateTime(millis: Self.nowMillis).description } catch {
            throw ConsoleFailure(kind: "refused", message: .refused(error.reason))
        }
        let report = SituationReport(incident: incident, sent: sent, test: view.incident.test, text: text,
                                     units: units.map { .init(unit: $0.unit.rawValue, type: $0.type, status: $0.status) })
        let topic = "florian/incidents/\(incident)/situation"
        let sessions = try publishRetained(topic: topic, payload: PartnerState.json(report))
        return success([.situationSent(incident: incident, topic: topic, sessions: sessions)],
                       ["command": "sitrep", "incident": incident, "topic": topic, "sessions": sessions, "units": units.count])
    }

    static var nowMillis: UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }

    /// Publishes to the partners as the control room (QoS 1, retained): how many sessions it
    /// was queued for; refused when the cluster discarded it (the reason said).
    private func publishRetained(topic: String, payload: [UInt8]) throws -> Int {
        let publish = PartnerState.Publish(session: nil, org: PartnerState.controlRoomOrg, topic: topic, payload: Data(payload),
                                           qos: .atLeastOnce, retain: true)
        let r = try submit(type: "mqtt.publish", payload: PartnerState.json(publish))
        guard r["outcome"] as? String == "published" else {
            throw ConsoleFailure(kind: "refused", message: .refused(r["reason"] as? String ?? "not published on \(topic)"))
        }
        return r["deliveries"] as? Int ?? 0
    }

    /// The payload of a situation report (Protocols/partner-mqtt.md).
    public struct SituationReport: Codable, Equatable, Sendable {
        public struct Unit: Codable, Equatable, Sendable {
            public var unit: String
            public var type: String
            /// FMS status 1–9.
            public var status: Int
        }
        public var incident: String
        public var sent: String
        /// A Probealarm's incident: the report is about a test (as its CAP alerts have status Test).
        public var test: Bool
        public var text: String
        public var units: [Unit]
    }

    /// The audit trail of an incident: every event of it with time and the identity that caused it.
    private func audit(_ incident: String) throws -> Outcome {
        var from: UInt64 = 0
        var lines: [Message] = []
        var json: [[String: Any]] = []
        while true {
            let page = try client.read(topic: AlarmTopic.events, from: from, limit: 1_000, linearizable: true)
            for m in page.messages {
                guard let e = try? JSONDecoder().decode(AlarmEvent.self, from: Data(m.payload)), e.incident?.rawValue == incident else { continue }
                let time = Self.time(e.at)
                var what = e.event
                if let o = e.order { what += " " + o.rawValue }
                if let t = e.target { what += " " + t.description }
                if let u = e.unit { what += " " + u.rawValue }
                if let d = e.detail { what += " — " + d }
                let who = e.by ?? m.sender
                lines.append(.auditLine(time: time, who: who, what: what))
                json.append(["at": e.at, "by": who, "event": e.event])
            }
            if page.nextOffset >= page.endOffset || page.messages.isEmpty { break }
            from = page.nextOffset
        }
        return success(lines, ["command": "audit", "incident": incident, "events": json])
    }

    static func time(_ millis: UInt64) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss.SSS"
        return f.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }
}
