import Foundation

/// JSON for the alarm domain's commands, queries, events and snapshots: sorted keys (so the same
/// value always gives the same bytes on every node), and strict decoding — a key the type does not
/// know is refused, so that a typo such as `"tset": true` can never turn a test alarm into a real one.
public enum StrictJSON {
    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Our types hold only strings, integers, booleans, arrays and string-keyed objects.
        return Array(try! encoder.encode(value))
    }

    /// Decodes `bytes` as `T`, refusing malformed JSON, missing or mistyped fields, and unknown keys.
    public static func decode<T: Codable>(_ type: T.Type, from bytes: [UInt8], what: String) throws(AlarmError) -> T {
        let data = Data(bytes)
        let value: T
        do {
            value = try JSONDecoder().decode(T.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw .invalid("\(what): field \(path(context.codingPath + [key])) is missing")
        } catch let DecodingError.typeMismatch(_, context) {
            throw .invalid("\(what): field \(path(context.codingPath)) has the wrong type")
        } catch let DecodingError.valueNotFound(_, context) {
            throw .invalid("\(what): field \(path(context.codingPath)) is null")
        } catch let DecodingError.dataCorrupted(context) {
            let detail = context.codingPath.isEmpty ? "is not valid JSON" : "field \(path(context.codingPath)): \(context.debugDescription)"
            throw .invalid("\(what) \(detail)")
        } catch {
            throw .invalid("\(what): \(error)")
        }
        guard let input = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]),
              let known = try? JSONSerialization.jsonObject(with: Data(encode(value)), options: [.fragmentsAllowed]) else {
            throw .invalid("\(what) is not valid JSON")
        }
        if let unknown = unknownKey(input, known, path: "") { throw .invalid("\(what): unknown field \(unknown)") }
        return value
    }

    /// The first key in `input` that `known` (the decoded value encoded again) does not have.
    private static func unknownKey(_ input: Any, _ known: Any, path: String) -> String? {
        if let i = input as? [String: Any] {
            let k = known as? [String: Any] ?? [:]
            for key in i.keys.sorted() {
                let sub = path.isEmpty ? key : "\(path).\(key)"
                guard let kv = k[key] else {
                    if i[key] is NSNull { continue }
                    return sub
                }
                if let found = unknownKey(i[key]!, kv, path: sub) { return found }
            }
        } else if let i = input as? [Any], let k = known as? [Any], i.count == k.count {
            for (n, pair) in zip(i, k).enumerated() {
                if let found = unknownKey(pair.0, pair.1, path: "\(path)[\(n)]") { return found }
            }
        }
        return nil
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
    }
}
