import Wire

/// The client protocol's frames (Protocols/client.md): requests from consoles, gateways and tools
/// to a node, and the node's replies and subscription events. Every request carries an id chosen
/// by the client; every reply and event names it, so requests may be pipelined.
public enum ClientFrameKind: UInt8, Sendable {
    case submit = 1, read = 2, subscribe = 3, unsubscribe = 4, status = 5, query = 6
    case outcome = 16, messages = 17, event = 18, statusReply = 19, failure = 20, answer = 21
}

/// Why a client frame could not be decoded.
public struct ClientProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
    init(_ e: WireError, _ what: String) { description = "\(what): \(e)" }

    /// Runs `decode` over `body`, which it must consume to the last byte; a `WireError` becomes
    /// this error, naming `what`.
    static func decoding<T>(_ body: [UInt8], _ what: String,
                            _ decode: (inout ByteReader) throws -> T) throws(ClientProtocolError) -> T {
        var r = ByteReader(body)
        do {
            let value = try decode(&r)
            try r.finish()
            return value
        } catch let e as WireError {
            throw ClientProtocolError(e, what)
        } catch let e as ClientProtocolError {
            throw e
        } catch {
            throw ClientProtocolError("\(error)")
        }
    }
}

/// Field limits of the client protocol (a frame breaking them is refused).
public enum ClientLimits {
    public static let maxName = 256
    public static let maxPayload = 1 << 20
    public static let maxReadCount: UInt32 = 10_000
    public static let maxMembers = 16
}

/// A request from a client to a node.
public enum ClientRequest: Equatable, Sendable {
    /// A command for the log: answered with `outcome` once committed (a follower forwards it).
    case submit(id: UInt64, type: String, commandID: String, payload: [UInt8])
    /// Messages of `topic` from `from` on; `linearizable` waits for a read index first.
    case read(id: UInt64, topic: String, from: UInt64, limit: UInt32, linearizable: Bool)
    /// Pushes `topic`'s messages from `from` on as `event`s named `id`, until `unsubscribe(id)`.
    case subscribe(id: UInt64, topic: String, from: UInt64)
    case unsubscribe(id: UInt64)
    /// The node's view of the cluster.
    case status(id: UInt64)
    /// A read-only question to a domain state machine (e.g. namespace "alarm", name "proposal"),
    /// answered with `answer`; `linearizable` waits for a read index first.
    case query(id: UInt64, namespace: String, name: String, payload: [UInt8], linearizable: Bool)

    public var id: UInt64 {
        switch self {
        case let .submit(id, _, _, _), let .read(id, _, _, _, _), let .subscribe(id, _, _), let .unsubscribe(id), let .status(id),
             let .query(id, _, _, _, _): id
        }
    }

    public var isStatus: Bool { if case .status = self { true } else { false } }
    public var isUnsubscribe: Bool { if case .unsubscribe = self { true } else { false } }

    public var frame: ProtocolFrame {
        var w = ByteWriter()
        w.writeVarint(id)
        let kind: ClientFrameKind
        switch self {
        case let .submit(_, type, commandID, payload):
            kind = .submit
            w.writeLengthPrefixed(type)
            w.writeLengthPrefixed(commandID)
            w.writeLengthPrefixed(payload)
        case let .read(_, topic, from, limit, linearizable):
            kind = .read
            w.writeLengthPrefixed(topic)
            w.writeVarint(from)
            w.writeVarint(UInt64(limit))
            w.writeUInt8(linearizable ? 1 : 0)
        case let .subscribe(_, topic, from):
            kind = .subscribe
            w.writeLengthPrefixed(topic)
            w.writeVarint(from)
        case .unsubscribe: kind = .unsubscribe
        case .status: kind = .status
        case let .query(_, namespace, name, payload, linearizable):
            kind = .query
            w.writeLengthPrefixed(namespace)
            w.writeLengthPrefixed(name)
            w.writeLengthPrefixed(payload)
            w.writeUInt8(linearizable ? 1 : 0)
        }
        return ProtocolFrame(kind: kind.rawValue, body: w.bytes)
    }

    public static func decode(_ frame: ProtocolFrame) throws(ClientProtocolError) -> ClientRequest {
        guard let kind = ClientFrameKind(rawValue: frame.kind), kind.rawValue < 16 else {
            throw ClientProtocolError("unknown request kind \(frame.kind)")
        }
        return try ClientProtocolError.decoding(frame.body, "\(kind) request") { r in
            let id = try r.readVarint()
            let request: ClientRequest
            switch kind {
            case .submit:
                request = .submit(id: id, type: try r.readLengthPrefixedString(limit: ClientLimits.maxName),
                                  commandID: try r.readLengthPrefixedString(limit: ClientLimits.maxName),
                                  payload: try r.readLengthPrefixed(limit: ClientLimits.maxPayload))
            case .read:
                let topic = try r.readLengthPrefixedString(limit: ClientLimits.maxName)
                let from = try r.readVarint()
                let limit = try r.readVarint()
                guard limit <= UInt64(ClientLimits.maxReadCount) else { throw ClientProtocolError("read limit \(limit) over \(ClientLimits.maxReadCount)") }
                let flag = try r.readUInt8()
                guard flag <= 1 else { throw ClientProtocolError("read: linearizable flag must be 0 or 1") }
                request = .read(id: id, topic: topic, from: from, limit: UInt32(limit), linearizable: flag == 1)
            case .subscribe:
                request = .subscribe(id: id, topic: try r.readLengthPrefixedString(limit: ClientLimits.maxName), from: try r.readVarint())
            case .unsubscribe: request = .unsubscribe(id: id)
            case .status: request = .status(id: id)
            case .query:
                let namespace = try r.readLengthPrefixedString(limit: 64)
                let name = try r.readLengthPrefixedString(limit: 64)
                let payload = try r.readLengthPrefixed(limit: 64 << 10)
                let flag = try r.readUInt8()
                guard flag <= 1 else { throw ClientProtocolError("query: linearizable flag must be 0 or 1") }
                request = .query(id: id, namespace: namespace, name: name, payload: payload, linearizable: flag == 1)
            default: throw ClientProtocolError("unknown request kind \(frame.kind)")
            }
            return request
        }
    }
}

/// One message of a topic as a client sees it.
public struct BusMessage: Equatable, Sendable {
    public var offset: UInt64
    /// Who published it (the certificate identity the node recorded).
    public var sender: String
    public var commandID: String
    /// Milliseconds since the Unix epoch, as the log recorded it.
    public var timestamp: UInt64
    public var payload: [UInt8]
    public init(offset: UInt64, sender: String, commandID: String, timestamp: UInt64, payload: [UInt8]) {
        self.offset = offset
        self.sender = sender
        self.commandID = commandID
        self.timestamp = timestamp
        self.payload = payload
    }

    func encode(into w: inout ByteWriter) {
        w.writeVarint(offset)
        w.writeLengthPrefixed(sender)
        w.writeLengthPrefixed(commandID)
        w.writeVarint(timestamp)
        w.writeLengthPrefixed(payload)
    }

    static func decode(from r: inout ByteReader) throws(WireError) -> BusMessage {
        BusMessage(offset: try r.readVarint(), sender: try r.readLengthPrefixedString(limit: ClientLimits.maxName),
                   commandID: try r.readLengthPrefixedString(limit: ClientLimits.maxName), timestamp: try r.readVarint(),
                   payload: try r.readLengthPrefixed(limit: ClientLimits.maxPayload))
    }
}

/// A page of a topic: `messages`, where to continue, and the topic's bounds at the time.
public struct ReadPage: Equatable, Sendable {
    public var messages: [BusMessage]
    public var nextOffset: UInt64
    /// The oldest offset still retained (> the requested one: retention removed some).
    public var firstOffset: UInt64
    public var endOffset: UInt64
    public init(messages: [BusMessage], nextOffset: UInt64, firstOffset: UInt64, endOffset: UInt64) {
        self.messages = messages
        self.nextOffset = nextOffset
        self.firstOffset = firstOffset
        self.endOffset = endOffset
    }
}

/// What a subscription pushes, in offset order.
public enum StreamEvent: Equatable, Sendable {
    case message(BusMessage)
    /// Retention removed `from..<resumeAt` before the subscriber saw them.
    case gap(from: UInt64, resumeAt: UInt64)
}

/// One member of the cluster as a node sees it.
public struct MemberStatus: Equatable, Sendable {
    public var id: UInt64
    public var name: String
    /// `host:port` of its client listener.
    public var client: String
    /// `self`, `up` (mesh link connected both ways) or `down`.
    public var link: String
    /// Milliseconds since this node last heard from it (0 for itself; nil: never).
    public var lastHeardMillis: UInt64?
    /// The leader's knowledge of its log: highest matching index and entries behind (leader only).
    public var match: UInt64?
    public var lag: UInt64?
    public init(id: UInt64, name: String, client: String, link: String, lastHeardMillis: UInt64?, match: UInt64?, lag: UInt64?) {
        self.id = id
        self.name = name
        self.client = client
        self.link = link
        self.lastHeardMillis = lastHeardMillis
        self.match = match
        self.lag = lag
    }
}

/// A node's view of the cluster.
public struct ClusterStatus: Equatable, Sendable {
    public var node: UInt64
    /// `leader`, `follower`, `candidate` or `precandidate`.
    public var role: String
    public var term: UInt64
    /// 0: no leader known.
    public var leader: UInt64
    public var commitIndex: UInt64
    public var appliedIndex: UInt64
    public var lastIndex: UInt64
    /// Set when the node stopped serving (storage failure), with the reason.
    public var halted: String?
    public var members: [MemberStatus]
    public init(node: UInt64, role: String, term: UInt64, leader: UInt64, commitIndex: UInt64, appliedIndex: UInt64,
                lastIndex: UInt64, halted: String?, members: [MemberStatus]) {
        self.node = node
        self.role = role
        self.term = term
        self.leader = leader
        self.commitIndex = commitIndex
        self.appliedIndex = appliedIndex
        self.lastIndex = lastIndex
        self.halted = halted
        self.members = members
    }

    /// The leader's member entry, if a leader is known.
    public var leaderMember: MemberStatus? { leader == 0 ? nil : members.first { $0.id == leader } }
}

/// Why a request failed.
public struct RequestFailure: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: UInt8, Sendable {
        /// No leader can take the request now (election running, no quorum); retry soon.
        case unavailable = 1
        /// No answer in time: the outcome is unknown. A submit may be retried with the same id.
        case timedOut = 2
        /// The request breaks the protocol's or the bus's rules (bad topic name, oversize…).
        case invalid = 3
        /// The topic does not exist.
        case notFound = 4
        /// The node stopped serving (storage failure).
        case halted = 5
        /// The node is overloaded; retry later.
        case overloaded = 6
        /// The certificate's role may not do this.
        case forbidden = 7
    }
    public var code: Code
    /// The leader as the node knows it (0: unknown) and its client address ("" unknown).
    public var leader: UInt64
    public var leaderAddress: String
    public var reason: String
    public init(code: Code, leader: UInt64 = 0, leaderAddress: String = "", reason: String) {
        self.code = code
        self.leader = leader
        self.leaderAddress = leaderAddress
        self.reason = reason
    }
    public var description: String { "\(code): \(reason)" }
}

/// A reply or event from a node.
public enum ClientReply: Equatable, Sendable {
    /// A submit's committed outcome (`CommandOutcome` bytes, see Bus).
    case outcome(id: UInt64, outcome: [UInt8])
    case messages(id: UInt64, page: ReadPage)
    case event(id: UInt64, StreamEvent)
    case status(id: UInt64, ClusterStatus)
    case failure(id: UInt64, RequestFailure)
    /// A query's answer, in the domain's format.
    case answer(id: UInt64, payload: [UInt8])

    public var id: UInt64 {
        switch self {
        case let .outcome(id, _), let .messages(id, _), let .event(id, _), let .status(id, _), let .failure(id, _), let .answer(id, _): id
        }
    }

    public var frame: ProtocolFrame {
        var w = ByteWriter()
        w.writeVarint(id)
        let kind: ClientFrameKind
        switch self {
        case let .outcome(_, outcome):
            kind = .outcome
            w.writeLengthPrefixed(outcome)
        case let .messages(_, page):
            kind = .messages
            w.writeVarint(page.nextOffset)
            w.writeVarint(page.firstOffset)
            w.writeVarint(page.endOffset)
            w.writeVarint(UInt64(page.messages.count))
            for m in page.messages { m.encode(into: &w) }
        case let .event(_, event):
            kind = .event
            switch event {
            case .message(let m):
                w.writeUInt8(0)
                m.encode(into: &w)
            case let .gap(from, resumeAt):
                w.writeUInt8(1)
                w.writeVarint(from)
                w.writeVarint(resumeAt)
            }
        case let .status(_, s):
            kind = .statusReply
            w.writeVarint(s.node)
            w.writeLengthPrefixed(s.role)
            w.writeVarint(s.term)
            w.writeVarint(s.leader)
            w.writeVarint(s.commitIndex)
            w.writeVarint(s.appliedIndex)
            w.writeVarint(s.lastIndex)
            w.writeLengthPrefixed(s.halted ?? "")
            w.writeVarint(UInt64(s.members.count))
            for m in s.members {
                w.writeVarint(m.id)
                w.writeLengthPrefixed(m.name)
                w.writeLengthPrefixed(m.client)
                w.writeLengthPrefixed(m.link)
                // Optional numbers: value + 1, 0 for none.
                w.writeVarint(m.lastHeardMillis.map { $0 &+ 1 } ?? 0)
                w.writeVarint(m.match.map { $0 &+ 1 } ?? 0)
                w.writeVarint(m.lag.map { $0 &+ 1 } ?? 0)
            }
        case let .failure(_, f):
            kind = .failure
            w.writeUInt8(f.code.rawValue)
            w.writeVarint(f.leader)
            w.writeLengthPrefixed(f.leaderAddress)
            w.writeLengthPrefixed(f.reason)
        case let .answer(_, payload):
            kind = .answer
            w.writeLengthPrefixed(payload)
        }
        return ProtocolFrame(kind: kind.rawValue, body: w.bytes)
    }

    public static func decode(_ frame: ProtocolFrame) throws(ClientProtocolError) -> ClientReply {
        guard let kind = ClientFrameKind(rawValue: frame.kind), kind.rawValue >= 16 else {
            throw ClientProtocolError("unknown reply kind \(frame.kind)")
        }
        func optional(_ v: UInt64) -> UInt64? { v == 0 ? nil : v - 1 }
        return try ClientProtocolError.decoding(frame.body, "\(kind) reply") { r in
            let id = try r.readVarint()
            let reply: ClientReply
            switch kind {
            case .outcome:
                reply = .outcome(id: id, outcome: try r.readLengthPrefixed(limit: ClientLimits.maxPayload))
            case .messages:
                let next = try r.readVarint(), first = try r.readVarint(), end = try r.readVarint()
                let count = try r.readVarint()
                guard count <= UInt64(ClientLimits.maxReadCount), count <= UInt64(r.remainingCount) else {
                    throw ClientProtocolError("messages: count \(count) too large")
                }
                var messages: [BusMessage] = []
                messages.reserveCapacity(Int(count))
                for _ in 0..<count { messages.append(try BusMessage.decode(from: &r)) }
                reply = .messages(id: id, page: ReadPage(messages: messages, nextOffset: next, firstOffset: first, endOffset: end))
            case .event:
                switch try r.readUInt8() {
                case 0: reply = .event(id: id, .message(try BusMessage.decode(from: &r)))
                case 1: reply = .event(id: id, .gap(from: try r.readVarint(), resumeAt: try r.readVarint()))
                case let tag: throw ClientProtocolError("event: unknown kind \(tag)")
                }
            case .statusReply:
                let node = try r.readVarint()
                let role = try r.readLengthPrefixedString(limit: 32)
                let term = try r.readVarint(), leader = try r.readVarint(), commit = try r.readVarint()
                let applied = try r.readVarint(), last = try r.readVarint()
                let halted = try r.readLengthPrefixedString(limit: 1024)
                let count = try r.readVarint()
                guard count <= UInt64(ClientLimits.maxMembers) else { throw ClientProtocolError("status: \(count) members") }
                var members: [MemberStatus] = []
                for _ in 0..<count {
                    members.append(MemberStatus(id: try r.readVarint(), name: try r.readLengthPrefixedString(limit: ClientLimits.maxName),
                                                client: try r.readLengthPrefixedString(limit: ClientLimits.maxName),
                                                link: try r.readLengthPrefixedString(limit: 16),
                                                lastHeardMillis: optional(try r.readVarint()), match: optional(try r.readVarint()),
                                                lag: optional(try r.readVarint())))
                }
                reply = .status(id: id, ClusterStatus(node: node, role: role, term: term, leader: leader, commitIndex: commit,
                                                      appliedIndex: applied, lastIndex: last, halted: halted.isEmpty ? nil : halted,
                                                      members: members))
            case .failure:
                let raw = try r.readUInt8()
                guard let code = RequestFailure.Code(rawValue: raw) else { throw ClientProtocolError("failure: unknown code \(raw)") }
                reply = .failure(id: id, RequestFailure(code: code, leader: try r.readVarint(),
                                                        leaderAddress: try r.readLengthPrefixedString(limit: ClientLimits.maxName),
                                                        reason: try r.readLengthPrefixedString(limit: 4096)))
            case .answer:
                reply = .answer(id: id, payload: try r.readLengthPrefixed(limit: ClientLimits.maxPayload))
            default: throw ClientProtocolError("unknown reply kind \(frame.kind)")
            }
            return reply
        }
    }
}
