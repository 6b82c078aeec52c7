import Foundation

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
        case .helpers: "helfer anfordern EINSATZ FÄHIGKEIT ANZAHL [MINUTEN] [\"EINWEISUNG\"] [\"SICHERHEITSHINWEISE\"] — Freiwillige des Helfernetzes zum Einsatzort anfordern (mit Bestätigung); helfer zeige [ANFRAGE] — die Anfragen, oder eine mit ihren Helfern (Namen nur bei eigenen); helfer abbrechen ANFRAGE; helfer ankunft|abmeldung ANFRAGE HELFER"
        case .sitrep: "lage EINSATZ \"TEXT\" — den Partnerorganisationen eine Lagemeldung zum Einsatz senden, mit seinen Fahrzeugen und ihrem Status (mit Bestätigung)"
        case .cap: "warnung EINSATZ SCHWERE \"TEXT\" [\"HANDLUNGSEMPFEHLUNG\"] — den Partnerorganisationen eine CAP-1.2-Warnung zum Einsatz senden (SCHWERE: extrem, schwer, mittel, gering, unbekannt; eine weitere ist eine Aktualisierung); warnung EINSATZ aufheben [\"GRUND\"] hebt sie auf (mit Bestätigung)"
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
            case .badSeverity(let s): return "„\(s)“ ist keine Schwere (extrem, schwer, mittel, gering, unbekannt — oder aufheben)."
            case .badCount(let s): return "„\(s)“ ist keine zulässige Zahl (Anzahl 1–1000, Minuten 10–1440)."
            case .unknownAction(let s): return "„\(s)“ ist keine Helfer-Aktion (anfordern, zeige, abbrechen, ankunft, abmeldung)."
            case .unclosedQuote: return "Ein Anführungszeichen ist nicht geschlossen."
            }
        case .needsConfirmation(let v): return "\(v.german) verlangt eine Bestätigung: ohne Terminal bitte --yes angeben. Nichts wurde \(v == .cap ? "gesendet" : "alarmiert")."
        case .confirm(let s): return "\(s) — wirklich? (j/n) "
        case .cancelled(let v): return "Abgebrochen. Nichts wurde \(v == .cap ? "gesendet" : "alarmiert")."
        case .refused(let why): return "Abgelehnt: \(translate(why))"
        case .unavailable(let why): return "Cluster nicht erreichbar: \(why)"
        case let .incidentOpened(id, keyword, area, test): return "Einsatz \(id) eröffnet: \(keyword) in \(area)" + (test ? " (PROBEALARM)" : "")
        case let .proposalHeader(incident, keyword, area): return "AAO-Vorschlag für \(incident) (\(keyword), \(area)):"
        case let .proposedUnit(unit, type, station): return "  \(unit)  \(type)  Wache \(station)"
        case let .missingUnits(type, count): return "  fehlt: \(count)× \(type) (nicht verfügbar)"
        case .nothingAvailable(let i): return "Für \(i) ist kein Fahrzeug verfügbar."
        case let .alarmSummary(incident, units): return "\(incident): \(units.count) Fahrzeug(e) alarmieren: \(units.joined(separator: ", "))"
        case let .capSummary(incident, msgType, severity):
            return "\(incident): den Partnerorganisationen eine CAP-\(capType(msgType)) senden" + (severity.map { " (Schwere \(severityName($0)))" } ?? "")
        case let .situationSummary(incident, units):
            return "\(incident): den Partnerorganisationen eine Lagemeldung senden (\(units) Fahrzeug(e))"
        case let .situationSent(incident, topic, sessions):
            return "Lagemeldung zu \(incident) gesendet auf \(topic) (für \(sessions) Partner-Sitzung(en) vorgemerkt)"
        case let .capSent(incident, identifier, msgType, topic, sessions):
            return "CAP-\(capType(msgType)) \(identifier) zu \(incident) gesendet auf \(topic) (für \(sessions) Partner-Sitzung(en) vorgemerkt)"
        case let .helperSummary(incident, skill, count, area): return "\(incident): beim Helfernetz \(count) Freiwillige mit \(skill) in \(area) anfordern"
        case let .helperRequested(request, skill, count, area): return "Helferanfrage \(request) offen: \(count)× \(skill) in \(area) — Fortschritt im Lagebild"
        case let .helperRequestLine(request, status, skill, filled, count, area, asks, by):
            let st = ["open": "offen", "filled": "besetzt", "cancelled": "abgebrochen", "expired": "abgelaufen"][status] ?? status
            return "\(request)  \(st)  \(skill)  \(filled)/\(count)  \(area)  \(asks) gefragt  von \(by)"
        case let .helperLine(volunteer, name, checkedIn, checkedOut, minutes):
            return "  \(volunteer)  \(name ?? "(Name gelöscht)")  " + (checkedOut ? "abgemeldet, \(minutes ?? 0) min vor Ort" : checkedIn ? "vor Ort" : "unterwegs")
        case let .helperBriefing(briefing, notes): return "  Einweisung: \(briefing.isEmpty ? "–" : briefing); Sicherheit: \(notes.isEmpty ? "–" : notes)"
        case .helperCancelled(let r): return "Helferanfrage \(r) abgebrochen; offene Anfragen zurückgezogen."
        case let .helperCheckedIn(r, v): return "\(v) bei \(r) angekommen."
        case let .helperCheckedOut(r, v): return "\(v) von \(r) abgemeldet."
        case let .orderCreated(order, units): return "Auftrag \(order) alarmiert: \(units.joined(separator: ", "))"
        case let .acknowledged(order, unit): return "Quittiert: \(unit) in \(order)"
        case let .statusSet(unit, code): return "\(unit): Status \(code) (\(statusName(code)))"
        case .closed(let i): return "Einsatz \(i) abgeschlossen."
        case .reAlarmed(let o): return "Nachalarmierung: Auftrag \(o) alarmiert."
        case let .unitLine(unit, type, station, code, incident):
            return "\(unit)  \(type)  Wache \(station)  Status \(code) (\(statusName(code)))" + (incident.map { "  Einsatz \($0)" } ?? "")
        case let .lineState(station, name, state, reason):
            let s = state == "up" ? "in Ordnung" : state == "faulted" ? "GESTÖRT" : "unbekannt"
            return "\(station)  \(s)\(reason.map { " — \(translate($0))" } ?? "")  (\(name))"
        case let .incidentLine(id, keyword, area, address, open, test):
            return "\(id)  \(keyword)  \(area), \(address)  \(open ? "offen" : "abgeschlossen")\(test ? " (PROBEALARM)" : "")"
        case let .health(node, role, leader, term, commit, members):
            let r = role == "leader" ? "Leader" : role == "follower" ? "Follower" : role
            return "Knoten \(node) (\(r)), Leader Knoten \(leader == 0 ? "unbekannt" : String(leader)), Term \(term), Commit \(commit); "
                + members.map { "\($0.0) \($0.1 == "up" ? "verbunden" : $0.1 == "self" ? "selbst" : "GETRENNT")" }.joined(separator: ", ")
        case let .auditLine(time, who, what): return "\(time)  \(who)  \(what)"
        case let .event(time, name, subject, detail): return "\(time)  \(eventNames[name] ?? name)  \(subject)\(detail.map { " — \(translate($0))" } ?? "")"
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
        "incidents.archived": "Einsätze archiviert",
    ]

    static func capType(_ msgType: String) -> String {
        switch msgType {
        case "Alert": "Warnung"
        case "Update": "Aktualisierung"
        case "Cancel": "Aufhebung"
        default: msgType
        }
    }

    static func severityName(_ severity: String) -> String {
        switch severity {
        case "Extreme": "extrem"
        case "Severe": "schwer"
        case "Moderate": "mittel"
        case "Minor": "gering"
        default: "unbekannt"
        }
    }

    static func german(_ what: String) -> String {
        switch what {
        case "keyword place address": return "Stichwort, Stadtteil und Adresse"
        case "incident": return "der Einsatz"
        case "order unit": return "Auftrag und Fahrzeug"
        case "unit code": return "Fahrzeug und Status"
        case "incident or order": return "Einsatz oder Auftrag"
        case "incident severity text": return "Einsatz, Schwere und Text"
        case "incident text": return "Einsatz und Text"
        case "action": return "die Aktion (anfordern, zeige, abbrechen, ankunft, abmeldung)"
        case "incident skill count": return "Einsatz, Fähigkeit und Anzahl"
        case "request": return "die Anfrage"
        case "request volunteer": return "Anfrage und Helfer"
        default: return what
        }
    }

    /// The cluster speaks English (its refusals and event details are part of the log and of the
    /// protocol); the console says them in German. Each pattern's `{}` takes any text, which is
    /// itself translated (so "line faulted: silent for 10 s" becomes "Leitung gestört: seit 10 s
    /// still"); a text no pattern matches stays as it is.
    static func translate(_ english: String) -> String {
        for (regex, german) in phrases {
            let range = NSRange(english.startIndex..., in: english)
            guard let m = regex.firstMatch(in: english, range: range) else { continue }
            let parts = (1..<m.numberOfRanges).map { i in Range(m.range(at: i), in: english).map { translate(String(english[$0])) } ?? "" }
            return german(parts)
        }
        return english
    }

    private static func phrase(_ pattern: String, _ german: @escaping @Sendable ([String]) -> String) -> (NSRegularExpression, @Sendable ([String]) -> String) {
        let escaped = NSRegularExpression.escapedPattern(for: pattern).replacingOccurrences(of: "\\{\\}", with: "(.+?)")
        return (try! NSRegularExpression(pattern: "^" + escaped + "$", options: [.dotMatchesLineSeparators]), german)
    }

    /// `phrase("unit {} in order {}") { "Fahrzeug \($0[0]) in Auftrag \($0[1])" }`: first match wins.
    nonisolated(unsafe) static let phrases: [(NSRegularExpression, @Sendable ([String]) -> String)] = [
        phrase("{} (did you mean {}?)") { "\($0[0]) (meinten Sie \($0[1])?)" },
        phrase("invalid: {}") { "ungültig: \($0[0])" },
        phrase("unknown: {}") { "unbekannt: \($0[0])" },
        phrase("not possible: {}") { "nicht möglich: \($0[0])" },
        phrase("forbidden: {}") { "nicht erlaubt: \($0[0])" },
        phrase("incident {} is already closed") { "Einsatz \($0[0]) ist bereits abgeschlossen" },
        phrase("incident {} is closed") { "Einsatz \($0[0]) ist abgeschlossen" },
        phrase("incident {}") { "Einsatz \($0[0])" },
        phrase("order {} is already closed") { "Auftrag \($0[0]) ist bereits abgeschlossen" },
        phrase("order {}") { "Auftrag \($0[0])" },
        phrase("unit {} in order {} is {}") { "Fahrzeug \($0[0]) in Auftrag \($0[1]) ist \($0[2])" },
        phrase("unit {} in order {}") { "Fahrzeug \($0[0]) in Auftrag \($0[1])" },
        phrase("unit {} is alarmed for incident {}") { "Fahrzeug \($0[0]) ist für Einsatz \($0[1]) alarmiert" },
        phrase("unit {} is already being alarmed for this incident") { "Fahrzeug \($0[0]) wird für diesen Einsatz bereits alarmiert" },
        phrase("unit {} has status {} ({}) and is not available") {
            "Fahrzeug \($0[0]) hat Status \($0[1]) (\(statusName(Int($0[1]) ?? 0))) und ist nicht verfügbar"
        },
        phrase("unit {} is in open order {}; close the order before removing the unit") {
            "Fahrzeug \($0[0]) ist im offenen Auftrag \($0[1]); erst den Auftrag abschließen, dann das Fahrzeug entfernen"
        },
        phrase("unit {}") { "Fahrzeug \($0[0])" },
        phrase("area for position {} (farther than {} km from every area centre)") {
            "Stadtteil zur Position \($0[0]) (weiter als \($0[1]) km von jedem Stadtteilzentrum)"
        },
        phrase("area {}") { "Stadtteil \($0[0])" },
        phrase("keyword {} (no AAO rule)") { "Stichwort \($0[0]) (keine AAO-Regel)" },
        phrase("keyword {}") { "Stichwort \($0[0])" },
        phrase("position: {}") { "Position: \($0[0])" },
        phrase("an incident needs an area or a position") { _ in "ein Einsatz braucht einen Stadtteil oder eine Position" },
        phrase("an alarm order needs at least one unit") { _ in "ein Alarmauftrag braucht mindestens ein Fahrzeug" },
        phrase("an alarm order takes at most 64 units") { _ in "ein Alarmauftrag umfasst höchstens 64 Fahrzeuge" },
        phrase("a unit is listed twice") { _ in "ein Fahrzeug ist doppelt genannt" },
        phrase("status {} (allowed 1–9)") { "Status \($0[0]) (erlaubt 1–9)" },
        phrase("escalation for unit {} in order {}") { "Nachalarmierung für Fahrzeug \($0[0]) in Auftrag \($0[1])" },
        phrase("the escalation for {} is already {}") {
            "die Nachalarmierung für \($0[0]) ist bereits \(["confirmed": "bestätigt", "dismissed": "verworfen"][$0[1]] ?? $0[1])"
        },
        phrase("no unit of type {} is available; name one with replacement") {
            "kein Fahrzeug vom Typ \($0[0]) verfügbar; bitte ein Ersatzfahrzeug nennen"
        },
        phrase("no registry has been applied yet (florian alarm registry apply FILE)") {
            _ in "es sind noch keine Stammdaten übernommen (florian alarm registry apply DATEI)"
        },
        phrase("{} needs the role {}, the sender is {}") { "\($0[0]) verlangt die Rolle \($0[1]), der Absender hat die Rolle \($0[2])" },
        // Event details and reasons.
        phrase("silent for {} s") { "seit \($0[0]) s still" },
        phrase("never connected") { _ in "nie verbunden" },
        phrase("line faulted: {}") { "Leitung gestört: \($0[0])" },
        phrase("line faulted") { _ in "Leitung gestört" },
        phrase("no ACK from the station in time") { _ in "keine Quittung der Wache in der Frist" },
        phrase("not aired in time") { _ in "nicht rechtzeitig gesendet" },
        phrase("reported failed by the gateway") { _ in "vom Gateway als fehlgeschlagen gemeldet" },
        phrase("no acknowledgement in time") { _ in "keine Rückmeldung in der Frist" },
        phrase("{} stopped renewing its lease") { "\($0[0]) hat seine Lease nicht erneuert" },
        phrase("no other way to reach the crews of {}") { "kein anderer Weg zu den Besatzungen von \($0[0])" },
        phrase("{} did not acknowledge; proposed: {}") { "\($0[0]) hat sich nicht gemeldet; vorgeschlagen: \($0[1])" },
        phrase("{} did not acknowledge; no {} available") { "\($0[0]) hat sich nicht gemeldet; kein \($0[1]) verfügbar" },
        phrase("{} → {} {}") { "\($0[0]) → \($0[1]) \(statusName(Int($0[1]) ?? 0))" },
        phrase("{} stations, {} units, {} areas") { "\($0[0]) Wachen, \($0[1]) Fahrzeuge, \($0[2]) Stadtteile" },
        phrase("closed by {}") { "abgeschlossen von \($0[0])" },
        phrase("complete") { _ in "vollständig" },
        phrase("incomplete") { _ in "UNVOLLSTÄNDIG" },
    ]
}
