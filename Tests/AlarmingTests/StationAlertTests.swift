import Wire
import XCTest
@testable import Alarming

final class StationAlertTests: XCTestCase {
    static let alarm = StationAlertFrame.alarm(.init(order: "E-000001/1", round: 2, test: true, reAlarm: true, incident: "E-000001",
                                                     keyword: "F3", area: "Sachsenhausen-Nord", address: "Schweizer Straße 12",
                                                     text: "F3 Sachsenhausen-Nord", units: ["1-HLF-1", "1-DLK-1"], outputs: ["gong", "printer"]))
    static let all: [StationAlertFrame] = [
        .hello(.init(station: "FRW1", device: "florian station-sim 1")),
        .welcome(.init(heartbeatMillis: 2_500, supervisionMillis: 10_000)),
        alarm,
        .ack(.init(order: "E-000001/1", round: 2)),
        .heartbeat(sequence: 42),
    ]

    func testEveryFrameRoundTrips() throws {
        for f in Self.all {
            XCTAssertEqual(try StationAlertFrame.decode(f.frame), f)
            // Through the common framing too.
            let bytes = try f.frame.encode(maxPayloadSize: StationAlertFrame.maxFrameSize)
            XCTAssertEqual(try StationAlertFrame.decode(ProtocolFrame.decode(payload: Array(bytes.dropFirst(4)))), f)
        }
    }

    func testEveryTruncationAndTrailingByteIsRefused() {
        for f in Self.all {
            let body = f.frame.body
            for n in 0..<body.count {
                XCTAssertThrowsError(try StationAlertFrame.decode(ProtocolFrame(kind: f.frame.kind, body: Array(body.prefix(n)))), "\(f) cut at \(n)")
            }
            XCTAssertThrowsError(try StationAlertFrame.decode(ProtocolFrame(kind: f.frame.kind, body: body + [0])))
        }
    }

    func testRandomBytesNeverTrap() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let kind = UInt8.random(in: 0...8, using: &rng)
            let body = (0..<Int.random(in: 0...80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = try? StationAlertFrame.decode(ProtocolFrame(kind: kind, body: body))
        }
        // Single-byte corruptions of a valid alarm decode or are refused, never trap.
        let body = Self.alarm.frame.body
        for i in body.indices {
            for v: UInt8 in [0, 0x1F, 0x7F, 0xFF] {
                var b = body
                b[i] = v
                _ = try? StationAlertFrame.decode(ProtocolFrame(kind: 3, body: b))
            }
        }
    }

    func testFieldsBreakingTheRulesAreRefusedWithTheReason() {
        func refused(_ f: StationAlertFrame, _ expect: String) {
            XCTAssertThrowsError(try StationAlertFrame.decode(f.frame)) { XCTAssertTrue("\($0)".contains(expect), "\($0)") }
        }
        refused(.hello(.init(version: 2, station: "FRW1", device: "x")), "version 2")
        refused(.hello(.init(station: "", device: "x")), "station is empty")
        refused(.hello(.init(station: "FRW\u{7}1", device: "x")), "control character")
        refused(.hello(.init(station: String(repeating: "x", count: 65), device: "x")), "longer than 64")
        refused(.welcome(.init(heartbeatMillis: 50, supervisionMillis: 10_000)), "heartbeat")
        refused(.welcome(.init(heartbeatMillis: 5_000, supervisionMillis: 5_000)), "heartbeat")
        refused(.ack(.init(order: "E-1/1", round: 0)), "round 0")
        var many = Self.alarm
        if case .alarm(var a) = many { a.units = (0..<65).map { "U\($0)" }; many = .alarm(a) }
        refused(many, "at most 64")
        XCTAssertThrowsError(try StationAlertFrame.decode(ProtocolFrame(kind: 9, body: []))) { XCTAssertTrue("\($0)".contains("unknown frame kind")) }
        // Invalid UTF-8 in a text field.
        var w = ByteWriter()
        w.writeUInt8(1)
        w.writeLengthPrefixed([0xC3, 0x28])
        w.writeLengthPrefixed("x")
        XCTAssertThrowsError(try StationAlertFrame.decode(ProtocolFrame(kind: 1, body: w.bytes))) { XCTAssertTrue("\($0)".contains("UTF-8")) }
    }
}
