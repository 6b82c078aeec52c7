import Foundation
import XCTest
import Bus
import Consensus
import Store

/// A 3-node cluster of real replicas on real SQLite files in one process, driven step by step:
/// the replica, Raft and the store together, including restarts from the files.
struct NoLeader: Error {}

final class SQLiteClusterTests: XCTestCase {
    final class Net: Transport {
        var queue: [Message] = []
        func send(_ messages: [Message]) { queue.append(contentsOf: messages) }
    }

    final class Machine: ReplicatedStateMachine {
        var commands: [[UInt8]] = []
        func apply(_ entry: Entry) { if entry.kind == .command { commands.append(entry.data) } }
        func snapshot() -> [UInt8] { commands.flatMap { [UInt8(truncatingIfNeeded: $0.count)] + $0 } }
        func restore(_ snapshot: Snapshot) throws {
            var out: [[UInt8]] = []
            var k = 0
            let d = snapshot.data
            while k < d.count {
                let n = Int(d[k])
                guard k + 1 + n <= d.count else { throw NoLeader() }
                out.append(Array(d[(k + 1)..<(k + 1 + n)]))
                k += 1 + n
            }
            commands = out
        }
    }

    final class Cluster {
        let dir: URL
        let ids = [NodeID(1), NodeID(2), NodeID(3)]
        let net = Net()
        var replicas: [Replica?] = [nil, nil, nil]
        var machines: [Machine?] = [nil, nil, nil]
        var seed: UInt64 = 1
        let snapshots: SnapshotPolicy

        init(snapshots: SnapshotPolicy = SnapshotPolicy(every: 0, trailing: 0)) throws {
            self.snapshots = snapshots
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("florian-cluster-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for k in 0..<3 { try start(k) }
        }

        deinit { try? FileManager.default.removeItem(at: dir) }

        func path(_ k: Int) -> String { dir.appendingPathComponent("n\(k + 1).db").path }

        func start(_ k: Int) throws {
            let m = Machine()
            seed += 1
            replicas[k] = try Replica(config: RaftConfig(id: ids[k], voters: ids), storage: SQLiteLogStorage(path: path(k)),
                                      transport: net, stateMachine: m, random: Xoshiro256(seed: seed),
                                      snapshots: snapshots)
            machines[k] = m
        }

        func crash(_ k: Int) {
            replicas[k] = nil  // the store closes with it; SQLite keeps exactly what was committed
            machines[k] = nil
        }

        /// Delivers messages until none are left (messages to crashed nodes are lost).
        func settle() {
            var rounds = 0
            while !net.queue.isEmpty && rounds < 10_000 {
                let batch = net.queue
                net.queue.removeAll()
                for m in batch { replicas[Int(m.to.rawValue) - 1]?.receive(m) }
                rounds += 1
            }
        }

        func tick(_ times: Int = 1) {
            for _ in 0..<times {
                for r in replicas { r?.tick() }
                settle()
            }
        }

        var leader: Int? { replicas.firstIndex { $0?.raft.role == .leader } }

        func electLeader() throws -> Int {
            for _ in 0..<200 {
                if let l = leader { return l }
                tick()
            }
            XCTFail("no leader elected in 200 ticks")
            throw NoLeader()
        }

        /// Proposes `count` commands at the leader, waiting for each batch to commit.
        func propose(_ count: Int, tag: UInt8) throws -> [[UInt8]] {
            var committed: [[UInt8]] = []
            var k = 0
            while k < count {
                let l = try electLeader()
                var answers: [Result<CommitPosition, ReplicaError>] = []
                let batch = (k..<min(count, k + 25)).map { [tag, UInt8(truncatingIfNeeded: $0 >> 8), UInt8(truncatingIfNeeded: $0)] }
                for cmd in batch { replicas[l]?.propose(cmd) { answers.append($0) } }
                settle()
                tick(2)
                XCTAssertEqual(answers.count, batch.count, "every proposal must be answered")
                guard answers.allSatisfy({ if case .success = $0 { return true }; return false }) else {
                    XCTFail("proposals failed: \(answers)")
                    return committed
                }
                committed += batch
                k += batch.count
            }
            return committed
        }
    }

    func testClusterSurvivesRestartsOfFollowerAndLeaderWithoutLosingCommits() throws {
        let c = try Cluster()
        _ = try c.electLeader()
        var expected = try c.propose(200, tag: 1)

        // A follower crashes; the others go on; it restarts from its file and catches up.
        let follower = (c.leader! + 1) % 3
        c.crash(follower)
        expected += try c.propose(100, tag: 2)
        try c.start(follower)
        c.tick(30)
        XCTAssertEqual(c.machines[follower]?.commands, expected, "restarted follower did not catch up exactly")

        // The leader crashes; a new one is elected, commits, and the old one catches up.
        let old = c.leader!
        c.crash(old)
        expected += try c.propose(100, tag: 3)
        XCTAssertNotEqual(c.leader, old)
        try c.start(old)
        c.tick(30)
        for k in 0..<3 { XCTAssertEqual(c.machines[k]?.commands, expected, "node \(k + 1) diverged") }

        // Every file holds the same log, and reopening verifies it.
        let logs = try (0..<3).map { k -> [Entry] in
            c.crash(k)
            let store = try SQLiteLogStorage(path: c.path(k))
            return try store.recover().entries
        }
        XCTAssertEqual(logs[0], logs[1])
        XCTAssertEqual(logs[1], logs[2])
        XCTAssertEqual(logs[0].filter { $0.kind == .command }.map(\.data), expected)
    }

    func testFullRestartOfAllNodesKeepsEveryAcknowledgedCommand() throws {
        let c = try Cluster()
        let expected = try c.propose(120, tag: 7)
        for k in 0..<3 { c.crash(k) }
        for k in 0..<3 { try c.start(k) }
        // Replay after restart: each node re-applies its durable committed prefix; once a leader
        // commits an entry of its term, every node has applied everything acknowledged before.
        _ = try c.propose(1, tag: 8)
        c.tick(5)
        for k in 0..<3 { XCTAssertEqual(Array(c.machines[k]!.commands.prefix(120)), expected) }
    }

    func testFollowerDownDuringCompactionCatchesUpBySnapshot() throws {
        let c = try Cluster(snapshots: SnapshotPolicy(every: 25, trailing: 5))
        var expected = try c.propose(30, tag: 1)
        let follower = (c.leader! + 1) % 3
        c.crash(follower)
        let before = try SQLiteLogStorage(path: c.path(follower)).recover()
        expected += try c.propose(200, tag: 2)

        // The others compacted far beyond the follower's log: appends cannot bring it back.
        let leader = c.leader!
        XCTAssertGreaterThan(c.replicas[leader]!.raft.compacted.index, before.entries.last?.index ?? 0,
                             "the leader must have compacted past the follower's last entry")
        try c.start(follower)
        c.tick(30)
        XCTAssertEqual(c.machines[follower]?.commands, expected, "follower did not catch up")

        // It caught up by InstallSnapshot: its store now starts from a snapshot it never took
        // itself, and the log after it matches the leader's.
        c.crash(follower)
        let after = try SQLiteLogStorage(path: c.path(follower)).recover()
        let snapshot = try XCTUnwrap(after.snapshot)
        XCTAssertGreaterThan(snapshot.metadata.index, before.entries.last?.index ?? 0)
        XCTAssertEqual(after.compacted.index, snapshot.metadata.index, "an installed snapshot replaces the whole log")
        try c.start(follower)
        c.tick(5)
        XCTAssertEqual(c.machines[follower]?.commands, expected, "restart from the installed snapshot lost commands")
    }
}
