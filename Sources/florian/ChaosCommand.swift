import Bus
import Client
import Foundation
import Secure
import Synchronization

extension CommandLine {
    /// `florian chaos kill-test | failover-test` (ops/chaos/).
    static func chaos(_ raw: [String]) throws -> Int32 {
        guard let sub = raw.first else { throw UsageError("chaos needs kill-test or failover-test") }
        var args = try Arguments(Array(raw.dropFirst()), booleans: ["keep", "hang"])
        let dirArg = args.string("dir")
        let keep = args.flag("keep")
        let dir = URL(fileURLWithPath: dirArg ?? FileManager.default.temporaryDirectory.appendingPathComponent("florian-chaos-\(getpid())").path)
        switch sub {
        case "kill-test":
            let seconds = try args.uint("seconds") ?? 60
            let rate = try args.uint("rate") ?? 200
            let hang = args.flag("hang")
            try args.finish()
            guard seconds >= 5, (1...5_000).contains(rate) else { throw UsageError("kill-test needs --seconds ≥ 5 and --rate 1…5000") }
            defer { if !keep && dirArg == nil { try? FileManager.default.removeItem(at: dir) } }
            return try KillTest(dir: dir, seconds: Double(seconds), rate: Double(rate), hang: hang).run()
        case "failover-test":
            let kills = try args.uint("kills") ?? 20
            try args.finish()
            guard (1...1_000).contains(kills) else { throw UsageError("failover-test needs --kills 1…1000") }
            defer { if !keep && dirArg == nil { try? FileManager.default.removeItem(at: dir) } }
            return try FailoverTest(dir: dir, kills: Int(kills)).run()
        default:
            throw UsageError("unknown chaos test '\(sub)' (kill-test, failover-test)")
        }
    }
}

/// Publishes numbered messages and records which were acknowledged, and when.
final class ChaosPublisher: Sendable {
    let client: FlorianClient
    let topic: String
    let tag: String
    struct State {
        var next = 0
        var inFlight = 0
        var acked: [Int: UInt64] = [:]
        var failed = 0
        var lastFailure = ""
        var lastAck = DispatchTime.now().uptimeNanoseconds
        var maxGap: UInt64 = 0
        /// (publish number, loop time of its ack), in ack order.
        var ackTimes: [(n: Int, at: UInt64)] = []
    }
    let state = Mutex(State())

    init(client: FlorianClient, topic: String, tag: String) {
        self.client = client
        self.topic = topic
        self.tag = tag
    }

    static func commandID(_ tag: String, _ n: Int) -> String { "\(tag)-\(n)" }

    /// Sends the next publish unless `maxInFlight` are out; returns whether it sent.
    @discardableResult
    func publishNext(maxInFlight: Int) -> Bool {
        let n: Int? = state.withLock { s in
            guard s.inFlight < maxInFlight else { return nil }
            s.inFlight += 1
            s.next += 1
            return s.next
        }
        guard let n else { return false }
        let id = Self.commandID(tag, n)
        let payload = try! BusCommand.Publish(topic: TopicName(topic), payload: Array("\(tag) message \(n)".utf8)).encode()
        client.send(.submit(type: BusCommand.Publish.type, commandID: id, payload: payload)) { [self] result in
            let now = DispatchTime.now().uptimeNanoseconds
            state.withLock { s in
                s.inFlight -= 1
                switch result {
                case .success(.outcome(_, let bytes)):
                    if case .published(_, let offset)? = try? CommandOutcome.decode(bytes) {
                        s.acked[n] = offset
                        s.maxGap = max(s.maxGap, now - s.lastAck)
                        s.lastAck = now
                        s.ackTimes.append((n, now))
                    } else {
                        s.failed += 1
                        s.lastFailure = "unexpected outcome"
                    }
                case .success(let other):
                    s.failed += 1
                    s.lastFailure = "unexpected reply \(other)"
                case .failure(let f):
                    s.failed += 1
                    s.lastFailure = "\(f)"
                }
            }
        }
        return true
    }

    func waitIdle(timeout: TimeInterval) {
        let deadline = Date().addingTimeInterval(timeout)
        while state.withLock({ $0.inFlight }) > 0 && Date() < deadline { usleep(10_000) }
    }
}

/// The end check shared by the chaos tests: every node holds the same sequence, and every
/// acknowledged id is in it exactly once.
struct ChaosVerdict {
    var lost = 0
    var duplicated = 0
    var diverged: String?
    var messages = 0

    static func check(cluster: LocalCluster, topic: String, tag: String, acked: Set<Int>) throws -> ChaosVerdict {
        // Wait until every node applied the same log end.
        let deadline = Date().addingTimeInterval(60)
        var statuses: [ClusterStatus] = []
        while Date() < deadline {
            statuses = []
            for m in cluster.members {
                let c = try cluster.client(node: m.id, timeout: .seconds(2))
                defer { c.close() }
                if let s = try? c.status() { statuses.append(s) }
            }
            if statuses.count == cluster.members.count, let first = statuses.first,
               statuses.allSatisfy({ $0.appliedIndex == first.appliedIndex && $0.commitIndex == first.commitIndex && $0.lastIndex == first.lastIndex }) {
                break
            }
            usleep(100_000)
        }
        var sequences: [UInt64: [String]] = [:]
        for m in cluster.members {
            let c = try cluster.client(node: m.id, timeout: .seconds(10))
            defer { c.close() }
            var ids: [String] = []
            var offset: UInt64 = 0
            while true {
                let page = try c.read(topic: topic, from: offset, limit: 10_000)
                ids += page.messages.map(\.commandID)
                if page.messages.isEmpty || page.nextOffset >= page.endOffset { break }
                offset = page.nextOffset
            }
            sequences[m.id] = ids
        }
        var verdict = ChaosVerdict()
        let reference = sequences[cluster.members[0].id] ?? []
        verdict.messages = reference.count
        for m in cluster.members where sequences[m.id] != reference {
            let other = sequences[m.id] ?? []
            let at = zip(reference, other).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(reference.count, other.count)
            verdict.diverged = "node \(m.id) holds \(other.count) messages, node \(cluster.members[0].id) \(reference.count); first difference at offset \(at)"
        }
        var counts: [String: Int] = [:]
        for id in reference { counts[id, default: 0] += 1 }
        verdict.duplicated = counts.values.filter { $0 > 1 }.reduce(0) { $0 + $1 - 1 }
        for n in acked {
            let id = ChaosPublisher.commandID(tag, n)
            if counts[id] == nil || cluster.members.contains(where: { !(sequences[$0.id] ?? []).contains(id) && sequences[$0.id] != reference }) {
                verdict.lost += 1
            }
        }
        return verdict
    }
}

/// Random nodes (the leader too) get SIGKILL every 3–8 s and are restarted, while a client
/// publishes at a steady rate.
struct KillTest {
    let dir: URL
    let seconds: Double
    let rate: Double
    /// Half the faults freeze a node (SIGSTOP for 1–3 s, then SIGCONT) instead of killing it: a
    /// hung node keeps its connections open and answers nothing, like one cut off by a partition.
    var hang = false

    func run() throws -> Int32 {
        let (cluster, first) = try LocalCluster.launch(dir: dir, name: "kill-test")
        defer { cluster.stopAll() }
        say("kill-test: cluster up in \(dir.path), leader node \(first.leader); publishing \(Int(rate))/s for \(Int(seconds)) s")
        let topic = "chaos/kill-test"
        let client = try cluster.client(creating: topic, maxCount: 10_000_000)
        defer { client.close() }
        let statusClient = try cluster.client(options: { var o = FlorianClient.Options(); o.requestTimeout = .milliseconds(500); return o }())
        defer { statusClient.close() }
        let publisher = ChaosPublisher(client: client, topic: topic, tag: "kt")
        publisher.state.withLock { $0.lastAck = DispatchTime.now().uptimeNanoseconds }
        // A subscriber that lives through every kill: it must see each offset once, in order.
        let subscriber = try cluster.client()
        defer { subscriber.close() }
        let seen = Mutex((next: UInt64(0), count: 0, disorder: ""))
        subscriber.subscribe(topic: topic, from: 0) { event in
            seen.withLock { s in
                switch event {
                case .message(let m):
                    if m.offset != s.next && s.disorder.isEmpty { s.disorder = "offset \(m.offset) delivered while expecting \(s.next)" }
                    s.next = m.offset + 1
                    s.count += 1
                case let .gap(from, resumeAt):
                    if s.disorder.isEmpty { s.disorder = "gap \(from)..<\(resumeAt) on a topic without retention loss" }
                }
            }
        }
        var rng = SystemRandomNumberGenerator()
        let start = Date()
        var nextKill = start.addingTimeInterval(Double.random(in: 3...8, using: &rng))
        var kills = 0, failovers = 0, hangs = 0
        var frozen: (pid: Int32, until: Date)?
        var sent = 0
        let interval = 1 / rate
        while Date().timeIntervalSince(start) < seconds {
            let due = Int(Date().timeIntervalSince(start) / interval)
            while sent < due {
                if publisher.publishNext(maxInFlight: 256) { sent += 1 } else { break }
            }
            if let f = frozen, Date() >= f.until {
                kill(f.pid, SIGCONT)
                frozen = nil
            }
            if Date() >= nextKill, frozen == nil {
                let victim = cluster.members.randomElement(using: &rng)!.id
                let leader = (try? statusClient.status())?.leader ?? 0
                let at = String(format: "%.1f", Date().timeIntervalSince(start))
                if hang && Bool.random(using: &rng), let pid = cluster.pid(victim) {
                    let pause = Double.random(in: 1...3, using: &rng)
                    kill(pid, SIGSTOP)
                    frozen = (pid, Date().addingTimeInterval(pause))
                    hangs += 1
                    if victim == leader { failovers += 1 }
                    say("kill-test: t=\(at) s froze node \(victim)\(victim == leader ? " (leader)" : "") for \(String(format: "%.1f", pause)) s")
                } else {
                    cluster.kill(victim)
                    kills += 1
                    if victim == leader { failovers += 1 }
                    try cluster.start(victim)
                    say("kill-test: t=\(at) s killed node \(victim)\(victim == leader ? " (leader)" : "") and restarted it")
                }
                nextKill = Date().addingTimeInterval(Double.random(in: 3...8, using: &rng))
            }
            usleep(2_000)
        }
        if let f = frozen { kill(f.pid, SIGCONT) }
        publisher.waitIdle(timeout: 20)
        let s = publisher.state.withLock { $0 }
        let verdict = try ChaosVerdict.check(cluster: cluster, topic: topic, tag: "kt", acked: Set(s.acked.keys))
        say("kill-test: \(kills) kills, \(hangs) freezes, \(s.next) publishes sent, \(s.failed) failed without an ack (last: \(s.lastFailure.isEmpty ? "none" : s.lastFailure)), \(verdict.messages) messages in the log")
        if let d = verdict.diverged { say("kill-test: nodes diverge: \(d)") }
        let deadline = Date().addingTimeInterval(20)
        while seen.withLock({ $0.count }) < verdict.messages && Date() < deadline { usleep(20_000) }
        let sub = seen.withLock { $0 }
        let subscriberOK = sub.disorder.isEmpty && sub.count == verdict.messages
        say("kill-test: the subscriber saw \(sub.count) of \(verdict.messages) messages" + (sub.disorder.isEmpty ? ", each once, in order" : "; \(sub.disorder)"))
        say("kill-test: acked \(s.acked.count), lost \(verdict.lost), duplicated \(verdict.duplicated), failovers \(failovers), max-unavailable \(s.maxGap / 1_000_000)ms")
        return verdict.lost == 0 && verdict.duplicated == 0 && verdict.diverged == nil && !s.acked.isEmpty && subscriberOK ? 0 : 1
    }
}

/// Kills the leader `kills` times; measures from each kill to the next commit the client sees.
struct FailoverTest {
    let dir: URL
    let kills: Int

    func run() throws -> Int32 {
        let (cluster, _) = try LocalCluster.launch(dir: dir, name: "failover-test")
        defer { cluster.stopAll() }
        let topic = "chaos/failover-test"
        let client = try cluster.client(creating: topic, maxCount: 10_000_000)
        defer { client.close() }
        let publisher = ChaosPublisher(client: client, topic: topic, tag: "ft")
        let running = Mutex(true)
        // One publish in flight at all times, as fast as commits come back.
        let pump = Thread {
            while running.withLock({ $0 }) {
                if !publisher.publishNext(maxInFlight: 1) { usleep(200) }
            }
        }
        pump.start()
        defer { running.withLock { $0 = false } }
        var times: [Double] = []
        for k in 1...kills {
            let leader = try cluster.waitForLeader().leader
            // Let the cluster settle: every follower caught up and the client committing.
            try waitHealthy(cluster)
            // The next commit: the ack of a publish issued after the kill (an ack of one issued
            // before may have been sent by the old leader just before it died).
            let issuedBefore = publisher.state.withLock { $0.next }
            let killedAt = DispatchTime.now().uptimeNanoseconds
            cluster.kill(leader)
            var seen: UInt64?
            let deadline = Date().addingTimeInterval(30)
            while seen == nil && Date() < deadline {
                seen = publisher.state.withLock { s in s.ackTimes.last.flatMap { $0.n > issuedBefore ? s.ackTimes.first { $0.n > issuedBefore }?.at : nil } }
                if seen == nil { usleep(1_000) }
            }
            guard let seen else {
                say("failover-test: kill \(k): no commit within 30 s after killing node \(leader)")
                return 1
            }
            let ms = Double(seen - killedAt) / 1e6
            times.append(ms)
            say("failover-test: kill \(k): node \(leader) (leader) killed, next commit after \(String(format: "%.0f", ms)) ms")
            try cluster.start(leader)
        }
        running.withLock { $0 = false }
        publisher.waitIdle(timeout: 20)
        try waitHealthy(cluster)
        let s = publisher.state.withLock { $0 }
        let verdict = try ChaosVerdict.check(cluster: cluster, topic: topic, tag: "ft", acked: Set(s.acked.keys))
        if let d = verdict.diverged { say("failover-test: nodes diverge: \(d)") }
        let sorted = times.sorted()
        func pct(_ p: Double) -> Int { Int(sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)].rounded()) }
        say("failover-test: kills \(kills), p50 \(pct(0.5))ms, p99 \(pct(0.99))ms, max \(Int(sorted.last!.rounded()))ms, lost \(verdict.lost)")
        return verdict.lost == 0 && verdict.duplicated == 0 && verdict.diverged == nil ? 0 : 1
    }

    /// Waits until the leader sees every member's link up and no member lagging.
    private func waitHealthy(_ cluster: LocalCluster) throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let s = try? cluster.waitForLeader(timeout: 5), s.members.allSatisfy({ $0.link != "down" && ($0.lag ?? 0) < 10 }) {
                usleep(300_000)
                return
            }
            usleep(50_000)
        }
        throw RequestFailure(code: .unavailable, reason: "the cluster did not become healthy within 30 s")
    }
}
