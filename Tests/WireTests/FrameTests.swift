import XCTest
import Wire

final class FrameTests: XCTestCase {
    func testFrameHeaderIsBigEndianLength() throws {
        XCTAssertEqual(try Frame.encode([0xAA, 0xBB], maxPayloadSize: 16), [0, 0, 0, 2, 0xAA, 0xBB])
        XCTAssertEqual(try Frame.encode([UInt8](), maxPayloadSize: 0), [0, 0, 0, 0])
    }

    func testEncodingOversizePayloadIsRefused() {
        XCTAssertThrowsError(try Frame.encode([UInt8](repeating: 0, count: 17), maxPayloadSize: 16)) {
            XCTAssertEqual($0 as? WireError, .frameTooLarge(size: 17, limit: 16))
        }
    }

    private func stream(_ payloads: [[UInt8]], limit: Int) throws -> [UInt8] {
        var writer = ByteWriter()
        for payload in payloads { try Frame.append(payload, to: &writer, maxPayloadSize: limit) }
        return writer.bytes
    }

    func testByteByByteFeedingYieldsEveryFrameOnceComplete() throws {
        let payloads: [[UInt8]] = [[1, 2, 3], [], [UInt8](repeating: 0x5A, count: 300), [4]]
        let bytes = try stream(payloads, limit: 1024)
        var decoder = FrameDecoder(maxPayloadSize: 1024)
        var received: [[UInt8]] = []
        for byte in bytes { received += try decoder.feed([byte]) }
        XCTAssertEqual(received, payloads)
        XCTAssertEqual(decoder.bufferedByteCount, 0)
    }

    func testRandomChunkingYieldsTheSameFrames() throws {
        var rng = SystemRandomNumberGenerator()
        let payloads = (0..<200).map { _ in
            (0..<Int.random(in: 0..<700, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        }
        let bytes = try stream(payloads, limit: 1024)
        var decoder = FrameDecoder(maxPayloadSize: 1024)
        var received: [[UInt8]] = []
        var offset = 0
        while offset < bytes.count {
            let take = Int.random(in: 1...min(2000, bytes.count - offset), using: &rng)
            received += try decoder.feed(bytes[offset..<offset + take])
            offset += take
        }
        XCTAssertEqual(received, payloads)
    }

    func testIncompleteFrameIsHeldBack() throws {
        var decoder = FrameDecoder(maxPayloadSize: 16)
        XCTAssertEqual(try decoder.feed([0, 0, 0, 3, 1, 2]), [])
        XCTAssertEqual(decoder.bufferedByteCount, 6)
        XCTAssertEqual(try decoder.feed([3]), [[1, 2, 3]])
    }

    func testOversizeHeaderIsRefusedBeforeItsPayloadArrives() {
        var decoder = FrameDecoder(maxPayloadSize: 1000)
        var caught: WireError?
        for byte: UInt8 in [0x00, 0x00, 0x03, 0xE9] {
            do { _ = try decoder.feed([byte]) } catch { caught = error }
        }
        XCTAssertEqual(caught, .frameTooLarge(size: 1001, limit: 1000))
        XCTAssertEqual(decoder.bufferedByteCount, 0)
    }

    func testDecoderStaysFailedAfterOversizeFrame() throws {
        var decoder = FrameDecoder(maxPayloadSize: 4)
        XCTAssertThrowsError(try decoder.feed([0xFF, 0xFF, 0xFF, 0xFF]))
        XCTAssertThrowsError(try decoder.feed(try Frame.encode([1], maxPayloadSize: 4))) {
            XCTAssertEqual($0 as? WireError, .frameTooLarge(size: Int(UInt32.max), limit: 4))
        }
    }

    func testFrameOfExactlyTheLimitIsAccepted() throws {
        var decoder = FrameDecoder(maxPayloadSize: 5)
        XCTAssertEqual(try decoder.feed(try Frame.encode([1, 2, 3, 4, 5], maxPayloadSize: 5)), [[1, 2, 3, 4, 5]])
    }
}
