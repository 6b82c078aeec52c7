import Foundation

// A Parquet file writer for flat schemas (parquet-format `parquet.thrift`, `Encodings.md`).
//
// Layout of a file: "PAR1", then for each row group and each column one column chunk — an optional
// dictionary page followed by data pages (v1) — then the FileMetaData footer (Thrift compact), its
// length as 4 bytes little-endian, and "PAR1" again. The footer is written last because it records
// every chunk's offset and size, which are known only once the chunk is out.

/// The type of a column as readers see it: the physical type plus the logical annotation that makes
/// pyarrow and DuckDB show it as a string, a timestamp or a date instead of bare bytes or integers.
public enum ParquetType: Sendable, Equatable {
    case boolean
    case int32
    case int64
    case double
    /// BYTE_ARRAY holding UTF-8: logical STRING, converted type UTF8.
    case string
    /// INT64 milliseconds since 1970-01-01T00:00Z: logical TIMESTAMP(isAdjustedToUTC: true, MILLIS),
    /// converted type TIMESTAMP_MILLIS. Its values are given as a `.int64` column.
    case timestampMillis
    /// INT32 days since 1970-01-01: logical DATE, converted type DATE. Its values are given as a
    /// `.int32` column.
    case date
}

/// One column of the (flat) schema. A `nullable` field is OPTIONAL in Parquet and may hold nil;
/// a non-nullable one is REQUIRED and stores no definition levels.
public struct ParquetField: Sendable, Equatable {
    public var name: String
    public var type: ParquetType
    public var nullable: Bool

    public init(_ name: String, _ type: ParquetType, nullable: Bool = false) {
        self.name = name
        self.type = type
        self.nullable = nullable
    }
}

/// The values of one column for one row group, nil for null. `.timestampMillis` fields take
/// `.int64` (milliseconds), `.date` fields take `.int32` (days).
public enum ParquetColumn: Sendable {
    case boolean([Bool?])
    case int32([Int32?])
    case int64([Int64?])
    case double([Double?])
    case string([String?])

    /// Number of rows (values and nulls).
    public var count: Int {
        switch self {
        case .boolean(let v): v.count
        case .int32(let v): v.count
        case .int64(let v): v.count
        case .double(let v): v.count
        case .string(let v): v.count
        }
    }

    var caseName: String {
        switch self {
        case .boolean: ".boolean"
        case .int32: ".int32"
        case .int64: ".int64"
        case .double: ".double"
        case .string: ".string"
        }
    }
}

/// What the writer refused, worded so the caller can fix it. Input errors are detected before any
/// byte of the row group is written, so the file stays valid and the writer usable; only
/// `.pageTooLarge` and a throwing sink leave it `.writerFailed`.
public enum ParquetError: Error, Equatable, CustomStringConvertible {
    case emptySchema
    case invalidFieldName(String)
    case duplicateFieldName(String)
    case invalidOption(String)
    case wrongColumnCount(expected: Int, got: Int)
    case typeMismatch(field: String, expected: ParquetType, got: String)
    case rowCountsDiffer(field: String, expected: Int, got: Int)
    case nullInRequiredField(field: String, row: Int)
    /// A page's bytes exceed the 2 GiB a page header can describe (parquet.thrift PageHeader: i32 sizes).
    case pageTooLarge(field: String, bytes: Int)
    /// The footer exceeds the 4 GiB its 4-byte length can describe (far more row groups than anyone writes).
    case footerTooLarge(bytes: Int)
    case writerFinished
    /// An earlier call failed half-way (the sink threw, or a page was too large); the bytes written
    /// so far do not form a file and the writer refuses more.
    case writerFailed

    public var description: String {
        switch self {
        case .emptySchema:
            "a Parquet schema needs at least one field"
        case .invalidFieldName(let name):
            "invalid field name \(String(reflecting: name)): a field name must not be empty"
        case .duplicateFieldName(let name):
            "field name \(String(reflecting: name)) appears twice in the schema; readers address columns by name"
        case .invalidOption(let message):
            "invalid writer option: \(message)"
        case .wrongColumnCount(let expected, let got):
            "writeRowGroup got \(got) column(s) for a schema of \(expected) field(s); pass one column per field, in schema order"
        case .typeMismatch(let field, let expected, let got):
            "field '\(field)' is \(expected) and takes a \(ParquetWriter.columnCase(for: expected)) column, got \(got)"
        case .rowCountsDiffer(let field, let expected, let got):
            "field '\(field)' has \(got) row(s) but the first column has \(expected); all columns of a row group must be equally long"
        case .nullInRequiredField(let field, let row):
            "null in required field '\(field)' at row \(row) of the row group; declare the field nullable or supply a value"
        case .pageTooLarge(let field, let bytes):
            "a page of field '\(field)' would be \(bytes) bytes, over the 2 GiB a page can hold; lower Options.pageRows"
        case .footerTooLarge(let bytes):
            "the footer would be \(bytes) bytes, over the 4 GiB its length field can hold; write fewer, larger row groups"
        case .writerFinished:
            "the writer is finished (finish() was called); start a new writer for a new file"
        case .writerFailed:
            "an earlier write failed half-way, so the output is not a valid Parquet file; start a new file"
        }
    }
}

/// Writes a Parquet file for a flat schema, row group by row group, to a byte sink.
///
/// Every column chunk is dictionary-encoded when that pays (strings and 32/64-bit integers with few
/// distinct values), else PLAIN; pages are data pages v1 of at most `Options.pageRows` rows. Each
/// chunk carries statistics (null count, min, max) that readers use to skip row groups, so they are
/// computed exactly in the column's sort order (parquet.thrift ColumnOrder: signed for integers,
/// unsigned byte-wise for strings). Used from one thread; not Sendable because the sink is a plain closure.
///
/// A struct for `var writer` / `mutating` call sites; its scratch buffers are class instances, so
/// a copy shares them — write through one copy only (two copies would also disagree on the file offset).
public struct ParquetWriter {
    /// Tuning that does not change what readers see, only how it is stored.
    public struct Options: Sendable {
        /// Page compression; `.snappy` is the raw Snappy block format Parquet expects.
        public var compression: Compression = .none
        /// Use dictionary pages for strings and integers when the distinct values are at most half the
        /// non-null values and their dictionary at most 1 MiB.
        public var dictionary: Bool = true
        /// Rows per data page (1…Int32.max).
        public var pageRows: Int = 20_000
        public init() {}
    }

    /// The codecs this writer implements (parquet.thrift CompressionCodec UNCOMPRESSED, SNAPPY).
    public enum Compression: String, Sendable {
        case none
        case snappy
    }

    private enum State { case open, finished, failed }

    private let schema: [ParquetField]
    private let options: Options
    private let sink: ([UInt8]) throws -> Void
    private var offset: Int64 = 0
    private var rowGroups: [ParquetRowGroupMeta] = []
    private var state = State.open
    private var encoder = ParquetChunkEncoder()
    /// Rows in the row groups written so far.
    public private(set) var rowsWritten: Int = 0

    /// Checks the schema and options, then hands the leading magic "PAR1" to `sink`.
    public init(schema: [ParquetField], options: Options = Options(), sink: @escaping ([UInt8]) throws -> Void) throws {
        guard !schema.isEmpty else { throw ParquetError.emptySchema }
        var seen = Set<String>()
        for field in schema {
            guard !field.name.isEmpty else { throw ParquetError.invalidFieldName(field.name) }
            guard seen.insert(field.name).inserted else { throw ParquetError.duplicateFieldName(field.name) }
        }
        guard options.pageRows >= 1, options.pageRows <= Int(Int32.max) else {
            throw ParquetError.invalidOption("pageRows must be between 1 and \(Int32.max), got \(options.pageRows)")
        }
        self.schema = schema
        self.options = options
        self.sink = sink
        try emit(ParquetFormat.magic)
    }

    /// Writes one row group: one column per schema field, in schema order, all of equal length.
    /// A group of zero rows writes nothing (readers need no empty row groups).
    public mutating func writeRowGroup(_ columns: [ParquetColumn]) throws {
        try requireOpen()
        guard columns.count == schema.count else {
            throw ParquetError.wrongColumnCount(expected: schema.count, got: columns.count)
        }
        let rows = columns[0].count
        for (field, column) in zip(schema, columns) {
            try Self.validate(column, for: field, rows: rows)
        }
        guard rows > 0 else { return }

        let groupOffset = offset
        var chunks: [ParquetColumnChunkMeta] = []
        chunks.reserveCapacity(schema.count)
        for (field, column) in zip(schema, columns) {
            let meta: ParquetColumnChunkMeta
            do {
                meta = try encoder.encode(column, field: field, rows: rows, at: offset, options: options)
            } catch {
                // Earlier chunks of this group are already out: the file cannot be completed.
                state = .failed
                throw error
            }
            try emit(encoder.chunk)
            chunks.append(meta)
        }
        rowGroups.append(ParquetRowGroupMeta(columns: chunks, numRows: Int64(rows), fileOffset: groupOffset,
                                      totalByteSize: chunks.reduce(0) { $0 + $1.uncompressedSize },
                                      totalCompressedSize: chunks.reduce(0) { $0 + $1.compressedSize }))
        rowsWritten += rows
    }

    /// Writes the footer — schema, row groups, `metadata` as key/value metadata — and the closing
    /// magic. The writer refuses further calls afterwards.
    public mutating func finish(metadata: [(key: String, value: String)] = []) throws {
        try requireOpen()
        var footer = ParquetFormat.fileMetaData(schema: schema, rowGroups: rowGroups,
                                                 numRows: Int64(rowsWritten), metadata: metadata)
        guard let length = UInt32(exactly: footer.count) else { throw ParquetError.footerTooLarge(bytes: footer.count) }
        withUnsafeBytes(of: length.littleEndian) { footer.append(contentsOf: $0) }
        footer.append(contentsOf: ParquetFormat.magic)
        try emit(footer)
        state = .finished
    }

    // MARK: Checks

    private func requireOpen() throws {
        switch state {
        case .open: return
        case .finished: throw ParquetError.writerFinished
        case .failed: throw ParquetError.writerFailed
        }
    }

    private mutating func emit(_ bytes: [UInt8]) throws {
        do {
            try sink(bytes)
        } catch {
            state = .failed
            throw error
        }
        offset += Int64(bytes.count)
    }

    static func columnCase(for type: ParquetType) -> String {
        switch type {
        case .boolean: ".boolean"
        case .int32, .date: ".int32"
        case .int64, .timestampMillis: ".int64"
        case .double: ".double"
        case .string: ".string"
        }
    }

    private static func validate(_ column: ParquetColumn, for field: ParquetField, rows: Int) throws {
        guard column.caseName == columnCase(for: field.type) else {
            throw ParquetError.typeMismatch(field: field.name, expected: field.type, got: column.caseName)
        }
        guard column.count == rows else {
            throw ParquetError.rowCountsDiffer(field: field.name, expected: rows, got: column.count)
        }
        guard !field.nullable else { return }
        let firstNull: Int? = switch column {
        case .boolean(let v): v.firstIndex(where: { $0 == nil })
        case .int32(let v): v.firstIndex(where: { $0 == nil })
        case .int64(let v): v.firstIndex(where: { $0 == nil })
        case .double(let v): v.firstIndex(where: { $0 == nil })
        case .string(let v): v.firstIndex(where: { $0 == nil })
        }
        if let row = firstNull { throw ParquetError.nullInRequiredField(field: field.name, row: row) }
    }
}

// MARK: - Format constants and footer

/// parquet.thrift enum values and the footer serialization.
enum ParquetFormat {
    static let magic: [UInt8] = Array("PAR1".utf8)
    static let createdBy = "florian"

    // enum Type
    static let typeBoolean: Int32 = 0, typeInt32: Int32 = 1, typeInt64: Int32 = 2
    static let typeDouble: Int32 = 5, typeByteArray: Int32 = 6
    // enum Encoding
    static let encodingPlain: Int32 = 0, encodingRLE: Int32 = 3, encodingRLEDictionary: Int32 = 8
    // enum PageType
    static let pageData: Int32 = 0, pageDictionary: Int32 = 2
    // enum CompressionCodec
    static let codecUncompressed: Int32 = 0, codecSnappy: Int32 = 1
    // enum FieldRepetitionType
    static let required: Int32 = 0, optional: Int32 = 1
    // enum ConvertedType
    static let convertedUTF8: Int32 = 0, convertedDate: Int32 = 6, convertedTimestampMillis: Int32 = 9

    static func physicalType(_ type: ParquetType) -> Int32 {
        switch type {
        case .boolean: typeBoolean
        case .int32, .date: typeInt32
        case .int64, .timestampMillis: typeInt64
        case .double: typeDouble
        case .string: typeByteArray
        }
    }

    /// FileMetaData (parquet.thrift), field ids as numbered there.
    static func fileMetaData(schema: [ParquetField], rowGroups: [ParquetRowGroupMeta], numRows: Int64,
                             metadata: [(key: String, value: String)]) -> [UInt8] {
        var t = ThriftCompactWriter()
        t.writeI32(1, 1)  // version: 1 is what the spec asks of writers for compatibility
        t.beginList(2, .structure, count: schema.count + 1)
        t.beginListStruct()  // the root group
        t.writeString(4, "schema")
        t.writeI32(5, Int32(schema.count))
        t.endStruct()
        for field in schema { schemaElement(field, into: &t) }
        t.writeI64(3, numRows)
        t.beginList(4, .structure, count: rowGroups.count)
        for (ordinal, group) in rowGroups.enumerated() {
            t.beginListStruct()
            t.beginList(1, .structure, count: group.columns.count)
            for chunk in group.columns { columnChunk(chunk, into: &t) }
            t.writeI64(2, group.totalByteSize)
            t.writeI64(3, group.numRows)
            t.writeI64(5, group.fileOffset)
            t.writeI64(6, group.totalCompressedSize)
            if ordinal <= Int(Int16.max) { t.writeI16(7, Int16(ordinal)) }
            t.endStruct()
        }
        if !metadata.isEmpty {
            t.beginList(5, .structure, count: metadata.count)
            for entry in metadata {
                t.beginListStruct()
                t.writeString(1, entry.key)
                t.writeString(2, entry.value)
                t.endStruct()
            }
        }
        t.writeString(6, createdBy)
        // Without column_orders the min_value/max_value statistics are undefined (parquet.thrift
        // FileMetaData.column_orders); TYPE_ORDER is the order our statistics are computed in.
        t.beginList(7, .structure, count: schema.count)
        for _ in schema {
            t.beginListStruct()
            t.writeEmptyStruct(1)
            t.endStruct()
        }
        t.finishTopLevel()
        return t.bytes
    }

    private static func schemaElement(_ field: ParquetField, into t: inout ThriftCompactWriter) {
        t.beginListStruct()
        t.writeI32(1, physicalType(field.type))
        t.writeI32(3, field.nullable ? optional : required)
        t.writeString(4, field.name)
        // LogicalTypes.md: writers of a logical type also set the matching converted type for old readers.
        switch field.type {
        case .string:
            t.writeI32(6, convertedUTF8)
            t.beginStruct(10)
            t.writeEmptyStruct(1)  // STRING
            t.endStruct()
        case .date:
            t.writeI32(6, convertedDate)
            t.beginStruct(10)
            t.writeEmptyStruct(6)  // DATE
            t.endStruct()
        case .timestampMillis:
            t.writeI32(6, convertedTimestampMillis)
            t.beginStruct(10)
            t.beginStruct(8)  // TIMESTAMP
            t.writeBool(1, true)  // isAdjustedToUTC
            t.beginStruct(2)  // unit
            t.writeEmptyStruct(1)  // MILLIS
            t.endStruct()
            t.endStruct()
            t.endStruct()
        case .boolean, .int32, .int64, .double:
            break
        }
        t.endStruct()
    }

    private static func columnChunk(_ c: ParquetColumnChunkMeta, into t: inout ThriftCompactWriter) {
        t.beginListStruct()
        t.writeI64(2, 0)  // file_offset: deprecated, 0 when no ColumnMetaData is written outside the footer
        t.beginStruct(3)
        t.writeI32(1, c.physicalType)
        t.beginList(2, .i32, count: c.encodings.count)
        for e in c.encodings { t.listI32(e) }
        t.beginList(3, .binary, count: 1)
        t.listString(c.path)
        t.writeI32(4, c.codec)
        t.writeI64(5, c.numValues)
        t.writeI64(6, c.uncompressedSize)
        t.writeI64(7, c.compressedSize)
        t.writeI64(9, c.dataPageOffset)
        if let dictionaryOffset = c.dictionaryPageOffset { t.writeI64(11, dictionaryOffset) }
        t.beginStruct(12)
        t.writeI64(3, c.statistics.nullCount)
        if let max = c.statistics.max, let min = c.statistics.min {
            t.writeBinary(5, max)
            t.writeBinary(6, min)
            t.writeBool(7, true)  // is_max_value_exact
            t.writeBool(8, true)  // is_min_value_exact
        }
        if let nanCount = c.statistics.nanCount { t.writeI64(9, nanCount) }
        t.endStruct()
        t.beginList(13, .structure, count: c.encodingStats.count)
        for s in c.encodingStats {
            t.beginListStruct()
            t.writeI32(1, s.pageType)
            t.writeI32(2, s.encoding)
            t.writeI32(3, s.count)
            t.endStruct()
        }
        t.endStruct()
        t.endStruct()
    }
}

struct ParquetChunkStatistics {
    var nullCount: Int64
    /// PLAIN encoding of the extreme values, without a length prefix for strings; nil when the chunk
    /// has no (non-NaN) value.
    var min: [UInt8]?
    var max: [UInt8]?
    /// Set for doubles: with TYPE_ORDER, readers trust min/max only when nan_count is present.
    var nanCount: Int64?
}

struct ParquetPageEncodingCount {
    var pageType: Int32
    var encoding: Int32
    var count: Int32
}

struct ParquetColumnChunkMeta {
    var physicalType: Int32
    var encodings: [Int32]
    var path: String
    var codec: Int32
    var numValues: Int64
    var uncompressedSize: Int64
    var compressedSize: Int64
    var dataPageOffset: Int64
    var dictionaryPageOffset: Int64?
    var statistics: ParquetChunkStatistics
    var encodingStats: [ParquetPageEncodingCount]
}

struct ParquetRowGroupMeta {
    var columns: [ParquetColumnChunkMeta]
    var numRows: Int64
    var fileOffset: Int64
    var totalByteSize: Int64
    var totalCompressedSize: Int64
}

// MARK: - Fixed-width values

/// INT32, INT64 and DOUBLE: PLAIN is the value's little-endian bytes (Encodings.md §PLAIN).
protocol ParquetFixedWidth: Comparable {
    associatedtype Bits: FixedWidthInteger
    var parquetPlainBits: Bits { get }
    /// A lossless key for the dictionary hash table.
    var parquetKey: UInt64 { get }
    init(parquetKey: UInt64)
}

extension Int32: ParquetFixedWidth {
    var parquetPlainBits: UInt32 { UInt32(bitPattern: self).littleEndian }
    var parquetKey: UInt64 { UInt64(UInt32(bitPattern: self)) }
    init(parquetKey: UInt64) { self.init(bitPattern: UInt32(truncatingIfNeeded: parquetKey)) }
}

extension Int64: ParquetFixedWidth {
    var parquetPlainBits: UInt64 { UInt64(bitPattern: self).littleEndian }
    var parquetKey: UInt64 { UInt64(bitPattern: self) }
    init(parquetKey: UInt64) { self.init(bitPattern: parquetKey) }
}

extension Double: ParquetFixedWidth {
    var parquetPlainBits: UInt64 { bitPattern.littleEndian }
    var parquetKey: UInt64 { bitPattern }
    init(parquetKey: UInt64) { self.init(bitPattern: parquetKey) }
}

// MARK: - Column chunk encoding

/// Encodes one column chunk at a time into `chunk`, reusing its buffers and hash tables across
/// chunks. The per-value loops run over raw pointers into those buffers: a Swift array appended
/// value by value, or a String copied out of the column, costs a uniqueness check or a retain per
/// value, which at millions of values is most of the time.
struct ParquetChunkEncoder {
    /// The finished chunk's bytes: pages with their headers.
    private(set) var chunk: [UInt8] = []
    private let page = ParquetByteBuffer()
    private let compressed = ParquetByteBuffer()
    private let levels = ParquetScratchBuffer<UInt8>()
    private let indices = ParquetScratchBuffer<UInt32>()
    private let fixedDictionary = ParquetFixedWidthDictionary()
    private let byteDictionary = ParquetByteArrayDictionary()
    private var snappy = SnappyCompressor()

    // Per-chunk bookkeeping.
    private var chunkOffset: Int64 = 0
    private var codec: ParquetWriter.Compression = .none
    private var fieldName = ""
    private var uncompressedSize: Int64 = 0
    private var dictionaryPageOffset: Int64?
    private var dataPageOffset: Int64?
    private var pageCounts: [ParquetPageEncodingCount] = []

    /// A dictionary is used when it has at most this many bytes (as the dictionary page)...
    static let dictionaryByteLimit = 1 << 20
    /// ...and at most one entry per `dictionaryValueRatio` non-null values.
    static let dictionaryValueRatio = 2

    mutating func encode(_ column: ParquetColumn, field: ParquetField, rows: Int, at offset: Int64,
                         options: ParquetWriter.Options) throws -> ParquetColumnChunkMeta {
        chunk.removeAll(keepingCapacity: true)
        chunkOffset = offset
        codec = options.compression
        fieldName = field.name
        uncompressedSize = 0
        dictionaryPageOffset = nil
        dataPageOffset = nil
        pageCounts.removeAll()

        let nullCount = field.nullable ? fillLevels(column, rows: rows) : 0
        let nonNull = rows - nullCount
        let pageRows = options.pageRows
        var stats: ParquetChunkStatistics
        var usedDictionary = false
        switch column {
        case .boolean(let values):
            stats = try encodeBooleans(values, nullable: field.nullable, rows: rows, pageRows: pageRows)
        case .int32(let values):
            (stats, usedDictionary) = try encodeFixed(values, nullable: field.nullable, rows: rows, pageRows: pageRows,
                                                      dictionary: options.dictionary, nonNull: nonNull)
        case .int64(let values):
            (stats, usedDictionary) = try encodeFixed(values, nullable: field.nullable, rows: rows, pageRows: pageRows,
                                                      dictionary: options.dictionary, nonNull: nonNull)
        case .double(let values):
            (stats, usedDictionary) = try encodeFixed(values, nullable: field.nullable, rows: rows, pageRows: pageRows,
                                                      dictionary: false, nonNull: nonNull)
        case .string(let values):
            (stats, usedDictionary) = try encodeStrings(values, nullable: field.nullable, rows: rows, pageRows: pageRows,
                                                        dictionary: options.dictionary, nonNull: nonNull)
        }
        stats.nullCount = Int64(nullCount)

        guard let dataPageOffset else { preconditionFailure("a chunk of at least one row has a data page") }
        let encodings = usedDictionary
            ? [ParquetFormat.encodingPlain, ParquetFormat.encodingRLE, ParquetFormat.encodingRLEDictionary]
            : [ParquetFormat.encodingPlain, ParquetFormat.encodingRLE]
        return ParquetColumnChunkMeta(
            physicalType: ParquetFormat.physicalType(field.type), encodings: encodings, path: field.name,
            codec: codec == .snappy ? ParquetFormat.codecSnappy : ParquetFormat.codecUncompressed,
            numValues: Int64(rows), uncompressedSize: uncompressedSize, compressedSize: Int64(chunk.count),
            dataPageOffset: dataPageOffset, dictionaryPageOffset: dictionaryPageOffset,
            statistics: stats, encodingStats: pageCounts)
    }

    // MARK: Definition levels

    /// One definition level per row (1 present, 0 null; max level 1 for an OPTIONAL top-level field).
    /// Returns the null count.
    private func fillLevels(_ column: ParquetColumn, rows: Int) -> Int {
        let out = levels.reserve(rows)
        let present = switch column {
        case .boolean(let v): Self.fillLevels(v, out)
        case .int32(let v): Self.fillLevels(v, out)
        case .int64(let v): Self.fillLevels(v, out)
        case .double(let v): Self.fillLevels(v, out)
        case .string(let v): Self.fillLevels(v, out)
        }
        return rows - present
    }

    private static func fillLevels<T>(_ values: [T?], _ out: UnsafeMutablePointer<UInt8>) -> Int {
        values.withUnsafeBufferPointer { values in
            var present = 0
            for i in 0..<values.count {
                let level: UInt8 = values[i] == nil ? 0 : 1
                out[i] = level
                present &+= Int(level)
            }
            return present
        }
    }

    /// Starts a page body: for an OPTIONAL field, its definition levels as RLE/bit-packed hybrid of
    /// width 1 behind a 4-byte length (Encodings.md §RLE: data page v1 prepends the length).
    /// Returns the number of non-null values in the page.
    private func beginDataPage(rows: Range<Int>, nullable: Bool) -> Int {
        page.removeAll()
        guard nullable else { return rows.count }
        let slice = UnsafeBufferPointer(start: levels.base + rows.lowerBound, count: rows.count)
        var present = 0
        for l in slice { present &+= Int(l) }
        page.appendUInt32LE(0)
        ParquetRLEHybrid.encode(slice, bitWidth: 1, into: page)
        page.storeUInt32LE(UInt32(page.count - 4), at: 0)
        return present
    }

    // MARK: Pages

    private enum PageKind {
        case data(numValues: Int, encoding: Int32)
        case dictionary(numValues: Int)
    }

    /// Compresses `body` if asked, then appends the PageHeader (Thrift compact) and the body to the chunk.
    private mutating func emitPage(_ kind: PageKind, body: UnsafeRawBufferPointer) throws {
        let position = chunkOffset + Int64(chunk.count)
        var stored = body
        if codec == .snappy {
            snappy.compress(body, into: compressed)
            stored = compressed.bytes
        }
        guard body.count <= Int(Int32.max), stored.count <= Int(Int32.max) else {
            throw ParquetError.pageTooLarge(field: fieldName, bytes: max(body.count, stored.count))
        }
        var header = ThriftCompactWriter()
        switch kind {
        case .data(let numValues, let encoding):
            header.writeI32(1, ParquetFormat.pageData)
            header.writeI32(2, Int32(body.count))
            header.writeI32(3, Int32(stored.count))
            header.beginStruct(5)
            header.writeI32(1, Int32(numValues))
            header.writeI32(2, encoding)
            header.writeI32(3, ParquetFormat.encodingRLE)
            header.writeI32(4, ParquetFormat.encodingRLE)
            header.endStruct()
            if dataPageOffset == nil { dataPageOffset = position }
            count(page: ParquetFormat.pageData, encoding: encoding)
        case .dictionary(let numValues):
            header.writeI32(1, ParquetFormat.pageDictionary)
            header.writeI32(2, Int32(body.count))
            header.writeI32(3, Int32(stored.count))
            header.beginStruct(7)
            header.writeI32(1, Int32(numValues))
            header.writeI32(2, ParquetFormat.encodingPlain)  // Encodings.md: PLAIN in a dictionary page
            header.endStruct()
            dictionaryPageOffset = position
            count(page: ParquetFormat.pageDictionary, encoding: ParquetFormat.encodingPlain)
        }
        header.finishTopLevel()
        chunk.append(contentsOf: header.bytes)
        chunk.append(contentsOf: stored)
        uncompressedSize += Int64(header.bytes.count + body.count)
    }

    private mutating func count(page type: Int32, encoding: Int32) {
        if let i = pageCounts.firstIndex(where: { $0.pageType == type && $0.encoding == encoding }) {
            pageCounts[i].count += 1
        } else {
            pageCounts.append(ParquetPageEncodingCount(pageType: type, encoding: encoding, count: 1))
        }
    }

    /// The pages' row ranges: `pageRows` rows each, the last one shorter.
    private static func pages(rows: Int, pageRows: Int) -> [Range<Int>] {
        stride(from: 0, to: rows, by: pageRows).map { $0..<min(rows, $0 + pageRows) }
    }

    /// Data pages of the dictionary indices in `indices` (Encodings.md §DICTIONARY: one byte bit
    /// width, then the RLE/bit-packed hybrid without length prefix).
    private mutating func emitDictionaryDataPages(rows: Int, pageRows: Int, nullable: Bool, entries: Int) throws {
        let bitWidth = max(1, Int.bitWidth - (entries - 1).leadingZeroBitCount)
        var next = 0
        for range in Self.pages(rows: rows, pageRows: pageRows) {
            let present = beginDataPage(rows: range, nullable: nullable)
            page.append(UInt8(bitWidth))
            ParquetRLEHybrid.encode(UnsafeBufferPointer(start: indices.base + next, count: present), bitWidth: bitWidth, into: page)
            next += present
            try emitPage(.data(numValues: range.count, encoding: ParquetFormat.encodingRLEDictionary), body: page.bytes)
        }
    }

    // MARK: Booleans

    /// PLAIN booleans: bit-packed, LSB first, one bit per non-null value (Encodings.md §PLAIN).
    private mutating func encodeBooleans(_ values: [Bool?], nullable: Bool, rows: Int, pageRows: Int) throws -> ParquetChunkStatistics {
        var sawFalse = false, sawTrue = false
        for range in Self.pages(rows: rows, pageRows: pageRows) {
            let present = beginDataPage(rows: range, nullable: nullable)
            page.reserve((present + 7) / 8)
            var p = page.end
            var byte: UInt8 = 0, bit: UInt8 = 0
            values.withUnsafeBufferPointer { values in
                for row in range {
                    guard let v = values[row] else { continue }
                    if v { byte |= 1 << bit; sawTrue = true } else { sawFalse = true }
                    bit += 1
                    if bit == 8 { p.pointee = byte; p += 1; byte = 0; bit = 0 }
                }
            }
            if bit > 0 { p.pointee = byte; p += 1 }
            page.count = p - page.base
            try emitPage(.data(numValues: range.count, encoding: ParquetFormat.encodingPlain), body: page.bytes)
        }
        guard sawFalse || sawTrue else { return ParquetChunkStatistics(nullCount: 0) }
        return ParquetChunkStatistics(nullCount: 0, min: [sawFalse ? 0 : 1], max: [sawTrue ? 1 : 0])
    }

    // MARK: INT32, INT64, DOUBLE

    private mutating func encodeFixed<T: ParquetFixedWidth>(
        _ values: [T?], nullable: Bool, rows: Int, pageRows: Int, dictionary: Bool, nonNull: Int
    ) throws -> (ParquetChunkStatistics, Bool) {
        let width = MemoryLayout<T.Bits>.size
        if dictionary, nonNull > 1 {
            let limit = min(nonNull / Self.dictionaryValueRatio, Self.dictionaryByteLimit / width)
            let out = indices.reserve(nonNull)
            let dict = fixedDictionary
            if values.withUnsafeBufferPointer({ dict.build($0, limit: limit, into: out) }) {
                let keys = UnsafeBufferPointer(start: dict.keys, count: dict.count)
                page.removeAll()
                page.reserve(keys.count * width)
                var tally = ParquetFixedStatistics<T>()
                for key in keys {
                    let v = T(parquetKey: key)
                    tally.add(v)
                    page.appendUnchecked(v.parquetPlainBits)
                }
                try emitPage(.dictionary(numValues: keys.count), body: page.bytes)
                try emitDictionaryDataPages(rows: rows, pageRows: pageRows, nullable: nullable, entries: keys.count)
                return (tally.statistics, true)
            }
        }

        var tally = ParquetFixedStatistics<T>()
        for range in Self.pages(rows: rows, pageRows: pageRows) {
            let present = beginDataPage(rows: range, nullable: nullable)
            page.reserve(present * width)
            let base = UnsafeMutableRawPointer(page.end)
            values.withUnsafeBufferPointer { values in
                var o = 0
                for row in range {
                    guard let v = values[row] else { continue }
                    base.storeBytes(of: v.parquetPlainBits, toByteOffset: o, as: T.Bits.self)
                    o += width
                    tally.add(v)
                }
            }
            page.count += present * width
            try emitPage(.data(numValues: range.count, encoding: ParquetFormat.encodingPlain), body: page.bytes)
        }
        return (tally.statistics, false)
    }

    // MARK: BYTE_ARRAY (strings)

    private mutating func encodeStrings(
        _ values: [String?], nullable: Bool, rows: Int, pageRows: Int, dictionary: Bool, nonNull: Int
    ) throws -> (ParquetChunkStatistics, Bool) {
        if dictionary, nonNull > 1 {
            let out = indices.reserve(nonNull)
            let dict = byteDictionary
            let fits = values.withUnsafeBufferPointer {
                dict.build($0, limit: nonNull / Self.dictionaryValueRatio, byteLimit: Self.dictionaryByteLimit, into: out)
            }
            if fits {
                try emitPage(.dictionary(numValues: dict.count), body: dict.plain.bytes)
                try emitDictionaryDataPages(rows: rows, pageRows: pageRows, nullable: nullable, entries: dict.count)
                var tally = ParquetByteStatistics()
                dict.forEachEntry { tally.add($0) }
                return (tally.statistics, true)
            }
        }

        var tally = ParquetByteStatistics()
        let page = self.page
        for range in Self.pages(rows: rows, pageRows: pageRows) {
            _ = beginDataPage(rows: range, nullable: nullable)
            values.withUnsafeBufferPointer { values in
                for row in range {
                    guard let s = values[row] else { continue }
                    withUTF8(s) { bytes in
                        // UTF-8 of a String cannot reach 4 GiB here: the page check in emitPage
                        // refuses anything past 2 GiB first.
                        page.appendUInt32LE(UInt32(truncatingIfNeeded: bytes.count))
                        page.append(bytes)
                        tally.add(bytes)
                    }
                }
            }
            try emitPage(.data(numValues: range.count, encoding: ParquetFormat.encodingPlain), body: page.bytes)
        }
        return (tally.statistics, false)
    }
}

/// The string's UTF-8 without copying when it is stored contiguously (native Swift strings are).
@inline(__always)
private func withUTF8<R>(_ s: String, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    if let r = s.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) { return r }
    var copy = s
    return copy.withUTF8 { body(UnsafeRawBufferPointer($0)) }
}

// MARK: - Buffers

/// A growable byte buffer written through its pointer. Hot loops reserve once, write through
/// `end`, then advance `count`; the chunk is assembled from it with one copy per page.
final class ParquetByteBuffer {
    private(set) var base: UnsafeMutablePointer<UInt8>
    /// Bytes in use. Callers that wrote through `end` after `reserve` advance it themselves.
    var count = 0
    private var capacity: Int

    init(capacity: Int = 1 << 16) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    deinit { base.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
    var end: UnsafeMutablePointer<UInt8> { base + count }

    func removeAll() { count = 0 }

    /// Room for `extra` more bytes past `count`.
    @inline(__always)
    func reserve(_ extra: Int) {
        if extra > capacity - count { grow(to: count + extra) }
    }

    @inline(never)
    private func grow(to needed: Int) {
        let newCapacity = max(capacity * 2, needed)
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        bigger.update(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity = newCapacity
    }

    @inline(__always)
    func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    @inline(__always)
    func append(_ bytes: UnsafeRawBufferPointer) {
        reserve(bytes.count)
        if let source = bytes.baseAddress, bytes.count > 0 {
            UnsafeMutableRawPointer(base + count).copyMemory(from: source, byteCount: bytes.count)
        }
        count += bytes.count
    }

    @inline(__always)
    func appendUInt32LE(_ value: UInt32) {
        reserve(4)
        UnsafeMutableRawPointer(base + count).storeBytes(of: value.littleEndian, as: UInt32.self)
        count += 4
    }

    /// Appends an integer's bytes as they are; room must have been reserved.
    @inline(__always)
    func appendUnchecked<I: FixedWidthInteger>(_ bits: I) {
        UnsafeMutableRawPointer(base + count).storeBytes(of: bits, as: I.self)
        count += MemoryLayout<I>.size
    }

    func storeUInt32LE(_ value: UInt32, at offset: Int) {
        precondition(offset >= 0 && offset + 4 <= count, "store outside the buffer")
        UnsafeMutableRawPointer(base + offset).storeBytes(of: value.littleEndian, as: UInt32.self)
    }
}

/// Scratch memory of a trivial type whose contents do not survive `reserve`.
final class ParquetScratchBuffer<T: BitwiseCopyable> {
    private(set) var base: UnsafeMutablePointer<T>
    private var capacity = 1

    init() { base = .allocate(capacity: 1) }
    deinit { base.deallocate() }

    /// At least `count` elements, uninitialized.
    func reserve(_ count: Int) -> UnsafeMutablePointer<T> {
        if count > capacity {
            base.deallocate()
            capacity = max(count, capacity * 2)
            base = .allocate(capacity: capacity)
        }
        return base
    }
}

// MARK: - Statistics

/// Min and max in the type's order (parquet.thrift ColumnOrder TYPE_ORDER: signed integers; for
/// doubles NaN is left out and counted, and a zero minimum is written -0.0, a zero maximum +0.0).
struct ParquetFixedStatistics<T: ParquetFixedWidth> {
    private var min: T?
    private var max: T?
    private var nanCount: Int64 = 0

    @inline(__always)
    mutating func add(_ v: T) {
        if v != v { nanCount += 1; return }  // only a NaN differs from itself
        if let lo = min, let hi = max {
            if v < lo { min = v } else if hi < v { max = v }
        } else {
            min = v
            max = v
        }
    }

    var statistics: ParquetChunkStatistics {
        var lo = min, hi = max
        var nans: Int64?
        if T.self == Double.self {
            let zero = T(parquetKey: 0)  // +0.0, equal to -0.0 as well
            if let l = lo, l == zero { lo = T(parquetKey: (-0.0 as Double).bitPattern) }
            if let h = hi, h == zero { hi = zero }
            nans = nanCount
        }
        return ParquetChunkStatistics(nullCount: 0, min: Self.plain(lo), max: Self.plain(hi), nanCount: nans)
    }

    private static func plain(_ v: T?) -> [UInt8]? {
        guard let v else { return nil }
        return withUnsafeBytes(of: v.parquetPlainBits) { Array($0) }
    }
}

/// Min and max of byte strings in unsigned byte-wise order (parquet.thrift ColumnOrder for UTF8),
/// copied out only when they change, which is rare after the first values.
struct ParquetByteStatistics {
    private var min: [UInt8]?
    private var max: [UInt8]?

    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        guard let lo = min, let hi = max else {
            min = Array(bytes)
            max = Array(bytes)
            return
        }
        if Self.compare(bytes, lo) < 0 {
            min = Array(bytes)
        } else if Self.compare(bytes, hi) > 0 {
            max = Array(bytes)
        }
    }

    var statistics: ParquetChunkStatistics { ParquetChunkStatistics(nullCount: 0, min: min, max: max) }

    /// memcmp order, then the shorter first: unsigned byte-wise comparison.
    static func compare(_ a: UnsafeRawBufferPointer, _ b: [UInt8]) -> Int {
        b.withUnsafeBytes { b in
            let common = Swift.min(a.count, b.count)
            if common > 0 {
                let c = memcmp(a.baseAddress!, b.baseAddress!, common)
                if c != 0 { return Int(c) }
            }
            return a.count - b.count
        }
    }
}

// MARK: - Dictionaries

/// Finalizer of a 64-bit hash (the MurmurHash3 fmix64 constants): spreads keys over the table's low bits.
@inline(__always)
func parquetMix64(_ x: UInt64) -> UInt64 {
    var h = x
    h ^= h >> 33
    h &*= 0xff51_afd7_ed55_8ccd
    h ^= h >> 33
    h &*= 0xc4ce_b9fe_1a85_ec53
    h ^= h >> 33
    return h
}

/// An open-addressing table of entry ids (−1 empty) with linear probing, kept at most half full.
struct ParquetSlotTable {
    private(set) var slots: UnsafeMutablePointer<Int32>
    private(set) var mask: Int

    init() {
        mask = 1023
        slots = .allocate(capacity: 1024)
        slots.initialize(repeating: -1, count: 1024)
    }

    func deallocate() { slots.deallocate() }

    /// Empties the table; one grown past 1 Mi slots (4 MiB) by a chunk shrinks back for the next.
    mutating func clear() {
        if mask >= 1 << 20 {
            slots.deallocate()
            mask = 1023
            slots = .allocate(capacity: 1024)
        }
        slots.update(repeating: -1, count: mask + 1)
    }

    /// Doubles the table and reinserts `count` ids whose hashes `hashOf` gives.
    mutating func grow(count: Int, hashOf: (Int) -> UInt64) {
        let newMask = mask * 2 + 1
        let bigger = UnsafeMutablePointer<Int32>.allocate(capacity: newMask + 1)
        bigger.initialize(repeating: -1, count: newMask + 1)
        for id in 0..<count {
            var i = Int(truncatingIfNeeded: hashOf(id)) & newMask
            while bigger[i] >= 0 { i = (i + 1) & newMask }
            bigger[i] = Int32(id)
        }
        slots.deallocate()
        slots = bigger
        mask = newMask
    }
}

/// Distinct fixed-width values in first-seen order: the dictionary page's order, and the index
/// into it is what the data pages store.
final class ParquetFixedWidthDictionary {
    private var table = ParquetSlotTable()
    private(set) var keys: UnsafeMutablePointer<UInt64>
    private var keyCapacity = 1024
    private(set) var count = 0

    init() { keys = .allocate(capacity: 1024) }

    deinit {
        table.deallocate()
        keys.deallocate()
    }

    /// Resets the dictionary, then writes each non-null value's index to `out`. False, leaving the
    /// dictionary unusable, as soon as it would exceed `limit` entries (it would not pay for itself).
    func build<T: ParquetFixedWidth>(_ values: UnsafeBufferPointer<T?>, limit: Int, into out: UnsafeMutablePointer<UInt32>) -> Bool {
        table.clear()
        // The loop works on locals, stored back at the end: class properties touched per value
        // would each cost a dynamic exclusivity check.
        var table = self.table
        var keys = self.keys
        var keyCapacity = self.keyCapacity
        var count = 0
        defer {
            self.table = table
            self.keys = keys
            self.keyCapacity = keyCapacity
            self.count = count
        }
        var n = 0
        for i in 0..<values.count {
            guard let v = values[i] else { continue }
            let key = v.parquetKey
            let mask = table.mask
            var slot = Int(truncatingIfNeeded: parquetMix64(key)) & mask
            var id = -1
            while true {
                let s = Int(table.slots[slot])
                if s < 0 { break }
                if keys[s] == key { id = s; break }
                slot = (slot + 1) & mask
            }
            if id < 0 {
                if count == limit { return false }
                if count == keyCapacity {
                    keys = Self.enlarge(keys, count: count, to: keyCapacity * 2)
                    keyCapacity *= 2
                }
                id = count
                keys[id] = key
                table.slots[slot] = Int32(id)
                count += 1
                if count * 2 > mask + 1 {
                    let grown = keys
                    table.grow(count: count) { parquetMix64(grown[$0]) }
                }
            }
            out[n] = UInt32(id)
            n += 1
        }
        return true
    }

    private static func enlarge(_ p: UnsafeMutablePointer<UInt64>, count: Int, to capacity: Int) -> UnsafeMutablePointer<UInt64> {
        let bigger = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
        bigger.update(from: p, count: count)
        p.deallocate()
        return bigger
    }
}

/// Distinct byte strings in first-seen order, stored as the dictionary page's PLAIN body itself
/// (4-byte length, bytes; Encodings.md §PLAIN) so that the page needs no second pass.
final class ParquetByteArrayDictionary {
    /// The dictionary page body.
    let plain = ParquetByteBuffer()
    private var table = ParquetSlotTable()
    /// Where each entry's length prefix starts in `plain`, and the entry's hash.
    private var offsets: UnsafeMutablePointer<Int>
    private var hashes: UnsafeMutablePointer<UInt64>
    private var entryCapacity = 1024
    private(set) var count = 0

    init() {
        offsets = .allocate(capacity: 1024)
        hashes = .allocate(capacity: 1024)
    }

    deinit {
        table.deallocate()
        offsets.deallocate()
        hashes.deallocate()
    }

    /// Resets the dictionary, then writes each non-null value's index to `out`. False as soon as it
    /// would exceed `limit` entries or `byteLimit` bytes.
    func build(_ values: UnsafeBufferPointer<String?>, limit: Int, byteLimit: Int, into out: UnsafeMutablePointer<UInt32>) -> Bool {
        table.clear()
        plain.removeAll()
        count = 0
        // Locals, reloaded after an insert: class properties read in the loop would each cost a
        // dynamic exclusivity check, and a call that might mutate anything inside the UTF-8
        // closure would make Swift retain the string around it.
        var slots = table.slots, mask = table.mask, hashes = self.hashes, offsets = self.offsets
        var plainBase = UnsafeRawPointer(plain.base)
        var n = 0
        for i in 0..<values.count {
            var hash: UInt64 = 0
            var slot = 0
            // The lookup is kept free of calls that could mutate anything, and the string's
            // binding ends with it, so the hit path needs no retain of the string.
            var id = Self.find(values[i], slots: slots, mask: mask, hashes: hashes, offsets: offsets,
                               plain: plainBase, hash: &hash, slot: &slot)
            if id == -2 { continue }
            if id < 0 {
                id = withUTF8(values[i]!) { bytes -> Int32 in
                    if count == limit || plain.count + 4 + bytes.count > byteLimit { return -1 }
                    return insert(bytes, hash: hash, slot: slot)
                }
                if id < 0 { return false }
                slots = table.slots
                mask = table.mask
                hashes = self.hashes
                offsets = self.offsets
                plainBase = UnsafeRawPointer(plain.base)
            }
            out[n] = UInt32(id)
            n += 1
        }
        return true
    }

    /// The entry id of `value`, −1 when absent (with its hash and free slot), −2 for nil.
    @inline(__always)
    private static func find(_ value: String?, slots: UnsafeMutablePointer<Int32>, mask: Int, hashes: UnsafeMutablePointer<UInt64>,
                             offsets: UnsafeMutablePointer<Int>, plain: UnsafeRawPointer,
                             hash: inout UInt64, slot: inout Int) -> Int32 {
        guard let s = value else { return -2 }
        return withUTF8(s) { bytes -> Int32 in
            let h = Self.hash(bytes)
            var at = Int(truncatingIfNeeded: h) & mask
            while true {
                let e = slots[at]
                if e < 0 { break }
                if hashes[Int(e)] == h && entryEquals(plain, offsets[Int(e)], bytes) { return e }
                at = (at + 1) & mask
            }
            hash = h
            slot = at
            return -1
        }
    }

    /// Calls `body` with each entry's bytes, in dictionary order.
    func forEachEntry(_ body: (UnsafeRawBufferPointer) -> Void) {
        let raw = UnsafeRawPointer(plain.base)
        for id in 0..<count {
            let start = offsets[id]
            let length = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start, as: UInt32.self)))
            body(UnsafeRawBufferPointer(start: raw + start + 4, count: length))
        }
    }

    @inline(__always)
    private static func entryEquals(_ raw: UnsafeRawPointer, _ start: Int, _ bytes: UnsafeRawBufferPointer) -> Bool {
        let length = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start, as: UInt32.self)))
        guard length == bytes.count else { return false }
        guard length > 0 else { return true }
        let a = raw + start + 4
        let b = UnsafeRawPointer(bytes.baseAddress!)
        if length > 32 { return memcmp(a, b, length) == 0 }
        // Short strings, the common case: a word at a time, cheaper than calling memcmp.
        var i = 0
        while i + 8 <= length {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i += 8
        }
        while i < length {
            if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
            i += 1
        }
        return true
    }

    @inline(never)
    private func insert(_ bytes: UnsafeRawBufferPointer, hash h: UInt64, slot: Int) -> Int32 {
        if count == entryCapacity {
            let newCapacity = entryCapacity * 2
            let biggerOffsets = UnsafeMutablePointer<Int>.allocate(capacity: newCapacity)
            biggerOffsets.update(from: offsets, count: count)
            offsets.deallocate()
            offsets = biggerOffsets
            let biggerHashes = UnsafeMutablePointer<UInt64>.allocate(capacity: newCapacity)
            biggerHashes.update(from: hashes, count: count)
            hashes.deallocate()
            hashes = biggerHashes
            entryCapacity = newCapacity
        }
        let id = count
        offsets[id] = plain.count
        hashes[id] = h
        plain.appendUInt32LE(UInt32(truncatingIfNeeded: bytes.count))
        plain.append(bytes)
        table.slots[slot] = Int32(id)
        count += 1
        if count * 2 > table.mask + 1 {
            let hashes = self.hashes
            table.grow(count: count) { hashes[$0] }
        }
        return Int32(id)
    }

    /// A fast non-cryptographic hash: 8 bytes at a time, multiplied and folded, then mixed.
    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let n = bytes.count
        var h: UInt64 = 0x9e37_79b9_7f4a_7c15 ^ UInt64(n)
        var i = 0
        while i + 8 <= n {
            h = (h ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xbf58_476d_1ce4_e5b9
            h ^= h >> 31
            i += 8
        }
        if i < n {
            var w: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                w |= UInt64(bytes[i]) << shift
                shift += 8
                i += 1
            }
            h = (h ^ w) &* 0x94d0_49bb_1331_11eb
        }
        return parquetMix64(h)
    }
}

// MARK: - RLE / bit-packing hybrid

/// The RLE/bit-packing hybrid of parquet-format Encodings.md §RLE, without the optional length prefix.
///
/// Runs of 8 or more equal values become RLE runs; everything between them is bit-packed in groups
/// of 8. A bit-packed run in the middle must hold a multiple of 8 values, so a literal stretch that
/// ends short of that borrows the first values of the following run; only the final group of the
/// stream is padded with zeros, which readers ignore because they know the value count.
enum ParquetRLEHybrid {
    /// Bit-packed runs are cut at 63 groups so that their header is a single byte, as other writers do.
    static let maxGroupsPerLiteralRun = 63

    /// Bytes the encoding of `count` values can take at most: per 8 values either `bitWidth` bytes
    /// of packing plus a share of a header, or one run (≤ 5 header + 4 value bytes).
    static func maxEncodedSize(count: Int, bitWidth: Int) -> Int {
        (count / 8 + 2) * (bitWidth + 10) + 16
    }

    static func encode<T: FixedWidthInteger>(_ values: UnsafeBufferPointer<T>, bitWidth: Int, into out: ParquetByteBuffer) {
        precondition(bitWidth >= 1 && bitWidth <= 32, "bit width out of range")
        let n = values.count
        out.reserve(maxEncodedSize(count: n, bitWidth: bitWidth))
        var p = out.end
        var i = 0
        var literalStart = 0
        while i < n {
            let v = values[i]
            var j = i + 1
            while j < n && values[j] == v { j += 1 }
            if j - i >= 8 {
                let pending = i - literalStart
                let borrow = (8 - (pending & 7)) & 7
                if j - i - borrow >= 8 {
                    if pending + borrow > 0 {
                        appendLiteral(values, from: literalStart, count: pending + borrow, bitWidth: bitWidth, &p)
                    }
                    appendRun(UInt64(truncatingIfNeeded: v), count: j - i - borrow, bitWidth: bitWidth, &p)
                    literalStart = j
                }
            }
            i = j
        }
        if literalStart < n {
            appendLiteral(values, from: literalStart, count: n - literalStart, bitWidth: bitWidth, &p)
        }
        out.count = p - out.base
    }

    @inline(__always)
    private static func appendRun(_ value: UInt64, count: Int, bitWidth: Int, _ p: inout UnsafeMutablePointer<UInt8>) {
        appendVarint(UInt64(count) << 1, &p)
        var v = value
        for _ in 0..<(bitWidth + 7) / 8 {
            p.pointee = UInt8(truncatingIfNeeded: v)
            p += 1
            v >>= 8
        }
    }

    /// Bit-packs `count` values, LSB first; `count` is a multiple of 8 except at the end of the stream.
    private static func appendLiteral<T: FixedWidthInteger>(_ values: UnsafeBufferPointer<T>, from start: Int, count: Int,
                                                            bitWidth: Int, _ p: inout UnsafeMutablePointer<UInt8>) {
        var start = start
        var remaining = count
        let width = UInt64(bitWidth)
        while remaining > 0 {
            let take = min(remaining, maxGroupsPerLiteralRun * 8)
            let groups = (take + 7) / 8
            appendVarint(UInt64(groups) << 1 | 1, &p)
            var acc: UInt64 = 0
            var bits: UInt64 = 0
            for k in 0..<groups * 8 {
                let v: UInt64 = k < take ? UInt64(truncatingIfNeeded: values[start + k]) : 0
                acc |= v << bits
                bits += width
                while bits >= 8 {
                    p.pointee = UInt8(truncatingIfNeeded: acc)
                    p += 1
                    acc >>= 8
                    bits -= 8
                }
            }
            start += take
            remaining -= take
        }
    }

    /// ULEB-128 (Encodings.md §RLE note 2).
    @inline(__always)
    private static func appendVarint(_ value: UInt64, _ p: inout UnsafeMutablePointer<UInt8>) {
        var v = value
        while v >= 0x80 {
            p.pointee = UInt8(truncatingIfNeeded: v) | 0x80
            p += 1
            v >>= 7
        }
        p.pointee = UInt8(v)
        p += 1
    }
}
