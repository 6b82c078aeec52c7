import Alarming
import Consensus
import Foundation

extension CommandLine {
    /// `florian bench paging [--rate 512|1200|2400] [--seed S]`: the airtime scheduler against a
    /// naive one-page-per-transmission FIFO on the same storm night, and both on a burst of
    /// tone-only alarms.
    static func benchPaging(_ raw: [String]) throws -> Int32 {
        var args = try Arguments(raw, booleans: [])
        let rateText = args.string("rate") ?? "1200"
        let seed = try args.uint("seed") ?? 42
        try args.finish()
        guard let rate = Int(rateText).flatMap(POCSAG.BitRate.init(rawValue:)) else { throw UsageError("--rate must be 512, 1200 or 2400") }
        let storm = try PagingStorm(seed: seed)
        say("bench paging: storm night: \(storm.incidents) incidents in 2 h (\(storm.peakIncidents) in a 15-minute peak), "
            + "\(storm.count(.alarm)) alarm pages to 1–6 alert groups each, \(storm.count(.reAlarm)) re-alarms, "
            + "\(storm.count(.information)) information pages, \(storm.count(.test)) test pages; \(rate.rawValue) bit/s")
        let fifo = PagingRun.run(storm.pages, rate: rate, fifo: true)
        let sched = PagingRun.run(storm.pages, rate: rate, fifo: false)
        for (name, r) in [("fifo", fifo), ("scheduler", sched)] {
            say(String(format: "bench paging: %@: %d transmissions, channel busy %.1f %% of the night, %.1f pages/s on air, alarm wait p50 %.1f s, p99 %.1f s, max %.1f s; last page sent %.0f s after the first queued",
                       name, r.transmissions, 100 * r.utilisation, r.pagesPerSecondOnAir, r.alarmP50 / 1000, r.alarmP99 / 1000, r.alarmMax / 1000, r.span / 1000))
        }
        say(String(format: "bench paging: alarm-page p99 wait: fifo %.1f s / scheduler %.1f s = %.1f× lower (target ≥ 5×)",
                   fifo.alarmP99 / 1000, sched.alarmP99 / 1000, fifo.alarmP99 / max(sched.alarmP99, 1)))
        // Capacity: 10 000 tone-only alarms queued at once (the draining tail — the last, partly filled
        // transmissions — weighs little at this size).
        var rng = Xoshiro256(seed: seed &+ 1)
        let burst = try (0..<10_000).map { k in
            QueuedPage(id: UInt64(k), page: try POCSAG.Page(ric: UInt32(rng.next() % UInt64(POCSAG.maxRIC + 1)), function: UInt8(rng.next() % 4), content: .tone),
                       pageClass: .alarm, queuedAt: 0)
        }
        let b = PagingRun.run(burst, rate: rate, fifo: false)
        let bf = PagingRun.run(burst, rate: rate, fifo: true)
        say(String(format: "bench paging: burst of 10000 tone-only alarms: scheduler %.1f pages/s while the queue stays full (%.1f over the whole burst; target ≥ 30 at 1200 bit/s), fifo %.1f pages/s",
                   b.steadyPagesPerSecond, b.pagesPerSecondOnAir, bf.pagesPerSecondOnAir))
        return 0
    }
}

/// A storm night's pages, from a seed: incidents mostly in a peak, each alarming 1–6 alert
/// groups, with information pages, some re-alarms and the odd test page.
struct PagingStorm {
    var pages: [QueuedPage] = []
    var incidents = 300
    var peakIncidents = 0

    init(seed: UInt64) throws {
        var rng = Xoshiro256(seed: seed)
        func uniform(_ n: UInt64) -> UInt64 { rng.next() % n }
        var id: UInt64 = 0
        func add(_ t: UInt64, _ c: PageClass, _ content: POCSAG.Content, ric: UInt32? = nil) throws {
            id += 1
            let r = ric ?? UInt32(uniform(UInt64(POCSAG.maxRIC) + 1))
            pages.append(QueuedPage(id: id, page: try POCSAG.Page(ric: r, function: UInt8(uniform(4)), content: content), pageClass: c, queuedAt: t))
        }
        let night: UInt64 = 2 * 3_600_000, peakStart: UInt64 = 40 * 60_000, peak: UInt64 = 15 * 60_000
        for k in 0..<incidents {
            let inPeak = uniform(10) < 6
            if inPeak { peakIncidents += 1 }
            let t = inPeak ? peakStart + uniform(peak) : uniform(night)
            var groups: [UInt32] = []
            for _ in 0..<(1 + uniform(6)) {
                let ric = UInt32(uniform(UInt64(POCSAG.maxRIC) + 1))
                groups.append(ric)
                try add(t, .alarm, .tone, ric: ric)
            }
            try add(t + 20_000 + uniform(20_000), .information,
                    .alphanumeric("Einsatz \(k + 1): F\(1 + uniform(3)) Sturmschaden, Baum auf Straße, Frankfurt-Höchst"))
            if uniform(10) == 0 { try add(t + 120_000, .reAlarm, .tone, ric: groups[0]) }
        }
        for k in 0..<4 { try add(UInt64(k) * 1_800_000, .test, .alphanumeric("Probealarm \(k + 1)")) }
        pages.sort { $0.queuedAt != $1.queuedAt ? $0.queuedAt < $1.queuedAt : $0.id < $1.id }
    }

    func count(_ c: PageClass) -> Int { pages.filter { $0.pageClass == c }.count }
}

/// Plays pages through a scheduler (or the naive FIFO: one page per transmission, arrival order).
enum PagingRun {
    struct Result {
        var transmissions = 0
        var utilisation = 0.0
        var pagesPerSecondOnAir = 0.0
        var alarmP50 = 0.0, alarmP99 = 0.0, alarmMax = 0.0
        var span = 0.0
        /// Pages/s over the transmissions that left at least as many pages waiting as they carried
        /// (the channel's capacity, without the draining tail).
        var steadyPagesPerSecond = 0.0
    }

    static func run(_ pages: [QueuedPage], rate: POCSAG.BitRate, fifo: Bool) -> Result {
        var s = AirtimeScheduler(rate: rate, maxBatches: fifo ? 1_000 : 12)
        var now: UInt64 = pages.first?.queuedAt ?? 0
        var next = 0
        var result = Result()
        var fifoQueue: [QueuedPage] = []
        var waits: [UInt64] = []
        var pagesSent = 0, steadyPages = 0
        var airtime: UInt64 = 0, steadyAirtime: UInt64 = 0
        while next < pages.count || !(fifo ? fifoQueue.isEmpty : s.isEmpty) {
            while next < pages.count, pages[next].queuedAt <= now {
                if fifo { fifoQueue.append(pages[next]) } else { s.enqueue(pages[next]) }
                next += 1
            }
            var end: UInt64?
            if fifo {
                if now >= s.busyUntil, !fifoQueue.isEmpty {
                    let p = fifoQueue.removeFirst()
                    // One page, its own preamble: the scheduler's arithmetic with a queue of one.
                    s.enqueue(p)
                    if let t = s.next(now: now) {
                        end = t.end
                        if p.pageClass == .alarm { waits.append(now - p.queuedAt) }
                        airtime += t.airtimeMillis
                        pagesSent += 1
                        result.transmissions += 1
                    }
                }
            } else if let t = s.next(now: now) {
                end = t.end
                if s.count >= t.pages.count {
                    steadyPages += t.pages.count
                    steadyAirtime += t.airtimeMillis
                }
                for p in t.pages where p.pageClass == .alarm { waits.append(now - p.queuedAt) }
                airtime += t.airtimeMillis
                pagesSent += t.pages.count
                result.transmissions += 1
            }
            _ = end
            // Next event: the channel frees up, or a page arrives.
            let arrival = next < pages.count ? pages[next].queuedAt : UInt64.max
            let waiting = !(fifo ? fifoQueue.isEmpty : s.isEmpty)
            if s.busyUntil > now {
                now = min(arrival, s.busyUntil)
            } else if !waiting {
                if arrival == .max { break }
                now = arrival
            } else {
                now += 1
            }
        }
        let first = pages.first?.queuedAt ?? 0
        result.span = Double(max(now, s.busyUntil) - first)
        result.utilisation = Double(airtime) / Double(max(pages.last?.queuedAt ?? 1, s.busyUntil) - first)
        result.pagesPerSecondOnAir = Double(pagesSent) / (Double(airtime) / 1000)
        result.steadyPagesPerSecond = steadyAirtime == 0 ? result.pagesPerSecondOnAir : Double(steadyPages) / (Double(steadyAirtime) / 1000)
        let sorted = waits.sorted()
        if !sorted.isEmpty {
            result.alarmP50 = Double(sorted[sorted.count / 2])
            result.alarmP99 = Double(sorted[min(sorted.count - 1, sorted.count * 99 / 100)])
            result.alarmMax = Double(sorted.last!)
        }
        return result
    }
}
