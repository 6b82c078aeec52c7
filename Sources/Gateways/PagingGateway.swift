import Alarming
import Client
import Foundation
import GatewayCore
import Secure
import Wire

/// The wireless network's gateway: while it holds the wireless lease it queues each page
/// instruction on its channel's airtime scheduler (alarm before re-alarm before test), keys the
/// transmissions into the channel's transmitter sink, and reports a page `delivered` once its
/// transmission has been on air for its whole airtime; siren instructions become ZVEI calls on the
/// siren channel. A sink that fails makes its pages `failed` at once (so the dispatcher falls back
/// to the station lines) and is reported with every lease renewal until it works again.
/// What it decides is `PagingCore`'s; this shell performs it over the client and the PCM sinks.
/// Confined to its event loop's thread.
public final class PagingGateway {
    public struct Options: Sendable {
        public var name: String
        /// One sub-directory per channel (and `zvei` for sirens) receives the PCM files.
        public var sinkDirectory: String
        public init(name: String, sinkDirectory: String) { self.name = name; self.sinkDirectory = sinkDirectory }
    }

    private let loop: EventLoop
    private let link: GatewayLink<PagingCore>
    private var sinks: [String: Result<PCMSink, Error>] = [:]
    private let sinkDirectory: String

    private static func sink(_ directory: String, _ name: String) -> Result<PCMSink, Error> {
        Result { try PCMSink(.directory(directory + "/" + name)) }
    }

    public init(loop: EventLoop, client: FlorianClient, registry: Registry, options: Options, log: @escaping (String) -> Void) {
        self.loop = loop
        sinkDirectory = options.sinkDirectory
        link = GatewayLink(core: PagingCore(name: options.name, nonce: processNonce(), registry: registry), network: .wireless,
                           client: client, loop: loop, log: log)
        link.device = { [unowned self] d in self.perform(d) }
        link.onRegistry = { [unowned self] r in self.open(r) }
        open(registry)
        let previous = loop.everyIteration
        loop.everyIteration = { [unowned self] in
            previous?()
            self.link.drain()
        }
        link.start()
    }

    public func stop() { link.stop() }

    /// Opens a transmitter sink for every channel of the registry (and the sirens) not open yet;
    /// the core learns which cannot be opened.
    private func open(_ registry: Registry) {
        for name in registry.channels.map(\.id.rawValue) + ["zvei"] where sinks[name] == nil {
            let sink = Self.sink(sinkDirectory, name)
            sinks[name] = sink
            if case .failure(let e) = sink { link.feed(.sinkState(channel: name, fault: "\(e)")) }
        }
    }

    /// Keys a transmission or a siren call on its sink.
    private func perform(_ d: GatewayDirective) -> GatewayInput? {
        switch d {
        case let .key(channel, tx, rate):
            guard case .success(let sink)? = sinks[channel] else { return .keyed(channel: channel, error: "no transmitter for \(channel)") }
            do { _ = try sink.transmit(tx, rate: rate) } catch { return .keyed(channel: channel, error: "\(error)") }
            return .keyed(channel: channel, error: nil)
        case let .sound(digits, signal):
            guard case .success(let sink)? = sinks["zvei"] else { return .sounded(airtimeMillis: 0, error: "no siren transmitter") }
            do {
                let pcm = try ZVEI.pcmBytes(digits: digits, siren: signal)
                _ = try sink.transmit(pcm: pcm, start: GatewayLink<PagingCore>.now())
                return .sounded(airtimeMillis: UInt64(pcm.count / 2) * 1000 / 22_050, error: nil)
            } catch {
                return .sounded(airtimeMillis: 0, error: "\(error)")
            }
        default:
            return nil
        }
    }
}
