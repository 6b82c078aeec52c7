import Foundation
import Secure

extension CommandLine {
    /// `florian pki --dir DIR init [--org O] [--days N] | issue <role> <name> [--org O] [--days N] [--san IP:…,DNS:…]
    /// | revoke <name> | crl` (ops/pki/README.md).
    static func pki(_ raw: [String]) throws -> Int32 {
        guard raw.count >= 3, raw[0] == "--dir" else { throw UsageError("pki needs --dir DIR and a subcommand") }
        let dir = PKIDirectory(raw[1])
        let sub = raw[2]
        var positional: [String] = []
        var rest = Array(raw.dropFirst(3))
        while let first = rest.first, !first.hasPrefix("--") {
            positional.append(first)
            rest.removeFirst()
        }
        var args = try Arguments(rest, booleans: [])
        let org = args.string("org") ?? PKIDirectory.defaultOrganisation
        let days = try args.uint("days").map(Int.init)
        let san = args.string("san").map { $0.split(separator: ",").map(String.init) } ?? []
        try args.finish()
        if let days, days < 1 || days > 36_500 { throw UsageError("--days must be 1…36500") }
        switch (sub, positional.count) {
        case ("init", 0):
            try dir.initialise(organisation: org, days: days ?? 3650)
            print("pki: created \(dir.url.path)/ca.crt, ca.key (0600), crl.pem")
        case ("issue", 2):
            guard let role = Role(rawValue: positional[0]) else {
                throw UsageError("unknown role '\(positional[0])' (roles: \(Role.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let serial = try dir.issue(role: role, name: positional[1], organisation: org, days: days ?? 397, alternativeNames: san)
            print("pki: issued \(role.rawValue) '\(positional[1])' serial \(serial): \(positional[1]).crt, \(positional[1]).key (0600)")
        case ("revoke", 1):
            try dir.revoke(name: positional[0])
            print("pki: revoked '\(positional[0])'; crl.pem rewritten")
        case ("crl", 0):
            try dir.refreshCRL()
            print("pki: crl.pem rewritten")
        default:
            throw UsageError("pki: expected init | issue <role> <name> | revoke <name> | crl")
        }
        return 0
    }
}
