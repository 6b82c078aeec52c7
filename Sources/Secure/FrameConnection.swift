import Foundation
import Wire

/// What a `FrameConnection` tells its owner, on the loop's thread.
public protocol FrameConnectionDelegate: AnyObject {
    /// The TLS handshake completed and the peer's certificate, CA, validity, revocation and role
    /// were verified. (A client must still exchange a frame before it counts its link as up: under
    /// TLS 1.3 the server refuses a client certificate only after the client's handshake ends.)
    func connectionOpened(_ connection: FrameConnection)
    func connection(_ connection: FrameConnection, received frame: ProtocolFrame)
    /// The buffered output fell below a quarter of the limit again after `send` reported it high.
    func connectionDrained(_ connection: FrameConnection)
    /// The connection is gone; called exactly once, also when it never opened.
    func connectionClosed(_ connection: FrameConnection, reason: String)
    /// A whole packet of another protocol (a connection with a `Splitter`).
    func connection(_ connection: FrameConnection, receivedPacket bytes: ArraySlice<UInt8>)
}

extension FrameConnectionDelegate {
    public func connectionDrained(_ connection: FrameConnection) {}
    public func connection(_ connection: FrameConnection, receivedPacket bytes: ArraySlice<UInt8>) {}
}

/// A delegate of a connection carrying another protocol's packets (MQTT): whole packets, as cut
/// by the connection's `Splitter`; it gets no Florian frames.
public protocol PacketConnectionDelegate: FrameConnectionDelegate {}

extension PacketConnectionDelegate {
    public func connection(_ connection: FrameConnection, received frame: ProtocolFrame) {}
}

/// One TLS 1.3 connection carrying Florian frames, on an event loop: non-blocking connect (client
/// side) or accepted socket (server side), handshake with a deadline, idle timeout, bounded
/// buffers both ways. Frames queued by `send` in one loop iteration leave in one TLS write.
/// Confined to its loop's thread.
public final class FrameConnection: EventHandler {
    let fd: Int32
    private let session: TLSSession
    private unowned let loop: EventLoop
    private let limits: TLSLimits
    private let log: (String) -> Void
    /// Held until the connection closes (then released, which breaks an owner's cycle).
    public var delegate: FrameConnectionDelegate?
    /// Set by the server once the handshake ended, for its own bookkeeping.
    var onClose: ((FrameConnection) -> Void)?
    private var decoder: FrameDecoder
    /// Cuts another protocol's byte stream into packets: the length of the first whole packet at
    /// the start of the bytes, nil when more are needed; throws on a malformed or oversize one
    /// (the connection then closes without an answer). nil: Florian frames.
    public typealias Splitter = @Sendable (ArraySlice<UInt8>) throws -> Int?
    let splitter: Splitter?
    private var packets: [UInt8] = []
    private var packetsStart = 0
    /// Plaintext frames queued in this iteration, written to TLS at its end.
    private var plaintext: [UInt8] = []
    private var flushScheduled = false
    private var outbound: [UInt8] = []
    private var outboundStart = 0
    private var handshakeTimer: UInt64?
    private var idleTimer: UInt64?
    private var lastActivity: UInt64 = 0
    private var connecting: Bool
    private var readingPaused = false
    private var held = false
    private var waitingToWrite = false
    private var reportedHigh = false
    public private(set) var isClosed = false
    /// The verified peer, once `connectionOpened` was called.
    public var peer: PeerIdentity? { session.isHandshakeComplete ? session.peer : nil }
    /// Free for the owner (e.g. the node id this connection belongs to).
    public var tag: UInt64 = 0

    init(fd: Int32, session: TLSSession, loop: EventLoop, limits: TLSLimits, connecting: Bool, splitter: Splitter? = nil,
         log: @escaping (String) -> Void) {
        self.splitter = splitter
        self.fd = fd
        self.session = session
        self.loop = loop
        self.limits = limits
        self.connecting = connecting
        self.log = log
        decoder = FrameDecoder(maxPayloadSize: limits.maxFrameSize)
    }

    /// Opens a client connection to `host:port` (IPv4) on `loop`. Failures (refused, unreachable,
    /// handshake refused, timeout) arrive as `connectionClosed`.
    public static func connect(host: String, port: UInt16, context: TLSContext, loop: EventLoop,
                               limits: TLSLimits = TLSLimits(), delegate: FrameConnectionDelegate,
                               log: @escaping (String) -> Void = { _ in }) throws -> FrameConnection {
        var addr = try SocketAddress.ipv4(host, port)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError.system("socket", errno) }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = SocketAddress.withSockaddr(&addr) { Glibc.connect(fd, $0, $1) }
        if rc != 0 && errno != EINPROGRESS {
            let e = errno
            Glibc.close(fd)
            throw SocketError.system("connect \(host):\(port)", e)
        }
        let session: TLSSession
        do { session = try TLSSession(context: context, side: .client) } catch {
            Glibc.close(fd)
            throw error
        }
        let c = FrameConnection(fd: fd, session: session, loop: loop, limits: limits, connecting: true, log: log)
        c.delegate = delegate
        // Writable = connected; the first write-out afterwards drops the interest again.
        c.waitingToWrite = true
        loop.register(c, writable: true)
        c.startHandshakeTimer()
        return c
    }

    func startHandshakeTimer() {
        handshakeTimer = loop.schedule(after: EventLoop.nanoseconds(limits.handshakeTimeout)) { [weak self] in
            self?.handshakeTimer = nil
            self?.close(reason: "handshake timed out")
        }
    }

    // MARK: - Sending

    /// Queues `frame`; it leaves at the end of this loop iteration. Returns false when the
    /// connection is closed or the frame is over the limit (then the connection is closed: a
    /// peer cannot be sent a frame it would refuse). When buffered output passes a quarter of the
    /// limit, `isCongested` turns true until `connectionDrained`.
    @discardableResult
    public func send(_ frame: ProtocolFrame) -> Bool {
        guard !isClosed else { return false }
        guard frame.body.count + 2 <= limits.maxFrameSize else {
            close(reason: "refusing to send a frame of \(frame.body.count + 2) bytes (limit \(limits.maxFrameSize))")
            return false
        }
        let size = UInt32(frame.body.count + 2)
        plaintext.append(UInt8(size >> 24))
        plaintext.append(UInt8(size >> 16 & 0xff))
        plaintext.append(UInt8(size >> 8 & 0xff))
        plaintext.append(UInt8(size & 0xff))
        plaintext.append(ProtocolFrame.version)
        plaintext.append(frame.kind)
        plaintext.append(contentsOf: frame.body)
        queued()
        return true
    }

    /// After plaintext was queued: notes a high buffer and writes at the end of this iteration.
    private func queued() {
        if bufferedBytes > limits.maxBufferedBytes / 4 { reportedHigh = true }
        if !flushScheduled {
            flushScheduled = true
            loop.atEndOfIteration { [weak self] in self?.flush() }
        }
    }

    /// Queues another protocol's packet (bytes as they go on the wire), like `send`.
    @discardableResult
    public func sendPacket(_ bytes: [UInt8]) -> Bool {
        guard !isClosed else { return false }
        plaintext.append(contentsOf: bytes)
        queued()
        return true
    }

    /// Stops (or resumes) taking packets from the peer — e.g. while its organisation is over its
    /// rate: what it sends waits in the socket buffers (TCP back-pressure), nothing is dropped.
    public func hold(_ on: Bool) {
        guard on != held, !isClosed else { return }
        held = on
        loop.update(self, readable: !on && !readingPaused, writable: waitingToWrite)
        if !on {
            deliverFrames()
            readable()
        }
    }

    /// Bytes queued and not yet taken by the kernel.
    public var bufferedBytes: Int { plaintext.count + outbound.count - outboundStart }

    /// True while more than a quarter of the buffer limit waits for the peer.
    public var isCongested: Bool { bufferedBytes > limits.maxBufferedBytes / 4 }

    // MARK: - Events

    func readable() {
        guard !isClosed, !connecting else {
            if connecting { writable() }
            return
        }
        while !isClosed && !readingPaused && !held {
            var n = 0, error: Int32 = 0
            let buffer = [UInt8](unsafeUninitializedCapacity: 16 * 1024) { raw, count in
                n = recv(fd, raw.baseAddress, raw.count, 0)
                error = errno
                count = Swift.max(0, n)
            }
            if n == 0 { return close(reason: session.isHandshakeComplete ? "peer closed the connection" : "peer closed the connection during the handshake") }
            if n < 0 {
                if error == EAGAIN || error == EWOULDBLOCK || error == EINTR { return }
                return close(reason: "read failed: \(String(cString: strerror(error)))")
            }
            var chunk = buffer[0..<n]
            while !chunk.isEmpty, !isClosed {
                let taken = session.receiveCiphertext(chunk)
                chunk = chunk.dropFirst(taken)
                process()
            }
            // Encrypt and write now when answers pile up, so back-pressure stops the reading.
            if isCongested { flush() }
            if n < 16 * 1024 { break }
        }
        if !isClosed { flush() }
    }

    func writable() {
        if connecting {
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            guard err == 0 else { return close(reason: "connect failed: \(String(cString: strerror(err)))") }
            connecting = false
            process()  // the ClientHello
            flush()
            return
        }
        flush()
    }

    private func process() {
        if !session.isHandshakeComplete {
            do {
                guard try session.handshake() else { return }
            } catch {
                writeOut()  // the alert
                return close(reason: "refused: \(error)")
            }
            if let t = handshakeTimer { loop.cancel(timer: t) }
            handshakeTimer = nil
            guard session.peer != nil else { return close(reason: "refused: no identity in the certificate") }
            touch()
            delegate?.connectionOpened(self)
            if isClosed { return }
        }
        do {
            let plain = try session.readPlaintext()
            if !plain.isEmpty {
                touch()
                if splitter != nil { packets.append(contentsOf: plain) } else { decoder.append(plain) }
            }
        } catch {
            return close(reason: "\(error)")
        }
        deliverFrames()
    }

    /// Hands complete frames to the delegate while the answers waiting for the peer stay under a
    /// quarter of the limit. A peer that pipelines requests faster than it reads the answers waits
    /// in its own socket buffer, not in ours: the rest stays in the decoder (at most one read's
    /// worth, as reading pauses too) until the output drains.
    private func deliverFrames() {
        if let splitter { return deliverPackets(splitter) }
        do {
            while !isClosed, !isCongested, let payload = try decoder.nextFrame() {
                delegate?.connection(self, received: try ProtocolFrame.decode(payload: payload))
            }
        } catch let e as WireError {
            let code: ProtocolFrame.ErrorCode = if case .frameTooLarge = e { .tooLarge } else { .malformed }
            refuse(code, "\(e)")
        } catch {
            close(reason: "\(error)")
        }
    }

    /// Bytes have arrived that do not yet make a whole packet (with a splitter only): the
    /// protocol above may close connections that leave one unfinished too long (slow loris).
    public var hasIncompletePacket: Bool {
        // Not while we stopped reading (held, or the peer not taking our bytes): then the wait is ours.
        guard let split = splitter, packetsStart < packets.count, !held, !readingPaused, !isCongested else { return false }
        return (try? split(packets[packetsStart...])) == .some(nil)
    }

    private func deliverPackets(_ split: Splitter) {
        do {
            while !isClosed, !isCongested, !held, let n = try split(packets[packetsStart...]) {
                let packet = packets[packetsStart..<(packetsStart + n)]
                packetsStart += n
                delegate?.connection(self, receivedPacket: packet)
            }
        } catch {
            return close(reason: "malformed packet: \(error)")
        }
        Self.compact(&packets, &packetsStart, threshold: 1 << 16)
    }

    /// Drops the consumed prefix `..<start` of `buffer` once it is all consumed or above `threshold`.
    private static func compact(_ buffer: inout [UInt8], _ start: inout Int, threshold: Int) {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.count <= threshold)
            start = 0
        } else if start > threshold {
            buffer.removeFirst(start)
            start = 0
        }
    }

    /// Sends an error frame and closes: the answer to a peer that broke the protocol.
    public func refuse(_ code: ProtocolFrame.ErrorCode, _ reason: String) {
        guard !isClosed else { return }
        plaintext.removeAll()
        if let bytes = try? ProtocolFrame.error(code, reason).encode(maxPayloadSize: limits.maxFrameSize) {
            try? session.writePlaintext(bytes)
        }
        session.close()
        writeOut()
        close(reason: "frame refused: \(reason)")
    }

    /// Restarts the idle deadline (at most one timer reset per second of activity).
    private func touch() {
        let now = EventLoop.now()
        guard idleTimer == nil || now - lastActivity > 1_000_000_000 else { return }
        lastActivity = now
        if let t = idleTimer { loop.cancel(timer: t) }
        idleTimer = loop.schedule(after: EventLoop.nanoseconds(limits.idleTimeout)) { [weak self] in
            self?.idleTimer = nil
            self?.close(reason: "idle timeout")
        }
    }

    /// Encrypts what `send` queued and writes as much as the socket takes.
    func flush() {
        flushScheduled = false
        guard !isClosed, !connecting else { return }
        if !plaintext.isEmpty && session.isHandshakeComplete {
            let bytes = plaintext
            plaintext.removeAll(keepingCapacity: true)
            do { try session.writePlaintext(bytes) } catch { return close(reason: "\(error)") }
        }
        writeOut()
    }

    private func writeOut() {
        guard !isClosed else { return }
        let fresh = session.takeCiphertext()
        if !fresh.isEmpty {
            if outboundStart == outbound.count {
                outbound = fresh
                outboundStart = 0
            } else {
                outbound += fresh
            }
        }
        while outboundStart < outbound.count {
            let n = outbound.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + outboundStart, raw.count - outboundStart, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { break }
                return close(reason: "write failed: \(String(cString: strerror(errno)))")
            }
            outboundStart += n
        }
        Self.compact(&outbound, &outboundStart, threshold: 1 << 20)
        let buffered = bufferedBytes
        if buffered > limits.maxBufferedBytes { return close(reason: "peer does not read (\(buffered) bytes waiting)") }
        // Back-pressure: while a quarter of the limit waits for the peer, read nothing more from it.
        let pause = buffered > limits.maxBufferedBytes / 4
        let wantWrite = outboundStart < outbound.count
        if pause != readingPaused || wantWrite != waitingToWrite {
            readingPaused = pause
            waitingToWrite = wantWrite
            loop.update(self, readable: !pause && !held, writable: wantWrite)
        }
        if pause { reportedHigh = true }
        if reportedHigh && !pause {
            reportedHigh = false
            deliverFrames()
            if !isClosed { delegate?.connectionDrained(self) }
        }
    }

    /// Closes the socket (after trying to write what is buffered) and tells the delegate.
    public func close(reason: String) {
        guard !isClosed else { return }
        if session.isHandshakeComplete && !connecting {
            if !plaintext.isEmpty { try? session.writePlaintext(plaintext) }
            plaintext.removeAll()
            session.close()
            let rest = session.takeCiphertext()
            outbound += rest
            if outboundStart < outbound.count {
                _ = outbound.withUnsafeBytes { raw in
                    Glibc.send(fd, raw.baseAddress! + outboundStart, raw.count - outboundStart, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                }
            }
        }
        isClosed = true
        if let t = handshakeTimer { loop.cancel(timer: t) }
        if let t = idleTimer { loop.cancel(timer: t) }
        log("closed \(session.peer.map { "\($0)" } ?? "unverified peer"): \(reason)")
        loop.unregister(self)
        Glibc.close(fd)
        onClose?(self)
        let d = delegate
        delegate = nil
        d?.connectionClosed(self, reason: reason)
    }
}
