import Foundation

/// Who may publish and subscribe to what (`florian rights apply FILE`, a command in the log so
/// every node enforces the same document). A partner is known by its certificate: the subject's
/// O names the organisation, the OU its role (`partner`; the control room's certificates are
/// `operator`). Deny wins over allow; `{org}` in a filter stands for the organisation's id.
public struct PartnerRights: Codable, Equatable, Sendable {
    public struct Filters: Codable, Equatable, Sendable {
        public var allow: [String]
        public var deny: [String]
        public init(allow: [String], deny: [String] = []) { self.allow = allow; self.deny = deny }
    }

    public struct Organisation: Codable, Equatable, Sendable {
        /// Short id used in topics (`florian/partners/THW/…`): letters, digits, '-', up to 32.
        public var id: String
        /// The O of its certificates' subject, exactly.
        public var certificateO: String
        public var publish: Filters
        public var subscribe: Filters
        /// Largest PUBLISH payload accepted from it, in bytes.
        public var maxMessageBytes: Int
        /// Sustained PUBLISH rate (a token bucket of one second's worth).
        public var messagesPerSecond: Int
        public init(id: String, certificateO: String, publish: Filters, subscribe: Filters, maxMessageBytes: Int = 65_536, messagesPerSecond: Int = 100) {
            self.id = id; self.certificateO = certificateO; self.publish = publish; self.subscribe = subscribe
            self.maxMessageBytes = maxMessageBytes; self.messagesPerSecond = messagesPerSecond
        }

        /// The filters with `{org}` replaced by the id.
        func expand(_ filters: [String]) -> [String] { filters.map { $0.replacingOccurrences(of: "{org}", with: id) } }
    }

    public var organisations: [Organisation]
    /// What the control room's own certificates (role operator) may do.
    public var controlRoom: Filters?

    public init(organisations: [Organisation], controlRoom: Filters? = nil) {
        self.organisations = organisations
        self.controlRoom = controlRoom
    }

    /// The whole document checked: ids, unique organisations, every filter valid, sane limits.
    public func validate() throws(MQTTError) {
        var ids = Set<String>(), names = Set<String>()
        for o in organisations {
            guard !o.id.isEmpty, o.id.count <= 32, o.id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
                throw MQTTError("organisation id \"\(o.id.prefix(40))\": letters, digits and '-', up to 32")
            }
            guard ids.insert(o.id).inserted else { throw MQTTError("organisation \(o.id) is listed twice") }
            guard !o.certificateO.isEmpty, names.insert(o.certificateO).inserted else { throw MQTTError("certificate O \"\(o.certificateO)\" is empty or listed twice") }
            // A PUBLISH travels in one command (at most 1 MiB) with whatever else its batch holds: 512 KiB at most.
            guard (1...(512 << 10)).contains(o.maxMessageBytes) else { throw MQTTError("\(o.id): maxMessageBytes must lie in 1…524288 (512 KiB)") }
            guard (1...100_000).contains(o.messagesPerSecond) else { throw MQTTError("\(o.id): messagesPerSecond must lie in 1…100000") }
            for f in o.expand(o.publish.allow + o.publish.deny + o.subscribe.allow + o.subscribe.deny) {
                do { try MQTTPacket.checkTopicFilter(f) } catch { throw MQTTError("\(o.id): \(error.reason)") }
            }
        }
        for f in (controlRoom?.allow ?? []) + (controlRoom?.deny ?? []) {
            do { try MQTTPacket.checkTopicFilter(f) } catch { throw MQTTError("controlRoom: \(error.reason)") }
        }
    }

    public func organisation(certificateO: String) -> Organisation? { organisations.first { $0.certificateO == certificateO } }

    /// May `org` publish to `topic`?
    public static func mayPublish(_ org: Organisation, topic: String) -> Bool {
        allows(org.publish.allow, org.publish.deny, topic: topic, org: org.id)
    }

    /// May `org` receive a message on `topic` (checked again at every delivery)?
    public static func mayReceive(_ org: Organisation, topic: String) -> Bool {
        allows(org.subscribe.allow, org.subscribe.deny, topic: topic, org: org.id)
    }

    /// May `org` subscribe to `filter`? Only when an allowed filter covers every topic it can
    /// match; a deny is enforced per message (`mayReceive`), so `florian/#` minus a denied branch
    /// still works where it is allowed as a whole.
    public static func maySubscribe(_ org: Organisation, filter: String) -> Bool {
        org.expand(org.subscribe.allow).contains { covers($0, filter) }
    }

    /// `{org}` in the filters stands for `org`.
    public static func allows(_ allow: [String], _ deny: [String], topic: String, org: String? = nil) -> Bool {
        allow.contains { MQTTPacket.matches(filter: $0, topic: topic, org: org) } && !deny.contains { MQTTPacket.matches(filter: $0, topic: topic, org: org) }
    }

    /// Does filter `a` match every topic filter `f` can match?
    public static func covers(_ a: String, _ f: String) -> Bool {
        let x = a.split(separator: "/", omittingEmptySubsequences: false)
        let y = f.split(separator: "/", omittingEmptySubsequences: false)
        // Wildcards at the first level of `a` never match `$` topics (MQTT-4.7.2-1).
        if let first = x.first, first == "#" || first == "+", let g = y.first, g.hasPrefix("$") { return false }
        var i = 0
        while i < x.count {
            if x[i] == "#" { return true }
            guard i < y.count else { return false }
            if y[i] == "#" { return false }
            if x[i] != "+" && (y[i] == "+" || x[i] != y[i]) { return false }
            i += 1
        }
        return y.count == x.count
    }
}
