import Consensus
import Wire

/// Why a batch of Raft messages from a peer could not be decoded. The decoder reports these instead
/// of trapping, so a malformed or hostile peer costs at most its connection.
///
/// `field` names where decoding stopped (`"message 3 (append), entry 17 data length"`; messages,
/// entries and voters counted from 0), so an operator can tell a cut-off frame from a peer that
/// speaks another version or a different format.
public enum MessageCodecError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The first byte announced a codec version this build does not read.
    case unsupportedVersion(found: UInt8, supported: UInt8)
    /// The input ended inside `field`.
    case truncated(field: String)
    /// A varint in `field` was longer than 10 bytes, wider than 64 bits, or not in shortest form.
    case malformedVarint(field: String)
    /// A count or length announced more elements or bytes than the input could still hold
    /// (`available` bytes remained; each element takes at least one byte, messages and entries four).
    case countTooLarge(field: String, count: UInt64, available: Int)
    /// A message's body tag is not one this build knows.
    case unknownBodyTag(field: String, tag: UInt8)
    /// A boolean or presence byte other than 0 or 1.
    case invalidBool(field: String, byte: UInt8)
    /// An entry kind byte that is not a known `Entry.Kind`.
    case unknownEntryKind(field: String, byte: UInt8)
    /// A node id of 0, which no node has.
    case zeroNodeID(field: String)
    /// The batch was fully decoded but `count` bytes were left over.
    case trailingBytes(count: Int)

    public var description: String {
        switch self {
        case let .unsupportedVersion(found, supported):
            "Raft message batch has codec version \(found), this build reads \(supported): the peer runs an incompatible release"
        case let .truncated(field):
            "Raft message batch ends inside \(field): the frame was cut short or the peer's encoder is broken"
        case let .malformedVarint(field):
            "Raft message batch has a malformed varint in \(field) (longer than 10 bytes, wider than 64 bits, or not in shortest form)"
        case let .countTooLarge(field, count, available):
            "Raft message batch: \(field) announces \(count), more than the \(available) remaining bytes can hold"
        case let .unknownBodyTag(field, tag):
            "Raft message batch: \(field) is \(tag), not a known message body: the peer runs an incompatible release"
        case let .invalidBool(field, byte):
            "Raft message batch: \(field) is \(byte), only 0 and 1 are allowed"
        case let .unknownEntryKind(field, byte):
            "Raft message batch: \(field) is \(byte), not a known entry kind"
        case let .zeroNodeID(field):
            "Raft message batch: \(field) is node id 0, which no node has"
        case let .trailingBytes(count):
            "Raft message batch has \(count) unexpected bytes after its last message"
        }
    }
}

/// The binary form of Raft messages on the node-to-node mesh (`Protocols/mesh.md`, "Raft messages
/// on the mesh"): a version byte, a varint count, then each message's `from`, `to`, `term`, a body
/// tag and the body's fields.
///
/// The decoder is strict: varints only in shortest form, booleans only 0 or 1, only known tags and
/// entry kinds, no node id 0, no trailing bytes. So every batch has exactly one encoding, and any
/// bytes it accepts re-encode to themselves.
public enum MessageCodec {
    /// The codec version written first in every batch.
    public static let version: UInt8 = 1

    /// Body tags. Part of the wire format: never renumber. 0 is never a tag, so a zeroed buffer
    /// fails at its first message.
    enum Tag: UInt8 {
        case requestVote = 1
        case voteResponse = 2
        case append = 3
        case appendResponse = 4
        case heartbeat = 5
        case heartbeatResponse = 6
        case snapshot = 7
        case readIndex = 8
        case readIndexResponse = 9
        case readProbe = 10
        case readProbeAck = 11
    }

    /// The fewest bytes a message takes (from, to, term, tag; a `heartbeatResponse`).
    static let minimumMessageByteCount = 4
    /// The fewest bytes an entry takes (index, term, kind, data length).
    static let minimumEntryByteCount = 4

    // MARK: Encoding

    /// Encodes a batch of messages (all between the same two nodes, in order).
    ///
    /// Cost: one allocation of exactly the encoded size (measured before writing); entry and
    /// snapshot data are copied in bulk.
    public static func encode(_ messages: [Message]) -> [UInt8] {
        var size = 1 + Varint.byteCount(UInt64(messages.count))
        for message in messages { size += encodedByteCount(message) }
        var writer = ByteWriter(capacity: size)
        writer.writeUInt8(version)
        writer.writeVarint(UInt64(messages.count))
        for message in messages { write(message, to: &writer) }
        assert(writer.bytes.count == size, "encodedByteCount disagrees with write")
        return writer.bytes
    }

    private static func write(_ message: Message, to w: inout ByteWriter) {
        w.writeVarint(message.from.rawValue)
        w.writeVarint(message.to.rawValue)
        w.writeVarint(message.term)
        switch message.body {
        case let .requestVote(pre, lastIndex, lastTerm):
            w.writeUInt8(Tag.requestVote.rawValue)
            w.writeUInt8(pre ? 1 : 0)
            w.writeVarint(lastIndex)
            w.writeVarint(lastTerm)
        case let .voteResponse(pre, granted):
            w.writeUInt8(Tag.voteResponse.rawValue)
            w.writeUInt8(pre ? 1 : 0)
            w.writeUInt8(granted ? 1 : 0)
        case let .append(prevIndex, prevTerm, entries, commit):
            w.writeUInt8(Tag.append.rawValue)
            w.writeVarint(prevIndex)
            w.writeVarint(prevTerm)
            w.writeVarint(UInt64(entries.count))
            for entry in entries {
                w.writeVarint(entry.index)
                w.writeVarint(entry.term)
                w.writeUInt8(entry.kind.rawValue)
                w.writeLengthPrefixed(entry.data)
            }
            w.writeVarint(commit)
        case let .appendResponse(index, rejection):
            w.writeUInt8(Tag.appendResponse.rawValue)
            w.writeVarint(index)
            if let rejection {
                w.writeUInt8(1)
                w.writeVarint(rejection.hintIndex)
                w.writeVarint(rejection.hintTerm)
            } else {
                w.writeUInt8(0)
            }
        case let .heartbeat(commit):
            w.writeUInt8(Tag.heartbeat.rawValue)
            w.writeVarint(commit)
        case .heartbeatResponse:
            w.writeUInt8(Tag.heartbeatResponse.rawValue)
        case let .snapshot(snapshot):
            w.writeUInt8(Tag.snapshot.rawValue)
            w.writeVarint(snapshot.metadata.index)
            w.writeVarint(snapshot.metadata.term)
            w.writeVarint(UInt64(snapshot.metadata.voters.count))
            for voter in snapshot.metadata.voters { w.writeVarint(voter.rawValue) }
            w.writeLengthPrefixed(snapshot.data)
        case let .readIndex(context):
            w.writeUInt8(Tag.readIndex.rawValue)
            w.writeVarint(context)
        case let .readIndexResponse(context, index):
            w.writeUInt8(Tag.readIndexResponse.rawValue)
            w.writeVarint(context)
            w.writeVarint(index)
        case let .readProbe(round, commit):
            w.writeUInt8(Tag.readProbe.rawValue)
            w.writeVarint(round)
            w.writeVarint(commit)
        case let .readProbeAck(round):
            w.writeUInt8(Tag.readProbeAck.rawValue)
            w.writeVarint(round)
        }
    }

    /// Exactly the bytes `write` appends for `message`.
    private static func encodedByteCount(_ message: Message) -> Int {
        let v = Varint.byteCount
        let head = v(message.from.rawValue) + v(message.to.rawValue) + v(message.term) + 1
        switch message.body {
        case let .requestVote(_, lastIndex, lastTerm): return head + 1 + v(lastIndex) + v(lastTerm)
        case .voteResponse: return head + 2
        case let .append(prevIndex, prevTerm, entries, commit):
            var size = head + v(prevIndex) + v(prevTerm) + v(UInt64(entries.count)) + v(commit)
            for entry in entries {
                size += v(entry.index) + v(entry.term) + 1 + v(UInt64(entry.data.count)) + entry.data.count
            }
            return size
        case let .appendResponse(index, rejection):
            guard let rejection else { return head + v(index) + 1 }
            return head + v(index) + 1 + v(rejection.hintIndex) + v(rejection.hintTerm)
        case let .heartbeat(commit): return head + v(commit)
        case .heartbeatResponse: return head
        case let .snapshot(snapshot):
            let meta = snapshot.metadata
            var size = head + v(meta.index) + v(meta.term) + v(UInt64(meta.voters.count))
            for voter in meta.voters { size += v(voter.rawValue) }
            return size + v(UInt64(snapshot.data.count)) + snapshot.data.count
        case let .readIndex(context): return head + v(context)
        case let .readIndexResponse(context, index): return head + v(context) + v(index)
        case let .readProbe(round, commit): return head + v(round) + v(commit)
        case let .readProbeAck(round): return head + v(round)
        }
    }

    // MARK: Decoding

    /// Decodes a batch; refuses anything malformed (never traps on hostile input, never allocates
    /// based on an unchecked count beyond the bytes present).
    ///
    /// Every count is checked against the bytes remaining (divided by the fewest bytes one element
    /// takes) before anything is reserved, and every length before it is copied. Entry and snapshot
    /// sizes are not limited here beyond the input's own size: the frame limit of the connection
    /// bounds them.
    public static func decode(_ bytes: [UInt8]) throws(MessageCodecError) -> [Message] {
        var r = BatchReader(bytes)
        let found = try r.u8("version")
        guard found == version else { throw .unsupportedVersion(found: found, supported: version) }
        let count = try r.count("message count", elementSize: minimumMessageByteCount)
        var messages: [Message] = []
        messages.reserveCapacity(count)
        for i in 0..<count {
            r.message = i
            messages.append(try r.readMessage())
        }
        r.message = nil
        guard r.reader.isAtEnd else { throw .trailingBytes(count: r.reader.remainingCount) }
        return messages
    }
}

/// Reads one batch field by field, mapping every `WireError` to a `MessageCodecError` that says
/// where in the batch it happened. The location is kept as numbers and only turned into text when
/// an error is thrown, so the happy path builds no strings.
private struct BatchReader {
    var reader: ByteReader
    /// The message being read (0-based), nil in the batch header.
    var message: Int?
    /// The body tag of the message being read, once known.
    var tag: UInt8?
    /// The entry or voter being read (0-based), within the current message.
    var element: Int?

    init(_ bytes: [UInt8]) { reader = ByteReader(bytes) }

    mutating func readMessage() throws(MessageCodecError) -> Message {
        tag = nil
        element = nil
        let from = try nodeID("from")
        let to = try nodeID("to")
        let term = try varint("term")
        let raw = try u8("body tag")
        guard let bodyTag = MessageCodec.Tag(rawValue: raw) else {
            throw .unknownBodyTag(field: location("body tag"), tag: raw)
        }
        tag = raw
        let body: Message.Body
        switch bodyTag {
        case .requestVote:
            body = .requestVote(pre: try bool("pre"), lastIndex: try varint("lastIndex"), lastTerm: try varint("lastTerm"))
        case .voteResponse:
            body = .voteResponse(pre: try bool("pre"), granted: try bool("granted"))
        case .append:
            let prevIndex = try varint("prevIndex")
            let prevTerm = try varint("prevTerm")
            let count = try count("entry count", elementSize: MessageCodec.minimumEntryByteCount)
            var entries: [Entry] = []
            entries.reserveCapacity(count)
            for i in 0..<count {
                element = i
                let index = try varint("index")
                let term = try varint("term")
                let kindByte = try u8("kind")
                guard let kind = Entry.Kind(rawValue: kindByte) else {
                    throw .unknownEntryKind(field: location("kind"), byte: kindByte)
                }
                entries.append(Entry(index: index, term: term, kind: kind, data: try data(lengthField: "data length")))
            }
            element = nil
            body = .append(prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, commit: try varint("commit"))
        case .appendResponse:
            let index = try varint("index")
            let rejection: Message.Rejection?
            if try bool("rejection presence") {
                rejection = Message.Rejection(hintIndex: try varint("hintIndex"), hintTerm: try varint("hintTerm"))
            } else {
                rejection = nil
            }
            body = .appendResponse(index: index, rejection: rejection)
        case .heartbeat:
            body = .heartbeat(commit: try varint("commit"))
        case .heartbeatResponse:
            body = .heartbeatResponse
        case .snapshot:
            let index = try varint("snapshot index")
            let term = try varint("snapshot term")
            let count = try count("voter count", elementSize: 1)
            var voters: [NodeID] = []
            voters.reserveCapacity(count)
            for i in 0..<count {
                element = i
                voters.append(try nodeID("id"))
            }
            element = nil
            let data = try data(lengthField: "snapshot data length")
            body = .snapshot(Snapshot(metadata: SnapshotMetadata(index: index, term: term, voters: voters), data: data))
        case .readIndex:
            body = .readIndex(context: try varint("context"))
        case .readIndexResponse:
            body = .readIndexResponse(context: try varint("context"), index: try varint("index"))
        case .readProbe:
            body = .readProbe(round: try varint("round"), commit: try varint("commit"))
        case .readProbeAck:
            body = .readProbeAck(round: try varint("round"))
        }
        return Message(from: from, to: to, term: term, body: body)
    }

    mutating func u8(_ field: String) throws(MessageCodecError) -> UInt8 {
        do throws(WireError) { return try reader.readUInt8() } catch { throw map(error, field) }
    }

    mutating func varint(_ field: String) throws(MessageCodecError) -> UInt64 {
        do throws(WireError) { return try reader.readVarint() } catch { throw map(error, field) }
    }

    mutating func bool(_ field: String) throws(MessageCodecError) -> Bool {
        switch try u8(field) {
        case 0: return false
        case 1: return true
        case let byte: throw .invalidBool(field: location(field), byte: byte)
        }
    }

    mutating func nodeID(_ field: String) throws(MessageCodecError) -> NodeID {
        let raw = try varint(field)
        guard raw != 0 else { throw .zeroNodeID(field: location(field)) }
        return NodeID(raw)
    }

    /// A varint count of elements that take at least `elementSize` bytes each, refused when the
    /// bytes left cannot hold that many — before the caller reserves or loops on it.
    mutating func count(_ field: String, elementSize: Int) throws(MessageCodecError) -> Int {
        let value = try varint(field)
        let available = reader.remainingCount
        guard value <= UInt64(available / elementSize) else {
            throw .countTooLarge(field: location(field), count: value, available: available)
        }
        return Int(value)
    }

    /// A varint length, then that many bytes, copied in one piece.
    mutating func data(lengthField: String) throws(MessageCodecError) -> [UInt8] {
        let length = try count(lengthField, elementSize: 1)
        do throws(WireError) { return try reader.readBytes(count: length) } catch { throw map(error, lengthField) }
    }

    /// Where `field` sits in the batch, for error messages.
    func location(_ field: String) -> String {
        guard let message else { return "the batch header's \(field)" }
        var text = "message \(message)"
        if let tag, let bodyTag = MessageCodec.Tag(rawValue: tag) { text += " (\(bodyTag))" }
        if let element {
            text += tag == MessageCodec.Tag.snapshot.rawValue ? ", voter \(element)" : ", entry \(element)"
        }
        return text + " " + field
    }

    private func map(_ error: WireError, _ field: String) -> MessageCodecError {
        switch error {
        case .overlongVarint: .malformedVarint(field: location(field))
        case let .trailingBytes(count): .trailingBytes(count: count)
        case .truncated, .lengthExceedsLimit, .frameTooLarge, .frameTooShort, .unsupportedFrameVersion:
            .truncated(field: location(field))
        }
    }
}
