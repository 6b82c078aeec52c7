import Bus
import Client
import Foundation
import Helpers
import Secure
import Wire

/// A helper platform's gateway (`florian helper-gateway`; the app link in Protocols/helpers.md): carries the
/// router's asks to the volunteers' app and their answers back. On the bus it is the gateway
/// certificate NAME — the platform's name: it registers volunteers of platform NAME only, and
/// reads `helpers/asks/NAME`. Towards the people it serves the app link: TLS with client
/// certificates of role `helper`, frames of kind 1 holding one JSON message each.
///
/// Nothing is lost while no app is connected: messages wait (up to 10,000) and go out when one
/// connects. Every app message is answered — `Accepted` once its command is committed, or
/// `Refused` with the reason. Confined to its event loop's thread.
public final class HelperGateway {
    public static let messageKind: UInt8 = 1
    public static let maxBacklog = 10_000

    enum Input: Sendable {
        case bus(BusMessage)
        case committed(link: ObjectIdentifier, ref: String?, error: String?)
        case subscribed(UInt64)
        case subscribeFailed(String)
    }

    public let platform: String
    public var port: UInt16 { server?.port ?? 0 }
    private let loop: EventLoop
    private let client: FlorianClient
    private let log: (String) -> Void
    private var server: TLSServer?
    private var links: [ObjectIdentifier: Link] = [:]
    private var backlog: [(offset: UInt64, payload: [UInt8])] = []
    /// Where the offset of the next message to carry is kept (`--state`): a restarted gateway
    /// resumes there, so an ask or a confirmation is carried also across a restart.
    private let stateFile: String?
    private let mailbox = Mailbox<Input>()
    private var subscription: UInt64?
    private var counter = 0
    private let nonce = String(UInt64.random(in: 0...UInt64.max), radix: 36)
    public private(set) var carried = 0

    final class Link: FrameConnectionDelegate {
        unowned let gateway: HelperGateway
        let connection: FrameConnection
        init(gateway: HelperGateway, connection: FrameConnection) { self.gateway = gateway; self.connection = connection }
        func connectionOpened(_ c: FrameConnection) { gateway.opened(self) }
        func connection(_ c: FrameConnection, received frame: ProtocolFrame) { gateway.received(frame, on: self) }
        func connectionClosed(_ c: FrameConnection, reason: String) { gateway.closed(self, reason: reason) }
    }

    /// `serverContext`: a server context with the gateway's certificate accepting role `helper`.
    public init(loop: EventLoop, client: FlorianClient, platform: String, serverContext: TLSContext, host: String = "127.0.0.1", port: UInt16 = 0,
                stateFile: String? = nil, log: @escaping (String) -> Void) throws {
        self.stateFile = stateFile
        self.loop = loop
        self.client = client
        self.platform = platform
        self.log = log
        var limits = TLSLimits()
        limits.maxFrameSize = 64 * 1024
        server = try TLSServer(loop: loop, context: serverContext, host: host, port: port, limits: limits, log: log) { [unowned self] c in
            let link = Link(gateway: self, connection: c)
            self.links[ObjectIdentifier(link)] = link
            return link
        }
        let previous = loop.everyIteration
        loop.everyIteration = { [unowned self] in
            previous?()
            for input in self.mailbox.takeNow() { self.handle(input) }
        }
        subscribe()
    }

    public func stop() {
        if let s = subscription { client.unsubscribe(s) }
        subscription = nil
        server?.stop()
        server = nil
        for l in links.values { l.connection.close(reason: "gateway stopping") }
    }

    private var wake: @Sendable () -> Void {
        let handle = loop.handle
        return { handle.execute {} }
    }

    /// From the topic's end (asks older than this gateway's start are stale); the topic appears
    /// with the platform's first ask, so until then it is looked for every 2 s.
    private func subscribe() {
        let client = client, box = mailbox, wake = wake, topic = HelpersDomain.asks(platform)
        let saved = stateFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }.flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        Thread {
            // A topic that appears later starts with asks for this platform: read it from 0.
            var missing = false
            while true {
                do {
                    let end = missing ? 0 : try saved ?? client.read(topic: topic, from: 0, limit: 1, linearizable: true).endOffset
                    if missing { _ = try client.read(topic: topic, from: 0, limit: 1, linearizable: true) }
                    let id = client.subscribe(topic: topic, from: end) { event in
                        switch event {
                        case .message(let m): box.post(.bus(m)); wake()
                        case .gap(let from, let resumeAt): box.post(.subscribeFailed("messages \(from)..<\(resumeAt) were trimmed before this gateway read them")); wake()
                        }
                    }
                    box.post(.subscribed(id)); wake()
                    return
                } catch let f as RequestFailure where f.code == .notFound {
                    missing = true
                    Thread.sleep(forTimeInterval: 1)
                } catch {
                    box.post(.subscribeFailed("\(error)")); wake()
                    Thread.sleep(forTimeInterval: 2)
                }
            }
        }.start()
    }

    private func handle(_ input: Input) {
        switch input {
        case .subscribed(let id):
            subscription = id
            log("reading \(HelpersDomain.asks(platform))")
        case .subscribeFailed(let why): log("waiting for the cluster: \(why)")
        case .bus(let m): forward(m.offset, m.payload)
        case let .committed(id, ref, error):
            guard let link = links[id] else { return }
            var answer: [String: String] = ["message": error == nil ? "Accepted" : "Refused"]
            if let ref { answer["ref"] = ref }
            if let error { answer["reason"] = error }
            send(HelpersJSON.encode(answer), to: link)
        }
    }

    /// A message of the platform's topic to every connected app link (or the backlog).
    private func forward(_ offset: UInt64, _ payload: [UInt8]) {
        carried += 1
        guard !links.isEmpty, links.values.contains(where: { $0.connection.peer != nil }) else {
            if backlog.count >= Self.maxBacklog { backlog.removeFirst() }
            backlog.append((offset, payload))
            return
        }
        for l in links.values where l.connection.peer != nil { send(payload, to: l) }
        carried(upTo: offset)
    }

    /// Everything up to `offset` reached an app: a restart resumes after it.
    private func carried(upTo offset: UInt64) {
        guard let stateFile else { return }
        let tmp = stateFile + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: Data("\(offset + 1)\n".utf8)), rename(tmp, stateFile) == 0 else {
            return log("cannot write \(stateFile): \(String(cString: strerror(errno)))")
        }
    }

    private func send(_ payload: [UInt8], to link: Link) {
        _ = link.connection.send(ProtocolFrame(kind: Self.messageKind, body: payload))
    }

    func opened(_ link: Link) {
        log("app link open: \(link.connection.peer?.name ?? "?")")
        let waiting = backlog
        backlog = []
        for p in waiting { send(p.payload, to: link) }
        if let last = waiting.last { carried(upTo: last.offset) }
    }

    func closed(_ link: Link, reason: String) {
        links[ObjectIdentifier(link)] = nil
        log("app link closed: \(reason)")
    }

    /// What the app may send (Protocols/helpers.md, the app link).
    struct AppMessage: Codable {
        var message: String
        var ref: String?
        var volunteer: VolunteerID?
        var profile: Profile?
        var request: RequestID?
        var accept: Bool?
        var name: String?
    }
    /// A volunteer's registration as the app sends it: everything but the platform (the gateway's).
    struct Profile: Codable {
        var skills: [SkillCredential]
        var home: HomeCell
        var availability: [TimeWindow]
        var languages: [String]
        var rest: RestRule
    }

    func received(_ frame: ProtocolFrame, on link: Link) {
        guard frame.kind == Self.messageKind else { return link.connection.refuse(.malformed, "unknown frame kind \(frame.kind)") }
        let command: (type: String, payload: [UInt8])
        var ref: String?
        do throws(HelpersError) {
            let m = try HelpersJSON.decode(AppMessage.self, from: frame.body, what: "app message")
            ref = m.ref
            command = try Self.command(for: m, platform: platform)
        } catch {
            var answer = ["message": "Refused", "reason": error.description]
            if let ref { answer["ref"] = ref }
            return send(HelpersJSON.encode(answer), to: link)
        }
        counter += 1
        let id = ObjectIdentifier(link), box = mailbox, wake = wake, sentRef = ref
        client.send(.submit(type: command.type, commandID: "\(platform)-\(nonce)-\(counter)", payload: command.payload)) { result in
            var error: String?
            switch result {
            case .success(.outcome(_, let bytes)):
                switch try? CommandOutcome.decode(bytes) {
                case .accepted?: break
                case .rejected(let why)?: error = why.description
                default: error = "unexpected outcome"
                }
            case .success: error = "unexpected reply"
            case .failure(let f): error = f.reason
            }
            box.post(.committed(link: id, ref: sentRef, error: error)); wake()
        }
    }

    /// The bus command for an app message: `Register` {volunteer, profile}, `Answer` {volunteer,
    /// request, accept, name?}, `CheckIn` / `CheckOut` {volunteer, request}, `Delete` {volunteer}.
    static func command(for m: AppMessage, platform: String) throws(HelpersError) -> (type: String, payload: [UInt8]) {
        guard let v = m.volunteer else { throw .invalid("\(m.message.prefix(40)) needs the volunteer") }
        switch m.message {
        case "Register":
            guard let p = m.profile else { throw .invalid("Register needs the profile") }
            let volunteer = Volunteer(id: v, skills: p.skills, home: p.home, availability: p.availability, languages: p.languages, rest: p.rest, platform: platform)
            try volunteer.validate()
            return ("helpers.volunteer.register", HelpersJSON.encode(volunteer))
        case "Answer":
            guard let r = m.request, let accept = m.accept else { throw .invalid("Answer needs request and accept") }
            // A decline carries no name.
            return ("helpers.answer", HelpersJSON.encode(Answer(volunteer: v, request: r, accept: accept, name: accept ? m.name : nil)))
        case "CheckIn", "CheckOut":
            guard let r = m.request else { throw .invalid("\(m.message) needs the request") }
            return (m.message == "CheckIn" ? "helpers.checkin" : "helpers.checkout", HelpersJSON.encode(["volunteer": v.raw, "request": r.raw]))
        case "Delete":
            return ("helpers.volunteer.delete", HelpersJSON.encode(["volunteer": v.raw]))
        default: throw .invalid("message must be Register, Answer, CheckIn, CheckOut or Delete")
        }
    }

    /// The `helpers.answer` payload.
    struct Answer: Codable {
        var volunteer: VolunteerID
        var request: RequestID
        var accept: Bool
        var name: String?
    }
}
