import Client
import Foundation
import Secure
import Wire
import XCTest

/// The node processes as users and operators start them: `florian demo`, `florian node`, the
/// chaos scripts under ops/chaos and `bench cluster`, all through the release binary.
final class ClusterCommandTests: XCTestCase {

    static var binary: URL { SimulateCommandTests.binary }
    static var root: URL { SimulateCommandTests.packageRoot }

    override func setUpWithError() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.binary.path),
                      "no release binary at \(Self.binary.path): run `swift build -c release` before `swift test`")
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else { throw NSError(domain: "florian", code: 1) }
    }

    func testDemoStartsAClusterWritesItsFileAndEveryPortRefusesAForeignCA() throws {
        let dir = tempDir("demo")
        let (p, json) = try startDemo(dir, [])
        defer { if p.isRunning { p.terminate() } }
        let nodes = try XCTUnwrap(json["nodes"] as? [[String: Any]])
        XCTAssertEqual(nodes.count, 3)
        var ports: [(String, UInt16)] = []
        for n in nodes {
            XCTAssertNotNil(n["id"])
            for listener in ["mesh", "client"] {
                let address = try XCTUnwrap(n[listener] as? String, "node \(n) has no \(listener)")
                let parts = address.split(separator: ":")
                XCTAssertEqual(parts.count, 2)
                XCTAssertEqual(parts.first, "127.0.0.1")
                ports.append((listener, try XCTUnwrap(UInt16(parts[1]))))
            }
        }
        let ca = try XCTUnwrap(json["ca"] as? String)
        XCTAssertTrue(FileManager.default.fileExists(atPath: ca))
        XCTAssertTrue(FileManager.default.fileExists(atPath: try XCTUnwrap(json["crl"] as? String)))
        let creds = try XCTUnwrap(json["credentials"] as? [String: [String: String]])
        for role in ["operator", "partner", "gateway"] {
            let c = try XCTUnwrap(creds[role], role)
            XCTAssertTrue(FileManager.default.fileExists(atPath: try XCTUnwrap(c["cert"])), role)
            XCTAssertTrue(FileManager.default.fileExists(atPath: try XCTUnwrap(c["key"])), role)
        }
        XCTAssertNotNil(creds["partner"]?["org"])

        // The operator credentials work: a status answer names a leader.
        let op = creds["operator"]!
        let good = try TLSContext(TLSConfiguration(caFile: ca, certificateFile: op["cert"]!, keyFile: op["key"]!, crlFile: nil,
                                                   acceptedRoles: [.node]), side: .client)
        let clientPort = ports.first { $0.0 == "client" }!.1
        let answer = try TLSClient(host: "127.0.0.1", port: clientPort, context: good).exchange(ClientRequest.status(id: 1).frame)
        guard case .status(_, let status) = try ClientReply.decode(answer) else { return XCTFail("no status") }
        XCTAssertNotEqual(status.leader, 0)

        // Every port refuses certificates of another CA, whatever their role.
        let foreign = PKIDirectory(tempDir("foreign-pki").path)
        try foreign.initialise()
        try foreign.issue(role: .operator, name: "disponent-demo")
        try foreign.issue(role: .node, name: "node1")
        for (listener, port) in ports {
            for name in ["disponent-demo", "node1"] {
                let ctx = try TLSContext(.fromPKI(directory: foreign.url.path, name: name, accepting: [.node]), side: .client)
                // The foreign client does not trust the city CA either; accept any server to show
                // that the refusal is the server's.
                XCTAssertThrowsError(try TLSClient(host: "127.0.0.1", port: port, context: ctx).exchange(ProtocolFrame(kind: 5, body: [1])),
                                     "\(listener) port \(port) served a \(name) certificate of another CA")
            }
        }
        // And openssl agrees from outside: a foreign certificate gets no application data.
        let foreignCert = foreign.url.appendingPathComponent("disponent-demo.crt").path
        let foreignKey = foreign.url.appendingPathComponent("disponent-demo.key").path
        for (_, port) in ports {
            let r = try run(URL(fileURLWithPath: "/bin/sh"), ["-c", "printf 'x' | timeout 10 openssl s_client -connect 127.0.0.1:\(port) -tls1_3 -cert \(foreignCert) -key \(foreignKey) -CAfile \(ca) -ign_eof 2>&1"])
            XCTAssertTrue(r.stdout.contains("alert") || r.stdout.contains("errno") || r.stdout.contains("error"), "port \(port):\n\(r.stdout)")
        }

        // SIGTERM stops the demo and its nodes.
        p.terminate()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertThrowsError(try TLSClient(host: "127.0.0.1", port: clientPort, context: good).exchange(ClientRequest.status(id: 1).frame),
                             "a node outlived the demo")
    }

    func testAFiveNodeDemoSurvivesTwoLostNodes() throws {
        let dir = tempDir("demo5")
        let (p, json) = try startDemo(dir, ["--nodes", "5"])
        defer { if p.isRunning { p.terminate(); p.waitUntilExit() } }
        let nodes = try XCTUnwrap(json["nodes"] as? [[String: Any]])
        XCTAssertEqual(nodes.count, 5)
        let creds = try XCTUnwrap(json["credentials"] as? [String: [String: String]])
        let tls = try TLSContext(TLSConfiguration(caFile: json["ca"] as! String, certificateFile: creds["operator"]!["cert"]!,
                                                  keyFile: creds["operator"]!["key"]!, crlFile: nil, acceptedRoles: [.node]), side: .client)
        let client = try FlorianClient(nodes: nodes.map { $0["client"] as! String }, tls: tls)
        defer { client.close() }
        try client.createTopic("five", commandID: "five-topic")
        XCTAssertEqual(try client.publish(topic: "five", payload: [1], commandID: "five-1"), 0)
        let status = try client.status()
        XCTAssertEqual(status.members.count, 5)
        // Two nodes die (the leader among them): the other three still commit.
        let pids = nodes.compactMap { n -> Int32? in
            guard let config = n["config"] as? String else { return nil }
            let r = try? run(URL(fileURLWithPath: "/usr/bin/pgrep"), ["-f", "node --config \(config)"], limit: 10)
            return r.flatMap { Int32($0.stdout.split(separator: "\n").first ?? "") }
        }
        XCTAssertEqual(pids.count, 5)
        let leaderIndex = Int(status.leader) - 1
        let victims = [leaderIndex, (leaderIndex + 1) % 5]
        for v in victims { kill(pids[v], SIGSTOP) }
        defer { for v in victims { kill(pids[v], SIGCONT) } }
        XCTAssertEqual(try client.publish(topic: "five", payload: [2], commandID: "five-2"), 1)
        XCTAssertEqual(try client.read(topic: "five", from: 0, linearizable: true).messages.count, 2)
    }

    func testDemoRefusesANonEmptyDirectory() throws {
        let dir = tempDir("demo-nonempty")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: dir.appendingPathComponent("keep.txt"))
        let r = try run(Self.binary, ["demo", "--dir", dir.path, "--no-console"], limit: 30)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("is not empty"), r.stderr)
    }

    // MARK: - node

    func testNodeChecksItsConfigAndRefusesBadOnesClearly() throws {
        let dir = tempDir("node-config")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // The shipped 3-node sample, with a PKI made for it.
        let sample = Self.root.appendingPathComponent("ops/config/cluster-3")
        try FileManager.default.copyItem(at: sample.appendingPathComponent("node1.json"), to: dir.appendingPathComponent("node1.json"))
        let pki = PKIDirectory(dir.appendingPathComponent("pki").path)
        try pki.initialise()
        try pki.issue(role: .node, name: "node1")
        let ok = try run(Self.binary, ["node", "--config", dir.appendingPathComponent("node1.json").path, "--check"], limit: 30)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.hasPrefix("config ok: node 1 (node1) of cluster 'frankfurt-3', 3 members"), ok.stdout)
        for n in 1...5 {
            let five = try run(Self.binary, ["node", "--config", Self.root.appendingPathComponent("ops/config/cluster-5/node\(n).json").path, "--check"], limit: 30)
            XCTAssertTrue(five.stderr.contains("pki/ca.crt") || five.stderr.contains("node\(n)"), "cluster-5/node\(n): \(five.stderr)")
        }

        func refused(_ json: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
            let path = dir.appendingPathComponent("bad.json")
            try Data(json.utf8).write(to: path)
            let r = try run(Self.binary, ["node", "--config", path.path], limit: 30)
            XCTAssertEqual(r.status, 1, r.stderr, file: file, line: line)
            XCTAssertTrue(r.stderr.contains(expected), "expected '\(expected)' in: \(r.stderr)", file: file, line: line)
        }
        let tls = #""tls": {"ca": "pki/ca.crt", "crl": "pki/crl.pem", "cert": "pki/node1.crt", "key": "pki/node1.key"}"#
        let member = #"{"id": 1, "name": "node1", "mesh": "127.0.0.1:7101", "client": "127.0.0.1:7201"}"#
        try refused("{", "bad.json")
        try refused(#"{"node": 1, "data": "d", \#(tls), "members": [\#(member)]}"#, "missing key 'cluster'")
        try refused(#"{"cluster": "c", "node": 2, "data": "d", \#(tls), "members": [\#(member)]}"#, "node 2 is not among members")
        try refused(#"{"cluster": "c", "node": 1, "data": "d", \#(tls), "members": [{"id": 1, "name": "node1", "mesh": "localhost:1", "client": "127.0.0.1:2"}]}"#,
                    "is no IPv4 host:port")
        try refused(#"{"cluster": "c", "node": 1, "data": "d", \#(tls), "members": [\#(member), \#(member)]}"#, "ids must be distinct")
        try refused(#"{"cluster": "c", "node": 1, "data": "d", "tls": {"ca": "nope.crt", "crl": "pki/crl.pem", "cert": "pki/node1.crt", "key": "pki/node1.key"}, "members": [\#(member)]}"#,
                    "nope.crt")
        let r = try run(Self.binary, ["node"], limit: 30)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("node needs --config FILE"), r.stderr)
    }

    // MARK: - chaos

    func testKillTestLosesAndDuplicatesNothing() throws {
        let r = try run(Self.root.appendingPathComponent("ops/chaos/kill-test"), ["--seconds", "20"], limit: 300)
        let last = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let pattern = #/^kill-test: acked (\d+), lost (\d+), duplicated (\d+), failovers (\d+), max-unavailable (\d+)ms$/#
        let m = try XCTUnwrap(last.wholeMatch(of: pattern), "last line: \(last)\n\(r.stdout)\n\(r.stderr)")
        XCTAssertGreaterThan(Int(m.1)!, 1_000, r.stdout)
        XCTAssertEqual(m.2, "0", r.stdout)
        XCTAssertEqual(m.3, "0", r.stdout)
        XCTAssertTrue(r.stdout.contains("killed node"), r.stdout)
        XCTAssertEqual(r.status, 0, r.stdout)
    }

    func testKillTestWithFrozenNodesLosesAndDuplicatesNothing() throws {
        let r = try run(Self.root.appendingPathComponent("ops/chaos/kill-test"), ["--seconds", "20", "--hang"], limit: 300)
        let last = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let m = try XCTUnwrap(last.wholeMatch(of: #/^kill-test: acked (\d+), lost 0, duplicated 0, failovers \d+, max-unavailable \d+ms$/#),
                              "last line: \(last)\n\(r.stdout)\n\(r.stderr)")
        XCTAssertGreaterThan(Int(m.1)!, 1_000, r.stdout)
        XCTAssertTrue(r.stdout.contains("each once, in order"), r.stdout)
        XCTAssertEqual(r.status, 0, r.stdout)
    }

    func testFailoverTestReportsEveryKill() throws {
        let r = try run(Self.root.appendingPathComponent("ops/chaos/failover-test"), ["--kills", "3"], limit: 300)
        let last = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let pattern = #/^failover-test: kills 3, p50 (\d+)ms, p99 (\d+)ms, max (\d+)ms, lost 0$/#
        XCTAssertNotNil(last.wholeMatch(of: pattern), "last line: \(last)\n\(r.stdout)\n\(r.stderr)")
        XCTAssertEqual(r.stdout.components(separatedBy: "(leader) killed").count - 1, 3, r.stdout)
        XCTAssertEqual(r.status, 0)
    }

    func testChaosRefusesBadArguments() throws {
        let r = try run(Self.binary, ["chaos", "kill-test", "--seconds", "1"], limit: 30)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--seconds ≥ 5"), r.stderr)
        let u = try run(Self.binary, ["chaos", "earthquake"], limit: 30)
        XCTAssertEqual(u.status, 2)
        XCTAssertTrue(u.stderr.contains("unknown chaos test 'earthquake'"), u.stderr)
    }

    // MARK: - bench

    func testBenchClusterReportsRatesIdleCPUAndMemory() throws {
        let r = try run(Self.binary, ["bench", "cluster", "--seconds", "1", "--idle-seconds", "1"], limit: 300)
        XCTAssertEqual(r.status, 0, r.stderr)
        for prefix in ["bench cluster: 1 in flight: ", "bench cluster: 64 in flight: ", "bench cluster: idle: ", "bench cluster: rss idle: node1 "] {
            XCTAssertTrue(r.stdout.contains(prefix), "no '\(prefix)' in:\n\(r.stdout)")
        }
        XCTAssertFalse(r.stdout.contains(" msg/s, p50 0.000 ms"), r.stdout)
        XCTAssertTrue(r.stdout.contains(", 0 failed"), r.stdout)
    }
}

/// Reads lines from a pipe with a deadline.
final class LineReader {
    private let handle: FileHandle
    private var buffer = Data()
    init(_ handle: FileHandle) { self.handle = handle }

    func next(until deadline: Date) -> String? {
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...nl)
                return line
            }
            guard Date() < deadline else { return nil }
            var fds = pollfd(fd: handle.fileDescriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&fds, 1, 200) >= 0 else { return nil }
            if fds.revents != 0 {
                let chunk = handle.availableData
                if chunk.isEmpty { return nil }
                buffer.append(chunk)
            }
        }
    }
}
