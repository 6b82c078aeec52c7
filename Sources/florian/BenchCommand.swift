import Bus
import Consensus
import Dispatch
import Foundation
import Node
import Secure
import Store
import Synchronization

extension CommandLine {
    /// `florian bench bus [--seconds S] [--payload BYTES] [--dir DIR]`: an in-process 3-node cluster
    /// on real SQLite files (fsync on), each node on its own thread with its log IO on another,
    /// publishing at 1 and at 64 in flight; the yardstick is the single-node SQLite fsync commit
    /// rate measured in the same run.
    static func bench(_ raw: [String]) throws -> Int32 {
        if raw.first == "tls" { return try benchTLS(Array(raw.dropFirst())) }
        if raw.first == "cluster" { return try benchCluster(Array(raw.dropFirst())) }
        if raw.first == "paging" { return try benchPaging(Array(raw.dropFirst())) }
        if raw.first == "alarm" { return try benchAlarm(Array(raw.dropFirst())) }
        if raw.first == "export" { return try benchExport(Array(raw.dropFirst())) }
        if raw.first == "helpers" { return try benchHelpers(Array(raw.dropFirst())) }
        if raw.first == "stats" { return try benchStats(Array(raw.dropFirst())) }
        guard raw.first == "bus" else { throw UsageError("bench needs a target: bench bus | bench cluster | bench paging | bench tls | bench stats [--rows N]") }
        var args = try Arguments(Array(raw.dropFirst()), booleans: [])
        let seconds = Double(try args.uint("seconds") ?? 5)
        let payload = Int(try args.uint("payload") ?? 256)
        let base = args.string("dir")
        let depth = Int(try args.uint("pipeline") ?? 4)
        try args.finish()
        guard seconds >= 1, payload <= 256 * 1024 else { throw UsageError("--seconds ≥ 1, --payload ≤ 262144") }

        let dir = URL(fileURLWithPath: base ?? NSTemporaryDirectory())
            .appendingPathComponent("florian-bench-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        let yard = try BusBench.yardstick(path: dir.appendingPathComponent("yardstick.db").path,
                                          payload: payload, seconds: min(seconds, 3))
        print(String(format: "bench bus: yardstick: single-node SQLite commit (WAL, synchronous=FULL, one %d-byte row): %.0f/s, %.3f ms each",
                     payload, yard.rate, 1000 / yard.rate))
        // The three nodes share this machine's one disk: what three concurrent writers get each
        // bounds what a replicated commit (which needs two of three fsyncs) can reach.
        let shared = try BusBench.concurrentYardstick(directory: dir, writers: 3, payload: payload, seconds: min(seconds, 2))
        print(String(format: "bench bus: yardstick: 3 concurrent writers on the same disk: %.0f/s each (%.0f%% of one alone)",
                     shared, 100 * shared / yard.rate))
        let cluster = try BusBench.Cluster(directory: dir, pipelineDepth: max(1, depth))
        defer { cluster.stop() }
        var results: [(inflight: Int, BusBench.Result)] = []
        for inflight in [1, 64] {
            let r = try cluster.run(inflight: inflight, payload: payload, seconds: seconds)
            results.append((inflight, r))
            let io = cluster.io.map { $0.snapshot }
            print("bench bus: \(inflight) in flight: per node fsync'd transactions / Ready batches / entries since start: "
                  + io.map { "\($0.transactions)/\($0.batches)/\($0.entries)" }.joined(separator: ", "))
            print(String(format: "bench bus: %2d in flight: %.0f commits/s, p50 %.3f ms, p99 %.3f ms, %d failed (%.2f× yardstick)",
                         inflight, r.rate, r.p50 * 1000, r.p99 * 1000, r.failed, r.rate / yard.rate))
        }
        let one = results[0].1, many = results[1].1
        print(String(format: "bench bus: 1 in flight %.0f/s = %.0f%% of fsync yardstick %.0f/s (target ≥ 60%%; 3 writers sharing the disk get %.0f/s each); 64 in flight %.0f/s = %.1f× (target ≥ 10×); p50/p99 %.2f/%.2f ms and %.2f/%.2f ms",
                     one.rate, 100 * one.rate / yard.rate, yard.rate, shared, many.rate, many.rate / yard.rate,
                     one.p50 * 1000, one.p99 * 1000, many.p50 * 1000, many.p99 * 1000))
        return 0
    }
}

/// A benchmark that could not run (as opposed to a usage error).
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// The pieces of `florian bench bus`.
enum BusBench {
    struct Result {
        var rate: Double
        var p50: Double
        var p99: Double
        var failed: Int
    }

    static func nanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// One-entry batches straight into one `SQLiteLogStorage`: the fsync-bound commit rate.
    static func yardstick(path: String, payload: Int, seconds: Double) throws -> (rate: Double, count: Int) {
        let store = try SQLiteLogStorage(path: path)
        _ = try store.recover()
        let data = [UInt8](repeating: 0x5A, count: payload)
        var index: UInt64 = 0
        let start = nanos()
        let end = start + UInt64(seconds * 1e9)
        var failure: (any Error)?
        while nanos() < end, failure == nil {
            index += 1
            store.persist(PersistBatch(hardState: HardState(term: 1, vote: nil, commit: index - 1),
                                       entries: [Entry(index: index, term: 1, data: data)])) { r in
                if case .failure(let e) = r { failure = e }
            }
        }
        if let failure { throw failure }
        return (Double(index) / (Double(nanos() - start) / 1e9), Int(index))
    }

    /// `writers` threads, each running the yardstick on its own file at once; the mean rate each got.
    static func concurrentYardstick(directory: URL, writers: Int, payload: Int, seconds: Double) throws -> Double {
        let rates = Mailbox<Swift.Result<Double, YardstickError>>()
        for k in 0..<writers {
            let path = directory.appendingPathComponent("yardstick-\(k).db").path
            Thread {
                do { rates.post(.success(try yardstick(path: path, payload: payload, seconds: seconds).rate)) } catch {
                    rates.post(.failure(YardstickError(description: "\(error)")))
                }
            }.start()
        }
        var got: [Double] = []
        while got.count < writers {
            for r in rates.takeAll() {
                switch r {
                case .success(let rate): got.append(rate)
                case .failure(let e): throw e
                }
            }
        }
        return got.reduce(0, +) / Double(writers)
    }

    struct YardstickError: Error, CustomStringConvertible, Sendable { var description: String }

    enum Job: Sendable {
        case message(Message)
        case persisted(token: UInt64, error: String?)
        case createTopic(reply: Mailbox<Event>)
        case publish(seq: UInt64, issued: UInt64, payload: [UInt8], reply: Mailbox<Event>)
        case stop
    }

    enum Event: Sendable {
        case done(seq: UInt64, issued: UInt64, ok: Bool, detail: String)
    }

    final class MailboxTransport: Transport {
        let boxes: [Mailbox<Job>]
        init(_ boxes: [Mailbox<Job>]) { self.boxes = boxes }
        func send(_ messages: [Message]) {
            for m in messages { boxes[Int(m.to.rawValue) - 1].post(.message(m)) }
        }
    }

    static let topic = (try? TopicName("bench"))!

    /// Three nodes, each a thread owning its `BusNode`; the log IO of each on a thread of its own.
    final class Cluster {
        let boxes: [Mailbox<Job>]
        let leader = LeaderSlot()
        /// Each node's log IO counters.
        var io: [IOCounters] = []
        private var threads: [Thread] = []
        private var nextSeq: UInt64 = 0

        init(directory: URL, pipelineDepth: Int) throws {
            boxes = (0..<3).map { _ in Mailbox<Job>() }
            let ids = (1...3).map { NodeID(UInt64($0)) }
            let started = Mailbox<String?>()
            let deadlineForStart = nanos() + 30_000_000_000
            let counters = (0..<3).map { _ in IOCounters() }
            io = counters
            for k in 0..<3 {
                let boxes = self.boxes
                let path = directory.appendingPathComponent("node\(k + 1).db").path
                let leaderBox = leader
                let counter = counters[k]
                let thread = Thread {
                    Cluster.runNode(k: k, ids: ids, path: path, boxes: boxes, started: started, leader: leaderBox,
                                    counters: counter, pipelineDepth: pipelineDepth)
                }
                thread.name = "florian-node-\(k + 1)"
                threads.append(thread)
                thread.start()
            }
            // takeAll may hand over several reports at once: count them, not the calls.
            var reported = 0
            while reported < 3 {
                for report in started.takeAll(until: .now() + .seconds(30)) {
                    if let failure = report { throw BenchError("cannot start a node: \(failure)") }
                    reported += 1
                }
                guard reported == 3 || nanos() < deadlineForStart else { throw BenchError("nodes did not start within 30 s") }
            }
            // Wait for a leader, then create the topic.
            let deadline = nanos() + 10_000_000_000
            while leader.current == nil {
                guard nanos() < deadline else { throw BenchError("no leader elected within 10 s") }
                Thread.sleep(forTimeInterval: 0.01)
            }
            let reply = Mailbox<Event>()
            while true {
                guard nanos() < deadline else { throw BenchError("cannot create the bench topic within 10 s") }
                guard let l = leader.current else {
                    Thread.sleep(forTimeInterval: 0.01)
                    continue
                }
                boxes[l].post(.createTopic(reply: reply))
                let answer = reply.takeAll(until: .now() + .seconds(2))
                if case .done(_, _, true, _)? = answer.first { break }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }

        /// Which node leads, as the node threads last reported.
        final class LeaderSlot: Sendable {
            private let value = Mutex<Int?>(nil)
            var current: Int? { value.withLock { $0 } }
            func report(node: Int, leads: Bool) {
                value.withLock { v in
                    if leads { v = node } else if v == node { v = nil }
                }
            }
        }

        private static func runNode(k: Int, ids: [NodeID], path: String, boxes: [Mailbox<Job>],
                                    started: Mailbox<String?>, leader: LeaderSlot,
                                    counters: IOCounters, pipelineDepth: Int) {
            let box = boxes[k]
            let bus: BusNode
            let storage: ThreadedLogStorage
            do {
                storage = try ThreadedLogStorage(path: path, counters: counters) { token, error in
                    box.post(.persisted(token: token, error: error))
                }
                var config = RaftConfig(id: ids[k], voters: ids)
                config.electionTicks = 20
                bus = try BusNode(config: config, storage: storage, transport: MailboxTransport(boxes),
                                  random: Xoshiro256(seed: UInt64(k + 1) &* 0x9E37_79B9 ^ BusBench.nanos()),
                                  snapshots: SnapshotPolicy(every: 200_000, trailing: 10_000),
                                  pipelineDepth: pipelineDepth,
                                  clock: { UInt64(Date().timeIntervalSince1970 * 1000) })
                started.post(nil)
            } catch {
                started.post("\(error)")
                return
            }
            let tick: UInt64 = 10_000_000
            var nextTick = BusBench.nanos() + tick
            var wasLeader = false
            while true {
                for job in box.takeAll(until: DispatchTime(uptimeNanoseconds: nextTick)) {
                    switch job {
                    case .message(let m): bus.receive(m)
                    case .persisted(let token, let error): storage.completed(token: token, error: error)
                    case .createTopic(let reply):
                        let create = BusCommand.CreateTopic(name: BusBench.topic,
                                                            retention: (try? Retention(maxCount: 100_000, maxAgeMillis: 0))!)
                        bus.submit(.createTopic(create), id: (try? CommandID("bench-topic"))!, sender: "bench") { r in
                            if case .success(.topicCreated) = r { reply.post(.done(seq: 0, issued: 0, ok: true, detail: "")) } else {
                                reply.post(.done(seq: 0, issued: 0, ok: false, detail: "\(r)"))
                            }
                        }
                    case .publish(let seq, let issued, let payload, let reply):
                        bus.publish(topic: BusBench.topic, payload: payload, id: (try? CommandID("b-\(seq)"))!, sender: "bench") { r in
                            switch r {
                            case .success: reply.post(.done(seq: seq, issued: issued, ok: true, detail: ""))
                            case .failure(let e): reply.post(.done(seq: seq, issued: issued, ok: false, detail: "\(e)"))
                            }
                        }
                    case .stop:
                        return
                    }
                }
                let now = BusBench.nanos()
                if now >= nextTick {
                    bus.tick()
                    nextTick = max(nextTick + tick, now)
                }
                let leads = bus.replica.raft.role == .leader
                if leads != wasLeader {
                    leader.report(node: k, leads: leads)
                    wasLeader = leads
                }
            }
        }

        /// Publishes with `inflight` outstanding for `seconds` (after a warm-up) and measures.
        func run(inflight: Int, payload: Int, seconds: Double) throws -> Result {
            let reply = Mailbox<Event>()
            let data = [UInt8](repeating: 0xA5, count: payload)
            func issue() -> Bool {
                guard let l = leader.current else { return false }
                nextSeq += 1
                boxes[l].post(.publish(seq: nextSeq, issued: nanos(), payload: data, reply: reply))
                return true
            }
            let warmup = nanos() + 500_000_000
            let end = warmup + UInt64(seconds * 1e9)
            // Answers still missing this long after the end count as failed (a leader change
            // can leave a proposal without an answer until the client times out).
            let giveUp = end + 5_000_000_000
            var latencies: [UInt64] = []
            var failed = 0
            var outstanding = 0
            var measuredStart: UInt64 = 0
            while (nanos() < end || outstanding > 0) && nanos() < giveUp {
                while outstanding < inflight && nanos() < end && issue() { outstanding += 1 }
                for event in reply.takeAll(until: .now() + .milliseconds(50)) {
                    guard case .done(_, let issued, let ok, _) = event else { continue }
                    outstanding -= 1
                    let now = nanos()
                    if issued >= warmup && now <= end {
                        if measuredStart == 0 { measuredStart = issued }
                        if ok { latencies.append(now - issued) } else { failed += 1 }
                    }
                }
            }
            failed += outstanding
            latencies.sort()
            guard !latencies.isEmpty else { throw BenchError("no publish committed") }
            let span = Double(end - max(measuredStart, warmup)) / 1e9
            func pct(_ p: Double) -> Double { Double(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) / 1e9 }
            return Result(rate: Double(latencies.count) / span, p50: pct(0.5), p99: pct(0.99), failed: failed)
        }

        func stop() {
            for b in boxes { b.post(.stop) }
        }
    }
}
