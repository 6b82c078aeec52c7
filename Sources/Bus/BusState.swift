import Consensus
import Wire

/// One message as a topic keeps it.
public struct StoredMessage: Equatable, Sendable {
    public let offset: UInt64
    public let sender: String
    public let commandID: CommandID
    /// The state clock when the publish was applied: the envelope's timestamp, or the latest
    /// timestamp applied before it if that was later — so timestamps never decrease along a topic.
    public let timestamp: UInt64
    public let payload: [UInt8]
}

/// A topic's retention and the offsets it holds: `firstOffset..<nextOffset`.
public struct TopicInfo: Equatable, Sendable {
    public let name: TopicName
    public let retention: Retention
    /// The oldest retained offset (= `nextOffset` when the topic holds nothing).
    public let firstOffset: UInt64
    /// The offset the next published message gets.
    public let nextOffset: UInt64
    public var messageCount: UInt64 { nextOffset - firstOffset }
}

/// A durable subscription: a named position in a topic, moved by acks.
public struct Subscription: Equatable, Sendable {
    public let name: SubscriptionName
    public let topic: TopicName
    /// The next offset the subscriber wants: everything before it is processed.
    public let committedOffset: UInt64
}

/// What a read returns.
public struct ReadResult: Equatable, Sendable {
    public let messages: [StoredMessage]
    /// Where to continue reading: one past the last message returned (the requested offset when
    /// nothing was returned).
    public let nextOffset: UInt64
    /// The topic's oldest retained offset at the time of the read.
    public let firstOffset: UInt64
    /// The topic's end at the time of the read; `nextOffset == endOffset` means caught up.
    public let endOffset: UInt64
}

/// The bus's replicated state machine: topics (append-only streams with retention), durable
/// subscriptions, the exactly-once dedup table, and the domain state machines registered under
/// their command namespaces.
///
/// Deterministic: applying the same entries gives the same state and byte-identical `snapshot()`
/// on every replica. The only clock is `clock`, the largest envelope timestamp applied so far; no
/// dictionary order reaches the bytes.
///
/// Costs: applying a publish is O(1) amortized (plus O(log topics) when a topic's oldest message
/// expires by age); dedup expiry is O(1) amortized; `snapshot()` and `restore` are O(state).
///
/// Not thread-safe: confine to the replica's thread, event loop or actor.
public final class BusState: ReplicatedStateMachine {
    /// Replicated configuration; part of the snapshot, so a restored node takes the cluster's.
    public struct Config: Equatable, Sendable {
        /// How long a command's outcome is remembered, by the state clock (default 24 h).
        public let dedupWindowMillis: UInt64
        /// Most outcomes remembered; the oldest go first (default 1 000 000).
        public let dedupMaxEntries: UInt64

        public static let standard = Config(unchecked: 86_400_000, 1_000_000)

        /// - Throws: `BusError.invalidValue` when either bound is 0 (a retry must find its outcome).
        public init(dedupWindowMillis: UInt64 = 86_400_000, dedupMaxEntries: UInt64 = 1_000_000) throws(BusError) {
            guard dedupWindowMillis > 0, dedupMaxEntries > 0 else {
                throw .invalidValue(kind: "bus config", reason: "the dedup window and the dedup entry limit must be above 0")
            }
            self.init(unchecked: dedupWindowMillis, dedupMaxEntries)
        }

        private init(unchecked window: UInt64, _ maxEntries: UInt64) {
            dedupWindowMillis = window
            dedupMaxEntries = maxEntries
        }
    }

    /// The snapshot format version (see `snapshot()`).
    public static let snapshotVersion: UInt8 = 1

    public private(set) var config: Config
    /// Index of the last entry applied (commands and no-ops); 0 before the first.
    public private(set) var lastApplied: UInt64 = 0
    /// Term of the entry at `lastApplied`.
    public private(set) var lastAppliedTerm: UInt64 = 0
    /// The state machine's clock: the largest envelope timestamp applied so far (ms since epoch).
    public private(set) var clock: UInt64 = 0
    /// Command entries whose envelope could not be decoded (rejected for nobody: no sender to tell).
    public private(set) var undecodableCount: UInt64 = 0

    /// Called after each applied publish, for in-process push delivery. Not part of the state; it
    /// runs inside `apply`, so it must not apply entries itself.
    public var onPublished: ((TopicName, StoredMessage) -> Void)?

    private var topics: [TopicName: Topic] = [:]
    private var subscriptions: [SubscriptionName: Subscription] = [:]
    private var dedup: [DedupKey: DedupRecord] = [:]
    /// The dedup keys in the order they were recorded: the eviction order.
    private var dedupOrder = FIFOQueue<DedupKey>()
    /// Derived from `topics`: when each topic's oldest message expires by age.
    private var expiries = ExpiryHeap()
    private var domains: [String: any DomainStateMachine] = [:]
    /// Domains that other domains apply commands to (see `registerBridged`), in namespace order.
    private var bridged: [any DomainStateMachine] = []
    /// Messages published by the entry being applied, announced to `onPublished` after it.
    private var pendingNotifications: [(TopicName, StoredMessage)] = []

    public init(config: Config = .standard) {
        self.config = config
    }

    // MARK: - Domain state machines

    /// Routes commands whose type is "`namespace`.…" to `machine`, and includes its state in
    /// snapshots. Register the same machines on every node, before restoring or applying anything.
    public func register(_ machine: any DomainStateMachine, namespace: String) {
        precondition(Self.namespaceProblem(Array(namespace.utf8)) == nil, "invalid namespace '\(namespace)'")
        precondition(namespace != "bus", "the namespace 'bus' belongs to the bus")
        precondition(domains[namespace] == nil, "namespace '\(namespace)' registered twice")
        domains[namespace] = machine
    }

    /// Marks a registered domain as one that others apply messages to while applying their own
    /// commands (the partner endpoint hands organisations' helper messages to the helpers
    /// domain): its publications are taken after every domain command, not only its own.
    public func registerBridged(namespace: String) {
        guard let machine = domains[namespace] else { preconditionFailure("namespace '\(namespace)' is not registered") }
        guard !bridged.contains(where: { $0 === machine }) else { return }
        bridged.append(machine)
    }

    static func namespaceProblem(_ bytes: [UInt8]) -> String? {
        IdentifierRules.ascii(bytes, max: CommandEnvelope.maxTypeByteCount,
                              allowed: { IdentifierRules.isLowerAlnum($0) || $0 == 0x5F || $0 == 0x2D },
                              allowedText: "a-z 0-9 _ -")
    }

    // MARK: - Applying

    public func apply(_ entry: Entry) { execute(entry) }

    /// Applies one committed entry and returns what it did: nil for a no-op, and for an entry at or
    /// below `lastApplied` (already applied; ignored); the recorded outcome for a command — the
    /// first attempt's when (sender, id) was applied within the dedup window.
    @discardableResult
    public func execute(_ entry: Entry) -> CommandOutcome? {
        guard entry.index > lastApplied else { return nil }
        lastApplied = entry.index
        lastAppliedTerm = entry.term
        guard entry.kind == .command else { return nil }

        let envelope: CommandEnvelope
        do throws(BusError) {
            envelope = try CommandEnvelope.decode(entry.data)
        } catch {
            undecodableCount += 1
            return .rejected(.malformed(error.description))
        }
        advanceClock(to: envelope.timestamp)
        advanceDomains(envelope)

        let key = DedupKey(sender: Array(envelope.sender.utf8), id: envelope.id)
        let outcome: CommandOutcome
        if let record = dedup[key] {
            outcome = record.outcome
        } else {
            outcome = dispatch(envelope, at: entry.index)
            record(outcome, for: key, at: entry.index)
            if envelope.namespace != "bus", let machine = domains[String(envelope.namespace)] {
                appendPublications(of: machine, envelope)
                // A domain may have applied a message for another on this entry (the partner
                // bridge: an organisation's MQTT message becomes a helpers command).
                for other in bridged where other !== machine { appendPublications(of: other, envelope) }
            }
        }
        if !pendingNotifications.isEmpty {
            let notifications = pendingNotifications
            pendingNotifications = []
            for (topic, message) in notifications { onPublished?(topic, message) }
        }
        return outcome
    }

    private func dispatch(_ envelope: CommandEnvelope, at index: UInt64) -> CommandOutcome {
        let namespace = envelope.namespace
        guard namespace == "bus" else {
            guard let machine = domains[String(namespace)] else { return .rejected(.unknownCommandType(envelope.type)) }
            return machine.apply(envelope, at: index)
        }
        let command: BusCommand?
        do throws(BusError) {
            command = try BusCommand.decode(type: envelope.type, payload: envelope.payload)
        } catch {
            return .rejected(.malformed(error.description))
        }
        switch command {
        case nil: return .rejected(.unknownCommandType(envelope.type))
        case .createTopic(let c)?: return createTopic(c)
        case .publish(let c)?: return publish(c, envelope)
        case .subscribe(let c)?: return subscribe(c)
        case .ack(let c)?: return ack(c)
        case .unsubscribe(let c)?: return unsubscribe(c)
        }
    }

    private func createTopic(_ c: BusCommand.CreateTopic) -> CommandOutcome {
        if let existing = topics[c.name] {
            guard existing.retention == c.retention else {
                return .rejected(.topicExists(c.name, existing: existing.retention, requested: c.retention))
            }
            return .topicCreated
        }
        topics[c.name] = Topic(retention: c.retention)
        return .topicCreated
    }

    private func publish(_ c: BusCommand.Publish, _ envelope: CommandEnvelope) -> CommandOutcome {
        guard let i = topics.index(forKey: c.topic) else { return .rejected(.unknownTopic(c.topic)) }
        let offset = topics.values[i].nextOffset
        guard offset < .max else { return .rejected(.topicFull(c.topic)) }
        let message = StoredMessage(offset: offset, sender: envelope.sender, commandID: envelope.id,
                                    timestamp: clock, payload: c.payload)
        let wasEmpty = topics.values[i].messages.isEmpty
        topics.values[i].append(message)
        // Count trimming leaves the topic non-empty, so its expiry entry stays; only a topic that
        // was empty (and so had none) needs one.
        if wasEmpty { scheduleExpiry(of: c.topic) }
        pendingNotifications.append((c.topic, message))
        return .published(topic: c.topic, offset: offset)
    }

    /// Lets every domain with a deadline at or before the clock fire it (in namespace order), and
    /// appends what they published; the messages carry the sender and id of the command whose
    /// timestamp moved the clock.
    private func advanceDomains(_ envelope: CommandEnvelope) {
        for namespace in domains.keys.sorted(by: IdentifierRules.precedes) {
            let machine = domains[namespace]!
            guard let due = machine.nextDeadline, due <= clock else { continue }
            machine.advance(to: clock)
            appendPublications(of: machine, envelope)
        }
    }

    /// Appends a domain's publications to their topics (creating a missing topic with the
    /// domain's retention for it). A topic out of offsets drops the message — after 2^64 of them.
    private func appendPublications(of machine: any DomainStateMachine, _ envelope: CommandEnvelope) {
        for (name, payload) in machine.takePublications() {
            if topics[name] == nil { topics[name] = Topic(retention: machine.retention(forTopic: name)) }
            let i = topics.index(forKey: name)!
            let offset = topics.values[i].nextOffset
            guard offset < .max else { continue }
            let message = StoredMessage(offset: offset, sender: envelope.sender, commandID: envelope.id, timestamp: clock, payload: payload)
            let wasEmpty = topics.values[i].messages.isEmpty
            topics.values[i].append(message)
            if wasEmpty { scheduleExpiry(of: name) }
            pendingNotifications.append((name, message))
        }
    }

    /// Asks the domain registered under `namespace` a read-only question.
    public func query(namespace: String, name: String, payload: [UInt8], asker: String = "") throws(DomainQueryError) -> [UInt8] {
        guard let machine = domains[namespace] else { throw .notFound("no domain '\(namespace.prefix(64))' on this node") }
        return try machine.query(name, payload, asker: asker)
    }

    /// The earliest deadline of any registered domain (the leader proposes a clock command then).
    public var nextDomainDeadline: UInt64? { domains.values.compactMap(\.nextDeadline).min() }

    private func subscribe(_ c: BusCommand.Subscribe) -> CommandOutcome {
        guard let topic = topics[c.topic] else { return .rejected(.unknownTopic(c.topic)) }
        if let existing = subscriptions[c.subscription] {
            guard existing.topic == c.topic else {
                return .rejected(.subscriptionExists(c.subscription, topic: existing.topic))
            }
            return .subscribed(offset: existing.committedOffset)
        }
        let offset: UInt64
        switch c.start {
        case .earliest: offset = topic.firstOffset
        case .latest: offset = topic.nextOffset
        case .offset(let requested):
            guard requested >= topic.firstOffset else {
                return .rejected(.trimmed(requested: requested, firstAvailable: topic.firstOffset))
            }
            guard requested <= topic.nextOffset else {
                return .rejected(.offsetBeyondEnd(requested: requested, nextOffset: topic.nextOffset))
            }
            offset = requested
        }
        subscriptions[c.subscription] = Subscription(name: c.subscription, topic: c.topic, committedOffset: offset)
        return .subscribed(offset: offset)
    }

    private func ack(_ c: BusCommand.Ack) -> CommandOutcome {
        guard let subscription = subscriptions[c.subscription] else {
            return .rejected(.unknownSubscription(c.subscription))
        }
        guard c.offset >= subscription.committedOffset else {
            return .rejected(.ackBehindCommitted(requested: c.offset, committed: subscription.committedOffset))
        }
        // Topics are never deleted, so a subscription's topic exists.
        let end = topics[subscription.topic]?.nextOffset ?? 0
        guard c.offset <= end else { return .rejected(.offsetBeyondEnd(requested: c.offset, nextOffset: end)) }
        subscriptions[c.subscription] = Subscription(name: c.subscription, topic: subscription.topic, committedOffset: c.offset)
        return .acked(offset: c.offset)
    }

    private func unsubscribe(_ c: BusCommand.Unsubscribe) -> CommandOutcome {
        guard subscriptions.removeValue(forKey: c.subscription) != nil else {
            return .rejected(.unknownSubscription(c.subscription))
        }
        return .unsubscribed
    }

    // MARK: - Time: dedup expiry and retention by age

    /// Moves the clock forward (never back) and drops what expired: dedup outcomes older than the
    /// window, topic messages older than their topic's age bound.
    private func advanceClock(to timestamp: UInt64) {
        guard timestamp > clock else { return }
        clock = timestamp
        while let key = dedupOrder.first, let record = dedup[key], clock - record.recordedAt > config.dedupWindowMillis {
            dedupOrder.removeFirst()
            dedup.removeValue(forKey: key)
        }
        while let due = expiries.min, due.deadline <= clock {
            expiries.popMin()
            guard let i = topics.index(forKey: due.topic) else { continue }
            topics.values[i].trimExpired(clock: clock)
            scheduleExpiry(of: due.topic)
        }
    }

    /// Keeps one expiry entry per non-empty topic with an age bound: when its oldest message goes.
    /// An entry may be early (count trimming removed that message already); then it is rescheduled.
    private func scheduleExpiry(of name: TopicName) {
        guard let topic = topics[name], let deadline = topic.expiryDeadline else { return }
        expiries.push(.init(deadline: deadline, topic: name))
    }

    private func record(_ outcome: CommandOutcome, for key: DedupKey, at index: UInt64) {
        dedup[key] = DedupRecord(outcome: outcome, recordedAt: clock, index: index)
        dedupOrder.append(key)
        while UInt64(dedupOrder.count) > config.dedupMaxEntries {
            dedup.removeValue(forKey: dedupOrder.removeFirst())
        }
    }

    // MARK: - Queries

    /// The recorded outcome of (sender, id), while it is in the dedup window.
    public func outcome(sender: String, id: CommandID) -> CommandOutcome? {
        dedup[DedupKey(sender: Array(sender.utf8), id: id)]?.outcome
    }

    /// Outcomes currently remembered.
    public var dedupEntryCount: Int { dedupOrder.count }

    /// Topic names in byte order.
    public var topicNames: [TopicName] { topics.keys.sorted() }

    public func topic(named name: TopicName) -> TopicInfo? {
        topics[name].map { TopicInfo(name: name, retention: $0.retention, firstOffset: $0.firstOffset, nextOffset: $0.nextOffset) }
    }

    /// Subscription names in byte order.
    public var subscriptionNames: [SubscriptionName] { subscriptions.keys.sorted() }

    public func subscription(named name: SubscriptionName) -> Subscription? { subscriptions[name] }

    /// Up to `limit` messages of `topic` from offset `from`, stopping before the payloads exceed
    /// `maxBytes` — but at least one message when any is there and `limit` > 0, so one large
    /// message cannot stall a reader. Reading at the topic's end returns no messages.
    ///
    /// - Returns: `.trimmed` when `from` was removed by retention (the reader lost messages and
    ///   should continue at `firstAvailable`), `.offsetBeyondEnd` past the end, `.unknownTopic`.
    public func read(topic name: TopicName, from offset: UInt64, limit: Int = 1_000, maxBytes: Int = 1 << 20)
        -> Result<ReadResult, BusRejection> {
        guard let topic = topics[name] else { return .failure(.unknownTopic(name)) }
        let first = topic.firstOffset
        guard offset >= first else { return .failure(.trimmed(requested: offset, firstAvailable: first)) }
        guard offset <= topic.nextOffset else {
            return .failure(.offsetBeyondEnd(requested: offset, nextOffset: topic.nextOffset))
        }
        var messages: [StoredMessage] = []
        var bytes = 0
        var position = Int(offset - first)
        while messages.count < limit, position < topic.messages.count {
            let message = topic.messages[position]
            if !messages.isEmpty, message.payload.count > maxBytes - bytes { break }
            messages.append(message)
            bytes += message.payload.count
            position += 1
        }
        return .success(ReadResult(messages: messages, nextOffset: offset + UInt64(messages.count),
                                   firstOffset: first, endOffset: topic.nextOffset))
    }

    // MARK: - Snapshot

    /// SHA-256 of `snapshot()`, lowercase hex: equal digests mean equal states.
    public var stateDigest: String { Hex.encode(SHA256.hash(snapshot())) }

    /// The entire state as canonical bytes: replicas that applied the same entries give identical
    /// bytes, and `restore(from: snapshot())` gives a state whose `snapshot()` is identical.
    ///
    /// ## Format version 1
    ///
    /// ```
    /// snapshot   = version position clock config undecodable topics subscriptions dedup domains crc
    /// version    = %x01
    /// position   = u64 lastApplied, u64 lastAppliedTerm
    /// clock      = u64                                  ; largest envelope timestamp applied
    /// config     = u64 dedupWindowMillis, u64 dedupMaxEntries   ; both > 0
    /// undecodable = u64                                 ; count of undecodable command entries
    /// topics     = varint n, n × topic, names strictly ascending by bytes
    /// topic      = lp name, u64 maxCount, u64 maxAgeMillis, u64 nextOffset, varint m, m × message
    ///              ; the messages hold offsets nextOffset-m ..< nextOffset, oldest first
    /// message    = u64 timestamp, lp sender, lp commandID, lp payload
    /// subscriptions = varint n, n × (lp name, lp topic, u64 committedOffset), names ascending
    /// dedup      = varint n, n × (lp sender, lp id, u64 recordedAt, u64 index, outcome),
    ///              oldest first (the eviction order)
    /// domains    = varint n, n × (lp namespace, lp machine-snapshot), namespaces ascending
    /// crc        = u32 CRC-32C of every byte before it
    /// u64 = 8 bytes big-endian; lp = varint length + bytes; varints in shortest form;
    /// outcome = tagged encoding of `CommandOutcome` (tags are durable)
    /// ```
    public func snapshot() -> [UInt8] {
        var w = ByteWriter(capacity: 4096)
        w.writeUInt8(Self.snapshotVersion)
        w.writeUInt64(lastApplied)
        w.writeUInt64(lastAppliedTerm)
        w.writeUInt64(clock)
        w.writeUInt64(config.dedupWindowMillis)
        w.writeUInt64(config.dedupMaxEntries)
        w.writeUInt64(undecodableCount)

        let names = topics.keys.sorted()
        w.writeVarint(UInt64(names.count))
        for name in names {
            let topic = topics[name]!
            w.writeLengthPrefixed(name.rawValue)
            w.writeUInt64(topic.retention.maxCount)
            w.writeUInt64(topic.retention.maxAgeMillis)
            w.writeUInt64(topic.nextOffset)
            w.writeVarint(UInt64(topic.messages.count))
            for message in topic.messages.elements {
                w.writeUInt64(message.timestamp)
                w.writeLengthPrefixed(message.sender)
                w.writeLengthPrefixed(message.commandID.rawValue)
                w.writeLengthPrefixed(message.payload)
            }
        }

        let subscriptionNames = subscriptions.keys.sorted()
        w.writeVarint(UInt64(subscriptionNames.count))
        for name in subscriptionNames {
            let subscription = subscriptions[name]!
            w.writeLengthPrefixed(name.rawValue)
            w.writeLengthPrefixed(subscription.topic.rawValue)
            w.writeUInt64(subscription.committedOffset)
        }

        w.writeVarint(UInt64(dedupOrder.count))
        for key in dedupOrder.elements {
            let record = dedup[key]!
            w.writeLengthPrefixed(key.sender)
            w.writeLengthPrefixed(key.id.rawValue)
            w.writeUInt64(record.recordedAt)
            w.writeUInt64(record.index)
            record.outcome.encode(into: &w)
        }

        let namespaces = domains.keys.sorted(by: IdentifierRules.precedes)
        w.writeVarint(UInt64(namespaces.count))
        for namespace in namespaces {
            w.writeLengthPrefixed(namespace)
            w.writeLengthPrefixed(domains[namespace]!.snapshot())
        }

        w.writeUInt32(CRC32C.checksum(w.bytes))
        return w.bytes
    }

    /// Replaces the whole state with a snapshot's (the replica's restore, Raft §7). The snapshot's
    /// own position must match `snapshot.metadata`.
    public func restore(_ snapshot: Snapshot) throws {
        try restore(from: snapshot.data, expecting: snapshot.metadata.position)
    }

    /// Replaces the whole state with `bytes` from `snapshot()`. Everything is decoded and checked
    /// before anything changes; a failure leaves the bus state as it was. (Registered domain
    /// machines restored before a failing one keep their new state: a replica whose restore fails
    /// must stop serving anyway.)
    ///
    /// - Throws: `.unsupportedVersion`, `.checksumMismatch` (damaged or truncated bytes), the field
    ///   errors of a malformed record, `.inconsistentSnapshot` when the parts contradict each other
    ///   or name a domain that is not registered here.
    public func restore(from bytes: [UInt8]) throws(BusError) {
        try restore(from: bytes, expecting: nil)
    }

    private func restore(from bytes: [UInt8], expecting position: LogPosition?) throws(BusError) {
        let decoded = try Decoded(bytes, registered: Set(domains.keys))
        if let position {
            let encoded = LogPosition(index: decoded.lastApplied, term: decoded.lastAppliedTerm)
            guard encoded == position else { throw .snapshotPositionMismatch(encoded: encoded, metadata: position) }
        }
        for namespace in domains.keys.sorted(by: IdentifierRules.precedes) {
            let machine = domains[namespace]!
            guard let state = decoded.domains[namespace] else {
                machine.reset()
                continue
            }
            do {
                try machine.restore(from: state)
            } catch {
                throw .inconsistentSnapshot(reason: "domain '\(namespace)' refused its state: \(error)")
            }
        }
        config = decoded.config
        lastApplied = decoded.lastApplied
        lastAppliedTerm = decoded.lastAppliedTerm
        clock = decoded.clock
        undecodableCount = decoded.undecodableCount
        topics = decoded.topics
        subscriptions = decoded.subscriptions
        dedup = decoded.dedup
        dedupOrder = decoded.dedupOrder
        pendingNotifications = []
        expiries.removeAll()
        for name in topics.keys.sorted() { scheduleExpiry(of: name) }
    }
}

// MARK: - Internal state types

extension BusState {
    struct Topic {
        var retention: Retention
        var nextOffset: UInt64 = 0
        var messages = FIFOQueue<StoredMessage>()

        init(retention: Retention) { self.retention = retention }

        var firstOffset: UInt64 { nextOffset - UInt64(messages.count) }

        mutating func append(_ message: StoredMessage) {
            messages.append(message)
            nextOffset += 1
            if retention.maxCount > 0 {
                while UInt64(messages.count) > retention.maxCount { messages.removeFirst() }
            }
        }

        /// A message expires once the clock is more than `maxAgeMillis` past its timestamp.
        func isExpired(_ timestamp: UInt64, clock: UInt64) -> Bool {
            retention.maxAgeMillis > 0 && clock - timestamp > retention.maxAgeMillis
        }

        mutating func trimExpired(clock: UInt64) {
            while let head = messages.first, isExpired(head.timestamp, clock: clock) { messages.removeFirst() }
        }

        /// The clock value at which the oldest message expires; nil when nothing ever expires.
        var expiryDeadline: UInt64? {
            guard retention.maxAgeMillis > 0, let head = messages.first else { return nil }
            let (sum, overflow) = head.timestamp.addingReportingOverflow(retention.maxAgeMillis)
            guard !overflow, sum < .max else { return nil }
            return sum + 1
        }
    }

    /// Keyed by the sender's bytes: Swift compares strings by Unicode equivalence, which would make
    /// two different certificate subjects one sender.
    struct DedupKey: Hashable {
        let sender: [UInt8]
        let id: CommandID
    }

    struct DedupRecord {
        var outcome: CommandOutcome
        /// The state clock when the command was applied.
        var recordedAt: UInt64
        /// The log index of the entry that applied it.
        var index: UInt64
    }

    /// A snapshot decoded and checked, not yet installed.
    struct Decoded {
        var config: Config
        var lastApplied: UInt64
        var lastAppliedTerm: UInt64
        var clock: UInt64
        var undecodableCount: UInt64
        var topics: [TopicName: Topic] = [:]
        var subscriptions: [SubscriptionName: Subscription] = [:]
        var dedup: [DedupKey: DedupRecord] = [:]
        var dedupOrder = FIFOQueue<DedupKey>()
        var domains: [String: [UInt8]] = [:]

        init(_ bytes: [UInt8], registered: Set<String>) throws(BusError) {
            let format = "bus snapshot"
            guard let version = bytes.first else { throw .truncated(format: format, field: "version") }
            guard version == BusState.snapshotVersion else {
                throw .unsupportedVersion(format: format, found: version, supported: BusState.snapshotVersion)
            }
            guard bytes.count >= 5 else { throw .truncated(format: format, field: "checksum") }
            let body = Array(bytes[..<(bytes.count - 4)])
            let stored = bytes[(bytes.count - 4)...].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let computed = CRC32C.checksum(body)
            guard stored == computed else { throw .checksumMismatch(format: format, stored: stored, computed: computed) }

            var r = FieldReader(body, format: format)
            try r.version(BusState.snapshotVersion)
            lastApplied = try r.u64("lastApplied")
            lastAppliedTerm = try r.u64("lastAppliedTerm")
            clock = try r.u64("clock")
            let window = try r.u64("dedupWindowMillis"), maxEntries = try r.u64("dedupMaxEntries")
            do throws(BusError) {
                config = try Config(dedupWindowMillis: window, dedupMaxEntries: maxEntries)
            } catch {
                throw r.invalid("config", "has a dedup bound of 0")
            }
            undecodableCount = try r.u64("undecodableCount")
            let clock = clock

            var previousTopic: TopicName?
            for _ in 0..<(try r.count("topic count")) {
                let name = try r.topic("topic name")
                if let previousTopic, !(previousTopic < name) { throw r.invalid("topic name", "is out of order or repeated") }
                previousTopic = name
                var topic = Topic(retention: try r.retention("topic retention"))
                let nextOffset = try r.u64("topic nextOffset")
                let count = try r.count("topic message count")
                guard UInt64(count) <= nextOffset else { throw r.invalid("topic message count", "exceeds the topic's next offset") }
                guard topic.retention.maxCount == 0 || UInt64(count) <= topic.retention.maxCount else {
                    throw r.invalid("topic message count", "exceeds the topic's retention")
                }
                topic.nextOffset = nextOffset - UInt64(count)
                var previousTimestamp: UInt64 = 0
                for _ in 0..<count {
                    let timestamp = try r.u64("message timestamp")
                    guard timestamp >= previousTimestamp, timestamp <= clock, !topic.isExpired(timestamp, clock: clock) else {
                        throw r.invalid("message timestamp", "is out of order, ahead of the clock, or expired")
                    }
                    previousTimestamp = timestamp
                    let sender = try r.sender("message sender")
                    let id = try r.commandID("message id")
                    let payload = try r.bytes("message payload", limit: BusCommand.Publish.maxPayloadByteCount)
                    topic.append(StoredMessage(offset: topic.nextOffset, sender: sender, commandID: id,
                                               timestamp: timestamp, payload: payload))
                }
                topics[name] = topic
            }

            var previousSubscription: SubscriptionName?
            for _ in 0..<(try r.count("subscription count")) {
                let name = try r.subscription("subscription name")
                if let previousSubscription, !(previousSubscription < name) {
                    throw r.invalid("subscription name", "is out of order or repeated")
                }
                previousSubscription = name
                let topicName = try r.topic("subscription topic")
                let committed = try r.u64("subscription committedOffset")
                guard let topic = topics[topicName] else { throw r.invalid("subscription topic", "names no topic") }
                guard committed <= topic.nextOffset else { throw r.invalid("subscription committedOffset", "is beyond the topic's end") }
                subscriptions[name] = Subscription(name: name, topic: topicName, committedOffset: committed)
            }

            let dedupCount = try r.count("dedup count")
            guard UInt64(dedupCount) <= config.dedupMaxEntries else { throw r.invalid("dedup count", "exceeds dedupMaxEntries") }
            var previousRecord: DedupRecord?
            for _ in 0..<dedupCount {
                let sender = try r.sender("dedup sender")
                let id = try r.commandID("dedup id")
                let record = DedupRecord(outcome: .topicCreated, recordedAt: try r.u64("dedup recordedAt"), index: try r.u64("dedup index"))
                guard record.recordedAt <= clock, clock - record.recordedAt <= config.dedupWindowMillis,
                      record.recordedAt >= (previousRecord?.recordedAt ?? 0) else {
                    throw r.invalid("dedup recordedAt", "is out of order, ahead of the clock, or expired")
                }
                guard record.index <= lastApplied, record.index > (previousRecord?.index ?? 0) else {
                    throw r.invalid("dedup index", "is out of order or beyond lastApplied")
                }
                previousRecord = record
                let key = DedupKey(sender: Array(sender.utf8), id: id)
                guard dedup[key] == nil else { throw r.invalid("dedup id", "is repeated for the same sender") }
                dedup[key] = DedupRecord(outcome: try CommandOutcome.decode(from: &r), recordedAt: record.recordedAt, index: record.index)
                dedupOrder.append(key)
            }

            var previousNamespace: String?
            for _ in 0..<(try r.count("domain count")) {
                let namespace = String(decoding: try r.checked("domain namespace", limit: CommandEnvelope.maxTypeByteCount,
                                                               BusState.namespaceProblem), as: UTF8.self)
                if let previousNamespace, !IdentifierRules.precedes(previousNamespace, namespace) {
                    throw r.invalid("domain namespace", "is out of order or repeated")
                }
                previousNamespace = namespace
                guard registered.contains(namespace) else {
                    throw .inconsistentSnapshot(reason: "it holds state for domain '\(namespace)', which is not registered on this node")
                }
                domains[namespace] = try r.bytes("domain state", limit: .max)
            }
            try r.finish()
        }
    }
}

extension FieldReader {
    mutating func sender(_ field: String) throws(BusError) -> String {
        let sender = try utf8(field, limit: CommandEnvelope.maxSenderByteCount)
        if let reason = CommandEnvelope.senderProblem(sender) { throw invalid(field, reason) }
        return sender
    }

    mutating func commandID(_ field: String) throws(BusError) -> CommandID {
        CommandID(checked: try checked(field, limit: CommandID.maxByteCount, CommandID.problem))
    }
}
