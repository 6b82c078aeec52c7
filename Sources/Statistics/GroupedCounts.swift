// Counting rows by a composite key of small integer codes (category × Stadtteil × hour …):
// string columns are dictionary-encoded once into dense codes, then counted in a flat array
// indexed by the mixed-radix number the codes form.

/// A dictionary encoding of a string column: each distinct name gets the next code 0, 1, 2, …
/// in the order it is first seen; `names[code]` decodes.
///
/// Names are compared by their UTF-8 bytes (as DuckDB and SQL compare VARCHAR), not by Swift's
/// canonical equivalence: "é" precomposed and "e" + combining acute get different codes.
///
/// Cost: `code(for:)` hashes the name's bytes once and probes an open-addressing table kept at
/// most half full: O(length) expected, no allocation unless the name is new. Memory: the names,
/// one copy of their bytes, and about 12 bytes per name for the table and hashes.
public struct CodeBook: Sendable, Equatable {
    /// The distinct names, by code.
    public private(set) var names: [String] = []
    /// The hash of each name's bytes, by code.
    private var hashes: [UInt64] = []
    /// Each name's UTF-8 bytes, back to back: code c's are `bytes[starts[c]..<starts[c + 1]]`.
    private var bytes: [UInt8] = []
    private var starts: [Int] = [0]
    /// Open addressing with linear probing: a code, or −1 for an empty slot. Power-of-two size.
    private var table = [Int32](repeating: -1, count: 16)

    public init() {}

    /// The number of distinct names seen.
    public var count: Int { names.count }

    /// Two code books are equal when they assign the same codes to the same names.
    public static func == (a: CodeBook, b: CodeBook) -> Bool { a.names == b.names }

    /// The code of `name`, giving it the next code if it is new.
    /// - Precondition: fewer than 2³¹ − 1 distinct names.
    public mutating func code(for name: String) -> Int32 {
        if let c = name.utf8.withContiguousStorageIfAvailable({ code(for: UnsafeRawBufferPointer($0), name: name) }) {
            return c
        }
        var copy = name
        return copy.withUTF8 { code(for: UnsafeRawBufferPointer($0), name: name) }
    }

    /// The code of `name` if it has one.
    public func code(of name: String) -> Int32? {
        if let c = name.utf8.withContiguousStorageIfAvailable({ find(UnsafeRawBufferPointer($0), hash: Self.hash(UnsafeRawBufferPointer($0))).code }) {
            return c
        }
        var copy = name
        return copy.withUTF8 { find(UnsafeRawBufferPointer($0), hash: Self.hash(UnsafeRawBufferPointer($0))).code }
    }

    /// The codes of a whole column, giving new names the next codes in row order. O(total bytes)
    /// expected; one allocation (the result).
    public mutating func encode(_ column: [String]) -> [Int32] {
        [Int32](unsafeUninitializedCapacity: column.count) { out, initialized in
            column.withUnsafeBufferPointer { col in
                for i in 0..<col.count { out[i] = code(for: col[i]) }
            }
            initialized = column.count
        }
    }

    private mutating func code(for utf8: UnsafeRawBufferPointer, name: String) -> Int32 {
        let h = Self.hash(utf8)
        let (found, slot) = find(utf8, hash: h)
        if let found { return found }
        precondition(names.count < Int(Int32.max), "more than 2³¹ − 1 distinct names")
        let code = Int32(names.count)
        names.append(name)
        hashes.append(h)
        bytes.append(contentsOf: utf8)
        starts.append(bytes.count)
        table[slot] = code
        if names.count * 2 > table.count { rehash(size: table.count * 2) }
        return code
    }

    /// The code of these bytes, or nil and the empty slot where they would go.
    @inline(__always)
    private func find(_ utf8: UnsafeRawBufferPointer, hash h: UInt64) -> (code: Int32?, slot: Int) {
        table.withUnsafeBufferPointer { table in
            hashes.withUnsafeBufferPointer { hashes in
                starts.withUnsafeBufferPointer { starts in
                    bytes.withUnsafeBytes { stored in
                        let mask = table.count - 1
                        var slot = Int(truncatingIfNeeded: h) & mask
                        while true {
                            let c = table[slot]
                            if c < 0 { return (nil, slot) }
                            let k = Int(c)
                            if hashes[k] == h {
                                let s = starts[k], e = starts[k + 1]
                                if e - s == utf8.count && Self.equal(stored.baseAddress! + s, utf8) { return (c, slot) }
                            }
                            slot = (slot &+ 1) & mask
                        }
                    }
                }
            }
        }
    }

    private mutating func rehash(size: Int) {
        var fresh = [Int32](repeating: -1, count: size)
        let mask = size - 1
        for (k, h) in hashes.enumerated() {
            var slot = Int(truncatingIfNeeded: h) & mask
            while fresh[slot] >= 0 { slot = (slot &+ 1) & mask }
            fresh[slot] = Int32(k)
        }
        table = fresh
    }

    @inline(__always)
    private static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        let n = b.count
        guard n > 0 else { return true }
        let q = b.baseAddress!
        var i = 0
        while i + 8 <= n {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != q.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i += 8
        }
        while i < n {
            if a.load(fromByteOffset: i, as: UInt8.self) != q.load(fromByteOffset: i, as: UInt8.self) { return false }
            i += 1
        }
        return true
    }

    /// A 64-bit hash of a byte string: 8-byte words folded with a multiply–xorshift (the
    /// finaliser of SplitMix64 / Murmur3), so names that differ in any byte or in length spread
    /// over the table.
    @inline(__always)
    static func hash(_ p: UnsafeRawBufferPointer) -> UInt64 {
        let n = p.count
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 &* UInt64(truncatingIfNeeded: n &+ 1)
        var i = 0
        if let base = p.baseAddress {
            while i + 8 <= n {
                h = mix(h ^ base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                i += 8
            }
            if i < n {
                var w: UInt64 = 0
                var shift: UInt64 = 0
                while i < n {
                    w |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << shift
                    shift += 8
                    i += 1
                }
                h = mix(h ^ w)
            }
        }
        return mix(h)
    }

    @inline(__always)
    private static func mix(_ x: UInt64) -> UInt64 {
        var z = x &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Counts rows by a composite key of codes (category × Stadtteil × hour, …), exactly.
///
/// Each key column holds codes 0..<cardinality (from a `CodeBook`, or small integers such as the
/// hour). The codes of one row form a mixed-radix number (first column most significant), which
/// indexes a flat `[Int64]` of counts when the key space (the product of the cardinalities) has at
/// most `flatLimit` cells and is not much larger than the input (≤ 16 cells per row + 64 Ki);
/// otherwise a hash map keyed by that number (or by the codes themselves when the product does
/// not fit 64 bits) holds only the keys that occur.
///
/// Cost: flat, O(rows × columns + key space) time and 8 bytes per key-space cell; hashed,
/// O(rows × columns) expected time plus O(g log g) to sort the g distinct keys. Rows are processed
/// in chunks of 2 048 with one small scratch buffer: no per-row allocation.
public struct GroupCounter {
    /// The largest key space counted in a flat array (16 Mi cells, 128 MiB of counts).
    public static let flatLimit = 1 << 24

    /// The number of rows of each distinct key that occurs, sorted by key (lexicographically by
    /// code, first column first). Keys with no rows are absent.
    ///
    /// - Precondition: at least one key column, all of equal length, one cardinality per column,
    ///   each in 1...2³¹, and every code within 0..<its column's cardinality (codes are the
    ///   program's own, from a `CodeBook` or a computed bucket).
    public static func counts(keys: [[Int32]], cardinalities: [Int]) -> [(key: [Int32], count: Int64)] {
        precondition(!keys.isEmpty, "no key columns")
        precondition(keys.count == cardinalities.count, "one cardinality per key column")
        let rows = keys[0].count
        for (column, card) in zip(keys, cardinalities) {
            precondition(column.count == rows, "key columns differ in length")
            precondition(card >= 1 && card <= 1 << 31, "cardinality \(card) outside 1…2³¹")
        }
        guard rows > 0 else { return [] }
        var space = 1
        var overflow = false
        for card in cardinalities {
            let (p, o) = space.multipliedReportingOverflow(by: card)
            space = p
            overflow = overflow || o
        }
        if !overflow && space <= flatLimit && space <= 16 * rows + 65_536 {
            return flat(keys: keys, cardinalities: cardinalities, space: space)
        }
        return hashed(keys: keys, cardinalities: cardinalities, packable: !overflow)
    }

    static let chunk = 2048

    /// Calls `body` with each chunk's mixed-radix numbers (`body(rowOffset, numbers)`), checking
    /// every code against its cardinality.
    @inline(__always)
    private static func forEachChunk(keys: [[Int32]], cardinalities: [Int], _ body: (Int, UnsafeMutableBufferPointer<UInt64>) -> Void) {
        let rows = keys[0].count
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: chunk) { scratch in
            var start = 0
            while start < rows {
                let m = min(chunk, rows - start)
                let numbers = UnsafeMutableBufferPointer(rebasing: scratch[0..<m])
                for c in keys.indices {
                    let card = UInt64(cardinalities[c])
                    keys[c].withUnsafeBufferPointer { column in
                        let codes = column.baseAddress! + start
                        if c == 0 {
                            for j in 0..<m {
                                let v = UInt64(UInt32(bitPattern: codes[j]))
                                precondition(v < card, "code \(codes[j]) outside 0..<\(card) in key column \(c)")
                                numbers[j] = v
                            }
                        } else {
                            for j in 0..<m {
                                let v = UInt64(UInt32(bitPattern: codes[j]))
                                precondition(v < card, "code \(codes[j]) outside 0..<\(card) in key column \(c)")
                                numbers[j] = numbers[j] &* card &+ v
                            }
                        }
                    }
                }
                body(start, numbers)
                start += m
            }
        }
    }

    /// The codes of a mixed-radix number.
    private static func digits(_ number: UInt64, _ cardinalities: [Int]) -> [Int32] {
        var rest = number
        var key = [Int32](repeating: 0, count: cardinalities.count)
        for c in cardinalities.indices.reversed() {
            let card = UInt64(cardinalities[c])
            key[c] = Int32(truncatingIfNeeded: rest % card)
            rest /= card
        }
        return key
    }

    private static func flat(keys: [[Int32]], cardinalities: [Int], space: Int) -> [(key: [Int32], count: Int64)] {
        var counts = [Int64](repeating: 0, count: space)
        counts.withUnsafeMutableBufferPointer { cells in
            forEachChunk(keys: keys, cardinalities: cardinalities) { _, numbers in
                for n in numbers { cells[Int(truncatingIfNeeded: n)] &+= 1 }
            }
        }
        var result: [(key: [Int32], count: Int64)] = []
        for (number, count) in counts.enumerated() where count != 0 {
            result.append((digits(UInt64(number), cardinalities), count))
        }
        return result
    }

    private static func hashed(keys: [[Int32]], cardinalities: [Int], packable: Bool) -> [(key: [Int32], count: Int64)] {
        if packable {
            var counts: [UInt64: Int64] = [:]
            forEachChunk(keys: keys, cardinalities: cardinalities) { _, numbers in
                for n in numbers { counts[n, default: 0] += 1 }
            }
            return counts.sorted { $0.key < $1.key }.map { (digits($0.key, cardinalities), $0.value) }
        }
        // The key space exceeds 64 bits: key by the codes themselves.
        var counts: [[Int32]: Int64] = [:]
        for row in 0..<keys[0].count {
            var key = [Int32](repeating: 0, count: keys.count)
            for c in keys.indices {
                let v = keys[c][row]
                precondition(v >= 0 && Int(v) < cardinalities[c], "code \(v) outside 0..<\(cardinalities[c]) in key column \(c)")
                key[c] = v
            }
            counts[key, default: 0] += 1
        }
        return counts.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { ($0.key, $0.value) }
    }
}
