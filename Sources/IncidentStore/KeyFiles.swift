import Foundation
import Incidents

/// The pseudonym keys of a store on disk: `DIR/keys/pseudonym-<version>.key`, 32 random bytes
/// each (mode 0600, the folder 0700). The first is made when a store is first used; `rotate` adds
/// the next version. Keys are never deleted by us: an operator who must make old pseudonyms
/// unlinkable for good deletes an old key file (exports only ever use the newest).
public enum KeyFiles {
    public static func folder(_ store: String) -> String { store + "/keys" }

    /// The store's keys, making the first one if there is none.
    public static func load(store: String) throws(IncidentStoreError) -> PseudonymKeys {
        let dir = folder(store)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        var keys: [PseudonymKeys.Key] = []
        for name in names.sorted() where name.hasPrefix("pseudonym-") && name.hasSuffix(".key") {
            guard let v = Int(name.dropFirst("pseudonym-".count).dropLast(".key".count)), v > 0 else { continue }
            guard let data = FileManager.default.contents(atPath: dir + "/" + name) else {
                throw .keys(path: dir, reason: "cannot read \(name)")
            }
            keys.append(PseudonymKeys.Key(version: v, bytes: Array(data)))
        }
        if keys.isEmpty { return try rotate(store: store) }
        do { return try PseudonymKeys(keys) } catch { throw .keys(path: dir, reason: error.description) }
    }

    /// Adds a key one version above the newest and returns the keys with it.
    @discardableResult
    public static func rotate(store: String) throws(IncidentStoreError) -> PseudonymKeys {
        let dir = folder(store)
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .keys(path: dir, reason: "cannot create the folder: \(error.localizedDescription)")
        }
        let existing = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).compactMap { n -> Int? in
            guard n.hasPrefix("pseudonym-"), n.hasSuffix(".key") else { return nil }
            return Int(n.dropFirst("pseudonym-".count).dropLast(".key".count))
        }
        let version = (existing.max() ?? 0) + 1
        var rng = SystemRandomNumberGenerator()   // getrandom(2) on Linux: a cryptographic source
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let path = dir + "/pseudonym-\(version).key"
        guard fm.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
            throw .keys(path: dir, reason: "cannot write \(path)")
        }
        return try load(store: store)
    }
}
