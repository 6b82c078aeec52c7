import XCTest
import Consensus
@testable import Bus

/// A 3-node bus in one process, storage that syncs at once, messages delivered on `settle`.
final class BusCluster {
    final class Net: Transport {
        var queue: [Message] = []
        func send(_ messages: [Message]) { queue.append(contentsOf: messages) }
    }
    let net = Net()
    var nodes: [BusNode] = []
    var clock: UInt64 = 1_800_000_000_000

    init(snapshots: SnapshotPolicy = SnapshotPolicy(every: 0, trailing: 0)) throws {
        let ids = [NodeID(1), NodeID(2), NodeID(3)]
        for id in ids {
            let storage = ManualStorage()
            storage.autoComplete = true
            nodes.append(try BusNode(config: RaftConfig(id: id, voters: ids), storage: storage, transport: net,
                                     random: Xoshiro256(seed: id.rawValue), snapshots: snapshots,
                                     clock: { [unowned self] in self.clock }))
        }
    }

    func settle() {
        var rounds = 0
        while !net.queue.isEmpty, rounds < 10_000 {
            let batch = net.queue
            net.queue.removeAll()
            for m in batch { nodes[Int(m.to.rawValue) - 1].receive(m) }
            rounds += 1
        }
    }

    func tick(_ n: Int = 1) {
        for _ in 0..<n {
            for node in nodes { node.tick() }
            settle()
        }
    }

    var leader: BusNode {
        for _ in 0..<300 where !nodes.contains(where: { $0.replica.raft.role == .leader }) { tick() }
        return nodes.first { $0.replica.raft.role == .leader }!
    }

    var follower: BusNode { nodes.first { $0.replica.raft.role != .leader }! }

    func createTopic(_ name: String, count: UInt64 = 0, age: UInt64 = 60_000) throws -> TopicName {
        let topic = try TopicName(name)
        var out: Result<CommandOutcome, BusNodeError>?
        leader.submit(.createTopic(.init(name: topic, retention: try Retention(maxCount: count, maxAgeMillis: age))),
                      id: try CommandID("create-\(name)"), sender: "ops") { out = $0 }
        settle()
        tick(2)
        XCTAssertEqual(out, .success(.topicCreated))
        return topic
    }

    func publish(_ topic: TopicName, _ payload: [UInt8], id: String, at node: BusNode? = nil) throws -> Result<UInt64, BusNodeError>? {
        var out: Result<UInt64, BusNodeError>?
        (node ?? leader).publish(topic: topic, payload: payload, id: try CommandID(id), sender: "station-7") { out = $0 }
        settle()
        tick(2)
        return out
    }
}

final class BusNodeTests: XCTestCase {
    func testPublishAnswersWithOffsetAndARetryIsAppliedOnce() throws {
        let c = try BusCluster()
        let t = try c.createTopic("alarms")
        XCTAssertEqual(try c.publish(t, [1], id: "p-1"), .success(0))
        XCTAssertEqual(try c.publish(t, [2], id: "p-2"), .success(1))
        // The same id again (a client retry after a lost answer): the first outcome, no new message.
        XCTAssertEqual(try c.publish(t, [2], id: "p-2"), .success(1))
        for node in c.nodes {
            XCTAssertEqual(try node.read(topic: t, from: 0).get().messages.map(\.payload), [[1], [2]])
        }
    }

    func testFollowerRefusesProposalsAndNamesTheLeader() throws {
        let c = try BusCluster()
        let leader = c.leader
        let t = try c.createTopic("alarms")
        let out = try c.publish(t, [1], id: "p-1", at: c.follower)
        XCTAssertEqual(out, .failure(.replica(.notLeader(leader: leader.id))))
    }

    func testUnknownTopicIsRejectedAfterCommit() throws {
        let c = try BusCluster()
        XCTAssertEqual(try c.publish(try TopicName("nowhere"), [1], id: "p-1"),
                       .failure(.rejected(.unknownTopic(try TopicName("nowhere")))))
    }

    func testSubscriptionDeliversHistoryThenLiveMessagesInOrder() throws {
        let c = try BusCluster()
        let t = try c.createTopic("alarms")
        for k in 0..<3 { _ = try c.publish(t, [UInt8(k)], id: "p-\(k)") }
        var seen: [SubscriptionEvent] = []
        c.follower.subscribe(topic: t, from: 1) { seen.append($0) }
        XCTAssertEqual(seen.compactMap { if case .message(let m) = $0 { return m.offset }; return nil }, [1, 2] as [UInt64])
        for k in 3..<6 { _ = try c.publish(t, [UInt8(k)], id: "p-\(k)") }
        c.tick(3)
        XCTAssertEqual(seen.compactMap { if case .message(let m) = $0 { return m.offset }; return nil }, [1, 2, 3, 4, 5] as [UInt64])
    }

    func testSubscriptionReportsMessagesLostToRetentionAsAGap() throws {
        let c = try BusCluster()
        let t = try c.createTopic("status", count: 3)
        for k in 0..<6 { _ = try c.publish(t, [UInt8(k)], id: "p-\(k)") }
        var seen: [SubscriptionEvent] = []
        c.leader.subscribe(topic: t, from: 0) { seen.append($0) }
        XCTAssertEqual(seen.first, .gap(from: 0, resumeAt: 3))
        XCTAssertEqual(seen.dropFirst().compactMap { if case .message(let m) = $0 { return m.offset }; return nil }, [3, 4, 5] as [UInt64])
    }

    func testLinearizableReadOnAFollowerSeesWhatTheLeaderCommitted() throws {
        let c = try BusCluster()
        let t = try c.createTopic("alarms")
        _ = try c.publish(t, [9], id: "p-1")
        var next: UInt64?
        c.follower.readLinearizable { result in next = try? result.get().topic(named: t)?.nextOffset }
        c.settle()
        c.tick(2)
        XCTAssertEqual(next, 1)
    }

    func testInvalidCommandIsRefusedBeforeProposing() throws {
        let c = try BusCluster()
        var out: Result<CommandOutcome, BusNodeError>?
        c.leader.submit(type: "NOT A TYPE", id: try CommandID("x"), sender: "ops", payload: []) { out = $0 }
        guard case .failure(.invalid)? = out else { return XCTFail("expected .invalid, got \(String(describing: out))") }
    }
}
