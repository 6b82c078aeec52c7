import Dispatch

// Counting rows by a composite key of small integer codes (category × Stadtteil × hour …):
// string columns are dictionary-encoded once into dense codes, then counted in a flat array
// indexed by the mixed-radix number the codes form.

/// Splitting a pass over n rows into contiguous parts run on `threads` threads at once. The
/// results never depend on the thread count: parts are merged in row order.
enum RowParts {
    /// Parts of at least 64 Ki rows, at most one per thread.
    static func count(rows: Int, threads: Int) -> Int {
        Swift.max(1, Swift.min(threads, rows / 65_536))
    }

    /// The rows of part p of `parts`.
    static func range(_ p: Int, of parts: Int, rows: Int) -> Range<Int> {
        (rows * p / parts)..<(rows * (p + 1) / parts)
    }

    /// Runs `body(p)` for p in 0..<parts, concurrently when parts > 1. Callers share output
    /// buffers with `nonisolated(unsafe)` only where each part writes indices no other part does.
    static func run(_ parts: Int, _ body: @Sendable (Int) -> Void) {
        if parts == 1 {
            body(0)
        } else {
            DispatchQueue.concurrentPerform(iterations: parts, execute: body)
        }
    }
}

/// A dictionary encoding of a string column: each distinct name gets the next code 0, 1, 2, …
/// in the order it is first seen; `names[code]` decodes.
///
/// Names are compared by their UTF-8 bytes (as DuckDB and SQL compare VARCHAR), not by Swift's
/// canonical equivalence: "é" precomposed and "e" + combining acute get different codes.
///
/// Cost: `code(for:)` hashes the name's bytes once and probes an open-addressing table kept at
/// most 1/8 full (so a probe rarely goes past its first slot): O(length) expected, no allocation
/// unless the name is new; names of 4–16 bytes are compared as two words without a branch on
/// their length. Memory: the names, one copy of their bytes, and 64–96 bytes per name for the
/// table, offsets and probe keys.
public struct CodeBook: Sendable, Equatable {
    /// The distinct names, by code.
    public private(set) var names: [String] = []
    /// Each name's UTF-8 bytes, back to back: code c's are `bytes[starts[c]..<starts[c + 1]]`.
    private var bytes: [UInt8] = []
    private var starts: [Int] = [0]
    /// The probe key of each name, by code.
    private var keys: [Key] = []
    /// Open addressing with linear probing: a code, or −1 for an empty slot. Power-of-two size.
    private var table = [Int32](repeating: -1, count: 16)

    /// A name's length and two 64-bit words that, for names of at most 16 bytes, hold all of
    /// their bytes (overlapping loads), so such names compare in three integer comparisons.
    struct Key: Sendable, Equatable {
        var w0: UInt64
        var w1: UInt64
        var count: Int

        @inline(__always)
        init(_ p: UnsafeRawBufferPointer) {
            count = p.count
            guard let b = p.baseAddress else { w0 = 0; w1 = 0; return }
            if UInt(bitPattern: count &- 4) <= 12 {
                // 4…16 bytes: four 4-byte loads at 0, min(4, n−4), max(0, n−8), n−4 cover them
                // all, in bounds, without a branch on the length.
                let x = b.loadUnaligned(as: UInt32.self)
                let y = b.loadUnaligned(fromByteOffset: Swift.min(4, count &- 4), as: UInt32.self)
                let z = b.loadUnaligned(fromByteOffset: Swift.max(0, count &- 8), as: UInt32.self)
                let t = b.loadUnaligned(fromByteOffset: count &- 4, as: UInt32.self)
                w0 = UInt64(x) | UInt64(y) << 32
                w1 = UInt64(z) | UInt64(t) << 32
            } else if count > 16 {
                w0 = b.loadUnaligned(as: UInt64.self)
                w1 = b.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
            } else if count > 0 {
                w0 = UInt64(b.load(as: UInt8.self)) | UInt64(b.load(fromByteOffset: count >> 1, as: UInt8.self)) << 8
                    | UInt64(b.load(fromByteOffset: count - 1, as: UInt8.self)) << 16
                w1 = 0
            } else {
                w0 = 0
                w1 = 0
            }
        }

        /// A hash of the whole name: the key words, and for longer names every 8-byte word.
        @inline(__always)
        func hash(_ p: UnsafeRawBufferPointer) -> UInt64 {
            var h = CodeBook.mix(w0 ^ CodeBook.mix(w1 ^ UInt64(truncatingIfNeeded: count)))
            if count > 16, let b = p.baseAddress {
                var i = 8
                while i < count - 8 {
                    h = CodeBook.mix(h ^ b.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                    i += 8
                }
            }
            return h
        }
    }

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
        if let c = name.utf8.withContiguousStorageIfAvailable({ find(UnsafeRawBufferPointer($0)).code }) {
            return c
        }
        var copy = name
        return copy.withUTF8 { find(UnsafeRawBufferPointer($0)).code }
    }

    /// The codes of a whole column, giving new names the next codes in row order. O(total bytes)
    /// expected; one allocation (the result) besides new names.
    ///
    /// With `threads` > 1 (and at least 64 Ki rows per thread) contiguous parts of the column are
    /// encoded at once, each with a code book of its own; the parts' books are then merged in
    /// row order and their codes renumbered, so the result is the same as with one thread.
    public mutating func encode(_ column: [String], threads: Int = 1) -> [Int32] {
        let rows = column.count
        let parts = RowParts.count(rows: rows, threads: threads)
        guard parts > 1 else {
            return [Int32](unsafeUninitializedCapacity: rows) { out, initialized in
                column.withUnsafeBufferPointer { encode($0, 0..<rows, into: out) }
                initialized = rows
            }
        }
        var books = [CodeBook](repeating: CodeBook(), count: parts)
        return [Int32](unsafeUninitializedCapacity: rows) { out, initialized in
            column.withUnsafeBufferPointer { col in
                books.withUnsafeMutableBufferPointer { books in
                    // Each part writes only its own rows of `out` and its own book.
                    nonisolated(unsafe) let (col, out, books) = (col, out, books)
                    RowParts.run(parts) { p in
                        var book = CodeBook()
                        book.encode(col, RowParts.range(p, of: parts, rows: rows), into: out)
                        books[p] = book
                    }
                }
            }
            // Merge in row order: a part's new names follow all earlier parts' names.
            let renumber = books.map { book in book.names.map { code(for: $0) } }
            nonisolated(unsafe) let out = out
            RowParts.run(parts) { p in
                let map = renumber[p]
                guard map != Array(0..<Int32(map.count)) else { return }
                map.withUnsafeBufferPointer { map in
                    for i in RowParts.range(p, of: parts, rows: rows) { out[i] = map[Int(out[i])] }
                }
            }
            initialized = rows
        }
    }

    /// Encodes `col[rows]` into the same positions of `out`.
    private mutating func encode(_ col: UnsafeBufferPointer<String>, _ rows: Range<Int>, into out: UnsafeMutableBufferPointer<Int32>) {
        var i = rows.lowerBound
        while i < rows.upperBound {
            // Known names in a run without touching `self` mutably, then one new name.
            i = lookUp(col, from: i, to: rows.upperBound, into: out)
            if i < rows.upperBound {
                out[i] = code(for: col[i])
                i += 1
            }
        }
    }

    /// Codes `col[from..<to]` into `out` up to the first name without a code; returns its index
    /// (`to` when all have one).
    private func lookUp(_ col: UnsafeBufferPointer<String>, from: Int, to: Int, into out: UnsafeMutableBufferPointer<Int32>) -> Int {
        table.withUnsafeBufferPointer { table in
            keys.withUnsafeBufferPointer { keys in
                starts.withUnsafeBufferPointer { starts in
                    bytes.withUnsafeBytes { stored in
                        let mask = table.count - 1
                        for i in from..<to {
                            let c = col[i].utf8.withContiguousStorageIfAvailable { utf8 -> Int32 in
                                let p = UnsafeRawBufferPointer(utf8)
                                let key = Key(p)
                                var slot = Int(truncatingIfNeeded: key.hash(p)) & mask
                                while true {
                                    let c = table[slot]
                                    if c < 0 { return -1 }
                                    if keys[Int(c)] == key && (key.count <= 16 || Self.equal(stored.baseAddress! + starts[Int(c)], p)) { return c }
                                    slot = (slot &+ 1) & mask
                                }
                            } ?? -1
                            if c < 0 { return i }
                            out[i] = c
                        }
                        return to
                    }
                }
            }
        }
    }

    private mutating func code(for utf8: UnsafeRawBufferPointer, name: String) -> Int32 {
        let (found, slot) = find(utf8)
        if let found { return found }
        precondition(names.count < Int(Int32.max), "more than 2³¹ − 1 distinct names")
        let code = Int32(names.count)
        names.append(name)
        keys.append(Key(utf8))
        bytes.append(contentsOf: utf8)
        starts.append(bytes.count)
        table[slot] = code
        if names.count * 8 > table.count { rehash(size: table.count * 2) }
        return code
    }

    /// The code of these bytes, or nil and the empty slot where they would go.
    private func find(_ utf8: UnsafeRawBufferPointer) -> (code: Int32?, slot: Int) {
        let key = Key(utf8)
        let mask = table.count - 1
        var slot = Int(truncatingIfNeeded: key.hash(utf8)) & mask
        while true {
            let c = table[slot]
            if c < 0 { return (nil, slot) }
            let k = Int(c)
            if keys[k] == key && (key.count <= 16 || bytes.withUnsafeBytes { Self.equal($0.baseAddress! + starts[k], utf8) }) { return (c, slot) }
            slot = (slot &+ 1) & mask
        }
    }

    private mutating func rehash(size: Int) {
        var fresh = [Int32](repeating: -1, count: size)
        let mask = size - 1
        for k in names.indices {
            let h = bytes.withUnsafeBytes { keys[k].hash(UnsafeRawBufferPointer(rebasing: $0[starts[k]..<starts[k + 1]])) }
            var slot = Int(truncatingIfNeeded: h) & mask
            while fresh[slot] >= 0 { slot = (slot &+ 1) & mask }
            fresh[slot] = Int32(k)
        }
        table = fresh
    }

    /// Byte equality of names of the same length.
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

    /// The finaliser of SplitMix64 (Stafford's Mix13): every input bit affects every output bit.
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Counts rows by a composite key of codes (category × Stadtteil × hour, …), exactly.
///
/// Each key column holds codes 0..<cardinality (from a `CodeBook`, or small integers such as the
/// hour). The codes of one row form a mixed-radix number (first column most significant), which
/// indexes a flat array of counts when the key space (the product of the cardinalities) has at
/// most `flatLimit` cells and is not much larger than the input (≤ 16 cells per row + 64 Ki);
/// otherwise a hash map keyed by that number (or by the codes themselves when the product does
/// not fit 63 bits) holds only the keys that occur.
///
/// Cost: flat, O(rows × columns + key space) time and 8 bytes per key-space cell (per thread);
/// hashed, O(rows × columns) expected time plus O(g log g) to sort the g distinct keys. Rows are
/// processed in chunks of 2 048 with one small scratch buffer: no per-row allocation (except
/// for key spaces beyond 63 bits, keyed by code arrays).
public struct GroupCounter {
    /// The largest key space counted in a flat array (16 Mi cells, 128 MiB of counts).
    public static let flatLimit = 1 << 24

    /// The number of rows of each distinct key that occurs, sorted by key (lexicographically by
    /// code, first column first). Keys with no rows are absent.
    ///
    /// With `threads` > 1 (and at least 64 Ki rows per thread) contiguous parts of the rows are
    /// counted at once into arrays of their own, then summed; the result does not depend on it.
    ///
    /// - Precondition: at least one key column, all of equal length, one cardinality per column,
    ///   each in 1...2³¹, and every code within 0..<its column's cardinality (codes are the
    ///   program's own, from a `CodeBook` or a computed bucket).
    public static func counts(keys: [[Int32]], cardinalities: [Int], threads: Int = 1) -> [(key: [Int32], count: Int64)] {
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
            return flat(keys: keys, cardinalities: cardinalities, space: space, threads: threads)
        }
        return hashed(keys: keys, cardinalities: cardinalities, packable: !overflow)
    }

    static let chunk = 2048

    /// Calls `body` with the mixed-radix numbers of `rows`, chunk by chunk, checking every code
    /// against its cardinality.
    @inline(__always)
    private static func forEachChunk(keys: [[Int32]], cardinalities: [Int], rows: Range<Int>, _ body: (UnsafeMutableBufferPointer<UInt64>) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: chunk) { scratch in
            var start = rows.lowerBound
            while start < rows.upperBound {
                let m = Swift.min(chunk, rows.upperBound - start)
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
                body(numbers)
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

    private static func flat(keys: [[Int32]], cardinalities: [Int], space: Int, threads: Int) -> [(key: [Int32], count: Int64)] {
        let rows = keys[0].count
        let parts = RowParts.count(rows: rows, threads: threads)
        var tallies = [[Int64]](repeating: [], count: parts)
        tallies.withUnsafeMutableBufferPointer { tallies in
            // Each part writes only its own tally.
            nonisolated(unsafe) let tallies = tallies
            RowParts.run(parts) { p in
                var counts = [Int64](repeating: 0, count: space)
                counts.withUnsafeMutableBufferPointer { cells in
                    forEachChunk(keys: keys, cardinalities: cardinalities, rows: RowParts.range(p, of: parts, rows: rows)) { numbers in
                        for n in numbers { cells[Int(truncatingIfNeeded: n)] &+= 1 }
                    }
                }
                tallies[p] = counts
            }
        }
        var counts = tallies[0]
        for t in tallies.dropFirst() {
            for k in counts.indices { counts[k] &+= t[k] }
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
            forEachChunk(keys: keys, cardinalities: cardinalities, rows: 0..<keys[0].count) { numbers in
                for n in numbers { counts[n, default: 0] += 1 }
            }
            return counts.sorted { $0.key < $1.key }.map { (digits($0.key, cardinalities), $0.value) }
        }
        // The key space exceeds 63 bits: key by the codes themselves.
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
