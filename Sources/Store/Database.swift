internal import CSQLite

/// The one owner of a `sqlite3*` connection: opens it, maps its errors to `StoreError`, closes it.
///
/// The handle is confined to the thread or actor that owns the `Database` (SQLite's "multi-thread"
/// mode, `SQLITE_OPEN_NOMUTEX`), which is why neither this class nor `Statement` is Sendable.
package final class Database {
    package let path: String
    private let handle: OpaquePointer

    /// Opens or creates the file at `path`. Configuration (WAL, sync level) is the caller's.
    package init(path: String) throws(StoreError) {
        var opened: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &opened, flags, nil)
        guard rc == SQLITE_OK, let opened else {
            // sqlite3_open_v2 returns a handle even on failure; it carries the message and must be closed.
            let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(opened)
            throw Self.map(rc, message: message, path: path, operation: "open")
        }
        handle = opened
        self.path = path
        sqlite3_extended_result_codes(handle, 1)
    }

    deinit {
        // _v2: if a Statement still lives, SQLite closes once it is finalized instead of failing.
        sqlite3_close_v2(handle)
    }

    /// Runs `sql`, one or more statements, discarding any rows.
    package func execute(_ sql: String) throws(StoreError) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, during: sql) }
    }

    /// Runs `sql` and returns the first column of its first row as text (for PRAGMAs that answer).
    package func scalarText(_ sql: String) throws(StoreError) -> String? {
        let statement = try prepare(sql, persistent: false)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return statement.text(0)
    }

    /// Compiles `sql` once for repeated use.
    package func prepare(_ sql: String, persistent: Bool = true) throws(StoreError) -> Statement {
        var compiled: OpaquePointer?
        let flags = persistent ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
        let rc = sqlite3_prepare_v3(handle, sql, -1, flags, &compiled, nil)
        guard rc == SQLITE_OK, let compiled else { throw error(rc, during: "prepare \(sql)") }
        return Statement(compiled, sql: sql, database: self)
    }

    /// Whether a transaction is open (SQLite may have rolled one back by itself after an error).
    package var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// `error` as a `StoreError`, with SQLite's message for the last failure on this connection.
    package func error(_ rc: Int32, during operation: String) -> StoreError {
        Self.map(rc, message: String(cString: sqlite3_errmsg(handle)), path: path, operation: operation)
    }

    private static func map(_ rc: Int32, message: String, path: String, operation: String) -> StoreError {
        switch rc & 0xFF {
        case SQLITE_FULL: .diskFull(path: path)
        case SQLITE_CORRUPT, SQLITE_NOTADB: .corrupt(path: path, .database(message))
        case SQLITE_BUSY, SQLITE_LOCKED: .locked(path: path)
        case SQLITE_CANTOPEN, SQLITE_PERM, SQLITE_READONLY: .cannotOpen(path: path, reason: message)
        default: .sqlite(path: path, operation: operation, code: rc, message: message)
        }
    }
}

@available(*, unavailable)
extension Database: Sendable {}

/// The one owner of a `sqlite3_stmt*`. Holds its `Database` so the connection outlives it.
package final class Statement {
    private let handle: OpaquePointer
    private let database: Database
    package let sql: String

    fileprivate init(_ handle: OpaquePointer, sql: String, database: Database) {
        self.handle = handle
        self.sql = sql
        self.database = database
    }

    deinit { sqlite3_finalize(handle) }

    /// The column types SQLite stores (§2.1 of "Datatypes In SQLite").
    package enum ColumnType: Equatable { case integer, float, text, blob, null }

    package func bind(_ position: Int32, _ value: Int64) {
        // Binding an int to a valid position of a reset statement cannot fail.
        sqlite3_bind_int64(handle, position, value)
    }

    /// Binds `bytes` as a BLOB (an empty array as a zero-length BLOB, not NULL); SQLite copies them.
    ///
    /// - Throws: SQLite's SQLITE_TOOBIG when `bytes` exceeds its length limit (10⁹ by default).
    package func bind(_ position: Int32, blob bytes: [UInt8]) throws(StoreError) {
        let rc = bytes.withUnsafeBytes { raw in
            if raw.isEmpty {
                sqlite3_bind_zeroblob(handle, position, 0)
            } else {
                sqlite3_bind_blob64(handle, position, raw.baseAddress, sqlite3_uint64(raw.count), CSQLite_transient())
            }
        }
        guard rc == SQLITE_OK else { throw database.error(rc, during: "bind \(bytes.count) bytes for \(sql)") }
    }

    /// Binds `text` as TEXT (UTF-8); SQLite copies it.
    package func bind(_ position: Int32, text: String) throws(StoreError) {
        let rc = sqlite3_bind_text64(handle, position, text, sqlite3_uint64(text.utf8.count), CSQLite_transient(), UInt8(SQLITE_UTF8))
        guard rc == SQLITE_OK else { throw database.error(rc, during: "bind text for \(sql)") }
    }

    /// Advances to the next row: true when there is one, false when done.
    package func step() throws(StoreError) -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let rc: throw database.error(rc, during: sql)
        }
    }

    /// Steps a statement that returns no rows, then resets it.
    package func run() throws(StoreError) {
        defer { reset() }
        _ = try step()
    }

    /// Makes the statement ready to run again and drops its bindings.
    package func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    package func type(_ column: Int32) -> ColumnType {
        switch sqlite3_column_type(handle, column) {
        case SQLITE_INTEGER: .integer
        case SQLITE_FLOAT: .float
        case SQLITE_TEXT: .text
        case SQLITE_BLOB: .blob
        default: .null
        }
    }

    package func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    package func double(_ column: Int32) -> Double { sqlite3_column_double(handle, column) }

    package func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    package func bind(_ position: Int32, double value: Double) { sqlite3_bind_double(handle, position, value) }

    package func bindNull(_ position: Int32) { sqlite3_bind_null(handle, position) }

    package func blob(_ column: Int32) -> [UInt8] {
        // Pointer first, then length, as sqlite3_column_blob's documentation requires.
        guard let pointer = sqlite3_column_blob(handle, column) else { return [] }
        let count = Int(sqlite3_column_bytes(handle, column))
        return [UInt8](UnsafeRawBufferPointer(start: pointer, count: count))
    }

    package func text(_ column: Int32) -> String? {
        guard let pointer = sqlite3_column_text(handle, column) else { return nil }
        return String(cString: pointer)
    }
}

@available(*, unavailable)
extension Statement: Sendable {}
