import Alarming
import Foundation

/// Where a paging channel's transmissions go: the transmitter interface. `transmit` returns once
/// the transmission's PCM is handed over completely, or throws — then the pages are not aired and
/// stay the dispatcher's to retry or fall back.
public protocol TransmitterSink: AnyObject {
    func transmit(_ transmission: Transmission, rate: POCSAG.BitRate) throws -> TransmitterReceipt
}

/// What a sink did with a transmission.
public struct TransmitterReceipt: Equatable, Sendable {
    public var sequence: UInt64
    public var bytes: Int
    /// The file written (directory sink) or the stream written to.
    public var path: String
}

public enum TransmitterError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case writeFailed(path: String, reason: String)
    case encoding(String)
    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "transmitter sink: cannot open \(path): \(reason)"
        case let .writeFailed(path, reason): return "transmitter sink: writing \(path) failed: \(reason); the transmission was not aired"
        case let .encoding(reason): return "transmitter sink: \(reason)"
        }
    }
}

/// The shipped transmitter interface: each transmission's NRZ baseband (16-bit little-endian PCM,
/// 22 050 Hz) goes either into a stream — a named pipe a sound card or SDR process reads, or a
/// file — followed by `gapMillis` of silence, or into a directory as one file per transmission
/// (written under a temporary name and renamed, so a reader never sees half a transmission).
public final class PCMSink: TransmitterSink {
    public enum Target: Equatable, Sendable {
        case stream(String)
        case directory(String)
    }

    public let target: Target
    public let gapMillis: Int
    private var fd: Int32 = -1
    private var sequence: UInt64 = 0

    public init(_ target: Target, gapMillis: Int = 100) throws {
        self.target = target
        self.gapMillis = max(0, gapMillis)
        switch target {
        case .stream(let path):
            // A pipe without a reader would block here: the reader (transmitter) starts first.
            fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw TransmitterError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        case .directory(let path):
            do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                throw TransmitterError.cannotOpen(path: path, reason: "\(error)")
            }
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    public func transmit(_ transmission: Transmission, rate: POCSAG.BitRate) throws -> TransmitterReceipt {
        let pcm: [UInt8]
        do { pcm = try POCSAG.transmission(transmission.pages.map(\.page), rate: rate) } catch {
            throw TransmitterError.encoding("\(error)")
        }
        return try transmit(pcm: pcm, start: transmission.start)
    }

    /// Hands over any PCM (16-bit little-endian, 22 050 Hz): a ZVEI call, a transmission.
    /// `start` (ms, any clock) names the file in a directory sink.
    public func transmit(pcm: [UInt8], start: UInt64) throws -> TransmitterReceipt {
        sequence += 1
        switch target {
        case .stream(let path):
            let silence = [UInt8](repeating: 0, count: 2 * (22_050 * gapMillis / 1000))
            try writeAll(fd, pcm + silence, path)
            return TransmitterReceipt(sequence: sequence, bytes: pcm.count, path: path)
        case .directory(let dir):
            let name = String(format: "tx-%06llu-%llu.raw", sequence, start)
            let final = dir + "/" + name, temp = dir + "/." + name + ".tmp"
            let f = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
            guard f >= 0 else { throw TransmitterError.cannotOpen(path: temp, reason: String(cString: strerror(errno))) }
            do {
                try writeAll(f, pcm, temp)
                guard fsync(f) == 0 else { throw TransmitterError.writeFailed(path: temp, reason: String(cString: strerror(errno))) }
                close(f)
            } catch {
                close(f)
                unlink(temp)
                throw error
            }
            guard rename(temp, final) == 0 else {
                let reason = String(cString: strerror(errno))
                unlink(temp)
                throw TransmitterError.writeFailed(path: final, reason: reason)
            }
            return TransmitterReceipt(sequence: sequence, bytes: pcm.count, path: final)
        }
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8], _ path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TransmitterError.writeFailed(path: path, reason: String(cString: strerror(errno)))
            }
            offset += n
        }
    }
}
