import Foundation
import XCTest
@testable import Secure

/// The PKI tree checked by an independent verifier: the openssl command-line tool.
final class PKIDirectoryTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("florian-pki-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    @discardableResult
    private func openssl(_ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, out)
    }

    private func path(_ f: String) -> String { dir.appendingPathComponent(f).path }

    func testIssuedCertificatesVerifyAndRevokedOnesAreRefused() throws {
        let pki = PKIDirectory(dir.path)
        try pki.initialise()
        try pki.issue(role: .node, name: "node-1")
        try pki.issue(role: .partner, name: "thw-ov-frankfurt", organisation: "THW")
        try pki.revoke(name: "thw-ov-frankfurt")

        let good = try openssl(["verify", "-CAfile", path("ca.crt"), "-crl_check", "-CRLfile", path("crl.pem"), path("node-1.crt")])
        XCTAssertEqual(good.status, 0, good.output)
        let revoked = try openssl(["verify", "-CAfile", path("ca.crt"), "-crl_check", "-CRLfile", path("crl.pem"),
                                   path("thw-ov-frankfurt.crt")])
        XCTAssertNotEqual(revoked.status, 0)
        XCTAssertTrue(revoked.output.contains("revoked"), revoked.output)

        // The identity and role sit in the certificate.
        let subject = try openssl(["x509", "-in", path("thw-ov-frankfurt.crt"), "-noout", "-subject", "-ext", "subjectAltName"])
        XCTAssertTrue(subject.output.contains("O = THW"), subject.output)
        XCTAssertTrue(subject.output.contains("OU = partner"), subject.output)
        XCTAssertTrue(subject.output.contains("CN = thw-ov-frankfurt"), subject.output)
        XCTAssertTrue(subject.output.contains("DNS:thw-ov-frankfurt"), subject.output)
        // The key belongs to the certificate.
        let keyPub = try openssl(["pkey", "-in", path("node-1.key"), "-pubout"]).output
        let certPub = try openssl(["x509", "-in", path("node-1.crt"), "-noout", "-pubkey"]).output
        XCTAssertEqual(keyPub, certPub)
    }

    func testKeysAreOwnerOnlyAndNeverOverwritten() throws {
        let pki = PKIDirectory(dir.path)
        try pki.initialise()
        try pki.issue(role: .operator, name: "anna.schmidt")
        for key in ["ca.key", "anna.schmidt.key"] {
            let mode = try FileManager.default.attributesOfItem(atPath: path(key))[.posixPermissions] as? Int
            XCTAssertEqual(mode, 0o600, key)
        }
        XCTAssertThrowsError(try pki.issue(role: .operator, name: "anna.schmidt"))
        XCTAssertThrowsError(try pki.initialise(), "a second init must not replace the CA")
    }

    func testRefusesBadInputAndAnExposedCAKey() throws {
        let pki = PKIDirectory(dir.path)
        XCTAssertThrowsError(try pki.issue(role: .node, name: "n1"), "no CA yet")
        try pki.initialise()
        for bad in ["", "../x", "-rf", ".hidden", "a/b", "ca", String(repeating: "x", count: 65), "name with space"] {
            XCTAssertThrowsError(try pki.issue(role: .node, name: bad), bad)
        }
        XCTAssertThrowsError(try pki.revoke(name: "never-issued"))
        try pki.issue(role: .station, name: "wache-1")
        try pki.revoke(name: "wache-1")
        XCTAssertThrowsError(try pki.revoke(name: "wache-1"), "revoking twice")
        chmod(path("ca.key"), 0o644)
        XCTAssertThrowsError(try pki.issue(role: .node, name: "n2")) { error in
            XCTAssertTrue("\(error)".contains("readable by group or others"), "\(error)")
        }
    }
}
