import Foundation
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

/// A TLS 1.3 listening socket on an event loop: refuses every peer whose certificate, CA,
/// validity, revocation or role is wrong (a TLS alert, logged with the reason), and gives each
/// verified connection to `accept`, which returns its delegate (nil: refuse it). Re-reads the CRL
/// once a second when its file changed, before the next handshake uses it. Confined to the loop.
public final class TLSServer: EventHandler {
    let fd: Int32
    public let port: UInt16
    private unowned let loop: EventLoop
    /// Replaced when the CRL file changes; connections keep the context they started with.
    private var context: TLSContext
    private let limits: TLSLimits
    private let log: (String) -> Void
    private let accept: (FrameConnection) -> FrameConnectionDelegate?
    private let splitter: FrameConnection.Splitter?
    private var connections: [ObjectIdentifier: FrameConnection] = [:]
    private var crlTimer: UInt64?
    private var stopped = false

    public init(loop: EventLoop, context: TLSContext, host: String = "127.0.0.1", port: UInt16 = 0,
                limits: TLSLimits = TLSLimits(), splitter: FrameConnection.Splitter? = nil, log: @escaping (String) -> Void = { _ in },
                accept: @escaping (FrameConnection) -> FrameConnectionDelegate?) throws {
        self.splitter = splitter
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
        self.fd = fd
        self.port = UInt16(bigEndian: actual.sin_port)
        self.loop = loop
        self.context = context
        self.limits = limits
        self.log = log
        self.accept = accept
        loop.register(self, writable: false)
        watchCRL()
    }

    private func watchCRL() {
        crlTimer = loop.schedule(after: 1_000_000_000) { [weak self] in
            guard let self, !self.stopped else { return }
            if let crl = self.context.configuration.crlFile,
               let modified = TLSContext.modificationTime(crl), modified != self.context.crlModified {
                do {
                    self.context = try TLSContext(self.context.configuration, side: .server)
                    // Peers verified against the old CRL must verify again: every connection is
                    // closed and its peer reconnects (a revoked one is then refused).
                    let open = Array(self.connections.values)
                    self.log("CRL \(crl) changed: reloaded; closing \(open.count) connections so that every peer is verified again")
                    for c in open { c.close(reason: "the CRL changed") }
                } catch {
                    self.log("CRL \(crl) changed but cannot be loaded, keeping the previous one: \(error)")
                }
            }
            self.watchCRL()
        }
    }

    public var connectionCount: Int { connections.count }

    func readable() {
        while !stopped {
            let client = Glibc.accept(fd, nil, nil)
            guard client >= 0 else {
                if errno == EMFILE || errno == ENFILE { pauseAccepting() }
                return
            }
            _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            var one: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            guard connections.count < limits.maxConnections else {
                log("refused connection: \(limits.maxConnections) connections open")
                Glibc.close(client)
                continue
            }
            do {
                let session = try TLSSession(context: context, side: .server)
                let c = FrameConnection(fd: client, session: session, loop: loop, limits: limits, connecting: false, splitter: splitter, log: log)
                c.delegate = AcceptGate(server: self)
                c.onClose = { [weak self] c in self?.connections[ObjectIdentifier(c)] = nil }
                connections[ObjectIdentifier(c)] = c
                loop.register(c, writable: false)
                c.startHandshakeTimer()
            } catch {
                log("cannot start TLS for a connection: \(error)")
                Glibc.close(client)
            }
        }
    }

    func writable() {}

    /// Out of descriptors: the pending connection would keep the socket readable and the loop
    /// spinning, so stop watching it for 100 ms.
    private func pauseAccepting() {
        log("cannot accept: out of file descriptors (\(connections.count) connections open); pausing 100 ms")
        loop.unregister(self)
        loop.schedule(after: 100_000_000) { [weak self] in
            guard let self, !self.stopped else { return }
            self.loop.register(self, writable: false)
        }
    }

    /// Holds a connection until its handshake ends, then hands it to `accept`'s delegate.
    private final class AcceptGate: FrameConnectionDelegate {
        weak var server: TLSServer?
        init(server: TLSServer) { self.server = server }
        func connectionOpened(_ c: FrameConnection) {
            guard let server, let peer = c.peer else { return c.close(reason: "no server") }
            server.log("accepted \(peer)")
            guard let delegate = server.accept(c) else {
                return c.refuse(.unauthorised, "\(peer.role.rawValue) certificates are not served here")
            }
            c.delegate = delegate
            delegate.connectionOpened(c)
        }
        func connection(_ c: FrameConnection, received frame: ProtocolFrame) {}
        func connectionClosed(_ c: FrameConnection, reason: String) {}
    }

    /// Stops accepting and closes every connection.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        if let t = crlTimer { loop.cancel(timer: t) }
        loop.unregister(self)
        Glibc.close(fd)
        for c in Array(connections.values) { c.close(reason: "listener stopped") }
    }
}
