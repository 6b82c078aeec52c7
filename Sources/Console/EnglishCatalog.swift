/// The console's English texts (`--lang en`).
enum EnglishCatalog {
    static func statusName(_ code: Int) -> String {
        switch code {
        case 1: "free on radio"
        case 2: "free at station"
        case 3: "en route"
        case 4: "on scene"
        case 5: "request to speak"
        case 6: "out of service"
        case 7: "patient aboard"
        case 8: "at destination"
        case 9: "other"
        default: "unknown"
        }
    }

    static func usage(_ v: ConsoleCommand.Verb) -> String {
        switch v {
        case .help: "help [COMMAND] — this overview, or help on one command"
        case .incident: "incident KEYWORD AREA \"ADDRESS\" [\"REMARKS\"] — open an incident (or @LAT,LON instead of the area); shows the AAO proposal"
        case .test: "test KEYWORD AREA \"ADDRESS\" — test alarm (Probealarm): open an incident and alarm its proposal as a test (asks to confirm)"
        case .propose: "propose INCIDENT — the AAO proposal: units in the station order, what is missing"
        case .alarm: "alarm INCIDENT [UNIT …] — alarm the proposal (or the units named) (asks to confirm)"
        case .realarm: "realarm ORDER UNIT [REPLACEMENT] — confirm the Nachalarmierung for a unit that did not acknowledge (asks to confirm)"
        case .ack: "ack ORDER UNIT — acknowledge the alarm on a unit's behalf (e.g. it answered by radio)"
        case .status: "status UNIT CODE — set a unit's status (1–9)"
        case .close: "close INCIDENT — close the incident (open orders end)"
        case .show: "show INCIDENT|ORDER — an incident or order with every target and every acknowledgement"
        case .incidents: "incidents — every incident"
        case .units: "units — every unit with its status"
        case .lines: "lines — the station lines and their state"
        case .health: "health — the cluster's health"
        case .audit: "audit INCIDENT — who did what, when"
        case .sitrep: "sitrep INCIDENT \"TEXT\" — send the partner organisations a situation report on the incident, with its units and their status (asks to confirm)"
        case .helpers: "helpers request INCIDENT SKILL COUNT [MINUTES] [\"BRIEFING\"] [\"SAFETY NOTES\"] — ask volunteers of the helper network to the incident's place (asks to confirm); helpers show [REQUEST] — the requests, or one with its helpers (names only on your own); helpers cancel REQUEST; helpers checkin|checkout REQUEST VOLUNTEER"
        case .cap: "cap INCIDENT SEVERITY \"TEXT\" [\"INSTRUCTION\"] — send the partner organisations a CAP 1.2 alert about the incident (SEVERITY: extreme, severe, moderate, minor, unknown; a second one is an Update); cap INCIDENT cancel [\"REASON\"] cancels it (asks to confirm)"
        }
    }

    static func text(_ m: Message) -> String {
        switch m {
        case .helpOverview:
            return "Commands (German words work too):\n" + ConsoleCommand.Verb.allCases.map { "  " + usage($0) }.joined(separator: "\n")
        case .help(let v): return usage(v) + "\n  (German: \(v.german))"
        case .input(let e):
            switch e {
            case .empty: return "No command."
            case let .unknownCommand(w, nearest): return "Unknown command \"\(w)\"" + (nearest.map { " — did you mean \"\($0)\"?" } ?? " — \"help\" lists every command.")
            case let .missing(v, what): return "\(v.rawValue): missing \(what). Usage: " + usage(v)
            case let .unexpected(v, word): return "\(v.rawValue): unexpected \"\(word)\". Usage: " + usage(v)
            case .badNumber(let s): return "\"\(s)\" is no status (1–9)."
            case .badSeverity(let s): return "\"\(s)\" is no severity (extreme, severe, moderate, minor, unknown — or cancel)."
            case .badCount(let s): return "\"\(s)\" is not a number in range (count 1–1000, minutes 10–1440)."
            case .unknownAction(let s): return "\"\(s)\" is no helpers action (request, show, cancel, checkin, checkout)."
            case .unclosedQuote: return "A quote is not closed."
            }
        case .needsConfirmation(let v): return "\(v.rawValue) needs confirmation: without a terminal, give --yes. Nothing was \(v == .cap ? "sent" : "alarmed")."
        case .confirm(let s): return "\(s) — really? (y/n) "
        case .cancelled(let v): return "Cancelled. Nothing was \(v == .cap ? "sent" : "alarmed")."
        case .refused(let why): return "Refused: \(why)"
        case .unavailable(let why): return "Cluster unreachable: \(why)"
        case let .incidentOpened(id, keyword, area, test): return "Incident \(id) opened: \(keyword) in \(area)" + (test ? " (TEST ALARM)" : "")
        case let .proposalHeader(incident, keyword, area): return "AAO proposal for \(incident) (\(keyword), \(area)):"
        case let .proposedUnit(unit, type, station): return "  \(unit)  \(type)  station \(station)"
        case let .missingUnits(type, count): return "  missing: \(count)× \(type) (not available)"
        case .nothingAvailable(let i): return "No unit is available for \(i)."
        case let .alarmSummary(incident, units): return "\(incident): alarm \(units.count) unit(s): \(units.joined(separator: ", "))"
        case let .capSummary(incident, msgType, severity):
            return "\(incident): send the partner organisations a CAP \(msgType)" + (severity.map { " (severity \($0))" } ?? "")
        case let .situationSummary(incident, units):
            return "\(incident): send the partner organisations a situation report (\(units) unit(s))"
        case let .situationSent(incident, topic, sessions):
            return "Situation report on \(incident) sent on \(topic) (queued for \(sessions) partner session(s))"
        case let .capSent(incident, identifier, msgType, topic, sessions):
            return "CAP \(msgType) \(identifier) for \(incident) sent on \(topic) (queued for \(sessions) partner session(s))"
        case let .helperSummary(incident, skill, count, area): return "\(incident): ask the helper network for \(count) volunteer(s) with \(skill) in \(area)"
        case let .helperRequested(request, skill, count, area): return "Helper request \(request) open: \(count)× \(skill) in \(area) — progress in the feed"
        case let .helperRequestLine(request, status, skill, filled, count, area, asks, by):
            return "\(request)  \(status)  \(skill)  \(filled)/\(count)  \(area)  \(asks) asked  by \(by)"
        case let .helperLine(volunteer, name, checkedIn, checkedOut, minutes):
            return "  \(volunteer)  \(name ?? "(name deleted)")  " + (checkedOut ? "checked out, \(minutes ?? 0) min on site" : checkedIn ? "on site" : "on the way")
        case let .helperBriefing(briefing, notes): return "  briefing: \(briefing.isEmpty ? "–" : briefing); safety: \(notes.isEmpty ? "–" : notes)"
        case .helperCancelled(let r): return "Helper request \(r) cancelled; open asks withdrawn."
        case let .helperCheckedIn(r, v): return "\(v) checked in on \(r)."
        case let .helperCheckedOut(r, v): return "\(v) checked out of \(r)."
        case let .orderCreated(order, units): return "Order \(order) alarmed: \(units.joined(separator: ", "))"
        case let .acknowledged(order, unit): return "Acknowledged: \(unit) in \(order)"
        case let .statusSet(unit, code): return "\(unit): status \(code) (\(statusName(code)))"
        case .closed(let i): return "Incident \(i) closed."
        case .reAlarmed(let o): return "Nachalarmierung: order \(o) alarmed."
        case let .unitLine(unit, type, station, code, incident):
            return "\(unit)  \(type)  station \(station)  status \(code) (\(statusName(code)))" + (incident.map { "  incident \($0)" } ?? "")
        case let .lineState(station, name, state, reason):
            let s = state == "up" ? "ok" : state == "faulted" ? "FAULTED" : "unknown"
            return "\(station)  \(s)\(reason.map { " — \($0)" } ?? "")  (\(name))"
        case let .incidentLine(id, keyword, area, address, open, test):
            return "\(id)  \(keyword)  \(area), \(address)  \(open ? "open" : "closed")\(test ? " (TEST ALARM)" : "")"
        case let .health(node, role, leader, term, commit, members):
            return "node \(node) (\(role)), leader node \(leader == 0 ? "unknown" : String(leader)), term \(term), commit \(commit); "
                + members.map { "\($0.0) \($0.1 == "up" ? "connected" : $0.1 == "self" ? "self" : "DISCONNECTED")" }.joined(separator: ", ")
        case let .auditLine(time, who, what): return "\(time)  \(who)  \(what)"
        case let .event(time, name, subject, detail): return "\(time)  \(eventNames[name] ?? name)  \(subject)\(detail.map { " — \($0)" } ?? "")"
        }
    }

    static let eventNames: [String: String] = [
        "incident.opened": "incident opened",
        "incident.closed": "incident closed",
        "order.created": "order alarmed",
        "order.closed": "order closed",
        "target.issued": "alarm issued",
        "target.sent": "sent",
        "target.delivered": "delivered",
        "target.failed": "NOT DELIVERED",
        "fallback.none": "NO FALLBACK",
        "unit.status": "status",
        "unit.acknowledged": "acknowledged",
        "unit.re-alerted": "RE-ALARMED",
        "escalation.proposed": "NACHALARMIERUNG PROPOSED",
        "escalation.dismissed": "Nachalarmierung dismissed",
        "line.faulted": "LINE FAULTED",
        "line.up": "line ok",
        "gateway.active": "gateway active",
        "gateway.lost": "GATEWAY LOST",
        "gateway.sink.faulted": "TRANSMITTER FAULTED",
        "gateway.sink.ok": "transmitter ok",
        "registry.applied": "registry applied",
        "incidents.archived": "incidents archived",
    ]
}
