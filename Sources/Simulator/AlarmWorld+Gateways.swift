import Alarming
import Bus
@_spi(Simulation) import Consensus
import Foundation
@_spi(Simulation) import GatewayCore
import Wire

/// The gateways' side of the alarm world: each gateway runs a shipped core, and this file is its
/// shell on virtual time — the cluster client (requests to a node, redirects, timeouts, the
/// subscriptions that reconnect to another node), the core's timers, and the station devices
/// on their lines. It is what `GatewayLink` and the gateways' TLS code do in a process.
extension AlarmWorld {
    final class Gateway {
        let index: Int
        let name: String
        let network: Network
        var paging: PagingCore?
        var station: StationCore?
        /// Bumped when the process dies or starts: what was addressed to an earlier life is lost.
        var life = 0
        var timers: [GatewayTimer: Int] = [:]
        var subscription: Subscription?
        /// Delivery time of the last message from the cluster (one connection: in order).
        var inbound: UInt64 = 0
        /// Receipts ("order|target|round") this gateway knows to be committed.
        var known: Set<String> = []
        /// Its delivered receipts in flight: command id → receipt key.
        var deliveredIDs: [String: String] = [:]
        var leaderGuess: Int?
        /// Cut from every node until then.
        var cutUntil: UInt64 = 0
        init(index: Int, name: String, network: Network) {
            self.index = index
            self.name = name
            self.network = network
        }
        var up: Bool { paging != nil || station != nil }
        /// The core's activity and epoch as of its last step (the checks read them after every
        /// event; reading them through the optional core would copy the core each time).
        private(set) var active = false
        private(set) var epoch: UInt64 = 0
        func noteCore() {
            active = paging?.active ?? station?.active ?? false
            epoch = paging?.epoch ?? station?.epoch ?? 0
        }
    }

    struct Subscription {
        var instructionsNext: UInt64
        var eventsNext: UInt64
        var node: Int?
        var incarnation = 0
        var handles: [Int] = []
        var attachment = 0
        /// The node became unreachable: nothing more is forwarded until it reattaches.
        var broken = false
    }

    struct Request {
        enum Kind { case submit(String), lease(id: String, sentAt: UInt64), activate, registry }
        var gateway: Int
        var life: Int
        var kind: Kind
        var type: String
        var payload: [UInt8]
        var hops = 0
    }

    final class Device {
        let index: Int
        let station: String
        var lineUp = true
        /// Its connection to each wired gateway (by gateway index).
        var connections: [Int: UInt64] = [:]
        /// The (order#round) alarms it has shown.
        var shown: Set<String> = []
        init(index: Int, station: String) {
            self.index = index
            self.station = station
        }
    }

    struct Connection {
        let device: Int
        let gateway: Int
        let life: Int
        var open = true
        var heartbeatMillis: UInt64 = 0
        /// Delivery times of the last frame each way (TCP: in order).
        var toDevice: UInt64 = 0
        var toGateway: UInt64 = 0
    }

    // MARK: - Start, kill, cut

    func startGateways(after delay: UInt64) {
        for network in Network.allCases {
            for n in 1...2 {
                let g = Gateway(index: gateways.count, name: "gw-\(network.rawValue)-\(n)", network: network)
                gateways.append(g)
                schedule(.restartGateway(g.index), after: delay + UInt64(g.index) * 300_000)
                schedule(.maintain(g.index), after: delay + seconds(1) + UInt64(g.index) * 10_000)
            }
        }
        for s in registry.stations where s.line != nil {
            let d = Device(index: devices.count, station: s.id.rawValue)
            devices.append(d)
            for g in gateways where g.network == .wired { schedule(.deviceConnect(station: d.index, gateway: g.index), after: delay + seconds(1.5)) }
        }
    }

    func restartGateway(_ g: Int) {
        let gw = gateways[g]
        guard !gw.up else { return }
        gw.life += 1
        gw.timers = [:]
        gw.subscription = nil
        gw.known = []
        gw.deliveredIDs = [:]
        gw.leaderGuess = nil
        let nonce = "\(gw.name)-\(gw.life)"
        switch gw.network {
        case .wired:
            var core = StationCore(name: gw.name, nonce: nonce, registry: registry, now: nowMillis)
            core.ignoresEpoch = mutant == .gatewayIgnoresEpoch
            core.forgetsAcknowledgements = mutant == .gatewayForgetsAcks
            gw.station = core
        case .wireless:
            var core = PagingCore(name: gw.name, nonce: nonce, registry: registry)
            core.ignoresEpoch = mutant == .gatewayIgnoresEpoch
            gw.paging = core
        }
        trace("gateway \(gw.name) starts (life \(gw.life))")
        feed(g, .start)
    }

    /// The network's active gateway dies (its process is killed); it restarts after `seconds`.
    func killGateway(_ network: Network, seconds s: Double) {
        guard let gw = gateways.first(where: { $0.network == network && $0.active }) ?? gateways.first(where: { $0.network == network && $0.up }) else { return }
        trace("kill gateway \(gw.name)")
        count("gateway kills")
        detach(gw.index)
        gw.paging = nil
        gw.station = nil
        gw.noteCore()
        gw.life += 1
        for (id, c) in connections.sorted(by: { $0.key < $1.key }) where c.gateway == gw.index && c.open {
            connections[id]!.open = false
            schedule(.deviceLost(id), after: netDelay())
        }
        schedule(.restartGateway(gw.index), after: seconds(s))
    }

    /// The network's active gateway loses the cluster (its devices stay connected).
    func cutGateway(_ network: Network, seconds s: Double) {
        guard let gw = gateways.first(where: { $0.network == network && $0.active }) else { return }
        trace("cut gateway \(gw.name) from the cluster for \(s) s")
        count("gateway cuts")
        gw.cutUntil = max(gw.cutUntil, now + seconds(s))
    }

    func reachable(_ g: Int, _ k: Int) -> Bool { nodes[k].bus != nil && gateways[g].cutUntil <= now }

    // MARK: - Feeding the cores

    func feed(_ g: Int, _ input: GatewayInput) {
        let gw = gateways[g]
        guard gw.up else { return }
        if gw.network == .wired { learn(gw, from: input) }
        // In place: a copy of the core taken out of `gw` would copy its queues on every change.
        let directives = gw.station != nil ? gw.station!.handle(input, now: nowMillis) : gw.paging!.handle(input, now: nowMillis)
        gw.noteCore()
        checkGateways()
        perform(g, directives)
    }

    /// What the gateway learns of committed receipts: its own receipts' outcomes and the
    /// `target.delivered` events.
    private func learn(_ gw: Gateway, from input: GatewayInput) {
        switch input {
        case let .outcome(id, .success(outcome)):
            if let key = gw.deliveredIDs.removeValue(forKey: id), !outcome.isRejected { gw.known.insert(key) }
        case .event(let payload):
            guard let e = try? JSONDecoder().decode(AlarmEvent.self, from: Data(payload)), e.event == "target.delivered",
                  let o = e.order, let t = e.target, let r = e.round else { return }
            gw.known.insert("\(o)|\(t)|\(r)")
        default:
            break
        }
    }

    func gatewayInput(_ g: Int, life: Int, _ input: GatewayInput, known: [String]) {
        let gw = gateways[g]
        guard gw.life == life, gw.up else { return }
        gw.known.formUnion(known)
        feed(g, input)
    }

    func gatewayTimer(_ g: Int, life: Int, _ timer: GatewayTimer, generation: Int) {
        let gw = gateways[g]
        guard gw.life == life, gw.timers[timer] == generation else { return }
        gw.timers[timer] = nil
        feed(g, .timer(timer))
    }

    func perform(_ g: Int, _ directives: [GatewayDirective]) {
        let gw = gateways[g]
        for d in directives {
            guard gw.up else { return }
            switch d {
            case let .submit(id, type, payload):
                noteSubmit(gw, id: id, type: type, payload: payload)
                request(g, .submit(id), type: type, payload: payload)
            case let .renewLease(id, type, payload):
                request(g, .lease(id: id, sentAt: nowMillis), type: type, payload: payload)
            case .activate:
                request(g, .activate, type: "", payload: [])
            case .fetchRegistry:
                request(g, .registry, type: "", payload: [])
            case let .subscribe(from, eventsFrom):
                detach(g)
                gw.subscription = Subscription(instructionsNext: from, eventsNext: eventsFrom)
                attach(g)
            case .unsubscribe:
                detach(g)
                gw.subscription = nil
            case let .arm(timer, at):
                let generation = (gw.timers[timer] ?? 0) + 1
                gw.timers[timer] = generation
                push(.gatewayTimer(g, life: gw.life, timer, generation: generation), at: (max(at, Self.epochMillis) - Self.epochMillis) * 1000)
            case .log(let line):
                trace("\(gw.name): \(line)")
            case .becameActive(let epoch):
                count("gateway activations")
                if let holder = epochHolders[gw.network]?[epoch], holder != gw.name {
                    return fail("one holder per lease epoch", "\(gw.name) active in \(gw.network.rawValue) epoch \(epoch), which \(holder) held")
                }
                epochHolders[gw.network, default: [:]][epoch] = gw.name
            case .stepDown:
                count("gateway step-downs")
            case .key(let channel, _, _):
                feed(g, .keyed(channel: channel, error: nil))
            case let .sound(digits, _):
                feed(g, .sounded(airtimeMillis: ZVEI.airtimeMillis(digits: digits.count, siren: true), error: nil))
            case let .send(c, frame):
                toDevice(c, frame, from: gw)
            case let .refuse(c, _, reason), let .close(c, reason):
                closedByGateway(c, reason)
            }
        }
    }

    /// Delivered receipts: a wired gateway's are remembered until their outcome; a paging one's
    /// alert the crews (the page has been on air for its whole airtime). Line faults are counted.
    private func noteSubmit(_ gw: Gateway, id: String, type: String, payload: [UInt8]) {
        switch type {
        case "alarm.target.delivered":
            guard case .targetDelivered(let r)? = try? AlarmCommand.decode(type: type, payload: payload) else { return }
            if gw.network == .wired { gw.deliveredIDs[id] = "\(r.order)|\(r.target)|\(r.round)"; return }
            guard alertedReceipts.insert(id).inserted, let order = state?.orders[r.order],
                  let target = order.targets.first(where: { $0.target == r.target }) else { return }
            alerted(order: r.order, units: target.units, test: order.test)
        case "alarm.line.state":
            guard countedLineReports.insert(id).inserted, case .lineState(let r)? = try? AlarmCommand.decode(type: type, payload: payload),
                  !r.up else { return }
            count("line faults reported")
        default:
            break
        }
    }

    // MARK: - The cluster client

    func request(_ g: Int, _ kind: Request.Kind, type: String, payload: [UInt8]) {
        nextRequest += 1
        requests[nextRequest] = Request(gateway: g, life: gateways[g].life, kind: kind, type: type, payload: payload)
        schedule(.requestTimeout(nextRequest), after: seconds(3))
        dispatch(nextRequest)
    }

    private func dispatch(_ r: Int, to preferred: Int? = nil) {
        guard let req = requests[r] else { return }
        let candidates = nodes.indices.filter { reachable(req.gateway, $0) }
        guard !candidates.isEmpty, !lost() else { return }
        let guess = preferred ?? gateways[req.gateway].leaderGuess
        let k = guess.flatMap { candidates.contains($0) ? $0 : nil } ?? candidates[rng.int(in: 0...(candidates.count - 1))]
        schedule(.requestArrive(r, node: k), after: netDelay())
    }

    func requestArrive(_ r: Int, node k: Int) {
        guard let req = requests[r], gateways[req.gateway].life == req.life, reachable(req.gateway, k), let bus = nodes[k].bus else { return }
        switch req.kind {
        case .submit(let id), .lease(let id, _):
            bus.submit(type: req.type, id: (try? CommandID(id))!, sender: "gateway:\(gateways[req.gateway].name)", payload: req.payload) { [unowned self] result in
                self.answered(r, node: k, result)
            }
        case .activate, .registry:
            let network = gateways[req.gateway].network
            bus.readLinearizable { [unowned self] result in
                guard let req = self.requests[r] else { return }
                switch result {
                case .success(let bus):
                    let state = self.nodes[k].machine.state
                    guard case .activate = req.kind else {
                        if let registry = state.registry { self.reply(r, node: k, .registry(registry), known: []) }
                        return
                    }
                    func end(_ topic: String) -> UInt64 { (try? TopicName(topic)).flatMap { bus.topic(named: $0)?.nextOffset } ?? 0 }
                    guard let bytes = try? state.query("pending", StrictJSON.encode(["network": network.rawValue])),
                          let pending = try? JSONDecoder().decode(PendingInstructions.self, from: Data(bytes)) else {
                        return self.fail("pending query", "the pending query failed on \(self.nodes[k].id)")
                    }
                    var known: [String] = []
                    if network == .wired {
                        for id in state.orders.keys.sorted() {
                            for t in state.orders[id]!.targets where t.state == .delivered { known.append("\(id)|\(t.target)|\(t.round)") }
                        }
                    }
                    self.reply(r, node: k, .activated(pending, instructionsFrom: end(AlarmTopic.instructions(network)), eventsFrom: end(AlarmTopic.events)),
                               known: known)
                case .failure(let e):
                    if case .activate = req.kind { self.reply(r, node: k, .activationFailed("\(e)"), known: []) }
                }
            }
        }
    }

    private func answered(_ r: Int, node k: Int, _ result: Result<CommandOutcome, BusNodeError>) {
        guard var req = requests[r] else { return }
        if case .failure(.replica(.notLeader(let leader?))) = result, req.hops < 3 {
            // The client library follows the redirect.
            req.hops += 1
            requests[r] = req
            gateways[req.gateway].leaderGuess = Int(leader.rawValue) - 1
            return dispatch(r, to: Int(leader.rawValue) - 1)
        }
        let failure: (BusNodeError) -> GatewayFailure = { e in
            switch e {
            case .invalid, .rejected: GatewayFailure("\(e)", refused: true)
            default: GatewayFailure("\(e)")
            }
        }
        switch req.kind {
        case .submit(let id):
            reply(r, node: k, .outcome(id: id, result.mapError(failure)), known: [])
        case .lease(_, let sentAt):
            let answer: Result<LeaseAnswer, GatewayFailure> = result.mapError(failure).flatMap { outcome in
                guard case .accepted(let json) = outcome, let a = try? JSONDecoder().decode(LeaseAnswer.self, from: Data(json)) else {
                    return .failure(GatewayFailure("unexpected outcome \(outcome)", refused: true))
                }
                return .success(a)
            }
            reply(r, node: k, .leaseAnswer(answer, sentAt: sentAt), known: [])
        case .activate, .registry:
            break
        }
    }

    /// The answer travels back (or is lost: the request then times out).
    private func reply(_ r: Int, node k: Int, _ input: GatewayInput, known: [String]) {
        guard let req = requests[r], reachable(req.gateway, k), !lost() else { return }
        requests[r] = nil
        toGateway(req.gateway, life: req.life, input, known: known)
    }

    func requestTimeout(_ r: Int) {
        guard let req = requests.removeValue(forKey: r) else { return }
        guard gateways[req.gateway].life == req.life else { return }
        let timeout = GatewayFailure("no answer within 3 s")
        switch req.kind {
        case .submit(let id): feed(req.gateway, .outcome(id: id, .failure(timeout)))
        case .lease(_, let sentAt): feed(req.gateway, .leaseAnswer(.failure(timeout), sentAt: sentAt))
        case .activate: feed(req.gateway, .activationFailed(timeout.reason))
        case .registry: break
        }
    }

    /// A message from the cluster to a gateway, in order behind the previous one.
    private func toGateway(_ g: Int, life: Int, _ input: GatewayInput, known: [String]) {
        let gw = gateways[g]
        let at = max(now + netDelay(), gw.inbound)
        gw.inbound = at
        push(.gatewayInput(g, life: life, input, known: known), at: at)
    }

    // MARK: - Subscriptions

    private func attach(_ g: Int) {
        let gw = gateways[g]
        guard var sub = gw.subscription, sub.node == nil else { return }
        let candidates = nodes.indices.filter { reachable(g, $0) }
        guard !candidates.isEmpty else { return }
        let k = gw.leaderGuess.flatMap { candidates.contains($0) ? $0 : nil } ?? candidates[rng.int(in: 0...(candidates.count - 1))]
        let bus = nodes[k].bus!
        sub.attachment += 1
        sub.node = k
        sub.incarnation = nodes[k].incarnation
        sub.broken = false
        let attachment = sub.attachment
        gw.subscription = sub
        count("gateway subscriptions")
        let instructions = (try? TopicName(AlarmTopic.instructions(gw.network)))!, events = (try? TopicName(AlarmTopic.events))!
        let a = bus.subscribe(topic: instructions, from: sub.instructionsNext) { [unowned self] e in self.forward(g, attachment, instructions: true, e) }
        let b = bus.subscribe(topic: events, from: sub.eventsNext) { [unowned self] e in self.forward(g, attachment, instructions: false, e) }
        gw.subscription?.handles = [a, b]
    }

    private func detach(_ g: Int) {
        let gw = gateways[g]
        guard let sub = gw.subscription, let k = sub.node else { return }
        if nodes[k].incarnation == sub.incarnation, let bus = nodes[k].bus { for h in sub.handles { bus.cancel(subscription: h) } }
        gw.subscription?.node = nil
        gw.subscription?.handles = []
    }

    private func forward(_ g: Int, _ attachment: Int, instructions: Bool, _ event: SubscriptionEvent) {
        let gw = gateways[g]
        guard let sub = gw.subscription, sub.attachment == attachment, !sub.broken, let k = sub.node else { return }
        switch event {
        case let .gap(_, resumeAt):
            if instructions { gw.subscription!.instructionsNext = resumeAt } else { gw.subscription!.eventsNext = resumeAt }
        case .message(let m):
            // An unreachable node's stream stops here; the client reconnects elsewhere and reads on.
            guard reachable(g, k) else { gw.subscription!.broken = true; return }
            if instructions {
                guard m.offset >= sub.instructionsNext else { return }
                gw.subscription!.instructionsNext = m.offset + 1
                toGateway(g, life: gw.life, .instruction(payload: m.payload, offset: m.offset), known: [])
            } else {
                guard m.offset >= sub.eventsNext else { return }
                gw.subscription!.eventsNext = m.offset + 1
                toGateway(g, life: gw.life, .event(payload: m.payload), known: [])
            }
        }
    }

    /// Every second: a subscription whose node died or became unreachable moves to another node.
    func maintain(_ g: Int) {
        schedule(.maintain(g), after: seconds(1))
        let gw = gateways[g]
        guard gw.up, let sub = gw.subscription else { return }
        if let k = sub.node, !sub.broken, nodes[k].incarnation == sub.incarnation, reachable(g, k) { return }
        detach(g)
        attach(g)
    }

    // MARK: - Station devices

    func deviceConnect(_ s: Int, gateway g: Int) {
        let d = devices[s], gw = gateways[g]
        guard d.lineUp else { return }  // it connects again when the line is back
        if let c = d.connections[g], connections[c]?.open == true { return }
        guard gw.up else { return schedule(.deviceConnect(station: s, gateway: g), after: seconds(1)) }
        nextConnection += 1
        let c = nextConnection
        connections[c] = Connection(device: s, gateway: g, life: gw.life)
        d.connections[g] = c
        deviceSends(c, .hello(connection: c, peerRole: "station", peerName: d.station, .init(station: d.station, device: "sim")))
    }

    /// A frame from a device to its gateway, in order on its connection; lost while the line is down.
    private func deviceSends(_ c: UInt64, _ input: GatewayInput) {
        guard var conn = connections[c], conn.open, devices[conn.device].lineUp else { return }
        let at = max(now + UInt64(rng.int(in: 1_000...5_000)), conn.toGateway)
        conn.toGateway = at
        connections[c] = conn
        push(.gatewayInput(conn.gateway, life: conn.life, input, known: []), at: at)
    }

    private func toDevice(_ c: UInt64, _ frame: StationAlertFrame, from gw: Gateway) {
        guard var conn = connections[c], conn.open, conn.gateway == gw.index else { return }
        let d = devices[conn.device]
        if case .alarm(let a) = frame, let station = try? StationID(d.station) {
            let key = "\(a.order)|\(TargetRef.line(station))|\(a.round)"
            if gw.known.contains(key) {
                return fail("no alarm again to a confirmed device",
                            "\(gw.name) sent \(a.order) round \(a.round) to \(d.station) after it learned that the device's receipt was committed")
            }
        }
        guard d.lineUp else { return }
        let at = max(now + UInt64(rng.int(in: 3_000...20_000)), conn.toDevice)
        conn.toDevice = at
        connections[c] = conn
        push(.deviceFrame(c, frame), at: at)
    }

    func deviceFrame(_ c: UInt64, _ frame: StationAlertFrame) {
        guard let conn = connections[c], conn.open else { return }
        let d = devices[conn.device]
        guard d.lineUp else { return }
        switch frame {
        case .welcome(let w):
            connections[c]!.heartbeatMillis = UInt64(w.heartbeatMillis)
            schedule(.deviceHeartbeat(c), after: UInt64(w.heartbeatMillis) * 1000)
        case .alarm(let a):
            // The device shows an alarm once per (order, round) and ACKs every copy.
            if d.shown.insert("\(a.order)#\(a.round)").inserted {
                if let order = try? OrderID(a.order) { alerted(order: order, units: a.units.compactMap { try? UnitID($0) }, test: a.test) }
            } else {
                count("repeats shown once")
            }
            schedule(.deviceAck(c, .init(order: a.order, round: a.round)), after: UInt64(rng.int(in: 20_000...200_000)))
        default:
            break
        }
    }

    func deviceHeartbeat(_ c: UInt64) {
        guard let conn = connections[c], conn.open, devices[conn.device].lineUp else { return }
        deviceSends(c, .heartbeat(connection: c))
        schedule(.deviceHeartbeat(c), after: conn.heartbeatMillis * 1000)
    }

    func deviceAck(_ c: UInt64, _ a: StationAlertFrame.StationAck) {
        deviceSends(c, .ack(connection: c, a))
    }

    /// The gateway refused or closed a connection: the device learns it (if its line works) and
    /// connects again a second later.
    private func closedByGateway(_ c: UInt64, _ reason: String) {
        guard let conn = connections[c], conn.open else { return }
        connections[c]!.open = false
        push(.gatewayInput(conn.gateway, life: conn.life, .closed(connection: c, reason: reason), known: []), at: now)
        schedule(.deviceLost(c), after: netDelay())
    }

    func deviceLost(_ c: UInt64) {
        guard let conn = connections[c] else { return }
        let d = devices[conn.device]
        guard d.connections[conn.gateway] == c else { return }
        d.connections[conn.gateway] = nil
        schedule(.deviceConnect(station: d.index, gateway: conn.gateway), after: seconds(1))
    }

    /// Every connection of a device drops (both ends see it) and is made again.
    func resetConnections(_ s: Int, reason: String = "connection reset") {
        let d = devices[s]
        if reason == "connection reset" { count("connection resets") }
        for g in d.connections.keys.sorted() {
            let c = d.connections[g]!
            if let conn = connections[c], conn.open {
                connections[c]!.open = false
                push(.gatewayInput(g, life: conn.life, .closed(connection: c, reason: reason), known: []), at: now + netDelay())
            }
        }
        d.connections = [:]
        for g in gateways where g.network == .wired {
            schedule(.deviceConnect(station: s, gateway: g.index), after: seconds(rng.double(in: 0.5...2)))
        }
    }

    func lineFail(_ station: String) {
        guard let d = devices.first(where: { $0.station == station }) else { return }
        trace("line \(station) fails")
        d.lineUp = false
    }

    func lineRestore(_ station: String) {
        guard let d = devices.first(where: { $0.station == station }) else { return }
        trace("line \(station) restored")
        d.lineUp = true
        resetConnections(d.index, reason: "line restored: the device connects again")
    }

    // MARK: - Checks

    /// At most one active gateway per network at any instant (all clocks here are one clock).
    func checkGateways() {
        var active: [Network: String] = [:]
        for g in gateways where g.active {
            if let other = active[g.network] {
                return fail("one active gateway per network", "\(other) and \(g.name) are both active for the \(g.network.rawValue) network")
            }
            active[g.network] = g.name
        }
    }
}
