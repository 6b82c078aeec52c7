import Alarming
import Client
import Dispatch
import Foundation
import IncidentStore
import Incidents
import Secure
import Synchronization
import Wire

extension CommandLine {
    /// `florian pipeline --cluster FILE --store DIR [--grid METRES] [--archive-after SECONDS]
    /// [--retention-days N] [--once]`: keeps the incident store up to date from the committed alarm
    /// events (Protocols/incidents.md). A durable subscriber: it resumes at the offset stored with
    /// the records (one transaction), so every event is applied exactly once however often it is
    /// stopped. Closed incidents stored longer than `--archive-after` (default 24 h) are archived
    /// out of the replicated alarm state; personal fields older than `--retention-days` (default
    /// 90) are deleted. Its output names counts and offsets only, never an incident's contents.
    static func pipeline(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: ["once"])
        guard let clusterPath = args.string("cluster") else { throw UsageError("pipeline needs --cluster FILE") }
        guard let storeDir = args.string("store") else { throw UsageError("pipeline needs --store DIR") }
        let grid = Int(try args.uint("grid") ?? 500)
        guard grid == 0 || GridCell.sizes.contains(grid) else { throw UsageError("--grid takes 0 (Stadtteil only) or \(GridCell.sizes.map(String.init).joined(separator: ", ")) metres") }
        let archiveAfter = try args.uint("archive-after") ?? 24 * 3600
        let retentionDays = try args.uint("retention-days") ?? 90
        guard retentionDays >= 1 else { throw UsageError("--retention-days must be at least 1") }
        let once = args.flag("once")
        try args.finish()

        let file = try ClusterFile.load(clusterPath)
        let identity = try Self.clusterIdentity(file)
        let store = try IncidentStore(directory: storeDir)
        try store.bind(cluster: identity)
        try store.setMeta("grid.metres", String(grid))
        _ = try KeyFiles.load(store: storeDir)
        let role = file.credentials["pipeline"] != nil ? "pipeline" : "gateway"
        let client = try file.client(role: role)
        defer { client.closeAndWait() }

        var offset = try store.feedOffset()
        let head = try client.read(topic: AlarmTopic.events, from: 0, limit: 1)
        guard offset <= head.endOffset else {
            throw UsageError("the store \(storeDir) has read the event feed up to offset \(offset), but the cluster's feed ends at \(head.endOffset): it belongs to another cluster or the cluster's log was reset; give another --store")
        }
        let ws = try store.workingSet(source: IncidentProjection.source)
        var projection = IncidentProjection(gridMetres: grid, records: ws.records, dispatches: ws.dispatches, latest: ws.latest)
        say("pipeline: store \(store.path), \(try store.count("incidents")) incidents, resuming at offset \(offset) of \(head.endOffset)")

        let stop = Mutex(false)
        let sources = onTermination { stop.withLock { $0 = true } }
        let inbox = Mailbox<StreamEvent>()
        let subscription = client.subscribe(topic: AlarmTopic.events, from: offset) { inbox.post($0) }
        defer { client.unsubscribe(subscription) }
        let target = head.endOffset
        var lastArchive = DispatchTime(uptimeNanoseconds: 0)
        var lastPurge = DispatchTime(uptimeNanoseconds: 0)
        var stored = 0
        var lastReport = DispatchTime.now()

        func lookup(_ key: RecordKey) -> (IncidentRecord, [UnitDispatch])? { (try? store.lookup(key)) ?? nil }

        while !stop.withLock({ $0 }) {
            let batch = inbox.takeAll(until: .now() + 0.5)
            var gaps: [(UInt64, UInt64)] = []
            var undecodable: [UInt64] = []
            for event in batch {
                switch event {
                case .message(let m):
                    guard m.offset >= offset else { continue }   // a resend after a reconnect
                    if let e = FeedEvent.decode(m.payload) {
                        projection.apply(e, lookup: lookup)
                    } else {
                        // Not an event we can read: never dropped silently — logged and kept in the store.
                        undecodable.append(m.offset)
                    }
                    offset = m.offset + 1
                case .gap(let from, let resumeAt):
                    gaps.append((from, resumeAt))
                    offset = max(offset, resumeAt)
                }
            }
            if !batch.isEmpty {
                let changes = projection.takeChanges()
                try store.commit(records: changes.records, dispatches: changes.dispatches, latest: changes.latest, feedOffset: offset)
                projection.evict()
                stored += changes.records.count
            }
            for o in undecodable {
                try store.setMeta("feed.undecodable.\(o)", "offset \(o) of \(AlarmTopic.events) is not an alarm event the pipeline can read")
                FileHandle.standardError.write(Data("pipeline: WARNING offset \(o) of \(AlarmTopic.events) is not a readable alarm event; skipped and recorded in the store\n".utf8))
            }
            for (from, resumeAt) in gaps {
                // Retention removed events before we read them: said loudly, and kept in the store.
                let note = "events \(from)..<\(resumeAt) of \(AlarmTopic.events) were trimmed before the pipeline read them"
                try store.setMeta("feed.gap.\(from)", note)
                FileHandle.standardError.write(Data("pipeline: WARNING \(note); incidents of that time may be incomplete\n".utf8))
            }
            let now = DispatchTime.now()
            if now.uptimeNanoseconds - lastPurge.uptimeNanoseconds > 3_600_000_000_000 || lastPurge.uptimeNanoseconds == 0 {
                lastPurge = now
                let cutoff = Int64(Date().timeIntervalSince1970 * 1000) - Int64(retentionDays) * 86_400_000
                let n = try store.purgePersonal(before: cutoff)
                if n > 0 { say("pipeline: retention deleted the personal fields of \(n) incident(s) older than \(retentionDays) days") }
            }
            if now.uptimeNanoseconds - lastArchive.uptimeNanoseconds > 10_000_000_000 {
                lastArchive = now
                try archive(store: store, client: client, closedBefore: Int64(Date().timeIntervalSince1970 * 1000) - Int64(archiveAfter) * 1000)
            }
            if stored > 0 && (now.uptimeNanoseconds - lastReport.uptimeNanoseconds > 5_000_000_000 || once) {
                say("pipeline: offset \(offset), \(stored) record update(s) stored, \(try store.count("incidents")) incidents")
                stored = 0
                lastReport = now
            }
            if once && offset >= target && batch.isEmpty { break }
        }
        if once {
            try archive(store: store, client: client, closedBefore: Int64(Date().timeIntervalSince1970 * 1000) - Int64(archiveAfter) * 1000)
        }
        _ = sources
        say("pipeline: stopped at offset \(offset)")
        return 0
    }

    /// Archives stored closed incidents out of the alarm state, at most 200 per command.
    static func archive(store: IncidentStore, client: FlorianClient, closedBefore: Int64) throws {
        while true {
            let ids = try store.archivable(closedBefore: closedBefore)
            guard !ids.isEmpty else { return }
            let incidents = try ids.map { try IncidentID($0) }
            let command = AlarmCommand.archiveIncidents(.init(incidents: incidents))
            let id = "archive-" + Hex.encode(SHA256.hash(Array(ids.joined(separator: ",").utf8)).prefix(8))
            switch try client.submit(type: command.type, commandID: id, payload: command.payload) {
            case .rejected(let why):
                FileHandle.standardError.write(Data("pipeline: archiving refused: \(why)\n".utf8))
                return
            default:
                try store.markArchived(ids)
                say("pipeline: archived \(ids.count) closed incident(s) out of the alarm state")
            }
            if ids.count < 200 { return }
        }
    }

    /// Which cluster a store belongs to: its name and its CA's fingerprint (a new demo makes a new CA).
    static func clusterIdentity(_ file: ClusterFile) throws -> String {
        guard let ca = FileManager.default.contents(atPath: file.ca) else { throw UsageError("cannot read the CA certificate \(file.ca)") }
        return file.cluster + "/" + Hex.encode(SHA256.hash(Array(ca)).prefix(8))
    }
}
