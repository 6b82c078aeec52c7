import Foundation

/// The MQTT world's replicated state (namespace "mqtt"): the rights document, retained
/// messages, and every session — its subscriptions, its queue of QoS 1/2 messages not yet
/// acknowledged, the QoS 2 packet ids it sent that await PUBREL, its will, and which node holds
/// its connection. Nodes terminate the MQTT connections and turn what happens on them into
/// commands (`mqtt.connect`, `mqtt.batch` of publishes and acknowledgements, …); a QoS 1/2 PUBLISH is acknowledged
/// to the partner only after its command is committed, so nothing a partner was told is accepted
/// is lost, and a session continues on any node. A deterministic reducer like `AlarmState`: time
/// only from command timestamps, canonical JSON snapshots.
///
/// Sessions are keyed by organisation and client id ("THW/einsatzlage-1"): one organisation can
/// never take over another's session by choosing its client id.
public struct PartnerState: Codable, Equatable, Sendable {
    public typealias QoS = MQTTPacket.QoS

    public struct Message: Codable, Equatable, Sendable {
        public var topic: String
        public var payload: Data
        public var qos: QoS
        public init(topic: String, payload: Data, qos: QoS) { self.topic = topic; self.payload = payload; self.qos = qos }
    }

    /// A message on its way to one session: sent (again, with DUP) until acknowledged.
    public struct Queued: Codable, Equatable, Sendable {
        /// Unique within the session (packet ids are reused after 65 535).
        public var seq: UInt64
        public var packetID: UInt16
        public var topic: String
        public var payload: Data
        public var qos: QoS
        public var retain: Bool
        /// QoS 2: PUBREC received, so PUBREL (not the PUBLISH) is what is resent.
        public var released: Bool
    }

    public struct Subscription: Codable, Equatable, Sendable {
        public var filter: String
        public var qos: QoS
    }

    public struct Will: Codable, Equatable, Sendable {
        public var topic: String
        public var payload: Data
        public var qos: QoS
        public var retain: Bool
        public init(topic: String, payload: Data, qos: QoS, retain: Bool) { self.topic = topic; self.payload = payload; self.qos = qos; self.retain = retain }
    }

    public struct Session: Codable, Equatable, Sendable {
        public var key: String
        public var org: String
        /// The certificate CN of whoever connected last.
        public var identity: String
        public var clean: Bool
        public var subscriptions: [Subscription]
        public var queue: [Queued]
        public var nextPacketID: UInt16
        public var nextSeq: UInt64
        /// QoS 2 packet ids received from the client whose PUBREL has not come (method B of 4.3.3).
        public var incoming: [UInt16]
        public var will: Will?
        /// The node holding the connection and the connection's epoch; nil when offline.
        public var node: String?
        public var epoch: UInt64
        /// Messages dropped because the queue was full (reported on the organisation's errors topic).
        public var dropped: UInt64
    }

    public static let maxQueue = 10_000
    public static let controlRoomOrg = "LEITSTELLE"

    public private(set) var rights: PartnerRights?
    public private(set) var retained: [String: Message] = [:]
    public private(set) var sessions: [String: Session] = [:]
    public private(set) var epoch: UInt64 = 0
    public private(set) var clock: UInt64 = 0

    public init() {}

    /// What applying a command published: messages for the MQTT world (every node delivers them
    /// at QoS 0 to its matching connections that have no queue for them), and connections to
    /// close (a session taken over by a new connection elsewhere).
    public struct Effects: Equatable, Sendable {
        public var messages: [Message] = []
        public var kicks: [Kick] = []
        public init() {}
    }
    public struct Kick: Codable, Hashable, Sendable {
        public var session: String
        public var node: String
        public var epoch: UInt64
    }

    public static func sessionKey(org: String, client: String) -> String { org + "/" + client }

    // MARK: - Commands

    public struct Connect: Codable, Equatable, Sendable {
        public var org: String
        public var client: String
        public var identity: String
        public var clean: Bool
        public var will: Will?
        public var node: String
    }
    public struct ConnectResult: Codable, Equatable, Sendable {
        public var sessionPresent: Bool
        public var epoch: UInt64
        /// 0 accepted, else the CONNACK return code (5: not authorised).
        public var code: UInt8
    }
    public struct Ref: Codable, Equatable, Sendable {
        public var session: String
        public var epoch: UInt64
    }
    public struct Subscribe: Codable, Equatable, Sendable {
        public var session: String
        public var epoch: UInt64
        public var filters: [Subscription]
    }
    public struct SubscribeResult: Codable, Equatable, Sendable {
        /// SUBACK return codes: the granted QoS, or 0x80.
        public var codes: [UInt8]
        /// Retained messages for filters granted at QoS 0 (the node sends them at once; those
        /// at QoS 1/2 are in the queue).
        public var retained: [Message]
    }
    public struct Unsubscribe: Codable, Equatable, Sendable {
        public var session: String
        public var epoch: UInt64
        public var filters: [String]
    }
    public struct Publish: Codable, Equatable, Sendable {
        /// nil: the control room publishing through the client protocol.
        public var session: String?
        public var org: String
        public var topic: String
        public var payload: Data
        public var qos: QoS
        public var retain: Bool
        /// QoS 2 from a session: its packet id (a repeated one is not published again).
        public var packetID: UInt16?
        public init(session: String?, org: String, topic: String, payload: Data, qos: QoS, retain: Bool, packetID: UInt16? = nil) {
            self.session = session; self.org = org; self.topic = topic; self.payload = payload; self.qos = qos
            self.retain = retain; self.packetID = packetID
        }
    }
    public struct PublishResult: Codable, Equatable, Sendable {
        /// "published", "duplicate" (a QoS 2 packet id still awaiting PUBREL) or "discarded".
        public var outcome: String
        public var reason: String?
        public var deliveries: Int
    }
    public struct Ack: Codable, Equatable, Sendable {
        public enum Kind: String, Codable, Sendable { case puback, pubrec, pubcomp, pubrel }
        public var session: String
        public var packetID: UInt16
        public var kind: Kind
        public init(session: String, packetID: UInt16, kind: Kind) { self.session = session; self.packetID = packetID; self.kind = kind }
    }

    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case invalid(String), unknown(String), forbidden(String)
        public var description: String {
            switch self {
            case .invalid(let s): "invalid: \(s)"
            case .unknown(let s): "unknown: \(s)"
            case .forbidden(let s): "forbidden: \(s)"
            }
        }
    }

    /// Which roles may send each command.
    public static let types: [String: Set<String>] = [
        "mqtt.rights.apply": ["operator"], "mqtt.connect": ["node"], "mqtt.disconnect": ["node"], "mqtt.lost": ["node"],
        "mqtt.subscribe": ["node"], "mqtt.unsubscribe": ["node"], "mqtt.publish": ["node", "operator"], "mqtt.ack": ["node"],
        "mqtt.publish.batch": ["node"], "mqtt.batch": ["node"], "mqtt.node.lost": ["node"],
    ]

    /// A node's connections are gone: it has been silent too long (sent by the leader) or it
    /// started again (sent by itself, `except` its own new instance). Every session it held ends
    /// as if its connection broke — wills published, clean sessions removed — and the node is
    /// told to close them should it still hold them (a partition that heals).
    public struct NodeLost: Codable, Equatable, Sendable {
        /// The node's name; sessions name the instance holding them as "NAME@INSTANCE".
        public var node: String
        /// The instance whose sessions stay (a restarted node's current one).
        public var except: String?
        public init(node: String, except: String?) { self.node = node; self.except = except }
    }

    /// The node name part of a session's `node` ("node2@1f3a" → "node2").
    public static func nodeName(_ instance: String) -> Substring { instance.prefix { $0 != "@" } }

    /// Several publishes in one command (a node gathers those that arrive in one turn of its
    /// loop): applied in order, each exactly as `mqtt.publish`; one result per publish.
    public struct Batch: Codable, Equatable, Sendable {
        public var publishes: [Publish]
    }
    public struct BatchResult: Codable, Equatable, Sendable {
        public var results: [PublishResult]
    }
    public static let maxBatch = 256

    /// Checks a payload before it is published to `topic` (CAP 1.2 for alerts): nil when fine,
    /// else the reason. Set by the machine that registers the state; pure and deterministic.
    public typealias ContentCheck = @Sendable (_ topic: String, _ payload: [UInt8]) -> String?

    public mutating func apply(type: String, sender: String, timestamp: UInt64, payload: [UInt8],
                               check: ContentCheck, effects: inout Effects) -> Result<[UInt8], Failure> {
        clock = max(clock, timestamp)
        do throws(Failure) {
            let role = String(sender.prefix { $0 != ":" })
            guard let allowed = Self.types[type] else { throw .unknown("command type \(type)") }
            guard allowed.contains(role) else { throw .forbidden("\(type) needs the role \(allowed.sorted().joined(separator: " or ")), the sender is \(role)") }
            switch type {
            case "mqtt.rights.apply":
                let r = try decode(PartnerRights.self, payload)
                do { try r.validate() } catch { throw .invalid(error.reason) }
                rights = r
                return .success(Self.json(["organisations": r.organisations.count]))
            case "mqtt.connect": return .success(Self.json(try connect(try decode(Connect.self, payload), effects: &effects)))
            case "mqtt.disconnect", "mqtt.lost":
                disconnect(try decode(Ref.self, payload), graceful: type == "mqtt.disconnect", check: check, effects: &effects)
                return .success(Self.json([String: Int]()))
            case "mqtt.subscribe": return .success(Self.json(try subscribe(try decode(Subscribe.self, payload))))
            case "mqtt.unsubscribe":
                let u = try decode(Unsubscribe.self, payload)
                guard var s = try live(u.session, u.epoch) else { return .success(Self.json([String: Int]())) }
                s.subscriptions.removeAll { u.filters.contains($0.filter) }
                sessions[s.key] = s
                return .success(Self.json([String: Int]()))
            case "mqtt.publish":
                var p = try decode(Publish.self, payload)
                if role == "operator" { p.session = nil; p.org = Self.controlRoomOrg }
                return .success(Self.json(publish(p, check: check, effects: &effects)))
            case "mqtt.batch", "mqtt.publish.batch":
                // Binary as nodes send it (PartnerBatch.swift): publishes and acknowledgements in
                // the order they arrived; or publishes in JSON.
                if payload.first == Self.binaryTag {
                    let items = try Self.readBinaryBatch(payload)
                    return .success(Self.binaryResults(items.map { item in
                        switch item {
                        case .publish(let p): return publish(p, check: check, effects: &effects)
                        case .ack(let a):
                            ack(a)
                            return PublishResult(outcome: "acknowledged", reason: nil, deliveries: 0)
                        }
                    }))
                }
                let b = try decode(Batch.self, payload)
                guard !b.publishes.isEmpty, b.publishes.count <= Self.maxBatch else { throw .invalid("a batch holds 1…\(Self.maxBatch) publishes") }
                return .success(Self.json(BatchResult(results: b.publishes.map { publish($0, check: check, effects: &effects) })))
            case "mqtt.node.lost":
                let n = try decode(NodeLost.self, payload)
                var ended = 0
                for key in sessions.keys.sorted() {
                    guard let s = sessions[key], let at = s.node, Self.nodeName(at) == n.node, at != n.except else { continue }
                    effects.kicks.append(Kick(session: key, node: at, epoch: s.epoch))
                    disconnect(Ref(session: key, epoch: s.epoch), graceful: false, check: check, effects: &effects)
                    ended += 1
                }
                return .success(Self.json(["sessions": ended]))
            case "mqtt.ack":
                ack(try decode(Ack.self, payload))
                return .success(Self.json([String: Int]()))
            default: throw .unknown("command type \(type)")
            }
        } catch {
            return .failure(error)
        }
    }

    private func decode<T: Decodable>(_ t: T.Type, _ payload: [UInt8]) throws(Failure) -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(payload)) } catch { throw .invalid("\(T.self): \(error)") }
    }

    /// Canonical JSON (sorted keys), as snapshots, results and publications are written.
    public static func json<T: Encodable>(_ v: T) -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? e.encode(v)) ?? Data("{}".utf8))
    }

    /// The session with `key` if `epoch` is its current connection (a late command from an old
    /// connection changes nothing).
    private func live(_ key: String, _ epoch: UInt64) throws(Failure) -> Session? {
        guard let s = sessions[key] else { throw .unknown("session \(key)") }
        return s.epoch == epoch && s.node != nil ? s : nil
    }

    private func organisation(_ id: String) -> PartnerRights.Organisation? { rights?.organisations.first { $0.id == id } }

    private mutating func connect(_ c: Connect, effects: inout Effects) throws(Failure) -> ConnectResult {
        guard !c.client.isEmpty, c.client.utf8.count <= 256 else { throw .invalid("client id must have 1…256 bytes") }
        guard let org = organisation(c.org) else { return ConnectResult(sessionPresent: false, epoch: 0, code: 5) }
        if let w = c.will, !PartnerRights.mayPublish(org, topic: w.topic) { return ConnectResult(sessionPresent: false, epoch: 0, code: 5) }
        let key = Self.sessionKey(org: c.org, client: c.client)
        epoch += 1
        var present = false
        if var old = sessions[key] {
            // MQTT-3.1.4-2: the existing connection is closed.
            if let node = old.node { effects.kicks.append(Kick(session: key, node: node, epoch: old.epoch)) }
            if !c.clean && !old.clean {
                present = true
                old.identity = c.identity
                old.will = c.will
                old.node = c.node
                old.epoch = epoch
                sessions[key] = old
                return ConnectResult(sessionPresent: true, epoch: epoch, code: 0)
            }
        }
        sessions[key] = Session(key: key, org: c.org, identity: c.identity, clean: c.clean, subscriptions: [], queue: [],
                                nextPacketID: 1, nextSeq: 1, incoming: [], will: c.will, node: c.node, epoch: epoch, dropped: 0)
        return ConnectResult(sessionPresent: present, epoch: epoch, code: 0)
    }

    private mutating func disconnect(_ r: Ref, graceful: Bool, check: ContentCheck, effects: inout Effects) {
        guard let s = sessions[r.session], s.epoch == r.epoch, s.node != nil else { return }
        // MQTT-3.14.4-3: after DISCONNECT the will is discarded; otherwise it is published.
        if !graceful, let w = s.will {
            _ = publish(Publish(session: s.key, org: s.org, topic: w.topic, payload: w.payload, qos: w.qos, retain: w.retain, packetID: nil),
                        check: check, effects: &effects)
        }
        if s.clean {
            sessions[s.key] = nil
        } else {
            sessions[s.key]?.node = nil
            sessions[s.key]?.will = nil
        }
    }

    private mutating func subscribe(_ c: Subscribe) throws(Failure) -> SubscribeResult {
        guard var s = try live(c.session, c.epoch) else { return SubscribeResult(codes: c.filters.map { _ in 0x80 }, retained: []) }
        guard let org = organisation(s.org) else { return SubscribeResult(codes: c.filters.map { _ in 0x80 }, retained: []) }
        var codes: [UInt8] = [], now: [Message] = []
        for f in c.filters {
            do { try MQTTPacket.checkTopicFilter(f.filter) } catch { throw .invalid(error.reason) }
            guard PartnerRights.maySubscribe(org, filter: f.filter) else { codes.append(0x80); continue }
            // MQTT-3.8.4-3: an identical filter replaces the existing subscription.
            if let i = s.subscriptions.firstIndex(where: { $0.filter == f.filter }) { s.subscriptions[i].qos = f.qos } else { s.subscriptions.append(f) }
            codes.append(f.qos.rawValue)
            // MQTT-3.3.1-6: the retained messages matching the new filter, with retain set.
            for topic in retained.keys.sorted() where MQTTPacket.matches(filter: f.filter, topic: topic) && PartnerRights.mayReceive(org, topic: topic) {
                let m = retained[topic]!
                let q = min(m.qos, f.qos)
                if q == .atMostOnce { now.append(Message(topic: topic, payload: m.payload, qos: .atMostOnce)) } else { Self.enqueue(&s, m, qos: q, retain: true) }
            }
        }
        s.subscriptions.sort { $0.filter < $1.filter }
        sessions[s.key] = s
        return SubscribeResult(codes: codes, retained: now)
    }

    private mutating func publish(_ p: Publish, check: ContentCheck, effects: inout Effects) -> PublishResult {
        func discard(_ reason: String) -> PublishResult {
            // MQTT-3.3.5-2: acknowledged, not delivered; the reason goes to the sender's errors topic.
            if p.org != Self.controlRoomOrg {
                let note = Self.json(["topic": p.topic, "reason": reason, "session": p.session ?? ""])
                fanOut(Message(topic: "florian/partners/\(p.org)/errors", payload: Data(note), qos: .atLeastOnce), effects: &effects)
            }
            return PublishResult(outcome: "discarded", reason: reason, deliveries: 0)
        }
        if let key = p.session, let id = p.packetID, p.qos == .exactlyOnce {
            guard let s = sessions[key] else { return PublishResult(outcome: "discarded", reason: "no session \(key)", deliveries: 0) }
            if s.incoming.contains(id) { return PublishResult(outcome: "duplicate", reason: nil, deliveries: 0) }
            sessions[key]!.incoming.append(id)
            sessions[key]!.incoming.sort()
        }
        do { try MQTTPacket.checkTopicName(p.topic) } catch { return discard(error.reason) }
        if p.org != Self.controlRoomOrg {
            guard let org = organisation(p.org) else { return discard("organisation \(p.org) has no rights") }
            guard PartnerRights.mayPublish(org, topic: p.topic) else { return discard("\(p.org) may not publish to \(p.topic)") }
            guard p.payload.count <= org.maxMessageBytes else { return discard("\(p.payload.count) bytes, the limit for \(p.org) is \(org.maxMessageBytes)") }
        }
        if let reason = check(p.topic, Array(p.payload)) { return discard(reason) }
        let m = Message(topic: p.topic, payload: p.payload, qos: p.qos)
        if p.retain {
            // MQTT-3.3.1-10/11: an empty retained message removes the retained one.
            retained[p.topic] = p.payload.isEmpty ? nil : m
        }
        return PublishResult(outcome: "published", reason: nil, deliveries: fanOut(m, effects: &effects))
    }

    /// Queues `m` for every session with a matching subscription at QoS 1/2 (one copy at the
    /// highest matching QoS — MQTT-3.3.5-1) and hands it to the nodes for QoS 0 deliveries.
    @discardableResult
    private mutating func fanOut(_ m: Message, effects: inout Effects) -> Int {
        var n = 0
        for key in sessions.keys.sorted() {
            guard let s = sessions[key], let org = organisation(s.org), PartnerRights.mayReceive(org, topic: m.topic),
                  let best = s.subscriptions.filter({ MQTTPacket.matches(filter: $0.filter, topic: m.topic) }).map(\.qos).max() else { continue }
            let q = min(best, m.qos)
            n += 1
            guard q > .atMostOnce else { continue }
            // In place: a copy of the session would copy its queue for every message.
            Self.enqueue(&sessions[key]!, m, qos: q, retain: false)
        }
        effects.messages.append(m)
        return n
    }

    private static func enqueue(_ s: inout Session, _ m: Message, qos: QoS, retain: Bool) {
        if s.queue.count >= Self.maxQueue {
            s.queue.removeFirst()
            s.dropped += 1
        }
        // A packet id not in use by the queue (4.3.2: reusable once acknowledged).
        var id = s.nextPacketID
        while s.queue.contains(where: { $0.packetID == id }) { id = id == UInt16.max ? 1 : id + 1 }
        s.nextPacketID = id == UInt16.max ? 1 : id + 1
        s.queue.append(Queued(seq: s.nextSeq, packetID: id, topic: m.topic, payload: m.payload, qos: qos, retain: retain, released: false))
        s.nextSeq += 1
    }

    mutating func ack(_ a: Ack) {
        guard sessions[a.session] != nil else { return }
        // In place (no copy of the queue per acknowledgement).
        switch a.kind {
        case .puback: sessions[a.session]!.queue.removeAll { $0.packetID == a.packetID && $0.qos == .atLeastOnce }
        case .pubrec:
            if let i = sessions[a.session]!.queue.firstIndex(where: { $0.packetID == a.packetID && $0.qos == .exactlyOnce }) {
                sessions[a.session]!.queue[i].released = true
            }
        case .pubcomp: sessions[a.session]!.queue.removeAll { $0.packetID == a.packetID && $0.qos == .exactlyOnce && $0.released }
        case .pubrel: sessions[a.session]!.incoming.removeAll { $0 == a.packetID }
        }
    }

    /// The QoS a session gets `topic` at (nil: not subscribed or not allowed) — for the node's
    /// QoS 0 deliveries.
    public func deliveryQoS(session key: String, topic: String) -> QoS? {
        guard let s = sessions[key], let org = organisation(s.org), PartnerRights.mayReceive(org, topic: topic) else { return nil }
        return s.subscriptions.filter { MQTTPacket.matches(filter: $0.filter, topic: topic) }.map(\.qos).max()
    }
}
