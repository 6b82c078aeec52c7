import Client
import Wire
import XCTest

final class ClientProtocolTests: XCTestCase {
    static let requests: [ClientRequest] = [
        .submit(id: 1, type: "bus.publish", commandID: "a-1", payload: [1, 2, 3]),
        .submit(id: 2, type: "x", commandID: "é", payload: []),
        .read(id: 3, topic: "alarms/station-1", from: 17, limit: 500, linearizable: true),
        .read(id: UInt64.max, topic: "t", from: UInt64.max, limit: 0, linearizable: false),
        .subscribe(id: 4, topic: "t", from: 0),
        .unsubscribe(id: 4),
        .status(id: 5),
    ]

    static let replies: [ClientReply] = [
        .outcome(id: 1, outcome: [0, 1]),
        .messages(id: 2, page: ReadPage(messages: [BusMessage(offset: 7, sender: "operator:anna", commandID: "c", timestamp: 1_700_000_000_000, payload: [9])],
                                       nextOffset: 8, firstOffset: 0, endOffset: 8)),
        .messages(id: 3, page: ReadPage(messages: [], nextOffset: 5, firstOffset: 5, endOffset: 5)),
        .event(id: 4, .message(BusMessage(offset: 0, sender: "s", commandID: "i", timestamp: 0, payload: []))),
        .event(id: 4, .gap(from: 3, resumeAt: 10)),
        .status(id: 5, ClusterStatus(node: 1, role: "leader", term: 3, leader: 1, commitIndex: 10, appliedIndex: 10, lastIndex: 11, halted: nil,
                                     members: [MemberStatus(id: 1, name: "node1", client: "127.0.0.1:1", link: "self", lastHeardMillis: 0, match: 11, lag: 0),
                                               MemberStatus(id: 2, name: "node2", client: "127.0.0.1:2", link: "down", lastHeardMillis: nil, match: nil, lag: nil)])),
        .status(id: 6, ClusterStatus(node: 2, role: "follower", term: 0, leader: 0, commitIndex: 0, appliedIndex: 0, lastIndex: 0,
                                     halted: "log storage failed: disk full", members: [])),
        .failure(id: 7, RequestFailure(code: .unavailable, leader: 2, leaderAddress: "127.0.0.1:2", reason: "this node does not lead")),
        .failure(id: 8, RequestFailure(code: .forbidden, reason: "no")),
    ]

    func testEveryRequestAndReplyRoundTrips() throws {
        for r in Self.requests {
            XCTAssertEqual(try ClientRequest.decode(r.frame), r)
            XCTAssertEqual(try ProtocolFrame.decode(payload: Array(try r.frame.encode(maxPayloadSize: 1 << 20).dropFirst(4))), r.frame)
        }
        for r in Self.replies { XCTAssertEqual(try ClientReply.decode(r.frame), r) }
    }

    func testRepliesAreNotRequestsAndViceVersa() {
        for r in Self.requests { XCTAssertThrowsError(try ClientReply.decode(r.frame)) }
        for r in Self.replies { XCTAssertThrowsError(try ClientRequest.decode(r.frame)) }
        XCTAssertThrowsError(try ClientRequest.decode(ProtocolFrame(kind: 9, body: [0])))
    }

    func testEveryTruncationAndTrailingByteIsRefused() {
        for r in Self.requests {
            let body = r.frame.body
            for cut in 0..<body.count {
                XCTAssertThrowsError(try ClientRequest.decode(ProtocolFrame(kind: r.frame.kind, body: Array(body[..<cut]))), "\(r) cut at \(cut)")
            }
            XCTAssertThrowsError(try ClientRequest.decode(ProtocolFrame(kind: r.frame.kind, body: body + [0])))
        }
        for r in Self.replies {
            let body = r.frame.body
            for cut in 0..<body.count {
                XCTAssertThrowsError(try ClientReply.decode(ProtocolFrame(kind: r.frame.kind, body: Array(body[..<cut]))), "\(r) cut at \(cut)")
            }
            XCTAssertThrowsError(try ClientReply.decode(ProtocolFrame(kind: r.frame.kind, body: body + [0])))
        }
    }

    func testRandomBytesNeverTrap() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let body = (0..<Int.random(in: 0..<40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let kind = UInt8.random(in: 0...24, using: &rng)
            _ = try? ClientRequest.decode(ProtocolFrame(kind: kind, body: body))
            _ = try? ClientReply.decode(ProtocolFrame(kind: kind, body: body))
        }
    }

    func testLimitsAreEnforced() {
        var w = ByteWriter()
        w.writeVarint(1)
        w.writeLengthPrefixed("t")
        w.writeVarint(0)
        w.writeVarint(UInt64(ClientLimits.maxReadCount) + 1)
        w.writeUInt8(0)
        XCTAssertThrowsError(try ClientRequest.decode(ProtocolFrame(kind: ClientFrameKind.read.rawValue, body: w.bytes)))
        var flag = ByteWriter()
        flag.writeVarint(1)
        flag.writeLengthPrefixed("t")
        flag.writeVarint(0)
        flag.writeVarint(1)
        flag.writeUInt8(2)
        XCTAssertThrowsError(try ClientRequest.decode(ProtocolFrame(kind: ClientFrameKind.read.rawValue, body: flag.bytes)))
        let big = ClientRequest.submit(id: 1, type: "t", commandID: "c", payload: [UInt8](repeating: 0, count: ClientLimits.maxPayload + 1))
        XCTAssertThrowsError(try ClientRequest.decode(big.frame))
    }
}
