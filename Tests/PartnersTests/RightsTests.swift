import XCTest
@testable import Partners

/// The rights document: allow and deny per organisation, `{org}`, coverage of subscriptions.
final class RightsTests: XCTestCase {
    let thw = PartnerRights.Organisation(
        id: "THW", certificateO: "THW Ortsverband Frankfurt",
        publish: .init(allow: ["florian/partners/{org}/#", "florian/requests/{org}/+/answer"]),
        subscribe: .init(allow: ["florian/alerts/#", "florian/requests/{org}/#", "florian/partners/#"], deny: ["florian/partners/POLIZEI/#"]))

    func testPublishAllowAndDeny() {
        XCTAssertTrue(PartnerRights.mayPublish(thw, topic: "florian/partners/THW/lage"))
        XCTAssertTrue(PartnerRights.mayPublish(thw, topic: "florian/requests/THW/R-7/answer"))
        XCTAssertFalse(PartnerRights.mayPublish(thw, topic: "florian/partners/DRK/lage"))
        XCTAssertFalse(PartnerRights.mayPublish(thw, topic: "florian/alerts/E-000001"))
        XCTAssertFalse(PartnerRights.mayPublish(thw, topic: "florian/requests/THW/R-7"))
    }

    func testSubscriptionsMustBeCoveredAndDeniesHoldPerMessage() {
        XCTAssertTrue(PartnerRights.maySubscribe(thw, filter: "florian/alerts/#"))
        XCTAssertTrue(PartnerRights.maySubscribe(thw, filter: "florian/alerts/+"))
        XCTAssertTrue(PartnerRights.maySubscribe(thw, filter: "florian/alerts"))
        XCTAssertTrue(PartnerRights.maySubscribe(thw, filter: "florian/partners/+/lage"))
        XCTAssertFalse(PartnerRights.maySubscribe(thw, filter: "florian/#"))
        XCTAssertFalse(PartnerRights.maySubscribe(thw, filter: "#"))
        XCTAssertFalse(PartnerRights.maySubscribe(thw, filter: "florian/+/THW/#"))
        XCTAssertFalse(PartnerRights.maySubscribe(thw, filter: "florian/requests/DRK/#"))
        XCTAssertTrue(PartnerRights.mayReceive(thw, topic: "florian/partners/DRK/lage"))
        XCTAssertFalse(PartnerRights.mayReceive(thw, topic: "florian/partners/POLIZEI/lage"))
    }

    func testCoverage() {
        let yes = [("a/#", "a"), ("a/#", "a/b/#"), ("a/+", "a/b"), ("+/+", "a/+"), ("#", "a/#"), ("$SYS/#", "$SYS/x"), ("a/b", "a/b")]
        let no = [("a/+", "a/#"), ("a/b", "a/+"), ("+", "$SYS"), ("#", "$SYS/#"), ("a/+", "a"), ("a", "a/b"), ("a/+/c", "a/+/#")]
        for (a, f) in yes { XCTAssertTrue(PartnerRights.covers(a, f), "\(a) covers \(f)") }
        for (a, f) in no { XCTAssertFalse(PartnerRights.covers(a, f), "\(a) does not cover \(f)") }
        // Coverage agrees with matching on concrete topics.
        let topics = ["a", "a/b", "a/b/c", "a//c", "b", "$SYS/x", "a/x/c"]
        for (a, f) in yes where !f.contains("+") && !f.contains("#") {
            for t in topics where MQTTPacket.matches(filter: f, topic: t) { XCTAssertTrue(MQTTPacket.matches(filter: a, topic: t)) }
        }
    }

    func testTheDocumentIsValidatedAsAWhole() {
        XCTAssertNoThrow(try PartnerRights(organisations: [thw]).validate())
        var bad = thw
        bad.id = "THW OV"
        XCTAssertThrowsError(try PartnerRights(organisations: [bad]).validate())
        XCTAssertThrowsError(try PartnerRights(organisations: [thw, thw]).validate())
        bad = thw
        bad.subscribe.allow.append("florian/#/x")
        XCTAssertThrowsError(try PartnerRights(organisations: [bad]).validate()) { XCTAssertTrue("\($0)".contains("THW:"), "\($0)") }
        bad = thw
        bad.maxMessageBytes = 0
        XCTAssertThrowsError(try PartnerRights(organisations: [bad]).validate())
    }
}
