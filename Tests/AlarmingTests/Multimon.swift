import Foundation
import XCTest

/// multimon-ng, the independent decoder the encoders are checked against.
enum Multimon {
    static let path = ["/usr/bin/multimon-ng", "/usr/local/bin/multimon-ng"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Decodes raw 16-bit PCM at 22 050 Hz with `arguments` (e.g. `-a ZVEI1`); returns its stdout.
    static func decode(_ pcm: [UInt8], _ arguments: [String]) throws -> String {
        let bin = try XCTUnwrap(path, "multimon-ng is not installed (apt-get install multimon-ng; .ci/run does it)")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("multimon-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).raw")
        try Data(pcm).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = ["-q", "-t", "raw"] + arguments + [file.path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
