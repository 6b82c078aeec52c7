import Foundation

/// `host:port` of a listener (IPv4 dotted host).
public struct Endpoint: Equatable, Sendable, CustomStringConvertible, Codable {
    public var host: String
    public var port: UInt16
    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`; nil when it is not one.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]), port > 0 else { return nil }
        let host = String(text[..<colon])
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else { return nil }
        self.host = host
        self.port = port
    }

    public var description: String { "\(host):\(port)" }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let e = Endpoint(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is no IPv4 host:port"))
        }
        self = e
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// One node's configuration file (`florian node --config FILE`, JSON; relative paths are taken
/// from the file's directory). See ops/config/ for 3- and 5-node samples.
public struct NodeConfig: Codable, Sendable {
    public struct Member: Codable, Sendable, Equatable {
        /// The node id (1, 2, …), the same in every member's file.
        public var id: UInt64
        /// Its certificate's CN: the mesh accepts node `id` only with this name.
        public var name: String
        public var mesh: Endpoint
        public var client: Endpoint
        /// The partner endpoint (MQTT 3.1.1 over TLS, Protocols/partner-mqtt.md); optional.
        public var mqtt: Endpoint?
        public init(id: UInt64, name: String, mesh: Endpoint, client: Endpoint, mqtt: Endpoint? = nil) {
            self.id = id
            self.name = name
            self.mesh = mesh
            self.client = client
            self.mqtt = mqtt
        }
    }

    public struct TLSFiles: Codable, Sendable {
        public var ca: String
        public var crl: String
        public var cert: String
        public var key: String
        public init(ca: String, crl: String, cert: String, key: String) {
            self.ca = ca
            self.crl = crl
            self.cert = cert
            self.key = key
        }
    }

    /// Raft timing. Failover takes one election timeout (randomised in [election, 2·election)
    /// ticks) plus an election round: with the defaults 300–600 ms. A longer tick costs less CPU
    /// when idle (each tick wakes the node).
    public struct Timing: Codable, Sendable {
        public var tickMillis: Int = 50
        public var heartbeatTicks: Int = 2
        public var electionTicks: Int = 6
        public init() {}
        enum CodingKeys: String, CodingKey {
            case tickMillis = "tick_ms", heartbeatTicks = "heartbeat_ticks", electionTicks = "election_ticks"
        }
    }

    /// A name for the cluster; peers of another cluster are refused at the mesh hello.
    public var cluster: String
    /// This node's id (one of `members`).
    public var node: UInt64
    /// Directory of the log (created when missing).
    public var data: String
    public var tls: TLSFiles
    public var members: [Member]
    public var timing: Timing?
    /// Snapshot the bus state every this many entries (default 10 000).
    public var snapshotEvery: UInt64?

    enum CodingKeys: String, CodingKey {
        case cluster, node, data, tls, members, timing
        case snapshotEvery = "snapshot_every"
    }

    public init(cluster: String, node: UInt64, data: String, tls: TLSFiles, members: [Member], timing: Timing? = nil) {
        self.cluster = cluster
        self.node = node
        self.data = data
        self.tls = tls
        self.members = members
        self.timing = timing
    }

    public var me: Member { members.first { $0.id == node }! }

    /// Reads and checks a config file; paths in it become absolute.
    public static func load(_ path: String) throws -> NodeConfig {
        guard let data = FileManager.default.contents(atPath: path) else { throw ConfigError("cannot read \(path)") }
        var config: NodeConfig
        do { config = try JSONDecoder().decode(NodeConfig.self, from: data) } catch {
            throw ConfigError("\(path): \(Self.describe(error))")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        func absolute(_ p: String) -> String { p.hasPrefix("/") ? p : base.appendingPathComponent(p).standardizedFileURL.path }
        config.data = absolute(config.data)
        config.tls = TLSFiles(ca: absolute(config.tls.ca), crl: absolute(config.tls.crl), cert: absolute(config.tls.cert),
                              key: absolute(config.tls.key))
        try config.validate(path)
        return config
    }

    func validate(_ path: String) throws {
        guard (1...7).contains(members.count) else { throw ConfigError("\(path): members: 1 to 7 nodes, found \(members.count)") }
        guard Set(members.map(\.id)).count == members.count, !members.contains(where: { $0.id == 0 }) else {
            throw ConfigError("\(path): members: ids must be distinct and non-zero")
        }
        guard Set(members.map(\.name)).count == members.count else { throw ConfigError("\(path): members: names must be distinct") }
        guard members.contains(where: { $0.id == node }) else { throw ConfigError("\(path): node \(node) is not among members") }
        let t = timing ?? Timing()
        guard t.tickMillis >= 1, t.heartbeatTicks >= 1, t.electionTicks > t.heartbeatTicks else {
            throw ConfigError("\(path): timing: need tick_ms ≥ 1 and election_ticks > heartbeat_ticks ≥ 1")
        }
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let ctx):
            return "missing key '\((ctx.codingPath + [key]).map(\.stringValue).joined(separator: "."))'"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx), DecodingError.dataCorrupted(let ctx):
            let at = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            return (at.isEmpty ? "" : "\(at): ") + ctx.debugDescription
        default: return "\(error)"
        }
    }
}

/// A configuration an operator must fix.
public struct ConfigError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
