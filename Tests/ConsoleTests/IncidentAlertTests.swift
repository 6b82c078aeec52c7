import Alarming
import Foundation
import Partners
import XCTest
@testable import Console

/// The console's CAP alerts (`warnung`/`cap`): valid CAP 1.2 by our own validator, chained
/// Alert → Update → Cancel by references, Probealarme as Test, times in Frankfurt's zone.
final class IncidentAlertTests: XCTestCase {
    func incident(test: Bool = false, position: String? = nil) throws -> Incident {
        let json = """
        {"id":"E-000042","keyword":"F3","area":"Sachsenhausen-Nord",\(position.map { "\"position\":\($0)," } ?? "")
         "address":"Schweizer Straße 12 & Hof <hinten>","remarks":"","test":\(test),"openedAt":1764250000000,
         "openedBy":"operator:leitstelle-1","orders":[],"escalations":[]}
        """
        return try JSONDecoder().decode(Incident.self, from: Data(json.utf8))
    }

    let centre = Position(latE6: 50_104_000, lonE6: 8_683_000)
    // 2026-11-27 12:00:00 UTC: winter, CET (+01:00).
    let winter: UInt64 = 1_795_780_800_000

    func testAFirstAlertIsAValidCAP12AlertInGermanWithTheIncidentsPlace() throws {
        let a = try IncidentAlert.make(incident: try incident(), event: "Großbrand", centre: centre,
                                       kind: .alert(severity: .severe, description: "Starke Rauchentwicklung.", instruction: "Fenster und Türen schließen."),
                                       previous: nil, at: winter)
        let xml = a.xml()
        XCTAssertEqual(CAP.validate(Array(xml.utf8)).summary, "valid", xml)
        let back = try CAP.parse(Array(xml.utf8))
        XCTAssertEqual(back, a)
        XCTAssertEqual(a.msgType, .alert)
        XCTAssertEqual(a.status, .actual)
        XCTAssertEqual(a.scope, .restricted)
        XCTAssertEqual(a.sent.description, "2026-11-27T13:00:00+01:00")
        XCTAssertEqual(a.incidents, ["E-000042"])
        let info = try XCTUnwrap(a.infos.first)
        XCTAssertEqual(info.language, "de-DE")
        XCTAssertEqual(info.categories, [.fire])
        XCTAssertEqual(info.event, "Großbrand")
        XCTAssertEqual(info.severity, .severe)
        XCTAssertEqual(info.instruction, "Fenster und Türen schließen.")
        XCTAssertEqual(info.areas.first?.areaDesc, "Schweizer Straße 12 & Hof <hinten>, Sachsenhausen-Nord, Frankfurt am Main")
        XCTAssertEqual(info.areas.first?.circles, [CAPCircle(center: CAPPoint(latitude: 50.104, longitude: 8.683), radius: 1.5)])
        XCTAssertTrue(xml.contains("Schweizer Straße 12 &amp; Hof &lt;hinten&gt;"))
    }

    func testAReportedPositionIsTheCentreAndSummerTimeIsCEST() throws {
        let a = try IncidentAlert.make(incident: try incident(position: #"{"latE6":50110400,"lonE6":8682100}"#), event: nil, centre: centre,
                                       kind: .alert(severity: .minor, description: "x", instruction: nil), previous: nil,
                                       at: 1_783_000_800_000) // 2026-07-02 14:00:00 UTC
        XCTAssertEqual(a.sent.description, "2026-07-02T16:00:00+02:00")
        XCTAssertEqual(a.infos.first?.areas.first?.circles.first?.radius, 0.5)
        XCTAssertEqual(a.infos.first?.areas.first?.circles.first?.center.latitude, 50.1104)
        XCTAssertEqual(a.infos.first?.event, "F3", "without the AAO's description the keyword is the event")
    }

    func testLaterAlertsAreUpdatesAndACancelReferencingEveryEarlierOne() throws {
        let i = try incident()
        let first = try IncidentAlert.make(incident: i, event: "Großbrand", centre: centre,
                                           kind: .alert(severity: .severe, description: "a", instruction: nil), previous: nil, at: winter)
        let second = try IncidentAlert.make(incident: i, event: "Großbrand", centre: centre,
                                            kind: .alert(severity: .extreme, description: "b", instruction: nil), previous: first, at: winter + 60_000)
        XCTAssertEqual(second.msgType, .update)
        XCTAssertNotEqual(second.identifier, first.identifier)
        XCTAssertEqual(second.references, [CAPReference(sender: first.sender, identifier: first.identifier, sent: first.sent)])
        let cancel = try IncidentAlert.make(incident: i, event: nil, centre: nil, kind: .cancel(reason: "Feuer aus"), previous: second, at: winter + 120_000)
        XCTAssertEqual(cancel.msgType, .cancel)
        XCTAssertEqual(cancel.references.map(\.identifier), [first.identifier, second.identifier])
        XCTAssertEqual(cancel.note, "Feuer aus")
        XCTAssertTrue(cancel.infos.isEmpty)
        XCTAssertEqual(CAP.validate(Array(cancel.xml().utf8)).summary, "valid")
        XCTAssertThrowsError(try IncidentAlert.make(incident: i, event: nil, centre: nil, kind: .cancel(reason: nil), previous: nil, at: winter),
                             "nothing to cancel")
        XCTAssertThrowsError(try IncidentAlert.make(incident: i, event: nil, centre: nil,
                                                    kind: .alert(severity: .minor, description: "c", instruction: nil), previous: cancel, at: winter),
                             "after a Cancel the incident's alerts are over")
    }

    func testAProbealarmsAlertIsATest() throws {
        let a = try IncidentAlert.make(incident: try incident(test: true), event: nil, centre: nil,
                                       kind: .alert(severity: .minor, description: "Probealarm", instruction: nil), previous: nil, at: winter)
        XCTAssertEqual(a.status, .test)
        XCTAssertEqual(CAP.validate(Array(a.xml().utf8)).summary, "valid")
    }

    func testKeywordsMapToCAPCategories() {
        XCTAssertEqual(IncidentAlert.category(keyword: "F-BMA"), .fire)
        XCTAssertEqual(IncidentAlert.category(keyword: "TH-VU"), .rescue)
        XCTAssertEqual(IncidentAlert.category(keyword: "WASS"), .rescue)
        XCTAssertEqual(IncidentAlert.category(keyword: "ABC1"), .cbrne)
        XCTAssertEqual(IncidentAlert.category(keyword: "RD1"), .health)
        XCTAssertEqual(IncidentAlert.category(keyword: "XY"), .other)
    }

    func testTheCommandLine() throws {
        XCTAssertEqual(try ConsoleCommand.parse("warnung E-000042 schwer \"Rauch\" \"Fenster schließen\""),
                       .cap(incident: "E-000042", kind: .alert(severity: .severe, description: "Rauch", instruction: "Fenster schließen")))
        XCTAssertEqual(try ConsoleCommand.parse("cap E-000042 Extreme \"Smoke\""),
                       .cap(incident: "E-000042", kind: .alert(severity: .extreme, description: "Smoke", instruction: nil)))
        XCTAssertEqual(try ConsoleCommand.parse("warnung E-000042 aufheben"), .cap(incident: "E-000042", kind: .cancel(reason: nil)))
        XCTAssertEqual(try ConsoleCommand.parse("cap E-000042 cancel \"out\""), .cap(incident: "E-000042", kind: .cancel(reason: "out")))
        XCTAssertEqual(try ConsoleCommand.parse("lage E-000042 \"Brand unter Kontrolle\""), .situation(incident: "E-000042", text: "Brand unter Kontrolle"))
        XCTAssertEqual(try ConsoleCommand.parse("sitrep E-000042 \"under control\""), .situation(incident: "E-000042", text: "under control"))
        func error(_ line: String) -> ConsoleInputError? {
            do { _ = try ConsoleCommand.parse(line); return nil } catch { return error }
        }
        XCTAssertEqual(error("warnung E-000042 heftig \"x\""), .badSeverity("heftig"))
        XCTAssertEqual(error("warnung E-000042 schwer"), .missing(.cap, what: "incident severity text"))
        XCTAssertEqual(error("warnung E-000042 schwer \"a\" \"b\" c"), .unexpected(.cap, word: "c"))
        XCTAssertTrue(ConsoleCommand.Verb.cap.needsConfirmation)
        XCTAssertTrue(Language.de.text(.input(.badSeverity("heftig"))).contains("keine Schwere"))
        XCTAssertEqual(Language.de.text(.cancelled(.cap)), "Abgebrochen. Nichts wurde gesendet.")
        XCTAssertEqual(Language.en.text(.capSummary(incident: "E-1", msgType: "Update", severity: "Severe")),
                       "E-1: send the partner organisations a CAP Update (severity Severe)")
        XCTAssertEqual(Language.de.text(.capSummary(incident: "E-1", msgType: "Update", severity: "Severe")),
                       "E-1: den Partnerorganisationen eine CAP-Aktualisierung senden (Schwere schwer)")
    }
}
