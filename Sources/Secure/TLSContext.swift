internal import COpenSSL
import Foundation

/// Who is on the other end of a connection, read from its verified certificate.
public struct PeerIdentity: Equatable, Sendable, CustomStringConvertible {
    public var role: Role
    public var organisation: String
    /// CN: the node, device, person or client id.
    public var name: String
    public var description: String { "\(role.rawValue) '\(name)' (\(organisation))" }
}

/// What a TLS endpoint is and whom it accepts.
public struct TLSConfiguration: Sendable {
    public var caFile: String
    public var certificateFile: String
    public var keyFile: String
    /// The CRL to check peers against; nil only for tests that say so.
    public var crlFile: String?
    /// Roles a peer's certificate must carry (OU); checked during the handshake, so a wrong role
    /// gets a TLS alert and never a byte of application data.
    public var acceptedRoles: Set<Role>

    public init(caFile: String, certificateFile: String, keyFile: String, crlFile: String?, acceptedRoles: Set<Role>) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.crlFile = crlFile
        self.acceptedRoles = acceptedRoles
    }

    /// The files of identity `name` in a `florian pki` directory.
    public static func fromPKI(directory: String, name: String, accepting roles: Set<Role>) -> TLSConfiguration {
        let d = URL(fileURLWithPath: directory)
        return TLSConfiguration(caFile: d.appendingPathComponent("ca.crt").path,
                                certificateFile: d.appendingPathComponent("\(name).crt").path,
                                keyFile: d.appendingPathComponent("\(name).key").path,
                                crlFile: d.appendingPathComponent("crl.pem").path, acceptedRoles: roles)
    }
}

public enum TLSSetupError: Error, CustomStringConvertible {
    case keyReadableByOthers(String)
    case openSSL(OpenSSLError)

    public var description: String {
        switch self {
        case .keyReadableByOthers(let p): return "refusing to start: private key \(p) is readable by group or others (chmod 600)"
        case .openSSL(let e): return "TLS setup: \(e)"
        }
    }
}

/// A configured `SSL_CTX`: TLS 1.3 only, both sides present and verify certificates against the
/// city CA and its CRL, and the peer's role is checked in the verify callback.
///
/// `@unchecked Sendable`: once built, the SSL_CTX is only read (OpenSSL makes concurrent use of a
/// configured context safe); a CRL change builds a new context instead of mutating this one.
public final class TLSContext: @unchecked Sendable {
    let handle: OpaquePointer
    public let configuration: TLSConfiguration
    /// The CRL file's modification time (ns since the epoch) when this context was built, to
    /// notice a new CRL.
    public let crlModified: Int?
    private let policy: Unmanaged<RolePolicy>
    private let tls12Only: Bool

    final class RolePolicy {
        let accepted: Set<Role>
        init(_ accepted: Set<Role>) { self.accepted = accepted }
    }

    public enum Side: Sendable { case server, client }

    public convenience init(_ configuration: TLSConfiguration, side: Side) throws {
        try self.init(configuration, side: side, tls12OnlyForTesting: false)
    }

    /// `tls12OnlyForTesting` builds the TLS 1.2-only peer of the rejection tests; nothing outside
    /// the module can ask for it.
    init(_ configuration: TLSConfiguration, side: Side, tls12OnlyForTesting: Bool) throws {
        self.tls12Only = tls12OnlyForTesting
        var info = stat()
        if stat(configuration.keyFile, &info) == 0, info.st_mode & 0o077 != 0 {
            throw TLSSetupError.keyReadableByOthers(configuration.keyFile)
        }
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(side == .server ? TLS_server_method() : TLS_client_method()) else {
            throw TLSSetupError.openSSL(.drain("SSL_CTX_new"))
        }
        handle = ctx
        self.configuration = configuration
        policy = Unmanaged.passRetained(RolePolicy(configuration.acceptedRoles))
        crlModified = configuration.crlFile.flatMap(Self.modificationTime)
        // Every stored property is set: if configuring throws, deinit frees the context and the
        // policy (freeing them here too was a double free, found by `florian node --check` on a
        // config whose CA file is missing).
        try configure(ctx, side: side)
    }

    /// A file's modification time in ns (one `stat`, cheap enough to poll every second).
    public static func modificationTime(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mtim.tv_sec * 1_000_000_000 + info.st_mtim.tv_nsec
    }

    deinit {
        SSL_CTX_free(handle)
        policy.release()
    }

    private func configure(_ ctx: OpaquePointer, side: Side) throws {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw TLSSetupError.openSSL(.drain(what)) } }
        if tls12Only {
            try check(COpenSSL_SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1
                      && COpenSSL_SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) == 1, "TLS 1.2 only")
        } else {
            try check(COpenSSL_SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1, "TLS 1.3 minimum")
        }
        try check(SSL_CTX_use_certificate_chain_file(ctx, configuration.certificateFile) == 1,
                  "loading certificate \(configuration.certificateFile)")
        try check(SSL_CTX_use_PrivateKey_file(ctx, configuration.keyFile, SSL_FILETYPE_PEM) == 1,
                  "loading key \(configuration.keyFile)")
        try check(SSL_CTX_check_private_key(ctx) == 1, "key does not match certificate")
        try check(SSL_CTX_load_verify_locations(ctx, configuration.caFile, nil) == 1, "loading CA \(configuration.caFile)")
        if let crlFile = configuration.crlFile {
            guard let data = FileManager.default.contents(atPath: crlFile) else {
                throw TLSSetupError.openSSL(OpenSSLError(operation: "reading CRL \(crlFile)", details: []))
            }
            let bytes = [UInt8](data)
            let crl: OpaquePointer? = bytes.withUnsafeBytes { raw in
                guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
                defer { BIO_free(bio) }
                return PEM_read_bio_X509_CRL(bio, nil, nil, nil)
            }
            guard let crl else { throw TLSSetupError.openSSL(.drain("parsing CRL \(crlFile)")) }
            defer { X509_CRL_free(crl) }
            let store = SSL_CTX_get_cert_store(ctx)
            try check(X509_STORE_add_crl(store, crl) == 1, "adding CRL")
            try check(X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK)) == 1, "CRL checking")
        }
        try check(SSL_CTX_set_ex_data(ctx, 0, policy.toOpaque()) == 1, "role policy")
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verifyPeer)
    }

    /// The identity in a certificate (nil when OU is no known role).
    static func identity(of cert: OpaquePointer) -> PeerIdentity? {
        let name = X509_get_subject_name(cert)
        func field(_ nid: Int32) -> String? {
            let k = X509_NAME_get_index_by_NID(name, nid, -1)
            guard k >= 0, let entry = X509_NAME_get_entry(name, k), let data = X509_NAME_ENTRY_get_data(entry),
                  let bytes = ASN1_STRING_get0_data(data) else { return nil }
            return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(ASN1_STRING_length(data))), as: UTF8.self)
        }
        guard let ou = field(NID_organizationalUnitName), let role = Role(rawValue: ou),
              let cn = field(NID_commonName) else { return nil }
        return PeerIdentity(role: role, organisation: field(NID_organizationName) ?? "", name: cn)
    }
}

/// The verify callback: OpenSSL's chain, validity and CRL verdict first; then, for the peer's own
/// certificate (depth 0), its role must be one the endpoint accepts.
private let verifyPeer: @convention(c) (Int32, OpaquePointer?) -> Int32 = { preverified, store in
    guard preverified == 1, let store else { return preverified }
    guard X509_STORE_CTX_get_error_depth(store) == 0 else { return 1 }
    guard let ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()),
          let ctx = SSL_get_SSL_CTX(OpaquePointer(ssl)), let raw = SSL_CTX_get_ex_data(ctx, 0),
          let cert = X509_STORE_CTX_get_current_cert(store) else {
        X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION)
        return 0
    }
    let policy = Unmanaged<TLSContext.RolePolicy>.fromOpaque(raw).takeUnretainedValue()
    guard let identity = TLSContext.identity(of: cert), policy.accepted.contains(identity.role) else {
        X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION)
        return 0
    }
    return 1
}
