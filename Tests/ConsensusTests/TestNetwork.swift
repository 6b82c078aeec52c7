import XCTest
@_spi(Simulation) import Consensus

// A tiny deterministic in-memory network for unit tests of `Raft` (after etcd/raft's `network` in
// raft_test.go). Persisting is instant: every `ready()` is "written" to an in-memory storage log at
// once, then its messages go on one FIFO queue. Nothing runs unless a test says so: no node ticks,
// no message moves, until `tick`, `deliver` or `stabilize` is called.

func n(_ raw: UInt64) -> NodeID { NodeID(raw) }

/// Entries at indices 1, 2, … with the given terms.
func entries(terms: [UInt64]) -> [Entry] {
    terms.enumerated().map { k, t in Entry(index: UInt64(k + 1), term: t, data: [UInt8(truncatingIfNeeded: k)]) }
}

/// What a node recovers: a log with the given terms and a hard state.
func recovered(terms: [UInt64], term: UInt64, vote: UInt64? = nil, commit: UInt64 = 0) -> RecoveredLog {
    RecoveredLog(hardState: HardState(term: term, vote: vote.map(NodeID.init), commit: commit),
                 entries: entries(terms: terms))
}

/// A single `Raft` for tests that drive one node by hand.
func makeRaft(id: UInt64, voters: [UInt64] = [1, 2, 3], seed: UInt64 = 1,
              recovered log: RecoveredLog = RecoveredLog(),
              configure: (inout RaftConfig) -> Void = { _ in }) -> Raft {
    var config = RaftConfig(id: NodeID(id), voters: voters.map(NodeID.init))
    configure(&config)
    return Raft(config: config, recovered: log, random: Xoshiro256(seed: seed &* 1000 &+ id))
}

extension Raft {
    /// The terms of the in-memory log, index 1 through `lastIndex`.
    var logEntries: [Entry] { lastIndex == 0 ? [] : (1...lastIndex).compactMap { entry(at: $0) } }
    var logTerms: [UInt64] { logEntries.map(\.term) }
}

extension Message {
    var isAppend: Bool { if case .append = body { return true } else { return false } }
    var appendEntries: [Entry] {
        if case .append(_, _, let es, _) = body { return es }
        return []
    }
    var rejection: Message.Rejection? {
        if case .appendResponse(_, let rej) = body { return rej }
        return nil
    }
    var voteGranted: Bool? {
        if case .voteResponse(_, let granted) = body { return granted }
        return nil
    }
}

final class TestNetwork {
    private(set) var nodes: [NodeID: Raft] = [:]
    let ids: [NodeID]
    /// Messages sent and not yet delivered, oldest first.
    private(set) var queue: [Message] = []
    /// Every message any node sent (including those later dropped), in order.
    private(set) var sent: [Message] = []
    /// Every message that reached `step`, in order.
    private(set) var delivered: [Message] = []
    /// Per node: the log as "stored" from the entries of its `Ready`s (truncating as PersistBatch says).
    private(set) var storage: [NodeID: [Entry]] = [:]
    /// Per node: the last hard state handed out by `Ready`.
    private(set) var storedHardState: [NodeID: HardState] = [:]
    /// Per node: every committed entry handed out, in order.
    private(set) var applied: [NodeID: [Entry]] = [:]
    /// Per node: every `Ready` taken, in order.
    private(set) var readies: [NodeID: [Ready]] = [:]
    /// Directed links that lose every message (from, to).
    private var cut: Set<[UInt64]> = []
    /// Drops any message for which it returns true (in addition to cut links).
    var dropIf: ((Message) -> Bool)?

    init(size: Int, seed: UInt64 = 1, logs: [UInt64: RecoveredLog] = [:],
         configure: (inout RaftConfig) -> Void = { _ in }) {
        ids = (1...UInt64(size)).map(NodeID.init)
        for id in ids {
            var config = RaftConfig(id: id, voters: ids)
            configure(&config)
            let log = logs[id.rawValue] ?? RecoveredLog()
            nodes[id] = Raft(config: config, recovered: log, random: Xoshiro256(seed: seed &* 1000 &+ id.rawValue))
            storage[id] = log.entries
            storedHardState[id] = log.hardState
            applied[id] = []
            readies[id] = []
        }
    }

    subscript(_ raw: UInt64) -> Raft {
        get { nodes[NodeID(raw)]! }
        set { nodes[NodeID(raw)] = newValue }
    }

    // MARK: Faults

    func isolate(_ raw: UInt64) {
        for other in ids where other.rawValue != raw {
            cut.insert([raw, other.rawValue])
            cut.insert([other.rawValue, raw])
        }
    }

    func cutLink(_ a: UInt64, _ b: UInt64) {
        cut.insert([a, b])
        cut.insert([b, a])
    }

    func heal() {
        cut.removeAll()
        dropIf = nil
    }

    private func isDropped(_ m: Message) -> Bool {
        cut.contains([m.from.rawValue, m.to.rawValue]) || (dropIf?(m) ?? false)
    }

    /// Removes queued messages matching `predicate` without delivering them.
    func dropQueued(where predicate: (Message) -> Bool = { _ in true }) {
        queue.removeAll(where: predicate)
    }

    // MARK: Time and inputs

    func tick(_ raw: UInt64) { self[raw].tick() }

    func tickAll() { for id in ids { nodes[id]!.tick() } }

    /// Ticks a follower until it starts a (pre-)campaign. Returns the ticks it took.
    @discardableResult
    func tickUntilCampaign(_ raw: UInt64, file: StaticString = #filePath, line: UInt = #line) -> Int {
        let limit = 10 * self[raw].config.electionTicks
        for k in 1...limit {
            self[raw].tick()
            if self[raw].role != .follower { return k }
        }
        XCTFail("n\(raw) did not campaign within \(limit) ticks", file: file, line: line)
        return limit
    }

    /// Ticks `raw` until it campaigns, then lets the network settle; asserts it leads.
    func elect(_ raw: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        tickUntilCampaign(raw, file: file, line: line)
        stabilize(file: file, line: line)
        XCTAssertEqual(self[raw].role, .leader, "n\(raw) should have won the election", file: file, line: line)
    }

    @discardableResult
    func propose(_ raw: UInt64, _ data: [UInt8]) -> Result<(index: UInt64, term: UInt64), ProposeError> {
        self[raw].propose(data)
    }

    // MARK: Ready and delivery

    /// Takes one `Ready` from a node and does what it asks, in its order: send `earlyMessages`,
    /// persist (instantly), report `persisted`, send `messages`, record the committed entries.
    func flush(_ raw: UInt64) {
        let id = NodeID(raw)
        guard nodes[id]!.hasReady else { return }
        let rd = nodes[id]!.ready()
        readies[id]!.append(rd)
        send(rd.earlyMessages)
        if let hs = rd.hardState { storedHardState[id] = hs }
        if let first = rd.entries.first {
            var log = storage[id]!
            XCTAssertLessThanOrEqual(first.index, UInt64(log.count) + 1, "n\(raw): Ready entries leave a gap")
            log.removeSubrange(min(log.count, Int(first.index - 1))...)
            log.append(contentsOf: rd.entries)
            storage[id] = log
        }
        if !holdPersisted.contains(raw) { nodes[id]!.persisted(rd) } else { unreported[id, default: []].append(rd) }
        send(rd.messages)
        applied[id]!.append(contentsOf: rd.committed)
    }

    private func send(_ messages: [Message]) {
        for m in messages {
            sent.append(m)
            if !isDropped(m) { queue.append(m) }
        }
    }

    /// Nodes whose writes are "slow": `persisted` is not reported until `reportPersisted`.
    var holdPersisted: Set<UInt64> = []
    private var unreported: [NodeID: [Ready]] = [:]

    /// Reports every held-back `persisted` of a node, in order.
    func reportPersisted(_ raw: UInt64) {
        let id = NodeID(raw)
        for rd in unreported[id] ?? [] { nodes[id]!.persisted(rd) }
        unreported[id] = []
    }

    func flushAll() { for id in ids { flush(id.rawValue) } }

    /// Delivers queued messages matching `predicate` (in order); the others stay queued.
    func deliver(where predicate: (Message) -> Bool = { _ in true }) {
        let batch = queue
        queue.removeAll()
        for m in batch {
            guard predicate(m) else { queue.append(m); continue }
            guard !isDropped(m), nodes[m.to] != nil else { continue }
            delivered.append(m)
            nodes[m.to]!.step(m)
        }
    }

    /// Takes `Ready`s and delivers messages until nothing moves.
    func stabilize(maxRounds: Int = 10_000, file: StaticString = #filePath, line: UInt = #line) {
        for _ in 0..<maxRounds {
            flushAll()
            if queue.isEmpty && !ids.contains(where: { nodes[$0]!.hasReady }) { return }
            deliver()
        }
        XCTFail("network did not settle", file: file, line: line)
    }

    /// `ticks` rounds of: every node ticks, then the network settles.
    func run(ticks: Int) {
        for _ in 0..<ticks {
            tickAll()
            stabilize()
        }
    }

    // MARK: Observations

    var leaders: [NodeID] { ids.filter { nodes[$0]!.role == .leader } }

    /// Messages in the queue from `from` to `to` (nil: any).
    func queued(from: UInt64? = nil, to: UInt64? = nil) -> [Message] {
        queue.filter { (from == nil || $0.from.rawValue == from) && (to == nil || $0.to.rawValue == to) }
    }

    /// State Machine Safety (§5.4.3) as seen from outside: two nodes applied different entries at
    /// one index, or a node detected a broken invariant and faulted.
    var safetyViolated: Bool {
        var byIndex: [UInt64: Entry] = [:]
        for id in ids {
            if nodes[id]!.fault != nil { return true }
            for e in applied[id]! {
                if let other = byIndex[e.index], other != e { return true }
                byIndex[e.index] = e
            }
        }
        return false
    }

    /// Every node's stored log equals its in-memory log (the Ready entries contract).
    func assertStorageMatchesMemory(file: StaticString = #filePath, line: UInt = #line) {
        for id in ids {
            XCTAssertEqual(storage[id]!, nodes[id]!.logEntries, "n\(id.rawValue): stored log differs from memory",
                           file: file, line: line)
        }
    }
}
