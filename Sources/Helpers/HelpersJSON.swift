import Foundation

/// JSON for the helpers domain's commands, events and snapshot: sorted keys (canonical bytes),
/// and strict decoding — a missing, mistyped or unknown field is refused, so a typo in a
/// command never silently drops what the sender meant.
public enum HelpersJSON {
    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Our own types encode without failure (no non-finite numbers reach them).
        return Array(try! e.encode(value))
    }

    public static func decode<T: Codable>(_ type: T.Type, from bytes: [UInt8], what: String) throws(HelpersError) -> T {
        let value: T
        do { value = try JSONDecoder().decode(T.self, from: Data(bytes)) } catch { throw .invalid("\(what): \(Self.reason(error))") }
        // Unknown keys: the value re-encoded must hold every key the input held.
        guard let input = try? JSONSerialization.jsonObject(with: Data(bytes)),
              let again = try? JSONSerialization.jsonObject(with: Data(encode(value))) else { throw .invalid("\(what): not JSON") }
        if let extra = unknownKey(input, again) { throw .invalid("\(what): unknown field \(extra)") }
        return value
    }

    static func unknownKey(_ a: Any, _ b: Any, path: String = "") -> String? {
        if let da = a as? [String: Any] {
            let db = b as? [String: Any] ?? [:]
            for k in da.keys.sorted() {
                guard let vb = db[k] else { return path + k }
                if let deeper = unknownKey(da[k]!, vb, path: path + k + ".") { return deeper }
            }
        } else if let aa = a as? [Any], let ab = b as? [Any] {
            for (i, (x, y)) in zip(aa, ab).enumerated() { if let deeper = unknownKey(x, y, path: path + "\(i).") { return deeper } }
        }
        return nil
    }

    static func reason(_ e: Error) -> String {
        switch e as? DecodingError {
        case .keyNotFound(let k, _): "field \(k.stringValue) is missing"
        case .typeMismatch(_, let c), .valueNotFound(_, let c): "field \(c.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type"
        case .dataCorrupted(let c): c.codingPath.isEmpty ? "not JSON" : "field \(c.codingPath.map(\.stringValue).joined(separator: ".")) is invalid"
        default: "unreadable"
        }
    }
}
