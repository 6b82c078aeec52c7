import Alarming
import Bus
import Client
import Foundation
import Secure
import Synchronization

extension CommandLine {
    /// `florian bench alarm [--orders N]`: 3 node processes over mTLS on loopback with the sample
    /// registry, the wired gateways and a station simulator per lined station: order → station ACK
    /// known to the control room, p50/p99, alone, under a background load of publishes on another
    /// topic (64 in flight), and while a partner floods its MQTT topics.
    static func benchAlarm(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: [])
        let orders = Int(try args.uint("orders") ?? 200)
        let base = args.string("dir")
        try args.finish()
        guard (10...100_000).contains(orders) else { throw UsageError("bench alarm: --orders 10…100000") }
        guard let registryPath = defaultRegistryPath() else { throw UsageError("bench alarm: ops/config/frankfurt-registry.json not found") }
        let dir = URL(fileURLWithPath: base ?? NSTemporaryDirectory()).appendingPathComponent("florian-bench-alarm-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cluster = try LocalCluster(dir: dir, name: "bench-alarm")
        try cluster.prepareAlarming(registryPath: registryPath)
        defer {
            cluster.stopChildren()
            cluster.stopAll()
        }
        try cluster.startAll()
        _ = try cluster.waitForLeader()
        let file = try cluster.writeClusterFile()
        try startAlarming(cluster, file: file, registryPath: registryPath) { false }
        let client = try cluster.client()
        defer { client.closeAndWait() }
        let registry = try JSONDecoder().decode(Registry.self, from: Data(try client.query(namespace: "alarm", name: "registry", payload: Array("{}".utf8))))
        // One unit per professional station with a line: each order alarms one station by line.
        var units: [(unit: UnitID, area: AreaID)] = []
        for s in registry.stations where s.line != nil {
            if let u = registry.units.first(where: { $0.station == s.id }) { units.append((u.id, s.area)) }
        }
        // Receipts as the control room sees them: the event feed.
        let delivered = Mutex<[String: (UInt64, UInt64)]>([:])  // order → (arrival ns, latencyMillis in the state)
        let arrived = DispatchSemaphore(value: 0)
        let from = (try? client.read(topic: AlarmTopic.events, from: 0, limit: 1, linearizable: true).endOffset) ?? 0
        client.subscribe(topic: AlarmTopic.events, from: from) { event in
            guard case .message(let m) = event, let e = try? JSONDecoder().decode(AlarmEvent.self, from: Data(m.payload)),
                  e.event == "target.delivered", let order = e.order, case .line? = e.target else { return }
            delivered.withLock { $0[order.rawValue] = (DispatchTime.now().uptimeNanoseconds, e.latencyMillis ?? 0) }
            arrived.signal()
        }
        let prefix = "bench-\(getpid())"
        func submit(_ c: AlarmCommand, _ id: String) throws -> [String: String] {
            switch try client.submit(type: c.type, commandID: id, payload: c.payload) {
            case .accepted(let bytes): return (try? JSONDecoder().decode([String: String].self, from: Data(bytes))) ?? [:]
            case let other: throw AlarmCLIError("\(c.type): \(other)")
            }
        }
        /// Alarms `count` orders one after another; returns client-side and state-side latencies (ms).
        func phase(_ tag: String, count: Int) throws -> (client: [Double], state: [Double]) {
            var clientSide: [Double] = [], stateSide: [Double] = []
            for n in 0..<count {
                let (unit, area) = units[n % units.count]
                let incident = try submit(.openIncident(.init(keyword: "TH1", area: area, address: "Bench \(n)")), "\(prefix)-\(tag)-open-\(n)")["incident"]!
                let start = DispatchTime.now().uptimeNanoseconds
                let order = try submit(.createOrder(.init(incident: try IncidentID(incident), units: [unit])), "\(prefix)-\(tag)-order-\(n)")["order"]!
                let deadline = DispatchTime.now() + 10
                var got: (UInt64, UInt64)?
                while got == nil {
                    got = delivered.withLock { $0.removeValue(forKey: order) }
                    if got == nil, arrived.wait(timeout: deadline) == .timedOut { break }
                }
                guard let (at, stateMillis) = got else { throw AlarmCLIError("no station ACK for \(order) within 10 s") }
                clientSide.append(Double(at - start) / 1e6)
                stateSide.append(Double(stateMillis))
                _ = try submit(.closeIncident(.init(incident: try IncidentID(incident))), "\(prefix)-\(tag)-close-\(n)")
            }
            return (clientSide, stateSide)
        }
        func pct(_ xs: [Double], _ p: Double) -> Double {
            let s = xs.sorted()
            return s.isEmpty ? 0 : s[min(s.count - 1, Int((Double(s.count) * p).rounded(.up)) - 1)]
        }
        _ = try phase("warm", count: 10)
        let quiet = try phase("quiet", count: orders)
        say(String(format: "bench alarm: no load: order → station ACK seen by the control room p50 %.2f ms, p99 %.2f ms; issued → ACK committed (state) p50 %.0f ms, p99 %.0f ms (%d orders)",
                   pct(quiet.client, 0.5), pct(quiet.client, 0.99), pct(quiet.state, 0.5), pct(quiet.state, 0.99), orders))
        // Background: a second client publishing 1 KiB messages to another topic, 64 in flight.
        let bulk = try cluster.client(creating: "bench/bulk", maxCount: 10_000)
        defer { bulk.closeAndWait() }
        let body = try BusCommand.Publish(topic: TopicName("bench/bulk"), payload: [UInt8](repeating: 0x42, count: 1024)).encode()
        let loadDone = Handoff<ClusterLoad.Result>()
        let loadSeconds = Mutex<Double>(3600)
        let loadStart = Date()
        let stopLoad = Mutex(false)
        Thread {
            loadDone.post(ClusterLoad.run(client: bulk, body: body, inflight: 64, seconds: 3600, tag: "\(prefix)-bulk", stop: { stopLoad.withLock { $0 } }))
        }.start()
        Thread.sleep(forTimeInterval: 1)
        let loaded = try phase("load", count: orders)
        stopLoad.withLock { $0 = true }
        let load = loadDone.wait()!
        loadSeconds.withLock { $0 = Date().timeIntervalSince(loadStart) }
        say(String(format: "bench alarm: with %.0f publishes/s of 1 KiB in the background (64 in flight, p99 %.1f ms): order → station ACK p50 %.2f ms, p99 %.2f ms; issued → ACK committed p50 %.0f ms, p99 %.0f ms",
                   load.rate, load.p99, pct(loaded.client, 0.5), pct(loaded.client, 0.99), pct(loaded.state, 0.5), pct(loaded.state, 0.99)))
        say(String(format: "bench alarm: p99 ratio loaded/quiet %.2f (target: p99 ≤ 20 ms in both)", pct(loaded.client, 0.99) / max(0.001, pct(quiet.client, 0.99))))
        try partnerFlood(cluster: cluster, client: client) {
            let flooded = try phase("mqtt", count: orders)
            return String(format: "order → station ACK p50 %.2f ms, p99 %.2f ms; issued → ACK committed p50 %.0f ms, p99 %.0f ms",
                          pct(flooded.client, 0.5), pct(flooded.client, 0.99), pct(flooded.state, 0.5), pct(flooded.state, 0.99))
        }
        return 0
    }

    /// The third phase: a partner flooding its MQTT topics (QoS 1, 64 in flight, its rate limit
    /// lifted) through `ops/bench/mqtt_bench.py` (paho-mqtt 2.x) while `measure` alarms.
    private static func partnerFlood(cluster: LocalCluster, client: FlorianClient, measure: () throws -> String) throws {
        guard let script = repositoryFile("ops/bench/mqtt_bench.py"),
              let rights = FileManager.default.contents(atPath: cluster.dir.appendingPathComponent("rights.json").path),
              let port = cluster.members.first?.mqtt?.port else {
            return say("bench alarm: partner flood skipped (ops/bench/mqtt_bench.py or the rights or the mqtt listener missing)")
        }
        let lifted = String(decoding: rights, as: UTF8.self).replacingOccurrences(of: #""messagesPerSecond": \d+"#, with: #""messagesPerSecond": 100000"#,
                                                                                  options: .regularExpression)
        if case .rejected(let why) = try client.submit(type: "mqtt.rights.apply", commandID: "bench-rights-\(getpid())", payload: Array(lifted.utf8)) {
            throw AlarmCLIError("rights refused: \(why)")
        }
        let pki = cluster.dir.appendingPathComponent("pki").path
        let flood = Process()
        flood.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        flood.arguments = ["python3", script, "--port", String(port), "--cafile", pki + "/ca.crt", "--cert", pki + "/\(LocalCluster.partnerName).crt",
                           "--key", pki + "/\(LocalCluster.partnerName).key", "--topic", "florian/partners/THW/flood", "--inflight", "64",
                           "--seconds", "3600", "--payload", "256"]
        let out = Pipe()
        flood.standardOutput = out
        flood.standardError = out
        try flood.run()
        Thread.sleep(forTimeInterval: 3)
        guard flood.isRunning else {
            let last = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n").last.map(String.init)
            return say("bench alarm: partner flood skipped: " + (last ?? "mqtt_bench.py ended (paho-mqtt 2.x installed?)"))
        }
        let result: String
        do { result = try measure() } catch {
            flood.terminate()
            throw error
        }
        flood.terminate()
        flood.waitUntilExit()
        let line = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        say("bench alarm: with a partner flooding MQTT (\(line.replacingOccurrences(of: "inflight 64: ", with: ""))): " + result)
    }
}
