import Bus
import Client
import Foundation
import Node
import Secure
import Synchronization
import Wire
import XCTest

/// Three `NodeServer`s in this process, each on its own thread, over real mTLS sockets on
/// loopback: the client protocol, forwarding by followers, subscriptions, and the mesh's and
/// the client listener's refusals.
final class NodeClusterTests: XCTestCase {
    static let dir = FileManager.default.temporaryDirectory.appendingPathComponent("florian-node-tests-\(getpid())")
    static let pki = PKIDirectory(dir.appendingPathComponent("pki").path)
    nonisolated(unsafe) static var members: [NodeConfig.Member] = []
    nonisolated(unsafe) static var handles: [UInt64: EventLoop.LoopHandle] = [:]
    nonisolated(unsafe) static var configs: [UInt64: NodeConfig] = [:]

    override class func setUp() {
        super.setUp()
        try? FileManager.default.removeItem(at: dir)
        do {
            try pki.initialise()
            for k in 1...3 { try pki.issue(role: .node, name: "node\(k)") }
            try pki.issue(role: .node, name: "impostor")
            try pki.issue(role: .operator, name: "anna")
            try pki.issue(role: .analyst, name: "ben")
            try pki.issue(role: .gateway, name: "helper-app")
            try pki.issue(role: .partner, name: "thw", organisation: "THW")
            var ports: [UInt16] = []
            for _ in 0..<6 { ports.append(try freePort()) }
            members = (1...3).map { k in
                NodeConfig.Member(id: UInt64(k), name: "node\(k)", mesh: Endpoint(host: "127.0.0.1", port: ports[2 * k - 2]),
                                  client: Endpoint(host: "127.0.0.1", port: ports[2 * k - 1]))
            }
            for m in members { try start(m.id) }
        } catch {
            XCTFail("cluster setup: \(error)")
        }
    }

    override class func tearDown() {
        for h in handles.values { h.stop() }
        Thread.sleep(forTimeInterval: 0.3)
        try? FileManager.default.removeItem(at: dir)
        super.tearDown()
    }

    static func freePort() throws -> UInt16 {
        // A listener on port 0 tells us a free port; it is released at once.
        let ctx = try TLSContext(.fromPKI(directory: pki.url.path, name: "node1", accepting: [.node]), side: .server)
        let l = try TLSListener(context: ctx) { _, _ in nil }
        defer { l.stop() }
        return l.port
    }

    static func start(_ id: UInt64) throws {
        let p = pki.url.path
        let config = NodeConfig(cluster: "test", node: id, data: dir.appendingPathComponent("data\(id)").path,
                                tls: .init(ca: p + "/ca.crt", crl: p + "/crl.pem", cert: p + "/node\(id).crt", key: p + "/node\(id).key"),
                                members: members)
        configs[id] = config
        let started = Handoff<Result<EventLoop.LoopHandle, ConfigError>>()
        Thread {
            do {
                let server = try NodeServer(config: config, log: { _ in })
                started.post(.success(server.handle))
                server.run()
            } catch {
                started.post(.failure(ConfigError("\(error)")))
            }
        }.start()
        handles[id] = try started.wait()!.get()
    }

    func tls(_ name: String, accepting: Set<Secure.Role> = [.node]) throws -> TLSContext {
        try TLSContext(.fromPKI(directory: Self.pki.url.path, name: name, accepting: accepting), side: .client)
    }

    func client(_ nodes: [UInt64] = [1, 2, 3], as name: String = "anna", follow: Bool = true) throws -> FlorianClient {
        var o = FlorianClient.Options()
        o.followLeader = follow
        o.requestTimeout = .seconds(15)
        return try FlorianClient(nodes: nodes.map { id in Self.members.first { $0.id == id }!.client.description }, tls: try tls(name), options: o)
    }

    func leader() throws -> UInt64 {
        let c = try client([1], follow: false)
        defer { c.close() }
        for _ in 0..<200 {
            if let s = try? c.status(), s.leader != 0 { return s.leader }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw RequestFailure(code: .unavailable, reason: "no leader")
    }

    /// The alarm state machine runs in every node; with no gateway and no other command the
    /// leader still moves the state clock when a deadline is due (`alarm.clock`): a line that does
    /// not ACK fails after `lineAckSeconds` and the fallback pager group is issued.
    func testTheLeaderFiresAlarmDeadlinesWithoutAnyOtherCommand() throws {
        let c = try client()
        defer { c.close() }
        let registry = #"""
        {"timing": {"lineAckSeconds": 1, "pageAirSeconds": 60, "sirenAirSeconds": 60, "professionalAckSeconds": 90, "volunteerAckSeconds": 300, "leaseSeconds": 6},
         "channels": [{"id": "C1", "baud": 1200}],
         "stations": [{"id": "W1", "name": "Wache 1", "kind": "professional", "area": "Mitte", "line": {"supervisionSeconds": 10, "outputs": ["gong"]}, "fallbackGroups": ["AG-W1"]}],
         "units": [{"id": "1-HLF-1", "type": "HLF", "station": "W1", "groups": [], "sirens": []}],
         "alertGroups": [{"id": "AG-W1", "channel": "C1", "ric": 1000, "function": "A", "station": "W1"}],
         "sirens": [], "areas": [{"id": "Mitte", "stationOrder": ["W1"]}],
         "aao": [{"keyword": "F1", "description": "Kleinbrand", "units": [{"type": "HLF", "count": 1}]}]}
        """#
        func accepted(_ type: String, _ id: String, _ json: String) throws -> [String: Any] {
            let outcome = try c.submit(type: type, commandID: id, payload: Array(json.utf8))
            guard case .accepted(let bytes) = outcome else { throw RequestFailure(code: .invalid, reason: "\(type): \(outcome)") }
            return try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] ?? [:]
        }
        _ = try accepted("alarm.registry.apply", "deadline-registry", registry)
        let incident = try accepted("alarm.incident.open", "deadline-open", #"{"keyword": "F1", "area": "Mitte", "address": "Markt 1"}"#)["incident"] as! String
        let order = try accepted("alarm.order.create", "deadline-order", #"{"incident": "\#(incident)", "units": ["1-HLF-1"]}"#)["order"] as! String
        // A refused command says why.
        let refused = try c.submit(type: "alarm.incident.open", commandID: "deadline-bad", payload: Array(#"{"keyword": "F9", "area": "Mitte", "address": "x"}"#.utf8))
        XCTAssertTrue("\(refused)".contains("keyword F9"), "\(refused)")

        var targets: [[String: Any]] = []
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let answer = try c.query(namespace: "alarm", name: "order", payload: Array(#"{"order": "\#(order)"}"#.utf8))
            targets = (try JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any])?["targets"] as? [[String: Any]] ?? []
            if targets.count == 2 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertEqual(targets.first { $0["target"] as? String == "line:W1" }?["state"] as? String, "failed", "\(targets)")
        XCTAssertEqual(targets.first { $0["target"] as? String == "line:W1" }?["reason"] as? String, "no ACK from the station in time")
        XCTAssertEqual(targets.first { $0["target"] as? String == "group:AG-W1" }?["fallback"] as? Bool, true, "\(targets)")
        // Every node answers from its own copy; unknown questions and domains are not-found.
        for n: UInt64 in [1, 2, 3] {
            let one = try client([n], follow: false)
            defer { one.close() }
            XCTAssertNoThrow(try one.query(namespace: "alarm", name: "lines", payload: Array("{}".utf8), linearizable: false))
            XCTAssertThrowsError(try one.query(namespace: "alarm", name: "nonsense", payload: Array("{}".utf8))) {
                XCTAssertEqual(($0 as? RequestFailure)?.code, .notFound)
            }
            XCTAssertThrowsError(try one.query(namespace: "helpers", name: "x", payload: Array("{}".utf8))) {
                XCTAssertEqual(($0 as? RequestFailure)?.code, .notFound)
            }
            XCTAssertThrowsError(try one.query(namespace: "alarm", name: "order", payload: Array("[1]".utf8))) {
                XCTAssertEqual(($0 as? RequestFailure)?.code, .invalid)
            }
        }
    }

    /// The helper-network router runs in every node: a platform (gateway certificate) registers
    /// a volunteer, a commander (operator) asks for help, and the ask reaches the platform's topic
    /// without the place; the roles are enforced by the cluster.
    func testTheHelpersDomainRoutesARequestToThePlatformsTopic() throws {
        let platform = try client(as: "helper-app")
        let anna = try client()
        defer { platform.close(); anna.close() }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let volunteer = #"{"id": "V-n1", "skills": [{"skill": "sandsack", "verifiedBy": "DRK", "validUntil": \#(now + 86_400_000)}], "home": {"col": 20, "row": 20}, "availability": [{"from": \#(now - 3_600_000), "to": \#(now + 86_400_000)}], "languages": ["de"], "rest": {"maxMinutesPerDay": 600, "minRestMinutes": 480}, "platform": "helper-app"}"#
        XCTAssertEqual(try platform.submit(type: "helpers.volunteer.register", commandID: "h-reg", payload: Array(volunteer.utf8)), .accepted(result: []))
        let refused = try anna.submit(type: "helpers.volunteer.register", commandID: "h-reg-anna", payload: Array(volunteer.utf8))
        XCTAssertTrue("\(refused)".contains("needs the role gateway"), "\(refused)")
        let need = #"{"skill": "sandsack", "count": 1, "place": {"x": 10100, "y": 10100}, "area": "Nordend", "window": {"from": \#(now), "to": \#(now + 3 * 3_600_000)}, "priority": 1, "safetyNotes": "", "briefing": "Sammelpunkt ELW"}"#
        XCTAssertEqual(try anna.submit(type: "helpers.request.open", commandID: "h-open", payload: Array(need.utf8)), .accepted(result: Array("H-000001".utf8)))
        let page = try platform.read(topic: "helpers/asks/helper-app", from: 0, limit: 10, linearizable: true)
        let asks = page.messages.map { String(decoding: $0.payload, as: UTF8.self) }
        XCTAssertEqual(asks.count, 1, "\(asks)")
        XCTAssertTrue(asks[0].contains("\"message\":\"RequestResource\"") && asks[0].contains("\"volunteer\":\"V-n1\""), asks[0])
        XCTAssertFalse(asks[0].contains("10100") || asks[0].contains("Sammelpunkt"), "no place before accepting: \(asks[0])")
    }

    func testAFollowerForwardsPublishesAndEveryNodeServesThem() throws {
        let leader = try leader()
        let follower = [1, 2, 3].first { $0 != leader }!
        let c = try client([follower], follow: false)
        defer { c.close() }
        try c.createTopic("fwd", commandID: "fwd-topic")
        var offsets: [UInt64] = []
        for k in 0..<20 { offsets.append(try c.publish(topic: "fwd", payload: Array("m\(k)".utf8), commandID: "fwd-\(k)")) }
        XCTAssertEqual(offsets, Array(0..<20))
        // A retried id is applied once and answers with the first outcome.
        XCTAssertEqual(try c.publish(topic: "fwd", payload: Array("other".utf8), commandID: "fwd-3"), 3)
        let page = try c.read(topic: "fwd", from: 0, limit: 100, linearizable: true)
        XCTAssertEqual(page.messages.map { String(decoding: $0.payload, as: UTF8.self) }, (0..<20).map { "m\($0)" })
        XCTAssertEqual(Set(page.messages.map(\.sender)), ["operator:anna"], "the log records the certificate identity")
        for id: UInt64 in [1, 2, 3] {
            let direct = try client([id], follow: false)
            defer { direct.close() }
            XCTAssertEqual(try direct.read(topic: "fwd", from: 0, limit: 100, linearizable: true).messages.count, 20, "node \(id)")
        }
    }

    func testStatusNamesTheLeaderAndEveryMember() throws {
        let leader = try leader()
        let c = try client()
        defer { c.close() }
        var s = try c.status()
        for _ in 0..<100 where s.members.contains(where: { $0.link == "down" }) {
            Thread.sleep(forTimeInterval: 0.05)
            s = try c.status()
        }
        XCTAssertEqual(s.node, leader, "the client follows the leader")
        XCTAssertEqual(s.role, "leader")
        XCTAssertEqual(s.members.map(\.id), [1, 2, 3])
        XCTAssertEqual(s.members.map(\.link).sorted(), ["self", "up", "up"])
        XCTAssertTrue(s.members.allSatisfy { $0.match != nil && $0.lag != nil }, "\(s.members)")
    }

    func testSubscriptionDeliversHistoryThenLiveMessagesInOrder() throws {
        let c = try client()
        defer { c.close() }
        try c.createTopic("sub", commandID: "sub-topic")
        for k in 0..<5 { _ = try c.publish(topic: "sub", payload: [UInt8(k)], commandID: "sub-\(k)") }
        let got = Mutex<[UInt64]>([])
        let all = DispatchSemaphore(value: 0)
        let reader = try client([2, 3, 1], follow: false)
        defer { reader.close() }
        reader.subscribe(topic: "sub", from: 2) { event in
            if case .message(let m) = event {
                let n = got.withLock { $0.append(m.offset); return $0.count }
                if n == 8 { all.signal() }
            }
        }
        for k in 5..<10 { _ = try c.publish(topic: "sub", payload: [UInt8(k)], commandID: "sub-\(k)") }
        XCTAssertEqual(all.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(got.withLock { $0 }, Array(2..<10))
    }

    func testReadsOfUnknownTopicsAndBadNamesFailClearly() throws {
        let c = try client()
        defer { c.close() }
        XCTAssertThrowsError(try c.read(topic: "no-such-topic", from: 0)) { e in
            XCTAssertEqual((e as? RequestFailure)?.code, .notFound, "\(e)")
        }
        XCTAssertThrowsError(try c.read(topic: "Bad Name!", from: 0)) { e in
            XCTAssertEqual((e as? RequestFailure)?.code, .invalid, "\(e)")
        }
        XCTAssertThrowsError(try c.publish(topic: "no-such-topic", payload: [1], commandID: "nt-1")) { e in
            XCTAssertTrue("\(e)".contains("unknown topic"), "\(e)")
        }
    }

    func testAnAnalystMayReadButNotSubmit() throws {
        let c = try client(as: "ben")
        defer { c.close() }
        XCTAssertNoThrow(try c.status())
        XCTAssertThrowsError(try c.submit(type: "bus.publish", commandID: "x", payload: [])) { e in
            XCTAssertEqual((e as? RequestFailure)?.code, .forbidden, "\(e)")
        }
    }

    func testAPartnerCertificateIsRefusedOnTheClientListener() throws {
        let port = Self.members[0].client.port
        XCTAssertThrowsError(try TLSClient(host: "127.0.0.1", port: port, context: try tls("thw"))
            .exchange(ClientRequest.status(id: 1).frame))
    }

    /// A mesh `hello` frame (Protocols/mesh.md).
    static func hello(cluster: String, from: UInt64, to: UInt64) -> ProtocolFrame {
        var w = ByteWriter()
        w.writeLengthPrefixed(cluster)
        w.writeVarint(from)
        w.writeVarint(to)
        return ProtocolFrame(kind: 1, body: w.bytes)
    }

    func testTheMeshRefusesOperatorsAndNodesSpeakingForOthers() throws {
        let mesh = Self.members[0].mesh.port
        // An operator certificate: refused in the TLS handshake.
        XCTAssertThrowsError(try TLSClient(host: "127.0.0.1", port: mesh, context: try tls("anna")).exchange(ProtocolFrame(kind: 1, body: [])))
        // A node certificate of this CA whose name is no member's: refused at the hello.
        let hello = Self.hello(cluster: "test", from: 2, to: 1)
        XCTAssertThrowsError(try TLSClient(host: "127.0.0.1", port: mesh, context: try tls("impostor"))
            .exchange(hello)) { e in
            XCTAssertTrue("\(e)".contains("may not speak for node 2"), "\(e)")
        }
        // Node 3's certificate claiming to be node 2: refused too.
        XCTAssertThrowsError(try TLSClient(host: "127.0.0.1", port: mesh, context: try tls("node3"))
            .exchange(hello))
        // Another cluster's name: refused.
        let other = Self.hello(cluster: "elsewhere", from: 2, to: 1)
        XCTAssertThrowsError(try TLSClient(host: "127.0.0.1", port: mesh, context: try tls("node2"))
            .exchange(other)) { e in
            XCTAssertTrue("\(e)".contains("cluster 'elsewhere'"), "\(e)")
        }
        // Garbage instead of a hello: an error frame, not a crash.
        XCTAssertThrowsError(try TLSClient(host: "127.0.0.1", port: mesh, context: try tls("node2"))
            .exchange(ProtocolFrame(kind: 3, body: [0xff, 0xff])))
        // The cluster still works.
        let c = try client()
        defer { c.close() }
        XCTAssertNotEqual(try c.status().leader, 0)
    }

    func testMalformedClientFramesGetAnErrorFrame() throws {
        let port = Self.members[1].client.port
        let t = try TLSClient(host: "127.0.0.1", port: port, context: try tls("anna"))
        XCTAssertThrowsError(try t.exchange(ProtocolFrame(kind: 1, body: [0x80]))) { e in
            XCTAssertTrue("\(e)".contains("peer error 1"), "\(e)")
        }
        let t2 = try TLSClient(host: "127.0.0.1", port: port, context: try tls("anna"))
        XCTAssertThrowsError(try t2.exchange(ProtocolFrame(kind: 77, body: [1])))
    }
}

/// Back-pressure on the client listener, in-process: large answers and slow readers.
extension NodeClusterTests {
    typealias Cluster = NodeClusterTests

    /// More than a megabyte of history: the subscription is paused while the connection is
    /// congested and must resume when it drains (it once stayed paused for good).
    func testASubscriptionWithAMegabytesBacklogDeliversEverything() throws {
        let c = try client()
        defer { c.close() }
        try c.createTopic("backlog", commandID: "backlog-topic")
        let big = [UInt8](repeating: 0x61, count: 60_000)
        for k in 0..<40 { _ = try c.publish(topic: "backlog", payload: big, commandID: "backlog-\(k)") }
        let got = Mutex<[UInt64]>([])
        let all = DispatchSemaphore(value: 0)
        let reader = try client()
        defer { reader.close() }
        reader.subscribe(topic: "backlog", from: 0) { event in
            if case .message(let m) = event, got.withLock({ $0.append(m.offset); return $0.count }) == 40 { all.signal() }
        }
        XCTAssertEqual(all.wait(timeout: .now() + 20), .success, "delivered \(got.withLock { $0.count }) of 40")
        XCTAssertEqual(got.withLock { $0 }, Array(0..<40))
    }

    /// A client that pipelines hundreds of large reads and reads nothing: the node stops reading
    /// its requests instead of buffering every answer, and serves others meanwhile.
    func testAPipeliningClientThatDoesNotReadCannotBalloonTheNode() throws {
        let c = try client()
        defer { c.close() }
        try c.createTopic("ballast", commandID: "ballast-topic")
        let big = [UInt8](repeating: 0x62, count: 100_000)
        for k in 0..<8 { _ = try c.publish(topic: "ballast", payload: big, commandID: "ballast-\(k)") }
        let node = Cluster.members[0].client
        let raw = try TLSClient(host: "127.0.0.1", port: node.port,
                                context: try TLSContext(.fromPKI(directory: Cluster.pki.url.path, name: "anna", accepting: [.node]), side: .client))
        _ = try raw.exchange(ClientRequest.status(id: 0).frame)
        let before = Self.rssMB()
        var batch: [UInt8] = []
        for k in 1...400 {
            batch += try ClientRequest.read(id: UInt64(k), topic: "ballast", from: 0, limit: 100, linearizable: false).frame.encode(maxPayloadSize: 1 << 20)
        }
        // 400 answers of 800 KB would be 320 MB; the node must hold back after a few.
        do { try raw.sendRaw(batch) } catch {}
        Thread.sleep(forTimeInterval: 1)
        let grown = Self.rssMB() - before
        XCTAssertLessThan(grown, 100, "the node buffered \(grown) MB for a client that does not read")
        XCTAssertNotEqual(try c.status().leader, 0, "others are still served")
        raw.close()
    }

    static func rssMB() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true)[1]) else { return 0 }
        return kb / 1024
    }
}

/// Revocation while connected: a CRL change re-verifies every open connection.
extension NodeClusterTests {
    func testARevokedClientIsCutOffWithoutARestartAndTheClusterCarriesOn() throws {
        try Self.pki.issue(role: .analyst, name: "carl")
        let port = Self.members[2].client.port
        let carl = try TLSClient(host: "127.0.0.1", port: port, context: try tls("carl"))
        guard case .status = try ClientReply.decode(try carl.exchange(ClientRequest.status(id: 1).frame)) else { return XCTFail("no status") }
        try Self.pki.revoke(name: "carl")
        // The node re-reads the CRL within a second and closes every connection it accepted.
        Thread.sleep(forTimeInterval: 2.5)
        XCTAssertThrowsError(try carl.exchange(ClientRequest.status(id: 2).frame), "a revoked client kept its connection")
        XCTAssertThrowsError(try TLSClient(host: "127.0.0.1", port: port, context: try tls("carl")).exchange(ClientRequest.status(id: 3).frame),
                             "a revoked client could connect again")
        // Everyone else reconnects (the mesh links too) and the cluster commits.
        let c = try client()
        defer { c.close() }
        try c.createTopic("after-crl", commandID: "after-crl-topic")
        XCTAssertEqual(try c.publish(topic: "after-crl", payload: [1], commandID: "after-crl-1"), 0)
    }
}
