import Foundation
import Synchronization
import Wire

/// Limits of a TLS endpoint: every wait and every buffer is bounded.
public struct TLSLimits: Sendable {
    public var handshakeTimeout: Duration = .seconds(5)
    public var idleTimeout: Duration = .seconds(120)
    public var maxFrameSize: Int = (1 << 20) + (64 << 10)
    public var maxConnections: Int = 2_000
    /// Ciphertext waiting for a slow reader before the connection is dropped (back-pressure).
    public var maxBufferedBytes: Int = 4 << 20
    public init() {}
}

/// A TLS 1.3 listener on the event loop: accepts on `host:port`, refuses every peer whose
/// certificate, CA, validity, revocation or role is wrong (a TLS alert, logged with the reason),
/// and hands each verified peer's frames to `onFrame`, whose answer (if any) goes back.
public final class TLSListener: Sendable {
    public let port: UInt16
    private let loop: LoopBox
    private let counters = Mutex((accepted: 0, refused: 0))

    /// Holds the loop for other threads: they only call its thread-safe `execute`/`stop`.
    private final class LoopBox: @unchecked Sendable {
        // EventLoop's state is confined to its thread; from here only execute/stop are used,
        // which go through its Mutex-guarded inbox and eventfd.
        let loop: EventLoop
        init(_ loop: EventLoop) { self.loop = loop }
    }

    public init(context: TLSContext, host: String = "127.0.0.1", port: UInt16 = 0, limits: TLSLimits = TLSLimits(),
                log: @escaping @Sendable (String) -> Void = { _ in },
                onFrame: @escaping @Sendable (PeerIdentity, ProtocolFrame) -> ProtocolFrame?) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError.system("socket", errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr: sockaddr_in
        do { addr = try SocketAddress.ipv4(host, port) } catch {
            close(fd)
            throw error
        }
        let bound = SocketAddress.withSockaddr(&addr) { bind(fd, $0, $1) }
        guard bound == 0, listen(fd, 512) == 0 else {
            let e = errno
            close(fd)
            throw SocketError.system("bind/listen \(host):\(port)", e)
        }
        var actual = sockaddr_in()
        _ = SocketAddress.withSockaddr(&actual) { address, size in
            var len = size
            return getsockname(fd, address, &len)
        }
        self.port = UInt16(bigEndian: actual.sin_port)
        let loop = try EventLoop()
        self.loop = LoopBox(loop)
        let started = Handoff<Bool>()
        let box = self.loop
        Thread {
            let acceptor = Acceptor(fd: fd, loop: box.loop, context: context, limits: limits, log: log, onFrame: onFrame)
            box.loop.register(acceptor, writable: false)
            started.post(true)
            box.loop.run()
            acceptor.shutdown()
        }.start()
        _ = started.wait()
    }

    /// Stops accepting and closes every connection.
    public func stop() { loop.loop.stop() }
}

/// A one-shot handoff of a value between threads (Node's `Mailbox` is the many-message queue).
final class Handoff<T: Sendable>: Sendable {
    private let value = Mutex<T?>(nil)
    private let semaphore = DispatchSemaphore(value: 0)
    func post(_ v: T) {
        value.withLock { $0 = v }
        semaphore.signal()
    }
    func wait() -> T? {
        semaphore.wait()
        return value.withLock { $0 }
    }
}

/// Accepts connections on the listening socket (on the loop's thread).
private final class Acceptor: EventHandler {
    let fd: Int32
    unowned let loop: EventLoop
    /// Replaced when the CRL file changes; connections keep the context they started with.
    var context: TLSContext
    let limits: TLSLimits
    let log: @Sendable (String) -> Void
    let onFrame: @Sendable (PeerIdentity, ProtocolFrame) -> ProtocolFrame?
    var connections: [Int32: TLSConnection] = [:]

    init(fd: Int32, loop: EventLoop, context: TLSContext, limits: TLSLimits, log: @escaping @Sendable (String) -> Void,
         onFrame: @escaping @Sendable (PeerIdentity, ProtocolFrame) -> ProtocolFrame?) {
        self.fd = fd
        self.loop = loop
        self.context = context
        self.limits = limits
        self.log = log
        self.onFrame = onFrame
        watchCRL()
    }

    /// Re-reads the CRL once a second when its file changed, before the next handshake uses it.
    private func watchCRL() {
        loop.schedule(after: 1_000_000_000) { [weak self] in
            guard let self else { return }
            if let crl = self.context.configuration.crlFile,
               let modified = (try? FileManager.default.attributesOfItem(atPath: crl)[.modificationDate]) as? Date,
               modified != self.context.crlModified {
                do {
                    self.context = try TLSContext(self.context.configuration, side: .server)
                    self.log("CRL \(crl) changed: reloaded")
                } catch {
                    self.log("CRL \(crl) changed but cannot be loaded, keeping the previous one: \(error)")
                }
            }
            self.watchCRL()
        }
    }

    func readable() {
        while true {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
            guard connections.count < limits.maxConnections else {
                log("refused connection: \(limits.maxConnections) connections open")
                close(client)
                continue
            }
            do {
                let session = try TLSSession(context: context, side: .server)
                let c = TLSConnection(fd: client, session: session, acceptor: self)
                connections[client] = c
                loop.register(c, writable: false)
                c.start()
            } catch {
                log("cannot start TLS for a connection: \(error)")
                close(client)
            }
        }
    }

    func writable() {}

    func closed(_ c: TLSConnection) { connections[c.fd] = nil }

    func shutdown() {
        for c in connections.values { c.close(reason: "listener stopped") }
        close(fd)
    }
}

/// One server-side connection: handshake with a deadline, then frames in, answers out.
private final class TLSConnection: EventHandler {
    let fd: Int32
    let session: TLSSession
    unowned let acceptor: Acceptor
    private var decoder: FrameDecoder
    private var outbound: [UInt8] = []
    private var handshakeTimer: UInt64?
    private var idleTimer: UInt64?
    private var isClosed = false
    private var readingPaused = false
    private var waitingToWrite = false

    init(fd: Int32, session: TLSSession, acceptor: Acceptor) {
        self.fd = fd
        self.session = session
        self.acceptor = acceptor
        decoder = FrameDecoder(maxPayloadSize: acceptor.limits.maxFrameSize)
    }

    private var loop: EventLoop { acceptor.loop }

    func start() {
        handshakeTimer = loop.schedule(after: UInt64(acceptor.limits.handshakeTimeout.components.seconds) * 1_000_000_000) { [weak self] in
            self?.close(reason: "handshake timed out")
        }
    }

    func readable() {
        guard !isClosed else { return }
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while !isClosed && !readingPaused {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return close(reason: "peer closed the connection") }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { return }
                return close(reason: "read failed: \(String(cString: strerror(errno)))")
            }
            var chunk = buffer[0..<n]
            while !chunk.isEmpty, !isClosed {
                let taken = session.receiveCiphertext(chunk)
                chunk = chunk.dropFirst(taken)
                process()
            }
        }
    }

    func writable() { flush() }

    private func process() {
        if !session.isHandshakeComplete {
            do {
                guard try session.handshake() else { return flush() }
            } catch {
                flush()  // the alert
                return close(reason: "refused: \(error)")
            }
            if let t = handshakeTimer { loop.cancel(timer: t) }
            guard let peer = session.peer else { return close(reason: "refused: no identity in the certificate") }
            acceptor.log("accepted \(peer)")
            touch()
        }
        do {
            let plain = try session.readPlaintext()
            guard !plain.isEmpty else { return flush() }
            touch()
            for payload in try decoder.feed(plain) {
                let frame = try ProtocolFrame.decode(payload: payload)
                if let peer = session.peer, let answer = acceptor.onFrame(peer, frame) {
                    try session.writePlaintext(try answer.encode(maxPayloadSize: acceptor.limits.maxFrameSize))
                }
            }
            flush()
        } catch let e as WireError {
            let code: ProtocolFrame.ErrorCode = if case .frameTooLarge = e { .tooLarge } else { .malformed }
            if let bytes = try? ProtocolFrame.error(code, "\(e)").encode(maxPayloadSize: acceptor.limits.maxFrameSize) {
                try? session.writePlaintext(bytes)
            }
            session.close()
            flush()
            close(reason: "frame refused: \(e)")
        } catch {
            flush()
            close(reason: "\(error)")
        }
    }

    private func touch() {
        if let t = idleTimer { loop.cancel(timer: t) }
        idleTimer = loop.schedule(after: UInt64(acceptor.limits.idleTimeout.components.seconds) * 1_000_000_000) { [weak self] in
            self?.close(reason: "idle timeout")
        }
    }

    private func flush() {
        guard !isClosed else { return }
        outbound += session.takeCiphertext()
        while !outbound.isEmpty {
            let n = outbound.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { break }
                return close(reason: "write failed: \(String(cString: strerror(errno)))")
            }
            outbound.removeFirst(n)
        }
        if outbound.count > acceptor.limits.maxBufferedBytes { return close(reason: "peer does not read its answers") }
        // Back-pressure: while a quarter of the limit waits for the peer, read nothing more from it.
        let pause = outbound.count > acceptor.limits.maxBufferedBytes / 4
        if pause != readingPaused || !outbound.isEmpty != waitingToWrite {
            readingPaused = pause
            waitingToWrite = !outbound.isEmpty
            loop.update(self, readable: !pause, writable: waitingToWrite)
        }
    }

    func close(reason: String) {
        guard !isClosed else { return }
        isClosed = true
        if let t = handshakeTimer { loop.cancel(timer: t) }
        if let t = idleTimer { loop.cancel(timer: t) }
        acceptor.log("closed \(session.peer.map { "\($0)" } ?? "unverified peer"): \(reason)")
        loop.unregister(self)
        Glibc.close(fd)
        acceptor.closed(self)
    }
}
