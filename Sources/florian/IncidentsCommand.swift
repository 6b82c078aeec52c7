import Foundation
import IncidentStore
import Incidents
import Wire

extension CommandLine {
    static let incidentsUsage = """
        usage: florian incidents import --store DIR --mapping FILE [--time-zone ZONE] CSV…
               florian incidents import --store DIR --time-column NAME [--time-format FORMAT]
                      [--type-column NAME] [--area-column NAME] [--source NAME] [--time-zone ZONE] CSV…
               florian incidents rotate-key --store DIR
               florian incidents purge --store DIR --older-than-days N
               florian incidents summary --store DIR
        """

    /// `florian incidents import|rotate-key|purge|summary …` (Protocols/incidents.md).
    static func incidents(_ raw: [String]) throws -> Int32 {
        guard let sub = raw.first else { throw UsageError(incidentsUsage) }
        let rest = Array(raw.dropFirst())
        switch sub {
        case "import": return try incidentsImport(rest)
        case "rotate-key":
            var args = try Arguments(rest, booleans: [])
            guard let dir = args.string("store") else { throw UsageError("rotate-key needs --store DIR") }
            try args.finish()
            _ = try IncidentStore(directory: dir)
            let keys = try KeyFiles.rotate(store: dir)
            say("pseudonym key \(keys.current.version) made in \(KeyFiles.folder(dir)); exports from now on use it")
            return 0
        case "purge":
            var args = try Arguments(rest, booleans: [])
            guard let dir = args.string("store") else { throw UsageError("purge needs --store DIR") }
            guard let days = try args.uint("older-than-days") else { throw UsageError("purge needs --older-than-days N") }
            try args.finish()
            let store = try IncidentStore(directory: dir)
            let n = try store.purgePersonal(before: Int64(Date().timeIntervalSince1970 * 1000) - Int64(days) * 86_400_000)
            say("purge: deleted the personal fields of \(n) incident(s) opened more than \(days) days ago")
            return 0
        case "summary":
            var args = try Arguments(rest, booleans: [])
            guard let dir = args.string("store") else { throw UsageError("summary needs --store DIR") }
            try args.finish()
            let store = try IncidentStore(directory: dir)
            say("store \(store.path): \(try store.count("incidents")) incidents, \(try store.count("dispatches")) dispatches, \(try store.count("counts")) period counts, feed offset \(try store.feedOffset())")
            return 0
        default:
            throw UsageError("unknown incidents command '\(sub)'\n\(incidentsUsage)")
        }
    }

    /// Reads CSV files through a mapping into the store. Prints per file: read, accepted, rejected
    /// by reason, and the reject file (line, reason, column, value); exit status 1 if a file could
    /// not be read at all. Importing a file again replaces its records (same ids), never doubles them.
    static func incidentsImport(_ raw: [String]) throws -> Int32 {
        var flagsPart: [String] = []
        var files: [String] = []
        var k = 0
        while k < raw.count {
            if raw[k].hasPrefix("--") {
                flagsPart.append(raw[k])
                if k + 1 < raw.count { flagsPart.append(raw[k + 1]) }
                k += 2
            } else {
                files.append(raw[k])
                k += 1
            }
        }
        var args = try Arguments(flagsPart, booleans: [])
        guard let dir = args.string("store") else { throw UsageError("import needs --store DIR") }
        let mappingPath = args.string("mapping")
        let timeColumn = args.string("time-column")
        let timeFormat = args.string("time-format")
        let typeColumn = args.string("type-column")
        let areaColumn = args.string("area-column")
        let source = args.string("source")
        let zone = args.string("time-zone")
        try args.finish()
        guard !files.isEmpty else { throw UsageError("import needs at least one CSV file") }
        var mapping: ImportMapping
        if let mappingPath {
            guard timeColumn == nil, timeFormat == nil, typeColumn == nil, areaColumn == nil, source == nil else {
                throw UsageError("--mapping and the generic --…-column options exclude each other")
            }
            guard let bytes = FileManager.default.contents(atPath: mappingPath) else { throw UsageError("cannot read the mapping \(mappingPath)") }
            do { mapping = try ImportMapping.parse(Array(bytes)) } catch { throw UsageError("\(mappingPath): \(error)") }
            if let zone { mapping.timeZone = zone }
        } else {
            guard let timeColumn else { throw UsageError("import needs --mapping FILE or --time-column NAME") }
            mapping = try ImportMapping.generic(timeColumn: timeColumn, timeFormat: timeFormat, typeColumn: typeColumn, areaColumn: areaColumn,
                                                source: source ?? "import", timeZone: zone ?? "Europe/Berlin")
        }
        let store = try IncidentStore(directory: dir)
        if let a = mapping.attribution { try store.setMeta("attribution.\(mapping.source)", a) }
        // The data's local time: statistics bucket hours and days in it and print times in it.
        try store.setMeta("timezone.\(mapping.source)", mapping.timeZone)
        let rejectsDir = dir + "/rejects"
        try FileManager.default.createDirectory(atPath: rejectsDir, withIntermediateDirectories: true)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var status: Int32 = 0
        var total = (read: 0, accepted: 0, rejected: 0)
        for path in files {
            guard let data = FileManager.default.contents(atPath: path) else {
                say("import: \(path): cannot read the file")
                status = 1
                continue
            }
            let bytes = Array(data)
            let digest = Hex.encode(SHA256.hash(bytes))
            let rows = CSV.rows(bytes, delimiter: mapping.delimiter)
            guard let header = rows.first, case .success(let columns) = header.fields else {
                say("import: \(path): no header row")
                status = 1
                continue
            }
            let importer: Importer
            do {
                importer = try Importer(mapping: mapping, header: columns, fileTag: String(digest.prefix(8)), now: now)
            } catch {
                say("import: \(path): \(error)")
                status = 1
                continue
            }
            var records: [(record: IncidentRecord, line: Int)] = []
            var counts: [PeriodCount] = []
            var rejections: [Rejection] = []
            for row in rows.dropFirst() {
                switch importer.row(line: row.line, row.fields) {
                case .incident(let r): records.append((r, row.line))
                case .counts(let c): counts += c
                case .rejected(let r): rejections.append(r)
                }
            }
            // Two rows with one id: the first is taken, the later one rejected (never lost silently).
            var seen = Set<RecordKey>()
            var unique: [IncidentRecord] = []
            for (r, line) in records {
                if seen.insert(r.key).inserted {
                    unique.append(r)
                } else {
                    rejections.append(Rejection(line: line, reason: .duplicateID, column: mapping.idColumn, value: r.id))
                }
            }
            try store.upsert(records: unique)
            try store.upsert(counts: counts)
            let read = rows.count - 1
            let accepted = mapping.kind == .counts ? read - rejections.count : unique.count
            try store.recordImport(file: URL(fileURLWithPath: path).lastPathComponent, sha256: digest, mapping: mapping.name, source: mapping.source,
                                   read: read, accepted: accepted, rejected: rejections.count, at: now)
            var byReason: [RejectReason: Int] = [:]
            for r in rejections { byReason[r.reason, default: 0] += 1 }
            let reasons = byReason.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { "\($0.key.rawValue) \($0.value)" }
            let what = mapping.kind == .counts ? "rows (\(counts.count) period counts)" : "incidents"
            say("import: \(path): read \(read), accepted \(accepted) \(what), rejected \(rejections.count)" + (reasons.isEmpty ? "" : " (\(reasons.joined(separator: ", ")))"))
            if !rejections.isEmpty {
                let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent + ".rejects.csv"
                var text = "line,reason,column,value\r\n"
                for r in rejections.sorted(by: { $0.line < $1.line }) {
                    text += "\(r.line),\(CSV.escape(r.reason.rawValue)),\(CSV.escape(r.column ?? "")),\(CSV.escape(r.value ?? ""))\r\n"
                }
                let out = rejectsDir + "/" + name
                try Data(text.utf8).write(to: URL(fileURLWithPath: out))
                say("import: rejects: \(out)")
            }
            total.read += read
            total.accepted += accepted
            total.rejected += rejections.count
        }
        if let attribution = mapping.attribution { say("import: source \(mapping.source): \(attribution)") }
        say("import: \(files.count) file(s): read \(total.read), accepted \(total.accepted), rejected \(total.rejected)")
        return status
    }
}
