import Foundation

/// How a foreign CSV layout becomes incident records or period counts (Protocols/incidents.md,
/// "Mapping file"). Two kinds: `incidents` (one row per incident or call) and `counts` (one row per
/// period with counts in columns, e.g. Berlin's daily file). Only mapped columns are read; every
/// other column — free text, names, phone numbers — is never looked at, so it cannot reach the store.
public struct ImportMapping: Sendable, Equatable {
    public enum Kind: String, Sendable { case incidents, counts }
    public struct TimeColumn: Sendable, Equatable {
        public var column: String
        public var format: TimeFormat
    }
    public struct KeywordEntry: Sendable, Equatable {
        public var keyword: String
        public var category: String
    }
    public enum IDScope: String, Sendable { case file, year }

    public var name: String
    public var kind: Kind
    /// The source name the records are stored under ("berlin").
    public var source: String
    public var attribution: String?
    public var timeZone: String
    public var delimiter: UInt8
    public var idColumn: String?
    /// `file`: an id is unique within its file (it is prefixed with the file's digest); `year`:
    /// unique within the year of its time (prefixed with the year), so that a later, longer copy
    /// of the same file updates the records instead of duplicating them.
    public var idScope: IDScope
    public var time: TimeColumn
    public var typeColumn: String?
    /// Type value → keyword and category; nil: the value is the keyword (generic import).
    public var keywords: [String: KeywordEntry]?
    public var areaColumn: String?
    public var responseColumn: String?
    public var responseMaxSeconds: Double
    /// Further times of an incident: alarm, enRoute, onScene, closed.
    public var times: [String: TimeColumn]
    public var testColumn: String?
    public var countPeriod: PeriodCount.Period
    /// Count column → category (counts kind), in file order of the mapping.
    public var countColumns: [(column: String, category: String)]

    public static func == (a: Self, b: Self) -> Bool {
        a.name == b.name && a.kind == b.kind && a.source == b.source && a.time == b.time && a.keywords == b.keywords
            && a.countColumns.map(\.column) == b.countColumns.map(\.column) && a.countColumns.map(\.category) == b.countColumns.map(\.category)
    }

    public static let timeFields = ["alarm", "enRoute", "onScene", "closed"]

    /// The generic mapping: a call log with one row per call, a timestamp column, optionally a
    /// type and an area column; the type's values are the keywords.
    public static func generic(timeColumn: String, timeFormat: String?, typeColumn: String?, areaColumn: String?,
                               source: String = "import", timeZone: String = "Europe/Berlin") throws(IncidentError) -> ImportMapping {
        guard KeywordCategory.isValidName(source) else { throw .invalid("source \(source): 1–40 of a-z 0-9 _ -") }
        return ImportMapping(name: "generic", kind: .incidents, source: source, attribution: nil, timeZone: timeZone, delimiter: 0x2C,
                             idColumn: nil, idScope: .file, time: TimeColumn(column: timeColumn, format: try TimeFormat(timeFormat ?? "iso8601")),
                             typeColumn: typeColumn, keywords: nil, areaColumn: areaColumn, responseColumn: nil, responseMaxSeconds: 7200,
                             times: [:], testColumn: nil, countPeriod: .day, countColumns: [])
    }

    /// Reads a mapping file (JSON). Unknown keys are refused: a typo must not silently drop a column.
    public static func parse(_ bytes: [UInt8]) throws(IncidentError) -> ImportMapping {
        guard let any = try? JSONSerialization.jsonObject(with: Data(bytes)), let o = any as? [String: Any] else {
            throw .mapping("not a JSON object")
        }
        func object(_ v: Any?, _ what: String, keys: Set<String>) throws(IncidentError) -> [String: Any]? {
            guard let v else { return nil }
            guard let d = v as? [String: Any] else { throw .mapping("\(what) must be an object") }
            if let bad = d.keys.sorted().first(where: { !keys.contains($0) }) { throw .mapping("\(what): unknown key \(bad)") }
            return d
        }
        func string(_ d: [String: Any], _ k: String, _ what: String) throws(IncidentError) -> String? {
            guard let v = d[k] else { return nil }
            guard let s = v as? String else { throw .mapping("\(what).\(k) must be a string") }
            return s
        }
        func required(_ d: [String: Any], _ k: String, _ what: String) throws(IncidentError) -> String {
            guard let s = try string(d, k, what) else { throw .mapping("\(what).\(k) is missing") }
            return s
        }
        func timeColumn(_ v: Any?, _ what: String) throws(IncidentError) -> TimeColumn? {
            guard let d = try object(v, what, keys: ["column", "format"]) else { return nil }
            return TimeColumn(column: try required(d, "column", what), format: try TimeFormat(try string(d, "format", what) ?? "iso8601"))
        }
        let top: Set<String> = ["name", "description", "kind", "source", "attribution", "timeZone", "delimiter", "id", "time", "type",
                                "area", "responseSeconds", "times", "test", "counts"]
        if let bad = o.keys.sorted().first(where: { !top.contains($0) }) { throw .mapping("unknown key \(bad)") }
        let name = try required(o, "name", "mapping")
        guard let kind = Kind(rawValue: try required(o, "kind", "mapping")) else { throw .mapping("kind must be incidents or counts") }
        let source = try required(o, "source", "mapping")
        guard KeywordCategory.isValidName(source) else { throw .mapping("source \(source): 1–40 of a-z 0-9 _ -") }
        let delimiterText = try string(o, "delimiter", "mapping") ?? ","
        guard delimiterText.utf8.count == 1, let delimiter = delimiterText.utf8.first, delimiter != 0x22, delimiter != 0x0A else {
            throw .mapping("delimiter must be one character other than a quote or a line break")
        }
        guard let time = try timeColumn(o["time"], "time") else { throw .mapping("time is missing") }
        var m = ImportMapping(name: name, kind: kind, source: source, attribution: try string(o, "attribution", "mapping"),
                              timeZone: try string(o, "timeZone", "mapping") ?? "Europe/Berlin", delimiter: delimiter,
                              idColumn: nil, idScope: .file, time: time, typeColumn: nil, keywords: nil, areaColumn: nil,
                              responseColumn: nil, responseMaxSeconds: 7200, times: [:], testColumn: nil, countPeriod: .day, countColumns: [])
        if let id = try object(o["id"], "id", keys: ["column", "scope"]) {
            m.idColumn = try required(id, "column", "id")
            guard let scope = IDScope(rawValue: try string(id, "scope", "id") ?? "file") else { throw .mapping("id.scope must be file or year") }
            m.idScope = scope
        }
        if let t = try object(o["type"], "type", keys: ["column", "keywords"]) {
            m.typeColumn = try required(t, "column", "type")
            if let k = t["keywords"] {
                guard let table = k as? [String: Any] else { throw .mapping("type.keywords must be an object") }
                var keywords: [String: KeywordEntry] = [:]
                for (value, entry) in table {
                    guard let e = try object(entry, "type.keywords[\(value)]", keys: ["keyword", "category"]) else { continue }
                    let category = try required(e, "category", "type.keywords[\(value)]")
                    guard KeywordCategory.isValidName(category) else { throw .mapping("category \(category): 1–40 of a-z 0-9 _ -") }
                    keywords[value] = KeywordEntry(keyword: try string(e, "keyword", "type.keywords[\(value)]") ?? value, category: category)
                }
                m.keywords = keywords
            }
        }
        if let a = try object(o["area"], "area", keys: ["column"]) { m.areaColumn = try required(a, "column", "area") }
        if let r = try object(o["responseSeconds"], "responseSeconds", keys: ["column", "max"]) {
            m.responseColumn = try required(r, "column", "responseSeconds")
            if let max = r["max"] {
                guard let v = max as? Double, v > 0 else { throw .mapping("responseSeconds.max must be a positive number") }
                m.responseMaxSeconds = v
            }
        }
        if let t = try object(o["times"], "times", keys: Set(timeFields)) {
            for k in timeFields { if let c = try timeColumn(t[k], "times.\(k)") { m.times[k] = c } }
        }
        if let t = try object(o["test"], "test", keys: ["column"]) { m.testColumn = try required(t, "column", "test") }
        if let c = try object(o["counts"], "counts", keys: ["period", "columns"]) {
            guard let p = PeriodCount.Period(rawValue: try string(c, "period", "counts") ?? "day") else { throw .mapping("counts.period must be hour, day or month") }
            m.countPeriod = p
            // Column order as written: JSONSerialization loses it, so it is recovered from the text.
            guard let cols = c["columns"] as? [String: Any], !cols.isEmpty else { throw .mapping("counts.columns must name at least one column") }
            let text = String(decoding: bytes, as: UTF8.self)
            var list: [(String, String)] = []
            for (column, v) in cols {
                guard let category = v as? String, KeywordCategory.isValidName(category) else { throw .mapping("counts.columns[\(column)] must be a category name") }
                list.append((column, category))
            }
            list.sort { (text.range(of: "\"\($0.0)\"")?.lowerBound ?? text.endIndex) < (text.range(of: "\"\($1.0)\"")?.lowerBound ?? text.endIndex) }
            m.countColumns = list.map { (column: $0.0, category: $0.1) }
        }
        switch kind {
        case .incidents: guard m.countColumns.isEmpty else { throw .mapping("counts belongs to kind counts") }
        case .counts: guard !m.countColumns.isEmpty else { throw .mapping("a counts mapping needs counts.columns") }
        }
        return m
    }
}

/// Why a row was not taken; the name is what the import report and the reject file print.
public enum RejectReason: String, Error, Sendable, CaseIterable, Comparable {
    case unparseableRow = "unparseable row"
    case wrongFieldCount = "wrong number of fields"
    case missingTime = "missing time"
    case unparseableTime = "unparseable time"
    case nonexistentTime = "nonexistent local time"
    case timeOutOfRange = "time out of range"
    case unknownKeyword = "unknown keyword"
    case unparseableNumber = "unparseable number"
    case negativeCount = "negative count"
    case negativeDuration = "negative duration"
    case absurdDuration = "absurd duration"
    case timesOutOfOrder = "times out of order"
    case duplicateID = "duplicate id"
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// One rejected row: its line, the reason, and the mapped column and value at fault (only mapped
/// columns — never a free-text one — so the reject file holds no personal data).
public struct Rejection: Equatable, Sendable {
    public var line: Int
    public var reason: RejectReason
    public var column: String?
    public var value: String?
    public init(line: Int, reason: RejectReason, column: String?, value: String?) {
        self.line = line; self.reason = reason; self.column = column; self.value = value
    }
}

/// Applies a mapping to the rows of one file: checks the header once, then each row.
public struct Importer: Sendable {
    public enum Outcome: Equatable, Sendable {
        case incident(IncidentRecord)
        case counts([PeriodCount])
        case rejected(Rejection)
    }

    public let mapping: ImportMapping
    let clock: LocalClock
    let index: [String: Int]
    let width: Int
    let fileTag: String
    let now: Int64
    /// Times before this are refused as out of range (1990-01-01).
    public static let earliest: Int64 = 631_152_000_000

    /// - Parameters: `header`, the file's first row; `fileTag`, a short digest of the file (ids
    ///   unique per file); `now`, the wall clock (times more than a day ahead are refused).
    public init(mapping: ImportMapping, header: [String], fileTag: String, now: Int64) throws(IncidentError) {
        self.mapping = mapping
        clock = try LocalClock(mapping.timeZone)
        var index: [String: Int] = [:]
        for (i, h) in header.enumerated() where index[h] == nil { index[h] = i }
        self.index = index
        width = header.count
        self.fileTag = fileTag
        self.now = now
        var needed = [mapping.time.column] + [mapping.idColumn, mapping.typeColumn, mapping.areaColumn, mapping.responseColumn, mapping.testColumn].compactMap { $0 }
        needed += mapping.times.values.map(\.column) + mapping.countColumns.map(\.column)
        let missing = needed.filter { index[$0] == nil }
        guard missing.isEmpty else {
            throw .invalid("the header lacks the column\(missing.count > 1 ? "s" : "") \(missing.map { "'\($0)'" }.joined(separator: ", ")) (it has \(header.prefix(20).map { "'\($0)'" }.joined(separator: ", ")))")
        }
    }

    private func reject(_ line: Int, _ reason: RejectReason, _ column: String? = nil, _ value: String? = nil) -> Outcome {
        .rejected(Rejection(line: line, reason: reason, column: column, value: value.map { String($0.prefix(80)) }))
    }

    private func time(_ c: ImportMapping.TimeColumn, _ f: [String]) -> Result<TimeFormat.Parsed?, RejectReason> {
        let v = f[index[c.column]!].trimmingCharacters(in: .whitespaces)
        if v.isEmpty { return .success(nil) }
        switch c.format.parse(v, clock: clock) {
        case .failure(.unparseable): return .failure(.unparseableTime)
        case .failure(.nonexistentLocalTime): return .failure(.nonexistentTime)
        case .success(let p):
            guard p.utcMillis >= Self.earliest, p.utcMillis <= now + 86_400_000 else { return .failure(.timeOutOfRange) }
            return .success(p)
        }
    }

    /// The outcome of one data row.
    public func row(line: Int, _ row: Result<[String], CSV.RowError>) -> Outcome {
        guard case .success(let f) = row else { return reject(line, .unparseableRow) }
        guard f.count == width else { return reject(line, .wrongFieldCount, nil, "\(f.count) fields, the header has \(width)") }
        let tc = mapping.time
        let opened: TimeFormat.Parsed
        switch time(tc, f) {
        case .failure(let r): return reject(line, r, tc.column, f[index[tc.column]!])
        case .success(nil): return reject(line, .missingTime, tc.column, "")
        case .success(let p?): opened = p
        }
        switch mapping.kind {
        case .counts: return counts(line, f, opened)
        case .incidents: return incident(line, f, opened)
        }
    }

    private func counts(_ line: Int, _ f: [String], _ t: TimeFormat.Parsed) -> Outcome {
        let area = mapping.areaColumn.map { f[index[$0]!].trimmingCharacters(in: .whitespaces) } ?? ""
        let date = clock.dateString(t.utcMillis)
        var out: [PeriodCount] = []
        for (column, category) in mapping.countColumns {
            let v = f[index[column]!].trimmingCharacters(in: .whitespaces)
            guard let n = Int64(v) ?? Double(v).flatMap({ $0 == $0.rounded() && abs($0) < 1e15 ? Int64($0) : nil }) else {
                return reject(line, .unparseableNumber, column, v)
            }
            guard n >= 0 else { return reject(line, .negativeCount, column, v) }
            out.append(PeriodCount(source: mapping.source, period: mapping.countPeriod, periodStart: t.utcMillis, localDate: date,
                                   category: category, area: area, count: n))
        }
        return .counts(out)
    }

    private func incident(_ line: Int, _ f: [String], _ opened: TimeFormat.Parsed) -> Outcome {
        // Keyword and category.
        var keyword = "unknown", category = "other"
        if let tc = mapping.typeColumn {
            let v = f[index[tc]!].trimmingCharacters(in: .whitespaces)
            if let table = mapping.keywords {
                guard let e = table[v] else { return reject(line, .unknownKeyword, tc, v) }
                (keyword, category) = (e.keyword, e.category)
            } else {
                guard !v.isEmpty, v.count <= 64, !v.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                    return reject(line, .unknownKeyword, tc, v)
                }
                keyword = v
                category = KeywordCategory.ofForeign(keyword: v)
            }
        }
        let area = mapping.areaColumn.map { f[index[$0]!].trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : String($0.prefix(80)) }
        // The record's id.
        var id: String
        if let ic = mapping.idColumn {
            let v = f[index[ic]!].trimmingCharacters(in: .whitespaces)
            guard !v.isEmpty, v.utf8.count <= 64 else { return reject(line, .unparseableRow, ic, v) }
            switch mapping.idScope {
            case .file: id = fileTag + ":" + v
            case .year: id = String(clock.dateString(opened.utcMillis).prefix(4)) + "-" + v
            }
        } else {
            id = fileTag + ":L\(line)"
        }
        var r = IncidentRecord(source: mapping.source, id: id, openedAt: opened.utcMillis, precision: opened.precision,
                               keyword: keyword, category: category, area: area)
        r.outcome = "imported"
        if let rc = mapping.responseColumn {
            let v = f[index[rc]!].trimmingCharacters(in: .whitespaces)
            if !v.isEmpty {
                guard let s = Double(v), s.isFinite else { return reject(line, .unparseableNumber, rc, v) }
                guard s >= 0 else { return reject(line, .negativeDuration, rc, v) }
                guard s <= mapping.responseMaxSeconds else { return reject(line, .absurdDuration, rc, v) }
                r.reportedResponseSeconds = s
            }
        }
        if let tc = mapping.testColumn {
            let v = f[index[tc]!].trimmingCharacters(in: .whitespaces).lowercased()
            r.test = ["1", "true", "yes", "ja", "wahr", "t", "y"].contains(v)
        }
        // Further times: each after the call, in the order alarm ≤ en route ≤ on scene ≤ closed.
        var times: [String: Int64] = [:]
        for k in ImportMapping.timeFields {
            guard let c = mapping.times[k] else { continue }
            switch time(c, f) {
            case .failure(let reason): return reject(line, reason, c.column, f[index[c.column]!])
            case .success(nil): continue
            case .success(let p?): times[k] = p.utcMillis
            }
        }
        var previous = (name: mapping.time.column, at: opened.utcMillis)
        for k in ImportMapping.timeFields {
            guard let t = times[k] else { continue }
            let column = mapping.times[k]!.column
            guard t >= previous.at else {
                return reject(line, previous.name == mapping.time.column ? .negativeDuration : .timesOutOfOrder, column, f[index[column]!])
            }
            // A day from call to alarm or arrival, or a week to closing, is not a real incident.
            let limit: Int64 = k == "closed" ? 7 * 86_400_000 : 86_400_000
            guard t - opened.utcMillis <= limit else { return reject(line, .absurdDuration, column, f[index[column]!]) }
            previous = (column, t)
        }
        r.firstAlarmAt = times["alarm"]
        r.firstEnRouteAt = times["enRoute"]
        r.firstOnSceneAt = times["onScene"]
        r.closedAt = times["closed"]
        if r.reportedResponseSeconds == nil, let on = r.firstOnSceneAt, Double(on - r.openedAt) / 1000 > mapping.responseMaxSeconds {
            return reject(line, .absurdDuration, mapping.times["onScene"]!.column, f[index[mapping.times["onScene"]!.column]!])
        }
        return .incident(r)
    }
}

extension KeywordCategory {
    /// The category of a foreign type value in a generic import: our scheme's keywords (F2, TH1,
    /// ABC1, WASS, RD2) are recognised; any other value is `other` (a mapping file can say more).
    public static func ofForeign(keyword: String) -> String {
        let k = keyword.uppercased()
        let ours = ["F", "TH", "ABC", "WASS", "RD"]
        guard k.count <= 8, !k.contains(" "), ours.contains(where: { k.hasPrefix($0) }) else { return "other" }
        let rest = k.drop { $0.isLetter }
        guard rest.isEmpty || rest.first == "-" || rest.first!.isNumber else { return "other" }
        return of(keyword: k)
    }
}
