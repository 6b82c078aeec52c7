import CEpoll
import Client
import Foundation
import Secure

/// `cluster.json` as `florian demo` writes it: node listeners, CA, CRL, PKI directory, the demo
/// credentials, the gateways' listeners and the paging sink. Read by `florian alarm`,
/// `florian gateway`, `florian station-sim` and the tests.
struct ClusterFile {
    struct Credential { var cert: String; var key: String; var name: String }
    struct GatewayEntry { var name: String; var network: String; var listen: String? }

    var path: String
    var cluster: String
    var nodes: [String]
    var ca: String
    var crl: String
    var pki: String?
    var credentials: [String: Credential]
    var gateways: [GatewayEntry]
    var pagingSink: String?
    var registry: String?

    static func load(_ path: String) throws -> ClusterFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw UsageError("cannot read cluster file \(path)") }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let nodes = json["nodes"] as? [[String: Any]], let ca = json["ca"] as? String, let crl = json["crl"] as? String else {
            throw UsageError("\(path) is not a cluster file (needs nodes, ca, crl)")
        }
        var creds: [String: Credential] = [:]
        for (role, v) in json["credentials"] as? [String: [String: String]] ?? [:] {
            if let cert = v["cert"], let key = v["key"] { creds[role] = Credential(cert: cert, key: key, name: v["name"] ?? role) }
        }
        var gateways: [GatewayEntry] = []
        for (network, list) in json["gateways"] as? [String: [[String: String]]] ?? [:] {
            for g in list { if let name = g["name"] { gateways.append(GatewayEntry(name: name, network: network, listen: g["listen"])) } }
        }
        return ClusterFile(path: path, cluster: json["cluster"] as? String ?? "", nodes: nodes.compactMap { $0["client"] as? String },
                           ca: ca, crl: crl, pki: json["pki"] as? String, credentials: creds,
                           gateways: gateways.sorted { $0.name < $1.name }, pagingSink: json["paging_sink"] as? String,
                           registry: json["registry"] as? String)
    }

    /// A TLS client context for the node protocol with the credential of `role` in this file.
    func nodeContext(role: String) throws -> TLSContext {
        guard let c = credentials[role] else { throw UsageError("\(path) has no \(role) credentials") }
        return try TLSContext(TLSConfiguration(caFile: ca, certificateFile: c.cert, keyFile: c.key, crlFile: crl, acceptedRoles: [.node]), side: .client)
    }

    /// The certificate and key of `name` in the cluster's PKI directory.
    func identity(_ name: String) throws -> (cert: String, key: String) {
        guard let pki else { throw UsageError("\(path) names no pki directory") }
        let cert = pki + "/\(name).crt", key = pki + "/\(name).key"
        guard FileManager.default.fileExists(atPath: cert) else { throw UsageError("no certificate for \(name) in \(pki)") }
        return (cert, key)
    }

    func client(role: String = "operator") throws -> FlorianClient {
        try FlorianClient(nodes: nodes, tls: try nodeContext(role: role))
    }
}

/// Parses "host:port".
func parseEndpoint(_ s: String) throws -> (host: String, port: UInt16) {
    guard let colon = s.lastIndex(of: ":"), let port = UInt16(s[s.index(after: colon)...]) else {
        throw UsageError("'\(s)' is not host:port")
    }
    return (String(s[..<colon]), port)
}

/// Installs SIGINT/SIGTERM handlers that call `stop` (keep the returned sources alive).
func onTermination(_ stop: @escaping @Sendable () -> Void, also: [Int32] = []) -> [DispatchSourceSignal] {
    ([SIGINT, SIGTERM] + also).map { sig in
        signal(sig, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        s.setEventHandler(handler: stop)
        s.resume()
        return s
    }
}

/// A child of `florian demo` dies with it.
func dieWithParentIfAsked() -> Bool {
    guard ProcessInfo.processInfo.environment["FLORIAN_DIE_WITH_PARENT"] == "1" else { return true }
    _ = CEpoll_set_parent_death_signal(SIGTERM)
    return getppid() != 1
}
