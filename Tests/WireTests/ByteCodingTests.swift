import XCTest
import Wire

final class ByteCodingTests: XCTestCase {
    private func encoded(_ value: UInt64) -> [UInt8] {
        var writer = ByteWriter()
        writer.writeVarint(value)
        return writer.bytes
    }

    func testVarintsEncodeAsProtocolBuffersDo() {
        XCTAssertEqual(encoded(0), [0x00])
        XCTAssertEqual(encoded(1), [0x01])
        XCTAssertEqual(encoded(127), [0x7F])
        XCTAssertEqual(encoded(128), [0x80, 0x01])
        XCTAssertEqual(encoded(150), [0x96, 0x01])
        XCTAssertEqual(encoded(300), [0xAC, 0x02])
        XCTAssertEqual(encoded(UInt64.max), [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
    }

    func testVarintByteCountMatchesEncoding() {
        for shift in 0..<64 {
            for value in [UInt64(1) << shift, (UInt64(1) << shift) - 1] {
                XCTAssertEqual(Varint.byteCount(value), encoded(value).count, "value \(value)")
            }
        }
    }

    func testVarintsRoundTrip() throws {
        var rng = SystemRandomNumberGenerator()
        var values: [UInt64] = [0, 1, 127, 128, 16383, 16384, UInt64.max, UInt64.max - 1, 1 << 63]
        for _ in 0..<1000 { values.append(UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0..<64, using: &rng)) }
        var writer = ByteWriter()
        for value in values { writer.writeVarint(value) }
        var reader = ByteReader(writer.bytes)
        for value in values { XCTAssertEqual(try reader.readVarint(), value) }
        XCTAssertNoThrow(try reader.finish())
    }

    func testTruncatedVarintThrows() {
        for bytes: [UInt8] in [[], [0x80], [0xFF, 0xFF], [0xAC]] {
            var reader = ByteReader(bytes)
            XCTAssertThrowsError(try reader.readVarint(), "\(bytes)") { error in
                guard case WireError.truncated = error else { return XCTFail("\(error)") }
            }
            XCTAssertEqual(reader.position, 0)
        }
    }

    func testVarintLongerThanTenBytesIsOverlong() {
        var reader = ByteReader([UInt8](repeating: 0xFF, count: 10) + [0x01])
        XCTAssertThrowsError(try reader.readVarint()) { XCTAssertEqual($0 as? WireError, .overlongVarint) }
        var endless = ByteReader([UInt8](repeating: 0x80, count: 100))
        XCTAssertThrowsError(try endless.readVarint()) { XCTAssertEqual($0 as? WireError, .overlongVarint) }
    }

    func testVarintWiderThanSixtyFourBitsIsOverlong() {
        var reader = ByteReader([UInt8](repeating: 0xFF, count: 9) + [0x02])
        XCTAssertThrowsError(try reader.readVarint()) { XCTAssertEqual($0 as? WireError, .overlongVarint) }
    }

    func testNonMinimalVarintIsOverlong() {
        for bytes: [UInt8] in [[0x80, 0x00], [0x81, 0x80, 0x00], [0xFF, 0x80, 0x80, 0x00]] {
            var reader = ByteReader(bytes)
            XCTAssertThrowsError(try reader.readVarint(), "\(bytes)") { XCTAssertEqual($0 as? WireError, .overlongVarint) }
        }
    }

    func testFixedWidthIntegersAreBigEndian() throws {
        var writer = ByteWriter()
        writer.writeUInt32(0x0102_0304)
        writer.writeUInt64(0x0A0B_0C0D_0E0F_1011)
        writer.writeUInt8(0xEE)
        XCTAssertEqual(writer.bytes, [1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0xEE])
        var reader = ByteReader(writer.bytes)
        XCTAssertEqual(try reader.readUInt32(), 0x0102_0304)
        XCTAssertEqual(try reader.readUInt64(), 0x0A0B_0C0D_0E0F_1011)
        XCTAssertEqual(try reader.readUInt8(), 0xEE)
        XCTAssertNoThrow(try reader.finish())
    }

    func testTruncatedFixedWidthIntegerThrowsWithoutMoving() throws {
        var reader = ByteReader([0, 0, 0, 0, 1, 2, 3])
        XCTAssertEqual(try reader.readUInt32(), 0)
        XCTAssertThrowsError(try reader.readUInt64()) { XCTAssertEqual($0 as? WireError, .truncated(needed: 8, available: 3)) }
        XCTAssertThrowsError(try reader.readUInt32()) { XCTAssertEqual($0 as? WireError, .truncated(needed: 4, available: 3)) }
        XCTAssertEqual(reader.position, 4)
    }

    func testLengthPrefixedBytesRoundTrip() throws {
        var writer = ByteWriter()
        writer.writeLengthPrefixed([UInt8]())
        writer.writeLengthPrefixed([UInt8](repeating: 7, count: 300))
        writer.writeLengthPrefixed("Löschzug 1")
        var reader = ByteReader(writer.bytes)
        XCTAssertEqual(try reader.readLengthPrefixed(limit: 0), [])
        XCTAssertEqual(try reader.readLengthPrefixed(limit: 300), [UInt8](repeating: 7, count: 300))
        XCTAssertEqual(try reader.readLengthPrefixedString(limit: 64), "Löschzug 1")
        XCTAssertNoThrow(try reader.finish())
    }

    func testLengthBeyondLimitIsRefusedBeforeReading() {
        var writer = ByteWriter()
        writer.writeVarint(UInt64.max)
        var reader = ByteReader(writer.bytes)
        XCTAssertThrowsError(try reader.readLengthPrefixed(limit: 1 << 20)) {
            XCTAssertEqual($0 as? WireError, .lengthExceedsLimit(length: UInt64.max, limit: 1 << 20))
        }
        XCTAssertEqual(reader.position, 0)
    }

    func testLengthBeyondInputIsTruncated() {
        var reader = ByteReader([5, 1, 2])
        XCTAssertThrowsError(try reader.readLengthPrefixed(limit: 100)) {
            XCTAssertEqual($0 as? WireError, .truncated(needed: 5, available: 2))
        }
        XCTAssertEqual(reader.position, 0)
    }

    func testTrailingBytesAreReported() throws {
        var reader = ByteReader([0x01, 0x02, 0x03])
        XCTAssertEqual(try reader.readVarint(), 1)
        XCTAssertThrowsError(try reader.finish()) { XCTAssertEqual($0 as? WireError, .trailingBytes(count: 2)) }
    }

    func testReaderNeverTrapsOnRandomInput() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0..<24, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var reader = ByteReader(bytes)
            while !reader.isAtEnd {
                let progressed: Bool
                switch Int.random(in: 0..<5, using: &rng) {
                case 0: progressed = (try? reader.readVarint()) != nil
                case 1: progressed = (try? reader.readUInt32()) != nil
                case 2: progressed = (try? reader.readUInt64()) != nil
                case 3: progressed = (try? reader.readLengthPrefixed(limit: 16)) != nil
                default: progressed = (try? reader.readUInt8()) != nil
                }
                if !progressed { break }
            }
        }
    }

    func testSliceReaderStartsAtSliceStart() throws {
        let bytes: [UInt8] = [9, 9, 0x96, 0x01]
        var reader = ByteReader(bytes[2...])
        XCTAssertEqual(try reader.readVarint(), 150)
        XCTAssertTrue(reader.isAtEnd)
    }
}
