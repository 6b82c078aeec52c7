/// A column of an export: its name, its type and its values (nil: null).
public struct ExportColumn: Sendable {
    public enum Kind: String, Sendable { case string, timestamp, date, boolean, int32, int64, double }
    public enum Values: Sendable {
        case string([String?]), int64([Int64?]), int32([Int32?]), boolean([Bool?]), double([Double?])
        var count: Int {
            switch self {
            case .string(let v): v.count
            case .int64(let v): v.count
            case .int32(let v): v.count
            case .boolean(let v): v.count
            case .double(let v): v.count
            }
        }
    }
    public var name: String
    public var kind: Kind
    public var nullable: Bool
    public var values: Values
}

/// Rows of one dataset (incidents, dispatches, counts) in columns, as every export format takes
/// them. Built only from the exportable fields: personal data enters only as a pseudonym.
public struct ExportTable: Sendable {
    public var dataset: String
    public var columns: [ExportColumn]
    public var rowCount: Int { columns.first?.values.count ?? 0 }

    /// The columns of each dataset, for the documentation and the readers' checks.
    public static let datasets = ["incidents", "dispatches", "counts"]

    /// Incident records: one row each. `keys` pseudonymises the dispatcher who opened it.
    public static func incidents(_ rs: [IncidentRecord], clock: LocalClock, keys: PseudonymKeys) -> ExportTable {
        func ts(_ f: (IncidentRecord) -> Int64?) -> ExportColumn.Values { .int64(rs.map(f)) }
        func s(_ f: (IncidentRecord) -> String?) -> ExportColumn.Values { .string(rs.map(f)) }
        func d(_ f: (IncidentRecord) -> Double?) -> ExportColumn.Values { .double(rs.map(f)) }
        return ExportTable(dataset: "incidents", columns: [
            ExportColumn(name: "source", kind: .string, nullable: false, values: s { $0.source }),
            ExportColumn(name: "incident_id", kind: .string, nullable: false, values: s { $0.id }),
            ExportColumn(name: "opened_at", kind: .timestamp, nullable: false, values: ts { $0.openedAt }),
            ExportColumn(name: "opened_date", kind: .date, nullable: false, values: .int32(rs.map { Int32(clock.local($0.openedAt).days) })),
            ExportColumn(name: "time_precision", kind: .string, nullable: false, values: s { $0.precision.rawValue }),
            ExportColumn(name: "closed_at", kind: .timestamp, nullable: true, values: ts { $0.closedAt }),
            ExportColumn(name: "keyword", kind: .string, nullable: false, values: s { $0.keyword }),
            ExportColumn(name: "category", kind: .string, nullable: false, values: s { $0.category }),
            ExportColumn(name: "area", kind: .string, nullable: true, values: s { $0.area }),
            ExportColumn(name: "grid_cell", kind: .string, nullable: true, values: s { $0.gridCell }),
            ExportColumn(name: "test", kind: .boolean, nullable: false, values: .boolean(rs.map { $0.test })),
            ExportColumn(name: "orders", kind: .int32, nullable: false, values: .int32(rs.map { Int32(clamping: $0.orders) })),
            ExportColumn(name: "units_alarmed", kind: .int32, nullable: false, values: .int32(rs.map { Int32(clamping: $0.unitsAlarmed) })),
            ExportColumn(name: "first_alarm_at", kind: .timestamp, nullable: true, values: ts { $0.firstAlarmAt }),
            ExportColumn(name: "first_delivered_at", kind: .timestamp, nullable: true, values: ts { $0.firstDeliveredAt }),
            ExportColumn(name: "first_en_route_at", kind: .timestamp, nullable: true, values: ts { $0.firstEnRouteAt }),
            ExportColumn(name: "first_on_scene_at", kind: .timestamp, nullable: true, values: ts { $0.firstOnSceneAt }),
            ExportColumn(name: "call_to_alarm_s", kind: .double, nullable: true, values: d { $0.callToAlarmSeconds }),
            ExportColumn(name: "alarm_to_en_route_s", kind: .double, nullable: true, values: d { $0.alarmToEnRouteSeconds }),
            ExportColumn(name: "call_to_on_scene_s", kind: .double, nullable: true, values: d { $0.callToOnSceneSeconds }),
            ExportColumn(name: "outcome", kind: .string, nullable: false, values: s { $0.outcome }),
            ExportColumn(name: "opened_by", kind: .string, nullable: true, values: s { r in r.personal.openedBy.map { keys.pseudonym($0, field: "operator") } }),
        ])
    }

    /// Unit dispatches: one row per unit and alarm order.
    public static func dispatches(_ ds: [UnitDispatch], keys: PseudonymKeys) -> ExportTable {
        func ts(_ f: (UnitDispatch) -> Int64?) -> ExportColumn.Values { .int64(ds.map(f)) }
        func s(_ f: (UnitDispatch) -> String?) -> ExportColumn.Values { .string(ds.map(f)) }
        func d(_ f: (UnitDispatch) -> Double?) -> ExportColumn.Values { .double(ds.map(f)) }
        return ExportTable(dataset: "dispatches", columns: [
            ExportColumn(name: "source", kind: .string, nullable: false, values: s { $0.source }),
            ExportColumn(name: "incident_id", kind: .string, nullable: false, values: s { $0.incident }),
            ExportColumn(name: "order_id", kind: .string, nullable: false, values: s { $0.order }),
            ExportColumn(name: "unit", kind: .string, nullable: false, values: s { $0.unit }),
            ExportColumn(name: "test", kind: .boolean, nullable: false, values: .boolean(ds.map { $0.test })),
            ExportColumn(name: "alarmed_at", kind: .timestamp, nullable: false, values: ts { $0.alarmedAt }),
            ExportColumn(name: "delivered_at", kind: .timestamp, nullable: true, values: ts { $0.deliveredAt }),
            ExportColumn(name: "acknowledged_at", kind: .timestamp, nullable: true, values: ts { $0.acknowledgedAt }),
            ExportColumn(name: "en_route_at", kind: .timestamp, nullable: true, values: ts { $0.enRouteAt }),
            ExportColumn(name: "on_scene_at", kind: .timestamp, nullable: true, values: ts { $0.onSceneAt }),
            ExportColumn(name: "free_at", kind: .timestamp, nullable: true, values: ts { $0.freeAt }),
            ExportColumn(name: "re_alerted", kind: .boolean, nullable: false, values: .boolean(ds.map { $0.reAlerted })),
            ExportColumn(name: "outcome", kind: .string, nullable: false, values: s { $0.outcome }),
            ExportColumn(name: "alarm_to_en_route_s", kind: .double, nullable: true, values: d { $0.alarmToEnRouteSeconds }),
            ExportColumn(name: "alarm_to_on_scene_s", kind: .double, nullable: true, values: d { $0.alarmToOnSceneSeconds }),
            ExportColumn(name: "bound_s", kind: .double, nullable: true, values: d { $0.boundSeconds }),
            ExportColumn(name: "acknowledged_by", kind: .string, nullable: true, values: s { u in u.acknowledgedBy.map { keys.pseudonym($0, field: "operator") } }),
        ])
    }

    /// Period counts: one row per period, category and area.
    public static func counts(_ cs: [PeriodCount]) -> ExportTable {
        ExportTable(dataset: "counts", columns: [
            ExportColumn(name: "source", kind: .string, nullable: false, values: .string(cs.map { $0.source })),
            ExportColumn(name: "period", kind: .string, nullable: false, values: .string(cs.map { $0.period.rawValue })),
            ExportColumn(name: "period_start", kind: .timestamp, nullable: false, values: .int64(cs.map { $0.periodStart })),
            ExportColumn(name: "local_date", kind: .date, nullable: false, values: .int32(cs.map { Int32(CivilDate.parse($0.localDate) ?? 0) })),
            ExportColumn(name: "category", kind: .string, nullable: false, values: .string(cs.map { $0.category })),
            ExportColumn(name: "area", kind: .string, nullable: true, values: .string(cs.map { $0.area.isEmpty ? nil : $0.area })),
            ExportColumn(name: "count", kind: .int64, nullable: false, values: .int64(cs.map { $0.count })),
        ])
    }

    // MARK: - Text formats

    /// The value at `row` of `column` as text (CSV): ISO 8601 local times with offset, dates as
    /// YYYY-MM-DD, doubles in their shortest exact form; nil for null.
    func text(_ c: ExportColumn, _ row: Int, clock: LocalClock) -> String? {
        switch c.values {
        case .string(let v): return v[row]
        case .int64(let v):
            guard let x = v[row] else { return nil }
            return c.kind == .timestamp ? clock.iso(x) : String(x)
        case .int32(let v):
            guard let x = v[row] else { return nil }
            return c.kind == .date ? LocalClock.format(days: Int64(x)) : String(x)
        case .boolean(let v): return v[row].map { $0 ? "true" : "false" }
        case .double(let v): return v[row].map { $0.description }
        }
    }

    /// RFC 4180 CSV with a header row; null is an empty field.
    public func csv(clock: LocalClock) -> [UInt8] {
        var out = columns.map(\.name).joined(separator: ",") + "\r\n"
        for row in 0..<rowCount {
            var first = true
            for c in columns {
                if !first { out += "," }
                first = false
                if let t = text(c, row, clock: clock) { out += CSV.escape(t) }
            }
            out += "\r\n"
        }
        return Array(out.utf8)
    }

    /// Newline-delimited JSON: one object per row, keys in column order, null for null.
    public func ndjson(clock: LocalClock) -> [UInt8] {
        var out = ""
        for row in 0..<rowCount {
            out += "{"
            for (k, c) in columns.enumerated() {
                if k > 0 { out += "," }
                out += "\"" + c.name + "\":"
                switch c.values {
                case .boolean(let v): out += v[row].map { $0 ? "true" : "false" } ?? "null"
                case .double(let v): out += v[row].map { $0.description } ?? "null"
                case .int32 where c.kind == .int32, .int64 where c.kind == .int64: out += text(c, row, clock: clock) ?? "null"
                default: out += text(c, row, clock: clock).map(Self.jsonString) ?? "null"
                }
            }
            out += "}\n"
        }
        return Array(out.utf8)
    }

    /// A JSON string literal (RFC 8259 §7).
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    // MARK: - Parquet

    /// The Parquet schema of the table's columns.
    public var parquetSchema: [ParquetField] {
        columns.map { c in
            let t: ParquetType = switch c.kind {
            case .string: .string
            case .timestamp: .timestampMillis
            case .date: .date
            case .boolean: .boolean
            case .int32: .int32
            case .int64: .int64
            case .double: .double
            }
            return ParquetField(c.name, t, nullable: c.nullable)
        }
    }

    /// The rows `range` as one Parquet row group.
    public func parquetColumns(_ range: Range<Int>) -> [ParquetColumn] {
        columns.map { c in
            switch c.values {
            case .string(let v): .string(Array(v[range]))
            case .int64(let v): .int64(Array(v[range]))
            case .int32(let v): .int32(Array(v[range]))
            case .boolean(let v): .boolean(Array(v[range]))
            case .double(let v): .double(Array(v[range]))
            }
        }
    }
}
