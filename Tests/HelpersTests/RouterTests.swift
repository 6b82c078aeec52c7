import Helpers
import XCTest

/// The router's rules, each tried against a small city built by hand.
final class RouterTests: XCTestCase {
    let t0: Int64 = 1_784_073_600_000
    let place = GridPoint(x: 10_000, y: 10_000)

    func volunteer(_ n: Int, at p: GridPoint, skill: String = "sandsack", rest: RestRule = RestRule()) -> Volunteer {
        Volunteer(id: try! VolunteerID("V-\(n)"), skills: [SkillCredential(skill: skill, verifiedBy: "DRK", validUntil: t0 + 86_400_000)],
                  home: HomeCell(containing: p), availability: [TimeWindow(from: t0 - 3_600_000, to: t0 + 86_400_000)], rest: rest, platform: "app")
    }

    /// 40 volunteers on a line east of the place, 250 m apart.
    func city(_ config: RouterConfig = .waves) -> HelperRouter {
        var r = HelperRouter(config: config)
        for i in 0..<40 { r.register(volunteer(i, at: GridPoint(x: 10_000 + Int64(i) * 250, y: 10_000))) }
        return r
    }

    func need(_ count: Int, skill: String = "sandsack") -> NewRequest {
        NewRequest(skill: skill, count: count, place: place, area: "Sachsenhausen-Nord", window: TimeWindow(from: t0, to: t0 + 3 * 3_600_000),
                   priority: 1, safetyNotes: "Strömung", briefing: "Sammelpunkt ELW")
    }

    func asks(_ out: [RouterOutput]) -> [(VolunteerID, RequestID)] {
        out.compactMap { if case .ask(_, let v, let r, _, _, _, _) = $0 { return (v, r) } else { return nil } }
    }

    func testAWaveAsksRemainingOverTheEstimatedAcceptanceNearestFirst() throws {
        var r = city()
        var out: [RouterOutput] = []
        _ = try r.open(need(3), by: "operator:EL", at: t0, outputs: &out)
        // Prior acceptance 0.3: ⌈3 / 0.3⌉ = 10 asks, the 10 nearest (within 2 km: 9, widened to 4 km).
        let a = asks(out)
        XCTAssertEqual(a.count, 10)
        XCTAssertEqual(a.map(\.0.raw), (0..<10).map { "V-\($0)" })
    }

    func testTheVolunteerSeesThePlaceOnlyAfterAccepting() throws {
        var r = city()
        var out: [RouterOutput] = []
        let id = try r.open(need(1), by: "operator:EL", at: t0, outputs: &out)
        for o in out {
            if case .ask(_, _, _, let skill, let area, let minutes, _) = o {
                XCTAssertEqual(skill, "sandsack"); XCTAssertEqual(area, "Sachsenhausen-Nord"); XCTAssertGreaterThan(minutes, 0)
            }
            if case .confirm = o { XCTFail("no place before accepting") }
        }
        let first = asks(out)[0].0
        out = []
        try r.answer(first, request: id, accept: true, name: "Erika M.", at: t0 + 20_000, outputs: &out)
        let confirm = out.compactMap { o -> GridPoint? in if case .confirm(_, let v, _, let p, let b, let s) = o, v == first { XCTAssertEqual(b, "Sammelpunkt ELW"); XCTAssertEqual(s, "Strömung"); return p } else { return nil } }
        XCTAssertEqual(confirm, [place])
        // Filled: every other open ask is withdrawn at once.
        XCTAssertEqual(out.filter { if case .withdraw = $0 { return true } else { return false } }.count, 3, "⌈1 / 0.3⌉ = 4 asked, 3 withdrawn")
        XCTAssertEqual(r.requests[id]!.status, .filled)
        XCTAssertTrue(r.requests[id]!.pending.isEmpty)
    }

    func testTheCommanderSeesNamesOnlyOfAcceptedHelpersAndOnlyOnTheirRequest() throws {
        var r = city()
        var out: [RouterOutput] = []
        let id = try r.open(need(2), by: "operator:EL Süd", at: t0, outputs: &out)
        let asked = asks(out).map(\.0)
        try r.answer(asked[0], request: id, accept: true, name: "Erika M.", at: t0 + 10_000, outputs: &out)
        try r.answer(asked[1], request: id, accept: false, name: nil, at: t0 + 12_000, outputs: &out)
        XCTAssertEqual(r.commanderView(id, as: "operator:EL Süd")!.names, ["Erika M."])
        XCTAssertEqual(r.commanderView(id, as: "operator:EL Nord")!.names, [], "another commander sees counts only")
        XCTAssertEqual(r.commanderView(id, as: "operator:EL Nord")!.filled, 1)
        // Progress events for the feed carry counts, never a person.
        for o in out { if case .progress(_, let e, _, _, _) = o { XCTAssertFalse(e.contains("V-") || e.contains("Erika")) } }
    }

    func testDeclinesAreNotStoredPerPerson() throws {
        var r = city()
        var out: [RouterOutput] = []
        let id = try r.open(need(2), by: "operator:EL", at: t0, outputs: &out)
        let asked = asks(out).map(\.0)
        try r.answer(asked[0], request: id, accept: false, name: nil, at: t0 + 5_000, outputs: &out)
        let req = r.requests[id]!
        XCTAssertFalse(req.pending.contains { $0.volunteer == asked[0] })
        XCTAssertTrue(req.assigned.isEmpty)
        // What remains of the decline: the cohort's count, and "asked" (not "declined") until the request closes.
        XCTAssertEqual(r.cohorts.values.map(\.asks).reduce(0, +), 1)
        XCTAssertTrue(req.asked.contains(asked[0]))
        try r.cancel(id, at: t0 + 6_000, outputs: &out)
        XCTAssertEqual(r.requests[id]!.asked, [], "closed: who was asked is forgotten")
        let mirror = String(describing: r.load[asked[0]]!)
        XCTAssertFalse(mirror.contains(id.raw), "the volunteer's own record keeps nothing of the decline: \(mirror)")
    }

    func testTimeoutStartsTheNextWaveWithAWiderRadiusAndThePlatformsAfterFourWaves() throws {
        var r = city()
        var out: [RouterOutput] = []
        let id = try r.open(need(30), by: "operator:EL", at: t0, outputs: &out)
        XCTAssertEqual(asks(out).count, 40, "⌈30 / 0.3⌉ = 100 wanted, 40 exist")
        var t = t0
        var platform = false
        for _ in 0..<5 {
            t += RouterConfig.waves.waveTimeoutMs
            out = []
            r.advance(to: t, outputs: &out)
            if out.contains(where: { if case .platformRequest(_, _, 30, _, _) = $0 { return true } else { return false } }) { platform = true }
        }
        XCTAssertEqual(r.requests[id]!.radius, RouterConfig.waves.maxRadius)
        XCTAssertTrue(platform, "after four waves the external platforms are asked")
        try r.platformCommit(id, count: 30, at: t + 1, outputs: &out)
        XCTAssertEqual(r.requests[id]!.status, .filled)
    }

    func testRestRulesKeepATiredVolunteerFromBeingAsked() throws {
        var r = HelperRouter(config: .waves)
        r.register(volunteer(1, at: place, rest: RestRule(maxMinutesPerDay: 300, minRestMinutes: 240)))
        r.register(volunteer(2, at: GridPoint(x: 10_500, y: 10_000)))
        var out: [RouterOutput] = []
        let a = try r.open(need(1), by: "operator:EL", at: t0, outputs: &out)
        XCTAssertEqual(asks(out).first?.0.raw, "V-1")
        try r.answer(try VolunteerID("V-1"), request: a, accept: true, name: nil, at: t0 + 1000, outputs: &out)
        try r.checkIn(try VolunteerID("V-1"), request: a, at: t0 + 600_000, outputs: &out)
        try r.checkOut(try VolunteerID("V-1"), request: a, at: t0 + 600_000 + 200 * 60_000, outputs: &out)
        XCTAssertEqual(r.requests[a]!.assigned[0].minutesOnSite, 200)
        out = []
        // An hour later: V-1 has rested 60 of 240 minutes and worked 200 of 300 — not asked.
        let later = t0 + 600_000 + 260 * 60_000
        var again = need(1)
        again.window = TimeWindow(from: later, to: later + 3 * 3_600_000)
        _ = try r.open(again, by: "operator:EL", at: later, outputs: &out)
        XCTAssertEqual(asks(out).map(\.0.raw), ["V-2"])
        XCTAssertEqual(r.restViolations, 0)
    }

    func testDeletionRemovesThePersonEverywhereButTheAuditPseudonym() throws {
        var r = city()
        var out: [RouterOutput] = []
        let id = try r.open(need(2), by: "operator:EL", at: t0, outputs: &out)
        let asked = asks(out).map(\.0)
        try r.answer(asked[0], request: id, accept: true, name: "Erika M.", at: t0 + 1000, outputs: &out)
        out = []
        try r.delete(asked[0], outputs: &out)
        try r.delete(asked[1], outputs: &out)
        XCTAssertNil(r.volunteers[asked[0]]); XCTAssertNil(r.load[asked[0]])
        XCTAssertEqual(r.requests[id]!.assigned.map(\.name), [nil])
        XCTAssertEqual(r.requests[id]!.assigned.map(\.volunteer), [asked[0]], "the pseudonym stays for the audit")
        XCTAssertFalse(r.requests[id]!.asked.contains(asked[1]))
        XCTAssertTrue(out.contains(.withdraw(platform: "app", volunteer: asked[1], request: id)))
        XCTAssertThrowsError(try r.delete(asked[0], outputs: &out))
    }

    func testKatrettersRuleAsksThreeNearestThenTheNextThree() throws {
        var r = city(.nearestThree)
        var out: [RouterOutput] = []
        let id = try r.open(need(2), by: "operator:EL", at: t0, outputs: &out)
        XCTAssertEqual(asks(out).map(\.0.raw), ["V-0", "V-1", "V-2"])
        out = []
        r.advance(to: t0 + 30_000, outputs: &out)
        XCTAssertEqual(asks(out).map(\.0.raw), ["V-3", "V-4", "V-5"])
        // A late acceptance is refused under this rule.
        out = []
        try r.answer(try VolunteerID("V-0"), request: id, accept: true, name: nil, at: t0 + 31_000, outputs: &out)
        XCTAssertEqual(out, [.notNeeded(platform: "app", volunteer: try VolunteerID("V-0"), request: id)])
    }

    func testBadRequestsAreRefusedWithTheReason() {
        var r = city()
        var out: [RouterOutput] = []
        XCTAssertThrowsError(try r.open(need(0), by: "operator:EL", at: t0, outputs: &out)) { XCTAssertEqual($0 as? HelpersError, .invalid("count must be 1…1000")) }
        var late = need(1)
        late.window = TimeWindow(from: t0 - 7_200_000, to: t0 - 3_600_000)
        XCTAssertThrowsError(try r.open(late, by: "operator:EL", at: t0, outputs: &out))
        XCTAssertThrowsError(try VolunteerID("Erika Mustermann"), "no names as ids")
        XCTAssertThrowsError(try r.cancel(RequestID("H-999999"), at: t0, outputs: &out))
    }

    func testAWaveOverAHundredThousandVolunteersIsFound() throws {
        // Correctness at scale (speed is `florian bench helpers`): the index returns the same
        // nearest candidates as a scan over everyone.
        var r = HelperRouter(config: .waves)
        var g = UInt64(7)
        func next() -> Int64 { g = g &* 6364136223846793005 &+ 1442695040888963407; return Int64(g >> 33) }
        var people: [Volunteer] = []
        for i in 0..<100_000 { people.append(volunteer(i, at: GridPoint(x: next() % 24_000, y: next() % 18_000))) }
        for v in people { r.register(v) }
        var out: [RouterOutput] = []
        _ = try r.open(need(6), by: "operator:EL", at: t0, outputs: &out)
        let got = asks(out).map(\.0)
        let scan = people.sorted { a, b in
            let da = a.home.centre.distance(to: place), db = b.home.centre.distance(to: place)
            return da != db ? da < db : a.id < b.id
        }.prefix(20).map(\.id)
        XCTAssertEqual(got, Array(scan))
    }
}
