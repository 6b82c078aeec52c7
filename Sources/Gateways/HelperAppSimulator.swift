import Consensus
import Foundation
import Helpers
import Secure
import Wire

/// Simulated volunteers behind one helper platform's app (`florian helper-sim`), for the demo
/// and tests: registers N volunteers around a place over the app link, answers each ask after a
/// delay — accepting with the probability of the local hour — goes there once told the place,
/// checks in after the travel time and out after the stay. Reconnects when the link drops.
/// Confined to its event loop's thread; seeded, so a run's choices are reproducible.
public final class HelperAppSimulator: FrameConnectionDelegate {
    public struct Behaviour: Sendable {
        public var volunteers = 20
        public var skills = ["sandsack", "erste-hilfe"]
        /// The centre and radius of the volunteers' homes.
        public var centre = Position(latE6: 50_110_600, lonE6: 8_682_100)
        public var radiusMetres = 3_000.0
        /// Acceptance per local hour (Europe/Berlin), 24 values.
        public var acceptanceByHour = [Double](repeating: 0.35, count: 24)
        /// An answer comes after a delay uniform in this range (milliseconds).
        public var answerDelay: ClosedRange<UInt64> = 1_000...5_000
        /// Check in this long after being told the place; check out after `stayMillis` on site (nil: never).
        public var travelMillis: UInt64 = 5_000
        public var stayMillis: UInt64? = nil
        public var seed: UInt64 = 1
        /// Prefix of the volunteers' pseudonyms ("V-sim-0001").
        public var prefix = "V-sim"
        public init() {}
    }

    private let loop: EventLoop
    private let context: TLSContext
    private let gateway: (host: String, port: UInt16)
    private var behaviour: Behaviour
    private let output: (String) -> Void
    private var connection: FrameConnection?
    private var random: Xoshiro256
    private var answerTimers: [String: UInt64] = [:]
    private var registered = false
    private var backoff: UInt64 = 250
    public private(set) var accepted = 0, declined = 0, onSite = 0

    public init(gateway: (host: String, port: UInt16), context: TLSContext, loop: EventLoop, behaviour: Behaviour, output: @escaping (String) -> Void) {
        self.gateway = gateway
        self.context = context
        self.loop = loop
        self.behaviour = behaviour
        self.output = output
        random = Xoshiro256(seed: behaviour.seed)
    }

    public func start() { connect() }

    private func uniform() -> Double { random.double(in: 0...1) }

    private func connect() {
        do {
            connection = try FrameConnection.connect(host: gateway.host, port: gateway.port, context: context, loop: loop, delegate: self)
        } catch {
            output("cannot connect to \(gateway.host):\(gateway.port): \(error)")
            retry()
        }
    }

    private func retry() {
        let wait = backoff
        backoff = min(backoff * 2, 5_000)
        _ = loop.schedule(after: wait * 1_000_000) { [weak self] in self?.connect() }
    }

    func id(_ n: Int) -> String { behaviour.prefix + "-" + String(repeating: "0", count: max(0, 4 - String(n).count)) + String(n) }

    public func connectionOpened(_ c: FrameConnection) {
        backoff = 250
        output("app link up (\(gateway.host):\(gateway.port))")
        guard !registered else { return }
        registered = true
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let centre = behaviour.centre.gridPoint ?? GridPoint(x: 4_200_000, y: 3_000_000)
        for n in 1...behaviour.volunteers {
            // Homes uniform over the disc; skills: the first for everyone, the others for some.
            let r = behaviour.radiusMetres * uniform().squareRoot(), a = 2 * Double.pi * uniform()
            let home = HomeCell(containing: GridPoint(x: centre.x + Int64(r * cos(a)), y: centre.y + Int64(r * sin(a))))
            var skills = [behaviour.skills[0]]
            for s in behaviour.skills.dropFirst() where uniform() < 0.4 { skills.append(s) }
            let profile: [String: Any] = [
                "skills": skills.map { ["skill": $0, "verifiedBy": "Helfernetz Frankfurt", "validUntil": now + 365 * 86_400_000] },
                "home": ["col": home.col, "row": home.row],
                "availability": [["from": now - 3_600_000, "to": now + 30 * 86_400_000]],
                "languages": ["de"], "rest": ["maxMinutesPerDay": 600, "minRestMinutes": 480],
            ]
            send(["message": "Register", "ref": "reg-\(n)", "volunteer": id(n), "profile": profile])
        }
        output("registered \(behaviour.volunteers) volunteers")
    }

    public func connectionClosed(_ c: FrameConnection, reason: String) {
        guard connection === c else { return }
        connection = nil
        output("app link down: \(reason)")
        retry()
    }

    private func send(_ object: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        _ = connection?.send(ProtocolFrame(kind: HelperGateway.messageKind, body: Array(data)))
    }

    public func connection(_ c: FrameConnection, received frame: ProtocolFrame) {
        if let info = frame.errorInfo { return output("ERROR from the gateway: \(info.reason)") }
        guard frame.kind == HelperGateway.messageKind, let m = try? JSONSerialization.jsonObject(with: Data(frame.body)) as? [String: Any],
              let kind = m["message"] as? String else { return }
        let v = m["volunteer"] as? String ?? "", r = m["request"] as? String ?? ""
        switch kind {
        case "RequestResource":
            guard v.hasPrefix(behaviour.prefix + "-") else { return }
            output("\(v) asked for \(r): \(m["skill"] as? String ?? "?") in \(m["area"] as? String ?? "?"), about \(m["travelMinutes"] as? Int ?? 0) min away")
            let delay = behaviour.answerDelay.lowerBound + random.below(behaviour.answerDelay.upperBound - behaviour.answerDelay.lowerBound + 1)
            let accept = random.chance(behaviour.acceptanceByHour[Calendar.berlin.component(.hour, from: Date())])
            let key = v + "/" + r
            answerTimers[key] = loop.schedule(after: delay * 1_000_000) { [weak self] in
                guard let self else { return }
                self.answerTimers[key] = nil
                if accept {
                    self.accepted += 1
                    self.send(["message": "Answer", "volunteer": v, "request": r, "accept": true, "name": "Helfer \(v.suffix(4))"])
                } else {
                    self.declined += 1
                    self.send(["message": "Answer", "volunteer": v, "request": r, "accept": false])
                }
                self.output("\(v) \(accept ? "accepts" : "declines") \(r)")
            }
        case "ReleaseResource":
            if let t = answerTimers.removeValue(forKey: v + "/" + r) {
                loop.cancel(timer: t)
                output("\(v): the ask for \(r) was withdrawn")
            }
        case "CommitResource":
            let p = m["position"] as? [String: Any]
            let place = p.map { String(format: "%.5f N %.5f E", Double($0["latE6"] as? Int ?? 0) / 1e6, Double($0["lonE6"] as? Int ?? 0) / 1e6) } ?? "?"
            output("\(v) is on the way to \(r) at \(place): \(m["briefing"] as? String ?? "")")
            _ = loop.schedule(after: behaviour.travelMillis * 1_000_000) { [weak self] in
                guard let self else { return }
                self.send(["message": "CheckIn", "volunteer": v, "request": r])
                self.onSite += 1
                self.output("\(v) checked in at \(r)")
                if let stay = self.behaviour.stayMillis {
                    _ = self.loop.schedule(after: stay * 1_000_000) { [weak self] in
                        self?.send(["message": "CheckOut", "volunteer": v, "request": r])
                        self?.output("\(v) checked out of \(r)")
                    }
                }
            }
        case "ResponseToRequestResource":
            output("\(v): \(r) is no longer needed")
        case "Refused":
            output("refused: \(m["reason"] as? String ?? "?")")
        default: return
        }
    }
}

extension Calendar {
    static let berlin: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "Europe/Berlin") ?? .gmt
        return c
    }()
}
