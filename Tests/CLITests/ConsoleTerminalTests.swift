import Foundation
import XCTest

/// The interactive console in a real terminal (a tmux pane on its own tmux server): what the
/// screen shows while a dispatcher works — completion, confirmation in the prompt line, the
/// deliveries and acks arriving in the live feed, a line fault appearing above a half-typed
/// command without disturbing it, German and English, and `--plain` (no escape sequence at all,
/// one event a line with its time). Through the release binary against one `florian demo`.
final class ConsoleTerminalTests: XCTestCase {
    nonisolated(unsafe) static var demo: SharedDemo?
    /// A tmux server per test (a new server on the socket of one just killed can lose the race).
    let socket = "florian-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

    static let tmuxPath = "/usr/bin/tmux"

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.tmuxPath) else { throw XCTSkip("tmux is not installed") }
        guard FileManager.default.isExecutableFile(atPath: SimulateCommandTests.binary.path) else { throw XCTSkip("no release binary") }
        if Self.demo == nil { Self.demo = try SharedDemo.start("console-tty", in: self) }
    }

    override class func tearDown() {
        demo?.stop()
        demo = nil
        super.tearDown()
    }

    override func tearDown() {
        _ = try? tmux(["kill-server"])
        super.tearDown()
    }

    var clusterFile: String { Self.demo!.dir.appendingPathComponent("cluster.json").path }

    /// Runs tmux to its exit, spawned and reaped here (posix_spawn, waitpid): the tmux server
    /// that `new-session` forks keeps whatever it inherits, so Foundation's Process would wait for
    /// it. Output goes through a file.
    @discardableResult
    func tmux(_ args: [String]) throws -> String {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("florian-tmux-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: out) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, out.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([Self.tmuxPath, "-L", socket] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, Self.tmuxPath, &actions, nil, argv, environ) == 0 else { throw XCTSkip("cannot start tmux") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return String(decoding: (try? Data(contentsOf: out)) ?? Data(), as: UTF8.self)
    }

    /// Opens a 160×50 pane running the console; `record` keeps every byte it writes.
    func open(_ name: String, _ extra: [String] = [], record: URL? = nil) throws {
        let command = ([SimulateCommandTests.binary.path, "console", "--cluster", clusterFile] + extra).joined(separator: " ")
        try tmux(["new-session", "-d", "-s", name, "-x", "160", "-y", "50", command])
        if let record { try tmux(["pipe-pane", "-o", "-t", name, "cat >> \(record.path)"]) }
        // The first line of the help overview is printed once the console is connected.
        _ = try screen(name, until: extra.contains("en") ? "Commands" : "Befehle")
    }

    func type(_ name: String, _ text: String, enter: Bool = true) throws {
        try tmux(["send-keys", "-t", name, "-l", text])
        if enter { try tmux(["send-keys", "-t", name, "Enter"]) }
    }

    /// The screen, polled until `text` shows (or `seconds` pass); `escapes` keeps colours.
    func screen(_ name: String, until text: String, seconds: Double = 20, escapes: Bool = false) throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var s = ""
        while Date() < deadline {
            s = try tmux(["capture-pane", "-t", name, "-p", "-J", "-S", "-1000"] + (escapes ? ["-e"] : []))
            if s.contains(text) { return s }
            Thread.sleep(forTimeInterval: 0.2)
        }
        XCTFail("the screen never showed \"\(text)\":\n\(s)")
        return s
    }

    /// The incident number in "… E-000123 …" after `marker`.
    func incident(after marker: String, in s: String) throws -> String {
        let tail = try XCTUnwrap(s.range(of: marker).map { String(s[$0.upperBound...]) }, s)
        let r = try XCTUnwrap(tail.range(of: #"E-\d{6}"#, options: .regularExpression), s)
        return String(tail[r])
    }

    func testGermanAlarmWithCompletionConfirmationAndAcks() throws {
        try open("de")
        // Stadtteil completed with Tab ("Höch" is unique: Höchst).
        try type("de", "einsatz F1 Höch", enter: false)
        try tmux(["send-keys", "-t", "de", "Tab"])
        _ = try screen("de", until: "florian> einsatz F1 Höchst ")
        try type("de", "\"Bolongarostraße 1\"")
        var s = try screen("de", until: "AAO-Vorschlag für")
        let id = try incident(after: "AAO-Vorschlag für", in: s)
        XCTAssertTrue(s.contains("Einsatz \(id) eröffnet: F1 in Höchst"), s)
        let unit = try XCTUnwrap(s.range(of: #"(?m)^  \S+(?=  HLF  Wache FRW\d+$)"#, options: .regularExpression).map { s[$0].trimmingCharacters(in: .whitespaces) }, s)
        // Incident numbers complete too (the open ones: this test's is the only one).
        try type("de", "alarmieren E", enter: false)
        try tmux(["send-keys", "-t", "de", "Tab"])
        _ = try screen("de", until: "florian> alarmieren \(id) ")
        try tmux(["send-keys", "-t", "de", "Enter"])
        // The question stands in the prompt line; nothing is alarmed before the answer.
        s = try screen("de", until: "wirklich? (j/n)")
        XCTAssertFalse(s.contains("Auftrag \(id)/1 alarmiert"), s)
        try type("de", "j")
        s = try screen("de", until: "zugestellt  \(id)/1 line:FRW")
        XCTAssertTrue(s.contains("Auftrag \(id)/1 alarmiert: \(unit)"), s)
        // The crew answers by radio: the dispatcher acknowledges on its behalf; the feed shows it.
        try type("de", "quittieren \(id)/1 \(unit)")
        s = try screen("de", until: "Rückmeldung  \(id)/1 \(unit)")
        XCTAssertTrue(s.contains("Quittiert: \(unit) in \(id)/1"), s)
        // An unknown Stadtteil names the nearest one, in German.
        try type("de", "einsatz F1 Hochst \"X\"")
        s = try screen("de", until: "meinten Sie Höchst?")
        XCTAssertTrue(s.contains("Abgelehnt: unbekannt: Stadtteil Hochst"), s)
        try type("de", "abschliessen \(id)")
        _ = try screen("de", until: "Einsatz \(id) abgeschlossen.")
    }

    func testALineFaultAppearsAboveAHalfTypedCommand() throws {
        try open("fault")
        try type("fault", "einsatz TH1 Bocken", enter: false)
        _ = try screen("fault", until: "florian> einsatz TH1 Bocken")
        kill(try stationSimulator("FRW3", clusterFile: clusterFile), SIGKILL)
        // Red *and* in capitals (colour is never the only sign); the typed text stays in the prompt.
        let s = try screen("fault", until: "LEITUNG GESTÖRT", seconds: 25, escapes: true)
        let lines = s.split(separator: "\n").map(String.init)
        let visible = lines.map { $0.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression) }
        let alert = try XCTUnwrap(lines.first { $0.contains("LEITUNG GESTÖRT") }, s)
        XCTAssertTrue(alert.contains("\u{1B}[1;31m") || alert.contains("\u{1B}[31m"), alert)
        XCTAssertNotNil(alert.range(of: #"line:FRW3 — seit \d+ s still"#, options: .regularExpression), alert)
        XCTAssertEqual(visible.last { !$0.trimmingCharacters(in: .whitespaces).isEmpty }, "florian> einsatz TH1 Bocken", s)
        // Finishing the line works as if nothing had come in between.
        try type("fault", "heim \"Leipziger Straße 1\"")
        let after = try screen("fault", until: "AAO-Vorschlag für")
        XCTAssertTrue(after.contains("eröffnet: TH1 in Bockenheim"), after)
        try type("fault", "abschliessen \(try incident(after: "AAO-Vorschlag für", in: after))")
        _ = try screen("fault", until: "abgeschlossen.")
    }

    func testEnglish() throws {
        try open("en", ["--lang", "en"])
        try type("en", "incident F1 Bornheim \"Berger Straße 1\"")
        var s = try screen("en", until: "AAO proposal for")
        let id = try incident(after: "AAO proposal for", in: s)
        XCTAssertTrue(s.contains("Incident \(id) opened: F1 in Bornheim"), s)
        try type("en", "alarm \(id)")
        s = try screen("en", until: "really? (y/n)")
        try type("en", "y")
        s = try screen("en", until: "delivered  \(id)/1 ")
        XCTAssertTrue(s.contains("Order \(id)/1 alarmed"), s)
        try type("en", "help ack")
        s = try screen("en", until: "ack ORDER UNIT —")
        try type("en", "alrm \(id)")
        _ = try screen("en", until: "Unknown command \"alrm\" — did you mean \"alarm\"?")
        try type("en", "close \(id)")
        _ = try screen("en", until: "Incident \(id) closed.")
    }

    func testPlainHasNoEscapesAndOneTimedEventALine() throws {
        let record = FileManager.default.temporaryDirectory.appendingPathComponent("florian-plain-\(getpid()).bytes")
        try? FileManager.default.removeItem(at: record)
        defer { try? FileManager.default.removeItem(at: record) }
        try open("plain", ["--plain"], record: record)
        try type("plain", "einsatz F1 Sossenheim \"Alt Sossenheim 1\"")
        var s = try screen("plain", until: "AAO-Vorschlag für")
        let id = try incident(after: "AAO-Vorschlag für", in: s)
        try type("plain", "alarmieren \(id)")
        _ = try screen("plain", until: "wirklich? (j/n)")
        try type("plain", "j")
        s = try screen("plain", until: "zugestellt  \(id)/1 line:")
        let line = try XCTUnwrap(s.split(separator: "\n").first { $0.contains("zugestellt  \(id)/1") }, s)
        XCTAssertNotNil(line.range(of: #"^\d\d:\d\d:\d\d\.\d{3}  zugestellt  E-\d{6}/1 line:FRW\d+ \+\d+ ms$"#, options: .regularExpression), String(line))
        try type("plain", "abschliessen \(id)")
        _ = try screen("plain", until: "Einsatz \(id) abgeschlossen.")
        Thread.sleep(forTimeInterval: 0.5)
        let bytes = try Data(contentsOf: record)
        XCTAssertFalse(bytes.isEmpty)
        XCTAssertFalse(bytes.contains(0x1B), "escape sequences in --plain output: \(String(decoding: bytes, as: UTF8.self).debugDescription)")
        XCTAssertFalse(bytes.contains(0x08), "backspaces in --plain output")
    }

    /// `florian demo` on a terminal opens the console on its cluster: an F3 raised there is
    /// delivered to the stations; Ctrl-C ends the demo and every process it started.
    func testTheDemoOpensTheConsoleAndCtrlCEndsEverything() throws {
        let dir = tempDir("demo-tty")
        let script = "trap : INT; \(SimulateCommandTests.binary.path) demo --dir \(dir.path); echo \"demo exit $?\"; sleep 60"
        try tmux(["new-session", "-d", "-s", "demo", "-x", "200", "-y", "60", "sh", "-c", script])
        var s = try screen("demo", until: "florian> ", seconds: 90)
        XCTAssertTrue(s.contains("ready"), s)
        try type("demo", "einsatz F3 Sachsenhausen-Nord \"Schweizer Straße 12\"")
        s = try screen("demo", until: "AAO-Vorschlag für E-000001")
        try type("demo", "alarmieren E-000001")
        _ = try screen("demo", until: "wirklich? (j/n)")
        try type("demo", "j")
        s = try screen("demo", until: "zugestellt  E-000001/1 line:FRW")
        // Every station line of the order confirms.
        let lines = try XCTUnwrap(s.range(of: "Auftrag E-000001/1 alarmiert").map { _ in s }, s)
        let issued = Set(lines.split(separator: "\n").compactMap { l -> String? in
            guard l.contains("Alarm ausgegeben  E-000001/1 line:") else { return nil }
            return l.components(separatedBy: "line:").last
        })
        XCTAssertFalse(issued.isEmpty, s)
        for station in issued { _ = try screen("demo", until: "zugestellt  E-000001/1 line:\(station) ") }
        // The demo's own processes (not the shell around it): florian demo, node, gateway, station-sim.
        let mine = ["-f", "^[^ ]*/florian .*\(dir.path)"]
        let pids = try run(URL(fileURLWithPath: "/usr/bin/pgrep"), mine, limit: 10).stdout.split(separator: "\n")
        XCTAssertGreaterThan(pids.count, 10, "the demo's processes: nodes, gateways, station simulators")
        try tmux(["send-keys", "-t", "demo", "C-c"])
        s = try screen("demo", until: "demo exit 0", seconds: 30)
        XCTAssertTrue(s.contains("demo: stopped"), s)
        let left = try run(URL(fileURLWithPath: "/usr/bin/pgrep"), ["-a"] + mine, limit: 10).stdout
        XCTAssertEqual(left, "", "processes left after Ctrl-C")
    }
}
