import Client
import Foundation
import Node
import Secure

/// A cluster of `florian node` child processes on loopback with a throw-away PKI: used by
/// `florian demo`, the chaos tests and `bench cluster`. Everything lives in `dir`: pki/, one
/// config, data directory and log per node, cluster.json. Not locked: the demo hands it to
/// threads that keep apart (after start-up one thread starts and stops nodes, another the
/// station simulators), hence the unchecked Sendable.
final class LocalCluster: @unchecked Sendable {
    let dir: URL
    let name: String
    let members: [NodeConfig.Member]
    private(set) var processes: [UInt64: Process] = [:]
    let pki: PKIDirectory
    static let operatorName = "disponent-demo"
    static let gatewayName = "gateway-demo"
    static let partnerName = "partner-thw"
    static let partnerOrg = "THW Ortsverband Frankfurt"
    /// The incident pipeline's identity: a gateway certificate (it consumes committed events and
    /// reports back that closed incidents are stored; Protocols/incidents.md).
    static let pipelineName = "pipeline"
    /// The city's helper platform (a gateway certificate: its name is the platform's), the app
    /// link of its simulated volunteers (role helper), and a relief organisation that is a helper
    /// platform of its own over MQTT.
    static let helperPlatform = "helfernetz"
    static let helperApp = "helfernetz-app"
    static let platformPartnerName = "partner-drk"
    static let platformPartnerOrg = "DRK Kreisverband Frankfurt am Main"

    /// Creates the PKI and the node configs (ports chosen free on 127.0.0.1).
    init(dir: URL, nodes: Int = 3, name: String = "florian-local", timing: NodeConfig.Timing? = nil) throws {
        self.dir = dir
        self.name = name
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        pki = PKIDirectory(dir.appendingPathComponent("pki").path)
        try pki.initialise()
        var members: [NodeConfig.Member] = []
        let ports = try Self.freePorts(3 * nodes)
        for k in 1...nodes {
            try pki.issue(role: .node, name: "node\(k)", alternativeNames: ["IP:127.0.0.1", "DNS:localhost"])
            members.append(NodeConfig.Member(id: UInt64(k), name: "node\(k)", mesh: Endpoint(host: "127.0.0.1", port: ports[3 * k - 3]),
                                             client: Endpoint(host: "127.0.0.1", port: ports[3 * k - 2]),
                                             mqtt: Endpoint(host: "127.0.0.1", port: ports[3 * k - 1])))
        }
        try pki.issue(role: .operator, name: Self.operatorName)
        try pki.issue(role: .gateway, name: Self.gatewayName)
        try pki.issue(role: .gateway, name: Self.pipelineName)
        try pki.issue(role: .partner, name: Self.partnerName, organisation: Self.partnerOrg)
        try pki.issue(role: .gateway, name: Self.helperPlatform)
        try pki.issue(role: .helper, name: Self.helperApp)
        try pki.issue(role: .partner, name: Self.platformPartnerName, organisation: Self.platformPartnerOrg)
        self.members = members
        for m in members {
            let config = NodeConfig(cluster: name, node: m.id, data: "data/node\(m.id)",
                                    tls: .init(ca: "pki/ca.crt", crl: "pki/crl.pem", cert: "pki/\(m.name).crt", key: "pki/\(m.name).key"),
                                    members: members, timing: timing)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(config).write(to: configURL(m.id))
        }
    }

    func configURL(_ id: UInt64) -> URL { dir.appendingPathComponent("node\(id).json") }
    func logURL(_ id: UInt64) -> URL { dir.appendingPathComponent("node\(id).log") }
    var pkiPath: String { pki.url.path }

    /// Ports the kernel hands out for port 0, released again (another process could take one
    /// before the node binds it; the node then fails loudly).
    static func freePorts(_ count: Int) throws -> [UInt16] {
        var fds: [Int32] = [], ports: [UInt16] = []
        defer { fds.forEach { close($0) } }
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            fds.append(fd)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let ok = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
            }
            guard ok else { throw SocketError.system("bind 127.0.0.1:0", errno) }
            ports.append(UInt16(bigEndian: addr.sin_port))
        }
        return ports
    }

    static var executable: URL {
        URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
    }

    /// Starts node `id` (its output appended to its log file); it dies with this process.
    func start(_ id: UInt64) throws {
        processes[id] = try Self.child(["node", "--config", configURL(id).path], log: logURL(id))
    }

    func startAll() throws { for m in members { try start(m.id) } }

    /// Creates a cluster in `dir`, starts every node and waits for a leader (stopping the nodes
    /// again when none is elected).
    static func launch(dir: URL, name: String) throws -> (LocalCluster, ClusterStatus) {
        let cluster = try LocalCluster(dir: dir, name: name)
        do {
            try cluster.startAll()
            return (cluster, try cluster.waitForLeader())
        } catch {
            cluster.stopAll()
            throw error
        }
    }

    /// A client of the whole cluster, with `topic` created (keeping `maxCount` messages).
    func client(creating topic: String, maxCount: UInt64) throws -> FlorianClient {
        let c = try client()
        do { try c.createTopic(topic, maxCount: maxCount, commandID: "create-\(topic)") } catch {
            c.close()
            throw error
        }
        return c
    }

    /// Sends `signal` to node `id` and waits for it to exit.
    func kill(_ id: UInt64, signal: Int32 = SIGKILL) {
        guard let p = processes.removeValue(forKey: id) else { return }
        if p.isRunning { Glibc.kill(p.processIdentifier, signal) }
        p.waitUntilExit()
    }

    func pid(_ id: UInt64) -> Int32? { processes[id].map(\.processIdentifier) }

    func isRunning(_ id: UInt64) -> Bool { processes[id]?.isRunning ?? false }

    /// Stops every node (SIGTERM, then SIGKILL after 5 s).
    func stopAll() {
        Self.terminate(Array(processes.values))
        processes.removeAll()
    }

    /// SIGTERM to each running process, SIGKILL to any still running 5 s later; waits for all.
    static func terminate(_ ps: [Process]) {
        for p in ps where p.isRunning { Glibc.kill(p.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(5)
        for p in ps {
            while p.isRunning && Date() < deadline { usleep(20_000) }
            if p.isRunning { Glibc.kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
    }

    // MARK: - Clients

    func tls(_ identity: String) throws -> TLSContext {
        try TLSContext(TLSConfiguration.fromPKI(directory: pkiPath, name: identity, accepting: [.node]), side: .client)
    }

    /// A client for the whole cluster (follows the leader), as the demo operator.
    func client(options: FlorianClient.Options = FlorianClient.Options()) throws -> FlorianClient {
        try FlorianClient(nodes: members.map(\.client.description), tls: try tls(Self.operatorName), options: options)
    }

    /// A client that stays on node `id` (reads that node's own copy).
    func client(node id: UInt64, timeout: Duration = .seconds(5)) throws -> FlorianClient {
        var o = FlorianClient.Options()
        o.followLeader = false
        o.requestTimeout = timeout
        return try FlorianClient(nodes: [members.first { $0.id == id }!.client.description], tls: try tls(Self.operatorName), options: o)
    }

    /// Waits until a node reports a leader that every running node agrees on.
    func waitForLeader(timeout: TimeInterval = 30) throws -> ClusterStatus {
        let deadline = Date().addingTimeInterval(timeout)
        var last = "no answer"
        while Date() < deadline {
            var statuses: [ClusterStatus] = []
            for m in members where isRunning(m.id) {
                let c = try client(node: m.id, timeout: .seconds(1))
                defer { c.close() }
                do { statuses.append(try c.status()) } catch { last = "node \(m.id): \(error)" }
            }
            let running = members.filter { isRunning($0.id) }.count
            if statuses.count == running, let leader = statuses.first?.leader, leader != 0,
               statuses.allSatisfy({ $0.leader == leader }), let s = statuses.first(where: { $0.node == leader }) {
                return s
            }
            if let s = statuses.first { last = "node \(s.node): leader \(s.leader), term \(s.term)" }
            usleep(50_000)
        }
        throw RequestFailure(code: .unavailable, reason: "no leader within \(Int(timeout)) s (\(last))")
    }

    // MARK: - The alarm dispatcher around the cluster (demo)

    /// What the demo runs around the nodes: gateways per network, station devices, the sink.
    struct Alarming {
        var registryPath: String
        var stations: [String]
        var wired: [(name: String, port: UInt16)]
        var wireless: [String]
        var pagingSink: String
    }
    private(set) var alarming: Alarming?
    private(set) var children: [String: Process] = [:]

    /// Issues the certificates of the gateways (two per network: active and standby) and of every
    /// station with a line in the registry, and picks the gateways' listener ports.
    func prepareAlarming(registryPath: String) throws {
        guard let data = FileManager.default.contents(atPath: registryPath),
              let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let stations = json["stations"] as? [[String: Any]] else {
            throw UsageError("cannot read the registry \(registryPath)")
        }
        let lined = stations.filter { $0["line"] != nil }.compactMap { $0["id"] as? String }
        for s in lined { try pki.issue(role: .station, name: s) }
        let ports = try Self.freePorts(2)
        let wired = [("gw-wired-1", ports[0]), ("gw-wired-2", ports[1])]
        let wireless = ["gw-wireless-1", "gw-wireless-2"]
        for g in wired.map(\.0) + wireless { try pki.issue(role: .gateway, name: g) }
        let sink = dir.appendingPathComponent("paging-sink").path
        try FileManager.default.createDirectory(atPath: sink, withIntermediateDirectories: true)
        alarming = Alarming(registryPath: registryPath, stations: lined, wired: wired, wireless: wireless, pagingSink: sink)
    }

    func childLogURL(_ label: String) -> URL { dir.appendingPathComponent("\(label).log") }

    /// Starts a child `florian` process (output appended to `label`.log); it dies with this process.
    func spawn(_ label: String, _ arguments: [String]) throws {
        children[label] = try Self.child(arguments, log: childLogURL(label))
    }

    /// Runs this executable with `arguments`, output appended to `log`; the child dies with us.
    static func child(_ arguments: [String], log url: URL) throws -> Process {
        let p = Process()
        p.executableURL = executable
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["FLORIAN_DIE_WITH_PARENT"] = "1"
        p.environment = env
        if !FileManager.default.fileExists(atPath: url.path) { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
        let log = try FileHandle(forWritingTo: url)
        log.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Starts the gateways and one station simulator per lined station.
    func startAlarming(clusterFile: URL) throws {
        guard let a = alarming else { return }
        for g in a.wired {
            try spawn(g.name, ["gateway", "--cluster", clusterFile.path, "--network", "wired", "--name", g.name, "--listen", "127.0.0.1:\(g.port)"])
        }
        for g in a.wireless {
            try spawn(g, ["gateway", "--cluster", clusterFile.path, "--network", "wireless", "--name", g, "--sink", a.pagingSink])
        }
        for s in a.stations { try spawn("station-\(s)", stationArguments(s, clusterFile: clusterFile)) }
    }

    /// The arguments of a station simulator: its printout (the alarm text with the address) in
    /// `station-ID.printout` beside its log.
    func stationArguments(_ station: String, clusterFile: URL) -> [String] {
        // --station last: operators and tests find a station's device by `pkill -f 'station FRW1$'`.
        ["station-sim", "--cluster", clusterFile.path, "--printout", dir.appendingPathComponent("station-\(station).printout").path, "--station", station]
    }

    /// Kills the child process `label` (SIGKILL) and waits for it.
    func killChild(_ label: String) {
        guard let p = children.removeValue(forKey: label) else { return }
        if p.isRunning { Glibc.kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }

    func stopChildren() {
        Self.terminate(Array(children.values))
        children.removeAll()
    }

    /// `cluster.json`: listeners per node, CA, CRL, the demo credentials.
    func writeClusterFile() throws -> URL {
        func cred(_ name: String) -> [String: String] {
            ["cert": pki.url.appendingPathComponent("\(name).crt").path, "key": pki.url.appendingPathComponent("\(name).key").path, "name": name]
        }
        var partner = cred(Self.partnerName)
        partner["org"] = Self.partnerOrg
        var json: [String: Any] = [
            "cluster": name,
            "nodes": members.map { m -> [String: Any] in
                ["id": m.id, "name": m.name, "mesh": m.mesh.description, "client": m.client.description, "mqtt": m.mqtt?.description ?? "",
                 "config": configURL(m.id).path, "log": logURL(m.id).path]
            },
            "ca": pki.url.appendingPathComponent("ca.crt").path,
            "crl": pki.url.appendingPathComponent("crl.pem").path,
            "credentials": ["operator": cred(Self.operatorName), "partner": partner, "gateway": cred(Self.gatewayName),
                            "pipeline": cred(Self.pipelineName)],
            "pki": pki.url.path,
        ]
        if let a = alarming {
            json["registry"] = a.registryPath
            json["paging_sink"] = a.pagingSink
            json["gateways"] = ["wired": a.wired.map { ["name": $0.name, "listen": "127.0.0.1:\($0.port)"] },
                                "wireless": a.wireless.map { ["name": $0] }]
            json["stations"] = a.stations.map { ["station": $0, "log": childLogURL("station-\($0)").path] }
        }
        let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        let url = dir.appendingPathComponent("cluster.json")
        try data.write(to: url)
        return url
    }
}
