import Foundation
import Secure
import Wire
import XCTest

/// The alarm dispatcher as an operator runs it: `florian demo` (3 nodes, the sample registry, two
/// gateways per network, a station simulator per lined station, a paging sink), `florian alarm`,
/// `florian station-sim`; pages checked with multimon-ng. All through the release binary.
final class AlarmNetworkTests: XCTestCase {
    var demo: Process?
    var dir: URL!
    var cluster: [String: Any] = [:]

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: SimulateCommandTests.binary.path) else {
            throw NSError(domain: "florian", code: 1, userInfo: [NSLocalizedDescriptionKey: "run `swift build -c release` before `swift test`"])
        }
        dir = tempDir("alarm")
        let (p, json) = try startDemo(dir, [])
        demo = p
        cluster = json
    }

    override func tearDown() {
        if let p = demo, p.isRunning {
            p.terminate()
            p.waitUntilExit()
        }
        // Station simulators started by a test.
        for p in extra where p.isRunning { p.terminate(); p.waitUntilExit() }
    }

    private var extra: [Process] = []
    var clusterFile: String { dir.appendingPathComponent("cluster.json").path }
    var sink: URL { URL(fileURLWithPath: cluster["paging_sink"] as! String) }

    func alarm(_ args: [String]) throws -> Run {
        try run(SimulateCommandTests.binary, ["alarm", "--cluster", clusterFile] + args, limit: 60)
    }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    /// The order as the cluster sees it, polled until `done` holds (or `seconds` pass).
    func waitForOrder(_ id: String, within seconds: Double, until done: ([[String: Any]]) -> Bool) throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(seconds)
        var targets: [[String: Any]] = []
        while Date() < deadline {
            let r = try alarm(["show", id, "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            targets = try json(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["targets"] as? [[String: Any]] ?? []
            if done(targets) { return targets }
            Thread.sleep(forTimeInterval: 0.3)
        }
        return targets
    }

    func state(_ targets: [[String: Any]], _ target: String) -> String? {
        targets.first { $0["target"] as? String == target }?["state"] as? String
    }

    func pid(ofStation station: String) throws -> Int32 { try stationSimulator(station, clusterFile: clusterFile) }

    /// multimon-ng's reading of every transmission in a sink folder.
    func decoded(_ folder: String, _ decoder: String) throws -> String {
        let files = (try FileManager.default.contentsOfDirectory(atPath: sink.appendingPathComponent(folder).path))
            .filter { $0.hasSuffix(".raw") }.sorted()
        var text = ""
        for f in files {
            let r = try run(URL(fileURLWithPath: "/usr/bin/multimon-ng"),
                            ["-q", "-t", "raw", "-a", decoder] + (decoder.hasPrefix("POCSAG") ? ["-f", "alpha"] : []) + [sink.appendingPathComponent(folder).appendingPathComponent(f).path], limit: 30)
            text += r.stdout
        }
        return text
    }

    func stationLog(_ station: String) throws -> String {
        try String(contentsOf: dir.appendingPathComponent("station-\(station).log"), encoding: .utf8)
    }

    /// Every station shows each (order, round) once, however often it was sent.
    func assertEachAlarmShownOnce(_ stations: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        for s in stations {
            let shown = try stationLog(s).split(separator: "\n").filter { $0.contains(": ALARM ") }
                .map { $0.split(separator: " ").prefix(4).joined(separator: " ") }
            XCTAssertEqual(shown.count, Set(shown).count, "\(s) showed an alarm twice: \(shown)", file: file, line: line)
        }
    }

    // MARK: - Tests

    func testAnF3ReachesStationsByLineAndVolunteersByPagerAndADeadLineFallsBackWithin20Seconds() throws {
        // An F3 in Sachsenhausen-Nord: FRW1 and FRW2 by line, two volunteer brigades by pager and siren.
        let raised = try alarm(["raise", "--keyword", "F3", "--area", "Sachsenhausen-Nord", "--address", "Schweizer Straße 12", "--json"])
        XCTAssertEqual(raised.status, 0, raised.stderr)
        let order = try XCTUnwrap(try json(raised.stdout.split(separator: "\n").last.map(String.init) ?? "")["order"] as? String)
        let targets = try waitForOrder(order, within: 20) { t in t.allSatisfy { $0["state"] as? String == "delivered" } }
        for t in ["line:FRW1", "line:FRW2", "group:AG-FF-Sachsenhausen-Süd", "group:AG-FF-Oberrad", "siren:S-Sachsenhausen-Süd", "siren:S-Oberrad"] {
            XCTAssertEqual(state(targets, t), "delivered", "\(t): \(targets)")
        }
        // The address is on the station's printout, never in its log.
        let printout = try String(contentsOf: dir.appendingPathComponent("station-FRW1.printout"), encoding: .utf8)
        XCTAssertTrue(printout.contains("ALARM \(order) round=1 F3 Sachsenhausen-Nord | Schweizer Straße 12"), printout)
        XCTAssertTrue(try stationLog("FRW1").contains("ALARM \(order) round=1 F3 Sachsenhausen-Nord | address on the printout"))
        XCTAssertFalse(try stationLog("FRW1").contains("Schweizer Straße"))
        // The aired pages decode (multimon-ng shows DIN 66003 ß as ~ and ü as }).
        let pages = try decoded("DME-FFM-1", "POCSAG1200") + decoded("DME-FFM-2", "POCSAG1200")
        XCTAssertTrue(pages.contains("F3 Sachsenhausen-Nord, Schweizer Stra~e 12 E-000001 FF-Oberrad-LF"), pages)
        XCTAssertTrue(pages.contains("FF-Sachsenhausen-S}d-LF"), pages)
        XCTAssertTrue(try decoded("zvei", "ZVEI1").contains("25375"))

        // FRW1's station device dies: the line is reported faulted within 20 s of its last word.
        let watch = Process()
        watch.executableURL = SimulateCommandTests.binary
        watch.arguments = ["alarm", "--cluster", clusterFile, "watch", "--json", "--seconds", "40"]
        let out = Pipe()
        watch.standardOutput = out
        try watch.run()
        extra.append(watch)
        let events = LineReader(out.fileHandleForReading)
        Thread.sleep(forTimeInterval: 0.5)
        let killedAt = UInt64(Date().timeIntervalSince1970 * 1000)
        kill(try pid(ofStation: "FRW1"), SIGKILL)
        var faultedAt: UInt64?
        let deadline = Date().addingTimeInterval(25)
        while faultedAt == nil, let line = events.next(until: deadline) {
            if let e = try? json(line), e["event"] as? String == "line.faulted", e["station"] as? String == "FRW1" { faultedAt = e["at"] as? UInt64 }
        }
        let at = try XCTUnwrap(faultedAt, "no line fault reported within 25 s")
        XCTAssertLessThanOrEqual(at - killedAt, 20_000, "line fault reported \(at - killedAt) ms after the device died")

        // An alarm for FRW1 now goes out over its fallback pager group at once, and is aired.
        let rw = try alarm(["raise", "--keyword", "TH1", "--area", "Innenstadt", "--address", "Zeil 5", "--units", "1-RW-1", "--json"])
        XCTAssertEqual(rw.status, 0, rw.stderr)
        let second = try XCTUnwrap(try json(rw.stdout.split(separator: "\n").last.map(String.init) ?? "")["order"] as? String)
        let fb = try waitForOrder(second, within: 15) { self.state($0, "group:AG-FRW1") == "delivered" }
        XCTAssertEqual(state(fb, "group:AG-FRW1"), "delivered", "\(fb)")
        XCTAssertEqual(fb.first { $0["target"] as? String == "group:AG-FRW1" }?["fallback"] as? Bool, true)
        XCTAssertTrue(try decoded("DME-FFM-1", "POCSAG1200").contains("TH1 Innenstadt, Zeil 5"))

        // Malformed frames and wrong identities on the station listener are refused.
        let listen = try XCTUnwrap((cluster["gateways"] as? [String: [[String: String]]])?["wired"]?.first?["listen"])
        let port = UInt16(listen.split(separator: ":").last!)!
        let garbage = try probe(port: port, as: "FRW2", send: [ProtocolFrame(kind: 1, body: [0xFF])])
        XCTAssertEqual(garbage.frames.first?.errorInfo?.code, ProtocolFrame.ErrorCode.malformed.rawValue, "\(garbage)")
        XCTAssertNotNil(garbage.closed)
        let impostor = try probe(port: port, as: "FRW2", send: [hello("FRW1")])
        XCTAssertEqual(impostor.frames.first?.errorInfo?.code, ProtocolFrame.ErrorCode.unauthorised.rawValue, "\(impostor)")
        let early = try probe(port: port, as: "FRW2", send: [heartbeat()])
        XCTAssertEqual(early.frames.first?.errorInfo?.code, ProtocolFrame.ErrorCode.malformed.rawValue, "\(early)")
        let operatorCert = try probe(port: port, as: "disponent-demo", send: [hello("FRW2")])
        XCTAssertTrue(operatorCert.frames.isEmpty, "an operator certificate got \(operatorCert.frames)")
        XCTAssertNotNil(operatorCert.closed)

        // A device that is up but never ACKs (its alarm output broken): after the 10 s ACK
        // deadline the line target fails and the station's pagers are alarmed.
        let mute = Process()
        mute.executableURL = SimulateCommandTests.binary
        mute.arguments = ["station-sim", "--cluster", clusterFile, "--station", "FRW1", "--no-ack"]
        mute.standardOutput = FileHandle.nullDevice
        try mute.run()
        extra.append(mute)
        var muteUp = false
        let muteDeadline = Date().addingTimeInterval(15)
        while !muteUp, let line = events.next(until: muteDeadline) {
            if let e = try? json(line), e["event"] as? String == "line.up", e["station"] as? String == "FRW1" { muteUp = true }
        }
        XCTAssertTrue(muteUp, "FRW1 (no-ack device) not reported up")
        let silent = try alarm(["raise", "--keyword", "TH1", "--area", "Innenstadt", "--address", "Zeil 9", "--units", "1-RTW-2", "--json"])
        XCTAssertEqual(silent.status, 0, silent.stderr + silent.stdout)
        let silentOrder = try XCTUnwrap(try json(silent.stdout.split(separator: "\n").last.map(String.init) ?? "")["order"] as? String)
        let timedOut = try waitForOrder(silentOrder, within: 20) { self.state($0, "group:AG-FRW1") == "delivered" }
        let lineTarget = timedOut.first { $0["target"] as? String == "line:FRW1" }
        XCTAssertEqual(lineTarget?["state"] as? String, "failed", "\(timedOut)")
        XCTAssertEqual(lineTarget?["reason"] as? String, "no ACK from the station in time")
        XCTAssertEqual(state(timedOut, "group:AG-FRW1"), "delivered", "\(timedOut)")
        mute.terminate()
        mute.waitUntilExit()

        // A flapping line (down 1 s in every 3, shorter than its 10 s supervision) stays up and
        // gets its alarm; the gateway reports no new fault for it.
        let flap = Process()
        flap.executableURL = SimulateCommandTests.binary
        flap.arguments = ["station-sim", "--cluster", clusterFile, "--station", "FRW1", "--flap", "2:1"]
        flap.standardOutput = FileHandle.nullDevice
        try flap.run()
        extra.append(flap)
        // The handover from the mute device took less than the supervision interval: no fault.
        Thread.sleep(forTimeInterval: 1)
        let third = try alarm(["raise", "--keyword", "TH1", "--area", "Innenstadt", "--address", "Zeil 7", "--units", "1-NEF-1", "--json"])
        XCTAssertEqual(third.status, 0, third.stderr + third.stdout)
        if let id = try? json(third.stdout.split(separator: "\n").last.map(String.init) ?? "")["order"] as? String {
            let t = try waitForOrder(id, within: 15) { self.state($0, "line:FRW1") == "delivered" }
            XCTAssertEqual(state(t, "line:FRW1"), "delivered", "\(t)")
        }
        let quiet = Date().addingTimeInterval(8)
        while let line = events.next(until: quiet) {
            if let e = try? json(line), e["event"] as? String == "line.faulted", e["station"] as? String == "FRW1" {
                XCTFail("a flapping line within its supervision interval was reported faulted")
            }
        }
        try assertEachAlarmShownOnce(["FRW2", "FRW3"])
    }

    func testTheStandbyWiredGatewayTakesOverWhenTheActiveOneDies() throws {
        func leases() throws -> [String: Any] {
            let r = try alarm(["leases", "--json"])
            return try json(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let before = try XCTUnwrap(try leases()["wired"] as? [String: Any])
        let holder = try XCTUnwrap(before["holder"] as? String)
        let pgrep = try run(URL(fileURLWithPath: "/usr/bin/pgrep"), ["-f", "gateway --cluster \(clusterFile) --network wired --name \(holder) "], limit: 10)
        let pid = try XCTUnwrap(Int32(pgrep.stdout.split(separator: "\n").first ?? ""), pgrep.stdout)
        kill(pid, SIGKILL)
        // The lease runs 6 s; the standby asks every 2 s.
        var after: [String: Any] = [:]
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            after = try leases()["wired"] as? [String: Any] ?? [:]
            if let h = after["holder"] as? String, h != holder, after["expired"] as? Bool == false { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        XCTAssertNotEqual(after["holder"] as? String, holder, "\(after)")
        XCTAssertEqual(after["epoch"] as? Int, (before["epoch"] as? Int ?? 0) + 1)
        // Alarms go out through the new gateway, and each station shows each alarm once.
        let r = try alarm(["raise", "--keyword", "F2", "--area", "Bockenheim", "--address", "Leipziger Straße 3", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let id = try XCTUnwrap(try json(r.stdout.split(separator: "\n").last.map(String.init) ?? "")["order"] as? String)
        let t = try waitForOrder(id, within: 15) { $0.filter { ($0["target"] as? String ?? "").hasPrefix("line:") }.allSatisfy { $0["state"] as? String == "delivered" } }
        XCTAssertFalse(t.isEmpty)
        for target in t where (target["target"] as? String ?? "").hasPrefix("line:") {
            XCTAssertEqual(target["state"] as? String, "delivered", "\(target)")
        }
        try assertEachAlarmShownOnce(["FRW1", "FRW2", "FRW3", "FRW4", "FRW5", "FRW6", "FRW8"])

        // Registry changes are commands: a volunteer station gets a line, and the (new) active
        // gateway supervises it without a restart.
        var registry = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: SimulateCommandTests.packageRoot
            .appendingPathComponent("ops/config/frankfurt-registry.json"))) as? [String: Any])
        var stations = try XCTUnwrap(registry["stations"] as? [[String: Any]])
        let k = try XCTUnwrap(stations.firstIndex { $0["id"] as? String == "FF-Nied" })
        stations[k]["line"] = ["supervisionSeconds": 10, "outputs": ["gong", "printer"]]
        registry["stations"] = stations
        let changed = dir.appendingPathComponent("registry-with-nied.json")
        try JSONSerialization.data(withJSONObject: registry).write(to: changed)
        let applied = try alarm(["registry", "apply", changed.path])
        XCTAssertEqual(applied.status, 0, applied.stderr)
        let pkiDir = try XCTUnwrap(cluster["pki"] as? String)
        XCTAssertEqual(try run(SimulateCommandTests.binary, ["pki", "--dir", pkiDir, "issue", "station", "FF-Nied"], limit: 30).status, 0)
        let nied = Process()
        nied.executableURL = SimulateCommandTests.binary
        nied.arguments = ["station-sim", "--cluster", clusterFile, "--station", "FF-Nied"]
        nied.standardOutput = FileHandle.nullDevice
        try nied.run()
        extra.append(nied)
        var niedState = ""
        let niedDeadline = Date().addingTimeInterval(15)
        while Date() < niedDeadline, niedState != "up" {
            let lines = try alarm(["lines", "--json"])
            let list = (try? JSONSerialization.jsonObject(with: Data(lines.stdout.utf8)) as? [[String: Any]]) ?? []
            niedState = list.first { $0["station"] as? String == "FF-Nied" }?["state"] as? String ?? ""
            Thread.sleep(forTimeInterval: 0.5)
        }
        XCTAssertEqual(niedState, "up", "the new line FF-Nied is not supervised")
    }

    // MARK: - A raw station-alert client

    func hello(_ station: String) -> ProtocolFrame {
        var w = ByteWriter()
        w.writeUInt8(1)
        w.writeLengthPrefixed(station)
        w.writeLengthPrefixed("probe")
        return ProtocolFrame(kind: 1, body: w.bytes)
    }

    func heartbeat() -> ProtocolFrame {
        var w = ByteWriter()
        w.writeUInt64(1)
        return ProtocolFrame(kind: 5, body: w.bytes)
    }

    struct ProbeResult: CustomStringConvertible {
        var frames: [ProtocolFrame]
        var closed: String?
        var description: String { "frames \(frames.map { "\($0.kind) \($0.errorInfo?.reason ?? "")" }), closed \(closed ?? "no")" }
    }

    /// Connects to the station listener with `identity`'s certificate from the demo PKI, sends
    /// `frames`, and collects what comes back until the gateway closes (at most 5 s).
    func probe(port: UInt16, as identity: String, send frames: [ProtocolFrame]) throws -> ProbeResult {
        let pki = try XCTUnwrap(cluster["pki"] as? String)
        let context = try TLSContext(TLSConfiguration(caFile: pki + "/ca.crt", certificateFile: pki + "/\(identity).crt",
                                                      keyFile: pki + "/\(identity).key", crlFile: nil, acceptedRoles: [.gateway]), side: .client)
        final class Collector: FrameConnectionDelegate {
            var frames: [ProtocolFrame] = []
            var closed: String?
            let send: [ProtocolFrame]
            init(send: [ProtocolFrame]) { self.send = send }
            func connectionOpened(_ c: FrameConnection) { for f in send { c.send(f) } }
            func connection(_ c: FrameConnection, received frame: ProtocolFrame) { frames.append(frame) }
            func connectionClosed(_ c: FrameConnection, reason: String) { closed = reason }
        }
        let loop = try EventLoop()
        let collector = Collector(send: frames)
        _ = try FrameConnection.connect(host: "127.0.0.1", port: port, context: context, loop: loop, delegate: collector)
        let handle = loop.handle
        _ = loop.schedule(after: 5_000_000_000) { handle.stop() }
        loop.everyIteration = { if collector.closed != nil { handle.stop() } }
        loop.run()
        return ProbeResult(frames: collector.frames, closed: collector.closed)
    }
}
