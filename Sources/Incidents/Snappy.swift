/// A Snappy compressor producing the raw block format (google/snappy `format_description.txt`),
/// which is what Parquet's SNAPPY codec stores per page (parquet-format `Compression.md`).
///
/// The stream is the uncompressed length as a varint, then literals and back-references. Input is
/// compressed in independent 64 KiB fragments, as the reference compressor does, so every offset
/// fits in two bytes and the hash table can hold 16-bit positions. Matches are found through a hash
/// of the next 4 bytes; after 32 misses in a row the scan starts skipping ahead, which keeps
/// incompressible input fast.
struct SnappyCompressor {
    private static let blockSize = 1 << 16
    private static let maxHashBits = 14
    /// The reference compressor's margin: no match search in the last 15 bytes of a fragment, so
    /// 4- and 8-byte loads never read past the end.
    private static let inputMargin = 15

    private var table = [UInt16](repeating: 0, count: 1 << maxHashBits)

    /// Upper bound of the compressed size (snappy `MaxCompressedLength`).
    static func maxCompressedLength(_ n: Int) -> Int { 32 + n + n / 6 }

    /// Replaces the contents of `out` with the compressed form of `input`.
    mutating func compress(_ input: UnsafeRawBufferPointer, into out: ParquetByteBuffer) {
        let n = input.count
        out.removeAll()
        out.reserve(Self.maxCompressedLength(n))
        let dst = out.base
        var o = 0
        var v = UInt64(n)
        while v >= 0x80 {
            dst[o] = UInt8(truncatingIfNeeded: v) | 0x80
            o += 1
            v >>= 7
        }
        dst[o] = UInt8(v)
        o += 1
        table.withUnsafeMutableBufferPointer { table in
            var start = 0
            while start < n {
                let length = min(Self.blockSize, n - start)
                o = Self.compressFragment(input.baseAddress! + start, length, dst, o, table)
                start += length
            }
        }
        out.count = o
    }

    @inline(__always)
    private static func load32(_ p: UnsafeRawPointer, _ i: Int) -> UInt32 {
        p.loadUnaligned(fromByteOffset: i, as: UInt32.self)
    }

    @inline(__always)
    private static func hash(_ bytes: UInt32, _ shift: UInt32) -> Int {
        Int((bytes &* 0x1e35_a7bd) >> shift)
    }

    /// Compresses `n` ≤ 64 KiB bytes at `src` into `dst` from offset `o`; returns the new offset.
    private static func compressFragment(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<UInt8>, _ o: Int,
                                         _ table: UnsafeMutableBufferPointer<UInt16>) -> Int {
        var o = o
        var nextEmit = 0
        if n >= inputMargin {
            var tableBits = 8
            while tableBits < maxHashBits && (1 << tableBits) < n { tableBits += 1 }
            let shift = UInt32(32 - tableBits)
            UnsafeMutableBufferPointer(rebasing: table[0..<(1 << tableBits)]).update(repeating: 0)

            let ipLimit = n - inputMargin
            var ip = 1
            var nextHash = hash(load32(src, ip), shift)
            search: while true {
                var skip = 32
                var nextIP = ip
                var candidate = 0
                repeat {
                    ip = nextIP
                    let h = nextHash
                    let step = skip >> 5
                    skip += 1
                    nextIP = ip + step
                    if nextIP > ipLimit { break search }
                    nextHash = hash(load32(src, nextIP), shift)
                    candidate = Int(table[h])
                    table[h] = UInt16(truncatingIfNeeded: ip)
                } while load32(src, ip) != load32(src, candidate)

                o = emitLiteral(src + nextEmit, ip - nextEmit, dst, o)

                // One match may be followed directly by the next: keep copying while it is.
                repeat {
                    let base = ip
                    let matched = 4 + matchLength(src, candidate + 4, ip + 4, n)
                    ip += matched
                    o = emitCopy(offset: base - candidate, length: matched, dst, o)
                    nextEmit = ip
                    if ip >= ipLimit { break search }
                    table[hash(load32(src, ip - 1), shift)] = UInt16(truncatingIfNeeded: ip - 1)
                    let h = hash(load32(src, ip), shift)
                    candidate = Int(table[h])
                    table[h] = UInt16(truncatingIfNeeded: ip)
                } while load32(src, ip) == load32(src, candidate)
                ip += 1
                nextHash = hash(load32(src, ip), shift)
            }
        }
        if nextEmit < n {
            o = emitLiteral(src + nextEmit, n - nextEmit, dst, o)
        }
        return o
    }

    /// Bytes equal at `a` and `b` (a < b), stopping at `end`.
    @inline(__always)
    private static func matchLength(_ src: UnsafeRawPointer, _ a: Int, _ b: Int, _ end: Int) -> Int {
        var a = a, b = b
        let start = b
        while b + 8 <= end {
            let x = src.loadUnaligned(fromByteOffset: a, as: UInt64.self) ^ src.loadUnaligned(fromByteOffset: b, as: UInt64.self)
            if x != 0 { return b - start + UInt64(littleEndian: x).trailingZeroBitCount / 8 }
            a += 8
            b += 8
        }
        while b < end && src.load(fromByteOffset: a, as: UInt8.self) == src.load(fromByteOffset: b, as: UInt8.self) {
            a += 1
            b += 1
        }
        return b - start
    }

    /// Literal: tag 00, length-1 in the upper 6 bits up to 59, else 60…63 announcing 1…4 length bytes.
    private static func emitLiteral(_ p: UnsafeRawPointer, _ length: Int, _ dst: UnsafeMutablePointer<UInt8>, _ o: Int) -> Int {
        var o = o
        let n = length - 1
        if n < 60 {
            dst[o] = UInt8(n << 2)
            o += 1
        } else {
            var bytes = 1
            while bytes < 4 && n >> (8 * bytes) != 0 { bytes += 1 }
            dst[o] = UInt8((59 + bytes) << 2)
            o += 1
            for k in 0..<bytes {
                dst[o] = UInt8(truncatingIfNeeded: n >> (8 * k))
                o += 1
            }
        }
        (dst + o).update(from: p.assumingMemoryBound(to: UInt8.self), count: length)
        return o + length
    }

    /// Copies of at most 64 bytes each; a remainder under 4 is avoided by splitting 65…67 as 60 + rest,
    /// because the short form needs a length of 4…11.
    private static func emitCopy(offset: Int, length: Int, _ dst: UnsafeMutablePointer<UInt8>, _ o: Int) -> Int {
        var o = o
        var length = length
        while length >= 68 {
            o = emitCopyUpTo64(offset: offset, length: 64, dst, o)
            length -= 64
        }
        if length > 64 {
            o = emitCopyUpTo64(offset: offset, length: 60, dst, o)
            length -= 60
        }
        return emitCopyUpTo64(offset: offset, length: length, dst, o)
    }

    /// Tag 01 (length 4…11, offset < 2048, 11-bit offset) when it fits, else tag 10 with a 2-byte offset.
    private static func emitCopyUpTo64(offset: Int, length: Int, _ dst: UnsafeMutablePointer<UInt8>, _ o: Int) -> Int {
        if length < 12 && offset < 2048 {
            dst[o] = UInt8(1 | ((length - 4) << 2) | ((offset >> 8) << 5))
            dst[o + 1] = UInt8(truncatingIfNeeded: offset)
            return o + 2
        }
        dst[o] = UInt8(2 | ((length - 1) << 2))
        dst[o + 1] = UInt8(truncatingIfNeeded: offset)
        dst[o + 2] = UInt8(truncatingIfNeeded: offset >> 8)
        return o + 3
    }
}
