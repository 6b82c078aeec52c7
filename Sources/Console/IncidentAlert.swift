import Alarming
import Foundation
import Partners

/// The CAP 1.2 alert the control room sends the partner organisations about an incident
/// (`warnung`/`cap` in the console), published retained on `florian/alerts/<incident>`: the
/// retained message is always the incident's newest alert. The first is an Alert, every later
/// one an Update, and `aufheben`/`cancel` a Cancel — each referencing all earlier ones, so a
/// partner's system can chain them. A Probealarm's alerts have the status Test. Pure: the
/// caller supplies the incident, the registry's facts and the time.
public enum IncidentAlert {
    public static let sender = "leitstelle@feuerwehr.frankfurt.de"
    public static let senderName = "Feuerwehr Frankfurt am Main – Zentrale Leitstelle"
    public static let restriction = "Partnerorganisationen des Informationsraums Frankfurt am Main – nicht zur Veröffentlichung"

    public static func topic(incident: String) -> String { "florian/alerts/\(incident)" }

    public enum Kind: Equatable, Sendable {
        case alert(severity: CAPInfo.Severity, description: String, instruction: String?)
        case cancel(reason: String?)
    }

    /// Severity words as dispatchers type them, German and English.
    public static func severity(named word: String) -> CAPInfo.Severity? {
        switch word.lowercased() {
        case "extrem", "extreme": .extreme
        case "schwer", "severe": .severe
        case "mittel", "moderate": .moderate
        case "gering", "minor": .minor
        case "unbekannt", "unknown": .unknown
        default: nil
        }
    }
    public static let severityWords = ["extrem", "schwer", "mittel", "gering", "unbekannt", "extreme", "severe", "moderate", "minor", "unknown"]
    public static let cancelWords = ["aufheben", "cancel"]

    /// The CAP category of an AAO keyword: F… fire, TH… and WASS rescue, ABC/CBRN… CBRNE,
    /// RD/MANV health, else Other.
    public static func category(keyword: String) -> CAPInfo.Category {
        let k = keyword.uppercased()
        if k.hasPrefix("ABC") || k.hasPrefix("CBRN") || k.hasPrefix("GSF") { return .cbrne }
        if k.hasPrefix("TH") || k.hasPrefix("WASS") || k.hasPrefix("H") { return .rescue }
        if k.hasPrefix("RD") || k.hasPrefix("MANV") { return .health }
        if k.hasPrefix("F") || k.hasPrefix("B") { return .fire }
        return .other
    }

    /// Builds the alert. `previous`: the incident's retained alert, if any (it makes this an
    /// Update or Cancel); `centre`: the incident's area centre from the registry; `event`: the AAO
    /// rule's description of the keyword.
    public static func make(incident: Incident, event: String?, centre: Position?, kind: Kind, previous: CAPAlert?,
                            at millis: UInt64) throws(CAPError) -> CAPAlert {
        if case .cancel = kind, previous == nil { throw CAPError("no alert has been sent for \(incident.id.rawValue), nothing to cancel") }
        if let p = previous, p.msgType == .cancel { throw CAPError("the alerts of \(incident.id.rawValue) have been cancelled") }
        let sent = try dateTime(millis: millis)
        var references = previous?.references ?? []
        if let p = previous { references.append(CAPReference(sender: p.sender, identifier: p.identifier, sent: p.sent)) }
        let msgType: CAPAlert.MsgType = switch kind {
        case .cancel: .cancel
        case .alert: previous == nil ? .alert : .update
        }
        var alert = CAPAlert(identifier: "florian-\(incident.id.rawValue)-\(millis)", sender: sender, sent: sent,
                             status: incident.test ? .test : .actual, msgType: msgType, scope: .restricted,
                             restriction: restriction, references: references, incidents: [incident.id.rawValue])
        switch kind {
        case .cancel(let reason):
            alert.note = reason ?? "Warnung für \(incident.id.rawValue) aufgehoben"
        case let .alert(severity, description, instruction):
            let place = "\(incident.address), \(incident.area.rawValue), Frankfurt am Main"
            var area = CAPArea(areaDesc: place)
            // The reported position, else the Stadtteil's centre with a wider circle.
            if let p = incident.position ?? centre {
                area.circles = [CAPCircle(center: CAPPoint(latitude: Double(p.latE6) / 1e6, longitude: Double(p.lonE6) / 1e6),
                                          radius: incident.position == nil ? 1.5 : 0.5)]
            }
            let headline = "\(incident.keyword) \(event ?? "") – \(incident.address), \(incident.area.rawValue)"
            alert.infos = [CAPInfo(language: "de-DE", categories: [category(keyword: incident.keyword)], event: event ?? incident.keyword,
                                   urgency: .immediate, severity: severity, certainty: .observed,
                                   eventCodes: [CAPNamedValue(valueName: "florian:stichwort", value: incident.keyword)],
                                   senderName: senderName, headline: String(headline.prefix(160)), description: description,
                                   instruction: instruction, areas: [area])]
        }
        // The writer's own check: nothing invalid leaves the console.
        if case .invalid(let reason) = CAP.validate(Array(alert.xml().utf8)) { throw CAPError(reason) }
        return alert
    }

    /// A CAP date-time in Frankfurt's zone (CET/CEST), to the second.
    static func dateTime(millis: UInt64) throws(CAPError) -> CAPDateTime {
        let date = Date(timeIntervalSince1970: Double(millis / 1000))
        let zone = TimeZone(identifier: "Europe/Berlin") ?? TimeZone(secondsFromGMT: 0)!
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return try CAPDateTime(year: c.year!, month: c.month!, day: c.day!, hour: c.hour!, minute: c.minute!, second: c.second!,
                               offsetMinutes: zone.secondsFromGMT(for: date) / 60)
    }
}
