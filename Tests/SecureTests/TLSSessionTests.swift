import Foundation
import Wire
import XCTest
@testable import Secure

/// The rejection table, in memory (two TLS sessions joined by their ciphertext): every bad peer
/// is refused during the handshake with a reason, and never gets or gives application data.
final class TLSSessionTests: XCTestCase {
    private static let root = FileManager.default.temporaryDirectory.appendingPathComponent("florian-tls-\(UUID().uuidString)")
    private static var city: PKIDirectory { PKIDirectory(root.appendingPathComponent("city").path) }
    private static var foreign: PKIDirectory { PKIDirectory(root.appendingPathComponent("foreign").path) }
    nonisolated(unsafe) private static var prepared = false

    override class func setUp() {
        do {
            try city.initialise()
            try foreign.initialise(organisation: "Somewhere Else")
            try city.issue(role: .node, name: "node-1")
            try city.issue(role: .node, name: "node-2")
            try city.issue(role: .partner, name: "drk-kv", organisation: "DRK")
            try city.issue(role: .operator, name: "node-3")  // an operator certificate claiming a node id
            try city.issue(role: .node, name: "expired", validFrom: Date().addingTimeInterval(-10 * 86_400),
                           validUntil: Date().addingTimeInterval(-86_400))
            try city.issue(role: .node, name: "future", validFrom: Date().addingTimeInterval(86_400),
                           validUntil: Date().addingTimeInterval(10 * 86_400))
            try city.issue(role: .node, name: "revoked")
            try city.revoke(name: "revoked")
            try foreign.issue(role: .node, name: "node-9")
            prepared = true
        } catch {
            XCTFail("PKI setup: \(error)")
        }
    }

    override class func tearDown() { try? FileManager.default.removeItem(at: root) }

    private func server() throws -> TLSSession {
        let c = TLSConfiguration.fromPKI(directory: Self.city.url.path, name: "node-1", accepting: [.node])
        return try TLSSession(context: try TLSContext(c, side: .server), side: .server)
    }

    private func client(_ name: String, pki: PKIDirectory = city, tls12: Bool = false) throws -> TLSSession {
        var c = TLSConfiguration.fromPKI(directory: pki.url.path, name: name, accepting: [.node])
        c.caFile = Self.city.url.appendingPathComponent("ca.crt").path  // the client trusts the city CA
        c.crlFile = Self.city.url.appendingPathComponent("crl.pem").path
        return try TLSSession(context: try TLSContext(c, side: .client, tls12OnlyForTesting: tls12), side: .client)
    }

    /// Moves ciphertext both ways and advances both handshakes; returns their failures.
    private func pump(_ a: TLSSession, _ b: TLSSession) -> (a: TLSSessionError?, b: TLSSessionError?) {
        var fa: TLSSessionError?, fb: TLSSessionError?
        for _ in 0..<20 {
            if fa == nil { do { try a.handshake() } catch { fa = error } }
            _ = b.receiveCiphertext(a.takeCiphertext()[...])
            if fb == nil { do { try b.handshake() } catch { fb = error } }
            _ = a.receiveCiphertext(b.takeCiphertext()[...])
        }
        return (fa, fb)
    }

    func testGoodPeersExchangeAFrameAndKnowEachOther() throws {
        XCTAssertTrue(Self.prepared)
        let c = try client("node-2"), s = try server()
        let (fc, fs) = pump(c, s)
        XCTAssertNil(fc)
        XCTAssertNil(fs)
        XCTAssertEqual(s.peer, PeerIdentity(role: .node, organisation: PKIDirectory.defaultOrganisation, name: "node-2"))
        XCTAssertEqual(c.peer?.name, "node-1")
        let hello = try ProtocolFrame(kind: 1, body: Array("hello".utf8)).encode(maxPayloadSize: 1024)
        try c.writePlaintext(hello)
        _ = s.receiveCiphertext(c.takeCiphertext()[...])
        XCTAssertEqual(try s.readPlaintext(), hello)
    }

    func testEveryBadClientIsRefusedInTheHandshake() throws {
        XCTAssertTrue(Self.prepared)
        let table: [(String, () throws -> TLSSession, String)] = [
            ("certificate of another CA", { try self.client("node-9", pki: Self.foreign) }, "unable to get local issuer"),
            ("self-signed client", { try self.client("ca", pki: Self.foreign) }, "self-signed"),
            ("expired", { try self.client("expired") }, "expired"),
            ("not yet valid", { try self.client("future") }, "not yet valid"),
            ("revoked", { try self.client("revoked") }, "revoked"),
            ("partner on the mesh port", { try self.client("drk-kv") }, "role is not accepted"),
            ("operator claiming a node id", { try self.client("node-3") }, "role is not accepted"),
            ("TLS 1.2-only client", { try self.client("node-2", tls12: true) }, "unsupported protocol"),
        ]
        for (row, makeClient, reason) in table {
            let c = try makeClient(), s = try server()
            let (_, fs) = pump(c, s)
            guard case .handshakeFailed(let why)? = fs else {
                XCTFail("\(row): the server accepted the handshake (\(String(describing: fs)))")
                continue
            }
            XCTAssertTrue(why.contains(reason), "\(row): reason '\(why)' does not mention '\(reason)'")
            XCTAssertNil(s.peer, "\(row): a refused peer must have no identity")
            // The client learns it at the latest on its first read; no application byte arrives.
            var clientSaw: [UInt8] = []
            var clientError: TLSSessionError?
            do { clientSaw = try c.readPlaintext() } catch { clientError = error }
            XCTAssertTrue(clientSaw.isEmpty, "\(row): application data reached a refused client")
            XCTAssertTrue(clientError != nil || !c.isHandshakeComplete, "\(row): the client was not told")
        }
    }

    func testPlaintextAndGarbageAreRefused() throws {
        for bytes in [Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), (0..<512).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }] {
            let s = try server()
            _ = s.receiveCiphertext(bytes[...])
            XCTAssertThrowsError(try s.handshake())
            XCTAssertNil(s.peer)
        }
    }

    func testAKeyReadableByOthersRefusesToStart() throws {
        let pki = PKIDirectory(Self.root.appendingPathComponent("loose").path)
        try pki.initialise()
        try pki.issue(role: .node, name: "n1")
        chmod(pki.url.appendingPathComponent("n1.key").path, 0o640)
        XCTAssertThrowsError(try TLSContext(TLSConfiguration.fromPKI(directory: pki.url.path, name: "n1", accepting: [.node]),
                                            side: .server)) { error in
            XCTAssertTrue("\(error)".contains("readable by group or others"), "\(error)")
        }
    }

    func testMissingOrBrokenFilesAreRefusedWithTheirNames() throws {
        let pki = PKIDirectory(Self.root.appendingPathComponent("broken").path)
        try pki.initialise()
        try pki.issue(role: .node, name: "n1")
        let good = TLSConfiguration.fromPKI(directory: pki.url.path, name: "n1", accepting: [.node])
        var cases: [(TLSConfiguration, String)] = []
        var c = good
        c.caFile = "/nonexistent/ca.crt"
        cases.append((c, "/nonexistent/ca.crt"))
        c = good
        c.certificateFile = "/nonexistent/n1.crt"
        cases.append((c, "/nonexistent/n1.crt"))
        c = good
        c.crlFile = pki.url.appendingPathComponent("n1.crt").path
        cases.append((c, "CRL"))
        // Many times over: a failed setup must free what it built exactly once.
        for _ in 0..<50 {
            for (config, expected) in cases {
                for side in [TLSContext.Side.server, .client] {
                    XCTAssertThrowsError(try TLSContext(config, side: side)) { XCTAssertTrue("\($0)".contains(expected), "\($0)") }
                }
            }
        }
    }
}
