import XCTest
import Consensus
@testable import Bus

/// A storage whose syncs complete only when the test says so, recording what was made durable.
final class ManualStorage: LogStorage {
    var recovered = RecoveredLog()
    var durable = RecoveredLog()
    var inFlight: [(PersistBatch, (Result<Void, any Error>) -> Void)] = []
    var failNext: (any Error)?
    var autoComplete = false

    func recover() throws -> RecoveredLog { recovered }

    func persist(_ batch: PersistBatch, done: @escaping (Result<Void, any Error>) -> Void) {
        if let e = failNext {
            failNext = nil
            return done(.failure(e))
        }
        inFlight.append((batch, done))
        if autoComplete { completeAll() }
    }

    func completeAll() {
        while !inFlight.isEmpty {
            let (batch, done) = inFlight.removeFirst()
            if let hs = batch.hardState { durable.hardState = hs }
            if let first = batch.entries.first {
                durable.entries.removeAll { $0.index >= first.index }
                durable.entries.append(contentsOf: batch.entries)
            }
            done(.success(()))
        }
    }
}

final class RecordingTransport: Transport {
    var sent: [Message] = []
    var onSend: (([Message]) -> Void)?
    func send(_ messages: [Message]) {
        sent.append(contentsOf: messages)
        onSend?(messages)
    }
}

final class RecordingMachine: ReplicatedStateMachine {
    var applied: [Entry] = []
    func apply(_ entry: Entry) { applied.append(entry) }
    func snapshot() -> [UInt8] { applied.flatMap(\.data) }
    func restore(_ snapshot: Snapshot) throws { applied = [] }
}

struct TestError: Error {}

final class ReplicaTests: XCTestCase {
    private func single(storage: ManualStorage = ManualStorage(), depth: Int = 4) throws -> (Replica, ManualStorage, RecordingTransport, RecordingMachine) {
        let t = RecordingTransport(), m = RecordingMachine()
        let r = try Replica(config: RaftConfig(id: NodeID(1), voters: [NodeID(1)]), storage: storage,
                            transport: t, stateMachine: m, random: Xoshiro256(seed: 1), pipelineDepth: depth)
        return (r, storage, t, m)
    }

    private func electSingle(_ r: Replica, _ s: ManualStorage) {
        for _ in 0..<40 where r.raft.role != .leader { r.tick(); s.completeAll() }
    }

    func testProposalIsAnsweredOnlyAfterItsBatchIsDurable() throws {
        let (r, s, _, m) = try single()
        electSingle(r, s)
        XCTAssertEqual(r.raft.role, .leader)
        var answer: Result<CommitPosition, ReplicaError>?
        r.propose([1, 2, 3]) { answer = $0 }
        XCTAssertNil(answer, "answered before the entry was synced")
        XCTAssertFalse(m.applied.contains { $0.data == [1, 2, 3] }, "applied before durable")
        s.completeAll()
        guard case .success(let pos)? = answer else { return XCTFail("no commit: \(String(describing: answer))") }
        XCTAssertEqual(s.durable.entries.last?.index, pos.index)
        XCTAssertEqual(m.applied.last?.data, [1, 2, 3])
    }

    func testProposalsDuringAnInFlightSyncShareTheNextBatch() throws {
        let (r, s, _, _) = try single(depth: 1)
        electSingle(r, s)
        var answers = 0
        r.propose([0]) { _ in answers += 1 }
        XCTAssertEqual(s.inFlight.count, 1)
        for k in 1...50 { r.propose([UInt8(k)]) { _ in answers += 1 } }
        XCTAssertEqual(s.inFlight.count, 1, "a second batch started before the first was synced")
        s.completeAll()
        XCTAssertEqual(answers, 51)
        // First batch: 1 entry; the 50 that arrived meanwhile were one group commit.
    }

    func testPipelineKeepsAtMostDepthBatchesInFlightAndAnswersInOrder() throws {
        let (r, s, _, _) = try single(depth: 3)
        electSingle(r, s)
        var answered: [UInt64] = []
        for k in 0..<10 {
            r.propose([UInt8(k)]) { if case .success(let p) = $0 { answered.append(p.index) } }
        }
        XCTAssertEqual(s.inFlight.count, 3, "the pipeline must fill up to its depth and no further")
        s.completeAll()
        s.completeAll()
        XCTAssertEqual(answered.count, 10)
        XCTAssertEqual(answered, answered.sorted(), "answers out of log order")
    }

    func testMessagesLeaveOnlyAfterTheirStateIsDurable() throws {
        let storage = ManualStorage()
        let t = RecordingTransport()
        let r = try Replica(config: RaftConfig(id: NodeID(1), voters: [NodeID(1), NodeID(2), NodeID(3)]),
                            storage: storage, transport: t, stateMachine: RecordingMachine(), random: Xoshiro256(seed: 2))
        t.onSend = { msgs in
            for m in msgs {
                // A pre-vote asks for the term after ours without taking it (thesis §9.6).
                var isPreVote = false
                if case .requestVote(pre: true, _, _) = m.body { isPreVote = true }
                XCTAssertLessThanOrEqual(m.term, storage.durable.hardState.term + (isPreVote ? 1 : 0),
                                         "message of term \(m.term) sent before the term was durable")
                if case .requestVote(pre: false, _, _) = m.body {
                    XCTAssertEqual(storage.durable.hardState.vote, NodeID(1), "vote request sent before the self-vote was durable")
                }
            }
        }
        for _ in 0..<40 {
            r.tick()
            storage.completeAll()
        }
        // Grant the vote so it leads, then its appends must follow the durable no-op.
        let term = r.raft.term
        if r.raft.role == .preCandidate {
            r.receive(Message(from: NodeID(2), to: NodeID(1), term: term + 1, body: .voteResponse(pre: true, granted: true)))
            storage.completeAll()
        }
        r.receive(Message(from: NodeID(2), to: NodeID(1), term: r.raft.term, body: .voteResponse(pre: false, granted: true)))
        XCTAssertEqual(r.raft.role, .leader)
        // Its appends go out while it writes its own copy (thesis §10.2.1)…
        let noop = r.raft.lastIndex
        XCTAssertTrue(t.sent.contains { if case .append = $0.body { return true }; return false })
        XCTAssertNotEqual(storage.durable.entries.last?.index, noop)
        // …but it does not count its own copy before it is durable: one follower's ack is no quorum.
        r.receive(Message(from: NodeID(2), to: NodeID(1), term: r.raft.term, body: .appendResponse(index: noop, rejection: nil)))
        XCTAssertLessThan(r.raft.commitIndex, noop, "committed on one durable copy of three")
        storage.completeAll()
        XCTAssertEqual(storage.durable.entries.last?.kind, .noop)
        XCTAssertEqual(r.raft.commitIndex, noop)
    }

    func testStorageFailureHaltsAndFailsPendingProposals() throws {
        let (r, s, _, _) = try single()
        electSingle(r, s)
        var first: Result<CommitPosition, ReplicaError>?
        s.failNext = TestError()
        r.propose([9]) { first = $0 }
        guard case .failure(.halted)? = first else { return XCTFail("expected halted, got \(String(describing: first))") }
        XCTAssertNotNil(r.haltReason)
        var second: Result<CommitPosition, ReplicaError>?
        r.propose([10]) { second = $0 }
        guard case .failure(.halted)? = second else { return XCTFail("a halted replica accepted a proposal") }
    }

    func testRecoveryReplaysCommittedEntriesToTheStateMachine() throws {
        let s = ManualStorage()
        s.recovered = RecoveredLog(hardState: HardState(term: 2, vote: NodeID(1), commit: 2),
                                   entries: [Entry(index: 1, term: 1, data: [1]), Entry(index: 2, term: 2, data: [2]),
                                             Entry(index: 3, term: 2, data: [3])])
        let (_, _, _, m) = try single(storage: s)
        XCTAssertEqual(m.applied.map(\.index), [1, 2], "replay must stop at the durable commit index")
    }

    func testNonLeaderRefusesAndOversizeIsRefused() throws {
        let (r, s, _, _) = try single()
        var a: Result<CommitPosition, ReplicaError>?
        r.propose([1]) { a = $0 }
        XCTAssertEqual(a.flatMap { if case .failure(let e) = $0 { return e }; return nil }, .notLeader(leader: nil))
        electSingle(r, s)
        let limit = r.raft.config.maxEntryBytes
        r.propose([UInt8](repeating: 0, count: limit + 1)) { a = $0 }
        XCTAssertEqual(a.flatMap { if case .failure(let e) = $0 { return e }; return nil },
                       .entryTooLarge(size: limit + 1, limit: limit))
    }

    func testRecoveryErrorRefusesToStart() {
        final class Broken: LogStorage {
            func recover() throws -> RecoveredLog { throw TestError() }
            func persist(_ batch: PersistBatch, done: @escaping (Result<Void, any Error>) -> Void) {}
        }
        XCTAssertThrowsError(try Replica(config: RaftConfig(id: NodeID(1), voters: [NodeID(1)]), storage: Broken(),
                                         transport: RecordingTransport(), stateMachine: RecordingMachine(),
                                         random: Xoshiro256(seed: 1)))
    }
}
