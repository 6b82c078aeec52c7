import Foundation

/// One partner connection's MQTT 3.1.1 behaviour, without sockets: packets from the client in,
/// actions out — packets to send, commands to commit (their result comes back through
/// `committed`), closing. The node runs one per connection on its event loop; tests drive it
/// directly. Acknowledgements that promise something (CONNACK, PUBACK, PUBREC, PUBCOMP, SUBACK,
/// UNSUBACK) are only sent after their command is committed.
public struct MQTTConnectionLogic: Sendable {
    public typealias Packet = MQTTPacket

    /// What a committed command lets the connection answer.
    public enum Continuation: Equatable, Sendable {
        case connack(clientID: String)
        case puback(UInt16)
        case pubrec(UInt16)
        case pubcomp(UInt16)
        case pubrel(UInt16)
        case suback(UInt16)
        case unsuback(UInt16)
        case none
    }

    public enum Action: Equatable, Sendable {
        case send(Packet)
        case submit(type: String, payload: [UInt8], then: Continuation)
        /// Close the connection; the node then submits nothing more for it.
        case close(reason: String)
    }

    public enum Phase: Equatable, Sendable { case awaitingConnect, connecting, connected, closed }

    public let org: String
    public let identity: String
    public let node: String
    public private(set) var phase = Phase.awaitingConnect
    public private(set) var session: String?
    public private(set) var epoch: UInt64 = 0
    public private(set) var keepAlive: UInt16 = 0
    /// Packets that came after CONNECT but before its CONNACK (allowed, MQTT 3.1.4): handled then.
    private var early: [Packet] = []
    /// Queue entries (by `seq`) sent on this connection that are still in the queue — also once
    /// the client acknowledged them, until that acknowledgement is committed and the entry leaves
    /// the queue (else a delivery in between would send it again). Value: PUBREL sent.
    private var inflight: [UInt64: Bool] = [:]
    /// Queue entries that existed when the session resumed: resent with DUP (4.4).
    private var resend: Set<UInt64> = []
    /// Packet id → queue entry, for the entries sent on this connection.
    private var sentIDs: [UInt16: UInt64] = [:]
    private let assignedID: String

    /// The most QoS 1/2 messages in flight to one client at a time.
    public static let window = 64

    public init(org: String, identity: String, node: String, connection: UInt64) {
        self.org = org
        self.identity = identity
        self.node = node
        assignedID = "florian-\(node)-\(connection)"
    }

    // MARK: - From the client

    public mutating func received(_ packet: Packet) -> [Action] {
        switch phase {
        case .closed: return []
        case .awaitingConnect:
            guard case .connect(let c) = packet else { return close("first packet was not CONNECT (MQTT-3.1.0-1)") }
            return connect(c)
        case .connecting:
            if case .connect = packet { return close("second CONNECT (MQTT-3.1.0-2)") }
            early.append(packet)
            return []
        case .connected:
            return handle(packet)
        }
    }

    private mutating func close(_ reason: String) -> [Action] {
        var actions: [Action] = []
        if phase == .connected, let session {
            actions.append(.submit(type: "mqtt.lost", payload: PartnerState.json(PartnerState.Ref(session: session, epoch: epoch)), then: .none))
        }
        phase = .closed
        return actions + [.close(reason: reason)]
    }

    private mutating func connect(_ c: Packet.Connect) -> [Action] {
        guard c.protocolLevel == 4 else {
            phase = .closed
            return [.send(.connack(sessionPresent: false, code: .unacceptableProtocolVersion)), .close(reason: "protocol level \(c.protocolLevel)")]
        }
        var client = c.clientID
        if client.isEmpty {
            // MQTT-3.1.3-7/8: an empty id only with clean session; the server assigns one.
            guard c.cleanSession else {
                phase = .closed
                return [.send(.connack(sessionPresent: false, code: .identifierRejected)), .close(reason: "empty client id without clean session")]
            }
            client = assignedID
        }
        guard client.utf8.count <= 256 else {
            phase = .closed
            return [.send(.connack(sessionPresent: false, code: .identifierRejected)), .close(reason: "client id over 256 bytes")]
        }
        keepAlive = c.keepAlive
        phase = .connecting
        let will = c.will.map { PartnerState.Will(topic: $0.topic, payload: Data($0.message), qos: $0.qos, retain: $0.retain) }
        let command = PartnerState.Connect(org: org, client: client, identity: identity, clean: c.cleanSession, will: will, node: node)
        return [.submit(type: "mqtt.connect", payload: PartnerState.json(command), then: .connack(clientID: client))]
    }

    /// The submit type of a PUBLISH or an acknowledgement: its payload is one item of a binary
    /// `mqtt.batch` (PartnerBatch.swift), which the node gathers per turn of its loop.
    public static let batchItem = "mqtt.batch.item"

    private mutating func handle(_ packet: Packet) -> [Action] {
        guard let session else { return close("no session") }
        switch packet {
        case .connect: return close("second CONNECT (MQTT-3.1.0-2)")
        case .publish(let p):
            let command = PartnerState.Publish(session: session, org: org, topic: p.topic, payload: Data(p.payload), qos: p.qos,
                                               retain: p.retain, packetID: p.qos == .exactlyOnce ? p.packetID : nil)
            let then: Continuation = switch p.qos {
            case .atMostOnce: .none
            case .atLeastOnce: .puback(p.packetID ?? 0)
            case .exactlyOnce: .pubrec(p.packetID ?? 0)
            }
            return [.submit(type: Self.batchItem, payload: PartnerState.binaryItem(command), then: then)]
        case .pubrel(let id):
            return [.submit(type: Self.batchItem, payload: PartnerState.binaryItem(PartnerState.Ack(session: session, packetID: id, kind: .pubrel)), then: .pubcomp(id))]
        case .puback(let id):
            return [.submit(type: Self.batchItem, payload: PartnerState.binaryItem(PartnerState.Ack(session: session, packetID: id, kind: .puback)), then: .none)]
        case .pubrec(let id):
            return [.submit(type: Self.batchItem, payload: PartnerState.binaryItem(PartnerState.Ack(session: session, packetID: id, kind: .pubrec)), then: .pubrel(id))]
        case .pubcomp(let id):
            return [.submit(type: Self.batchItem, payload: PartnerState.binaryItem(PartnerState.Ack(session: session, packetID: id, kind: .pubcomp)), then: .none)]
        case let .subscribe(id, filters):
            let command = PartnerState.Subscribe(session: session, epoch: epoch, filters: filters.map { .init(filter: $0.filter, qos: $0.qos) })
            return [.submit(type: "mqtt.subscribe", payload: PartnerState.json(command), then: .suback(id))]
        case let .unsubscribe(id, filters):
            return [.submit(type: "mqtt.unsubscribe", payload: PartnerState.json(PartnerState.Unsubscribe(session: session, epoch: epoch, filters: filters)), then: .unsuback(id))]
        case .pingreq: return [.send(.pingresp)]
        case .disconnect:
            // MQTT-3.14.4-3: the will is discarded.
            phase = .closed
            return [.submit(type: "mqtt.disconnect", payload: PartnerState.json(PartnerState.Ref(session: session, epoch: epoch)), then: .none),
                    .close(reason: "DISCONNECT")]
        case .connack, .suback, .unsuback, .pingresp: return close("a server's packet from a client")
        }
    }

    // MARK: - Results of committed commands

    /// The command behind `then` was committed with `result` (its JSON), or refused (`nil`).
    public mutating func committed(_ then: Continuation, result: [UInt8]?) -> [Action] {
        guard phase != .closed else {
            // The connection closed while its CONNECT was being committed: the session the log
            // now shows connected here is released again (its will published, a clean one gone).
            if case .connack(let client) = then, let bytes = result,
               let r = try? JSONDecoder().decode(PartnerState.ConnectResult.self, from: Data(bytes)), r.code == 0 {
                let ref = PartnerState.Ref(session: PartnerState.sessionKey(org: org, client: client), epoch: r.epoch)
                return [.submit(type: "mqtt.lost", payload: PartnerState.json(ref), then: .none)]
            }
            return []
        }
        switch then {
        case .connack(let client):
            guard let bytes = result, let r = try? JSONDecoder().decode(PartnerState.ConnectResult.self, from: Data(bytes)) else {
                phase = .closed
                return [.send(.connack(sessionPresent: false, code: .serverUnavailable)), .close(reason: "connect not committed")]
            }
            guard r.code == 0 else {
                phase = .closed
                return [.send(.connack(sessionPresent: false, code: Packet.ConnectReturnCode(rawValue: r.code) ?? .notAuthorized)),
                        .close(reason: "not authorised (CONNACK \(r.code))")]
            }
            phase = .connected
            session = PartnerState.sessionKey(org: org, client: client)
            epoch = r.epoch
            var actions: [Action] = [.send(.connack(sessionPresent: r.sessionPresent, code: .accepted))]
            let waiting = early
            early = []
            for p in waiting { actions += handle(p) }
            return actions
        case .none: return []
        case .puback(let id): return result == nil ? close("publish not committed") : [.send(.puback(id))]
        case .pubrec(let id): return result == nil ? close("publish not committed") : [.send(.pubrec(id))]
        case .pubcomp(let id): return result == nil ? close("release not committed") : [.send(.pubcomp(id))]
        case .pubrel(let id):
            guard result != nil else { return close("receipt not committed") }
            if let seq = sentIDs[id] { inflight[seq] = true }
            return [.send(.pubrel(id))]
        case .suback(let id):
            guard let bytes = result, let r = try? JSONDecoder().decode(PartnerState.SubscribeResult.self, from: Data(bytes)) else {
                return close("subscribe not committed")
            }
            // The SUBACK, then the retained messages granted at QoS 0 (the others are queued).
            return [.send(.suback(packetID: id, codes: r.codes))]
                + r.retained.map { .send(.publish(.init(topic: $0.topic, payload: Array($0.payload), qos: .atMostOnce, retain: true))) }
        case .unsuback(let id): return result == nil ? close("unsubscribe not committed") : [.send(.unsuback(id))]
        }
    }

    // MARK: - Deliveries

    /// The session's queue as the replicated state holds it now: sends what this connection has
    /// not sent yet (in order, up to `window` in flight); a resumed session's entries with DUP.
    public mutating func deliver(queue: [PartnerState.Queued], resumed: Bool = false) -> [Action] {
        guard phase == .connected else { return [] }
        let present = Set(queue.map(\.seq))
        for seq in inflight.keys where !present.contains(seq) { inflight[seq] = nil }
        sentIDs = sentIDs.filter { present.contains($0.value) }
        if resumed { resend = present }
        var actions: [Action] = []
        for q in queue where inflight[q.seq] == nil {
            guard inflight.count < Self.window else { break }
            sentIDs[q.packetID] = q.seq
            if q.released {
                inflight[q.seq] = true
                actions.append(.send(.pubrel(q.packetID)))
            } else {
                inflight[q.seq] = false
                actions.append(.send(.publish(.init(topic: q.topic, payload: Array(q.payload), qos: q.qos, retain: q.retain,
                                                    dup: resend.remove(q.seq) != nil, packetID: q.packetID))))
            }
        }
        return actions
    }

    /// A message of the live stream: sent at QoS 0 when that is what this session gets it at
    /// (`qos` is `PartnerState.deliveryQoS` for the session, nil when it is not subscribed).
    public func live(_ m: PartnerState.Message, subscribedAt qos: Packet.QoS?) -> [Action] {
        guard phase == .connected, let qos, min(qos, m.qos) == .atMostOnce else { return [] }
        return [.send(.publish(.init(topic: m.topic, payload: Array(m.payload), qos: .atMostOnce)))]
    }

    /// The connection broke, timed out (1.5 × keep alive without a packet) or broke the protocol:
    /// the state publishes the will.
    public mutating func lost(_ reason: String) -> [Action] { close(reason) }
}
