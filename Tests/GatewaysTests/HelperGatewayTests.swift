import Foundation
@testable import Gateways
import Helpers
import XCTest

/// The app link's messages become bus commands for the gateway's own platform only, and every
/// malformed or foreign one is refused with a reason before anything reaches the cluster.
final class HelperGatewayTests: XCTestCase {
    func message(_ json: String) throws(HelpersError) -> (type: String, payload: [UInt8]) {
        let m = try HelpersJSON.decode(HelperGateway.AppMessage.self, from: Array(json.utf8), what: "app message")
        return try HelperGateway.command(for: m, platform: "helfernetz")
    }

    func testAppMessagesBecomeCommandsOfTheGatewaysPlatform() throws {
        let reg = try message(#"{"message": "Register", "volunteer": "V-1", "profile": {"skills": [{"skill": "sandsack", "verifiedBy": "DRK", "validUntil": 4000000000000}], "home": {"col": 8000, "row": 6000}, "availability": [{"from": 0, "to": 4000000000000}], "languages": ["de"], "rest": {"maxMinutesPerDay": 600, "minRestMinutes": 480}}}"#)
        XCTAssertEqual(reg.type, "helpers.volunteer.register")
        let v = try HelpersJSON.decode(Volunteer.self, from: reg.payload, what: "v")
        XCTAssertEqual(v.platform, "helfernetz", "the platform is the gateway's, whatever the app says")
        let yes = try message(#"{"message": "Answer", "volunteer": "V-1", "request": "H-000001", "accept": true, "name": "Anna"}"#)
        XCTAssertEqual(yes.type, "helpers.answer")
        XCTAssertTrue(String(decoding: yes.payload, as: UTF8.self).contains("Anna"))
        let no = try message(#"{"message": "Answer", "volunteer": "V-1", "request": "H-000001", "accept": false, "name": "Anna"}"#)
        XCTAssertFalse(String(decoding: no.payload, as: UTF8.self).contains("Anna"), "a decline carries no name")
        XCTAssertEqual(try message(#"{"message": "CheckOut", "volunteer": "V-1", "request": "H-000001"}"#).type, "helpers.checkout")
        XCTAssertEqual(try message(#"{"message": "Delete", "volunteer": "V-1"}"#).type, "helpers.volunteer.delete")
    }

    func testHostileAppMessagesAreRefused() {
        for bad in [#"{"message": "Answer", "volunteer": "V-1"}"#, #"{"message": "Register", "volunteer": "V-1"}"#,
                    #"{"message": "Answer", "volunteer": "Anna Müller", "request": "H-1", "accept": true}"#,
                    #"{"message": "Shutdown", "volunteer": "V-1"}"#, #"{"message": "CheckIn", "volunteer": "V-1", "request": "H-1", "extra": 1}"#,
                    #"{"message": "Register", "volunteer": "V-1", "profile": {"skills": [], "home": {"col": 1, "row": 1}, "availability": [], "languages": [], "rest": {"maxMinutesPerDay": 600, "minRestMinutes": 480}}}"#,
                    "not json", #"{"volunteer": "V-1"}"#] {
            XCTAssertThrowsError(try message(bad), bad)
        }
    }
}
