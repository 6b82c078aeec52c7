internal import COpenSSL

/// A failed OpenSSL call, with OpenSSL's own error queue drained into the message.
public struct OpenSSLError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var details: [String]

    public var description: String {
        details.isEmpty ? "\(operation) failed" : "\(operation) failed: \(details.joined(separator: "; "))"
    }

    /// Drains the calling thread's OpenSSL error queue (it is per thread).
    static func drain(_ operation: String) -> OpenSSLError {
        var details: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            details.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return OpenSSLError(operation: operation, details: details)
    }
}
