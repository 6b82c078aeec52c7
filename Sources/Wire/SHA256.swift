/// SHA-256 (FIPS 180-4 §6.2), incremental.
///
/// A value type with no heap storage: the chaining state and the partial block live inline, so
/// hashing a short line costs no allocation until `finalize()` returns the digest array. Feed bytes
/// with `update`, in any split; the digest depends only on their concatenation. Messages longer than
/// 2^64 − 1 bits wrap their length field as §5.1.1 leaves undefined; nobody here hashes 2 EiB.
public struct SHA256: Sendable {
    /// Digest length in bytes (FIPS 180-4 §1, table 1).
    public static let digestByteCount = 32
    /// Block length in bytes (FIPS 180-4 §1, table 1).
    public static let blockByteCount = 64

    /// H(i), the eight working hash words (§6.2.2 step 4).
    private var state: State
    /// The partial block not yet compressed, `pendingCount` bytes of it valid.
    private var pending: Block
    private var pendingCount: Int
    /// Message length so far in bytes, for the length field of the padding (§5.1.1).
    private var byteCount: UInt64

    public init() {
        state = State.initial
        pending = Block()
        pendingCount = 0
        byteCount = 0
    }

    /// The digest of `bytes` in one call.
    public static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// Adds the UTF-8 encoding of `string` to the message.
    public mutating func update(_ string: String) {
        var string = string
        string.withUTF8 { update(bufferPointer: UnsafeRawBufferPointer($0)) }
    }

    /// Adds `bytes` to the message. Contiguous collections (`[UInt8]`, `ArraySlice`, `Data`, native
    /// `String.UTF8View`) are read in place; other sequences are copied once.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let handled: Void? = bytes.withContiguousStorageIfAvailable {
            update(bufferPointer: UnsafeRawBufferPointer($0))
        }
        if handled == nil {
            let copy = Array(bytes)
            copy.withUnsafeBytes { update(bufferPointer: $0) }
        }
    }

    /// Adds the bytes in `buffer` to the message. Whole blocks are compressed straight from
    /// `buffer`; only a trailing partial block is copied.
    public mutating func update(bufferPointer buffer: UnsafeRawBufferPointer) {
        guard buffer.count > 0, let base = buffer.baseAddress else { return }
        byteCount &+= UInt64(buffer.count)
        var offset = 0
        if pendingCount > 0 {
            let take = min(Self.blockByteCount - pendingCount, buffer.count)
            let start = pendingCount
            withUnsafeMutableBytes(of: &pending) { block in
                UnsafeMutableRawBufferPointer(rebasing: block[start..<start + take])
                    .copyMemory(from: UnsafeRawBufferPointer(start: base, count: take))
            }
            pendingCount += take
            offset = take
            guard pendingCount == Self.blockByteCount else { return }
            compressPending()
        }
        let wholeBlocks = (buffer.count - offset) / Self.blockByteCount * Self.blockByteCount
        if wholeBlocks > 0 {
            Self.compress(&state, UnsafeRawBufferPointer(start: base + offset, count: wholeBlocks))
            offset += wholeBlocks
        }
        let rest = buffer.count - offset
        if rest > 0 {
            let start = offset
            withUnsafeMutableBytes(of: &pending) { block in
                UnsafeMutableRawBufferPointer(rebasing: block[0..<rest])
                    .copyMemory(from: UnsafeRawBufferPointer(start: base + start, count: rest))
            }
            pendingCount = rest
        }
    }

    /// The digest of everything added so far (§5.1.1 padding, then §6.2.2). Does not change `self`,
    /// so a hasher can be finalized for a prefix and then fed more.
    public func finalize() -> [UInt8] {
        var copy = self
        let bitLength = byteCount &* 8
        // One 0x80 byte, zeros up to 56 mod 64, then the 64-bit big-endian bit length.
        let zeros = (Self.blockByteCount + 55 - pendingCount) % Self.blockByteCount
        withUnsafeTemporaryAllocation(byteCount: 1 + zeros + 8, alignment: 8) { padding in
            padding.initializeMemory(as: UInt8.self, repeating: 0)
            padding[0] = 0x80
            padding.storeBytes(of: bitLength.bigEndian, toByteOffset: 1 + zeros, as: UInt64.self)
            copy.update(bufferPointer: UnsafeRawBufferPointer(padding))
        }
        let words = copy.state
        return [UInt8](unsafeUninitializedCapacity: Self.digestByteCount) { digest, count in
            let raw = UnsafeMutableRawBufferPointer(digest)
            raw.storeBytes(of: words.h0.bigEndian, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: words.h1.bigEndian, toByteOffset: 4, as: UInt32.self)
            raw.storeBytes(of: words.h2.bigEndian, toByteOffset: 8, as: UInt32.self)
            raw.storeBytes(of: words.h3.bigEndian, toByteOffset: 12, as: UInt32.self)
            raw.storeBytes(of: words.h4.bigEndian, toByteOffset: 16, as: UInt32.self)
            raw.storeBytes(of: words.h5.bigEndian, toByteOffset: 20, as: UInt32.self)
            raw.storeBytes(of: words.h6.bigEndian, toByteOffset: 24, as: UInt32.self)
            raw.storeBytes(of: words.h7.bigEndian, toByteOffset: 28, as: UInt32.self)
            count = Self.digestByteCount
        }
    }

    /// The digest as 64 lowercase hexadecimal digits.
    public var hexDigest: String { Hex.encode(finalize()) }

    private mutating func compressPending() {
        var block = pending
        withUnsafeBytes(of: &block) { Self.compress(&state, $0) }
        pendingCount = 0
    }

    /// Runs the compression function (§6.2.2) over each 64-byte block of `blocks`.
    private static func compress(_ state: inout State, _ blocks: UnsafeRawBufferPointer) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            roundConstants.withUnsafeBufferPointer { k in
                var offset = 0
                while offset + blockByteCount <= blocks.count {
                    // §6.2.2 step 1: the message schedule.
                    for t in 0..<16 {
                        w[t] = UInt32(bigEndian: blocks.loadUnaligned(fromByteOffset: offset + 4 * t, as: UInt32.self))
                    }
                    for t in 16..<64 {
                        let x = w[t - 15], y = w[t - 2]
                        let s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3)
                        let s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >> 10)
                        w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
                    }
                    // Steps 2–4.
                    var a = state.h0, b = state.h1, c = state.h2, d = state.h3
                    var e = state.h4, f = state.h5, g = state.h6, h = state.h7
                    for t in 0..<64 {
                        let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                        let ch = (e & f) ^ (~e & g)
                        let t1 = h &+ s1 &+ ch &+ k[t] &+ w[t]
                        let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                        let maj = (a & b) ^ (a & c) ^ (b & c)
                        let t2 = s0 &+ maj
                        h = g; g = f; f = e; e = d &+ t1
                        d = c; c = b; b = a; a = t1 &+ t2
                    }
                    state.h0 &+= a; state.h1 &+= b; state.h2 &+= c; state.h3 &+= d
                    state.h4 &+= e; state.h5 &+= f; state.h6 &+= g; state.h7 &+= h
                    offset += blockByteCount
                }
            }
        }
    }

    @inline(__always)
    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

    private struct State: Sendable {
        var h0, h1, h2, h3, h4, h5, h6, h7: UInt32

        /// H(0) (§5.3.3).
        static let initial = State(
            h0: 0x6a09_e667, h1: 0xbb67_ae85, h2: 0x3c6e_f372, h3: 0xa54f_f53a,
            h4: 0x510e_527f, h5: 0x9b05_688c, h6: 0x1f83_d9ab, h7: 0x5be0_cd19)
    }

    /// 64 bytes of inline storage for the partial block.
    private struct Block: Sendable {
        var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    }

    /// K, the 64 round constants (§4.2.2).
    private static let roundConstants: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]
}

/// Lowercase hexadecimal, for digests in logs and file names.
public enum Hex {
    /// `bytes` as two lowercase hex digits each.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
