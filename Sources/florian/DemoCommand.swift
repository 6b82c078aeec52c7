import Alarming
import Client
import Console
import Domains
import Dispatch
import Foundation
import Secure
import Simulator
import Synchronization

extension CommandLine {
    /// `florian demo [--dir DIR] [--no-console] [--plain] [--lang de|en] [--nodes 3|5] [--registry FILE]
    /// [--scenario storm|FILE [--speed N] [--seed S]]`: a local cluster with the alarm network, and
    /// the dispatcher console on this terminal (without a terminal: the event feed), until Ctrl-C
    /// or the console ends; with a scenario, the scenario played on it with a live summary.
    static func demo(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: ["no-console", "plain"])
        let noConsole = args.flag("no-console")
        let plain = args.flag("plain")
        let dirArg = args.string("dir")
        let nodes = try args.uint("nodes") ?? 3
        var registryArg = args.string("registry")
        guard let language = Language(rawValue: args.string("lang") ?? "de") else { throw UsageError("--lang de or en") }
        let scenarioArg = args.string("scenario")
        let speedArg = args.string("speed")
        let seed = try args.uint("seed") ?? 1
        try args.finish()
        var storm: (scenario: AlarmScenario, speed: Double)?
        if let scenarioArg {
            let path = scenarioArg == "storm" ? Self.repositoryFile("Simulations/storm-night.json") : scenarioArg
            guard let path, let bytes = FileManager.default.contents(atPath: path) else {
                throw UsageError("cannot read scenario \(scenarioArg) (storm: Simulations/storm-night.json)")
            }
            let scenario = try AlarmScenario.parse(Array(bytes), name: path)
            guard let speed = Double(speedArg ?? "10"), speed >= 1, speed <= 600 else { throw UsageError("--speed takes 1…600 (virtual minutes per minute)") }
            storm = (scenario, speed)
            if registryArg == nil {
                registryArg = scenario.registry.hasPrefix("/") ? scenario.registry
                    : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(scenario.registry).standardized.path
            }
        } else if speedArg != nil {
            throw UsageError("--speed goes with --scenario")
        }
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
        // The incident pipeline: the store the analysts' exports read (Protocols/incidents.md).
        let storeDir = dir.appendingPathComponent("incidents").path
        do {
            try cluster.spawn("pipeline", ["pipeline", "--cluster", file.path, "--store", storeDir])
        } catch {
            cluster.stopChildren()
            cluster.stopAll()
            throw error
        }
        say("incident store: \(storeDir) (florian pipeline, log \(cluster.childLogURL("pipeline").path))")
        // The helper network: the city's platform and its simulated volunteers (Protocols/helpers.md).
        do {
            let port = try LocalCluster.freePorts(1)[0]
            try cluster.spawn("helper-gateway", ["helper-gateway", "--cluster", file.path, "--name", LocalCluster.helperPlatform, "--listen", "127.0.0.1:\(port)",
                                                "--state", dir.appendingPathComponent("helper-gateway.offset").path])
            var sim = ["helper-sim", "--cluster", file.path, "--name", LocalCluster.helperApp, "--gateway", "127.0.0.1:\(port)",
                       "--volunteers", "30", "--skills", "sandsack,erste-hilfe,logistik", "--near", "50.1106,8.6821", "--radius", "4",
                       "--answer-after", "1000-4000", "--travel", "5000"]
            if let scenario = repositoryFile("Simulations/main-flood.json") { sim += ["--scenario", scenario] }
            try cluster.spawn("helper-sim", sim)
            // Ready means the volunteers are on the bus: a request typed at once finds them.
            try Self.waitForVolunteers(cluster, platform: LocalCluster.helperPlatform, count: 30) { stopRequested.withLock { $0 } }
            say("helper network: platform \(LocalCluster.helperPlatform) (app listener 127.0.0.1:\(port)), 30 simulated volunteers registered (log \(cluster.childLogURL("helper-sim").path))")
        } catch {
            cluster.stopChildren()
            cluster.stopAll()
            throw error
        }
        say("cluster file: \(file.path)")
        say("ready")
        let stopped: @Sendable () -> Bool = { stopRequested.withLock { $0 } }
        let notices = Mailbox<String>()
        let requests = Mailbox<KeeperRequest>()
        let keeperDone = DispatchSemaphore(value: 0)
        // The only thread that starts and stops processes from here on (a long-lived one: a child
        // dies with the thread that started it): restarts a node that died (the demo keeps its
        // cluster whole), and kills a node or a station device on request (a scenario's leader
        // kill or line failure), keeping it down for the time asked.
        let keeper = Thread {
            var heldNodes: [UInt64: DispatchTime] = [:]
            var cutStations: [String: DispatchTime] = [:]
            while !stopped() {
                for r in requests.takeAll(until: .now() + 0.5) {
                    switch r {
                    case let .killNode(id, seconds):
                        cluster.kill(id)
                        heldNodes[id] = .now() + seconds
                    case let .cutStation(station, seconds):
                        cluster.killChild("station-\(station)")
                        cutStations[station] = .now() + seconds
                    }
                }
                for (station, until) in cutStations where until <= .now() && !stopped() {
                    cutStations[station] = nil
                    try? cluster.spawn("station-\(station)", cluster.stationArguments(station, clusterFile: file))
                    notices.post("demo: station device \(station) restarted")
                }
                for m in cluster.members where !stopped() && !cluster.isRunning(m.id) {
                    if let until = heldNodes[m.id] {
                        guard until <= .now() else { continue }
                        heldNodes[m.id] = nil
                        notices.post("demo: node \(m.id) restarted")
                    } else {
                        notices.post("demo: node \(m.id) exited; restarting it (see \(cluster.logURL(m.id).path))")
                    }
                    try? cluster.start(m.id)
                }
            }
            keeperDone.signal()
        }
        var status: Int32 = 0
        func finish() -> Int32 {
            stopRequested.withLock { $0 = true }
            if keeper.isExecuting { _ = keeperDone.wait(timeout: .now() + 5) }
            say("demo: stopping the gateways, station simulators and nodes")
            cluster.stopChildren()
            cluster.stopAll()
            say("demo: stopped; files in \(dir.path)")
            _ = sources
            return status
        }
        if let storm {
            let driver = try DemoStorm(cluster: cluster, file: try ClusterFile.load(file.path), scenario: storm.scenario,
                                       speed: storm.speed, seed: seed, keeper: requests, stopped: stopped)
            keeper.start()
            status = driver.run(notices: notices) ? 0 : 1
            return finish()
        }
        let client = try ClusterFile.load(file.path).client(role: "operator")
        defer { client.closeAndWait() }
        if !noConsole && isatty(0) == 1 && isatty(1) == 1 {
            keeper.start()
            say("console: connected as \(LocalCluster.operatorName) (Ctrl-C or Ctrl-D ends the demo)")
            _ = try Self.interactiveConsole(client: client, engine: ConsoleEngine(client: client), language: language,
                                            plain: plain, yes: false, notices: notices, stopped: stopped)
            return finish()
        }
        if !noConsole {
            // No terminal: the event feed, one event a line.
            client.subscribe(topic: AlarmTopic.events, from: (try? client.read(topic: AlarmTopic.events, from: 0, limit: 1).endOffset) ?? 0) { event in
                if case .message(let m) = event, let e = try? JSONDecoder().decode(AlarmEvent.self, from: Data(m.payload)) {
                    say("event: " + AlarmSession.describe(e))
                }
            }
        }
        keeper.start()
        while stop.wait(timeout: .now() + 1) == nil {
            for n in notices.takeNow() { say(n) }
        }
        return finish()
    }

    /// A file of the repository: relative to the working directory or above the executable (a
    /// build inside the repository).
    static func repositoryFile(_ relative: String) -> String? {
        var candidates = [FileManager.default.currentDirectoryPath + "/" + relative]
        var url = LocalCluster.executable.deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(url.appendingPathComponent(relative).path)
            url.deleteLastPathComponent()
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// The sample registry: ops/config/frankfurt-registry.json.
    static func defaultRegistryPath() -> String? { repositoryFile("ops/config/frankfurt-registry.json") }

    /// Applies the registry, starts the gateways and station simulators, and waits until both
    /// networks have an active gateway and every station line is up.
    /// Waits (up to 60 s) until `count` volunteers of `platform` are registered in the helpers domain.
    static func waitForVolunteers(_ cluster: LocalCluster, platform: String, count: Int, stopped: () -> Bool) throws {
        let client = try cluster.client()
        defer { client.close() }
        let deadline = Date().addingTimeInterval(60)
        var seen = 0
        while Date() < deadline {
            if stopped() { throw UsageError("stopped by a signal while starting") }
            if let answer = try? client.query(namespace: "helpers", name: "volunteers", payload: Array("{}".utf8)),
               let counts = try? JSONDecoder().decode(VolunteerCounts.self, from: Data(answer)) {
                seen = counts.platforms[platform] ?? 0
                if seen >= count { return }
            }
            Thread.sleep(forTimeInterval: 0.25)
        }
        throw UsageError("the helper network did not come up within 60 s: \(seen)/\(count) volunteers of \(platform) registered (logs in \(cluster.dir.path))")
    }

    static func startAlarming(_ cluster: LocalCluster, file: URL, registryPath: String, stopped: () -> Bool) throws {
        guard let data = FileManager.default.contents(atPath: registryPath) else { throw UsageError("cannot read \(registryPath)") }
        let registry = try StrictJSON.decode(Registry.self, from: Array(data), what: registryPath)
        let client = try cluster.client()
        defer { client.close() }
        let command = AlarmCommand.applyRegistry(registry)
        let outcome = try client.submit(type: command.type, commandID: "demo-registry", payload: command.payload)
        if case .rejected(let why) = outcome { throw UsageError("registry refused: \(why)") }
        say("registry: \(registryPath) (\(registry.stations.count) stations, \(registry.units.count) units, \(registry.areas.count) areas)")
        // The partners' rights (SAMPLE), applied and kept beside cluster.json.
        if let rightsPath = repositoryFile("ops/config/partner-rights.json"), let rights = FileManager.default.contents(atPath: rightsPath) {
            let copy = cluster.dir.appendingPathComponent("rights.json")
            try rights.write(to: copy)
            if case .rejected(let why) = try client.submit(type: "mqtt.rights.apply", commandID: "demo-rights", payload: Array(rights)) {
                throw UsageError("rights refused: \(why)")
            }
            say("partner rights: \(copy.path)")
        }
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

/// What the demo's keeper thread is asked to do.
enum KeeperRequest: Sendable {
    case killNode(UInt64, seconds: Double)
    case cutStation(String, seconds: Double)
}
