import XCTest
import Wire

final class CRC32CTests: XCTestCase {
    func testCheckValueOf123456789() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
    }

    // RFC 3720 appendix B.4.
    func testThirtyTwoZeroBytesMatchRFC3720() {
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
    }

    func testThirtyTwoOnesBytesMatchRFC3720() {
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
    }

    func testIncreasingAndDecreasingBytesMatchRFC3720() {
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }), 0x113F_DB5C)
    }

    func testEmptyInputIsZero() {
        XCTAssertEqual(CRC32C().value, 0)
    }

    /// Independent oracle: the bit-at-a-time definition, against slicing-by-8 on random input
    /// fed in random splits (so every alignment and tail length is exercised).
    func testSlicedTablesAgreeWithBitwiseDefinition() {
        func bitwise(_ bytes: [UInt8]) -> UInt32 {
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            }
            return ~crc
        }
        var rng = SystemRandomNumberGenerator()
        for length in 0..<200 {
            let message = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var crc = CRC32C()
            var offset = 0
            while offset < message.count {
                let take = Int.random(in: 1...(message.count - offset), using: &rng)
                crc.update(message[offset..<offset + take])
                offset += take
            }
            XCTAssertEqual(crc.value, bitwise(message), "length \(length)")
        }
    }

    func testSingleBitFlipChangesChecksum() {
        var message = Array("log entry 17, term 3".utf8)
        let original = CRC32C.checksum(message)
        for bit in 0..<(message.count * 8) {
            message[bit / 8] ^= 1 << (bit % 8)
            XCTAssertNotEqual(CRC32C.checksum(message), original)
            message[bit / 8] ^= 1 << (bit % 8)
        }
    }
}
