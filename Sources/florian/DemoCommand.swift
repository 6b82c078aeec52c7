import Alarming
import Client
import Dispatch
import Foundation
import Secure
import Synchronization

extension CommandLine {
    /// `florian demo [--dir DIR] [--no-console]`: a local 3-node cluster until Ctrl-C.
    static func demo(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: ["no-console"])
        let noConsole = args.flag("no-console")
        let dirArg = args.string("dir")
        let nodes = try args.uint("nodes") ?? 3
        let registryArg = args.string("registry")
        try args.finish()
        guard let registryPath = registryArg ?? Self.defaultRegistryPath() else {
            throw UsageError("no registry found (ops/config/frankfurt-registry.json); give --registry FILE")
        }
        guard nodes == 3 || nodes == 5 else { throw UsageError("--nodes must be 3 or 5") }
        let dir: URL
        if let dirArg {
            dir = URL(fileURLWithPath: dirArg)
            let existing = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            guard existing.isEmpty else { throw UsageError("--dir \(dirArg) is not empty (the demo makes a new PKI and cluster there)") }
        } else {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("florian-demo-\(getpid())")
        }
        let cluster = try LocalCluster(dir: dir, nodes: Int(nodes), name: "florian-demo")
        try cluster.prepareAlarming(registryPath: registryPath)
        let stop = Handoff<Int32>()
        let stopRequested = Mutex(false)
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                stopRequested.withLock { $0 = true }
                stop.post(sig)
            }
            s.resume()
            sources.append(s)
        }
        try cluster.startAll()
        let leader: ClusterStatus
        do { leader = try cluster.waitForLeader(timeout: 30) } catch {
            cluster.stopAll()
            throw error
        }
        let file = try cluster.writeClusterFile()
        say("cluster: \(cluster.members.count) nodes, leader node \(leader.leader) in term \(leader.term)")
        for m in cluster.members { say("node \(m.id): mesh \(m.mesh), client \(m.client), log \(cluster.logURL(m.id).path)") }
        do {
            try Self.startAlarming(cluster, file: file, registryPath: registryPath) { stopRequested.withLock { $0 } }
        } catch {
            cluster.stopChildren()
            cluster.stopAll()
            throw error
        }
        say("cluster file: \(file.path)")
        say("ready")
        if !noConsole {
            // The dispatcher console comes with issue 8; until then the demo shows the cluster's
            // health every 5 s.
            let client = try cluster.client()
            client.subscribe(topic: AlarmTopic.events, from: (try? client.read(topic: AlarmTopic.events, from: 0, limit: 1).endOffset) ?? 0) { event in
                if case .message(let m) = event, let e = try? JSONDecoder().decode(AlarmEvent.self, from: Data(m.payload)) {
                    say("event: " + AlarmSession.describe(e))
                }
            }
            Thread {
                while true {
                    Thread.sleep(forTimeInterval: 5)
                    if let s = try? client.status() {
                        let nodes = s.members.map { "\($0.name) \($0.link)\($0.lag.map { " lag \($0)" } ?? "")" }.joined(separator: ", ")
                        say("status: leader node \(s.leader), term \(s.term), commit \(s.commitIndex); \(nodes)")
                    } else {
                        say("status: no answer from the cluster")
                    }
                            }
            }.start()
        }
        // Restart a node that died (the demo keeps its cluster whole), until a signal comes.
        while true {
            if let sig = stop.wait(timeout: .now() + 1) {
                say("demo: signal \(sig), stopping the gateways, station simulators and nodes")
                cluster.stopChildren()
                cluster.stopAll()
                say("demo: stopped; files in \(dir.path)")
                _ = sources
                return 0
            }
            for m in cluster.members where !cluster.isRunning(m.id) {
                say("demo: node \(m.id) exited; restarting it (see \(cluster.logURL(m.id).path))")
                try? cluster.start(m.id)
            }
        }
    }

    /// The sample registry: ops/config/frankfurt-registry.json in the working directory or above
    /// the executable (a build inside the repository).
    static func defaultRegistryPath() -> String? {
        let relative = "ops/config/frankfurt-registry.json"
        var candidates = [FileManager.default.currentDirectoryPath + "/" + relative]
        var url = LocalCluster.executable.deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(url.appendingPathComponent(relative).path)
            url.deleteLastPathComponent()
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// Applies the registry, starts the gateways and station simulators, and waits until both
    /// networks have an active gateway and every station line is up.
    static func startAlarming(_ cluster: LocalCluster, file: URL, registryPath: String, stopped: () -> Bool) throws {
        guard let data = FileManager.default.contents(atPath: registryPath) else { throw UsageError("cannot read \(registryPath)") }
        let registry = try StrictJSON.decode(Registry.self, from: Array(data), what: registryPath)
        let client = try cluster.client()
        defer { client.close() }
        let command = AlarmCommand.applyRegistry(registry)
        let outcome = try client.submit(type: command.type, commandID: "demo-registry", payload: command.payload)
        if case .rejected(let why) = outcome { throw UsageError("registry refused: \(why)") }
        say("registry: \(registryPath) (\(registry.stations.count) stations, \(registry.units.count) units, \(registry.areas.count) areas)")
        try cluster.startAlarming(clusterFile: file)
        let a = cluster.alarming!
        let deadline = Date().addingTimeInterval(60)
        var last = ""
        while Date() < deadline {
            if stopped() { throw UsageError("stopped by a signal while starting") }
            let leases = (try? JSONDecoder().decode([Network: Lease].self, from: Data(try client.query(namespace: "alarm", name: "leases", payload: Array("{}".utf8))))) ?? [:]
            let lines = (try? JSONDecoder().decode([AlarmState.LineView].self, from: Data(try client.query(namespace: "alarm", name: "lines", payload: Array("{}".utf8))))) ?? []
            let up = lines.filter { $0.state == "up" }.count
            let active = Network.allCases.filter { leases[$0].map { !$0.expired } ?? false }
            last = "\(active.count)/2 networks with an active gateway, \(up)/\(lines.count) station lines up"
            if active.count == 2 && up == lines.count && !lines.isEmpty {
                for n in Network.allCases { say("\(n.rawValue) gateway: \(leases[n]!.holder) active, standby ready") }
                say("station lines: \(up) up (\(a.stations.joined(separator: ", ")))")
                say("gateway listeners: " + a.wired.map { "\($0.name) 127.0.0.1:\($0.port)" }.joined(separator: ", "))
                say("paging sink: \(a.pagingSink)")
                return
            }
            Thread.sleep(forTimeInterval: 0.25)
        }
        throw UsageError("the alarm network did not come up within 60 s: \(last) (logs in \(cluster.dir.path))")
    }
}
