internal import COpenSSL
import Foundation

/// An OpenSSL private key (`EVP_PKEY`), owned and freed here. ECDSA P-256: supported by every
/// TLS 1.3 stack our partners use.
final class PrivateKey {
    let handle: OpaquePointer

    private init(handle: OpaquePointer) { self.handle = handle }
    deinit { EVP_PKEY_free(handle) }

    static func generate() throws -> PrivateKey {
        ERR_clear_error()
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else { throw OpenSSLError.drain("EVP_PKEY_CTX_new_from_name") }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_keygen_init(ctx) == 1, EVP_PKEY_CTX_set_group_name(ctx, "P-256") == 1 else {
            throw OpenSSLError.drain("EC key generation setup")
        }
        var key: OpaquePointer?
        guard EVP_PKEY_generate(ctx, &key) == 1, let key else { throw OpenSSLError.drain("EVP_PKEY_generate") }
        return PrivateKey(handle: key)
    }

    static func read(pem: [UInt8]) throws -> PrivateKey {
        ERR_clear_error()
        let key: OpaquePointer? = pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        guard let key else { throw OpenSSLError.drain("reading a private key") }
        return PrivateKey(handle: key)
    }

    /// PKCS#8 PEM, unencrypted (the file that holds it is 0600).
    func pem() throws -> [UInt8] {
        try Bio.collect("writing a private key") { PEM_write_bio_PrivateKey($0, handle, nil, nil, 0, nil, nil) }
    }
}

/// An X.509 certificate, owned and freed here.
final class Certificate {
    let handle: OpaquePointer

    init(handle: OpaquePointer) { self.handle = handle }
    deinit { X509_free(handle) }

    static func read(pem: [UInt8]) throws -> Certificate {
        ERR_clear_error()
        let cert: OpaquePointer? = pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_X509(bio, nil, nil, nil)
        }
        guard let cert else { throw OpenSSLError.drain("reading a certificate") }
        return Certificate(handle: cert)
    }

    func pem() throws -> [UInt8] {
        try Bio.collect("writing a certificate") { PEM_write_bio_X509($0, handle) }
    }

    /// The serial number, upper-case hex (as `openssl x509 -serial` prints it).
    var serialHex: String {
        guard let bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(handle), nil) else { return "" }
        defer { BN_free(bn) }
        guard let hex = BN_bn2hex(bn) else { return "" }
        defer { CRYPTO_free(hex, nil, 0) }
        return String(cString: hex)
    }
}

/// Collects what an OpenSSL PEM writer writes into a memory BIO.
enum Bio {
    static func collect(_ what: String, _ write: (OpaquePointer) -> Int32) throws -> [UInt8] {
        ERR_clear_error()
        guard let bio = BIO_new(BIO_s_mem()) else { throw OpenSSLError.drain(what) }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw OpenSSLError.drain(what) }
        let pending = Int(BIO_ctrl_pending(bio))
        var out = [UInt8](repeating: 0, count: pending)
        let n = out.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32(pending)) }
        guard n == pending else { throw OpenSSLError.drain(what) }
        return out
    }
}
