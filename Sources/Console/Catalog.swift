/// Everything the console says, as values; each language renders them in its own catalogue
/// (`GermanCatalog`, `EnglishCatalog`), so a text exists in both or the build fails.
public enum Message: Equatable, Sendable {
    case helpOverview
    case help(ConsoleCommand.Verb)
    case input(ConsoleInputError)
    case needsConfirmation(ConsoleCommand.Verb)
    case confirm(String)
    case cancelled(ConsoleCommand.Verb)
    case refused(String)
    case unavailable(String)
    case incidentOpened(id: String, keyword: String, area: String, test: Bool)
    case proposalHeader(incident: String, keyword: String, area: String)
    case proposedUnit(unit: String, type: String, station: String)
    case missingUnits(type: String, count: Int)
    case nothingAvailable(incident: String)
    case alarmSummary(incident: String, units: [String])
    /// What a CAP alert about to be sent is: its message type (Alert/Update/Cancel) and severity.
    case capSummary(incident: String, msgType: String, severity: String?)
    case capSent(incident: String, identifier: String, msgType: String, topic: String, sessions: Int)
    case situationSummary(incident: String, units: Int)
    case situationSent(incident: String, topic: String, sessions: Int)
    case orderCreated(order: String, units: [String])
    case acknowledged(order: String, unit: String)
    case statusSet(unit: String, code: Int)
    case closed(incident: String)
    case reAlarmed(order: String)
    case unitLine(unit: String, type: String, station: String, code: Int, incident: String?)
    case lineState(station: String, name: String, state: String, reason: String?)
    case incidentLine(id: String, keyword: String, area: String, address: String, open: Bool, test: Bool)
    case health(node: UInt64, role: String, leader: UInt64, term: UInt64, commit: UInt64, members: [(String, String)])
    case auditLine(time: String, who: String, what: String)
    case helperSummary(incident: String, skill: String, count: Int, area: String)
    case helperRequested(request: String, skill: String, count: Int, area: String)
    /// A request's line: status, filled of count, asks so far, wave.
    case helperRequestLine(request: String, status: String, skill: String, filled: Int, count: Int, area: String, asks: Int, by: String)
    /// An accepted helper on your own request: pseudonym, name, on site since / minutes.
    case helperLine(volunteer: String, name: String?, checkedIn: Bool, checkedOut: Bool, minutes: Int?)
    case helperBriefing(briefing: String, safetyNotes: String)
    case helperCancelled(request: String)
    case helperCheckedIn(request: String, volunteer: String)
    case helperCheckedOut(request: String, volunteer: String)
    /// One line of the live feed: the event's name (e.g. `target.delivered`), what it concerns.
    case event(time: String, name: String, subject: String, detail: String?)

    public static func == (a: Message, b: Message) -> Bool { "\(a)" == "\(b)" }
}

/// The console's languages: German (default) and English.
public enum Language: String, Sendable, CaseIterable {
    case de, en

    public func text(_ m: Message) -> String {
        switch self {
        case .de: GermanCatalog.text(m)
        case .en: EnglishCatalog.text(m)
        }
    }

    /// Events that need the dispatcher's attention (shown highlighted, and named in capitals so
    /// that colour is never the only sign).
    public static func isAlert(_ event: String) -> Bool {
        ["target.failed", "fallback.none", "unit.re-alerted", "escalation.proposed", "line.faulted", "gateway.lost", "gateway.sink.faulted"].contains(event)
    }

    /// The command word as dispatchers of this language type it.
    public func word(_ v: ConsoleCommand.Verb) -> String { self == .de ? v.german : v.rawValue }
}
