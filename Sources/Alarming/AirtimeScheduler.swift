/// What a page is for; it decides the order on air.
public enum PageClass: Int, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case alarm = 0, reAlarm = 1, information = 2, test = 3
    public static func < (a: PageClass, b: PageClass) -> Bool { a.rawValue < b.rawValue }
    public var description: String {
        switch self {
        case .alarm: "alarm"
        case .reAlarm: "re-alarm"
        case .information: "information"
        case .test: "test"
        }
    }
}

/// A page waiting for the channel.
public struct QueuedPage: Equatable, Sendable {
    public var id: UInt64
    public var page: POCSAG.Page
    public var pageClass: PageClass
    /// Milliseconds (any epoch, the scheduler's clock) when it was queued.
    public var queuedAt: UInt64
    /// The page's message codewords, counted once (the scheduler tries many layouts).
    public let messageWords: Int
    public init(id: UInt64, page: POCSAG.Page, pageClass: PageClass, queuedAt: UInt64) {
        self.id = id
        self.page = page
        self.pageClass = pageClass
        self.queuedAt = queuedAt
        messageWords = POCSAG.messageCodewordCount(page.content)
    }
}

/// One transmission: its pages in air order, its codewords and how long it takes.
public struct Transmission: Equatable, Sendable {
    public var pages: [QueuedPage]
    public var batches: [[UInt32]]
    /// Start and end on the scheduler's clock (ms).
    public var start: UInt64
    public var airtimeMillis: UInt64
    public var end: UInt64 { start + airtimeMillis }
}

/// Decides what a paging channel sends next (pure: time comes in as an argument).
///
/// - Order: alarm before re-alarm before information before test — except that a page waiting
///   longer than `maxWaitMillis[class]` goes first among those its class outranks, so no class
///   starves under a sustained load of a higher one.
/// - Packing: a transmission carries up to `maxBatches` batches behind one preamble; the pages
///   chosen are laid out frame by frame so that addresses fill their RICs' frames (two per frame),
///   which is what makes tone-only alarms cheap: up to 16 per batch instead of one per preamble.
/// - Report: each page's queue wait, and the channel's utilisation (airtime / elapsed time).
public struct AirtimeScheduler: Sendable {
    public let rate: POCSAG.BitRate
    /// Batches after one preamble at most (a long transmission delays the next alarm; 12 batches
    /// are 5.9 s at 1200 bit/s and carry up to 191 tone-only pages).
    public var maxBatches: Int
    /// Wait after which a page of a class goes ahead of higher classes (ms).
    public var maxWaitMillis: [PageClass: UInt64]
    /// The waiting pages of each class (by raw value) in (queuedAt, id) order; the slots before
    /// `heads[c]` are taken pages not yet compacted away. So the ranking at any time is a merge of
    /// sorted lists, never a sort of the whole queue (a saturated channel can hold thousands).
    private var byClass: [[QueuedPage]] = Array(repeating: [], count: PageClass.allCases.count)
    private var heads: [Int] = Array(repeating: 0, count: PageClass.allCases.count)
    /// Pages waiting.
    public private(set) var count = 0
    public var isEmpty: Bool { count == 0 }
    /// The waiting pages, by class, then by age.
    public var queue: [QueuedPage] { (0..<byClass.count).flatMap { byClass[$0][heads[$0]...] } }
    /// The channel is busy until then (ms).
    private(set) public var busyUntil: UInt64 = 0
    private(set) public var airtimeMillis: UInt64 = 0
    private(set) public var firstActivity: UInt64?
    /// (page, class, wait in ms) of every page sent, in send order.
    private(set) public var waits: [(id: UInt64, pageClass: PageClass, waitMillis: UInt64)] = []

    public init(rate: POCSAG.BitRate, maxBatches: Int = 12,
                maxWaitMillis: [PageClass: UInt64] = [.alarm: 0, .reAlarm: 20_000, .information: 60_000, .test: 300_000]) {
        self.rate = rate
        self.maxBatches = max(1, maxBatches)
        self.maxWaitMillis = maxWaitMillis
    }

    public mutating func enqueue(_ page: QueuedPage) {
        if firstActivity == nil { firstActivity = page.queuedAt }
        let c = page.pageClass.rawValue
        var at = byClass[c].endIndex
        while at > heads[c], Self.before(page, byClass[c][at - 1]) { at -= 1 }
        byClass[c].insert(page, at: at)
        count += 1
    }

    private static func before(_ a: QueuedPage, _ b: QueuedPage) -> Bool {
        a.queuedAt != b.queuedAt ? a.queuedAt < b.queuedAt : a.id < b.id
    }

    /// Airtime of `batches` after the preamble, rounded up to whole ms.
    public func airtime(batches: Int) -> UInt64 {
        let bits = UInt64(POCSAG.preambleBits + batches * 17 * 32)
        return (bits * 1000 + UInt64(rate.rawValue) - 1) / UInt64(rate.rawValue)
    }

    /// The first `limit` pages in the order they are chosen at `now`: overdue pages first (oldest
    /// first), then by class, then by age. A class's overdue pages are a prefix of its list.
    func ranked(now: UInt64, limit: Int = .max) -> [QueuedPage] {
        var overdueEnd = heads
        for c in byClass.indices where c != PageClass.alarm.rawValue {
            guard let maxWait = maxWaitMillis[PageClass(rawValue: c)!] else { continue }
            while overdueEnd[c] < byClass[c].count, now - min(now, byClass[c][overdueEnd[c]].queuedAt) > maxWait { overdueEnd[c] += 1 }
        }
        var out: [QueuedPage] = []
        out.reserveCapacity(min(limit, count))
        var at = heads
        while out.count < limit {
            var best: Int?
            for c in byClass.indices where at[c] < overdueEnd[c] {
                if best == nil || Self.before(byClass[c][at[c]], byClass[best!][at[best!]]) { best = c }
            }
            guard let c = best else { break }
            out.append(byClass[c][at[c]])
            at[c] += 1
        }
        for c in byClass.indices {
            while out.count < limit, at[c] < byClass[c].count {
                out.append(byClass[c][at[c]])
                at[c] += 1
            }
        }
        return out
    }

    /// Takes the pages with these ids out of the queue: they lie among the first `within` of
    /// their class. Kept pages move up behind the head, so the work is O(within), not O(queue).
    private mutating func remove(_ ids: Set<UInt64>, within: Int) {
        for c in byClass.indices {
            let lo = heads[c], hi = min(byClass[c].count, lo + within)
            var write = hi
            for k in stride(from: hi - 1, through: lo, by: -1) where !ids.contains(byClass[c][k].id) {
                write -= 1
                if write != k { byClass[c][write] = byClass[c][k] }
            }
            count -= write - lo
            heads[c] = write
            if heads[c] > 64 && heads[c] * 2 > byClass[c].count {
                byClass[c].removeFirst(heads[c])
                heads[c] = 0
            }
        }
    }

    /// Starts the next transmission at `now` if the channel is free and pages wait; it removes
    /// them from the queue and records their waits.
    public mutating func next(now: UInt64) -> Transmission? {
        guard now >= busyUntil, count > 0 else { return nil }
        var chosen: [QueuedPage] = []
        // The best-ranked 512 are considered (each trial lays the transmission out again, counting
        // codewords only; the chosen layout is encoded once at the end).
        for candidate in ranked(now: now, limit: 512) {
            let trial = Self.layOut(chosen + [candidate])
            let batches = Self.batchCount(trial)
            if batches > maxBatches && !chosen.isEmpty { continue }
            chosen = trial
            // The top-ranked page alone may exceed the limit; it is still sent.
            if batches > maxBatches { break }
        }
        guard !chosen.isEmpty, let layout = try? POCSAG.batches(chosen.map(\.page)) else { return nil }
        remove(Set(chosen.map(\.id)), within: 512)
        let t = Transmission(pages: chosen, batches: layout, start: now, airtimeMillis: airtime(batches: layout.count))
        busyUntil = t.end
        airtimeMillis += t.airtimeMillis
        for p in chosen { waits.append((p.id, p.pageClass, now - min(now, p.queuedAt))) }
        return t
    }

    /// Air order: walks the codewords of the transmission and gives each slot to the best-ranked
    /// waiting page whose RIC's frame it belongs to (`POCSAG.batches` places pages in exactly this
    /// way), so addresses fill their frames — two per frame — instead of waiting a batch.
    static func layOut(_ pages: [QueuedPage]) -> [QueuedPage] {
        var byFrame = [[QueuedPage]](repeating: [], count: 8)
        for p in pages { byFrame[Int(p.page.ric & 7)].append(p) }
        var order: [QueuedPage] = []
        var slot = 0
        while order.count < pages.count {
            let frame = (slot % 16) / 2
            if byFrame[frame].isEmpty {
                slot += 1
            } else {
                let p = byFrame[frame].removeFirst()
                order.append(p)
                slot += 1 + p.messageWords
            }
        }
        return order
    }

    /// How many batches `POCSAG.batches` makes of `pages` in this order (the same placement:
    /// each address in its RIC's frame, message codewords after it, one idle codeword at the end).
    static func batchCount(_ pages: [QueuedPage]) -> Int {
        var slots = 0
        for p in pages {
            let frame = Int(p.page.ric & 7)
            while (slots % 16) / 2 != frame { slots += 1 }
            slots += 1 + p.messageWords
        }
        slots += 1
        return (slots + 15) / 16
    }

    /// Drops the recorded waits (a long-running gateway keeps no history it does not report).
    public mutating func forgetWaits() { waits.removeAll(keepingCapacity: true) }

    /// Busy share of the time from the first page queued to `now`.
    public func utilisation(now: UInt64) -> Double {
        guard let start = firstActivity, now > start else { return 0 }
        return Double(airtimeMillis) / Double(now - start)
    }
}
