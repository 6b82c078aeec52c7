import Foundation

/// The city PKI in one directory (see ops/pki/README.md):
///
///     ca.crt, ca.key        the root (key 0600)
///     <name>.crt, .key      one per issued identity (key 0600)
///     crl.pem               the current CRL
///     index.tsv             serial, name, role, organisation, not-after, status, revoked-at
///
/// Every key file is created with mode 0600 and never overwritten; a CA key readable by others
/// is refused.
public struct PKIDirectory: Sendable {
    public let url: URL
    public static let defaultOrganisation = "Branddirektion Frankfurt am Main"

    public enum Failure: Error, CustomStringConvertible {
        case exists(String)
        case missing(String)
        case badName(String)
        case badAlternativeName(String)
        case keyReadableByOthers(String)
        case notIssued(String)
        case alreadyRevoked(String)
        case corruptIndex(line: Int)
        case io(String)

        public var description: String {
            switch self {
            case .exists(let p): return "\(p) exists already; refusing to overwrite it"
            case .missing(let p): return "\(p) is missing (run 'florian pki --dir DIR init' first?)"
            case .badName(let n): return "invalid name '\(n)': use 1–64 of A-Z a-z 0-9 . _ -, not starting with '.' or '-'"
            case .badAlternativeName(let n): return "invalid alternative name '\(n)': use IP:ADDRESS or DNS:NAME"
            case .keyReadableByOthers(let p): return "\(p) is readable by group or others; chmod 600 it"
            case .notIssued(let n): return "no valid certificate named '\(n)' in this PKI"
            case .alreadyRevoked(let n): return "'\(n)' is already revoked"
            case .corruptIndex(let line): return "index.tsv line \(line) is malformed"
            case .io(let why): return why
            }
        }
    }

    struct Record {
        var serial: String
        var name: String
        var role: String
        var organisation: String
        var notAfter: Int
        var revokedAt: Int?
    }

    public init(_ path: String) { url = URL(fileURLWithPath: path) }

    private func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    // MARK: - Operations

    /// Creates the root CA, an empty index and an empty CRL.
    public func initialise(organisation: String = defaultOrganisation, days: Int = 3650) throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        for f in ["ca.key", "ca.crt"] where FileManager.default.fileExists(atPath: file(f).path) {
            throw Failure.exists(file(f).path)
        }
        let ca = try CertificateAuthority.create(name: "Florian City CA", organisation: organisation, days: days)
        try writeNew(file("ca.key"), try ca.key.pem(), mode: 0o600)
        try writeNew(file("ca.crt"), try ca.certificate.pem(), mode: 0o644)
        try writeIndex([])
        try writeCRL(ca: ca, records: [])
    }

    /// Issues a key and certificate for `name` in `role`.
    @discardableResult
    public func issue(role: Role, name: String, organisation: String = defaultOrganisation, days: Int = 397,
                      alternativeNames: [String] = []) throws -> String {
        try issue(role: role, name: name, organisation: organisation, days: days, validFrom: nil, validUntil: nil, alternativeNames: alternativeNames)
    }

    /// `issue` with an explicit validity window (tests of expired and not-yet-valid peers).
    @discardableResult
    func issue(role: Role, name: String, organisation: String = defaultOrganisation, days: Int = 397,
               validFrom: Date?, validUntil: Date?, alternativeNames: [String] = []) throws -> String {
        try Self.check(name: name)
        // Extra subject alternative names ("IP:127.0.0.1", "DNS:node1.florian.example"): what a
        // standard client (mosquitto, paho) checks the server's host name against.
        for n in alternativeNames where !(n.hasPrefix("IP:") || n.hasPrefix("DNS:")) || n.contains(",") || n.count > 253 {
            throw Failure.badAlternativeName(n)
        }
        guard name != "ca", name != "crl", name != "index" else { throw Failure.badName(name) }
        let ca = try loadCA()
        for ext in ["key", "crt"] where FileManager.default.fileExists(atPath: file("\(name).\(ext)").path) {
            throw Failure.exists(file("\(name).\(ext)").path)
        }
        let (key, cert) = try ca.issue(role: role, name: name, organisation: organisation, days: days,
                                       validFrom: validFrom, validUntil: validUntil, alternativeNames: alternativeNames)
        try writeNew(file("\(name).key"), try key.pem(), mode: 0o600)
        try writeNew(file("\(name).crt"), try cert.pem(), mode: 0o644)
        var records = try readIndex()
        records.append(Record(serial: cert.serialHex, name: name, role: role.rawValue, organisation: organisation,
                              notAfter: Int(Date().timeIntervalSince1970) + days * 86_400, revokedAt: nil))
        try writeIndex(records)
        return cert.serialHex
    }

    /// Revokes `name`'s certificate and writes a new CRL.
    public func revoke(name: String) throws {
        try Self.check(name: name)
        let ca = try loadCA()
        var records = try readIndex()
        guard let k = records.lastIndex(where: { $0.name == name }) else { throw Failure.notIssued(name) }
        guard records[k].revokedAt == nil else { throw Failure.alreadyRevoked(name) }
        records[k].revokedAt = Int(Date().timeIntervalSince1970)
        try writeIndex(records)
        try writeCRL(ca: ca, records: records)
    }

    /// Writes a fresh CRL (new validity window) from the index.
    public func refreshCRL() throws {
        try writeCRL(ca: try loadCA(), records: try readIndex())
    }

    // MARK: - Files

    static func check(name: String) throws {
        let ok = !name.isEmpty && name.utf8.count <= 64 && !name.hasPrefix(".") && !name.hasPrefix("-")
            && name.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "._-".unicodeScalars.contains($0) }
        guard ok else { throw Failure.badName(name) }
    }

    private func loadCA() throws -> CertificateAuthority {
        let keyPath = file("ca.key").path, certPath = file("ca.crt").path
        guard FileManager.default.fileExists(atPath: keyPath) else { throw Failure.missing(keyPath) }
        guard FileManager.default.fileExists(atPath: certPath) else { throw Failure.missing(certPath) }
        var info = stat()
        guard stat(keyPath, &info) == 0 else { throw Failure.io("cannot stat \(keyPath)") }
        guard info.st_mode & 0o077 == 0 else { throw Failure.keyReadableByOthers(keyPath) }
        let key = try PrivateKey.read(pem: try read(keyPath))
        let cert = try Certificate.read(pem: try read(certPath))
        return CertificateAuthority(key: key, certificate: cert)
    }

    private func writeCRL(ca: CertificateAuthority, records: [Record]) throws {
        let revoked = records.compactMap { r in r.revokedAt.map { (r.serial, Date(timeIntervalSince1970: TimeInterval($0))) } }
        try replace(file("crl.pem"), try ca.crl(revoked: revoked, days: 30))
    }

    private func readIndex() throws -> [Record] {
        let path = file("index.tsv").path
        guard FileManager.default.fileExists(atPath: path) else { throw Failure.missing(path) }
        let text = String(decoding: try read(path), as: UTF8.self)
        var out: [Record] = []
        for (n, line) in text.split(separator: "\n").enumerated() {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 7, let notAfter = Int(f[4]), f[5] == "valid" || f[5] == "revoked" else {
                throw Failure.corruptIndex(line: n + 1)
            }
            out.append(Record(serial: f[0], name: f[1], role: f[2], organisation: f[3], notAfter: notAfter,
                              revokedAt: f[5] == "revoked" ? Int(f[6]) : nil))
        }
        return out
    }

    private func writeIndex(_ records: [Record]) throws {
        let text = records.map { r in
            [r.serial, r.name, r.role, r.organisation.replacingOccurrences(of: "\t", with: " "), String(r.notAfter),
             r.revokedAt == nil ? "valid" : "revoked", r.revokedAt.map(String.init) ?? ""].joined(separator: "\t") + "\n"
        }.joined()
        try replace(file("index.tsv"), Array(text.utf8))
    }

    private func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure.io("cannot read \(path)") }
        return [UInt8](data)
    }

    /// Creates `url` with `mode`; never replaces an existing file (O_EXCL).
    private func writeNew(_ url: URL, _ bytes: [UInt8], mode: mode_t) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard fd >= 0 else {
            if errno == EEXIST { throw Failure.exists(url.path) }
            throw Failure.io("cannot create \(url.path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        _ = fchmod(fd, mode)  // the umask must not widen or narrow what we asked for
        try writeAll(fd, bytes, url.path)
    }

    /// Atomically replaces `url` (temp file, fsync, rename).
    private func replace(_ url: URL, _ bytes: [UInt8]) throws {
        let tmp = url.path + ".tmp"
        unlink(tmp)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw Failure.io("cannot create \(tmp): \(String(cString: strerror(errno)))") }
        do {
            try writeAll(fd, bytes, tmp)
            close(fd)
        } catch {
            close(fd)
            throw error
        }
        guard rename(tmp, url.path) == 0 else { throw Failure.io("cannot rename \(tmp): \(String(cString: strerror(errno)))") }
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8], _ path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw Failure.io("cannot write \(path): \(String(cString: strerror(errno)))") }
            offset += n
        }
        guard fsync(fd) == 0 else { throw Failure.io("cannot sync \(path): \(String(cString: strerror(errno)))") }
    }
}
