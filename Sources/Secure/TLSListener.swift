import Foundation
import Synchronization
import Wire

/// A TLS 1.3 request/answer endpoint on a loop thread of its own: each verified peer's frames go
/// to `onFrame`, whose answer (if any) goes back. For tools, tests and benchmarks; the node runs
/// `TLSServer`s on its own loop.
public final class TLSListener: Sendable {
    public let port: UInt16
    private let loop: EventLoop.LoopHandle

    public init(context: TLSContext, host: String = "127.0.0.1", port: UInt16 = 0, limits: TLSLimits = TLSLimits(),
                log: @escaping @Sendable (String) -> Void = { _ in },
                onFrame: @escaping @Sendable (PeerIdentity, ProtocolFrame) -> ProtocolFrame?) throws {
        let started = Handoff<Result<UInt16, SocketError>>()
        let handle = Handoff<EventLoop.LoopHandle>()
        Thread {
            let loop: EventLoop
            let server: TLSServer
            do {
                loop = try EventLoop()
                server = try TLSServer(loop: loop, context: context, host: host, port: port, limits: limits, log: log) { _ in
                    Answerer(onFrame: onFrame)
                }
            } catch {
                started.post(.failure(error as? SocketError ?? .system("listener", EINVAL)))
                return
            }
            handle.post(loop.handle)
            started.post(.success(server.port))
            loop.run()
            server.stop()
        }.start()
        switch started.wait()! {
        case .success(let p):
            self.port = p
            self.loop = handle.wait()!
        case .failure(let e):
            throw e
        }
    }

    /// Stops accepting and closes every connection.
    public func stop() { loop.stop() }

    private final class Answerer: FrameConnectionDelegate {
        let onFrame: @Sendable (PeerIdentity, ProtocolFrame) -> ProtocolFrame?
        init(onFrame: @escaping @Sendable (PeerIdentity, ProtocolFrame) -> ProtocolFrame?) { self.onFrame = onFrame }
        func connectionOpened(_ c: FrameConnection) {}
        func connection(_ c: FrameConnection, received frame: ProtocolFrame) {
            if let peer = c.peer, let answer = onFrame(peer, frame) { c.send(answer) }
        }
        func connectionClosed(_ c: FrameConnection, reason: String) {}
    }
}

/// A one-shot handoff of a value between threads (Node's `Mailbox` is the many-message queue).
public final class Handoff<T: Sendable>: Sendable {
    private let value = Mutex<T?>(nil)
    private let semaphore = DispatchSemaphore(value: 0)
    public init() {}
    public func post(_ v: T) {
        value.withLock { $0 = v }
        semaphore.signal()
    }
    /// Waits for the value (nil when `timeout` passes first).
    public func wait(timeout: DispatchTime = .distantFuture) -> T? {
        guard semaphore.wait(timeout: timeout) == .success else { return nil }
        return value.withLock { $0 }
    }
}
