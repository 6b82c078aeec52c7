import Foundation
import Synchronization
import Wire
import XCTest
@testable import Secure

/// The listener over real sockets on 127.0.0.1: bad peers are refused with a logged reason while
/// a good client keeps being served; bounded waits; and OpenSSL's own s_client as a peer.
final class TLSListenerTests: XCTestCase {
    private static let root = FileManager.default.temporaryDirectory.appendingPathComponent("florian-tlsl-\(UUID().uuidString)")
    private static var city: PKIDirectory { PKIDirectory(root.appendingPathComponent("city").path) }
    private static var foreign: PKIDirectory { PKIDirectory(root.appendingPathComponent("foreign").path) }

    override class func setUp() {
        do {
            try city.initialise()
            try foreign.initialise(organisation: "Elsewhere")
            for n in ["node-1", "node-2", "revoked"] { try city.issue(role: .node, name: n) }
            try city.issue(role: .operator, name: "node-3")
            try city.issue(role: .node, name: "expired", validFrom: Date().addingTimeInterval(-10 * 86_400),
                           validUntil: Date().addingTimeInterval(-86_400))
            try city.issue(role: .node, name: "future", validFrom: Date().addingTimeInterval(86_400),
                           validUntil: Date().addingTimeInterval(10 * 86_400))
            try city.issue(role: .partner, name: "drk-kv", organisation: "DRK")
            try city.revoke(name: "revoked")
            try foreign.issue(role: .node, name: "node-9")
        } catch {
            XCTFail("PKI setup: \(error)")
        }
    }

    override class func tearDown() { try? FileManager.default.removeItem(at: root) }

    final class Log: Sendable {
        let lines = Mutex<[String]>([])
        func add(_ s: String) { lines.withLock { $0.append(s) } }
        func contains(_ s: String) -> Bool { lines.withLock { $0.contains { $0.contains(s) } } }
    }

    private func listener(_ log: Log, limits: TLSLimits = TLSLimits()) throws -> TLSListener {
        let ctx = try TLSContext(.fromPKI(directory: Self.city.url.path, name: "node-1", accepting: [.node]), side: .server)
        return try TLSListener(context: ctx, limits: limits, log: { log.add($0) }) { peer, frame in
            ProtocolFrame(kind: frame.kind, body: Array("\(peer.name):".utf8) + frame.body)  // echo with the peer's name
        }
    }

    private func client(_ name: String, pki: PKIDirectory = city, port: UInt16, tls12: Bool = false) throws -> TLSClient {
        var c = TLSConfiguration.fromPKI(directory: pki.url.path, name: name, accepting: [.node])
        c.caFile = Self.city.url.appendingPathComponent("ca.crt").path
        c.crlFile = Self.city.url.appendingPathComponent("crl.pem").path
        return try TLSClient(host: "127.0.0.1", port: port,
                             context: try TLSContext(c, side: .client, tls12OnlyForTesting: tls12), timeout: .seconds(3))
    }

    private func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return condition()
    }

    private func rawConnect(_ port: UInt16) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var tv = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    func testBadPeersAreRefusedWhileAGoodClientIsServed() throws {
        let log = Log()
        let l = try listener(log)
        defer { l.stop() }
        let good = try client("node-2", port: l.port)
        XCTAssertEqual(try good.exchange(ProtocolFrame(kind: 1, body: [7])).body, Array("node-2:".utf8) + [7])

        let table: [(row: String, name: String, pki: PKIDirectory, tls12: Bool, logged: String)] = [
            ("certificate of another CA", "node-9", Self.foreign, false, "unable to get local issuer"),
            ("self-signed client", "ca", Self.foreign, false, "self-signed"),
            ("expired", "expired", Self.city, false, "expired"),
            ("not yet valid", "future", Self.city, false, "not yet valid"),
            ("revoked", "revoked", Self.city, false, "revoked"),
            ("partner on the mesh port", "drk-kv", Self.city, false, "role is not accepted"),
            ("operator claiming a node id", "node-3", Self.city, false, "role is not accepted"),
            ("TLS 1.2-only client", "node-2", Self.city, true, "unsupported protocol"),
        ]
        for r in table {
            var refused = false
            do {
                let bad = try client(r.name, pki: r.pki, port: l.port, tls12: r.tls12)
                _ = try bad.exchange(ProtocolFrame(kind: 1, body: [1]))
            } catch {
                refused = true
            }
            XCTAssertTrue(refused, "\(r.row) was served")
            XCTAssertTrue(waitUntil(2) { log.contains(r.logged) }, "\(r.row): no refusal mentioning '\(r.logged)' in the log")
            // The good client is still served in between.
            XCTAssertEqual(try good.exchange(ProtocolFrame(kind: 2, body: [9])).body, Array("node-2:".utf8) + [9])
        }
        // Random garbage on the socket: refused and logged, the good client still served.
        let garbage = rawConnect(l.port)
        let noise = (0..<600).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
        _ = noise.withUnsafeBytes { send(garbage, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var b = [UInt8](repeating: 0, count: 1024)
        XCTAssertLessThanOrEqual(recv(garbage, &b, b.count, 0), 7 + 64, "garbage got more than an alert")
        close(garbage)
        XCTAssertTrue(waitUntil(2) { log.lines.withLock { $0.filter { $0.contains("refused") }.count } >= table.count + 1 })
        XCTAssertEqual(try good.exchange(ProtocolFrame(kind: 3, body: [3])).kind, 3)
    }

    func testPlaintextGarbageStallsAndIdleCrowdsAreCutOffBoundedly() throws {
        let log = Log()
        var limits = TLSLimits()
        limits.handshakeTimeout = .seconds(1)
        let l = try listener(log, limits: limits)
        defer { l.stop() }
        // Plaintext HTTP: refused, and not one byte of application data comes back.
        let plain = rawConnect(l.port)
        _ = "GET / HTTP/1.1\r\n\r\n".withCString { send(plain, $0, 18, Int32(MSG_NOSIGNAL)) }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = recv(plain, &buf, buf.count, 0)
        XCTAssertLessThanOrEqual(n, 7 + 64, "more than an alert came back to a plaintext client")
        close(plain)
        // 500 connections that never speak, and a client that stalls: all cut off by the
        // handshake deadline while a good client is served.
        let idle = (0..<500).map { _ in rawConnect(l.port) }
        let good = try client("node-2", port: l.port)
        XCTAssertEqual(try good.exchange(ProtocolFrame(kind: 1, body: [1])).kind, 1)
        for fd in idle {
            var b: UInt8 = 0
            XCTAssertEqual(recv(fd, &b, 1, 0), 0, "an idle connection was not closed by the handshake deadline")
            close(fd)
        }
        XCTAssertTrue(log.contains("handshake timed out"))
        XCTAssertEqual(try good.exchange(ProtocolFrame(kind: 3, body: [3])).kind, 3)
    }

    func testOversizeFrameGetsAnErrorFrameAndAClose() throws {
        let log = Log()
        var limits = TLSLimits()
        limits.maxFrameSize = 1024
        let l = try listener(log, limits: limits)
        defer { l.stop() }
        let c = try client("node-2", port: l.port)
        XCTAssertEqual(try c.exchange(ProtocolFrame(kind: 1, body: [1])).kind, 1)
        try c.sendRaw([0, 1, 0, 0])  // announces 65536 bytes
        XCTAssertThrowsError(try c.exchange(ProtocolFrame(kind: 1, body: []))) { error in
            guard case TLSClient.Failure.peerError(let code, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(code, ProtocolFrame.ErrorCode.tooLarge.rawValue)
        }
        XCTAssertTrue(waitUntil(2) { log.contains("frame refused") })
    }

    func testOpenSSLClientIsRefusedWithAForeignCertificateAndServedWithAGoodOne() throws {
        let log = Log()
        let l = try listener(log)
        defer { l.stop() }
        func sClient(_ name: String, _ pki: PKIDirectory) throws -> (status: Int32, out: [UInt8]) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            p.arguments = ["s_client", "-connect", "127.0.0.1:\(l.port)", "-quiet", "-no_ign_eof", "-tls1_3",
                           "-cert", pki.url.appendingPathComponent("\(name).crt").path,
                           "-key", pki.url.appendingPathComponent("\(name).key").path,
                           "-CAfile", Self.city.url.appendingPathComponent("ca.crt").path]
            let input = Pipe(), output = Pipe()
            p.standardInput = input
            p.standardOutput = output
            p.standardError = Pipe()
            try p.run()
            let frame = try ProtocolFrame(kind: 5, body: Array("hallo".utf8)).encode(maxPayloadSize: 1024)
            input.fileHandleForWriting.write(Data(frame))
            Thread.sleep(forTimeInterval: 1.0)
            try input.fileHandleForWriting.close()
            let out = [UInt8](output.fileHandleForReading.readDataToEndOfFile())
            p.waitUntilExit()
            return (p.terminationStatus, out)
        }
        let good = try sClient("node-2", Self.city)
        var decoder = FrameDecoder(maxPayloadSize: 1024)
        let answer = try decoder.feed(good.out).first.map(ProtocolFrame.decode)
        XCTAssertEqual(answer?.body, Array("node-2:hallo".utf8), "s_client with a city certificate got \(good.out)")
        let bad = try sClient("node-9", Self.foreign)
        XCTAssertTrue(bad.out.isEmpty, "s_client with a foreign certificate got application data")
        XCTAssertTrue(waitUntil(2) { log.contains("unable to get local issuer") })
    }

    func testARevocationTakesEffectWithoutARestart() throws {
        let log = Log()
        let l = try listener(log)
        defer { l.stop() }
        try Self.city.issue(role: .node, name: "node-7")
        Thread.sleep(forTimeInterval: 0.05)
        XCTAssertEqual(try client("node-7", port: l.port).exchange(ProtocolFrame(kind: 1, body: [])).kind, 1)
        try Self.city.revoke(name: "node-7")
        XCTAssertTrue(waitUntil(3) { log.contains("reloaded") }, "the listener did not re-read the CRL")
        XCTAssertThrowsError(try client("node-7", port: l.port).exchange(ProtocolFrame(kind: 1, body: [])))
    }

    func testAClientThatDoesNotReadIsHeldBackNotBuffered() throws {
        let log = Log()
        var limits = TLSLimits()
        limits.maxBufferedBytes = 256 << 10
        let l = try listener(log, limits: limits)
        defer { l.stop() }
        let c = try client("node-2", port: l.port)
        // Requests whose answers it never reads: the listener stops reading from it, and its
        // buffered answers stay bounded; the connection ends instead of the memory growing.
        let big = try ProtocolFrame(kind: 1, body: [UInt8](repeating: 1, count: 60_000)).encode(maxPayloadSize: 1 << 20)
        var sendFailed = false
        for _ in 0..<400 {
            do { try c.sendRaw(big) } catch { sendFailed = true; break }
        }
        XCTAssertTrue(sendFailed, "the listener kept reading from a client that never reads its answers")
        XCTAssertFalse(log.contains("does not read"), "held back, not dropped, while its answers stay under the limit")
        let other = try client("node-2", port: l.port)
        XCTAssertEqual(try other.exchange(ProtocolFrame(kind: 1, body: [5])).kind, 1, "others must still be served")
    }
}
