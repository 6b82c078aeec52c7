import Alarming
import Foundation
import Gateways
import XCTest

final class PCMSinkTests: XCTestCase {
    func tempPath(_ name: String) -> String {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("sink-\(getpid())-\(name)").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: p) }
        return p
    }

    func transmissions(_ n: Int) throws -> [Transmission] {
        var s = AirtimeScheduler(rate: .b1200)
        for k in 0..<n {
            s.enqueue(QueuedPage(id: UInt64(k), page: try POCSAG.Page(ric: UInt32(1000 + k * 11), function: 1, content: .alphanumeric("Alarm \(k)")),
                                 pageClass: .alarm, queuedAt: 0))
        }
        var out: [Transmission] = []
        var now: UInt64 = 0
        while let t = s.next(now: now) { out.append(t); now = t.end }
        return out
    }

    func decode(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/multimon-ng")
        p.arguments = ["-q", "-t", "raw", "-a", "POCSAG1200", "-f", "alpha", path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return text
    }

    func testAStreamSinkAppendsTransmissionsThatADecoderReads() throws {
        let path = tempPath("stream.raw")
        let sink = try PCMSink(.stream(path))
        let ts = try transmissions(5)
        for t in ts { _ = try sink.transmit(t, rate: .b1200) }
        let text = try decode(path)
        for k in 0..<5 { XCTAssertTrue(text.contains("Address: \(String(repeating: " ", count: 7 - String(1000 + k * 11).count))\(1000 + k * 11)  Function: 1  Alpha:   Alarm \(k)"), text) }
    }

    func testADirectorySinkWritesOneCompleteFilePerTransmission() throws {
        let dir = tempPath("dir")
        let sink = try PCMSink(.directory(dir))
        var s = AirtimeScheduler(rate: .b1200, maxBatches: 1)
        let text = String(repeating: "z", count: 30)
        for k in 0..<3 {
            s.enqueue(QueuedPage(id: UInt64(k), page: try POCSAG.Page(ric: 8, function: 0, content: .alphanumeric(text)), pageClass: .alarm, queuedAt: 0))
        }
        var receipts: [TransmitterReceipt] = []
        var now: UInt64 = 0
        while let t = s.next(now: now) { receipts.append(try sink.transmit(t, rate: .b1200)); now = t.end }
        XCTAssertEqual(receipts.map(\.sequence), [1, 2, 3])
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(files.count, 3, "\(files)")
        XCTAssertFalse(files.contains { $0.hasPrefix(".") }, "no temporary file left")
        for r in receipts { XCTAssertTrue(try decode(r.path).contains("Alpha:   \(text)")) }
    }

    func testAFullDiskIsAnErrorNotASilentLoss() throws {
        let sink = try PCMSink(.stream("/dev/full"))
        let t = try transmissions(1)[0]
        XCTAssertThrowsError(try sink.transmit(t, rate: .b1200)) { e in
            XCTAssertTrue("\(e)".contains("No space left on device"), "\(e)")
            XCTAssertTrue("\(e)".contains("not aired"), "\(e)")
        }
        XCTAssertThrowsError(try PCMSink(.stream("/nonexistent/dir/tx.raw")))
    }
}
