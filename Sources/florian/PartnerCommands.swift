import Client
import Foundation
import Partners

extension CommandLine {
    /// `florian cap validate FILE…`: one line per file, `FILE: valid` or `FILE: invalid: <reason>`;
    /// exit status 1 if any is invalid (or unreadable).
    static func cap(_ raw: [String]) throws -> Int32 {
        guard raw.first == "validate", raw.count >= 2 else { throw UsageError("cap validate FILE…") }
        var bad = false
        for path in raw.dropFirst() {
            // The size before reading (the parser would refuse it too, after it was in memory).
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            guard size <= CAP.maxDocumentBytes else {
                say("\(path): invalid: the document is \(size) bytes, above the limit of \(CAP.maxDocumentBytes)")
                bad = true
                continue
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                say("\(path): invalid: cannot read the file")
                bad = true
                continue
            }
            let verdict = CAP.validate(Array(data))
            if case .invalid = verdict { bad = true }
            say("\(path): \(verdict.summary)")
        }
        return bad ? 1 : 0
    }

    /// `florian rights [--cluster FILE] apply FILE | show`: the partners' rights document, applied
    /// as a command so every node enforces the same (Protocols/partner-mqtt.md).
    static func rights(_ raw: [String]) throws -> Int32 {
        var rest = raw
        var clusterPath = ProcessInfo.processInfo.environment["FLORIAN_CLUSTER"] ?? "cluster.json"
        if rest.first == "--cluster" {
            guard rest.count >= 2 else { throw UsageError("--cluster needs a file") }
            clusterPath = rest[1]
            rest.removeFirst(2)
        }
        switch (rest.first, rest.count) {
        case ("apply", 2):
            guard let data = FileManager.default.contents(atPath: rest[1]) else { throw UsageError("cannot read \(rest[1])") }
            let document: PartnerRights
            do { document = try JSONDecoder().decode(PartnerRights.self, from: data) } catch {
                throw UsageError("\(rest[1]) is not a rights document: \(error)")
            }
            do { try document.validate() } catch { throw UsageError("\(rest[1]): \(error.reason)") }
            let client = try ClusterFile.load(clusterPath).client(role: "operator")
            defer { client.closeAndWait() }
            let id = "rights-\(UInt64(Date().timeIntervalSince1970 * 1000))-\(UInt32.random(in: 0...UInt32.max))"
            switch try client.submit(type: "mqtt.rights.apply", commandID: id, payload: Array(data)) {
            case .rejected(let why):
                FileHandle.standardError.write(Data("rights refused: \(why)\n".utf8))
                return 1
            default:
                say("rights: applied \(rest[1]) (\(document.organisations.count) organisations: \(document.organisations.map(\.id).joined(separator: ", ")))")
                return 0
            }
        case ("show", 1):
            let client = try ClusterFile.load(clusterPath).client(role: "operator")
            defer { client.closeAndWait() }
            let bytes = try client.query(namespace: "mqtt", name: "rights", payload: Array("{}".utf8))
            say(String(decoding: bytes, as: UTF8.self))
            return 0
        default:
            throw UsageError("rights [--cluster FILE] apply FILE | show")
        }
    }
}
