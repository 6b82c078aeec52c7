import Bus
import Client
import Foundation
import Synchronization

extension CommandLine {
    /// `florian bench cluster`: 3 node processes over mTLS on loopback (fsync on every commit):
    /// 256-byte publishes at 1 and 64 in flight, idle CPU of the whole cluster, RSS per node.
    static func benchCluster(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: [])
        let seconds = Double(try args.uint("seconds") ?? 10)
        let idleSeconds = Double(try args.uint("idle-seconds") ?? 30)
        let payload = Int(try args.uint("payload") ?? 256)
        let retention = try args.uint("retention") ?? 100_000
        let base = args.string("dir")
        try args.finish()
        guard seconds >= 1, idleSeconds >= 1, (1...200_000).contains(payload), retention >= 1 else {
            throw UsageError("bench cluster: --seconds ≥ 1, --idle-seconds ≥ 1, --payload 1…200000, --retention ≥ 1")
        }
        let dir = URL(fileURLWithPath: base ?? NSTemporaryDirectory()).appendingPathComponent("florian-bench-cluster-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (cluster, _) = try LocalCluster.launch(dir: dir, name: "bench")
        defer { cluster.stopAll() }
        let topic = "bench/cluster"
        let client = try cluster.client(creating: topic, maxCount: retention)
        let started = cluster.members.map { m in "node\(m.id) \(String(format: "%.1f", ProcStat.rssMB(cluster.pid(m.id) ?? 0))) MB" }
        say("bench cluster: rss at start: " + started.joined(separator: ", ") + "; topic keeps \(retention) messages (in memory on every node)")
        defer { client.close() }
        let body = try BusCommand.Publish(topic: TopicName(topic), payload: [UInt8](repeating: 0x42, count: payload)).encode()
        // Warm up connections and the leader's caches.
        _ = ClusterLoad.run(client: client, body: body, inflight: 8, seconds: 1, tag: "warm")
        for inflight in [1, 64] {
            let r = ClusterLoad.run(client: client, body: body, inflight: inflight, seconds: seconds, tag: "b\(inflight)")
            say(String(format: "bench cluster: %d in flight: %.0f msg/s, p50 %.3f ms, p99 %.3f ms, %d failed", inflight, r.rate, r.p50, r.p99, r.failed))
        }
        let rss = cluster.members.map { m in "node\(m.id) \(String(format: "%.1f", ProcStat.rssMB(cluster.pid(m.id) ?? 0))) MB" }
        say("bench cluster: rss after load: " + rss.joined(separator: ", "))
        Thread.sleep(forTimeInterval: 2)
        let pids = cluster.members.compactMap { cluster.pid($0.id) }
        let before = pids.map(ProcStat.cpuSeconds)
        Thread.sleep(forTimeInterval: idleSeconds)
        let after = pids.map(ProcStat.cpuSeconds)
        let used = zip(before, after).map { $1 - $0 }.reduce(0, +)
        say(String(format: "bench cluster: idle: %.3f %% of one core (cluster of 3, %.0f s; per node %@)", 100 * used / idleSeconds, idleSeconds,
                   zip(before, after).map { String(format: "%.3f %%", 100 * ($1 - $0) / idleSeconds) }.joined(separator: ", ")))
        let idleRSS = cluster.members.map { m in "node\(m.id) \(String(format: "%.1f", ProcStat.rssMB(cluster.pid(m.id) ?? 0))) MB" }
        say("bench cluster: rss idle: " + idleRSS.joined(separator: ", "))
        return 0
    }
}

/// Reads a process's CPU time and resident memory from /proc.
enum ProcStat {
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14, stime 15 (1-based over the whole line).
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return 0 }
        return (utime + stime) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func rssMB(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true)[1]) else { return 0 }
        return kb / 1024
    }
}

/// A closed-loop load: `inflight` publishes outstanding, each answer sends the next.
enum ClusterLoad {
    struct Result {
        var rate: Double
        var p50: Double
        var p99: Double
        var failed: Int
    }

    static func run(client: FlorianClient, body: [UInt8], inflight: Int, seconds: Double, tag: String,
                    stop: @escaping @Sendable () -> Bool = { false }) -> Result {
        struct State {
            var next = 0
            var latencies: [UInt64] = []
            var failed = 0
            var outstanding = 0
        }
        let state = Mutex(State())
        let start = DispatchTime.now().uptimeNanoseconds
        let end = start + UInt64(seconds * 1e9)
        let finished = DispatchSemaphore(value: 0)
        @Sendable func send() {
            let n: Int? = state.withLock { s in
                guard DispatchTime.now().uptimeNanoseconds < end, !stop() else { return nil }
                s.next += 1
                s.outstanding += 1
                return s.next
            }
            guard let n else { return }
            let sentAt = DispatchTime.now().uptimeNanoseconds
            client.send(.submit(type: BusCommand.Publish.type, commandID: "\(tag)-\(n)", payload: body)) { result in
                let now = DispatchTime.now().uptimeNanoseconds
                let done = state.withLock { s in
                    s.outstanding -= 1
                    if case .success(.outcome) = result { s.latencies.append(now - sentAt) } else { s.failed += 1 }
                    return (now >= end || stop()) && s.outstanding == 0
                }
                if done { finished.signal() } else { send() }
            }
        }
        for _ in 0..<inflight { send() }
        finished.wait()
        let s = state.withLock { $0 }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let sorted = s.latencies.sorted()
        func pct(_ p: Double) -> Double {
            sorted.isEmpty ? 0 : Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1e6
        }
        return Result(rate: Double(sorted.count) / elapsed, p50: pct(0.5), p99: pct(0.99), failed: s.failed)
    }
}
