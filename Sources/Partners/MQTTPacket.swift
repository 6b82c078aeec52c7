/// MQTT 3.1.1 (OASIS standard, ISO/IEC 20922:2016) control packets: decoding with every rule of
/// chapters 2 and 3 that a server must enforce, and encoding. Pure: bytes in, packets or a
/// `MQTTError` out. Section numbers and normative statement ids (MQTT-x.y.z-n) refer to the spec.
public enum MQTTPacket: Equatable, Sendable {
    case connect(Connect)
    case connack(sessionPresent: Bool, code: ConnectReturnCode)
    case publish(Publish)
    case puback(UInt16)
    case pubrec(UInt16)
    case pubrel(UInt16)
    case pubcomp(UInt16)
    case subscribe(packetID: UInt16, filters: [Subscription])
    case suback(packetID: UInt16, codes: [UInt8])
    case unsubscribe(packetID: UInt16, filters: [String])
    case unsuback(UInt16)
    case pingreq
    case pingresp
    case disconnect

    public enum QoS: UInt8, Comparable, Sendable, Codable {
        case atMostOnce = 0, atLeastOnce = 1, exactlyOnce = 2
        public static func < (a: QoS, b: QoS) -> Bool { a.rawValue < b.rawValue }
    }

    /// CONNACK return codes (3.2.2.3).
    public enum ConnectReturnCode: UInt8, Sendable {
        case accepted = 0, unacceptableProtocolVersion = 1, identifierRejected = 2, serverUnavailable = 3,
             badUserNameOrPassword = 4, notAuthorized = 5
    }

    public struct Will: Equatable, Sendable {
        public var topic: String
        public var message: [UInt8]
        public var qos: QoS
        public var retain: Bool
        public init(topic: String, message: [UInt8], qos: QoS, retain: Bool) {
            self.topic = topic; self.message = message; self.qos = qos; self.retain = retain
        }
    }

    public struct Connect: Equatable, Sendable {
        /// 4 for MQTT 3.1.1; anything else is answered with return code 1 (MQTT-3.1.2-2).
        public var protocolLevel: UInt8
        public var clientID: String
        public var cleanSession: Bool
        public var keepAlive: UInt16
        public var will: Will?
        public var userName: String?
        public var password: [UInt8]?
        public init(protocolLevel: UInt8 = 4, clientID: String, cleanSession: Bool, keepAlive: UInt16, will: Will? = nil,
                    userName: String? = nil, password: [UInt8]? = nil) {
            self.protocolLevel = protocolLevel; self.clientID = clientID; self.cleanSession = cleanSession
            self.keepAlive = keepAlive; self.will = will; self.userName = userName; self.password = password
        }
    }

    /// One topic filter of a SUBSCRIBE with the QoS asked for.
    public struct Subscription: Equatable, Sendable {
        public var filter: String
        public var qos: QoS
        public init(_ filter: String, _ qos: QoS) { self.filter = filter; self.qos = qos }
    }

    public struct Publish: Equatable, Sendable {
        public var topic: String
        public var payload: [UInt8]
        public var qos: QoS
        public var retain: Bool
        public var dup: Bool
        /// Present exactly when qos > 0.
        public var packetID: UInt16?
        public init(topic: String, payload: [UInt8], qos: QoS, retain: Bool = false, dup: Bool = false, packetID: UInt16? = nil) {
            self.topic = topic; self.payload = payload; self.qos = qos; self.retain = retain; self.dup = dup; self.packetID = packetID
        }
    }
}

/// Why a packet was refused. Every one of them closes the network connection (4.8: "the
/// Server MUST close the Network Connection"), except where the caller answers first (CONNACK
/// with a return code for an unacceptable protocol level or identifier).
public struct MQTTError: Error, Equatable, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Reads big-endian fields of one packet's variable header and payload.
struct MQTTReader {
    let bytes: ArraySlice<UInt8>
    var position: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        position = bytes.startIndex
    }

    var remaining: Int { bytes.endIndex - position }

    mutating func byte(_ what: String) throws(MQTTError) -> UInt8 {
        guard position < bytes.endIndex else { throw MQTTError("packet ends inside \(what)") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func uint16(_ what: String) throws(MQTTError) -> UInt16 {
        guard remaining >= 2 else { throw MQTTError("packet ends inside \(what)") }
        defer { position += 2 }
        return UInt16(bytes[position]) << 8 | UInt16(bytes[position + 1])
    }

    /// Length-prefixed binary data (1.5.3 without the UTF-8 rules).
    mutating func binary(_ what: String) throws(MQTTError) -> [UInt8] {
        let n = Int(try uint16(what))
        guard remaining >= n else { throw MQTTError("\(what) is longer than the packet") }
        defer { position += n }
        return Array(bytes[position..<position + n])
    }

    /// A UTF-8 encoded string (1.5.3): well-formed UTF-8 (no surrogates — MQTT-1.5.3-1), no
    /// U+0000 (MQTT-1.5.3-2).
    mutating func string(_ what: String) throws(MQTTError) -> String {
        let raw = try binary(what)
        guard let s = String(validating: raw, as: UTF8.self) else { throw MQTTError("\(what) is not well-formed UTF-8") }
        guard !raw.contains(0) else { throw MQTTError("\(what) contains U+0000") }
        return s
    }

    var rest: [UInt8] { Array(bytes[position...]) }
}

extension MQTTPacket {
    /// The largest remaining length the encoding can express (2.2.3): 268,435,455.
    public static let maxRemainingLength = 268_435_455

    /// Finds one whole packet at the start of `buffer`: its type-and-flags byte, the range of its
    /// body, and the total length. nil: more bytes are needed. Throws on a malformed remaining
    /// length or a packet above `limit` bytes (checked before the body arrives).
    public static func frame(in buffer: ArraySlice<UInt8>, limit: Int) throws(MQTTError) -> (header: UInt8, body: Range<Int>, total: Int)? {
        guard let first = buffer.first else { return nil }
        var length = 0, multiplier = 1, i = buffer.startIndex + 1
        while true {
            guard i < buffer.endIndex else { return nil }
            let b = buffer[i]
            length += Int(b & 0x7F) * multiplier
            i += 1
            if b & 0x80 == 0 { break }
            multiplier *= 128
            guard multiplier <= 128 * 128 * 128 else { throw MQTTError("malformed remaining length (more than four bytes)") }
        }
        let headerLength = i - buffer.startIndex
        guard length + headerLength <= limit else { throw MQTTError("packet of \(length + headerLength) bytes exceeds the limit of \(limit)") }
        guard buffer.endIndex - i >= length else { return nil }
        return (first, i..<(i + length), headerLength + length)
    }

    /// Decodes one packet (fixed header byte and body) as a server receives it: packets only a
    /// server sends (CONNACK, SUBACK, UNSUBACK, PINGRESP) are refused unless `asClient`.
    public static func decode(header: UInt8, body: ArraySlice<UInt8>, asClient: Bool = false) throws(MQTTError) -> MQTTPacket {
        let type = header >> 4, flags = header & 0x0F
        var r = MQTTReader(body)
        func requireFlags(_ expected: UInt8, _ name: String) throws(MQTTError) {
            // MQTT-2.2.2-1/2: reserved flags must be as listed, else close the connection.
            guard flags == expected else { throw MQTTError("\(name) with flags \(flags) (must be \(expected))") }
        }
        func end(_ name: String) throws(MQTTError) {
            guard r.remaining == 0 else { throw MQTTError("\(name) has \(r.remaining) bytes too many") }
        }
        func id(_ name: String) throws(MQTTError) -> UInt16 {
            let v = try r.uint16("\(name) packet identifier")
            guard v != 0 else { throw MQTTError("\(name) with packet identifier 0 (MQTT-2.3.1-1)") }
            return v
        }
        switch type {
        case 1:
            try requireFlags(0, "CONNECT")
            return .connect(try decodeConnect(&r))
        case 2 where asClient:
            try requireFlags(0, "CONNACK")
            let ack = try r.byte("CONNACK flags")
            guard ack & 0xFE == 0 else { throw MQTTError("CONNACK flags \(ack)") }
            guard let code = ConnectReturnCode(rawValue: try r.byte("CONNACK return code")) else { throw MQTTError("CONNACK return code unknown") }
            try end("CONNACK")
            return .connack(sessionPresent: ack == 1, code: code)
        case 3:
            let qosBits = (flags >> 1) & 0x03
            guard let qos = QoS(rawValue: qosBits) else { throw MQTTError("PUBLISH with QoS 3 (MQTT-3.3.1-4)") }
            let dup = flags & 0x08 != 0
            guard !(qos == .atMostOnce && dup) else { throw MQTTError("PUBLISH with QoS 0 and DUP set (MQTT-3.3.1-2)") }
            let topic = try r.string("PUBLISH topic name")
            try checkTopicName(topic)
            let packetID: UInt16? = qos == .atMostOnce ? nil : try id("PUBLISH")
            return .publish(Publish(topic: topic, payload: r.rest, qos: qos, retain: flags & 0x01 != 0, dup: dup, packetID: packetID))
        case 4, 5, 7:
            let name = ["", "", "", "", "PUBACK", "PUBREC", "", "PUBCOMP"][Int(type)]
            try requireFlags(0, name)
            let v = try id(name)
            try end(name)
            return type == 4 ? .puback(v) : type == 5 ? .pubrec(v) : .pubcomp(v)
        case 6:
            try requireFlags(2, "PUBREL")
            let v = try id("PUBREL")
            try end("PUBREL")
            return .pubrel(v)
        case 8:
            try requireFlags(2, "SUBSCRIBE")
            let pid = try id("SUBSCRIBE")
            var filters: [Subscription] = []
            while r.remaining > 0 {
                let f = try r.string("SUBSCRIBE topic filter")
                try checkTopicFilter(f)
                let q = try r.byte("SUBSCRIBE requested QoS")
                // MQTT-3.8.3-4: reserved bits set or QoS 3 is malformed.
                guard q & 0xFC == 0, let qos = QoS(rawValue: q) else { throw MQTTError("SUBSCRIBE requested QoS byte \(q) (MQTT-3.8.3-4)") }
                filters.append(Subscription(f, qos))
            }
            guard !filters.isEmpty else { throw MQTTError("SUBSCRIBE without a topic filter (MQTT-3.8.3-3)") }
            return .subscribe(packetID: pid, filters: filters)
        case 9 where asClient:
            try requireFlags(0, "SUBACK")
            let pid = try id("SUBACK")
            let codes = r.rest
            guard !codes.isEmpty, codes.allSatisfy({ $0 <= 2 || $0 == 0x80 }) else { throw MQTTError("SUBACK return codes") }
            return .suback(packetID: pid, codes: codes)
        case 10:
            try requireFlags(2, "UNSUBSCRIBE")
            let pid = try id("UNSUBSCRIBE")
            var filters: [String] = []
            while r.remaining > 0 {
                let f = try r.string("UNSUBSCRIBE topic filter")
                try checkTopicFilter(f)
                filters.append(f)
            }
            guard !filters.isEmpty else { throw MQTTError("UNSUBSCRIBE without a topic filter (MQTT-3.10.3-2)") }
            return .unsubscribe(packetID: pid, filters: filters)
        case 11 where asClient:
            try requireFlags(0, "UNSUBACK")
            let v = try id("UNSUBACK")
            try end("UNSUBACK")
            return .unsuback(v)
        case 12:
            try requireFlags(0, "PINGREQ")
            try end("PINGREQ")
            return .pingreq
        case 13 where asClient:
            try requireFlags(0, "PINGRESP")
            try end("PINGRESP")
            return .pingresp
        case 14:
            try requireFlags(0, "DISCONNECT")
            try end("DISCONNECT")
            return .disconnect
        case 0, 15: throw MQTTError("reserved packet type \(type)")
        default: throw MQTTError("packet type \(type) is sent by servers only")
        }
    }

    private static func decodeConnect(_ r: inout MQTTReader) throws(MQTTError) -> Connect {
        let name = try r.string("CONNECT protocol name")
        // MQTT-3.1.2-1: another protocol name may be closed without CONNACK.
        guard name == "MQTT" else { throw MQTTError("CONNECT protocol name \"\(name.prefix(20))\" (MQTT-3.1.2-1)") }
        let level = try r.byte("CONNECT protocol level")
        let flags = try r.byte("CONNECT flags")
        guard flags & 0x01 == 0 else { throw MQTTError("CONNECT reserved flag set (MQTT-3.1.2-3)") }
        let keepAlive = try r.uint16("CONNECT keep alive")
        let willFlag = flags & 0x04 != 0, willQoSBits = (flags >> 3) & 0x03, willRetain = flags & 0x20 != 0
        let hasPassword = flags & 0x40 != 0, hasUser = flags & 0x80 != 0
        if !willFlag {
            guard willQoSBits == 0, !willRetain else { throw MQTTError("CONNECT will QoS/retain without a will (MQTT-3.1.2-11/13/15)") }
        }
        guard let willQoS = QoS(rawValue: willQoSBits) else { throw MQTTError("CONNECT will QoS 3 (MQTT-3.1.2-14)") }
        guard hasUser || !hasPassword else { throw MQTTError("CONNECT password without user name (MQTT-3.1.2-22)") }
        var c = Connect(protocolLevel: level, clientID: "", cleanSession: flags & 0x02 != 0, keepAlive: keepAlive)
        guard level == 4 else { return c }  // answered with return code 1, the rest is not read
        c.clientID = try r.string("CONNECT client identifier")
        if willFlag {
            let topic = try r.string("CONNECT will topic")
            try checkTopicName(topic)
            c.will = Will(topic: topic, message: try r.binary("CONNECT will message"), qos: willQoS, retain: willRetain)
        }
        if hasUser { c.userName = try r.string("CONNECT user name") }
        if hasPassword { c.password = try r.binary("CONNECT password") }
        guard r.remaining == 0 else { throw MQTTError("CONNECT has \(r.remaining) bytes too many") }
        return c
    }

    /// A topic name (4.7): at least one character, no wildcards (MQTT-4.7.3-1, MQTT-3.3.2-2).
    public static func checkTopicName(_ t: String) throws(MQTTError) {
        guard !t.isEmpty else { throw MQTTError("empty topic name (MQTT-4.7.3-1)") }
        guard !t.utf8.contains(where: { $0 == 0x2B || $0 == 0x23 }) else { throw MQTTError("topic name \"\(t.prefix(80))\" contains a wildcard (MQTT-3.3.2-2)") }
    }

    /// A topic filter (4.7.1): `#` only alone as the last level, `+` only alone in a level.
    public static func checkTopicFilter(_ f: String) throws(MQTTError) {
        guard !f.isEmpty else { throw MQTTError("empty topic filter (MQTT-4.7.3-1)") }
        let levels = f.split(separator: "/", omittingEmptySubsequences: false)
        for (i, level) in levels.enumerated() {
            if level.contains("#") && (level != "#" || i != levels.count - 1) {
                throw MQTTError("topic filter \"\(f.prefix(80))\": # must stand alone as the last level (MQTT-4.7.1-2)")
            }
            if level.contains("+") && level != "+" {
                throw MQTTError("topic filter \"\(f.prefix(80))\": + must fill a whole level (MQTT-4.7.1-3)")
            }
        }
    }

    /// Does `filter` match `topic` (4.7)? Wildcards at the first level never match a topic that
    /// begins with `$` (MQTT-4.7.2-1); `a/#` matches `a` itself. `{org}` in the filter stands
    /// for `org` when one is given (the rights document's placeholder). On the strings' UTF-8
    /// bytes, without allocating: every delivery checks rights and subscriptions with it.
    public static func matches(filter: String, topic: String, org: String? = nil) -> Bool {
        var f = filter, t = topic, o = org ?? ""
        let placeholder = org != nil
        return f.withUTF8 { fb in t.withUTF8 { tb in o.withUTF8 { ob in match(fb, tb, placeholder ? ob : nil) } } }
    }

    private static func match(_ f: UnsafeBufferPointer<UInt8>, _ t: UnsafeBufferPointer<UInt8>, _ org: UnsafeBufferPointer<UInt8>?) -> Bool {
        let slash: UInt8 = 0x2F, hash: UInt8 = 0x23, plus: UInt8 = 0x2B
        if t.first == 0x24, let c = f.first, c == hash || c == plus { return false }
        var i = 0, j = 0
        while true {
            // At the start of a level in both.
            if i < f.count && f[i] == hash { return true }
            if i < f.count && f[i] == plus {
                i += 1
                while j < t.count && t[j] != slash { j += 1 }
            } else {
                while i < f.count && f[i] != slash {
                    if let org, f[i] == 0x7B, i + 5 <= f.count, f[i + 1] == 0x6F, f[i + 2] == 0x72, f[i + 3] == 0x67, f[i + 4] == 0x7D {
                        guard j + org.count <= t.count else { return false }
                        for k in 0..<org.count where t[j + k] != org[k] { return false }
                        i += 5
                        j += org.count
                        continue
                    }
                    guard j < t.count, t[j] == f[i] else { return false }
                    i += 1
                    j += 1
                }
                if j < t.count && t[j] != slash { return false }
            }
            let filterEnds = i == f.count, topicEnds = j == t.count
            if filterEnds { return topicEnds }
            // "a/#" matches "a".
            if topicEnds { return i + 2 == f.count && f[i + 1] == hash }
            i += 1
            j += 1
        }
    }

    // MARK: - Encoding

    /// The packet's bytes: fixed header, remaining length, variable header, payload.
    public func encode() -> [UInt8] {
        var body: [UInt8] = []
        func u16(_ v: UInt16) { body.append(UInt8(v >> 8)); body.append(UInt8(v & 0xFF)) }
        func bin(_ b: [UInt8]) { u16(UInt16(b.count)); body.append(contentsOf: b) }
        func str(_ s: String) { bin(Array(s.utf8)) }
        let header: UInt8
        switch self {
        case .connect(let c):
            header = 0x10
            str("MQTT")
            body.append(c.protocolLevel)
            var flags: UInt8 = c.cleanSession ? 0x02 : 0
            if let w = c.will { flags |= 0x04 | (w.qos.rawValue << 3) | (w.retain ? 0x20 : 0) }
            if c.password != nil { flags |= 0x40 }
            if c.userName != nil { flags |= 0x80 }
            body.append(flags)
            u16(c.keepAlive)
            str(c.clientID)
            if let w = c.will { str(w.topic); bin(w.message) }
            if let u = c.userName { str(u) }
            if let p = c.password { bin(p) }
        case let .connack(present, code):
            header = 0x20
            body = [present ? 1 : 0, code.rawValue]
        case .publish(let p):
            header = 0x30 | (p.dup ? 0x08 : 0) | (p.qos.rawValue << 1) | (p.retain ? 0x01 : 0)
            str(p.topic)
            if let id = p.packetID { u16(id) }
            body.append(contentsOf: p.payload)
        case .puback(let id): header = 0x40; u16(id)
        case .pubrec(let id): header = 0x50; u16(id)
        case .pubrel(let id): header = 0x62; u16(id)
        case .pubcomp(let id): header = 0x70; u16(id)
        case let .subscribe(id, filters):
            header = 0x82
            u16(id)
            for f in filters { str(f.filter); body.append(f.qos.rawValue) }
        case let .suback(id, codes):
            header = 0x90
            u16(id)
            body.append(contentsOf: codes)
        case let .unsubscribe(id, filters):
            header = 0xA2
            u16(id)
            for f in filters { str(f) }
        case .unsuback(let id): header = 0xB0; u16(id)
        case .pingreq: header = 0xC0
        case .pingresp: header = 0xD0
        case .disconnect: header = 0xE0
        }
        var out: [UInt8] = [header]
        var n = body.count
        repeat {
            var b = UInt8(n % 128)
            n /= 128
            if n > 0 { b |= 0x80 }
            out.append(b)
        } while n > 0
        return out + body
    }
}
