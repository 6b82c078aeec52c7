@testable import Alarming
import XCTest

final class AirtimeSchedulerTests: XCTestCase {
    func page(_ id: UInt64, ric: UInt32, _ c: PageClass, at t: UInt64, text: String? = nil) throws -> QueuedPage {
        QueuedPage(id: id, page: try POCSAG.Page(ric: ric, function: 0, content: text.map { .alphanumeric($0) } ?? .tone), pageClass: c, queuedAt: t)
    }

    /// The ranking is a merge of per-class lists; it must equal a sort of the whole queue by the
    /// documented rule, for pages queued out of order and at every time (seeded; the seed is in
    /// every failure message).
    func testTheRankingEqualsASortOfTheWholeQueue() throws {
        let seed = UInt64(0x5EED_0019)
        var x = seed
        func next() -> UInt64 { x = x &* 6364136223846793005 &+ 1442695040888963407; return x >> 33 }
        var s = AirtimeScheduler(rate: .b1200)
        var all: [QueuedPage] = []
        for id in 1...600 as ClosedRange<UInt64> {
            let p = try page(id, ric: UInt32(8 + next() % 4000) * 8 + UInt32(next() % 8), PageClass(rawValue: Int(next() % 4))!,
                             at: next() % 400_000, text: next() % 3 == 0 ? "Info \(id)" : nil)
            s.enqueue(p)
            all.append(p)
        }
        for round in 0..<40 {
            let now = next() % 800_000
            let expected = all.sorted { a, b in
                let oa = now - min(now, a.queuedAt) > (s.maxWaitMillis[a.pageClass] ?? .max) && a.pageClass != .alarm
                let ob = now - min(now, b.queuedAt) > (s.maxWaitMillis[b.pageClass] ?? .max) && b.pageClass != .alarm
                if oa != ob { return oa }
                if !oa && a.pageClass != b.pageClass { return a.pageClass < b.pageClass }
                return a.queuedAt != b.queuedAt ? a.queuedAt < b.queuedAt : a.id < b.id
            }
            XCTAssertEqual(s.ranked(now: now).map(\.id), expected.map(\.id), "seed \(seed), round \(round)")
            XCTAssertEqual(s.ranked(now: now, limit: 7).map(\.id), Array(expected.prefix(7).map(\.id)), "seed \(seed), round \(round)")
            if round % 4 == 0, let t = s.next(now: max(now, s.busyUntil)) {
                let sent = Set(t.pages.map(\.id))
                all.removeAll { sent.contains($0.id) }
                XCTAssertEqual(s.count, all.count, "seed \(seed)")
                XCTAssertEqual(Set(s.queue.map(\.id)), Set(all.map(\.id)), "seed \(seed)")
            }
        }
    }

    func testAlarmsGoBeforeReAlarmsBeforeInformationBeforeTests() throws {
        var s = AirtimeScheduler(rate: .b1200, maxBatches: 1)
        // Long texts in one frame: one page a transmission, so the order shows.
        let text = String(repeating: "x", count: 40)
        try s.enqueue(page(1, ric: 8, .test, at: 0, text: text))
        try s.enqueue(page(2, ric: 16, .information, at: 1, text: text))
        try s.enqueue(page(3, ric: 24, .reAlarm, at: 2, text: text))
        try s.enqueue(page(4, ric: 32, .alarm, at: 3, text: text))
        var order: [UInt64] = []
        var now: UInt64 = 10
        while let t = s.next(now: now) {
            order += t.pages.map(\.id)
            now = t.end
        }
        XCTAssertEqual(order, [4, 3, 2, 1])
    }

    func testTheChannelIsBusyWhileATransmissionIsOnAir() throws {
        var s = AirtimeScheduler(rate: .b1200)
        try s.enqueue(page(1, ric: 1, .alarm, at: 0))
        let t = try XCTUnwrap(s.next(now: 0))
        XCTAssertEqual(t.airtimeMillis, s.airtime(batches: 1))
        XCTAssertEqual(t.airtimeMillis, (576 + 544) * 1000 / 1200 + 1)
        try s.enqueue(page(2, ric: 2, .alarm, at: 1))
        XCTAssertNil(s.next(now: t.end - 1))
        XCTAssertEqual(s.next(now: t.end)?.pages.map(\.id), [2])
    }

    func testFifteenToneAlarmsShareOneBatch() throws {
        var s = AirtimeScheduler(rate: .b1200)
        var id: UInt64 = 0
        // Two pages in each of frames 0–6, one in frame 7: with the closing idle codeword that a
        // pager needs after the last page, exactly one batch.
        for frame: UInt32 in 0..<8 {
            for k: UInt32 in 1...(frame == 7 ? 1 : 2) {
                id += 1
                try s.enqueue(page(id, ric: k * 1000 * 8 + frame, .alarm, at: 0))
            }
        }
        let t = try XCTUnwrap(s.next(now: 0))
        XCTAssertEqual(t.pages.count, 15)
        XCTAssertEqual(t.batches.count, 1, "two addresses per frame fill one batch")
        XCTAssertEqual(t.batches[0].filter { $0 == POCSAG.idleCodeword }.count, 1)
        XCTAssertEqual(t.batches[0].last, POCSAG.idleCodeword)
        // Every page's address sits in its RIC's frame.
        for p in t.pages {
            let frame = Int(p.page.ric & 7)
            let address = POCSAG.addressCodeword(ric: p.page.ric, function: 0)
            XCTAssertTrue([t.batches[0][1 + 2 * frame], t.batches[0][2 + 2 * frame]].contains(address), "\(p.page.ric)")
        }
        XCTAssertTrue(s.queue.isEmpty)
    }

    func testATransmissionStopsAtItsBatchLimitAndTheRestWaits() throws {
        var s = AirtimeScheduler(rate: .b2400, maxBatches: 2)
        for k: UInt64 in 0..<60 { try s.enqueue(page(k, ric: UInt32(k * 13 + 5), .alarm, at: 0)) }
        let t = try XCTUnwrap(s.next(now: 0))
        XCTAssertLessThanOrEqual(t.batches.count, 2)
        XCTAssertGreaterThan(t.pages.count, 16)
        XCTAssertEqual(s.queue.count, 60 - t.pages.count)
    }

    func testNoClassStarvesUnderSustainedAlarms() throws {
        var s = AirtimeScheduler(rate: .b512, maxBatches: 1)
        let text = String(repeating: "y", count: 30)
        try s.enqueue(page(0, ric: 3, .test, at: 0, text: text))
        try s.enqueue(page(1, ric: 4, .information, at: 0, text: text))
        var now: UInt64 = 0, id: UInt64 = 10
        var sentAt: [UInt64: UInt64] = [:]
        // An alarm with a long text arrives every second for ten minutes: the channel is full.
        while now < 600_000 {
            if now % 1000 < 50 {
                id += 1
                try s.enqueue(page(id, ric: UInt32(id % 2_000_000), .alarm, at: now, text: text))
            }
            if let t = s.next(now: now) { for p in t.pages { sentAt[p.id] = t.start } }
            now += 50
        }
        let information = try XCTUnwrap(sentAt[1], "the information page starved")
        let test = try XCTUnwrap(sentAt[0], "the test page starved")
        XCTAssertLessThanOrEqual(information, 60_000 + 5_000)
        XCTAssertLessThanOrEqual(test, 300_000 + 5_000)
        XCTAssertGreaterThan(s.utilisation(now: now), 0.9)
    }

    func testWaitsAreReportedPerPage() throws {
        var s = AirtimeScheduler(rate: .b1200)
        try s.enqueue(page(1, ric: 9, .alarm, at: 100))
        _ = s.next(now: 250)
        XCTAssertEqual(s.waits.map(\.waitMillis), [150])
        XCTAssertEqual(s.waits.map(\.pageClass), [.alarm])
    }
}

/// The scheduler's packed transmissions, decoded by multimon-ng: every page of a shared
/// preamble arrives, with its RIC, function and text.
final class PackedTransmissionTests: XCTestCase {
    func testMultimonDecodesEveryPageOfPackedTransmissions() throws {
        var rng = SystemRandomNumberGenerator()
        for rate in POCSAG.BitRate.allCases {
            var s = AirtimeScheduler(rate: rate, maxBatches: 6)
            for k: UInt64 in 0..<40 {
                let ric = UInt32.random(in: 0...POCSAG.maxRIC, using: &rng)
                let function = UInt8.random(in: 0...3, using: &rng)
                let content: POCSAG.Content = k % 3 == 0 ? .alphanumeric("Einsatz \(k): F2 Küchenbrand, Straße \(ric % 100)") : .tone
                s.enqueue(QueuedPage(id: k, page: try POCSAG.Page(ric: ric, function: function, content: content),
                                     pageClass: k % 5 == 0 ? .information : .alarm, queuedAt: 0))
            }
            var sent: [POCSAG.Page] = []
            var pcm: [UInt8] = []
            var now: UInt64 = 0
            var sizes: [Int] = []
            while let t = s.next(now: now) {
                sizes.append(t.pages.count)
                sent += t.pages.map(\.page)
                pcm += try POCSAG.transmission(t.pages.map(\.page), rate: rate) + [UInt8](repeating: 0, count: 2 * 2205)
                now = t.end
            }
            XCTAssertEqual(sent.count, 40)
            // Packing: several pages share a preamble; only the last transmission may carry the
            // one page left over (the RICs and so the pages' lengths are random).
            XCTAssertTrue(sizes.dropLast().allSatisfy { $0 > 1 }, "packing: several pages per transmission: \(sizes)")
            let decoded = try POCSAGTests.decode(pcm, rate: rate, mode: "alpha")
            let expected = sent.map { p -> POCSAGTests.Decoded in
                if case .alphanumeric(let text) = p.content { return .init(ric: p.ric, function: p.function, text: text) }
                return .init(ric: p.ric, function: p.function, text: nil)
            }
            XCTAssertEqual(decoded, expected, "\(rate.rawValue) bit/s")
        }
    }

    func testBatchCountMatchesTheEncodedLayout() throws {
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<300 {
            var pages: [QueuedPage] = []
            for k in 0..<Int.random(in: 1...40, using: &rng) {
                let content: POCSAG.Content = switch Int.random(in: 0...2, using: &rng) {
                case 0: .tone
                case 1: .numeric(String(repeating: "7", count: Int.random(in: 1...40, using: &rng)))
                default: .alphanumeric(String(repeating: "Ab", count: Int.random(in: 1...60, using: &rng)))
                }
                pages.append(QueuedPage(id: UInt64(k), page: try POCSAG.Page(ric: UInt32.random(in: 0...POCSAG.maxRIC, using: &rng),
                                                                            function: 0, content: content), pageClass: .alarm, queuedAt: 0))
            }
            let laidOut = AirtimeScheduler.layOut(pages)
            XCTAssertEqual(AirtimeScheduler.batchCount(laidOut), try POCSAG.batches(laidOut.map(\.page)).count, "trial \(trial)")
            XCTAssertEqual(AirtimeScheduler.batchCount(pages), try POCSAG.batches(pages.map(\.page)).count, "trial \(trial)")
        }
    }
}
