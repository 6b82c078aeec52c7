import Alarming
import Client
import Foundation
import Gateways
import Secure

extension CommandLine {
    /// `florian gateway --cluster FILE --network wired|wireless --name NAME [--listen HOST:PORT] [--sink DIR]`
    static func gateway(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: [])
        guard let path = args.string("cluster") else { throw UsageError("gateway needs --cluster FILE") }
        guard let networkName = args.string("network"), let network = Network(rawValue: networkName) else {
            throw UsageError("gateway needs --network wired or wireless")
        }
        guard let name = args.string("name") else { throw UsageError("gateway needs --name NAME (its certificate in the cluster's PKI)") }
        let listen: (host: String, port: UInt16) = try args.string("listen").map(parseEndpoint) ?? ("127.0.0.1", 0)
        let sinkArg = args.string("sink")
        try args.finish()
        guard dieWithParentIfAsked() else { return 1 }
        let file = try ClusterFile.load(path)
        let id = try file.identity(name)
        let clientContext = try TLSContext(TLSConfiguration(caFile: file.ca, certificateFile: id.cert, keyFile: id.key, crlFile: file.crl,
                                                            acceptedRoles: [.node]), side: .client)
        let client = try FlorianClient(nodes: file.nodes, tls: clientContext)
        let log: @Sendable (String) -> Void = { line in
            let stamp = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
            FileHandle.standardError.write(Data("\(stamp) gateway \(name): \(line)\n".utf8))
        }
        let registry = try waitForRegistry(client, log: log)
        let ready = Handoff<Result<EventLoop.LoopHandle, Error>>()
        let done = Handoff<Bool>()
        let sinkDir = sinkArg ?? file.pagingSink
        Thread {
            do {
                let loop = try EventLoop()
                var stop: () -> Void = {}
                switch network {
                case .wired:
                    let server = try TLSContext(TLSConfiguration(caFile: file.ca, certificateFile: id.cert, keyFile: id.key, crlFile: file.crl,
                                                                 acceptedRoles: [.station]), side: .server)
                    var o = StationGateway.Options(name: name)
                    o.host = listen.host
                    o.port = listen.port
                    let g = try StationGateway(loop: loop, client: client, registry: registry, serverContext: server, options: o, log: log)
                    say("gateway \(name): wired network, station listener \(listen.host):\(g.port)")
                    stop = { g.stop() }
                case .wireless:
                    guard let sinkDir else { throw UsageError("a wireless gateway needs --sink DIR (or paging_sink in the cluster file)") }
                    let g = PagingGateway(loop: loop, client: client, registry: registry, options: .init(name: name, sinkDirectory: sinkDir), log: log)
                    say("gateway \(name): wireless network, transmitter sink \(sinkDir)")
                    stop = { g.stop() }
                }
                ready.post(.success(loop.handle))
                loop.run()
                stop()
            } catch {
                ready.post(.failure(error))
            }
            done.post(true)
        }.start()
        let handle = try ready.wait()!.get()
        let sources = onTermination { handle.stop() }
        say("ready")
        // The signal sources must live until the end (an optimised build may release them early).
        withExtendedLifetime(sources) { _ = done.wait() }
        client.closeAndWait()
        return 0
    }

    /// The registry from the cluster, waiting (up to 120 s) until the cluster answers and one is applied.
    static func waitForRegistry(_ client: FlorianClient, log: (String) -> Void) throws -> Registry {
        let deadline = Date().addingTimeInterval(120)
        var said = false
        while true {
            do {
                let bytes = try client.query(namespace: "alarm", name: "registry", payload: Array("{}".utf8))
                return try JSONDecoder().decode(Registry.self, from: Data(bytes))
            } catch {
                if Date() > deadline { throw error }
                if !said { log("waiting for the cluster and its registry: \(error)"); said = true }
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
    }

    /// `florian station-sim --cluster FILE --station ID [--ack-delay MS] [--no-ack] [--flap UP:DOWN] [--drop-after S]
    /// [--printout FILE]`
    static func stationSim(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: ["no-ack"])
        guard let path = args.string("cluster") else { throw UsageError("station-sim needs --cluster FILE") }
        guard let station = args.string("station") else { throw UsageError("station-sim needs --station ID") }
        var behaviour = StationSimulator.Behaviour()
        behaviour.ackDelayMillis = try args.uint("ack-delay") ?? 0
        behaviour.acknowledges = !args.flag("no-ack")
        if let flap = args.string("flap") {
            let parts = flap.split(separator: ":").compactMap { Double($0) }
            guard parts.count == 2, parts.allSatisfy({ $0 > 0 && $0 < 3600 }) else { throw UsageError("--flap needs UP:DOWN in seconds, e.g. 5:3") }
            behaviour.flap = (UInt64(parts[0] * 1000), UInt64(parts[1] * 1000))
        }
        if let drop = args.string("drop-after") {
            guard let s = Double(drop), s >= 0 else { throw UsageError("--drop-after needs seconds") }
            behaviour.dropAfterMillis = UInt64(s * 1000)
        }
        let explicit = args.string("gateway")
        let printoutPath = args.string("printout")
        try args.finish()
        guard dieWithParentIfAsked() else { return 1 }
        let file = try ClusterFile.load(path)
        let id = try file.identity(station)
        let gateways = try explicit.map { [try parseEndpoint($0)] }
            ?? file.gateways.filter { $0.network == "wired" }.compactMap(\.listen).map(parseEndpoint)
        guard !gateways.isEmpty else { throw UsageError("\(path) lists no wired gateway listeners (use --gateway HOST:PORT)") }
        let context = try TLSContext(TLSConfiguration(caFile: file.ca, certificateFile: id.cert, keyFile: id.key, crlFile: file.crl,
                                                      acceptedRoles: [.gateway]), side: .client)
        let loop = try EventLoop()
        // The station's printer: what the crews read (address included). A file of its own, so
        // that the log holds no personal data; without --printout it is not kept.
        var printer: FileHandle?
        if let printoutPath {
            if !FileManager.default.fileExists(atPath: printoutPath) { _ = FileManager.default.createFile(atPath: printoutPath, contents: nil, attributes: [.posixPermissions: 0o600]) }
            guard let h = FileHandle(forWritingAtPath: printoutPath) else { throw UsageError("cannot write the printout \(printoutPath)") }
            h.seekToEndOfFile()
            printer = h
        }
        let sim = StationSimulator(station: station, gateways: gateways, context: context, loop: loop, behaviour: behaviour,
                                   printout: { line in printer?.write(Data("\(station): \(line)\n".utf8)) }) { line in
            say("\(station): \(line)")
        }
        sim.start()
        let handle = loop.handle
        let sources = onTermination { handle.stop() }
        say("station-sim \(station): connecting to \(gateways.count) gateway(s)")
        withExtendedLifetime(sources) { loop.run() }
        return 0
    }
}
