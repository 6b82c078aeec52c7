internal import COpenSSL

/// Why a TLS session ended or was refused.
public enum TLSSessionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The handshake failed; `reason` names the certificate problem or protocol error.
    case handshakeFailed(reason: String)
    /// The peer closed the session (close_notify) or sent a fatal alert after the handshake.
    case closed(reason: String)

    public var description: String {
        switch self {
        case .handshakeFailed(let r): return "TLS handshake refused: \(r)"
        case .closed(let r): return "TLS session closed: \(r)"
        }
    }
}

/// One TLS 1.3 session on memory BIOs: the caller moves ciphertext between it and the socket
/// (or, in tests, another session), so OpenSSL never touches a file descriptor and the same code
/// runs on the event loop and in memory. Confined to one thread.
public final class TLSSession {
    private let ssl: OpaquePointer
    /// Our end of the BIO pair: ciphertext from the peer goes in, ciphertext for the peer comes out.
    private let network: OpaquePointer
    public let context: TLSContext
    public private(set) var isHandshakeComplete = false
    /// Ciphertext drained from the BIO pair while a large write was in progress.
    private var drained: [UInt8] = []
    /// The verified peer, once the handshake is complete.
    public private(set) var peer: PeerIdentity?

    public init(context: TLSContext, side: TLSContext.Side) throws {
        ERR_clear_error()
        guard let ssl = SSL_new(context.handle) else { throw TLSSetupError.openSSL(.drain("SSL_new")) }
        var internalBio: OpaquePointer?, networkBio: OpaquePointer?
        guard BIO_new_bio_pair(&internalBio, 64 * 1024, &networkBio, 64 * 1024) == 1, let internalBio, let networkBio else {
            SSL_free(ssl)
            throw TLSSetupError.openSSL(.drain("BIO_new_bio_pair"))
        }
        SSL_set_bio(ssl, internalBio, internalBio)
        // A write retried after WANT_WRITE continues from a moved buffer (we resubmit a slice).
        _ = SSL_ctrl(ssl, SSL_CTRL_MODE, Int(SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE), nil)
        if side == .server { SSL_set_accept_state(ssl) } else { SSL_set_connect_state(ssl) }
        self.ssl = ssl
        self.network = networkBio
        self.context = context
    }

    deinit {
        SSL_free(ssl)
        BIO_free(network)
    }

    /// Feeds ciphertext received from the peer; returns how many bytes were taken (the pair's
    /// buffer is bounded: feed the rest after progress).
    public func receiveCiphertext(_ bytes: ArraySlice<UInt8>) -> Int {
        guard !bytes.isEmpty else { return 0 }
        let n = bytes.withUnsafeBytes { BIO_write(network, $0.baseAddress, Int32($0.count)) }
        return max(0, Int(n))
    }

    /// Ciphertext waiting to be sent to the peer.
    public func takeCiphertext() -> [UInt8] {
        drainNetwork()
        defer { drained.removeAll(keepingCapacity: true) }
        return drained
    }

    private func drainNetwork() {
        let pending = Int(BIO_ctrl_pending(network))
        guard pending > 0 else { return }
        var out = [UInt8](repeating: 0, count: pending)
        let n = out.withUnsafeMutableBytes { BIO_read(network, $0.baseAddress, Int32(pending)) }
        drained.append(contentsOf: out.prefix(max(0, Int(n))))
    }

    /// Advances the handshake; true once complete. Throws when it failed (the alert for the peer
    /// is then in `takeCiphertext()`).
    @discardableResult
    public func handshake() throws(TLSSessionError) -> Bool {
        if isHandshakeComplete { return true }
        ERR_clear_error()
        let r = SSL_do_handshake(ssl)
        if r == 1 {
            isHandshakeComplete = true
            if let cert = SSL_get1_peer_certificate(ssl) {
                peer = TLSContext.identity(of: cert)
                X509_free(cert)
            }
            return true
        }
        switch SSL_get_error(ssl, r) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return false
        default:
            throw .handshakeFailed(reason: failureReason())
        }
    }

    /// Decrypted application bytes available now (empty when none). Throws when the peer closed
    /// or sent a fatal alert — under TLS 1.3 this is where a client learns that the server
    /// refused its certificate.
    public func readPlaintext(max: Int = 64 * 1024) throws(TLSSessionError) -> [UInt8] {
        var out: [UInt8] = []
        while out.count < max {
            ERR_clear_error()
            var n: Int32 = 0
            // Uninitialised storage: no 16 KiB memset per read (this runs for every heartbeat).
            let chunk = [UInt8](unsafeUninitializedCapacity: 16 * 1024) { buffer, count in
                n = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
                count = Int(Swift.max(0, n))
            }
            if n > 0 {
                if out.isEmpty { out = chunk } else { out.append(contentsOf: chunk) }
                continue
            }
            switch SSL_get_error(ssl, n) {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                return out
            case SSL_ERROR_ZERO_RETURN:
                if out.isEmpty { throw .closed(reason: "peer closed the session") }
                return out
            default:
                throw .closed(reason: failureReason())
            }
        }
        return out
    }

    /// Encrypts all of `bytes` for the peer (the ciphertext then waits in `takeCiphertext()`; the
    /// caller bounds how much it lets pile up).
    public func writePlaintext(_ bytes: [UInt8]) throws(TLSSessionError) {
        var offset = 0
        while offset < bytes.count {
            ERR_clear_error()
            let n = bytes[offset...].withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32(min($0.count, 1 << 20))) }
            if n > 0 {
                offset += Int(n)
                continue
            }
            let e = SSL_get_error(ssl, n)
            guard e == SSL_ERROR_WANT_WRITE else { throw .closed(reason: failureReason()) }
            let before = drained.count
            drainNetwork()  // make room in the BIO pair and retry
            if drained.count == before { throw .closed(reason: "TLS write made no progress") }
        }
    }

    /// Sends close_notify.
    public func close() { _ = SSL_shutdown(ssl) }

    /// The certificate verdict when there is one, else OpenSSL's error queue.
    private func failureReason() -> String {
        let verify = SSL_get_verify_result(ssl)
        if verify != Int(X509_V_OK), let text = X509_verify_cert_error_string(verify) {
            let s = String(cString: text)
            return verify == Int(X509_V_ERR_APPLICATION_VERIFICATION) ? "peer's role is not accepted here (\(s))" : s
        }
        let e = OpenSSLError.drain("TLS")
        return e.details.isEmpty ? "protocol error" : e.details.joined(separator: "; ")
    }
}
