import XCTest
@testable import Console

final class ConsoleCommandTests: XCTestCase {
    func testCommandWordsWorkInEnglishAndGerman() throws {
        XCTAssertEqual(try ConsoleCommand.parse("alarm E-000001"), .alarm(incident: "E-000001", units: []))
        XCTAssertEqual(try ConsoleCommand.parse("alarmieren E-000001 1-HLF-1 1-DLK-1"), .alarm(incident: "E-000001", units: ["1-HLF-1", "1-DLK-1"]))
        XCTAssertEqual(try ConsoleCommand.parse("einsatz f3 Sachsenhausen-Nord \"Schweizer Straße 12\""),
                       .incident(keyword: "F3", place: .area("Sachsenhausen-Nord"), address: "Schweizer Straße 12", remarks: nil, test: false))
        XCTAssertEqual(try ConsoleCommand.parse("incident TH1 @50.1104,8.6821 \"Römerberg 1\" \"Person eingeklemmt\""),
                       .incident(keyword: "TH1", place: .position("50.1104,8.6821"), address: "Römerberg 1", remarks: "Person eingeklemmt", test: false))
        XCTAssertEqual(try ConsoleCommand.parse("PROBEALARM F1 Nied \"Wache\""),
                       .incident(keyword: "F1", place: .area("Nied"), address: "Wache", remarks: nil, test: true))
        XCTAssertEqual(try ConsoleCommand.parse("einsätze"), .incidents)
        XCTAssertEqual(try ConsoleCommand.parse("  quittieren   E-000001/1 1-HLF-1 "), .acknowledge(order: "E-000001/1", unit: "1-HLF-1"))
        XCTAssertEqual(try ConsoleCommand.parse("status 1-HLF-1 3"), .unitStatus(unit: "1-HLF-1", code: 3))
        XCTAssertEqual(try ConsoleCommand.parse("nachalarmieren E-000001/1 1-HLF-1"), .reAlarm(order: "E-000001/1", unit: "1-HLF-1", replacement: nil))
        XCTAssertEqual(try ConsoleCommand.parse("hilfe alarm"), .help(topic: .alarm))
        XCTAssertEqual(try ConsoleCommand.parse("incident F1 Nied \"say \\\"hi\\\"\""),
                       .incident(keyword: "F1", place: .area("Nied"), address: "say \"hi\"", remarks: nil, test: false))
    }

    func testHelperCommandsInBothLanguages() throws {
        XCTAssertEqual(try ConsoleCommand.parse("helfer anfordern E-000001 Sandsack 12 90 \"Mainkai\" \"Strömung\""),
                       .helpers(.request(incident: "E-000001", skill: "sandsack", count: 12, minutes: 90, briefing: "Mainkai", safetyNotes: "Strömung")))
        XCTAssertEqual(try ConsoleCommand.parse("helpers request E-000001 erste-hilfe 2"),
                       .helpers(.request(incident: "E-000001", skill: "erste-hilfe", count: 2, minutes: 240, briefing: "", safetyNotes: "")))
        XCTAssertEqual(try ConsoleCommand.parse("helfer zeige"), .helpers(.show(request: nil)))
        XCTAssertEqual(try ConsoleCommand.parse("helpers show H-000001"), .helpers(.show(request: "H-000001")))
        XCTAssertEqual(try ConsoleCommand.parse("helfer abbrechen H-000001"), .helpers(.cancel(request: "H-000001")))
        XCTAssertEqual(try ConsoleCommand.parse("helfer ankunft H-000001 V-1"), .helpers(.checkIn(request: "H-000001", volunteer: "V-1")))
        XCTAssertEqual(try ConsoleCommand.parse("helpers checkout H-000001 V-1"), .helpers(.checkOut(request: "H-000001", volunteer: "V-1")))
        func error(_ line: String) -> ConsoleInputError? {
            do { _ = try ConsoleCommand.parse(line); return nil } catch { return error }
        }
        XCTAssertEqual(error("helfer anfordern E-000001 sandsack 0"), .badCount("0"))
        XCTAssertEqual(error("helfer anfordern E-000001 sandsack"), .missing(.helpers, what: "incident skill count"))
        XCTAssertEqual(error("helfer tanzen"), .unknownAction("tanzen"))
        XCTAssertEqual(error("helpers show H-1 H-2"), .unexpected(.helpers, word: "H-2"))
        XCTAssertTrue(Language.de.text(.input(error("helfer tanzen")!)).contains("keine Helfer-Aktion"))
        XCTAssertTrue(Language.en.text(.input(error("helfer anfordern E-1 x 5000")!)).contains("count 1–1000"))
    }

    func testBadLinesSayWhatIsWrongInBothLanguages() {
        func error(_ line: String) -> ConsoleInputError? {
            do { _ = try ConsoleCommand.parse(line); return nil } catch { return error }
        }
        XCTAssertEqual(error("alarmiren E-1"), .unknownCommand("alarmiren", nearest: "alarmieren"))
        XCTAssertEqual(error("xyzzy"), .unknownCommand("xyzzy", nearest: nil))
        XCTAssertEqual(error("status 1-HLF-1 12"), .badNumber("12"))
        XCTAssertEqual(error("einsatz F3 Nied"), .missing(.incident, what: "keyword place address"))
        XCTAssertEqual(error("lines now"), .unexpected(.lines, word: "now"))
        XCTAssertEqual(error("incident F1 Nied \"open"), .unclosedQuote)
        XCTAssertEqual(error("   "), .empty)
        XCTAssertTrue(Language.de.text(.input(error("alarmiren E-1")!)).contains("meinten Sie „alarmieren“?"))
        XCTAssertTrue(Language.en.text(.input(error("alarmiren E-1")!)).contains("did you mean \"alarmieren\"?"))
        XCTAssertTrue(Language.de.text(.input(error("einsatz F3 Nied")!)).contains("es fehlt Stichwort, Stadtteil und Adresse"))
    }

    func testEveryCommandHasHelpInBothLanguagesAndTheOverviewListsThemAll() {
        for v in ConsoleCommand.Verb.allCases {
            let de = Language.de.text(.help(v)), en = Language.en.text(.help(v))
            XCTAssertTrue(de.hasPrefix(v.german + " ") || de.hasPrefix(v.german + " —") || de.hasPrefix(v.german), de)
            XCTAssertTrue(en.hasPrefix(v.rawValue), en)
            XCTAssertNotEqual(de, en)
            XCTAssertTrue(Language.de.text(.helpOverview).contains(v.german), v.german)
            XCTAssertTrue(Language.en.text(.helpOverview).contains(v.rawValue), v.rawValue)
            XCTAssertEqual(ConsoleCommand.Verb.named(v.german), v)
            XCTAssertEqual(ConsoleCommand.Verb.named(v.rawValue.uppercased()), v)
        }
        // Only commands that alarm, or tell the partners, ask for confirmation.
        XCTAssertEqual(Set(ConsoleCommand.Verb.allCases.filter(\.needsConfirmation)), [.alarm, .test, .realarm, .cap, .sitrep])
    }

    /// The cluster's English refusals and event details, said in German; unknown texts unchanged.
    func testTheClustersEnglishIsSaidInGerman() {
        let cases = [
            "unknown: area Hochst (did you mean Höchst?)": "unbekannt: Stadtteil Hochst (meinten Sie Höchst?)",
            "not possible: unit 1-HLF-1 has status 6 (out of service) and is not available":
                "nicht möglich: Fahrzeug 1-HLF-1 hat Status 6 (nicht einsatzbereit) und ist nicht verfügbar",
            "not possible: incident E-000004 is already closed": "nicht möglich: Einsatz E-000004 ist bereits abgeschlossen",
            "unknown: unit 1-HLF-9 in order E-000001/1": "unbekannt: Fahrzeug 1-HLF-9 in Auftrag E-000001/1",
            "forbidden: alarm.order.create needs the role operator, the sender is partner":
                "nicht erlaubt: alarm.order.create verlangt die Rolle operator, der Absender hat die Rolle partner",
            "line faulted: silent for 10 s": "Leitung gestört: seit 10 s still",
            "2 → 3 en route": "2 → 3 Einsatz übernommen",
            "1-DLK-1 did not acknowledge; proposed: 2-DLK-1": "1-DLK-1 hat sich nicht gemeldet; vorgeschlagen: 2-DLK-1",
            "a text nobody wrote a pattern for": "a text nobody wrote a pattern for",
        ]
        for (english, german) in cases { XCTAssertEqual(GermanCatalog.translate(english), german, english) }
        XCTAssertEqual(Language.de.text(.refused("unknown: incident E-000009")), "Abgelehnt: unbekannt: Einsatz E-000009")
        XCTAssertEqual(Language.en.text(.refused("unknown: incident E-000009")), "Refused: unknown: incident E-000009")
    }
}
