import Foundation
import Incidents
import Store

/// Why the incident store could not do something, worded for the operator who must act.
public enum IncidentStoreError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case diskFull(path: String)
    case corrupt(path: String, reason: String)
    case otherCluster(path: String, stored: String, given: String)
    case database(path: String, reason: String)
    case keys(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): "cannot open the incident store \(path): \(reason)"
        case let .diskFull(path): "the disk holding the incident store \(path) is full; nothing of this batch was stored; free space and start again (it resumes where it stopped)"
        case let .corrupt(path, reason): "the incident store \(path) is damaged (\(reason)); move it aside and rebuild it: the pipeline re-reads the log, imports can be repeated"
        case let .otherCluster(path, stored, given): "the incident store \(path) belongs to cluster \(stored), not \(given); give another --store"
        case let .database(path, reason): "incident store \(path): \(reason)"
        case let .keys(path, reason): "pseudonym keys in \(path): \(reason)"
        }
    }

    init(_ e: StoreError, path: String) {
        switch e {
        case .diskFull: self = .diskFull(path: path)
        case .corrupt(_, let c): self = .corrupt(path: path, reason: "\(c)")
        case .cannotOpen(_, let r): self = .cannotOpen(path: path, reason: r)
        case .locked: self = .database(path: path, reason: "locked by another process (is a pipeline or import already running on it?)")
        case let .sqlite(_, operation, code, message): self = .database(path: path, reason: "SQLite error \(code) during \(operation): \(message)")
        default: self = .database(path: path, reason: "\(e)")
        }
    }
}

/// The incident store: one SQLite file (`incidents.sqlite`, WAL, synchronous=FULL) in a directory
/// of its own, with the pseudonym keys beside it (`keys/`). SQLite because the pipeline must
/// write a batch of records *and* the feed offset it has read up to in one transaction — that is
/// what makes it exactly once by offset —, because open incidents are updated in place as their
/// events arrive, and because exports read time ranges through an index; the columnar files are
/// what leaves it (`florian export`). Personal fields live only here, and `purgePersonal` deletes
/// them (secure_delete: their pages are overwritten, not just unlinked).
///
/// Confined to one thread (it owns a `sqlite3*`).
public final class IncidentStore {
    public let directory: String
    public let path: String
    let db: Database
    private var statements: [String: Statement] = [:]
    public static let schemaVersion = 1

    /// A prepared statement, compiled once per store.
    func statement(_ sql: String) throws(StoreError) -> Statement {
        if let s = statements[sql] { return s }
        let s = try db.prepare(sql)
        statements[sql] = s
        return s
    }

    public init(directory: String) throws(IncidentStoreError) {
        self.directory = directory
        path = directory + "/incidents.sqlite"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .cannotOpen(path: directory, reason: "cannot create the directory: \(error.localizedDescription)")
        }
        do {
            db = try Database(path: path)
            _ = try db.scalarText("PRAGMA journal_mode=WAL")
            try db.execute("PRAGMA synchronous=FULL; PRAGMA secure_delete=ON; PRAGMA busy_timeout=5000")
            if let check = try db.scalarText("PRAGMA quick_check"), check != "ok" { throw IncidentStoreError.corrupt(path: path, reason: check) }
            try db.execute(Self.schema)
            if let v = try meta("schema"), v != String(Self.schemaVersion) {
                throw IncidentStoreError.database(path: path, reason: "schema version \(v); this build reads version \(Self.schemaVersion)")
            }
            try setMeta("schema", String(Self.schemaVersion))
        } catch let e as StoreError {
            throw IncidentStoreError(e, path: path)
        } catch let e as IncidentStoreError {
            throw e
        } catch {
            throw .database(path: path, reason: "\(error)")
        }
    }

    static let schema = """
        CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS incidents(
          source TEXT NOT NULL, id TEXT NOT NULL, opened_at INTEGER NOT NULL, precision TEXT NOT NULL, closed_at INTEGER,
          keyword TEXT NOT NULL, category TEXT NOT NULL, area TEXT, grid_cell TEXT, test INTEGER NOT NULL,
          orders INTEGER NOT NULL, units_alarmed INTEGER NOT NULL, first_alarm_at INTEGER, first_delivered_at INTEGER,
          first_en_route_at INTEGER, first_on_scene_at INTEGER, reported_response_s REAL, outcome TEXT NOT NULL,
          -- personal: never exported, deleted by retention
          address TEXT, remarks TEXT, lat_e6 INTEGER, lon_e6 INTEGER, opened_by TEXT,
          archived INTEGER NOT NULL DEFAULT 0,
          PRIMARY KEY(source, id)) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS incidents_opened ON incidents(opened_at);
        CREATE TABLE IF NOT EXISTS dispatches(
          source TEXT NOT NULL, incident TEXT NOT NULL, order_id TEXT NOT NULL, unit TEXT NOT NULL, alarmed_at INTEGER NOT NULL,
          delivered_at INTEGER, acknowledged_at INTEGER, en_route_at INTEGER, on_scene_at INTEGER, free_at INTEGER,
          re_alerted INTEGER NOT NULL, outcome TEXT NOT NULL, test INTEGER NOT NULL,
          acknowledged_by TEXT,
          PRIMARY KEY(source, order_id, unit)) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS dispatches_incident ON dispatches(source, incident);
        CREATE INDEX IF NOT EXISTS dispatches_alarmed ON dispatches(alarmed_at);
        CREATE TABLE IF NOT EXISTS latest(unit TEXT PRIMARY KEY, incident TEXT NOT NULL, order_id TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS counts(
          source TEXT NOT NULL, period TEXT NOT NULL, period_start INTEGER NOT NULL, local_date TEXT NOT NULL,
          category TEXT NOT NULL, area TEXT NOT NULL, count INTEGER NOT NULL,
          PRIMARY KEY(source, period, period_start, category, area)) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS counts_start ON counts(period_start);
        CREATE TABLE IF NOT EXISTS imports(
          at INTEGER NOT NULL, file TEXT NOT NULL, sha256 TEXT NOT NULL, mapping TEXT NOT NULL, source TEXT NOT NULL,
          read INTEGER NOT NULL, accepted INTEGER NOT NULL, rejected INTEGER NOT NULL);
        """

    // MARK: - Transactions and meta

    /// Runs `body` in one transaction (BEGIN IMMEDIATE … COMMIT): all of it is stored, or none.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        do { try db.execute("BEGIN IMMEDIATE") } catch { throw IncidentStoreError(error, path: path) }
        do {
            let v = try body()
            try db.execute("COMMIT")
            return v
        } catch {
            if db.isInTransaction { try? db.execute("ROLLBACK") }
            if let e = error as? StoreError { throw IncidentStoreError(e, path: path) }
            throw error
        }
    }

    func wrap<T>(_ body: () throws -> T) throws(IncidentStoreError) -> T {
        do { return try body() } catch let e as StoreError { throw IncidentStoreError(e, path: path) } catch let e as IncidentStoreError { throw e } catch {
            throw .database(path: path, reason: "\(error)")
        }
    }

    public func meta(_ key: String) throws(IncidentStoreError) -> String? {
        try wrap {
            let s = try statement("SELECT value FROM meta WHERE key = ?1")
            defer { s.reset() }
            try s.bind(1, text: key)
            return try s.step() ? s.text(0) : nil
        }
    }

    public func setMeta(_ key: String, _ value: String) throws(IncidentStoreError) {
        try wrap {
            let s = try statement("INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            try s.bind(1, text: key)
            try s.bind(2, text: value)
            try s.run()
        }
    }

    /// Binds the store to a cluster on first use; refuses another one later (its offsets would mean nothing).
    public func bind(cluster: String) throws(IncidentStoreError) {
        if let stored = try meta("cluster") {
            guard stored == cluster else { throw .otherCluster(path: path, stored: stored, given: cluster) }
        } else {
            try setMeta("cluster", cluster)
        }
    }

    /// The next offset of `alarm/events` the pipeline has not stored yet.
    public func feedOffset() throws(IncidentStoreError) -> UInt64 { UInt64(try meta("feed.offset") ?? "0") ?? 0 }

    // MARK: - Records

    static let recordColumns = """
        source, id, opened_at, precision, closed_at, keyword, category, area, grid_cell, test, orders, units_alarmed,
        first_alarm_at, first_delivered_at, first_en_route_at, first_on_scene_at, reported_response_s, outcome,
        address, remarks, lat_e6, lon_e6, opened_by
        """
    static let dispatchColumns = """
        source, incident, order_id, unit, alarmed_at, delivered_at, acknowledged_at, en_route_at, on_scene_at, free_at,
        re_alerted, outcome, test, acknowledged_by
        """

    private func bindOptional(_ s: Statement, _ i: Int32, _ v: Int64?) { if let v { s.bind(i, v) } else { s.bindNull(i) } }
    private func bindOptional(_ s: Statement, _ i: Int32, _ v: Double?) { if let v { s.bind(i, double: v) } else { s.bindNull(i) } }
    private func bindOptional(_ s: Statement, _ i: Int32, text v: String?) throws(StoreError) { if let v { try s.bind(i, text: v) } else { s.bindNull(i) } }
    private func optionalInt(_ s: Statement, _ c: Int32) -> Int64? { s.isNull(c) ? nil : s.int64(c) }

    func write(_ r: IncidentRecord) throws(StoreError) {
        let s = try statement("INSERT OR REPLACE INTO incidents(\(Self.recordColumns), archived) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23, COALESCE((SELECT archived FROM incidents WHERE source = ?1 AND id = ?2), 0))")
        try s.bind(1, text: r.source)
        try s.bind(2, text: r.id)
        s.bind(3, r.openedAt)
        try s.bind(4, text: r.precision.rawValue)
        bindOptional(s, 5, r.closedAt)
        try s.bind(6, text: r.keyword)
        try s.bind(7, text: r.category)
        try bindOptional(s, 8, text: r.area)
        try bindOptional(s, 9, text: r.gridCell)
        s.bind(10, r.test ? 1 : 0)
        s.bind(11, Int64(r.orders))
        s.bind(12, Int64(r.unitsAlarmed))
        bindOptional(s, 13, r.firstAlarmAt)
        bindOptional(s, 14, r.firstDeliveredAt)
        bindOptional(s, 15, r.firstEnRouteAt)
        bindOptional(s, 16, r.firstOnSceneAt)
        bindOptional(s, 17, r.reportedResponseSeconds)
        try s.bind(18, text: r.outcome)
        try bindOptional(s, 19, text: r.personal.address?.storedValue)
        try bindOptional(s, 20, text: r.personal.remarks?.storedValue)
        bindOptional(s, 21, r.personal.position?.storedValue.latE6)
        bindOptional(s, 22, r.personal.position?.storedValue.lonE6)
        try bindOptional(s, 23, text: r.personal.openedBy?.storedValue)
        try s.run()
    }

    func readRecord(_ s: Statement) -> IncidentRecord {
        var r = IncidentRecord(source: s.text(0) ?? "", id: s.text(1) ?? "", openedAt: s.int64(2),
                               precision: TimePrecision(rawValue: s.text(3) ?? "") ?? .exact, keyword: s.text(5) ?? "",
                               category: s.text(6) ?? "", area: s.text(7), test: s.int64(9) != 0)
        r.closedAt = optionalInt(s, 4)
        r.gridCell = s.text(8)
        r.orders = Int(s.int64(10))
        r.unitsAlarmed = Int(s.int64(11))
        r.firstAlarmAt = optionalInt(s, 12)
        r.firstDeliveredAt = optionalInt(s, 13)
        r.firstEnRouteAt = optionalInt(s, 14)
        r.firstOnSceneAt = optionalInt(s, 15)
        r.reportedResponseSeconds = s.isNull(16) ? nil : s.double(16)
        r.outcome = s.text(17) ?? ""
        r.personal.address = s.text(18).map { Personal($0) }
        r.personal.remarks = s.text(19).map { Personal($0) }
        if !s.isNull(20), !s.isNull(21) { r.personal.position = Personal(GeoPoint(latE6: s.int64(20), lonE6: s.int64(21))) }
        r.personal.openedBy = s.text(22).map { Personal($0) }
        return r
    }

    func write(_ d: UnitDispatch) throws(StoreError) {
        let s = try statement("INSERT OR REPLACE INTO dispatches(\(Self.dispatchColumns)) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)")
        try s.bind(1, text: d.source)
        try s.bind(2, text: d.incident)
        try s.bind(3, text: d.order)
        try s.bind(4, text: d.unit)
        s.bind(5, d.alarmedAt)
        bindOptional(s, 6, d.deliveredAt)
        bindOptional(s, 7, d.acknowledgedAt)
        bindOptional(s, 8, d.enRouteAt)
        bindOptional(s, 9, d.onSceneAt)
        bindOptional(s, 10, d.freeAt)
        s.bind(11, d.reAlerted ? 1 : 0)
        try s.bind(12, text: d.outcome)
        s.bind(13, d.test ? 1 : 0)
        try bindOptional(s, 14, text: d.acknowledgedBy?.storedValue)
        try s.run()
    }

    func readDispatch(_ s: Statement) -> UnitDispatch {
        var d = UnitDispatch(source: s.text(0) ?? "", incident: s.text(1) ?? "", order: s.text(2) ?? "", unit: s.text(3) ?? "",
                             alarmedAt: s.int64(4), test: s.int64(12) != 0)
        d.deliveredAt = optionalInt(s, 5)
        d.acknowledgedAt = optionalInt(s, 6)
        d.enRouteAt = optionalInt(s, 7)
        d.onSceneAt = optionalInt(s, 8)
        d.freeAt = optionalInt(s, 9)
        d.reAlerted = s.int64(10) != 0
        d.outcome = s.text(11) ?? ""
        d.acknowledgedBy = s.text(13).map { Personal($0) }
        return d
    }

    /// One record and its dispatches, for the projection's lookups.
    public func lookup(_ key: RecordKey) throws(IncidentStoreError) -> (IncidentRecord, [UnitDispatch])? {
        try wrap {
            let s = try statement("SELECT \(Self.recordColumns) FROM incidents WHERE source = ?1 AND id = ?2")
            defer { s.reset() }
            try s.bind(1, text: key.source)
            try s.bind(2, text: key.id)
            guard try s.step() else { return nil }
            let r = readRecord(s)
            let q = try statement("SELECT \(Self.dispatchColumns) FROM dispatches WHERE source = ?1 AND incident = ?2 ORDER BY order_id, unit")
            defer { q.reset() }
            try q.bind(1, text: key.source)
            try q.bind(2, text: key.id)
            var ds: [UnitDispatch] = []
            while try q.step() { ds.append(readDispatch(q)) }
            return (r, ds)
        }
    }

    /// What the pipeline keeps in memory on start: open incidents, every unit's latest dispatch
    /// and the records those belong to.
    public func workingSet(source: String) throws(IncidentStoreError) -> (records: [IncidentRecord], dispatches: [UnitDispatch], latest: [String: UnitLink]) {
        var latest: [String: UnitLink] = [:]
        var ids = Set<String>()
        try wrap {
            let l = try statement("SELECT unit, incident, order_id FROM latest")
            defer { l.reset() }
            while try l.step() {
                let link = UnitLink(incident: l.text(1) ?? "", order: l.text(2) ?? "")
                latest[l.text(0) ?? ""] = link
                ids.insert(link.incident)
            }
            let o = try statement("SELECT id FROM incidents WHERE source = ?1 AND closed_at IS NULL")
            defer { o.reset() }
            try o.bind(1, text: source)
            while try o.step() { ids.insert(o.text(0) ?? "") }
        }
        var records: [IncidentRecord] = []
        var dispatches: [UnitDispatch] = []
        for id in ids.sorted() {
            if let (r, ds) = try lookup(RecordKey(source: source, id: id)) { records.append(r); dispatches += ds }
        }
        return (records, dispatches, latest)
    }

    /// Stores what the projection changed and the offset it has read up to, in one transaction:
    /// after a crash the pipeline resumes at that offset with exactly these records.
    public func commit(records: [IncidentRecord], dispatches: [UnitDispatch], latest: [(unit: String, link: UnitLink)],
                       feedOffset: UInt64) throws {
        try transaction {
            for r in records { try write(r) }
            for d in dispatches { try write(d) }
            let s = try statement("INSERT OR REPLACE INTO latest(unit, incident, order_id) VALUES(?1, ?2, ?3)")
            for (unit, link) in latest {
                try s.bind(1, text: unit)
                try s.bind(2, text: link.incident)
                try s.bind(3, text: link.order)
                try s.run()
            }
            try setMeta("feed.offset", String(feedOffset))
        }
    }

    /// Adds or replaces imported records (keyed by source and id: importing a file again changes nothing).
    public func upsert(records: [IncidentRecord]) throws {
        try transaction { for r in records { try write(r) } }
    }

    public func upsert(counts: [PeriodCount]) throws {
        try transaction {
            let s = try statement("INSERT OR REPLACE INTO counts(source, period, period_start, local_date, category, area, count) VALUES(?1,?2,?3,?4,?5,?6,?7)")
            for c in counts {
                try s.bind(1, text: c.source)
                try s.bind(2, text: c.period.rawValue)
                s.bind(3, c.periodStart)
                try s.bind(4, text: c.localDate)
                try s.bind(5, text: c.category)
                try s.bind(6, text: c.area)
                s.bind(7, c.count)
                try s.run()
            }
        }
    }

    public func recordImport(file: String, sha256: String, mapping: String, source: String, read: Int, accepted: Int, rejected: Int, at: Int64) throws {
        try transaction {
            let s = try statement("INSERT INTO imports(at, file, sha256, mapping, source, read, accepted, rejected) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)")
            s.bind(1, at)
            try s.bind(2, text: file)
            try s.bind(3, text: sha256)
            try s.bind(4, text: mapping)
            try s.bind(5, text: source)
            s.bind(6, Int64(read))
            s.bind(7, Int64(accepted))
            s.bind(8, Int64(rejected))
            try s.run()
        }
    }

    // MARK: - Reading for exports

    /// Records opened in [from, to) (UTC ms), by opening time, source and id.
    public func records(from: Int64, to: Int64) throws(IncidentStoreError) -> [IncidentRecord] {
        try wrap {
            let s = try statement("SELECT \(Self.recordColumns) FROM incidents WHERE opened_at >= ?1 AND opened_at < ?2 ORDER BY opened_at, source, id")
            defer { s.reset() }
            s.bind(1, from)
            s.bind(2, to)
            var out: [IncidentRecord] = []
            while try s.step() { out.append(readRecord(s)) }
            return out
        }
    }

    /// Dispatches alarmed in [from, to).
    public func dispatches(from: Int64, to: Int64) throws(IncidentStoreError) -> [UnitDispatch] {
        try wrap {
            let s = try statement("SELECT \(Self.dispatchColumns) FROM dispatches WHERE alarmed_at >= ?1 AND alarmed_at < ?2 ORDER BY alarmed_at, source, order_id, unit")
            defer { s.reset() }
            s.bind(1, from)
            s.bind(2, to)
            var out: [UnitDispatch] = []
            while try s.step() { out.append(readDispatch(s)) }
            return out
        }
    }

    /// Period counts starting in [from, to).
    public func counts(from: Int64, to: Int64) throws(IncidentStoreError) -> [PeriodCount] {
        try wrap {
            let s = try statement("SELECT source, period, period_start, local_date, category, area, count FROM counts WHERE period_start >= ?1 AND period_start < ?2 ORDER BY period_start, source, period, category, area")
            defer { s.reset() }
            s.bind(1, from)
            s.bind(2, to)
            var out: [PeriodCount] = []
            while try s.step() {
                out.append(PeriodCount(source: s.text(0) ?? "", period: PeriodCount.Period(rawValue: s.text(1) ?? "") ?? .day, periodStart: s.int64(2),
                                       localDate: s.text(3) ?? "", category: s.text(4) ?? "", area: s.text(5) ?? "", count: s.int64(6)))
            }
            return out
        }
    }

    // MARK: - Reading for statistics

    /// The sources in the store (incident records or period counts), sorted.
    public func sources() throws(IncidentStoreError) -> [String] {
        try wrap {
            let s = try statement("SELECT source FROM incidents UNION SELECT source FROM counts ORDER BY 1")
            defer { s.reset() }
            var out: [String] = []
            while try s.step() { out.append(s.text(0) ?? "") }
            return out
        }
    }

    /// The opening times (UTC ms) of one source's incidents — Probealarme left out unless asked —
    /// and whether any of them is known only to the day. One column, not whole records: a
    /// forecast over millions of calls reads only what it needs.
    public func openingTimes(source: String, includeTests: Bool = false, category: String? = nil) throws(IncidentStoreError) -> (times: [Int64], dayPrecision: Bool) {
        try wrap {
            let s = try statement("SELECT opened_at, precision FROM incidents WHERE source = ?1 AND (?2 OR test = 0) AND (?3 IS NULL OR category = ?3) ORDER BY opened_at")
            defer { s.reset() }
            try s.bind(1, text: source)
            s.bind(2, includeTests ? 1 : 0)
            if let category { try s.bind(3, text: category) } else { s.bindNull(3) }
            var times: [Int64] = []
            var day = false
            while try s.step() {
                times.append(s.int64(0))
                if s.text(1) == TimePrecision.day.rawValue { day = true }
            }
            return (times, day)
        }
    }

    /// One source's published day counts of a category (area "" = the whole source area).
    public func dayCounts(source: String, category: String) throws(IncidentStoreError) -> [(localDate: String, count: Double)] {
        try wrap {
            let s = try statement("SELECT local_date, count FROM counts WHERE source = ?1 AND period = 'day' AND category = ?2 AND area = '' ORDER BY period_start")
            defer { s.reset() }
            try s.bind(1, text: source)
            try s.bind(2, text: category)
            var out: [(String, Double)] = []
            while try s.step() { out.append((s.text(0) ?? "", Double(s.int64(1)))) }
            return out
        }
    }

    /// Every record of every source (statistics over the whole store), in opening order.
    public func allRecords() throws(IncidentStoreError) -> [IncidentRecord] { try records(from: Int64.min, to: Int64.max) }

    /// Every dispatch, in alarm order.
    public func allDispatches() throws(IncidentStoreError) -> [UnitDispatch] { try dispatches(from: Int64.min, to: Int64.max) }

    /// Row counts per table (for reports and tests).
    public func count(_ table: String) throws(IncidentStoreError) -> Int {
        precondition(["incidents", "dispatches", "counts", "imports", "latest"].contains(table))
        return try wrap { Int(try db.scalarText("SELECT count(*) FROM \(table)") ?? "0") ?? 0 }
    }

    // MARK: - Retention and archiving

    /// Deletes the personal fields of records opened (and dispatches alarmed) before `cutoff`;
    /// returns how many records lost them. The WAL is checkpointed and truncated, so the deleted
    /// text is gone from the files too.
    @discardableResult
    public func purgePersonal(before cutoff: Int64) throws -> Int {
        let n = try transaction { () throws -> Int in
            let s = try statement("UPDATE incidents SET address = NULL, remarks = NULL, lat_e6 = NULL, lon_e6 = NULL, opened_by = NULL WHERE opened_at < ?1 AND (address IS NOT NULL OR remarks IS NOT NULL OR lat_e6 IS NOT NULL OR opened_by IS NOT NULL)")
            s.bind(1, cutoff)
            try s.run()
            let changed = Int(try db.scalarText("SELECT changes()") ?? "0") ?? 0
            let d = try statement("UPDATE dispatches SET acknowledged_by = NULL WHERE alarmed_at < ?1 AND acknowledged_by IS NOT NULL")
            d.bind(1, cutoff)
            try d.run()
            return changed
        }
        try wrap { _ = try db.scalarText("PRAGMA wal_checkpoint(TRUNCATE)") }
        return n
    }

    /// Our incidents closed before `closedBefore` that the alarm state may drop (stored, not yet archived).
    public func archivable(closedBefore: Int64, limit: Int = 200) throws(IncidentStoreError) -> [String] {
        try wrap {
            let s = try statement("SELECT id FROM incidents WHERE source = ?1 AND archived = 0 AND closed_at IS NOT NULL AND closed_at < ?2 ORDER BY closed_at, id LIMIT ?3")
            defer { s.reset() }
            try s.bind(1, text: IncidentProjection.source)
            s.bind(2, closedBefore)
            s.bind(3, Int64(limit))
            var out: [String] = []
            while try s.step() { out.append(s.text(0) ?? "") }
            return out
        }
    }

    public func markArchived(_ ids: [String]) throws {
        try transaction {
            let s = try statement("UPDATE incidents SET archived = 1 WHERE source = ?1 AND id = ?2")
            for id in ids {
                try s.bind(1, text: IncidentProjection.source)
                try s.bind(2, text: id)
                try s.run()
            }
        }
    }
}

@available(*, unavailable)
extension IncidentStore: Sendable {}
