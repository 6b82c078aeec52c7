/// Comma-separated values after RFC 4180: fields separated by a delimiter, quoted with `"` when
/// they hold the delimiter, a quote or a line break, `""` for a quote inside; lines end in LF or
/// CRLF; a UTF-8 byte-order mark at the start is skipped.
public enum CSV {
    /// One record: the line it starts on (1-based, the header is line 1) and its fields, or why it
    /// could not be read.
    public struct Row: Equatable, Sendable {
        public var line: Int
        public var fields: Result<[String], RowError>
    }

    public enum RowError: Error, Equatable, CustomStringConvertible {
        case unterminatedQuote
        case quoteInsideField
        case notUTF8
        case tooLong(Int)
        public var description: String {
            switch self {
            case .unterminatedQuote: "a quoted field is not closed before the end of the file"
            case .quoteInsideField: "a quote inside an unquoted field, or text after a closing quote"
            case .notUTF8: "not valid UTF-8"
            case .tooLong(let n): "a record longer than \(n) bytes"
            }
        }
    }

    /// Longest record we read; longer ones are rejected (a file without line breaks must not make
    /// the importer hold it all as one field).
    public static let maxRecordBytes = 1 << 20

    /// Splits `bytes` into records. A record that cannot be read is reported and reading goes on
    /// at the next line break; an unterminated quote ends the file with one error row.
    public static func rows(_ bytes: [UInt8], delimiter: UInt8 = 0x2C) -> [Row] {
        var out: [Row] = []
        var i = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var line = 1
        let n = bytes.count
        while i < n {
            let startLine = line
            let startIndex = i
            var fields: [String] = []
            var field: [UInt8] = []
            var error: RowError?
            var endOfRecord = false
            while !endOfRecord {
                if i - startIndex > maxRecordBytes, error == nil { error = .tooLong(maxRecordBytes) }
                if i >= n { endOfRecord = true; break }
                if bytes[i] == 0x22 && field.isEmpty {
                    // Quoted field.
                    i += 1
                    var closed = false
                    while i < n {
                        let c = bytes[i]
                        if c == 0x22 {
                            if i + 1 < n && bytes[i + 1] == 0x22 { field.append(0x22); i += 2; continue }
                            i += 1
                            closed = true
                            break
                        }
                        if c == 0x0A { line += 1 }
                        field.append(c)
                        i += 1
                    }
                    if !closed {
                        out.append(Row(line: startLine, fields: .failure(.unterminatedQuote)))
                        return out
                    }
                    if i < n, bytes[i] != delimiter, bytes[i] != 0x0A, bytes[i] != 0x0D, error == nil { error = .quoteInsideField }
                }
                var sawDelimiter = false
                while i < n {
                    let c = bytes[i]
                    if c == delimiter { i += 1; sawDelimiter = true; break }
                    if c == 0x0A || c == 0x0D {
                        if c == 0x0D && i + 1 < n && bytes[i + 1] == 0x0A { i += 1 }
                        i += 1
                        line += 1
                        endOfRecord = true
                        break
                    }
                    if c == 0x22, error == nil { error = .quoteInsideField }
                    field.append(c)
                    i += 1
                    if i >= n { endOfRecord = true }
                }
                if let s = String(validating: field, as: UTF8.self) { fields.append(s) } else if error == nil { error = .notUTF8 }
                field.removeAll(keepingCapacity: true)
                // A delimiter right before the end of the input leaves one empty last field.
                if sawDelimiter && i >= n { fields.append(""); endOfRecord = true }
                if !sawDelimiter && i >= n { endOfRecord = true }
            }
            // Blank lines between records carry nothing.
            if fields == [""] && error == nil { continue }
            out.append(Row(line: startLine, fields: error.map { .failure($0) } ?? .success(fields)))
        }
        return out
    }

    /// A field as RFC 4180 writes it: quoted when it holds the delimiter, a quote, CR or LF.
    public static func escape(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }) else { return s }
        var out = "\""
        for ch in s.unicodeScalars {
            if ch == "\"" { out += "\"\"" } else { out.unicodeScalars.append(ch) }
        }
        return out + "\""
    }
}
