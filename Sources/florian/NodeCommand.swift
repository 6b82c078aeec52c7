import CEpoll
import Dispatch
import Foundation
import Node

extension CommandLine {
    /// `florian node --config FILE`: runs one node until SIGTERM or SIGINT.
    static func node(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: ["check"])
        guard let path = args.string("config") else { throw UsageError("node needs --config FILE") }
        let check = args.flag("check")
        try args.finish()
        if check {
            let config = try NodeConfig.load(path)
            try NodeServer.checkTLS(config)
            say("config ok: node \(config.node) (\(config.me.name)) of cluster '\(config.cluster)', \(config.members.count) members, mesh \(config.me.mesh), client \(config.me.client)")
            return 0
        }
        if ProcessInfo.processInfo.environment["FLORIAN_DIE_WITH_PARENT"] == "1" {
            _ = CEpoll_set_parent_death_signal(SIGTERM)
            if getppid() == 1 { return 1 }  // the parent is already gone
        }
        let config = try NodeConfig.load(path)
        let name = "florian node \(config.node)"
        let server = try NodeServer(config: config) { line in
            let stamp = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
            FileHandle.standardError.write(Data("\(stamp) \(name): \(line)\n".utf8))
        }
        let handle = server.handle
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { handle.stop() }
            source.resume()
            sources.append(source)
        }
        say("node \(config.node) serving: mesh \(config.me.mesh), client \(config.me.client)")
        withExtendedLifetime(sources) { server.run() }
        return 0
    }
}
