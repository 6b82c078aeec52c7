import Foundation
import XCTest

/// `florian pocsag encode` as a transmitter interface or a developer uses it.
final class PagingCommandTests: XCTestCase {
    func florian(_ args: [String], stdin: Data? = nil) throws -> (status: Int32, out: Data, err: String) {
        let p = Process()
        p.executableURL = SimulateCommandTests.binary
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, o, String(decoding: e, as: UTF8.self))
    }

    /// multimon-ng's output for raw PCM (`arguments` chooses the decoder).
    func multimon(_ pcm: Data, _ arguments: [String]) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cli-multimon-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).raw")
        try pcm.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/multimon-ng")
        p.arguments = ["-q", "-t", "raw"] + arguments + [file.path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return text
    }

    func testCodewordsArePrintedOneBatchALine() throws {
        let r = try florian(["pocsag", "encode", "--ric", "1234567", "--function", "3", "--text", "F3 Wohnungsbrand, Bockenheimer Landstraße 12", "--format", "codewords"])
        XCTAssertEqual(r.status, 0, r.err)
        let lines = String(decoding: r.out, as: UTF8.self).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 2, "address in frame 7 + 16 message codewords + the closing idle")
        for line in lines {
            XCTAssertNotNil(line.wholeMatch(of: #/([0-9A-F]{8} ){16}[0-9A-F]{8}/#), line)
            XCTAssertTrue(line.hasPrefix("7CD215D8 "), line)
        }
        // RIC 1234567 is in frame 7: the 15th codeword after the sync word.
        XCTAssertEqual(lines[0].split(separator: " ")[15], "4B5A1A25")
    }

    func testRawPCMIsDecodedByMultimon() throws {
        let r = try florian(["pocsag", "encode", "--ric", "2000001", "--function", "1", "--text", "Übung Wache 3: Probealarm", "--baud", "512"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out.count % 2, 0, "whole 16-bit samples")
        let text = try multimon(r.out, ["-a", "POCSAG512", "-f", "alpha", "-C", "DE"])
        XCTAssertTrue(text.contains("POCSAG512: Address: 2000001  Function: 1  Alpha:   Übung Wache 3: Probealarm"), text)
    }

    func testBadPagesAreRefusedClearly() throws {
        let cases: [([String], Int32, String)] = [
            (["pocsag", "encode", "--function", "0", "--tone"], 2, "needs --ric"),
            (["pocsag", "encode", "--ric", "5", "--function", "4", "--tone"], 1, "function 4 is out of range"),
            (["pocsag", "encode", "--ric", "2097152", "--function", "0", "--tone"], 1, "RIC 2097152 is out of range"),
            (["pocsag", "encode", "--ric", "5", "--function", "0", "--tone", "--text", "x"], 2, "exactly one of"),
            (["pocsag", "encode", "--ric", "5", "--function", "0", "--numeric", "12a"], 1, "'a' cannot be sent in the numeric"),
            (["pocsag", "encode", "--ric", "5", "--function", "0", "--text", "5 €"], 1, "'€' cannot be sent"),
            (["pocsag", "encode", "--ric", "5", "--function", "0", "--tone", "--baud", "9600"], 2, "--baud must be 512, 1200 or 2400"),
            (["pocsag", "encode", "--ric", "5", "--function", "0", "--tone", "--format", "wav"], 2, "--format must be raw or codewords"),
        ]
        for (args, status, message) in cases {
            let r = try florian(args)
            XCTAssertEqual(r.status, status, "\(args): \(r.err)")
            XCTAssertTrue(r.err.contains(message), "\(args): \(r.err)")
            XCTAssertTrue(r.out.isEmpty, "\(args) wrote to stdout")
        }
    }

    func testZVEICallsAreDecodedByMultimonAndBadOnesRefused() throws {
        let r = try florian(["zvei", "encode", "22334", "--siren", "test"])
        XCTAssertEqual(r.status, 0, r.err)
        let text = try multimon(r.out, ["-a", "ZVEI1"])
        XCTAssertTrue(text.hasPrefix("ZVEI1: 2E3E4"), text)
        let bad = try florian(["zvei", "encode", "1234"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.err.contains("five digits"), bad.err)
        let siren = try florian(["zvei", "encode", "12345", "--siren", "flood"])
        XCTAssertEqual(siren.status, 2)
        XCTAssertTrue(siren.err.contains("--siren must be one of fire, warning, all-clear, test"), siren.err)
    }

    func testBenchPagingComparesTheSchedulerWithAFIFO() throws {
        let r = try florian(["bench", "paging"])
        XCTAssertEqual(r.status, 0, r.err)
        let text = String(decoding: r.out, as: UTF8.self)
        for prefix in ["bench paging: storm night: 300 incidents", "bench paging: fifo: ", "bench paging: scheduler: ",
                       "bench paging: alarm-page p99 wait: fifo ", "bench paging: burst of 10000 tone-only alarms: scheduler "] {
            XCTAssertTrue(text.contains(prefix), "no '\(prefix)' in:\n\(text)")
        }
        let bad = try florian(["bench", "paging", "--rate", "300"])
        XCTAssertEqual(bad.status, 2)
    }
}
