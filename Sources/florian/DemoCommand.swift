import Client
import Dispatch
import Foundation
import Secure

extension CommandLine {
    /// `florian demo [--dir DIR] [--no-console]`: a local 3-node cluster until Ctrl-C.
    static func demo(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: ["no-console"])
        let noConsole = args.flag("no-console")
        let dirArg = args.string("dir")
        let nodes = try args.uint("nodes") ?? 3
        try args.finish()
        guard nodes == 3 || nodes == 5 else { throw UsageError("--nodes must be 3 or 5") }
        let dir: URL
        if let dirArg {
            dir = URL(fileURLWithPath: dirArg)
            let existing = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            guard existing.isEmpty else { throw UsageError("--dir \(dirArg) is not empty (the demo makes a new PKI and cluster there)") }
        } else {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("florian-demo-\(getpid())")
        }
        let cluster = try LocalCluster(dir: dir, nodes: Int(nodes), name: "florian-demo")
        let stop = Handoff<Int32>()
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { stop.post(sig) }
            s.resume()
            sources.append(s)
        }
        try cluster.startAll()
        let leader: ClusterStatus
        do { leader = try cluster.waitForLeader(timeout: 30) } catch {
            cluster.stopAll()
            throw error
        }
        let file = try cluster.writeClusterFile()
        say("cluster: \(cluster.members.count) nodes, leader node \(leader.leader) in term \(leader.term)")
        for m in cluster.members { say("node \(m.id): mesh \(m.mesh), client \(m.client), log \(cluster.logURL(m.id).path)") }
        say("cluster file: \(file.path)")
        say("ready")
        if !noConsole {
            // The dispatcher console comes with issue 8; until then the demo shows the cluster's
            // health every 5 s.
            let client = try cluster.client()
            Thread {
                while true {
                    Thread.sleep(forTimeInterval: 5)
                    if let s = try? client.status() {
                        let nodes = s.members.map { "\($0.name) \($0.link)\($0.lag.map { " lag \($0)" } ?? "")" }.joined(separator: ", ")
                        say("status: leader node \(s.leader), term \(s.term), commit \(s.commitIndex); \(nodes)")
                    } else {
                        say("status: no answer from the cluster")
                    }
                            }
            }.start()
        }
        // Restart a node that died (the demo keeps its cluster whole), until a signal comes.
        while true {
            if let sig = stop.wait(timeout: .now() + 1) {
                say("demo: signal \(sig), stopping the nodes")
                cluster.stopAll()
                say("demo: stopped; files in \(dir.path)")
                _ = sources
                return 0
            }
            for m in cluster.members where !cluster.isRunning(m.id) {
                say("demo: node \(m.id) exited; restarting it (see \(cluster.logURL(m.id).path))")
                try? cluster.start(m.id)
            }
        }
    }
}
