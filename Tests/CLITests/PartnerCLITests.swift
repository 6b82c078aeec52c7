import Foundation
import XCTest

/// `florian cap validate` (one line per file, exit status) and `florian rights apply/show`
/// against `florian demo` (which applies the sample rights and writes rights.json).
final class PartnerCLITests: XCTestCase {
    func testCapValidateSaysValidOrWhyNotPerFile() throws {
        guard FileManager.default.isExecutableFile(atPath: SimulateCommandTests.binary.path) else { throw XCTSkip("no release binary") }
        let dir = tempDir("cap")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let good = SimulateCommandTests.packageRoot.appendingPathComponent("Protocols/examples/cap-frankfurt-fire.xml").path
        let text = try String(contentsOfFile: good, encoding: .utf8)
        let old = dir.appendingPathComponent("cap11.xml").path
        try text.replacingOccurrences(of: "cap:1.2", with: "cap:1.1").write(toFile: old, atomically: true, encoding: .utf8)
        let zulu = dir.appendingPathComponent("zulu.xml").path
        try text.replacingOccurrences(of: "2024-07-18T14:32:00+02:00", with: "2024-07-18T12:32:00Z").write(toFile: zulu, atomically: true, encoding: .utf8)
        let xxe = dir.appendingPathComponent("xxe.xml").path
        try "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">&x;</alert>"
            .write(toFile: xxe, atomically: true, encoding: .utf8)

        let one = try run(SimulateCommandTests.binary, ["cap", "validate", good], limit: 30)
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertEqual(one.stdout, "\(good): valid\n")
        let all = try run(SimulateCommandTests.binary, ["cap", "validate", good, old, zulu, xxe, dir.appendingPathComponent("missing.xml").path], limit: 30)
        XCTAssertEqual(all.status, 1)
        let lines = all.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 5, all.stdout)
        XCTAssertEqual(lines[0], "\(good): valid")
        XCTAssertEqual(lines[1], "\(old): invalid: CAP 1.1 document, not 1.2")
        XCTAssertTrue(lines[2].hasPrefix("\(zulu): invalid: alert/sent"), lines[2])
        XCTAssertTrue(lines[3].contains("DOCTYPE"), lines[3])
        XCTAssertTrue(lines[4].hasSuffix("invalid: cannot read the file"), lines[4])
        // Oversize: refused by its size, before it is read.
        let big = dir.appendingPathComponent("big.xml").path
        try Data(count: 3_000_000).write(to: URL(fileURLWithPath: big))
        let huge = try run(SimulateCommandTests.binary, ["cap", "validate", big], limit: 30)
        XCTAssertEqual(huge.status, 1)
        XCTAssertEqual(huge.stdout, "\(big): invalid: the document is 3000000 bytes, above the limit of 1048576\n")
    }

    func testTheDemoAppliesRightsAndAnOperatorCanReplaceThem() throws {
        guard FileManager.default.isExecutableFile(atPath: SimulateCommandTests.binary.path) else { throw XCTSkip("no release binary") }
        let dir = tempDir("rights")
        let (demo, _) = try startDemo(dir, [])
        defer { demo.terminate(); demo.waitUntilExit() }
        let cluster = dir.appendingPathComponent("cluster.json").path
        let rightsFile = dir.appendingPathComponent("rights.json")
        XCTAssertTrue(FileManager.default.fileExists(atPath: rightsFile.path), "rights.json beside cluster.json")
        var shown = try run(SimulateCommandTests.binary, ["rights", "--cluster", cluster, "show"], limit: 30)
        XCTAssertEqual(shown.status, 0, shown.stderr)
        XCTAssertTrue(shown.stdout.contains("\"certificateO\":\"THW Ortsverband Frankfurt\""), shown.stdout)
        // A new document replaces it; a broken one is refused before it is sent.
        let one = dir.appendingPathComponent("one.json")
        try #"{"organisations": [{"id": "THW", "certificateO": "THW Ortsverband Frankfurt", "publish": {"allow": ["florian/partners/{org}/#"], "deny": []}, "subscribe": {"allow": ["florian/alerts/#"], "deny": []}, "maxMessageBytes": 1000, "messagesPerSecond": 10}]}"#
            .write(to: one, atomically: true, encoding: .utf8)
        let applied = try run(SimulateCommandTests.binary, ["rights", "--cluster", cluster, "apply", one.path], limit: 30)
        XCTAssertEqual(applied.status, 0, applied.stderr)
        XCTAssertTrue(applied.stdout.contains("1 organisations: THW"), applied.stdout)
        shown = try run(SimulateCommandTests.binary, ["rights", "--cluster", cluster, "show"], limit: 30)
        XCTAssertTrue(shown.stdout.contains("\"maxMessageBytes\":1000"), shown.stdout)
        XCTAssertFalse(shown.stdout.contains("POLIZEI"), shown.stdout)
        let bad = dir.appendingPathComponent("bad.json")
        try #"{"organisations": [{"id": "THW OV", "certificateO": "x", "publish": {"allow": [], "deny": []}, "subscribe": {"allow": ["a/#/b"], "deny": []}, "maxMessageBytes": 1000, "messagesPerSecond": 10}]}"#
            .write(to: bad, atomically: true, encoding: .utf8)
        let refused = try run(SimulateCommandTests.binary, ["rights", "--cluster", cluster, "apply", bad.path], limit: 30)
        XCTAssertEqual(refused.status, 2)
        XCTAssertTrue(refused.stderr.contains("organisation id"), refused.stderr)
    }
}
