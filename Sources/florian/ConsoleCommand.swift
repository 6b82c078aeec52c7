import Alarming
import Client
import Console
import Foundation
import Secure
import Synchronization

extension CommandLine {
    /// `florian console [--cluster FILE] [-c CMD]… [--json] [--yes] [--lang de|en] [--plain]`:
    /// the dispatcher's console. Commands from `-c`, else one a line from stdin; exit status 1
    /// when any command failed. Interactive (a terminal on stdin) it prompts and asks before alarming.
    static func console(_ raw: [String]) throws -> Int32 {
        var commands: [String] = []
        var rest: [String] = []
        var k = 0
        while k < raw.count {
            if raw[k] == "-c" {
                guard k + 1 < raw.count else { throw UsageError("-c needs a command") }
                commands.append(raw[k + 1])
                k += 2
            } else {
                rest.append(raw[k])
                k += 1
            }
        }
        var args = try Arguments(rest, booleans: ["json", "yes", "plain"])
        let json = args.flag("json"), yes = args.flag("yes")
        let plain = args.flag("plain")
        let langName = args.string("lang") ?? "de"
        guard let language = Language(rawValue: langName) else { throw UsageError("--lang de or en") }
        let path = args.string("cluster") ?? ProcessInfo.processInfo.environment["FLORIAN_CLUSTER"] ?? "cluster.json"
        try args.finish()
        let file = try ClusterFile.load(path)
        let client = try file.client(role: "operator")
        defer { client.closeAndWait() }
        let engine = ConsoleEngine(client: client)
        let interactive = commands.isEmpty && isatty(0) == 1
        if interactive && !json {
            // Ctrl-C (or a SIGTERM/SIGHUP) ends the console with the terminal restored.
            let stop = Mutex(false)
            let sources = onTermination({ stop.withLock { $0 = true } }, also: [SIGHUP])
            defer { withExtendedLifetime(sources) {} }
            return try Self.interactiveConsole(client: client, engine: engine, language: language, plain: plain, yes: yes,
                                               stopped: { stop.withLock { $0 } })
        }
        let confirm: ((String) -> Bool)? = yes ? { _ in true } : interactive ? { question in
            FileHandle.standardOutput.write(Data(question.utf8))
            let answer = (readLine() ?? "").trimmingCharacters(in: .whitespaces).lowercased()
            return ["j", "ja", "y", "yes"].contains(answer)
        } : nil
        var failed = false
        func run(_ line: String) {
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty, !line.hasPrefix("#") else { return }
            let outcome = engine.run(line, confirm: confirm, language: language)
            if !outcome.ok { failed = true }
            if json {
                say(outcome.json)
            } else {
                let text = outcome.messages.map { language.text($0) }.joined(separator: "\n")
                if outcome.ok { say(text) } else { FileHandle.standardError.write(Data((text + "\n").utf8)) }
            }
        }
        if !commands.isEmpty {
            for c in commands { run(c) }
        } else {
            if interactive { FileHandle.standardOutput.write(Data("florian> ".utf8)) }
            while let line = readLine() {
                run(line)
                if interactive { FileHandle.standardOutput.write(Data("florian> ".utf8)) }
            }
        }
        return failed ? 1 : 0
    }

    /// Follows `helpers/events` from its end; the topic appears with the first request, so until
    /// then this looks for it every 2 s.
    static func followHelperEvents(_ client: FlorianClient, _ onMessage: @escaping @Sendable (BusMessage) -> Void) {
        Thread {
            // A topic that appears while the console runs is read from its start.
            var missing = false
            while true {
                do {
                    let end = try client.read(topic: "helpers/events", from: 0, limit: 1, linearizable: true).endOffset
                    _ = client.subscribe(topic: "helpers/events", from: missing ? 0 : end) { event in if case .message(let m) = event { onMessage(m) } }
                    return
                } catch let f as RequestFailure where f.code == .notFound {
                    missing = true
                    Thread.sleep(forTimeInterval: 1)
                } catch {
                    Thread.sleep(forTimeInterval: 2)
                }
            }
        }.start()
    }

    /// The interactive console: the live feed above the prompt (or, `--plain`, one event a line
    /// with its time and no cursor movement), line editing, history and completion.
    /// Ends when input ends or `stopped()` turns true; `notices` (the demo's own news, such as a
    /// node restarted) are shown like events.
    static func interactiveConsole(client: FlorianClient, engine: ConsoleEngine, language: Language, plain: Bool, yes: Bool,
                                   notices: Mailbox<String>? = nil, stopped: @escaping @Sendable () -> Bool) throws -> Int32 {
        let feed = Mailbox<AlarmEvent>()
        let from = (try? client.read(topic: AlarmTopic.events, from: 0, limit: 1, linearizable: true).endOffset) ?? 0
        client.subscribe(topic: AlarmTopic.events, from: from) { event in
            if case .message(let m) = event, let e = try? JSONDecoder().decode(AlarmEvent.self, from: Data(m.payload)) { feed.post(e) }
        }
        @Sendable func render(_ e: AlarmEvent) -> String {
            var subject: [String] = []
            if let o = e.order { subject.append(o.rawValue) } else if let i = e.incident { subject.append(i.rawValue) }
            if let t = e.target { subject.append(t.description + (e.round.map { $0 > 1 ? " (\($0))" : "" } ?? "")) }
            if let u = e.unit { subject.append(u.rawValue) }
            if let s = e.station { subject.append("line:\(s)") }
            if let n = e.network, e.target == nil, e.station == nil { subject.append(n.rawValue) }
            if let h = e.holder { subject.append(h) }
            if let st = e.status { subject.append("\(st)") }
            if let l = e.latencyMillis { subject.append("+\(l) ms") }
            if let r = e.replacement { subject.append("→ \(r)") }
            let line = language.text(.event(time: AlarmSession.time(e.at), name: e.event, subject: subject.joined(separator: " "), detail: e.detail))
            return !plain && Language.isAlert(e.event) ? "\u{1B}[1;31m" + line + "\u{1B}[0m" : line
        }
        // The helper network's progress (counts only, never a person) joins the feed.
        let helperFeed = Mailbox<String>()
        followHelperEvents(client) { m in
            guard let o = try? JSONSerialization.jsonObject(with: Data(m.payload)) as? [String: Any], let r = o["request"] as? String,
                  let event = o["event"] as? String else { return }
            let subject = "\(r) \(o["filled"] as? Int ?? 0)/\(o["count"] as? Int ?? 0)"
            helperFeed.post(language.text(.event(time: AlarmSession.time(m.timestamp), name: "helpers." + event.replacingOccurrences(of: " ", with: "-"),
                                                  subject: subject, detail: (o["asked"] as? Int).map { "\($0) asked" })))
        }
        say(language.text(.helpOverview).split(separator: "\n").first.map(String.init) ?? "")
        if plain {
            let stop = Mutex(false)
            Thread {
                while !stop.withLock({ $0 }) {
                    for e in feed.takeAll(until: .now() + 0.2) { say(render(e)) }
                    for h in helperFeed.takeNow() { say(h) }
                    for n in notices?.takeNow() ?? [] { say(n) }
                }
            }.start()
            defer { stop.withLock { $0 = true } }
            // Lines are read on their own thread, so a signal ends the console even while it waits.
            let lines = Mailbox<String?>()
            Thread {
                while let line = readLine() { lines.post(line) }
                lines.post(nil)
            }.start()
            var buffered: [String?] = []
            /// The next line (.some(nil) at the end of input), or nil when stopped.
            func next() -> String?? {
                while buffered.isEmpty {
                    if stopped() { return nil }
                    buffered = lines.takeAll(until: .now() + 0.2)
                }
                return .some(buffered.removeFirst())
            }
            let confirm: (String) -> Bool = { q in
                say(q)
                guard case .some(let answer?) = next() else { return false }
                return ["j", "ja", "y", "yes"].contains(answer.trimmingCharacters(in: .whitespaces).lowercased())
            }
            while case .some(let l) = next(), let line = l {
                guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
                let o = engine.run(line, confirm: yes ? { _ in true } : confirm, language: language)
                for m in o.messages { say(language.text(m)) }
            }
            return 0
        }
        let editor = LineEditor(prompt: "florian> ")
        defer { editor.close() }
        var vocabulary: (keywords: [String], areas: [String], units: [String]) = ([], [], [])
        if let bytes = try? client.query(namespace: "alarm", name: "registry", payload: Array("{}".utf8)),
           let r = try? JSONDecoder().decode(Registry.self, from: Data(bytes)) {
            vocabulary = (Array(Set(r.aao.map(\.keyword))).sorted(), r.areas.map(\.id.rawValue), r.units.map(\.id.rawValue))
        }
        editor.complete = { words, _ in
            guard let first = words.first else { return ConsoleCommand.Verb.allCases.map { language.word($0) } }
            let verb = ConsoleCommand.Verb.named(first)
            // Incident numbers: every one for show and audit, else the open ones.
            let incidents = ((try? client.query(namespace: "alarm", name: "incidents", payload: Array("{}".utf8), linearizable: false))
                .flatMap { try? JSONDecoder().decode([Incident].self, from: Data($0)) } ?? [])
                .filter { verb == .show || verb == .audit || $0.closedAt == nil }.map(\.id.rawValue)
            switch verb {
            case .incident?, .test?: return words.count == 1 ? vocabulary.keywords : words.count == 2 ? vocabulary.areas : []
            case .status?, .ack?, .realarm?: return words.count == 1 && first.lowercased() != "status" ? incidents : vocabulary.units
            case .help?: return ConsoleCommand.Verb.allCases.map { language.word($0) }
            case .sitrep?: return words.count == 1 ? incidents : []
            case .cap?:
                return words.count == 1 ? incidents : words.count == 2
                    ? (language == .de ? ["extrem", "schwer", "mittel", "gering", "unbekannt", "aufheben"]
                                       : ["extreme", "severe", "moderate", "minor", "unknown", "cancel"]) : []
            default: return words.count == 1 ? incidents : vocabulary.units
            }
        }
        var answer: String?
        func drain() {
            for e in feed.takeNow() { editor.printAbove(render(e)) }
            for h in helperFeed.takeNow() { editor.printAbove(h) }
            for n in notices?.takeNow() ?? [] { editor.printAbove(n) }
        }
        while !stopped() {
            drain()
            guard let input = editor.poll(timeoutMillis: 100) else { continue }
            guard case .line(let line) = input else { return 0 }
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            let outcome = engine.run(line, confirm: yes ? { _ in true } : { question in
                // Asks in the prompt line; the feed keeps coming above it.
                editor.prompt = question
                defer { editor.prompt = "florian> " }
                editor.printAbove("")
                answer = nil
                while answer == nil {
                    drain()
                    if stopped() { return false }
                    switch editor.poll(timeoutMillis: 100) {
                    case .line(let a)?: answer = a
                    case .endOfInput?: answer = ""
                    case nil: break
                    }
                }
                return ["j", "ja", "y", "yes"].contains(answer!.trimmingCharacters(in: .whitespaces).lowercased())
            }, language: language)
            editor.printAbove(outcome.messages.map { language.text($0) }.joined(separator: "\n"))
        }
        return 0
    }
}
