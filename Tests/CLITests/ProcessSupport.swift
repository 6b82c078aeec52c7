import Client
import Foundation
import Secure
import XCTest

/// Running the release binary from tests: to its end, or `florian demo` until its `ready` line.
extension XCTestCase {
    typealias Run = SimulateCommandTests.Run

    /// Runs `executable` to its end (killed after `limit` seconds).
    func run(_ executable: URL, _ args: [String], limit: TimeInterval = 600) throws -> Run {
        let p = Process()
        p.executableURL = executable
        p.arguments = args
        p.currentDirectoryURL = SimulateCommandTests.packageRoot
        var env = ProcessInfo.processInfo.environment
        env["FLORIAN_BIN"] = SimulateCommandTests.binary.path
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let watchdog = DispatchWorkItem { if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + limit, execute: watchdog)
        defer { watchdog.cancel() }
        let errData = Handoff<Data>()
        DispatchQueue.global().async { errData.post(err.fileHandleForReading.readDataToEndOfFile()) }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: errData.wait() ?? Data(), as: UTF8.self))
    }

    /// The process id of the demo's station simulator for `station`.
    func stationSimulator(_ station: String, clusterFile: String) throws -> Int32 {
        let r = try run(URL(fileURLWithPath: "/usr/bin/pgrep"), ["-f", "station-sim --cluster \(clusterFile) .*--station \(station)$"], limit: 10)
        return try XCTUnwrap(Int32(r.stdout.split(separator: "\n").first ?? ""), "no station-sim for \(station)")
    }

    func tempDir(_ name: String) -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("florian-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        addTeardownBlock { try? FileManager.default.removeItem(at: d) }
        return d
    }


    /// One `florian demo` shared by the tests of a class: started by the first (`shared`),
    /// stopped with its directory in the class's tearDown (`stop`).
    struct SharedDemo {
        let process: Process
        let dir: URL
        let cluster: [String: Any]

        static func start(_ name: String, in test: XCTestCase) throws -> SharedDemo {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("florian-\(name)-\(getpid())")
            try? FileManager.default.removeItem(at: dir)
            let (p, json) = try test.startDemo(dir, [])
            return SharedDemo(process: p, dir: dir, cluster: json)
        }

        func stop() {
            process.terminate()
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    /// Starts `florian demo --dir DIR --no-console` (+ `extra`), waits up to 60 s for its `ready`
    /// line and returns the process (running) and the cluster file it wrote.
    func startDemo(_ dir: URL, _ extra: [String]) throws -> (Process, [String: Any]) {
        let p = Process()
        p.executableURL = SimulateCommandTests.binary
        p.arguments = ["demo", "--dir", dir.path, "--no-console"] + extra
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        var text = ""
        let lines = LineReader(out.fileHandleForReading)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, let line = lines.next(until: deadline) {
            text += line + "\n"
            if line == "ready" { break }
        }
        guard text.hasSuffix("ready\n") else {
            p.terminate()
            throw NSError(domain: "demo", code: 1, userInfo: [NSLocalizedDescriptionKey: "no ready line:\n\(text)"])
        }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("cluster.json")))
        return (p, try XCTUnwrap(json as? [String: Any], "cluster.json is no JSON object"))
    }

}
