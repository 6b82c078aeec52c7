import Foundation
import Wire

/// `mqtt.batch` in binary, the way nodes send what their connections did in one turn of the
/// loop: on the hot path of every PUBLISH and every acknowledgement, JSON (with base64 payloads)
/// cost more than everything else between the socket and the log, and one command per PUBACK
/// more still. (`mqtt.publish.batch` is the same; its JSON form `{"publishes": […]}` is read too
/// and answered in JSON.)
///
/// Payload: `0x01`, a varint count (1…`maxBatch`), then the items in arrival order. A publish:
/// one flags byte (bit 0: a session follows, bit 1: retain, bit 2: a packet id follows, bits
/// 3–4: QoS), [session], org, topic, payload — each a varint length and its bytes — and [the
/// packet id, 2 bytes big-endian]. An acknowledgement: `0x80 | kind` (0 PUBACK, 1 PUBREC,
/// 2 PUBCOMP, 3 PUBREL), the session, the packet id. The result: `0x01`, a varint count, then per
/// item its outcome (0 published, 1 duplicate, 2 discarded, 3 acknowledged), a varint of
/// deliveries and, when discarded, the reason (varint length, UTF-8).
extension PartnerState {
    public static let binaryTag: UInt8 = 0x01

    public enum BatchItem: Equatable, Sendable {
        case publish(Publish)
        case ack(Ack)
    }

    static let ackKinds: [Ack.Kind] = [.puback, .pubrec, .pubcomp, .pubrel]

    /// One acknowledgement of a binary batch.
    public static func binaryItem(_ a: Ack) -> [UInt8] {
        var w = ByteWriter(capacity: a.session.utf8.count + 8)
        w.writeUInt8(0x80 | UInt8(ackKinds.firstIndex(of: a.kind)!))
        w.writeLengthPrefixed(a.session)
        w.writeUInt16(a.packetID)
        return w.bytes
    }

    /// One publish of a binary batch.
    public static func binaryItem(_ p: Publish) -> [UInt8] {
        var w = ByteWriter(capacity: p.payload.count + p.topic.utf8.count + 64)
        var flags = UInt8(p.qos.rawValue) << 3
        if p.session != nil { flags |= 1 }
        if p.retain { flags |= 2 }
        if p.packetID != nil { flags |= 4 }
        w.writeUInt8(flags)
        if let s = p.session { w.writeLengthPrefixed(s) }
        w.writeLengthPrefixed(p.org)
        w.writeLengthPrefixed(p.topic)
        w.writeLengthPrefixed(p.payload)
        if let id = p.packetID { w.writeUInt16(id) }
        return w.bytes
    }

    /// A binary batch of items made by `binaryItem`.
    public static func binaryBatch(_ items: [[UInt8]]) -> [UInt8] {
        var w = ByteWriter(capacity: items.reduce(8) { $0 + $1.count })
        w.writeUInt8(binaryTag)
        w.writeVarint(UInt64(items.count))
        for i in items { w.writeBytes(i) }
        return w.bytes
    }

    public static func readBinaryBatch(_ bytes: [UInt8]) throws(Failure) -> [BatchItem] {
        var r = ByteReader(bytes)
        do {
            guard try r.readUInt8() == binaryTag else { throw Failure.invalid("batch: unknown format") }
            let count = try r.readVarint()
            guard (1...UInt64(maxBatch)).contains(count) else { throw Failure.invalid("a batch holds 1…\(maxBatch) publishes") }
            var out: [BatchItem] = []
            out.reserveCapacity(Int(count))
            for _ in 0..<count {
                let flags = try r.readUInt8()
                if flags & 0x80 != 0 {
                    guard flags & 0x7C == 0 else { throw Failure.invalid("batch: bad item \(flags)") }
                    let session = try r.readLengthPrefixedString(limit: 1_024)
                    let id = UInt16(try r.readUInt8()) << 8 | UInt16(try r.readUInt8())
                    out.append(.ack(Ack(session: session, packetID: id, kind: ackKinds[Int(flags & 3)])))
                    continue
                }
                guard flags & ~0x1F == 0, let qos = QoS(rawValue: (flags >> 3) & 3) else { throw Failure.invalid("batch: bad flags \(flags)") }
                let session = flags & 1 != 0 ? try r.readLengthPrefixedString(limit: 1_024) : nil
                let org = try r.readLengthPrefixedString(limit: 64)
                let topic = try r.readLengthPrefixedString(limit: 65_535)
                let payload = try r.readLengthPrefixed(limit: 1 << 20)
                var packetID: UInt16?
                if flags & 4 != 0 { packetID = UInt16(try r.readUInt8()) << 8 | UInt16(try r.readUInt8()) }
                out.append(.publish(Publish(session: session, org: org, topic: topic, payload: Data(payload), qos: qos, retain: flags & 2 != 0, packetID: packetID)))
            }
            try r.finish()
            return out
        } catch let f as Failure {
            throw f
        } catch {
            throw .invalid("batch: \(error)")
        }
    }

    public static func binaryResults(_ results: [PublishResult]) -> [UInt8] {
        var w = ByteWriter(capacity: 4 + results.count * 3)
        w.writeUInt8(binaryTag)
        w.writeVarint(UInt64(results.count))
        for r in results {
            let code: UInt8 = switch r.outcome { case "published": 0; case "duplicate": 1; case "acknowledged": 3; default: 2 }
            w.writeUInt8(code)
            w.writeVarint(UInt64(max(0, r.deliveries)))
            if code == 2 { w.writeLengthPrefixed(r.reason ?? "") }
        }
        return w.bytes
    }

    /// The results of a binary batch, or nil when `bytes` are not such results.
    public static func readBinaryResults(_ bytes: [UInt8]) -> [PublishResult]? {
        var r = ByteReader(bytes)
        guard (try? r.readUInt8()) == binaryTag, let count = try? r.readVarint(), count <= UInt64(maxBatch) else { return nil }
        var out: [PublishResult] = []
        for _ in 0..<count {
            guard let code = try? r.readUInt8(), code <= 3, let varint = try? r.readVarint(), let deliveries = Int(exactly: varint) else { return nil }
            var reason: String?
            if code == 2 { guard let s = try? r.readLengthPrefixedString(limit: 1 << 16) else { return nil }; reason = s }
            out.append(PublishResult(outcome: ["published", "duplicate", "discarded", "acknowledged"][Int(code)], reason: reason, deliveries: deliveries))
        }
        return r.isAtEnd ? out : nil
    }
}
