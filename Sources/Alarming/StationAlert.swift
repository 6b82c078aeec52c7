import Wire

/// The station-alert protocol's frames (Protocols/station-alert.md): between a station device
/// (certificate role `station`, CN = station id) and the wired network's station gateway, inside
/// the common framing (`ProtocolFrame`, kind 0 = error).
///
/// Device → gateway: HELLO first, then HEARTBEAT at least every `heartbeatMillis`, ACK per alarm.
/// Gateway → device: WELCOME after a valid HELLO, ALARM, HEARTBEAT (echo, so the device
/// supervises the line too). Every field is checked against its limit; a frame that breaks the
/// rules is answered with an error frame and the line is closed.
public enum StationAlertFrame: Equatable, Sendable {
    public static let protocolVersion: UInt8 = 1
    /// Largest frame either side accepts (framing limit for station lines).
    public static let maxFrameSize = 64 << 10

    case hello(Hello)
    case welcome(Welcome)
    case alarm(StationAlarm)
    case ack(StationAck)
    case heartbeat(sequence: UInt64)

    public enum Kind: UInt8, Sendable { case hello = 1, welcome = 2, alarm = 3, ack = 4, heartbeat = 5 }

    public struct Hello: Equatable, Sendable {
        public var version: UInt8
        public var station: String
        /// The device's software, for the operators' overview ("florian station-sim 1").
        public var device: String
        public init(version: UInt8 = StationAlertFrame.protocolVersion, station: String, device: String) {
            self.version = version; self.station = station; self.device = device
        }
    }

    public struct Welcome: Equatable, Sendable {
        /// The device must send a frame at least this often; silence for `supervisionMillis` is a line fault.
        public var heartbeatMillis: UInt32
        public var supervisionMillis: UInt32
        public init(heartbeatMillis: UInt32, supervisionMillis: UInt32) {
            self.heartbeatMillis = heartbeatMillis; self.supervisionMillis = supervisionMillis
        }
    }

    public struct StationAlarm: Equatable, Sendable {
        public var order: String
        public var round: UInt32
        public var test: Bool
        public var reAlarm: Bool
        public var incident: String
        public var keyword: String
        public var area: String
        public var address: String
        /// The text for displays and the printer.
        public var text: String
        public var units: [String]
        /// Outputs to drive: gong, lights, doors, printer, …
        public var outputs: [String]
        public init(order: String, round: UInt32, test: Bool, reAlarm: Bool, incident: String, keyword: String, area: String,
                    address: String, text: String, units: [String], outputs: [String]) {
            self.order = order; self.round = round; self.test = test; self.reAlarm = reAlarm; self.incident = incident
            self.keyword = keyword; self.area = area; self.address = address; self.text = text; self.units = units; self.outputs = outputs
        }
    }

    public struct StationAck: Equatable, Sendable {
        public var order: String
        public var round: UInt32
        public init(order: String, round: UInt32) { self.order = order; self.round = round }
    }

    public var frame: ProtocolFrame {
        var w = ByteWriter()
        let kind: Kind
        switch self {
        case .hello(let h):
            kind = .hello
            w.writeUInt8(h.version)
            w.writeLengthPrefixed(h.station)
            w.writeLengthPrefixed(h.device)
        case .welcome(let x):
            kind = .welcome
            w.writeUInt32(x.heartbeatMillis)
            w.writeUInt32(x.supervisionMillis)
        case .alarm(let a):
            kind = .alarm
            w.writeLengthPrefixed(a.order)
            w.writeUInt32(a.round)
            w.writeUInt8((a.test ? 1 : 0) | (a.reAlarm ? 2 : 0))
            for s in [a.incident, a.keyword, a.area, a.address, a.text] { w.writeLengthPrefixed(s) }
            w.writeVarint(UInt64(a.units.count))
            for u in a.units { w.writeLengthPrefixed(u) }
            w.writeVarint(UInt64(a.outputs.count))
            for o in a.outputs { w.writeLengthPrefixed(o) }
        case .ack(let a):
            kind = .ack
            w.writeLengthPrefixed(a.order)
            w.writeUInt32(a.round)
        case .heartbeat(let n):
            kind = .heartbeat
            w.writeUInt64(n)
        }
        return ProtocolFrame(kind: kind.rawValue, body: w.bytes)
    }

    /// Decodes one frame; refuses unknown kinds, truncated or trailing bytes, invalid UTF-8 or
    /// control characters in text, and fields over their limits — never traps.
    public static func decode(_ frame: ProtocolFrame) throws(StationAlertError) -> StationAlertFrame {
        guard let kind = Kind(rawValue: frame.kind) else { throw .malformed("unknown frame kind \(frame.kind)") }
        var r = ByteReader(frame.body)
        do {
            let result: StationAlertFrame
            switch kind {
            case .hello:
                let version = try r.readUInt8()
                guard version == protocolVersion else { throw StationAlertError.unsupportedVersion(version) }
                result = .hello(Hello(version: version, station: try text(&r, "station", 64, allowEmpty: false),
                                      device: try text(&r, "device", 128)))
            case .welcome:
                let hb = try r.readUInt32(), sup = try r.readUInt32()
                guard hb >= 100, sup > hb, sup <= 600_000 else { throw StationAlertError.malformed("welcome: heartbeat \(hb) ms, supervision \(sup) ms") }
                result = .welcome(Welcome(heartbeatMillis: hb, supervisionMillis: sup))
            case .alarm:
                let order = try text(&r, "order", 64, allowEmpty: false)
                let round = try r.readUInt32()
                let flags = try r.readUInt8()
                guard round >= 1, flags <= 3 else { throw StationAlertError.malformed("alarm: round \(round), flags \(flags)") }
                let incident = try text(&r, "incident", 64, allowEmpty: false), keyword = try text(&r, "keyword", 16, allowEmpty: false)
                let area = try text(&r, "area", 64), address = try text(&r, "address", 200), body = try text(&r, "text", 1_000)
                let units = try list(&r, "units", count: 64, each: 64)
                let outputs = try list(&r, "outputs", count: 16, each: 32)
                result = .alarm(StationAlarm(order: order, round: round, test: flags & 1 != 0, reAlarm: flags & 2 != 0, incident: incident,
                                             keyword: keyword, area: area, address: address, text: body, units: units, outputs: outputs))
            case .ack:
                let order = try text(&r, "order", 64, allowEmpty: false)
                let round = try r.readUInt32()
                guard round >= 1 else { throw StationAlertError.malformed("ack: round 0") }
                result = .ack(StationAck(order: order, round: round))
            case .heartbeat:
                result = .heartbeat(sequence: try r.readUInt64())
            }
            try r.finish()
            return result
        } catch let e as StationAlertError {
            throw e
        } catch {
            throw .malformed("\(kind): \(error)")
        }
    }

    private static func text(_ r: inout ByteReader, _ field: String, _ limit: Int, allowEmpty: Bool = true) throws -> String {
        let bytes = try r.readLengthPrefixed(limit: limit * 4)
        guard let s = String(validating: bytes, as: UTF8.self) else { throw StationAlertError.malformed("\(field) is not UTF-8") }
        guard allowEmpty || !s.isEmpty else { throw StationAlertError.malformed("\(field) is empty") }
        guard s.count <= limit else { throw StationAlertError.malformed("\(field) is longer than \(limit) characters") }
        guard !s.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
            throw StationAlertError.malformed("\(field) contains a control character")
        }
        return s
    }

    private static func list(_ r: inout ByteReader, _ field: String, count: Int, each: Int) throws -> [String] {
        let n = try r.readVarint()
        guard n <= UInt64(count) else { throw StationAlertError.malformed("\(field): \(n) entries, at most \(count)") }
        return try (0..<Int(n)).map { _ in try text(&r, field, each, allowEmpty: false) }
    }
}

public enum StationAlertError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    case unsupportedVersion(UInt8)
    public var description: String {
        switch self {
        case .malformed(let s): "malformed station-alert frame: \(s)"
        case .unsupportedVersion(let v): "station-alert protocol version \(v) is not supported (this side speaks 1)"
        }
    }
}
