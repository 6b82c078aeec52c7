import Foundation
import Wire

/// A blocking TLS 1.3 client for tools and tests: connect, handshake, then exchange frames. The
/// connection counts as up only after `exchange` got an answer — under TLS 1.3 a refused client
/// certificate shows only on the first read.
public final class TLSClient {
    private let fd: Int32
    private let session: TLSSession
    private var decoder: FrameDecoder
    public var peer: PeerIdentity? { session.peer }

    public enum Failure: Error, CustomStringConvertible {
        case refused(String)
        case timedOut
        case closed
        case peerError(code: UInt16, reason: String)
        public var description: String {
            switch self {
            case .refused(let r): return "refused: \(r)"
            case .timedOut: return "timed out"
            case .closed: return "connection closed"
            case let .peerError(code, reason): return "peer error \(code): \(reason)"
            }
        }
    }

    public init(host: String, port: UInt16, context: TLSContext, timeout: Duration = .seconds(5),
                maxFrameSize: Int = (1 << 20) + (64 << 10)) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError.system("socket", errno) }
        var tv = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr: sockaddr_in
        do { addr = try SocketAddress.ipv4(host, port) } catch {
            Glibc.close(fd)
            throw error
        }
        let ok = SocketAddress.withSockaddr(&addr) { connect(fd, $0, $1) }
        guard ok == 0 else {
            let e = errno
            Glibc.close(fd)
            throw SocketError.system("connect \(host):\(port)", e)
        }
        self.fd = fd
        self.session = try TLSSession(context: context, side: .client)
        self.decoder = FrameDecoder(maxPayloadSize: maxFrameSize)
        do {
            while true {
                let done: Bool
                do { done = try session.handshake() } catch { throw Failure.refused("\(error)") }
                try sendPending()
                if done { break }
                try receiveSome()
            }
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    deinit { Glibc.close(fd) }

    /// Sends `frame` and waits for one answer frame (an error frame becomes `peerError`).
    public func exchange(_ frame: ProtocolFrame) throws -> ProtocolFrame {
        try session.writePlaintext(try frame.encode(maxPayloadSize: decoder.maxPayloadSize))
        try sendPending()
        while true {
            let plain: [UInt8]
            do { plain = try session.readPlaintext() } catch { throw Failure.refused("\(error)") }
            if let payload = try decoder.feed(plain).first {
                let answer = try ProtocolFrame.decode(payload: payload)
                if let info = answer.errorInfo { throw Failure.peerError(code: info.code, reason: info.reason) }
                return answer
            }
            try receiveSome()
        }
    }

    /// Sends raw bytes inside the TLS session (tests of malformed frames).
    public func sendRaw(_ bytes: [UInt8]) throws {
        try session.writePlaintext(bytes)
        try sendPending()
    }

    public func close() {
        session.close()
        try? sendPending()
        shutdown(fd, Int32(SHUT_RDWR))
    }

    private func sendPending() throws {
        var out = session.takeCiphertext()
        while !out.isEmpty {
            let n = out.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw n == 0 || errno == EAGAIN ? Failure.timedOut : Failure.closed }
            out.removeFirst(n)
        }
    }

    private func receiveSome() throws {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { throw Failure.closed }
        if n < 0 { throw errno == EAGAIN || errno == EWOULDBLOCK ? Failure.timedOut : Failure.closed }
        var chunk = buffer[0..<n]
        while !chunk.isEmpty {
            let taken = session.receiveCiphertext(chunk)
            chunk = chunk.dropFirst(taken)
            if taken == 0 { break }
        }
    }
}
