/// An encoder for the Thrift compact protocol, the serialization of every Parquet header and of the
/// footer (parquet-format `parquet.thrift`; apache/thrift `doc/specs/thrift-compact-protocol.md`).
///
/// It writes only what a Parquet writer needs — structs, lists, i8/i16/i32/i64, bool and binary —
/// and no message envelope. Structs nest through `beginStruct`/`endStruct`; each keeps its own last
/// field id, because a field header stores the id as a delta from the previous field of the same struct.
struct ThriftCompactWriter {
    /// Compact-protocol type codes (thrift-compact-protocol.md §"Struct encoding").
    enum FieldType: UInt8 {
        case boolTrue = 1, boolFalse = 2, i8 = 3, i16 = 4, i32 = 5, i64 = 6, double = 7
        case binary = 8, list = 9, set = 10, map = 11, structure = 12
    }

    private(set) var bytes: [UInt8] = []
    private var lastFieldID: Int16 = 0
    private var enclosingFieldIDs: [Int16] = []

    init() {}

    // MARK: Fields

    mutating func writeI32(_ id: Int16, _ value: Int32) {
        fieldHeader(id, .i32)
        varint(zigzag32(value))
    }

    mutating func writeI64(_ id: Int16, _ value: Int64) {
        fieldHeader(id, .i64)
        varint(zigzag64(value))
    }

    /// i16 fields are zigzag varints like i32 (thrift-compact-protocol.md §"Integer encoding").
    mutating func writeI16(_ id: Int16, _ value: Int16) {
        fieldHeader(id, .i16)
        varint(zigzag32(Int32(value)))
    }

    /// A bool field carries its value in the header's type nibble and has no body.
    mutating func writeBool(_ id: Int16, _ value: Bool) {
        fieldHeader(id, value ? .boolTrue : .boolFalse)
    }

    mutating func writeBinary(_ id: Int16, _ value: [UInt8]) {
        fieldHeader(id, .binary)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func writeString(_ id: Int16, _ value: String) {
        writeBinary(id, Array(value.utf8))
    }

    /// Opens a struct-valued field; its fields follow, then `endStruct()`.
    mutating func beginStruct(_ id: Int16) {
        fieldHeader(id, .structure)
        enterStruct()
    }

    /// Writes the struct's stop byte and returns to the enclosing struct's field numbering.
    mutating func endStruct() {
        bytes.append(0)
        precondition(!enclosingFieldIDs.isEmpty, "endStruct without beginStruct")
        lastFieldID = enclosingFieldIDs.removeLast()
    }

    /// An empty struct as a field: Parquet's unit types (`StringType`, `MilliSeconds`, `TypeDefinedOrder`).
    mutating func writeEmptyStruct(_ id: Int16) {
        beginStruct(id)
        endStruct()
    }

    /// Opens a list field of `count` elements of `elementType`; the elements follow with the `list…` calls.
    /// Sizes under 15 share the header byte with the type (thrift-compact-protocol.md §"List and Set").
    mutating func beginList(_ id: Int16, _ elementType: FieldType, count: Int) {
        precondition(count >= 0, "negative list size")
        fieldHeader(id, .list)
        if count < 15 {
            bytes.append(UInt8(count) << 4 | elementType.rawValue)
        } else {
            bytes.append(0xF0 | elementType.rawValue)
            varint(UInt64(count))
        }
    }

    mutating func listI32(_ value: Int32) { varint(zigzag32(value)) }

    mutating func listBinary(_ value: [UInt8]) {
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func listString(_ value: String) { listBinary(Array(value.utf8)) }

    /// A struct element of a list: no field header, its own field numbering, closed by `endStruct()`.
    mutating func beginListStruct() { enterStruct() }

    /// The stop byte of the outermost struct (the one the writer started in).
    mutating func finishTopLevel() {
        precondition(enclosingFieldIDs.isEmpty, "unclosed struct")
        bytes.append(0)
        lastFieldID = 0
    }

    // MARK: Encoding primitives

    private mutating func enterStruct() {
        enclosingFieldIDs.append(lastFieldID)
        lastFieldID = 0
    }

    /// Short form (delta 1…15 in the high nibble) when the id follows closely; otherwise the type byte
    /// and the id as a zigzag varint i16.
    private mutating func fieldHeader(_ id: Int16, _ type: FieldType) {
        let delta = Int(id) - Int(lastFieldID)
        if delta > 0 && delta <= 15 {
            bytes.append(UInt8(delta) << 4 | type.rawValue)
        } else {
            bytes.append(type.rawValue)
            varint(zigzag32(Int32(id)))
        }
        lastFieldID = id
    }

    private mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private func zigzag32(_ n: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: (n << 1) ^ (n >> 31)))
    }

    private func zigzag64(_ n: Int64) -> UInt64 {
        UInt64(bitPattern: (n << 1) ^ (n >> 63))
    }
}
