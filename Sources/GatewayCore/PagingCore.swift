import Alarming

/// The wireless network's gateway as a pure core: while it holds the wireless lease it queues
/// each page instruction on its channel's airtime scheduler (alarm before re-alarm before test),
/// keys the transmissions on the channel's transmitter, and reports a page `delivered` once its
/// transmission has been on air for its whole airtime; siren instructions become ZVEI calls.
/// A transmitter that fails makes its pages `failed` at once (so the dispatcher falls back to
/// the station lines) and is reported with every lease renewal until it works again.
///
/// `PagingGateway` performs its directives over the cluster client and PCM sinks; the simulator
/// performs the same directives on virtual time.
public struct PagingCore: Sendable {
    public private(set) var link: LeaseLink
    private var channels: [String: Channel] = [:]
    private var sirens = Sirens()
    private var nextPageID: UInt64 = 0
    /// Instructions known by "order|target" (newest round), so a repeat is not queued twice.
    private var known: [String: Int] = [:]

    private struct Channel: Sendable {
        let id: String
        var scheduler: AirtimeScheduler
        var pages: [UInt64: Instruction] = [:]
        var fault: String?
        /// A transmission handed to the transmitter, waiting for `.keyed`.
        var keying: [Instruction]?
        /// On air until the `.channel` timer (its receipts follow then).
        var onAir: [Instruction] = []
        /// The armed `.channel` timer (end of airtime, or when the channel becomes free).
        var timerAt: UInt64?
        init(id: String, rate: POCSAG.BitRate) {
            self.id = id
            scheduler = AirtimeScheduler(rate: rate)
        }
    }

    private struct Sirens: Sendable {
        var queue: [Instruction] = []
        var fault: String?
        var sounding: Instruction?
        var onAir: Instruction?
        var timerAt: UInt64?
    }

    public init(name: String, nonce: String, registry: Registry) {
        link = LeaseLink(network: .wireless, holder: name, nonce: nonce)
        load(registry)
    }

    public var active: Bool { link.active }
    public var epoch: UInt64 { link.epoch }
    /// The channels served, sorted.
    public var channelIDs: [String] { channels.keys.sorted() }
    /// Pages waiting on air, per channel.
    public func waiting(_ channel: String) -> Int { channels[channel]?.scheduler.count ?? 0 }

    @_spi(Simulation) public var ignoresEpoch: Bool {
        get { link.ignoresEpoch }
        set { link.ignoresEpoch = newValue }
    }

    /// Serves every channel of the registry not served yet (a channel that left the registry
    /// keeps airing what it has queued).
    private mutating func load(_ registry: Registry) {
        for c in registry.channels where channels[c.id.rawValue] == nil {
            channels[c.id.rawValue] = Channel(id: c.id.rawValue, rate: POCSAG.BitRate(rawValue: c.baud) ?? .b1200)
        }
    }

    public mutating func handle(_ input: GatewayInput, now: UInt64) -> [GatewayDirective] {
        var out: [GatewayDirective] = []
        switch input {
        case .timer(.channel(let id)):
            guard let at = channels[id]?.timerAt, now >= at else { break }
            channels[id]!.timerAt = nil
            let aired = channels[id]!.onAir
            channels[id]!.onAir = []
            for ins in aired { report("delivered", ins, &out) }
            pump(id, now: now, &out)
        case .timer(.sirens):
            guard let at = sirens.timerAt, now >= at else { break }
            sirens.timerAt = nil
            if let ins = sirens.onAir {
                sirens.onAir = nil
                report("delivered", ins, &out)
            }
            pumpSirens(now: now, &out)
        case let .keyed(id, error):
            guard let sent = channels[id]?.keying else { break }
            channels[id]!.keying = nil
            if let error {
                link.sinkFault = "\(id): \(error)"
                for ins in sent { fail(ins, error, &out) }
                pump(id, now: now, &out)
                break
            }
            if link.sinkFault?.hasPrefix("\(id):") == true { link.sinkFault = nil }
            channels[id]!.onAir = sent
            for ins in sent { report("sent", ins, &out) }
        case let .sounded(airtime, error):
            guard let ins = sirens.sounding else { break }
            sirens.sounding = nil
            if let error {
                link.sinkFault = "zvei: \(error)"
                fail(ins, error, &out)
                pumpSirens(now: now, &out)
                break
            }
            if link.sinkFault?.hasPrefix("zvei:") == true { link.sinkFault = nil }
            report("sent", ins, &out)
            sirens.onAir = ins
            sirens.timerAt = now + airtime
            out.append(.arm(.sirens, at: now + airtime))
        case let .sinkState(id, fault):
            if id == "zvei" { sirens.fault = fault } else { channels[id]?.fault = fault }
            updateSinkFault()
        default:
            for notice in link.handle(input, now: now, &out) { take(notice, now: now, &out) }
        }
        return out
    }

    private mutating func take(_ notice: LeaseLink.Notice, now: UInt64, _ out: inout [GatewayDirective]) {
        switch notice {
        case .activated(let open):
            known.removeAll()
            for ins in open { received(ins, now: now, &out) }
        case .deactivated:
            standDown()
        case .instruction(let ins):
            received(ins, now: now, &out)
        case .registry(let r):
            load(r)
            updateSinkFault()
        case .event, .committed:
            break
        }
    }

    private func receipt(_ ins: Instruction, reason: String? = nil) -> AlarmCommand.Receipt {
        AlarmCommand.Receipt(order: ins.order, target: ins.target, round: ins.round, reason: reason)
    }

    /// Reports a page `sent` or `delivered`, by its receipt id.
    private mutating func report(_ kind: String, _ ins: Instruction, _ out: inout [GatewayDirective]) {
        let r = receipt(ins)
        link.submit(kind == "sent" ? .targetSent(r) : .targetDelivered(r), id: receiptID(kind, r), &out)
    }

    private mutating func received(_ ins: Instruction, now: UInt64, _ out: inout [GatewayDirective]) {
        let key = "\(ins.order)|\(ins.target)"
        if let round = known[key], round >= ins.round { return }
        known[key] = ins.round
        switch ins.target {
        case .group:
            guard let id = ins.channel?.rawValue, let fault = channels[id].map({ $0.fault }), let ric = ins.ric,
                  let function = ins.function?.unicodeScalars.first.map({ UInt8($0.value) &- 65 }) else {
                return fail(ins, "channel \(ins.channel?.rawValue ?? "?") is not served by this gateway", &out)
            }
            let content: POCSAG.Content = ins.text.map { .alphanumeric($0) } ?? .tone
            let page: POCSAG.Page
            do { page = try POCSAG.Page(ric: ric, function: function, content: content) } catch {
                return fail(ins, "cannot encode the page: \(error)", &out)
            }
            if let fault { return fail(ins, fault, &out) }
            nextPageID += 1
            let pageClass: PageClass = ins.test ? .test : (ins.reAlarm ? .reAlarm : .alarm)
            channels[id]!.scheduler.enqueue(QueuedPage(id: nextPageID, page: page, pageClass: pageClass, queuedAt: now))
            channels[id]!.pages[nextPageID] = ins
            pump(id, now: now, &out)
        case .siren:
            if let fault = sirens.fault { return fail(ins, fault, &out) }
            sirens.queue.append(ins)
            pumpSirens(now: now, &out)
        case .line:
            out.append(.log("instruction for \(ins.target) is not for the wireless network; skipped"))
        }
    }

    /// Queues a page that is not an alarm instruction (information pages, for the simulator's
    /// saturated channel); nil when the channel is not served.
    public mutating func enqueue(_ page: POCSAG.Page, pageClass: PageClass, channel id: String, now: UInt64) -> [GatewayDirective]? {
        guard channels[id] != nil else { return nil }
        nextPageID += 1
        channels[id]!.scheduler.enqueue(QueuedPage(id: nextPageID, page: page, pageClass: pageClass, queuedAt: now))
        var out: [GatewayDirective] = []
        pump(id, now: now, &out)
        return out
    }

    /// Starts the channel's next transmission when it is free; its receipts follow at its end.
    /// Channels change in place (`channels[id]!.…`): a copy held while its queues change would
    /// make each change copy them whole.
    private mutating func pump(_ id: String, now: UInt64, _ out: inout [GatewayDirective]) {
        guard link.active, channels[id].map({ $0.timerAt == nil && $0.keying == nil }) == true else { return }
        guard let tx = channels[id]!.scheduler.next(now: now) else {
            let busyUntil = channels[id]!.scheduler.busyUntil
            if !channels[id]!.scheduler.isEmpty, busyUntil > now {
                channels[id]!.timerAt = busyUntil
                out.append(.arm(.channel(id), at: busyUntil))
            }
            return
        }
        channels[id]!.scheduler.forgetWaits()
        // Pages without an instruction (information pages) have no receipt.
        var keying: [Instruction] = []
        for page in tx.pages {
            if let ins = channels[id]!.pages.removeValue(forKey: page.id) { keying.append(ins) }
        }
        channels[id]!.keying = keying
        channels[id]!.timerAt = tx.end
        out.append(.key(channel: id, tx, rate: channels[id]!.scheduler.rate))
        out.append(.arm(.channel(id), at: tx.end))
    }

    private mutating func pumpSirens(now: UInt64, _ out: inout [GatewayDirective]) {
        guard link.active, sirens.timerAt == nil, sirens.sounding == nil, sirens.fault == nil, !sirens.queue.isEmpty else { return }
        let ins = sirens.queue.removeFirst()
        let signal = ZVEI.SirenSignal(rawValue: ins.signal ?? "fire") ?? .fire
        do { _ = try ZVEI.frequencies(ins.zvei ?? "") } catch {
            fail(ins, "cannot encode the ZVEI call: \(error)", &out)
            return pumpSirens(now: now, &out)
        }
        sirens.sounding = ins
        out.append(.sound(digits: ins.zvei ?? "", signal: signal))
    }

    private mutating func fail(_ ins: Instruction, _ reason: String, _ out: inout [GatewayDirective]) {
        out.append(.log("\(ins.target) in \(ins.order) failed: \(reason)"))
        let r = receipt(ins, reason: String(reason.prefix(200)))
        link.submit(.targetFailed(r), id: receiptID("failed", r), &out)
    }

    /// A standby forgets its queues: the new active gateway takes the open pages from the state.
    /// What is on air stays on air, and its receipts follow.
    private mutating func standDown() {
        for id in channels.keys {
            channels[id]!.scheduler = AirtimeScheduler(rate: channels[id]!.scheduler.rate)
            channels[id]!.pages.removeAll()
        }
        sirens.queue.removeAll()
        known.removeAll()
    }

    private mutating func updateSinkFault() {
        for id in channels.keys.sorted() {
            if let f = channels[id]!.fault { link.sinkFault = "\(id): \(f)"; return }
        }
        if let f = sirens.fault { link.sinkFault = "zvei: \(f)" }
    }
}
