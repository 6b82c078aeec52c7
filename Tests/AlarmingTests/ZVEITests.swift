import Alarming
import Foundation
import XCTest

final class ZVEITests: XCTestCase {
    func testARepeatedDigitIsSentAsTheRepeatTone() throws {
        XCTAssertEqual(try ZVEI.decoderNotation("12345"), "12345")
        XCTAssertEqual(try ZVEI.decoderNotation("11223"), "1E2E3")
        XCTAssertEqual(try ZVEI.decoderNotation("11111"), "1E1E1")
        XCTAssertEqual(try ZVEI.frequencies("10000"), [1060, 2400, 2600, 2400, 2600])
        XCTAssertThrowsError(try ZVEI.frequencies("1234"))
        XCTAssertThrowsError(try ZVEI.frequencies("12a45"))
        XCTAssertThrowsError(try ZVEI.frequencies("١٢٣٤٥"), "Arabic-Indic digits are no ZVEI digits")
    }

    func testEachToneLastsSeventyMilliseconds() throws {
        XCTAssertEqual(try ZVEI.pcm(digits: "12345").count, 5 * 22_050 * 70 / 1000)
        XCTAssertEqual(try ZVEI.pcm(digits: "12345", siren: .fire).count, 5 * 22_050 * 70 / 1000 + 5 * 22_050)
    }

    /// Power of `frequency` in `samples` (Goertzel).
    func power(_ samples: ArraySlice<Int16>, _ frequency: Double, rate: Double = 22_050) -> Double {
        let w = 2 * Double.pi * frequency / rate, c = 2 * cos(w)
        var s1 = 0.0, s2 = 0.0
        for x in samples {
            let s0 = Double(x) + c * s1 - s2
            s2 = s1
            s1 = s0
        }
        return s1 * s1 + s2 * s2 - c * s1 * s2
    }

    func testSirenSignalsCarryTheirTwoTonesAndNothingElse() throws {
        for signal in ZVEI.SirenSignal.allCases {
            let samples = try ZVEI.pcm(digits: "12345", siren: signal)
            let tail = samples[(samples.count - 22_050)...]
            let (f1, f2) = signal.frequencies
            let p1 = power(tail, f1), p2 = power(tail, f2)
            for other in [675.0, 825, 1010, 1240, 1860, 2280] where other != f1 && other != f2 {
                XCTAssertGreaterThan(p1, 100 * power(tail, other), "\(signal): \(other) Hz")
                XCTAssertGreaterThan(p2, 100 * power(tail, other), "\(signal): \(other) Hz")
            }
        }
    }

    func testMultimonDecodesSixtyRandomCalls() throws {
        var rng = SystemRandomNumberGenerator()
        var calls: [String] = ["12345", "11111", "00000", "10101"]
        while calls.count < 60 { calls.append(String((0..<5).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) })) }
        var pcm: [UInt8] = []
        let gap = [UInt8](repeating: 0, count: 2 * (22_050 * 3 / 10))
        for call in calls { pcm += try ZVEI.pcmBytes(digits: call) + gap }
        let text = try Multimon.decode(pcm, ["-a", "ZVEI1"])
        let decoded = text.split(separator: "\n").compactMap { $0.hasPrefix("ZVEI1: ") ? String($0.dropFirst(7)) : nil }
        XCTAssertEqual(decoded, try calls.map(ZVEI.decoderNotation))
    }
}
