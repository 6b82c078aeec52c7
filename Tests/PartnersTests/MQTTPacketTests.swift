import XCTest
@testable import Partners

/// The MQTT 3.1.1 codec against the spec's rules and examples (section numbers and statement ids
/// of OASIS MQTT 3.1.1).
final class MQTTPacketTests: XCTestCase {
    typealias P = MQTTPacket

    func roundTrip(_ p: P, asClient: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws {
        let bytes = p.encode()
        let f = try XCTUnwrap(try P.frame(in: bytes[...], limit: 1 << 20), file: file, line: line)
        XCTAssertEqual(f.total, bytes.count, file: file, line: line)
        XCTAssertEqual(try P.decode(header: f.header, body: bytes[f.body], asClient: asClient), p, file: file, line: line)
        // Every proper prefix is "need more" (frame) or malformed (decode of a cut body), never a crash.
        for n in 0..<bytes.count {
            if let g = try P.frame(in: bytes[..<n], limit: 1 << 20) { XCTFail("prefix \(n) framed as \(g)", file: file, line: line) }
        }
    }

    func testEveryPacketRoundTrips() throws {
        let will = P.Will(topic: "florian/partners/THW/status", message: Array("offline".utf8), qos: .atLeastOnce, retain: true)
        try roundTrip(.connect(.init(clientID: "thw-ov-frankfurt", cleanSession: false, keepAlive: 30, will: will, userName: "u", password: [1, 2])))
        try roundTrip(.connect(.init(clientID: "", cleanSession: true, keepAlive: 0)))
        try roundTrip(.connack(sessionPresent: true, code: .accepted), asClient: true)
        try roundTrip(.connack(sessionPresent: false, code: .notAuthorized), asClient: true)
        try roundTrip(.publish(.init(topic: "florian/alerts/fire", payload: Array(repeating: 7, count: 300), qos: .exactlyOnce, retain: true, dup: true, packetID: 65535)))
        try roundTrip(.publish(.init(topic: "a", payload: [], qos: .atMostOnce)))
        for p in [P.puback(1), .pubrec(2), .pubrel(3), .pubcomp(4), .unsuback(5)] { try roundTrip(p, asClient: true) }
        try roundTrip(.subscribe(packetID: 10, filters: [.init("florian/alerts/#", .exactlyOnce), .init("+/x", .atMostOnce)]))
        try roundTrip(.suback(packetID: 10, codes: [0, 1, 2, 0x80]), asClient: true)
        try roundTrip(.unsubscribe(packetID: 11, filters: ["a/+", "#"]))
        for p in [P.pingreq, .disconnect] { try roundTrip(p) }
        try roundTrip(.pingresp, asClient: true)
    }

    /// Table 2.4: the remaining length's byte counts at each boundary, and the five-byte form refused.
    func testRemainingLengthBoundaries() throws {
        for (n, size) in [(0, 1), (127, 1), (128, 2), (16_383, 2), (16_384, 3), (2_097_151, 3), (2_097_152, 4)] {
            let p = P.publish(.init(topic: "t", payload: Array(repeating: 0, count: n - 3 < 0 ? 0 : n - 3), qos: .atMostOnce))
            let bytes = p.encode()
            if n >= 3 {
                XCTAssertEqual(bytes.count, 1 + size + n, "length \(n)")
                let f = try XCTUnwrap(try P.frame(in: bytes[...], limit: 1 << 23))
                XCTAssertEqual(f.body.count, n)
            }
        }
        XCTAssertThrowsError(try P.frame(in: [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01][...], limit: .max))
        // A packet over the limit is refused as soon as its length is known, before its body.
        XCTAssertThrowsError(try P.frame(in: [0x30, 0x80, 0x80, 0x01][...], limit: 1000)) { e in
            XCTAssertTrue("\(e)".contains("exceeds the limit"), "\(e)")
        }
    }

    func malformed(_ header: UInt8, _ body: [UInt8], _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try P.decode(header: header, body: body[...]), file: file, line: line) { e in
            XCTAssertTrue("\(e)".contains(fragment), "\(e) lacks \"\(fragment)\"", file: file, line: line)
        }
    }

    func testMalformedPacketsAreRefusedWithTheRule() {
        // Reserved flags (MQTT-2.2.2-2).
        malformed(0x11, [], "CONNECT with flags 1")
        malformed(0x60, [0, 1], "PUBREL with flags 0")
        malformed(0x80, [0, 1, 0, 1, 0x61, 0], "SUBSCRIBE with flags 0")
        malformed(0xA0, [0, 1, 0, 1, 0x61], "UNSUBSCRIBE with flags 0")
        malformed(0xC1, [], "PINGREQ with flags 1")
        // PUBLISH: QoS 3, DUP with QoS 0, wildcards in the name, packet id 0, UTF-8 rules.
        malformed(0x36, [0, 1, 0x61, 0, 1], "QoS 3")
        malformed(0x38, [0, 1, 0x61], "DUP")
        malformed(0x30, [0, 3, 0x61, 0x2F, 0x23], "wildcard")
        malformed(0x30, [0, 1, 0x2B], "wildcard")
        malformed(0x32, [0, 1, 0x61, 0, 0], "packet identifier 0")
        malformed(0x30, [0, 3, 0xED, 0xA0, 0x80], "not well-formed UTF-8")
        malformed(0x30, [0, 2, 0x61, 0x00], "U+0000")
        malformed(0x30, [0, 0], "empty topic name")
        malformed(0x30, [0, 9, 0x61], "longer than the packet")
        // SUBSCRIBE: no filter, reserved QoS bits, QoS 3, bad filters.
        malformed(0x82, [0, 1], "without a topic filter")
        malformed(0x82, [0, 1, 0, 1, 0x61, 0x04], "requested QoS byte 4")
        malformed(0x82, [0, 1, 0, 1, 0x61, 0x03], "requested QoS byte 3")
        malformed(0x82, [0, 1] + [0, 3] + Array("a/#".utf8) + [0] + [0, 5] + Array("a/#/b".utf8) + [0], "# must stand alone")
        malformed(0x82, [0, 1, 0, 2] + Array("a#".utf8) + [0], "# must stand alone")
        malformed(0x82, [0, 1, 0, 4] + Array("a+/b".utf8) + [0], "+ must fill")
        malformed(0xA2, [0, 1], "without a topic filter")
        // Acks: exact length.
        malformed(0x40, [0, 1, 0], "too many")
        malformed(0x40, [0], "ends inside")
        // Types a client must not send, reserved types.
        malformed(0x20, [0, 0], "servers only")
        malformed(0x00, [], "reserved packet type 0")
        malformed(0xF0, [], "reserved packet type 15")
    }

    func connect(flags: UInt8, level: UInt8 = 4, name: String = "MQTT", payload: [UInt8] = [0, 1, 0x63]) -> [UInt8] {
        [0, UInt8(name.utf8.count)] + Array(name.utf8) + [level, flags, 0, 60] + payload
    }

    func testConnectRules() throws {
        malformed(0x10, connect(flags: 0x02, name: "MQIsdp"), "protocol name")
        malformed(0x10, connect(flags: 0x03), "reserved flag")
        malformed(0x10, connect(flags: 0x08), "will QoS/retain without a will")
        malformed(0x10, connect(flags: 0x20), "will QoS/retain without a will")
        malformed(0x10, connect(flags: 0x1C, payload: [0, 1, 0x63, 0, 1, 0x74, 0, 0]), "will QoS 3")
        malformed(0x10, connect(flags: 0x40), "password without user name")
        malformed(0x10, connect(flags: 0x02, payload: [0, 1, 0x63, 9]), "bytes too many")
        malformed(0x10, connect(flags: 0x06, payload: [0, 1, 0x63, 0, 1, 0x23, 0, 0]), "wildcard")
        // Another protocol level: decoded, so the server can answer CONNACK 1 (MQTT-3.1.2-2).
        guard case .connect(let c) = try P.decode(header: 0x10, body: connect(flags: 0x02, level: 3)[...]) else { return XCTFail() }
        XCTAssertEqual(c.protocolLevel, 3)
        guard case .connect(let d) = try P.decode(header: 0x10, body: connect(flags: 0x02)[...]) else { return XCTFail() }
        XCTAssertEqual(d, .init(clientID: "c", cleanSession: true, keepAlive: 60))
    }

    /// The examples of 4.7.1.2, 4.7.1.3 and 4.7.2.
    func testTopicMatchingFollowsTheSpecExamples() {
        let yes: [(String, String)] = [
            ("sport/tennis/player1/#", "sport/tennis/player1"), ("sport/tennis/player1/#", "sport/tennis/player1/ranking"),
            ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"), ("sport/#", "sport"), ("#", "sport/tennis"),
            ("sport/tennis/+", "sport/tennis/player1"), ("sport/+", "sport/"), ("+/+", "/finance"), ("/+", "/finance"),
            ("+/tennis/#", "sport/tennis/player1"), ("$SYS/#", "$SYS/monitor/Clients"), ("$SYS/monitor/+", "$SYS/monitor/Clients"),
            ("a/b", "a/b"), ("+", "a"), ("a//c", "a//c"), ("a/+/c", "a//c"),
        ]
        let no: [(String, String)] = [
            ("sport/tennis/+", "sport/tennis/player1/ranking"), ("sport/+", "sport"), ("+", "/finance"),
            ("#", "$SYS/monitor/Clients"), ("+/monitor/Clients", "$SYS/monitor/Clients"), ("a/b", "a/b/c"), ("a/b/c", "a/b"),
            ("A/b", "a/b"), ("+/+", "a"),
        ]
        for (f, t) in yes { XCTAssertTrue(P.matches(filter: f, topic: t), "\(f) should match \(t)") }
        for (f, t) in no { XCTAssertFalse(P.matches(filter: f, topic: t), "\(f) should not match \(t)") }
    }

    /// The byte-level matcher agrees with the plain definition — levels split at '/', `{org}`
    /// replaced first — on random valid filters and topics, including `$` topics, empty levels
    /// and the placeholder.
    func testTheMatcherAgreesWithTheDefinitionOnRandomFiltersAndTopics() {
        func reference(_ filter: String, _ topic: String, _ org: String?) -> Bool {
            let fl = (org.map { filter.replacingOccurrences(of: "{org}", with: $0) } ?? filter).split(separator: "/", omittingEmptySubsequences: false)
            let tl = topic.split(separator: "/", omittingEmptySubsequences: false)
            if topic.hasPrefix("$"), let first = fl.first, first == "#" || first == "+" { return false }
            var i = 0
            while i < fl.count {
                if fl[i] == "#" { return true }
                guard i < tl.count else { return false }
                if fl[i] != "+" && fl[i] != tl[i] { return false }
                i += 1
            }
            return i == tl.count
        }
        var rng = Xorshift(seed: 20261127)
        let words = ["a", "b", "THW", "ä", "", "$SYS", "florian", "THWx", "x{org}"]
        for _ in 0..<50_000 {
            let levels = Int(rng.next() % 4) + 1
            var topic = (0..<levels).map { _ in words[Int(rng.next() % UInt64(words.count))] }
            if topic == [""] { topic = ["a"] }
            var filter = topic.map { w -> String in
                switch rng.next() % 6 { case 0: "+"; case 1: "{org}"; case 2: words[Int(rng.next() % UInt64(words.count))]; default: w }
            }
            if rng.next() % 3 == 0 { filter = Array(filter.prefix(Int(rng.next() % UInt64(filter.count + 1)))) + ["#"] }
            if rng.next() % 5 == 0, filter.last != "#" { filter.append("b") }
            let f = filter.joined(separator: "/"), t = topic.joined(separator: "/")
            let org: String? = rng.next() % 2 == 0 ? "THW" : nil
            XCTAssertEqual(P.matches(filter: f, topic: t, org: org), reference(f, t, org), "filter \(f) topic \(t) org \(org ?? "-")")
        }
    }

    struct Xorshift {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state
        }
    }

    /// Random bytes and corrupted packets: every outcome is a packet, "need more" or an error.
    func testRandomBytesNeverCrash() {
        var rng = SystemRandomNumberGenerator()
        let valid = P.publish(.init(topic: "florian/alerts/x", payload: Array(repeating: 1, count: 40), qos: .atLeastOnce, packetID: 9)).encode()
        for i in 0..<30_000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                bytes = valid
                for _ in 0..<Int.random(in: 1...4, using: &rng) { bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            }
            if let f = try? P.frame(in: bytes[...], limit: 4096) { _ = try? P.decode(header: f.header, body: bytes[f.body]) }
        }
    }
}
