import Alarming
import Foundation
import XCTest

final class POCSAGTests: XCTestCase {
    func testSyncAndIdleAreValidBCHCodewords() {
        // M.584's two fixed codewords carry their own check bits and parity.
        XCTAssertEqual(POCSAG.codeword(data21: POCSAG.syncCodeword & 0xFFFF_F800), POCSAG.syncCodeword)
        XCTAssertEqual(POCSAG.codeword(data21: POCSAG.idleCodeword & 0xFFFF_F800), POCSAG.idleCodeword)
    }

    func testEveryCodewordHasEvenParityAndAZeroSyndrome() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let word = POCSAG.codeword(data21: UInt32.random(in: 0...UInt32.max, using: &rng) & 0xFFFF_F800)
            XCTAssertEqual(word.nonzeroBitCount % 2, 0)
            // Dividing the 31-bit code word by g(x) leaves nothing.
            var r = word >> 1
            for bit in stride(from: 30, through: 10, by: -1) where r & (1 << UInt32(bit)) != 0 { r ^= 0b111_0110_1001 << UInt32(bit - 10) }
            XCTAssertEqual(r & 0x3FF, 0, String(word, radix: 16))
        }
    }

    func testTheAddressGoesIntoTheFrameItsRICNames() throws {
        for ric: UInt32 in [0, 1, 7, 8, 1_234_567, POCSAG.maxRIC] {
            let page = try POCSAG.Page(ric: ric, function: 2, content: .tone)
            let batches = try POCSAG.batches([page])
            XCTAssertEqual(batches.count, 1)
            XCTAssertEqual(batches[0].count, 17)
            XCTAssertEqual(batches[0][0], POCSAG.syncCodeword)
            let frame = Int(ric & 7)
            XCTAssertEqual(batches[0][1 + 2 * frame], POCSAG.addressCodeword(ric: ric, function: 2))
            for (k, word) in batches[0].enumerated() where k != 0 && k != 1 + 2 * frame {
                XCTAssertEqual(word, POCSAG.idleCodeword, "RIC \(ric) codeword \(k)")
            }
        }
    }

    func testAMessageThatFillsItsBatchIsFollowedByAnIdleCodeword() throws {
        // Frame 0, 15 message codewords: address + 15 fill the batch; the end needs one more.
        let text = String(repeating: "x", count: 15 * 20 / 7 - 1)
        let batches = try POCSAG.batches([try POCSAG.Page(ric: 8, function: 3, content: .alphanumeric(text))])
        XCTAssertEqual(batches.count, 2)
        XCTAssertEqual(batches[1][1], POCSAG.idleCodeword)
    }

    func testCharactersOutsideTheSetsAreRefused() {
        XCTAssertThrowsError(try POCSAG.Page(ric: 1, function: 0, content: .numeric("12a")))
        XCTAssertThrowsError(try POCSAG.Page(ric: 1, function: 0, content: .alphanumeric("Grüße €")))
        XCTAssertThrowsError(try POCSAG.Page(ric: 1, function: 0, content: .alphanumeric("a[b")), "[ means Ä on a German pager")
        XCTAssertThrowsError(try POCSAG.Page(ric: POCSAG.maxRIC + 1, function: 0, content: .tone))
        XCTAssertThrowsError(try POCSAG.Page(ric: 1, function: 4, content: .tone))
        XCTAssertThrowsError(try POCSAG.Page(ric: 1, function: 0, content: .alphanumeric(String(repeating: "a", count: 241))))
    }

    // MARK: - Independent proof: multimon-ng decodes what we send

    struct Decoded: Equatable, CustomStringConvertible {
        var ric: UInt32
        var function: UInt8
        var text: String?
        var description: String { "\(ric)/\(function) \(text.map { "'\($0)'" } ?? "tone")" }
    }

    /// Runs multimon-ng over `pcm` and returns its POCSAG lines, in order.
    static func decode(_ pcm: [UInt8], rate: POCSAG.BitRate, mode: String) throws -> [Decoded] {
        let output = try Multimon.decode(pcm, ["-a", "POCSAG\(rate.rawValue)", "-f", mode, "-C", "DE"])
        // "Alpha:   text" and "Numeric: text" exactly as multimon-ng prints them (the text may
        // end in spaces); a tone-only page ends after the function.
        let pattern = #/^POCSAG\d+: Address: +(\d+)  Function: (\d)(?:  (?:Alpha:   |Numeric: )(.*)| *)$/#
        return output.split(separator: "\n").compactMap { line -> Decoded? in
            guard let m = String(line).wholeMatch(of: pattern) else { return nil }
            var text = m.3.map(String.init)
            if mode == "alpha" { while text?.hasSuffix("<NUL>") == true { text?.removeLast(5) } }
            if mode == "numeric" { text = text?.replacingOccurrences(of: #" +$"#, with: "", options: .regularExpression) }
            return Decoded(ric: UInt32(m.1)!, function: UInt8(m.2)!, text: text)
        }
    }

    /// Transmissions one after another with 50 ms of silence between them.
    func concatenated(_ pages: [POCSAG.Page], rate: POCSAG.BitRate) throws -> [UInt8] {
        var pcm: [UInt8] = []
        let gap = [UInt8](repeating: 0, count: 2 * (22_050 / 20))  // whole 16-bit samples
        for page in pages { pcm += try POCSAG.transmission([page], rate: rate) + gap }
        return pcm
    }

    func testMultimonDecodesTwoHundredFortyRandomPagesAtEveryBitRate() throws {
        var rng = SystemRandomNumberGenerator()
        let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,:;-+/()!?#%&=*'\"@<>_$ÄÖÜäöüß")
        let digits = Array("0123456789U-[]")
        var mismatches: [String] = []
        var total = 0
        for rate in POCSAG.BitRate.allCases {
            var alpha: [POCSAG.Page] = [], numeric: [POCSAG.Page] = []
            for k in 0..<80 {
                let ric = UInt32.random(in: 0...POCSAG.maxRIC, using: &rng)
                let function = UInt8.random(in: 0...3, using: &rng)
                switch k % 4 {
                case 0, 1:
                    let text = String((0..<Int.random(in: 1...80, using: &rng)).map { _ in letters.randomElement(using: &rng)! })
                    alpha.append(try POCSAG.Page(ric: ric, function: function, content: .alphanumeric(text)))
                case 2:
                    let text = String((0..<Int.random(in: 1...20, using: &rng)).map { _ in digits.randomElement(using: &rng)! })
                    numeric.append(try POCSAG.Page(ric: ric, function: function, content: .numeric(text)))
                default:
                    alpha.append(try POCSAG.Page(ric: ric, function: function, content: .tone))
                }
            }
            for (pages, mode) in [(alpha, "alpha"), (numeric, "numeric")] {
                let expected = pages.map { page -> Decoded in
                    switch page.content {
                    case .tone: return Decoded(ric: page.ric, function: page.function, text: nil)
                    case .numeric(let t), .alphanumeric(let t): return Decoded(ric: page.ric, function: page.function, text: t)
                    }
                }
                let decoded = try Self.decode(try concatenated(pages, rate: rate), rate: rate, mode: mode)
                total += expected.count
                if decoded != expected {
                    let n = max(decoded.count, expected.count)
                    for k in 0..<n where (k < decoded.count ? decoded[k] : nil) != (k < expected.count ? expected[k] : nil) {
                        mismatches.append("\(rate.rawValue) \(mode) #\(k): sent \(k < expected.count ? "\(expected[k])" : "-"), decoded \(k < decoded.count ? "\(decoded[k])" : "-")")
                    }
                }
            }
        }
        XCTAssertEqual(total, 240)
        XCTAssertTrue(mismatches.isEmpty, "\(mismatches.count) mismatches:\n" + mismatches.prefix(10).joined(separator: "\n"))
    }
}
