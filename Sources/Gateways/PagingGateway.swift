import Alarming
import Client
import Foundation
import Secure
import Wire

/// The wireless network's gateway: while it holds the wireless lease it queues each page
/// instruction on its channel's airtime scheduler (alarm before re-alarm before test), keys the
/// transmissions into the channel's transmitter sink, and reports a page `delivered` once its
/// transmission has been on air for its whole airtime; siren instructions become ZVEI calls on the
/// siren channel. A sink that fails makes its pages `failed` at once (so the dispatcher falls back
/// to the station lines) and is reported with every lease renewal until it works again.
/// Confined to its event loop's thread.
public final class PagingGateway {
    public struct Options: Sendable {
        public var name: String
        /// One sub-directory per channel (and `zvei` for sirens) receives the PCM files.
        public var sinkDirectory: String
        public init(name: String, sinkDirectory: String) { self.name = name; self.sinkDirectory = sinkDirectory }
    }

    private let loop: EventLoop
    private let link: GatewayLink
    private let log: (String) -> Void
    private var channels: [String: Channel] = [:]
    private var sirens: Sirens
    private var nextPageID: UInt64 = 0
    /// Instructions known by "order|target" (newest round), so a repeat is not queued twice.
    private var known: [String: Int] = [:]
    private let sinkDirectory: String

    private static func sink(_ directory: String, _ name: String) -> Result<PCMSink, Error> {
        Result { try PCMSink(.directory(directory + "/" + name)) }
    }

    /// Opens a transmitter sink for every channel of the registry not served yet (a channel that
    /// left the registry keeps airing what it has queued).
    private func load(_ registry: Registry) {
        for c in registry.channels where channels[c.id.rawValue] == nil {
            channels[c.id.rawValue] = Channel(id: c.id.rawValue, rate: POCSAG.BitRate(rawValue: c.baud) ?? .b1200,
                                              sink: Self.sink(sinkDirectory, c.id.rawValue))
        }
    }

    private final class Channel {
        let id: String
        var scheduler: AirtimeScheduler
        let sink: Result<PCMSink, Error>
        var pages: [UInt64: Instruction] = [:]
        var timer: UInt64?
        init(id: String, rate: POCSAG.BitRate, sink: Result<PCMSink, Error>) {
            self.id = id
            scheduler = AirtimeScheduler(rate: rate)
            self.sink = sink
        }
    }

    private struct Sirens {
        var queue: [Instruction] = []
        var busyUntil: UInt64 = 0
        var timer: UInt64?
        let sink: Result<PCMSink, Error>
    }

    public init(loop: EventLoop, client: FlorianClient, registry: Registry, options: Options, log: @escaping (String) -> Void) {
        self.loop = loop
        self.log = log
        link = GatewayLink(network: .wireless, holder: options.name, client: client, loop: loop, log: log)
        sinkDirectory = options.sinkDirectory
        sirens = Sirens(sink: Self.sink(options.sinkDirectory, "zvei"))
        link.onActivated = { [unowned self] open in
            self.known.removeAll()
            for ins in open { self.received(ins) }
        }
        link.onDeactivated = { [unowned self] _ in self.standDown() }
        link.onInstruction = { [unowned self] ins in self.received(ins) }
        link.onRegistry = { [unowned self] r in
            self.load(r)
            self.updateSinkFault()
        }
        load(registry)
        let previous = loop.everyIteration
        loop.everyIteration = { [unowned self] in
            previous?()
            self.link.drain()
        }
        updateSinkFault()
        link.start()
    }

    public func stop() { link.stop() }

    private static func nowMillis() -> UInt64 { EventLoop.now() / 1_000_000 }

    private func received(_ ins: Instruction) {
        let key = "\(ins.order)|\(ins.target)"
        if let round = known[key], round >= ins.round { return }
        known[key] = ins.round
        switch ins.target {
        case .group:
            guard let channelID = ins.channel?.rawValue, let channel = channels[channelID], let ric = ins.ric,
                  let function = ins.function?.unicodeScalars.first.map({ UInt8($0.value) &- 65 }) else {
                return fail(ins, "channel \(ins.channel?.rawValue ?? "?") is not served by this gateway")
            }
            let content: POCSAG.Content = ins.text.map { .alphanumeric($0) } ?? .tone
            let page: POCSAG.Page
            do { page = try POCSAG.Page(ric: ric, function: function, content: content) } catch {
                return fail(ins, "cannot encode the page: \(error)")
            }
            if case .failure(let e) = channel.sink { return fail(ins, "\(e)") }
            nextPageID += 1
            let pageClass: PageClass = ins.test ? .test : (ins.reAlarm ? .reAlarm : .alarm)
            channel.scheduler.enqueue(QueuedPage(id: nextPageID, page: page, pageClass: pageClass, queuedAt: Self.nowMillis()))
            channel.pages[nextPageID] = ins
            pump(channel)
        case .siren:
            if case .failure(let e) = sirens.sink { return fail(ins, "\(e)") }
            sirens.queue.append(ins)
            pumpSirens()
        case .line:
            log("instruction for \(ins.target) is not for the wireless network; skipped")
        }
    }

    /// Starts the channel's next transmission when it is free; schedules the receipts for its end.
    private func pump(_ channel: Channel) {
        guard link.active, channel.timer == nil else { return }
        let now = Self.nowMillis()
        guard let tx = channel.scheduler.next(now: now) else {
            if !channel.scheduler.queue.isEmpty, channel.scheduler.busyUntil > now { wait(channel, until: channel.scheduler.busyUntil) }
            return
        }
        channel.scheduler.forgetWaits()
        let sent = tx.pages.compactMap { channel.pages.removeValue(forKey: $0.id) }
        guard case .success(let sink) = channel.sink else { return }
        do {
            _ = try sink.transmit(tx, rate: channel.scheduler.rate)
        } catch {
            link.sinkFault = "\(channel.id): \(error)"
            for ins in sent { fail(ins, "\(error)") }
            return pump(channel)
        }
        if link.sinkFault?.hasPrefix("\(channel.id):") == true { link.sinkFault = nil }
        for ins in sent {
            let receipt = AlarmCommand.Receipt(order: ins.order, target: ins.target, round: ins.round)
            link.submit(.targetSent(receipt), id: GatewayLink.receiptID("sent", receipt))
        }
        // Delivered once the transmission has been on air for its whole airtime.
        channel.timer = loop.schedule(after: tx.airtimeMillis * 1_000_000) { [unowned self] in
            channel.timer = nil
            for ins in sent {
                let receipt = AlarmCommand.Receipt(order: ins.order, target: ins.target, round: ins.round)
                self.link.submit(.targetDelivered(receipt), id: GatewayLink.receiptID("delivered", receipt))
            }
            self.pump(channel)
        }
    }

    private func wait(_ channel: Channel, until: UInt64) {
        let now = Self.nowMillis()
        channel.timer = loop.schedule(after: (until > now ? until - now : 0) * 1_000_000) { [unowned self] in
            channel.timer = nil
            self.pump(channel)
        }
    }

    private func pumpSirens() {
        guard link.active, sirens.timer == nil, !sirens.queue.isEmpty, case .success(let sink) = sirens.sink else { return }
        let ins = sirens.queue.removeFirst()
        let signal = ZVEI.SirenSignal(rawValue: ins.signal ?? "fire") ?? .fire
        let pcm: [UInt8]
        do { pcm = try ZVEI.pcmBytes(digits: ins.zvei ?? "", siren: signal) } catch {
            fail(ins, "cannot encode the ZVEI call: \(error)")
            return pumpSirens()
        }
        do { _ = try sink.transmit(pcm: pcm, start: Self.nowMillis()) } catch {
            link.sinkFault = "zvei: \(error)"
            fail(ins, "\(error)")
            return pumpSirens()
        }
        if link.sinkFault?.hasPrefix("zvei:") == true { link.sinkFault = nil }
        let sent = AlarmCommand.Receipt(order: ins.order, target: ins.target, round: ins.round)
        link.submit(.targetSent(sent), id: GatewayLink.receiptID("sent", sent))
        let airtime = UInt64(pcm.count / 2) * 1000 / 22_050
        sirens.timer = loop.schedule(after: airtime * 1_000_000) { [unowned self] in
            self.sirens.timer = nil
            let receipt = AlarmCommand.Receipt(order: ins.order, target: ins.target, round: ins.round)
            self.link.submit(.targetDelivered(receipt), id: GatewayLink.receiptID("delivered", receipt))
            self.pumpSirens()
        }
    }

    private func fail(_ ins: Instruction, _ reason: String) {
        log("\(ins.target) in \(ins.order) failed: \(reason)")
        let receipt = AlarmCommand.Receipt(order: ins.order, target: ins.target, round: ins.round, reason: String(reason.prefix(200)))
        link.submit(.targetFailed(receipt), id: GatewayLink.receiptID("failed", receipt))
    }

    /// A standby forgets its queues: the new active gateway takes the open pages from the state.
    private func standDown() {
        for c in channels.values {
            c.scheduler = AirtimeScheduler(rate: c.scheduler.rate)
            c.pages.removeAll()
        }
        sirens.queue.removeAll()
        known.removeAll()
    }

    private func updateSinkFault() {
        for c in channels.values.sorted(by: { $0.id < $1.id }) {
            if case .failure(let e) = c.sink { link.sinkFault = "\(c.id): \(e)"; return }
        }
        if case .failure(let e) = sirens.sink { link.sinkFault = "zvei: \(e)" }
    }
}
