import Alarming
import Partners

/// What a dispatcher can type: one command a line, its word in English or German
/// (`alarm`/`alarmieren`), then its arguments — words, or text in double quotes.
public enum ConsoleCommand: Equatable, Sendable {
    case help(topic: Verb?)
    /// Opens an incident: keyword, Stadtteil (or `@LAT,LON`), address, remarks.
    case incident(keyword: String, place: Place, address: String, remarks: String?, test: Bool)
    case propose(incident: String)
    /// Alarms the AAO proposal, or the units named.
    case alarm(incident: String, units: [String])
    /// Confirms the proposed Nachalarmierung for a unit that did not acknowledge (or names another unit).
    case reAlarm(order: String, unit: String, replacement: String?)
    case acknowledge(order: String, unit: String)
    case unitStatus(unit: String, code: Int)
    case close(incident: String)
    case show(id: String)
    case incidents, units, lines, health
    case audit(incident: String)
    /// Sends the partner organisations a CAP 1.2 alert about the incident (or cancels it).
    case cap(incident: String, kind: IncidentAlert.Kind)
    /// Publishes a situation report about the incident to the partners.
    case situation(incident: String, text: String)
    /// The helper network: requests for volunteers, what became of them, check-in and check-out.
    case helpers(HelperAction)

    public enum HelperAction: Equatable, Sendable {
        /// Asks for COUNT volunteers with SKILL at the incident's place for MINUTES (default 240).
        case request(incident: String, skill: String, count: Int, minutes: Int, briefing: String, safetyNotes: String)
        /// One request (the names of accepted helpers only on your own), or every request.
        case show(request: String?)
        case cancel(request: String)
        case checkIn(request: String, volunteer: String)
        case checkOut(request: String, volunteer: String)

        /// Each action's English and German words.
        static let words: [(String, [String])] = [
            ("request", ["request", "anfordern"]), ("show", ["show", "zeige", "zeigen"]), ("cancel", ["cancel", "abbrechen"]),
            ("checkin", ["checkin", "ankunft"]), ("checkout", ["checkout", "abmeldung"]),
        ]
        static func named(_ word: String) -> String? { words.first { $0.1.contains(word.lowercased()) }?.0 }
    }

    public enum Place: Equatable, Sendable {
        case area(String)
        case position(String)
    }

    /// The commands, each with its English and German word.
    public enum Verb: String, CaseIterable, Sendable {
        case help, incident, test, propose, alarm, realarm, ack, status, close, show, incidents, units, lines, health, audit, cap, sitrep, helpers

        public var german: String {
            switch self {
            case .help: "hilfe"
            case .incident: "einsatz"
            case .test: "probealarm"
            case .propose: "vorschlag"
            case .alarm: "alarmieren"
            case .realarm: "nachalarmieren"
            case .ack: "quittieren"
            case .status: "status"
            case .close: "abschliessen"
            case .show: "zeige"
            case .incidents: "einsaetze"
            case .units: "fahrzeuge"
            case .lines: "leitungen"
            case .health: "zustand"
            case .audit: "protokoll"
            case .cap: "warnung"
            case .sitrep: "lage"
            case .helpers: "helfer"
            }
        }

        /// Every word that names this command (German also with umlauts where the word has one).
        public var words: [String] {
            var w = [rawValue, german]
            if self == .incidents { w.append("einsätze") }
            if self == .close { w.append("abschließen") }
            return w
        }

        /// Changes the world (alarms someone, tells the partners): asks for confirmation unless `--yes`.
        public var needsConfirmation: Bool { self == .alarm || self == .test || self == .realarm || self == .cap || self == .sitrep }

        public static func named(_ word: String) -> Verb? {
            let w = word.lowercased()
            return allCases.first { $0.words.contains(w) }
        }
    }

    public var verb: Verb {
        switch self {
        case .help: .help
        case .incident(_, _, _, _, let test): test ? .test : .incident
        case .propose: .propose
        case .alarm: .alarm
        case .reAlarm: .realarm
        case .acknowledge: .ack
        case .unitStatus: .status
        case .close: .close
        case .show: .show
        case .incidents: .incidents
        case .units: .units
        case .lines: .lines
        case .health: .health
        case .audit: .audit
        case .cap: .cap
        case .situation: .sitrep
        case .helpers: .helpers
        }
    }
}

/// Why a line is not a command; rendered in the dispatcher's language by the catalogue.
public enum ConsoleInputError: Error, Equatable, Sendable {
    case empty
    case unknownCommand(String, nearest: String?)
    case missing(ConsoleCommand.Verb, what: String)
    case unexpected(ConsoleCommand.Verb, word: String)
    case badNumber(String)
    case badSeverity(String)
    case badCount(String)
    case unknownAction(String)
    case unclosedQuote
}

extension ConsoleCommand {
    /// Splits a line into words; text in double quotes is one word (`\"` inside is a quote).
    public static func words(_ line: String) throws(ConsoleInputError) -> [String] {
        var words: [String] = [], current = "", quoted = false, inWord = false
        var chars = Array(line)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\\", chars.first == "\"" { current.append(chars.removeFirst()); continue }
                if c == "\"" { quoted = false; continue }
                current.append(c)
            } else if c == "\"" {
                quoted = true
                inWord = true
            } else if c == " " || c == "\t" {
                if inWord { words.append(current); current = ""; inWord = false }
            } else {
                current.append(c)
                inWord = true
            }
        }
        if quoted { throw .unclosedQuote }
        if inWord { words.append(current) }
        return words
    }

    /// Parses one line.
    public static func parse(_ line: String) throws(ConsoleInputError) -> ConsoleCommand {
        let w = try words(line)
        guard let first = w.first else { throw .empty }
        guard let verb = Verb.named(first) else {
            let all = Verb.allCases.flatMap(\.words)
            throw .unknownCommand(first, nearest: all.min { distance(first.lowercased(), $0) < distance(first.lowercased(), $1) }
                                    .flatMap { distance(first.lowercased(), $0) <= 3 ? $0 : nil })
        }
        let args = Array(w.dropFirst())
        func need(_ n: Int, _ what: String) throws(ConsoleInputError) {
            if args.count < n { throw .missing(verb, what: what) }
        }
        func atMost(_ n: Int) throws(ConsoleInputError) {
            if args.count > n { throw .unexpected(verb, word: args[n]) }
        }
        switch verb {
        case .help:
            try atMost(1)
            guard let topic = args.first else { return .help(topic: nil) }
            guard let v = Verb.named(topic) else { throw .unknownCommand(topic, nearest: nil) }
            return .help(topic: v)
        case .incident, .test:
            try need(3, "keyword place address")
            try atMost(4)
            let place: Place = args[1].hasPrefix("@") ? .position(String(args[1].dropFirst())) : .area(args[1])
            return .incident(keyword: args[0].uppercased(), place: place, address: args[2], remarks: args.count > 3 ? args[3] : nil, test: verb == .test)
        case .propose:
            try need(1, "incident"); try atMost(1)
            return .propose(incident: args[0])
        case .alarm:
            try need(1, "incident")
            return .alarm(incident: args[0], units: Array(args.dropFirst()))
        case .realarm:
            try need(2, "order unit"); try atMost(3)
            return .reAlarm(order: args[0], unit: args[1], replacement: args.count > 2 ? args[2] : nil)
        case .ack:
            try need(2, "order unit"); try atMost(2)
            return .acknowledge(order: args[0], unit: args[1])
        case .status:
            try need(2, "unit code"); try atMost(2)
            guard let code = Int(args[1]), (1...9).contains(code) else { throw .badNumber(args[1]) }
            return .unitStatus(unit: args[0], code: code)
        case .close:
            try need(1, "incident"); try atMost(1)
            return .close(incident: args[0])
        case .show:
            try need(1, "incident or order"); try atMost(1)
            return .show(id: args[0])
        case .incidents: try atMost(0); return .incidents
        case .units: try atMost(0); return .units
        case .lines: try atMost(0); return .lines
        case .health: try atMost(0); return .health
        case .audit:
            try need(1, "incident"); try atMost(1)
            return .audit(incident: args[0])
        case .cap:
            try need(2, "incident severity text")
            if IncidentAlert.cancelWords.contains(args[1].lowercased()) {
                try atMost(3)
                return .cap(incident: args[0], kind: .cancel(reason: args.count > 2 ? args[2] : nil))
            }
            guard let severity = IncidentAlert.severity(named: args[1]) else { throw .badSeverity(args[1]) }
            try need(3, "incident severity text")
            try atMost(4)
            return .cap(incident: args[0], kind: .alert(severity: severity, description: args[2], instruction: args.count > 3 ? args[3] : nil))
        case .sitrep:
            try need(2, "incident text"); try atMost(2)
            return .situation(incident: args[0], text: args[1])
        case .helpers:
            try need(1, "action")
            guard let action = HelperAction.named(args[0]) else { throw .unknownAction(args[0]) }
            let rest = Array(args.dropFirst())
            func count(_ s: String, _ range: ClosedRange<Int>) throws(ConsoleInputError) -> Int {
                guard let n = Int(s), range.contains(n) else { throw .badCount(s) }
                return n
            }
            switch action {
            case "request":
                guard rest.count >= 3 else { throw .missing(verb, what: "incident skill count") }
                if rest.count > 6 { throw .unexpected(verb, word: rest[6]) }
                return .helpers(.request(incident: rest[0], skill: rest[1].lowercased(), count: try count(rest[2], 1...1000),
                                         minutes: rest.count > 3 ? try count(rest[3], 10...1440) : 240,
                                         briefing: rest.count > 4 ? rest[4] : "", safetyNotes: rest.count > 5 ? rest[5] : ""))
            case "show":
                if rest.count > 1 { throw .unexpected(verb, word: rest[1]) }
                return .helpers(.show(request: rest.first))
            case "cancel":
                guard rest.count >= 1 else { throw .missing(verb, what: "request") }
                if rest.count > 1 { throw .unexpected(verb, word: rest[1]) }
                return .helpers(.cancel(request: rest[0]))
            default:
                guard rest.count >= 2 else { throw .missing(verb, what: "request volunteer") }
                if rest.count > 2 { throw .unexpected(verb, word: rest[2]) }
                return .helpers(action == "checkin" ? .checkIn(request: rest[0], volunteer: rest[1]) : .checkOut(request: rest[0], volunteer: rest[1]))
            }
        }
    }

    static func distance(_ a: String, _ b: String) -> Int { AlarmState.editDistance(a, b) }
}
