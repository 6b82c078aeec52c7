import XCTest
import Wire

final class ProtocolFrameTests: XCTestCase {
    func testRoundTripThroughTheStreamDecoderInAnyChunks() throws {
        let frames = [ProtocolFrame(kind: 7, body: Array("alarm".utf8)), ProtocolFrame(kind: 1, body: []),
                      ProtocolFrame.error(.unauthorised, "partner certificate on the mesh port")]
        let bytes = try frames.flatMap { try $0.encode(maxPayloadSize: 1024) }
        for chunk in [1, 3, 7, bytes.count] {
            var decoder = FrameDecoder(maxPayloadSize: 1024)
            var got: [ProtocolFrame] = []
            var k = 0
            while k < bytes.count {
                for payload in try decoder.feed(bytes[k..<min(bytes.count, k + chunk)]) {
                    got.append(try ProtocolFrame.decode(payload: payload))
                }
                k += chunk
            }
            XCTAssertEqual(got, frames, "chunk \(chunk)")
        }
        XCTAssertEqual(frames[2].errorInfo?.code, ProtocolFrame.ErrorCode.unauthorised.rawValue)
        XCTAssertEqual(frames[2].errorInfo?.reason, "partner certificate on the mesh port")
    }

    func testUnknownVersionShortAndOversizeFramesAreRefused() throws {
        XCTAssertThrowsError(try ProtocolFrame.decode(payload: [2, 1, 0])) { e in
            XCTAssertEqual(e as? WireError, .unsupportedFrameVersion(found: 2, supported: 1))
        }
        XCTAssertThrowsError(try ProtocolFrame.decode(payload: [1])) { e in
            XCTAssertEqual(e as? WireError, .frameTooShort(size: 1))
        }
        XCTAssertThrowsError(try ProtocolFrame(kind: 1, body: [UInt8](repeating: 0, count: 100)).encode(maxPayloadSize: 64))
        var decoder = FrameDecoder(maxPayloadSize: 64)
        XCTAssertThrowsError(try decoder.feed([0, 0, 1, 0, 1, 1]), "an oversize header is refused before its body")
    }

    func testPlaintextGarbageNeverDecodesAsAFrame() {
        // An HTTP request on a TLS frame port, read as a frame header: "GET " is a 1.1 GB length.
        var decoder = FrameDecoder(maxPayloadSize: 1 << 20)
        XCTAssertThrowsError(try decoder.feed(Array("GET / HTTP/1.1\r\n\r\n".utf8)))
    }
}
