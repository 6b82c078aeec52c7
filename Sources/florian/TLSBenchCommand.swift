import Foundation
import Secure
import Wire

extension CommandLine {
    /// `florian bench tls [--seconds S]`: mutual-TLS 1.3 handshakes per second (connect, verify
    /// both ways, one frame, close) and bulk throughput (1 MiB frames) over loopback against our
    /// listener, beside `openssl s_time` against `openssl s_server` and `openssl speed` for the
    /// cipher, measured in the same run. Run it under `taskset -c 0` for the one-core figures.
    static func benchTLS(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: [])
        let seconds = Double(try args.uint("seconds") ?? 3)
        try args.finish()
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("florian-bench-tls-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let pki = PKIDirectory(dir.path)
        try pki.initialise()
        try pki.issue(role: .node, name: "server")
        try pki.issue(role: .node, name: "client")
        let server = try TLSContext(.fromPKI(directory: dir.path, name: "server", accepting: [.node]), side: .server)
        let client = try TLSContext(.fromPKI(directory: dir.path, name: "client", accepting: [.node]), side: .client)
        let listener = try TLSListener(context: server) { _, frame in frame.kind == 1 ? frame : nil }
        defer { listener.stop() }

        // Handshakes.
        var handshakes = 0
        let hello = ProtocolFrame(kind: 1, body: [1])
        var start = Date()
        while Date().timeIntervalSince(start) < seconds {
            let c = try TLSClient(host: "127.0.0.1", port: listener.port, context: client)
            _ = try c.exchange(hello)
            c.close()
            handshakes += 1
        }
        let ourHandshakes = Double(handshakes) / Date().timeIntervalSince(start)

        // Bulk: 1 MiB frames into a sink, then one echo to be sure all arrived.
        let c = try TLSClient(host: "127.0.0.1", port: listener.port, context: client, timeout: .seconds(30))
        let chunk = [UInt8](repeating: 0x42, count: 1 << 20)
        var sent = 0
        start = Date()
        while Date().timeIntervalSince(start) < seconds {
            try c.sendRaw(try ProtocolFrame(kind: 2, body: chunk).encode(maxPayloadSize: 2 << 20))
            sent += chunk.count
        }
        _ = try c.exchange(hello)
        let ourBulk = Double(sent) / Date().timeIntervalSince(start) / 1e6
        c.close()

        // OpenSSL's own: s_server + s_time with the same certificates, and the cipher's speed.
        let peerHandshakes = try openSSLHandshakes(dir: dir, seconds: Int(max(2, seconds)))
        let cipher = try openSSLSpeed(seconds: Int(max(1, seconds)))
        print(String(format: "bench tls: our mutual TLS 1.3 handshakes %.0f/s (connect, verify both ways, one frame, close)", ourHandshakes))
        print(String(format: "bench tls: openssl s_time against openssl s_server (same certificates): %@", peerHandshakes.map { String(format: "%.0f/s", $0) } ?? "not measured"))
        print(String(format: "bench tls: our bulk throughput %.0f MB/s (1 MiB frames over loopback)", ourBulk))
        print(String(format: "bench tls: openssl speed aes-256-gcm (16 KiB blocks): %@", cipher.map { String(format: "%.0f MB/s", $0) } ?? "not measured"))
        print(String(format: "bench tls: handshakes %.0f/s vs openssl %@; bulk %.0f MB/s vs cipher %@",
                     ourHandshakes, peerHandshakes.map { String(format: "%.0f/s", $0) } ?? "n/a",
                     ourBulk, cipher.map { String(format: "%.0f MB/s", $0) } ?? "n/a"))
        return 0
    }

    private static func run(_ args: [String], input: Data? = nil, wait: Bool = true) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        // The server's chatter must not fill a pipe nobody reads.
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        p.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        try p.run()
        return (p, out)
    }

    private static func openSSLHandshakes(dir: URL, seconds: Int) throws -> Double? {
        let port = 20_000 + Int(getpid() % 20_000)
        func f(_ n: String) -> String { dir.appendingPathComponent(n).path }
        let (server, serverOut) = try run(["s_server", "-accept", "127.0.0.1:\(port)", "-tls1_3", "-quiet", "-naccept", "100000",
                                   "-cert", f("server.crt"), "-key", f("server.key"), "-CAfile", f("ca.crt"), "-Verify", "1"])
        serverOut.fileHandleForReading.readabilityHandler = { h in _ = h.availableData }
        defer { server.terminate() }
        Thread.sleep(forTimeInterval: 0.5)
        let (time, out) = try run(["s_time", "-connect", "127.0.0.1:\(port)", "-new", "-time", "\(seconds)",
                                   "-cert", f("client.crt"), "-key", f("client.key"), "-CAfile", f("ca.crt")])
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        time.waitUntilExit()
        // "N connections in T real seconds" / "N connections in Ts; R connections/user sec"
        for line in text.split(separator: "\n") where line.contains("connections in") && line.contains("real seconds") {
            let parts = line.split(separator: " ")
            if let n = Double(parts[0]), let k = parts.firstIndex(of: "real"), k > 0, let t = Double(parts[k - 1]), t > 0 {
                return n / t
            }
        }
        return nil
    }

    private static func openSSLSpeed(seconds: Int) throws -> Double? {
        let (p, out) = try run(["speed", "-seconds", "\(seconds)", "-bytes", "16384", "-evp", "aes-256-gcm"])
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        // Last line: "AES-256-GCM  123456.78k"
        guard let line = text.split(separator: "\n").last(where: { $0.uppercased().hasPrefix("AES-256-GCM") }),
              let value = line.split(separator: " ").last, value.hasSuffix("k"), let k = Double(value.dropLast()) else { return nil }
        return k * 1000 / 1e6
    }
}
