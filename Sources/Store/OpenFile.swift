#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `errno` of a failed system call.
struct SystemError: Error, Equatable {
    let code: Int32

    /// The calling thread's current `errno`.
    static var current: SystemError { SystemError(code: errno) }

    var message: String { String(cString: strerror(code)) }
    var isNotFound: Bool { code == ENOENT }
    var isDiskFull: Bool { code == ENOSPC || code == EDQUOT }
}

/// The one owner of an open file descriptor; closes it when released.
///
/// Close errors are ignored: every write that matters is followed by `sync()`, which reports them.
final class OpenFile {
    let descriptor: Int32

    init(path: String, flags: Int32, mode: mode_t = 0) throws(SystemError) {
        let descriptor = open(path, flags | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw SystemError.current }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// The file's size in bytes, from fstat(2).
    func size() throws(SystemError) -> UInt64 {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw SystemError.current }
        return UInt64(info.st_size)
    }

    /// Fills `buffer` from the current offset; returns how many bytes were read, fewer than
    /// `buffer.count` only at the end of the file.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        var done = 0
        while done < buffer.count {
            let count = systemRead(descriptor, buffer.baseAddress! + done, buffer.count - done)
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemError.current
            }
            if count == 0 { break }
            done += count
        }
        return done
    }

    /// Writes all of `buffer` at the current offset.
    func write(_ buffer: UnsafeRawBufferPointer) throws(SystemError) {
        var done = 0
        while done < buffer.count {
            let count = systemWrite(descriptor, buffer.baseAddress! + done, buffer.count - done)
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemError.current
            }
            done += count
        }
    }

    func write(_ bytes: [UInt8]) throws(SystemError) {
        let failure: SystemError? = bytes.withUnsafeBytes { raw in
            do throws(SystemError) { try write(raw) } catch { return error }
            return nil
        }
        if let failure { throw failure }
    }

    /// fsync(2): the file's data and metadata are on stable storage when this returns.
    func sync() throws(SystemError) {
        guard fsync(descriptor) == 0 else { throw SystemError.current }
    }
}

@available(*, unavailable)
extension OpenFile: Sendable {}

/// Directory operations the snapshot store needs, as thin errno-reporting wrappers.
enum FileSystem {
    /// fsyncs a directory, so the names created, renamed or removed in it survive a power cut
    /// (POSIX fsync(2) on a file does not sync the directory entry naming it).
    static func syncDirectory(_ path: String) throws(SystemError) {
        try OpenFile(path: path, flags: O_RDONLY | O_DIRECTORY).sync()
    }

    /// Creates the directory; false when it already exists.
    static func makeDirectory(_ path: String) throws(SystemError) -> Bool {
        if mkdir(path, 0o755) == 0 { return true }
        if errno == EEXIST { return false }
        throw SystemError.current
    }

    /// rename(2): atomically replaces `target` (if any) with `source`.
    static func rename(_ source: String, to target: String) throws(SystemError) {
        guard systemRename(source, target) == 0 else { throw SystemError.current }
    }

    static func removeFile(_ path: String) throws(SystemError) {
        guard unlink(path) == 0 else { throw SystemError.current }
    }

    /// The names in a directory (without "." and ".."); empty when it does not exist.
    static func fileNames(in path: String) throws(SystemError) -> [String] {
        guard let directory = opendir(path) else {
            if errno == ENOENT { return [] }
            throw SystemError.current
        }
        defer { closedir(directory) }
        var names: [String] = []
        errno = 0
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        if errno != 0 { throw SystemError.current }
        return names
    }
}

// The C calls under names that the methods above do not shadow.
private func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}

private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}

private func systemRename(_ source: String, _ target: String) -> Int32 {
    rename(source, target)
}
