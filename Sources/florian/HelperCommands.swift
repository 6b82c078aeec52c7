import Client
import Foundation
import Gateways
import Helpers
import Secure
import Simulator

extension CommandLine {
    /// `florian helper-gateway --cluster FILE --name NAME [--listen HOST:PORT] [--state FILE]`: the
    /// helper platform NAME (its gateway certificate) between the bus and the volunteers' app;
    /// `--state` keeps where it is on its topic, so a restart carries what it had not yet.
    static func helperGateway(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: [])
        guard let path = args.string("cluster") else { throw UsageError("helper-gateway needs --cluster FILE") }
        guard let name = args.string("name") else { throw UsageError("helper-gateway needs --name NAME (the platform; its gateway certificate in the cluster's PKI)") }
        let listen: (host: String, port: UInt16) = try args.string("listen").map(parseEndpoint) ?? ("127.0.0.1", 0)
        let state = args.string("state")
        try args.finish()
        guard dieWithParentIfAsked() else { return 1 }
        let file = try ClusterFile.load(path)
        let id = try file.identity(name)
        let client = try FlorianClient(nodes: file.nodes, tls: try TLSContext(TLSConfiguration(caFile: file.ca, certificateFile: id.cert, keyFile: id.key,
                                                                                              crlFile: file.crl, acceptedRoles: [.node]), side: .client))
        let server = try TLSContext(TLSConfiguration(caFile: file.ca, certificateFile: id.cert, keyFile: id.key, crlFile: file.crl, acceptedRoles: [.helper]), side: .server)
        let log: @Sendable (String) -> Void = { line in
            let stamp = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
            FileHandle.standardError.write(Data("\(stamp) helper-gateway \(name): \(line)\n".utf8))
        }
        let loop = try EventLoop()
        let gateway = try HelperGateway(loop: loop, client: client, platform: name, serverContext: server, host: listen.host, port: listen.port,
                                          stateFile: state, log: log)
        say("helper-gateway \(name): app listener \(listen.host):\(gateway.port), asks from \(HelpersDomain.asks(name))")
        say("ready")
        let handle = loop.handle
        let sources = onTermination { handle.stop() }
        withExtendedLifetime(sources) { loop.run() }
        gateway.stop()
        client.closeAndWait()
        return 0
    }

    /// `florian helper-sim --cluster FILE --name NAME --gateway HOST:PORT [--volunteers N]
    /// [--skills A,B] [--near LAT,LON] [--radius KM] [--scenario FILE | --acceptance P]
    /// [--answer-after MIN-MAX (ms)] [--travel MS] [--stay MS] [--seed S] [--prefix P]`
    static func helperSim(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: [])
        guard let path = args.string("cluster") else { throw UsageError("helper-sim needs --cluster FILE") }
        guard let name = args.string("name") else { throw UsageError("helper-sim needs --name NAME (a helper certificate in the cluster's PKI)") }
        guard let gatewayArg = args.string("gateway") else { throw UsageError("helper-sim needs --gateway HOST:PORT (the helper gateway's app listener)") }
        let gateway = try parseEndpoint(gatewayArg)
        var b = HelperAppSimulator.Behaviour()
        if let n = try args.uint("volunteers") { guard (1...10_000).contains(n) else { throw UsageError("--volunteers: 1…10000") }; b.volunteers = Int(n) }
        if let s = args.string("skills") {
            b.skills = s.split(separator: ",").map { String($0) }
            guard !b.skills.isEmpty, b.skills.allSatisfy({ (1...64).contains($0.utf8.count) }) else { throw UsageError("--skills needs A,B,… (1–64 bytes each)") }
        }
        if let near = args.string("near") {
            let p = near.split(separator: ",").compactMap { Double($0) }
            guard p.count == 2, let position = Optional(Position(latE6: Int64(p[0] * 1e6), lonE6: Int64(p[1] * 1e6))), position.gridPoint != nil else {
                throw UsageError("--near needs LAT,LON in Europe, e.g. 50.1106,8.6821")
            }
            b.centre = position
        }
        if let r = args.string("radius") { guard let km = Double(r), km > 0, km <= 100 else { throw UsageError("--radius: 0…100 km") }; b.radiusMetres = km * 1000 }
        if let scenario = args.string("scenario") {
            guard let bytes = FileManager.default.contents(atPath: scenario) else { throw UsageError("cannot read \(scenario)") }
            b.acceptanceByHour = try FloodScenario.parse(Array(bytes)).acceptanceByHour
        }
        if let a = args.string("acceptance") {
            guard let p = Double(a), (0...1).contains(p) else { throw UsageError("--acceptance: 0…1") }
            b.acceptanceByHour = Array(repeating: p, count: 24)
        }
        if let d = args.string("answer-after") {
            let parts = d.split(separator: "-").compactMap { UInt64($0) }
            guard parts.count == 2, parts[0] <= parts[1], parts[1] <= 600_000 else { throw UsageError("--answer-after needs MIN-MAX in ms, e.g. 1000-5000") }
            b.answerDelay = parts[0]...parts[1]
        }
        if let t = try args.uint("travel") { b.travelMillis = t }
        if let s = try args.uint("stay") { b.stayMillis = s }
        if let s = try args.uint("seed") { b.seed = s }
        if let p = args.string("prefix") { b.prefix = p }
        try args.finish()
        guard dieWithParentIfAsked() else { return 1 }
        let file = try ClusterFile.load(path)
        let id = try file.identity(name)
        let context = try TLSContext(TLSConfiguration(caFile: file.ca, certificateFile: id.cert, keyFile: id.key, crlFile: file.crl, acceptedRoles: [.gateway]), side: .client)
        let loop = try EventLoop()
        let sim = HelperAppSimulator(gateway: gateway, context: context, loop: loop, behaviour: b) { line in say("helper-sim: \(line)") }
        sim.start()
        let handle = loop.handle
        let sources = onTermination { handle.stop() }
        say("helper-sim \(name): \(b.volunteers) volunteers via \(gatewayArg)")
        // The simulator must live as long as the loop (an optimised build may release it early).
        withExtendedLifetime((sources, sim)) { loop.run() }
        return 0
    }
}
