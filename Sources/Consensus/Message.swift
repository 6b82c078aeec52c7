/// A message between replicas (Raft figure 2, with pre-vote from Ongaro's thesis §9.6 and
/// heartbeats split from appends as in etcd/raft).
public struct Message: Equatable, Sendable {
    public var from: NodeID
    public var to: NodeID
    /// The sender's term; for a pre-vote request, the term the sender would campaign in.
    public var term: UInt64
    public var body: Body

    public init(from: NodeID, to: NodeID, term: UInt64, body: Body) {
        self.from = from
        self.to = to
        self.term = term
        self.body = body
    }

    /// What a follower tells the leader when an append does not match its log: where to look next
    /// (the largest index ≤ the probed one whose term is ≤ the probed term, with that term).
    public struct Rejection: Equatable, Sendable {
        public var hintIndex: UInt64
        public var hintTerm: UInt64
        public init(hintIndex: UInt64, hintTerm: UInt64) {
            self.hintIndex = hintIndex
            self.hintTerm = hintTerm
        }
    }

    public enum Body: Equatable, Sendable {
        /// RequestVote (§5.2), or a pre-vote (thesis §9.6) when `pre` is true.
        case requestVote(pre: Bool, lastIndex: UInt64, lastTerm: UInt64)
        case voteResponse(pre: Bool, granted: Bool)
        /// AppendEntries (§5.3).
        case append(prevIndex: UInt64, prevTerm: UInt64, entries: [Entry], commit: UInt64)
        /// Success: the follower's log matches the leader's up to `index`. Failure: the append
        /// probing `index` did not match, with a hint.
        case appendResponse(index: UInt64, rejection: Rejection?)
        /// Keeps followers from campaigning and carries a commit index they are known to hold.
        case heartbeat(commit: UInt64)
        case heartbeatResponse
        /// InstallSnapshot (§7), whole: for a follower whose next entry the leader compacted away.
        /// Answered with `appendResponse`.
        case snapshot(Snapshot)
        /// A follower asks the leader for a read index on behalf of a local read (thesis §6.4).
        case readIndex(context: UInt64)
        /// The leader's answer: wait until applied ≥ `index`, then read. Index 0: refused (this
        /// node does not lead); retry elsewhere.
        case readIndexResponse(context: UInt64, index: UInt64)
        /// The leader confirms it still leads before serving reads (thesis §6.4 step 3): acts as a
        /// heartbeat and is answered with `readProbeAck` of the same round.
        case readProbe(round: UInt64, commit: UInt64)
        case readProbeAck(round: UInt64)

        /// Short name for traces.
        public var name: String {
            switch self {
            case .requestVote(let pre, _, _): return pre ? "prevote" : "vote"
            case .voteResponse(let pre, _): return pre ? "prevote-resp" : "vote-resp"
            case .append: return "append"
            case .appendResponse: return "append-resp"
            case .heartbeat: return "heartbeat"
            case .heartbeatResponse: return "heartbeat-resp"
            case .snapshot: return "snapshot"
            case .readIndex: return "read-index"
            case .readIndexResponse: return "read-index-resp"
            case .readProbe: return "read-probe"
            case .readProbeAck: return "read-probe-ack"
            }
        }
    }
}

extension Message: CustomStringConvertible {
    /// A canonical one-line form (used in simulator traces; no pointers, no times).
    public var description: String {
        let head = "\(from)->\(to) t\(term) "
        switch body {
        case let .requestVote(pre, li, lt): return head + (pre ? "prevote" : "vote") + " last=\(li)/\(lt)"
        case let .voteResponse(pre, granted): return head + (pre ? "prevote-resp " : "vote-resp ") + (granted ? "yes" : "no")
        case let .append(pi, pt, es, c):
            let span = es.isEmpty ? "[]" : "[\(es[0].index)..\(es[es.count - 1].index)]"
            return head + "append prev=\(pi)/\(pt) \(span) commit=\(c)"
        case let .appendResponse(i, rej):
            if let rej { return head + "append-resp reject=\(i) hint=\(rej.hintIndex)/\(rej.hintTerm)" }
            return head + "append-resp ok=\(i)"
        case let .heartbeat(c): return head + "heartbeat commit=\(c)"
        case .heartbeatResponse: return head + "heartbeat-resp"
        case let .snapshot(snap):
            return head + "snapshot \(snap.metadata.position) bytes=\(snap.data.count)"
        case let .readIndex(ctx): return head + "read-index ctx=\(ctx)"
        case let .readIndexResponse(ctx, index): return head + "read-index-resp ctx=\(ctx) index=\(index)"
        case let .readProbe(round, c): return head + "read-probe round=\(round) commit=\(c)"
        case let .readProbeAck(round): return head + "read-probe-ack round=\(round)"
        }
    }
}
