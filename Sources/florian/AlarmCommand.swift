import Alarming
import Bus
import Client
import Foundation
import Secure

extension CommandLine {
    static let alarmUsage = """
        usage: florian alarm [--cluster FILE] [--json] <command> …   (operator credentials from the cluster file;
               default FILE: $FLORIAN_CLUSTER, else ./cluster.json)
          registry apply FILE            apply a registry document (sample: ops/config/frankfurt-registry.json)
          open --keyword K (--area A | --position LAT,LON) --address TEXT [--remarks R] [--test]
                                         open an incident (a position is mapped to its Stadtteil);
                                         prints 'incident E-…'
          propose INCIDENT               the AAO proposal: units in the area's station order, what is missing
          raise INCIDENT [--units U,U…] [--wait S]
          raise --keyword K (--area A | --position LAT,LON) --address TEXT [--test] [--units U,U…] [--wait S]
                                         alarm the proposal (or the units named); prints 'order E-…/n';
                                         --wait follows deliveries and acks for up to S seconds
          ack ORDER UNIT                 acknowledge on a unit's behalf
          unit-status UNIT CODE          set a unit's status (1–9)
          confirm ORDER UNIT [--replacement U]   confirm the proposed Nachalarmierung
          dismiss ORDER UNIT             dismiss it
          close INCIDENT                 close an incident (and its open orders)
          show [INCIDENT | ORDER]        overview, or one incident / order with every target
          lines | units | leases         station lines, units with status, gateway leases
          watch [--seconds S]            the event feed, one line per event
        """

    static func alarm(_ raw: [String]) throws -> Int32 {
        var positional: [String] = []
        var rest: [String] = []
        var k = 0
        let booleans: Set<String> = ["json", "test"]
        while k < raw.count {
            let a = raw[k]
            if a.hasPrefix("--") {
                rest.append(a)
                if !booleans.contains(String(a.dropFirst(2))), k + 1 < raw.count { rest.append(raw[k + 1]); k += 1 }
            } else {
                positional.append(a)
            }
            k += 1
        }
        var args = try Arguments(rest, booleans: booleans)
        let json = args.flag("json")
        let path = args.string("cluster") ?? ProcessInfo.processInfo.environment["FLORIAN_CLUSTER"] ?? "cluster.json"
        guard let command = positional.first else {
            print(alarmUsage)
            return 2
        }
        if command == "help" {
            print(alarmUsage)
            return 0
        }
        let operands = Array(positional.dropFirst())
        let session = try AlarmSession(file: try ClusterFile.load(path), json: json)
        defer { session.client.closeAndWait() }
        func operand(_ n: Int, _ what: String) throws -> String {
            guard operands.count > n else { throw UsageError("alarm \(command) needs \(what)") }
            return operands[n]
        }
        func noMoreOperands(_ n: Int) throws {
            if operands.count > n { throw UsageError("alarm \(command): unexpected '\(operands[n])'") }
        }
        switch command {
        case "registry":
            guard try operand(0, "apply FILE") == "apply" else { throw UsageError("alarm registry: only 'apply FILE'") }
            let file = try operand(1, "a registry FILE")
            try noMoreOperands(2)
            try args.finish()
            guard let data = FileManager.default.contents(atPath: file) else { throw UsageError("cannot read \(file)") }
            let registry = try StrictJSON.decode(Registry.self, from: Array(data), what: file)
            let result = try session.submit(.applyRegistry(registry))
            session.print(result, plain: "registry applied: \(result["stations"] ?? 0) stations, \(result["units"] ?? 0) units, \(result["areas"] ?? 0) areas")
        case "open":
            try noMoreOperands(0)
            let incident = try session.open(&args)
            try args.finish()
            session.print(["incident": incident], plain: "incident \(incident)")
        case "propose":
            let incident = try operand(0, "INCIDENT")
            try noMoreOperands(1)
            try args.finish()
            try session.propose(incident)
        case "raise":
            let units = args.string("units")
            let wait = try args.uint("wait")
            let incident: String
            if let given = operands.first {
                try noMoreOperands(1)
                incident = given
            } else {
                incident = try session.open(&args)
                if !json { say("incident \(incident)") }
            }
            try args.finish()
            let chosen: [String]
            if let units {
                chosen = units.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            } else {
                let p = try session.proposal(incident)
                chosen = p.units.map(\.unit.rawValue)
                if !p.unfilled.isEmpty && !json {
                    say("not available: " + p.unfilled.map { "\($0.missing)× \($0.type)" }.joined(separator: ", "))
                }
                guard !chosen.isEmpty else { throw AlarmCLIError("no unit available for \(incident)") }
            }
            let eventsFrom = session.eventsEnd()
            let result = try session.submit(.createOrder(.init(incident: try IncidentID(incident), units: try chosen.map { try UnitID($0) })))
            let order = result["order"] as? String ?? "?"
            session.print(["incident": incident, "order": order, "units": chosen], plain: "order \(order): \(chosen.joined(separator: ", "))")
            if let wait { try session.follow(order: order, from: eventsFrom, seconds: wait) }
        case "ack":
            let order = try operand(0, "ORDER"), unit = try operand(1, "UNIT")
            try noMoreOperands(2)
            try args.finish()
            _ = try session.submit(.acknowledgeUnit(.init(order: try OrderID(order), unit: try UnitID(unit))))
            session.print(["order": order, "unit": unit], plain: "acknowledged: \(unit) in \(order)")
        case "unit-status":
            let unit = try operand(0, "UNIT"), code = try operand(1, "CODE")
            try noMoreOperands(2)
            try args.finish()
            guard let status = Int(code) else { throw UsageError("status must be a number 1–9") }
            _ = try session.submit(.unitStatus(.init(unit: try UnitID(unit), status: status)))
            session.print(["unit": unit, "status": status], plain: "\(unit): status \(status) (\(UnitStatusCode.name(status)))")
        case "confirm", "dismiss":
            let order = try operand(0, "ORDER"), unit = try operand(1, "UNIT")
            try noMoreOperands(2)
            let replacement = try args.string("replacement").map { try UnitID($0) }
            try args.finish()
            if command == "confirm" {
                let r = try session.submit(.confirmEscalation(.init(order: try OrderID(order), unit: try UnitID(unit), replacement: replacement)))
                session.print(r, plain: "Nachalarmierung: order \(r["order"] ?? "?")")
            } else {
                _ = try session.submit(.dismissEscalation(.init(order: try OrderID(order), unit: try UnitID(unit))))
                session.print(["order": order, "unit": unit], plain: "dismissed: escalation for \(unit) in \(order)")
            }
        case "close":
            let incident = try operand(0, "INCIDENT")
            try noMoreOperands(1)
            try args.finish()
            _ = try session.submit(.closeIncident(.init(incident: try IncidentID(incident))))
            session.print(["incident": incident], plain: "closed: \(incident)")
        case "show":
            try noMoreOperands(1)
            try args.finish()
            try session.show(operands.first)
        case "lines", "units", "leases":
            try noMoreOperands(0)
            try args.finish()
            try session.list(command)
        case "watch":
            try noMoreOperands(0)
            let seconds = try args.uint("seconds")
            try args.finish()
            try session.follow(order: nil, from: session.eventsEnd(), seconds: seconds ?? UInt64(Int32.max))
        default:
            throw UsageError("unknown alarm command '\(command)'\n\n\(alarmUsage)")
        }
        return 0
    }
}

struct AlarmCLIError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// One `florian alarm` invocation: the operator's client and the output mode.
final class AlarmSession {
    let client: FlorianClient
    let json: Bool
    /// This invocation's command ids: unique, stable across the client's own retries.
    private let prefix = "cli-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
    private var counter = 0

    init(file: ClusterFile, json: Bool) throws {
        client = try file.client(role: "operator")
        self.json = json
    }

    /// Submits a command; returns its JSON result or throws the refusal in the dispatcher's words.
    func submit(_ command: AlarmCommand) throws -> [String: Any] {
        counter += 1
        let outcome = try client.submit(type: command.type, commandID: "\(prefix)-\(counter)", payload: command.payload)
        switch outcome {
        case .accepted(let bytes): return (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]) ?? [:]
        case .rejected(let why): throw AlarmCLIError("refused: \(why)")
        default: throw AlarmCLIError("unexpected outcome: \(outcome)")
        }
    }

    func query(_ name: String, _ payload: [String: String] = [:]) throws -> [UInt8] {
        do {
            return try client.query(namespace: "alarm", name: name, payload: StrictJSON.encode(payload))
        } catch let f as RequestFailure where f.code == .notFound || f.code == .invalid {
            throw AlarmCLIError(f.reason)
        }
    }

    func print(_ object: Any, plain: String) {
        if json, let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
            say(String(decoding: data, as: UTF8.self))
        } else {
            say(plain)
        }
    }

    func open(_ args: inout Arguments) throws -> String {
        let area = args.string("area"), position = args.string("position")
        guard let keyword = args.string("keyword"), let address = args.string("address"), area != nil || position != nil else {
            throw UsageError("an incident needs --keyword K, --area A or --position LAT,LON, and --address TEXT")
        }
        let remarks = args.string("remarks")
        let test = args.flag("test")
        let r = try submit(.openIncident(.init(keyword: keyword, area: try area.map { try AreaID($0) }, position: try position.map { try Position(parsing: $0) },
                                               address: address, remarks: remarks, test: test)))
        guard let id = r["incident"] as? String else { throw AlarmCLIError("no incident id in the answer") }
        if position != nil && area == nil && !json { say("area: \(r["area"] as? String ?? "?") (from the position)") }
        return id
    }

    func proposal(_ incident: String) throws -> Proposal {
        try JSONDecoder().decode(Proposal.self, from: Data(try query("proposal", ["incident": incident])))
    }

    func propose(_ incident: String) throws {
        let bytes = try query("proposal", ["incident": incident])
        if json { return say(String(decoding: bytes, as: UTF8.self)) }
        let p = try JSONDecoder().decode(Proposal.self, from: Data(bytes))
        say("proposal for \(incident) (\(p.keyword), \(p.area)):")
        for u in p.units { say("  \(u.unit)  \(u.type)  \(u.station)") }
        for s in p.unfilled { say("  missing: \(s.missing)× \(s.type)") }
    }

    /// Where the event topic ends now (events after it belong to what this invocation does next).
    func eventsEnd() -> UInt64 {
        (try? client.read(topic: AlarmTopic.events, from: 0, limit: 1, linearizable: true).endOffset) ?? 0
    }

    /// Prints events (of `order` only, when given) until the order closes or `seconds` pass.
    func follow(order: String?, from: UInt64, seconds: UInt64) throws {
        let lines = Mailbox<AlarmEvent>()
        let sub = client.subscribe(topic: AlarmTopic.events, from: from) { event in
            if case .message(let m) = event, let e = try? JSONDecoder().decode(AlarmEvent.self, from: Data(m.payload)) { lines.post(e) }
        }
        defer { client.unsubscribe(sub) }
        let deadline = DispatchTime.now() + .seconds(Int(min(seconds, UInt64(Int32.max))))
        while DispatchTime.now() < deadline {
            for e in lines.takeAll(until: deadline) {
                if let order, let o = e.order, o.rawValue != order, !(e.event == "order.created" && e.order?.rawValue.hasPrefix(order) == true) {
                    if e.event != "line.faulted" && e.event != "line.up" { continue }
                }
                if json {
                    say(String(decoding: StrictJSON.encode(e), as: UTF8.self))
                } else {
                    say(Self.describe(e))
                }
                if let order, e.event == "order.closed", e.order?.rawValue == order { return }
            }
        }
    }

    static func time(_ millis: UInt64) -> String {
        let f = DateFormatter()
        f.dateFormat = "HH:mm:ss.SSS"
        return f.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }

    /// One event as a line a dispatcher reads: time, what, where, how long it took.
    static func describe(_ e: AlarmEvent) -> String {
        var parts = [time(e.at), e.event]
        if let o = e.order { parts.append(o.rawValue) } else if let i = e.incident { parts.append(i.rawValue) }
        if let t = e.target { parts.append(t.description + (e.round.map { $0 > 1 ? " round \($0)" : "" } ?? "")) }
        if let u = e.unit { parts.append(u.rawValue) }
        if let s = e.station { parts.append("line:\(s)") }
        if let n = e.network, e.target == nil, e.station == nil { parts.append(n.rawValue) }
        if let h = e.holder { parts.append(h) }
        if let l = e.latencyMillis { parts.append("after \(l) ms") }
        if e.fallback == true { parts.append("(fallback)") }
        if e.late == true { parts.append("(late)") }
        if let r = e.replacement { parts.append("→ proposed \(r)") }
        if let d = e.detail { parts.append("— \(d)") }
        if e.test == true { parts.append("[PROBEALARM]") }
        return parts.joined(separator: " ")
    }

    func show(_ what: String?) throws {
        guard let what else {
            let bytes = try query("overview")
            if json { return say(String(decoding: bytes, as: UTF8.self)) }
            let o = try JSONDecoder().decode(AlarmState.Overview.self, from: Data(bytes))
            say("open incidents \(o.openIncidents), open orders \(o.openOrders), escalations waiting \(o.waitingEscalations)")
            say("faulted lines: " + (o.faultedLines.isEmpty ? "none" : o.faultedLines.map(\.rawValue).joined(separator: ", ")))
            for n in Network.allCases {
                if let l = o.leases[n] {
                    say("\(n.rawValue) gateway: \(l.holder) (epoch \(l.epoch))\(l.expired ? " — LOST" : "")\(l.sinkFault.map { " — sink fault: \($0)" } ?? "")")
                } else {
                    say("\(n.rawValue) gateway: none")
                }
            }
            return
        }
        if what.contains("/") {
            let bytes = try query("order", ["order": what])
            if json { return say(String(decoding: bytes, as: UTF8.self)) }
            printOrder(try JSONDecoder().decode(AlarmOrder.self, from: Data(bytes)))
        } else {
            let bytes = try query("incident", ["incident": what])
            if json { return say(String(decoding: bytes, as: UTF8.self)) }
            let v = try JSONDecoder().decode(AlarmState.IncidentView.self, from: Data(bytes))
            let i = v.incident
            say("\(i.id) \(i.keyword) \(i.area), \(i.address)\(i.test ? " [PROBEALARM]" : "")\(i.closedAt != nil ? " (closed)" : "")")
            for o in v.orders { printOrder(o) }
            for e in i.escalations {
                say("  escalation: \(e.unit) (\(e.type)) in \(e.order): \(e.decision.rawValue)\(e.replacement.map { ", proposed \($0)" } ?? "")")
            }
        }
    }

    private func printOrder(_ o: AlarmOrder) {
        say("order \(o.id): \(o.closedAt == nil ? "open" : "closed, \(o.result ?? "")")\(o.test ? " [PROBEALARM]" : "")")
        for t in o.targets {
            let took = t.deliveredAt.map { " after \($0 - t.issuedAt) ms" } ?? ""
            say("  \(t.target) round \(t.round): \(t.state.rawValue)\(took)\(t.fallback ? " (fallback)" : "")\(t.late ? " (late)" : "")\(t.reason.map { " — \($0)" } ?? "")")
        }
        for u in o.units {
            say("  unit \(u.unit): \(u.state.rawValue)\(u.acknowledgedBy.map { " by \($0)" } ?? "")")
        }
    }

    func list(_ what: String) throws {
        let bytes = try query(what)
        if json { return say(String(decoding: bytes, as: UTF8.self)) }
        switch what {
        case "lines":
            for l in try JSONDecoder().decode([AlarmState.LineView].self, from: Data(bytes)) {
                say("\(l.station)  \(l.state)\(l.reason.map { " — \($0)" } ?? "")  (\(l.name), supervision \(l.supervisionSeconds) s)")
            }
        case "units":
            for u in try JSONDecoder().decode([AlarmState.UnitView].self, from: Data(bytes)) {
                say("\(u.unit)  \(u.type)  \(u.station)  status \(u.status) (\(u.statusName))\(u.incident.map { "  incident \($0)" } ?? "")")
            }
        default:
            let leases = try JSONDecoder().decode([Network: Lease].self, from: Data(bytes))
            for n in Network.allCases {
                guard let l = leases[n] else { say("\(n.rawValue): none"); continue }
                say("\(n.rawValue): \(l.holder) epoch \(l.epoch)\(l.expired ? " LOST" : "")\(l.sinkFault.map { " sink fault: \($0)" } ?? "")")
            }
        }
    }
}
