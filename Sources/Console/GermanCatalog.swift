/// Die deutschen Texte der Konsole.
enum GermanCatalog {
    static func statusName(_ code: Int) -> String {
        switch code {
        case 1: "einsatzbereit über Funk"
        case 2: "einsatzbereit auf Wache"
        case 3: "Einsatz übernommen"
        case 4: "am Einsatzort"
        case 5: "Sprechwunsch"
        case 6: "nicht einsatzbereit"
        case 7: "Patient aufgenommen"
        case 8: "am Transportziel"
        case 9: "sonstiger Status"
        default: "unbekannt"
        }
    }

    static func usage(_ v: ConsoleCommand.Verb) -> String {
        switch v {
        case .help: "hilfe [BEFEHL] — diese Übersicht, oder die Hilfe zu einem Befehl"
        case .incident: "einsatz STICHWORT STADTTEIL \"ADRESSE\" [\"BEMERKUNG\"] — Einsatz eröffnen (statt des Stadtteils auch @BREITE,LÄNGE); zeigt den AAO-Vorschlag"
        case .test: "probealarm STICHWORT STADTTEIL \"ADRESSE\" — Probealarm: Einsatz eröffnen und den Vorschlag als Probealarm alarmieren (mit Bestätigung)"
        case .propose: "vorschlag EINSATZ — den AAO-Vorschlag zeigen: Fahrzeuge in Ausrückefolge, was fehlt"
        case .alarm: "alarmieren EINSATZ [FAHRZEUG …] — den Vorschlag (oder die genannten Fahrzeuge) alarmieren (mit Bestätigung)"
        case .realarm: "nachalarmieren AUFTRAG FAHRZEUG [ERSATZ] — Nachalarmierung für ein Fahrzeug ohne Rückmeldung bestätigen (mit Bestätigung)"
        case .ack: "quittieren AUFTRAG FAHRZEUG — die Alarmierung für ein Fahrzeug quittieren (z. B. nach Rückmeldung über Funk)"
        case .status: "status FAHRZEUG CODE — den Status eines Fahrzeugs setzen (1–9)"
        case .close: "abschliessen EINSATZ — den Einsatz abschließen (offene Aufträge werden beendet)"
        case .show: "zeige EINSATZ|AUFTRAG — einen Einsatz oder Auftrag mit jedem Ziel und jeder Rückmeldung"
        case .incidents: "einsaetze — alle Einsätze"
        case .units: "fahrzeuge — alle Fahrzeuge mit Status"
        case .lines: "leitungen — die Wachanschlüsse (Leitungen) und ihr Zustand"
        case .health: "zustand — der Zustand des Clusters"
        case .audit: "protokoll EINSATZ — wer hat wann was getan"
        }
    }

    static func text(_ m: Message) -> String {
        switch m {
        case .helpOverview:
            return "Befehle (auch auf Englisch):\n" + ConsoleCommand.Verb.allCases.map { "  " + usage($0) }.joined(separator: "\n")
        case .help(let v): return usage(v) + "\n  (englisch: \(v.rawValue))"
        case .input(let e):
            switch e {
            case .empty: return "Kein Befehl."
            case let .unknownCommand(w, nearest): return "Unbekannter Befehl „\(w)“" + (nearest.map { " — meinten Sie „\($0)“?" } ?? " — „hilfe“ zeigt alle Befehle.")
            case let .missing(v, what): return "\(v.german): es fehlt \(german(what)). Aufruf: " + usage(v)
            case let .unexpected(v, word): return "\(v.german): unerwartet „\(word)“. Aufruf: " + usage(v)
            case .badNumber(let s): return "„\(s)“ ist kein Status (1–9)."
            case .unclosedQuote: return "Ein Anführungszeichen ist nicht geschlossen."
            }
        case .needsConfirmation(let v): return "\(v.german) verlangt eine Bestätigung: ohne Terminal bitte --yes angeben. Nichts wurde alarmiert."
        case .confirm(let s): return "\(s) — wirklich? (j/n) "
        case .cancelled: return "Abgebrochen. Nichts wurde alarmiert."
        case .refused(let why): return "Abgelehnt: \(why)"
        case .unavailable(let why): return "Cluster nicht erreichbar: \(why)"
        case let .incidentOpened(id, keyword, area, test): return "Einsatz \(id) eröffnet: \(keyword) in \(area)" + (test ? " (PROBEALARM)" : "")
        case let .proposalHeader(incident, keyword, area): return "AAO-Vorschlag für \(incident) (\(keyword), \(area)):"
        case let .proposedUnit(unit, type, station): return "  \(unit)  \(type)  Wache \(station)"
        case let .missingUnits(type, count): return "  fehlt: \(count)× \(type) (nicht verfügbar)"
        case .nothingAvailable(let i): return "Für \(i) ist kein Fahrzeug verfügbar."
        case let .alarmSummary(incident, units): return "\(incident): \(units.count) Fahrzeug(e) alarmieren: \(units.joined(separator: ", "))"
        case let .orderCreated(order, units): return "Auftrag \(order) alarmiert: \(units.joined(separator: ", "))"
        case let .acknowledged(order, unit): return "Quittiert: \(unit) in \(order)"
        case let .statusSet(unit, code): return "\(unit): Status \(code) (\(statusName(code)))"
        case .closed(let i): return "Einsatz \(i) abgeschlossen."
        case .reAlarmed(let o): return "Nachalarmierung: Auftrag \(o) alarmiert."
        case let .unitLine(unit, type, station, code, incident):
            return "\(unit)  \(type)  Wache \(station)  Status \(code) (\(statusName(code)))" + (incident.map { "  Einsatz \($0)" } ?? "")
        case let .lineState(station, name, state, reason):
            let s = state == "up" ? "in Ordnung" : state == "faulted" ? "GESTÖRT" : "unbekannt"
            return "\(station)  \(s)\(reason.map { " — \($0)" } ?? "")  (\(name))"
        case let .incidentLine(id, keyword, area, address, open, test):
            return "\(id)  \(keyword)  \(area), \(address)  \(open ? "offen" : "abgeschlossen")\(test ? " (PROBEALARM)" : "")"
        case let .health(node, role, leader, term, commit, members):
            let r = role == "leader" ? "Leader" : role == "follower" ? "Follower" : role
            return "Knoten \(node) (\(r)), Leader Knoten \(leader == 0 ? "unbekannt" : String(leader)), Term \(term), Commit \(commit); "
                + members.map { "\($0.0) \($0.1 == "up" ? "verbunden" : $0.1 == "self" ? "selbst" : "GETRENNT")" }.joined(separator: ", ")
        case let .auditLine(time, who, what): return "\(time)  \(who)  \(what)"
        case let .event(time, name, subject, detail): return "\(time)  \(eventNames[name] ?? name)  \(subject)\(detail.map { " — \($0)" } ?? "")"
        }
    }

    static let eventNames: [String: String] = [
        "incident.opened": "Einsatz eröffnet",
        "incident.closed": "Einsatz abgeschlossen",
        "order.created": "Auftrag alarmiert",
        "order.closed": "Auftrag abgeschlossen",
        "target.issued": "Alarm ausgegeben",
        "target.sent": "übermittelt",
        "target.delivered": "zugestellt",
        "target.failed": "NICHT ZUGESTELLT",
        "fallback.none": "KEIN ERSATZWEG",
        "unit.status": "Status",
        "unit.acknowledged": "Rückmeldung",
        "unit.re-alerted": "WIEDERHOLUNGSALARM",
        "escalation.proposed": "NACHALARMIERUNG VORGESCHLAGEN",
        "escalation.dismissed": "Nachalarmierung verworfen",
        "line.faulted": "LEITUNG GESTÖRT",
        "line.up": "Leitung in Ordnung",
        "gateway.active": "Gateway aktiv",
        "gateway.lost": "GATEWAY AUSGEFALLEN",
        "gateway.sink.faulted": "SENDER GESTÖRT",
        "gateway.sink.ok": "Sender in Ordnung",
        "registry.applied": "Stammdaten übernommen",
    ]

    static func german(_ what: String) -> String {
        switch what {
        case "keyword place address": return "Stichwort, Stadtteil und Adresse"
        case "incident": return "der Einsatz"
        case "order unit": return "Auftrag und Fahrzeug"
        case "unit code": return "Fahrzeug und Status"
        case "incident or order": return "Einsatz oder Auftrag"
        default: return what
        }
    }
}
