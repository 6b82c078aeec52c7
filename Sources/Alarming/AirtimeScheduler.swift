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
    private(set) public var queue: [QueuedPage] = []
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
        queue.append(page)
    }

    /// Airtime of `batches` after the preamble, rounded up to whole ms.
    public func airtime(batches: Int) -> UInt64 {
        let bits = UInt64(POCSAG.preambleBits + batches * 17 * 32)
        return (bits * 1000 + UInt64(rate.rawValue) - 1) / UInt64(rate.rawValue)
    }

    /// The order pages are chosen in at `now`: overdue pages first (oldest first), then by class,
    /// then by age.
    func ranked(now: UInt64) -> [QueuedPage] {
        queue.sorted { a, b in
            let overdueA = now - min(now, a.queuedAt) > (maxWaitMillis[a.pageClass] ?? .max) && a.pageClass != .alarm
            let overdueB = now - min(now, b.queuedAt) > (maxWaitMillis[b.pageClass] ?? .max) && b.pageClass != .alarm
            if overdueA != overdueB { return overdueA }
            if overdueA { return a.queuedAt != b.queuedAt ? a.queuedAt < b.queuedAt : a.id < b.id }
            if a.pageClass != b.pageClass { return a.pageClass < b.pageClass }
            return a.queuedAt != b.queuedAt ? a.queuedAt < b.queuedAt : a.id < b.id
        }
    }

    /// Starts the next transmission at `now` if the channel is free and pages wait; it removes
    /// them from the queue and records their waits.
    public mutating func next(now: UInt64) -> Transmission? {
        guard now >= busyUntil, !queue.isEmpty else { return nil }
        var chosen: [QueuedPage] = []
        // The best-ranked 512 are considered (each trial lays the transmission out again, counting
        // codewords only; the chosen layout is encoded once at the end).
        for candidate in ranked(now: now).prefix(512) {
            let trial = Self.layOut(chosen + [candidate])
            let batches = Self.batchCount(trial)
            if batches > maxBatches && !chosen.isEmpty { continue }
            chosen = trial
            // The top-ranked page alone may exceed the limit; it is still sent.
            if batches > maxBatches { break }
        }
        guard !chosen.isEmpty, let layout = try? POCSAG.batches(chosen.map(\.page)) else { return nil }
        let ids = Set(chosen.map(\.id))
        queue.removeAll { ids.contains($0.id) }
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
