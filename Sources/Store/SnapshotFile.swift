import Consensus
import Wire

/// The snapshot file format, version 1: one state machine snapshot (Raft §7) per file, in the
/// directory `<log path>.snapshots/` beside the SQLite log. Part of the durable format: a change
/// needs a new format version, and readers refuse versions they do not know.
///
/// All integers are unsigned big-endian. With `n` voters and `L` bytes of data:
///
///     offset    size  field
///     0         8     magic 46 4C 53 4E 41 50 0D 0A ("FLSNAP" CR LF)
///     8         2     format version, u16 = 1
///     10        8     index, u64: the last log index the snapshot covers (≥ 1)
///     18        8     term, u64: the term of the entry at `index`
///     26        4     voter count n, u32
///     30        8·n   voter node ids, u64 each (never 0), in `SnapshotMetadata.voters` order
///     30+8n     8     data length L, u64
///     38+8n     L     data: the state machine's canonical bytes
///     38+8n+L   32    SHA-256 (FIPS 180-4) of bytes 0 ..< 38+8n+L
///
/// The file is exactly 70 + 8n + L bytes; nothing may follow the digest.
///
/// Name: `snap-<index, 20 decimal digits>-<term, 20 digits>-<first 8 digest bytes, 16 lowercase
/// hex digits>.flsnap`; while being written, the same name plus `.tmp`. The digest in the name
/// makes two different snapshots at the same index and term (a non-deterministic state machine,
/// a repeated install) different files, so writing one never replaces the file the committed log
/// refers to.
///
/// Why SHA-256 over the whole file and not CRC-32C (per file or per 64 KiB chunk): the digest is
/// also the file's identity. The log records it, so recovery catches not only damaged bytes but an
/// intact file that is not the one the log committed (restored from an old backup, copied from
/// another node). A 32-bit CRC misses one random corruption in 2³² and its burst guarantees stop
/// at a few KiB; per-chunk CRCs would only say where the damage is, and this store never repairs.
/// The cost, one hash pass when a snapshot is written and when the node starts, is small next to
/// the write and fsync of the same bytes.
///
/// Reading checks, in this order: magic, version (an unknown one is
/// `StoreError.unsupportedSnapshotFormat`, before anything a later version may lay out otherwise),
/// every length field against the file's size (before allocating anything, so a hostile length
/// costs nothing), the digest, then the voter ids.
enum SnapshotFile {
    static let magic: [UInt8] = [0x46, 0x4C, 0x53, 0x4E, 0x41, 0x50, 0x0D, 0x0A]
    static let formatVersion: UInt16 = 1
    /// The size of a file with no voters and no data.
    static let minimumSize: UInt64 = 70
    static let nameSuffix = ".flsnap"
    static let temporarySuffix = ".tmp"

    /// Magic through data length: everything before the data.
    static func header(_ metadata: SnapshotMetadata, dataCount: Int) -> [UInt8] {
        var writer = ByteWriter(capacity: 38 + 8 * metadata.voters.count)
        writer.writeBytes(magic)
        writer.writeUInt8(UInt8(formatVersion >> 8))
        writer.writeUInt8(UInt8(formatVersion & 0xFF))
        writer.writeUInt64(metadata.index)
        writer.writeUInt64(metadata.term)
        writer.writeUInt32(UInt32(metadata.voters.count))
        for voter in metadata.voters { writer.writeUInt64(voter.rawValue) }
        writer.writeUInt64(UInt64(dataCount))
        return writer.bytes
    }

    /// The file name for a snapshot at `index`/`term` whose file hashes to `digest`.
    static func name(index: UInt64, term: UInt64, digest: [UInt8]) -> String {
        "snap-\(twentyDigits(index))-\(twentyDigits(term))-\(Hex.encode(digest.prefix(8)))\(nameSuffix)"
    }

    /// Whether `name` is a snapshot file or a snapshot temp file by this store's naming (and so a
    /// plain name, never a path). Other files in the directory are left alone.
    static func isOwnFileName(_ name: String) -> Bool {
        name.hasPrefix("snap-") && !name.contains("/")
            && (name.hasSuffix(nameSuffix) || name.hasSuffix(nameSuffix + temporarySuffix))
    }

    private static func twentyDigits(_ value: UInt64) -> String {
        let digits = String(value)
        return String(repeating: "0", count: 20 - digits.count) + digits
    }

    /// Reads and verifies the whole file from `file` (at offset 0), which lives at `path`.
    ///
    /// Allocates at most the file's size. Returns the snapshot and the file's digest.
    ///
    /// - Throws: `StoreError.corrupt(path, .snapshotFile(…))` for damage,
    ///   `.unsupportedSnapshotFormat` for another version, `.snapshotIO` when reading fails.
    static func read(_ file: OpenFile, path: String) throws(StoreError) -> (Snapshot, digest: [UInt8]) {
        func damaged(_ damage: StoreError.SnapshotFileDamage) -> StoreError { .corrupt(path: path, .snapshotFile(damage)) }
        let size: UInt64
        do { size = try file.size() } catch { throw .snapshotIO(path: path, operation: "stat", reason: error.message) }
        var input = Input(file: file, path: path, size: size)

        guard size >= 10 else { throw damaged(.truncated(fileSize: size)) }
        guard try input.bytes(8) == magic else { throw damaged(.notASnapshotFile) }
        let version = UInt16(bigEndianBytes: try input.bytes(2))
        guard version == formatVersion else {
            throw .unsupportedSnapshotFormat(path: path, version: version, supported: formatVersion)
        }
        guard size >= minimumSize else { throw damaged(.truncated(fileSize: size)) }
        let fixed = try input.bytes(20)
        let index = UInt64(bigEndianBytes: fixed[0..<8])
        let term = UInt64(bigEndianBytes: fixed[8..<16])
        let voterCount = UInt64(bigEndianBytes: fixed[16..<20])
        let room = size - minimumSize
        guard voterCount * 8 <= room else {
            throw damaged(.lengthMismatch(field: "voter count", value: voterCount, fileSize: size))
        }
        let voterBytes = try input.bytes(Int(voterCount) * 8)
        let dataLength = UInt64(bigEndianBytes: try input.bytes(8))
        guard dataLength == room - voterCount * 8 else {
            throw damaged(.lengthMismatch(field: "data length", value: dataLength, fileSize: size))
        }
        let data = try input.bytes(Int(dataLength))
        let digest = input.hasher.finalize()
        guard try input.bytes(SHA256.digestByteCount, hashed: false) == digest else { throw damaged(.checksumMismatch) }

        var voters: [NodeID] = []
        voters.reserveCapacity(Int(voterCount))
        for position in 0..<Int(voterCount) {
            let id = UInt64(bigEndianBytes: voterBytes[position * 8..<position * 8 + 8])
            guard id != 0 else { throw damaged(.invalidVoter(position: position)) }
            voters.append(NodeID(id))
        }
        let metadata = SnapshotMetadata(index: index, term: term, voters: voters)
        return (Snapshot(metadata: metadata, data: data), digest)
    }

    /// Sequential reads of a file whose size was checked first, hashing what they read.
    private struct Input {
        let file: OpenFile
        let path: String
        let size: UInt64
        var hasher = SHA256()

        init(file: OpenFile, path: String, size: UInt64) {
            self.file = file
            self.path = path
            self.size = size
        }

        /// The next `count` bytes. Callers have checked `count` against the file size, so the
        /// allocation is bounded by it; a file that shrank since reads as truncated.
        mutating func bytes(_ count: Int, hashed: Bool = true) throws(StoreError) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: count)
            let result: Result<Int, SystemError> = bytes.withUnsafeMutableBytes { raw in
                do throws(SystemError) { return .success(try file.read(into: raw)) } catch { return .failure(error) }
            }
            let read: Int
            switch result {
            case .success(let count): read = count
            case .failure(let error): throw .snapshotIO(path: path, operation: "read", reason: error.message)
            }
            guard read == count else { throw .corrupt(path: path, .snapshotFile(.truncated(fileSize: size))) }
            if hashed { hasher.update(bytes) }
            return bytes
        }
    }
}

private extension FixedWidthInteger where Self: UnsignedInteger {
    /// The value of big-endian `bytes` (at most `bitWidth / 8` of them).
    init(bigEndianBytes bytes: some Collection<UInt8>) {
        self = bytes.reduce(0) { $0 << 8 | Self($1) }
    }
}
