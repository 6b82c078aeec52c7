import XCTest
@testable import Partners

/// CAP 1.2 (OASIS Standard, 1 July 2010) and the XML parser beneath it: the spec's Appendix A
/// examples, a Frankfurt fire alert, round trips, every rule with a failing document, the refusal
/// of DTDs, deep nesting and oversize input, and fuzzing with random, truncated and mutated bytes.
final class CAPTests: XCTestCase {
    // MARK: Documents

    /// Appendix A.1: Homeland Security Advisory System alert.
    static let homelandSecurity = """
        <?xml version = "1.0" encoding = "UTF-8"?>
        <alert xmlns = "urn:oasis:names:tc:emergency:cap:1.2">
          <identifier>43b080713727</identifier>
          <sender>hsas@dhs.gov</sender>
          <sent>2003-04-02T14:39:01-05:00</sent>
          <status>Actual</status>
          <msgType>Alert</msgType>
          <scope>Public</scope>
          <info>
            <category>Security</category>
            <event>Homeland Security Advisory System Update</event>
            <urgency>Immediate</urgency>
            <severity>Severe</severity>
            <certainty>Likely</certainty>
            <senderName>U.S. Government, Department of Homeland Security</senderName>
            <headline>Homeland Security Sets Code ORANGE</headline>
            <description>The Department of Homeland Security has elevated the Homeland Security Advisory System threat level to ORANGE / High in response to intelligence which may indicate a heightened threat of terrorism.</description>
            <instruction> A High Condition is declared when there is a high risk of terrorist attacks. In addition to the Protective Measures taken in the previous Threat Conditions, Federal departments and agencies should consider agency-specific Protective Measures in accordance with their existing plans.</instruction>
            <web>http://www.dhs.gov/dhspublic/display?theme=29</web>
            <parameter>
              <valueName>HSAS</valueName>
              <value>ORANGE</value>
            </parameter>
            <resource>
              <resourceDesc>Image file (GIF)</resourceDesc>
              <mimeType>image/gif</mimeType>
              <uri>http://www.dhs.gov/dhspublic/getAdvisoryImage</uri>
            </resource>
            <area>
              <areaDesc>U.S. nationwide and interests worldwide</areaDesc>
            </area>
          </info>
        </alert>
        """

    /// Appendix A.2: severe thunderstorm warning.
    static let thunderstorm = """
        <?xml version = "1.0" encoding = "UTF-8"?>
        <alert xmlns = "urn:oasis:names:tc:emergency:cap:1.2">
          <identifier>KSTO1055887203</identifier>
          <sender>KSTO@NWS.NOAA.GOV</sender>
          <sent>2003-06-17T14:57:00-07:00</sent>
          <status>Actual</status>
          <msgType>Alert</msgType>
          <scope>Public</scope>
          <info>
            <category>Met</category>
            <event>SEVERE THUNDERSTORM</event>
            <responseType>Shelter</responseType>
            <urgency>Immediate</urgency>
            <severity>Severe</severity>
            <certainty>Observed</certainty>
            <eventCode>
              <valueName>SAME</valueName>
              <value>SVR</value>
            </eventCode>
            <expires>2003-06-17T16:00:00-07:00</expires>
            <senderName>NATIONAL WEATHER SERVICE SACRAMENTO CA</senderName>
            <headline>SEVERE THUNDERSTORM WARNING</headline>
            <description> AT 254 PM PDT...NATIONAL WEATHER SERVICE DOPPLER RADAR INDICATED A SEVERE THUNDERSTORM OVER SOUTH CENTRAL ALPINE COUNTY...OR ABOUT 18 MILES SOUTHEAST OF KIRKWOOD...MOVING SOUTHWEST AT 5 MPH. HAIL...INTENSE RAIN AND STRONG DAMAGING WINDS ARE LIKELY WITH THIS STORM.</description>
            <instruction>TAKE COVER IN A SUBSTANTIAL SHELTER UNTIL THE STORM PASSES.</instruction>
            <contact>BARUFFALDI/JUSKIE</contact>
            <area>
              <areaDesc>EXTREME NORTH CENTRAL TUOLUMNE COUNTY IN CALIFORNIA, EXTREME NORTHEASTERN CALAVERAS COUNTY IN CALIFORNIA, SOUTHWESTERN ALPINE COUNTY IN CALIFORNIA</areaDesc>
              <polygon>38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14</polygon>
              <geocode>
                <valueName>SAME</valueName>
                <value>006109</value>
              </geocode>
              <geocode>
                <valueName>SAME</valueName>
                <value>006009</value>
              </geocode>
              <geocode>
                <valueName>SAME</valueName>
                <value>006003</value>
              </geocode>
            </area>
          </info>
        </alert>
        """

    /// Appendix A.3: earthquake report (an update).
    static let earthquake = """
        <?xml version = "1.0" encoding = "UTF-8"?>
        <alert xmlns = "urn:oasis:names:tc:emergency:cap:1.2">
          <identifier>TRI13970876.2</identifier>
          <sender>trinet@caltech.edu</sender>
          <sent>2003-06-11T20:56:00-07:00</sent>
          <status>Actual</status>
          <msgType>Update</msgType>
          <scope>Public</scope>
          <references>trinet@caltech.edu,TRI13970876.1,2003-06-11T20:30:00-07:00</references>
          <info>
            <category>Geo</category>
            <event>Earthquake</event>
            <urgency>Past</urgency>
            <severity>Minor</severity>
            <certainty>Observed</certainty>
            <senderName>Southern California Seismic Network (TriNet) operated by Caltech and USGS</senderName>
            <headline>EQ 3.4 Imperial County CA</headline>
            <description>A minor earthquake measuring 3.4 on the Richter scale occurred near Brawley, California at 8:30 PM Pacific Daylight Time on Wednesday, June 11, 2003. (This event has now been reviewed by a seismologist)</description>
            <web>http://www.trinet.org/scsn/scsn.html</web>
            <parameter>
              <valueName>EventID</valueName>
              <value>13970876</value>
            </parameter>
            <parameter>
              <valueName>Version</valueName>
              <value>1</value>
            </parameter>
            <parameter>
              <valueName>Magnitude</valueName>
              <value>3.4 Ml</value>
            </parameter>
            <parameter>
              <valueName>Depth</valueName>
              <value>11.8 mi.</value>
            </parameter>
            <parameter>
              <valueName>Quality</valueName>
              <value>Excellent</value>
            </parameter>
            <area>
              <areaDesc>1 mi. WSW of Brawley, CA; 11 mi. N of El Centro, CA; 30 mi. E of OCOTILLO (quarry); 1 mi. N of the Imperial Fault</areaDesc>
              <circle>32.9525,-115.5527 0</circle>
            </area>
          </info>
        </alert>
        """

    /// Appendix A.4: AMBER alert, in English and Spanish.
    static let amber = """
        <?xml version = "1.0" encoding = "UTF-8"?>
        <alert xmlns = "urn:oasis:names:tc:emergency:cap:1.2">
          <identifier>KAR0-0306112239-SW</identifier>
          <sender>KARO@CLETS.DOJ.CA.GOV</sender>
          <sent>2003-06-11T22:39:00-07:00</sent>
          <status>Actual</status>
          <msgType>Alert</msgType>
          <source>SW</source>
          <scope>Public</scope>
          <info>
            <language>en-US</language>
            <category>Rescue</category>
            <event>Child Abduction</event>
            <urgency>Immediate</urgency>
            <severity>Severe</severity>
            <certainty>Likely</certainty>
            <eventCode>
              <valueName>SAME</valueName>
              <value>CAE</value>
            </eventCode>
            <senderName>Los Angeles Police Dept - LAPD</senderName>
            <headline>Amber Alert in Los Angeles County</headline>
            <description>DATE/TIME: 06/11/03, 1915 HRS.  VICTIM(S): KHAYRI DOE JR. M/B BLK/BRO 3'0", 40 LBS. LIGHT COMPLEXION.  DOB 06/24/01. WEARING RED SHORTS, WHITE T-SHIRT, W/BLUE COLLAR.  LOCATION: 5721 DOE ST., LOS ANGELES, CA.  SUSPECT(S): KHAYRI DOE SR. DOB 04/18/71 M/B, BLK HAIR, BRO EYE. VEHICLE: 81' BUICK 2-DR, BLUE (4XXX000).</description>
            <contact>DET. SMITH, 77TH DIV, LOS ANGELES POLICE DEPT-LAPD AT 213 485-2389</contact>
            <area>
              <areaDesc>Los Angeles County</areaDesc>
              <geocode>
                <valueName>SAME</valueName>
                <value>006037</value>
              </geocode>
            </area>
          </info>
          <info>
            <language>es-US</language>
            <category>Rescue</category>
            <event>Abducción de Niño</event>
            <urgency>Immediate</urgency>
            <severity>Severe</severity>
            <certainty>Likely</certainty>
            <eventCode>
              <valueName>SAME</valueName>
              <value>CAE</value>
            </eventCode>
            <senderName>Departamento de Policía de Los Ángeles - LAPD</senderName>
            <headline>Alerta Amber en el condado de Los Ángeles</headline>
            <description>DATE/TIME: 06/11/03, 1915 HORAS. VÍCTIMAS: KHAYRI DOE JR. M/B BLK/BRO 3'0", 40 LIBRAS. TEZ LIGERA. DOB 06/24/01. CORTOCIRCUITOS ROJOS QUE USAN, CAMISETA BLANCA, COLLAR DE W/BLUE. LOCALIZACIÓN: 5721 DOE ST., LOS ÁNGELES. SOSPECHOSO: KHAYRI DOE ST. DOB 04/18/71 M/B, PELO DEL NEGRO, OJO DE BRO. VEHÍCULO: 81' BUICK 2-DR, AZUL (4XXX000)</description>
            <contact>DET. SMITH, 77TH DIV, LOS ANGELES POLICE DEPT-LAPD AT 213 485-2389</contact>
            <area>
              <areaDesc>condado de Los Ángeles</areaDesc>
              <geocode>
                <valueName>SAME</valueName>
                <value>006037</value>
              </geocode>
            </area>
          </info>
        </alert>
        """

    /// A large fire with heavy smoke as the Branddirektion Frankfurt am Main would send it to the
    /// public warning partners (identifiers, addresses and numbers are made up).
    static let frankfurtFire = """
        <?xml version="1.0" encoding="UTF-8"?>
        <!-- Integrierte Leitstelle Frankfurt am Main -->
        <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
          <identifier>DE-HE-F-BD-2024-0417</identifier>
          <sender>lagedienst@feuerwehr.frankfurt.example</sender>
          <sent>2024-07-18T14:32:00+02:00</sent>
          <status>Actual</status>
          <msgType>Alert</msgType>
          <source>ILS Frankfurt, Lagedienst</source>
          <scope>Public</scope>
          <code>florian:F4</code>
          <incidents>F-2024-07-18-0417</incidents>
          <info>
            <language>de-DE</language>
            <category>Fire</category>
            <category>Env</category>
            <event>Großbrand mit starker Rauchentwicklung</event>
            <responseType>Shelter</responseType>
            <responseType>Avoid</responseType>
            <urgency>Immediate</urgency>
            <severity>Severe</severity>
            <certainty>Observed</certainty>
            <audience>Bevölkerung in Fechenheim, Seckbach und Bergen-Enkheim</audience>
            <eventCode>
              <valueName>Alarmstichwort</valueName>
              <value>F4</value>
            </eventCode>
            <effective>2024-07-18T14:32:00+02:00</effective>
            <expires>2024-07-18T20:00:00+02:00</expires>
            <senderName>Branddirektion Frankfurt am Main</senderName>
            <headline>Großbrand in Fechenheim: Fenster und Türen geschlossen halten</headline>
            <description>In einer Lagerhalle an der Orber Straße brennt es. Die Rauchwolke zieht nach Nordosten über Seckbach und Bergen-Enkheim. Die Feuerwehr misst die Schadstoffe in der Luft; bisher wurden keine Grenzwerte überschritten.</description>
            <instruction>Halten Sie Fenster und Türen geschlossen &amp; schalten Sie Lüftungs- und Klimaanlagen ab. Meiden Sie das Gebiet und halten Sie die Zufahrten für die Einsatzkräfte frei.</instruction>
            <web>https://feuerwehr.frankfurt.example/lage/F-2024-07-18-0417</web>
            <contact>Bürgertelefon 069 0000-0000</contact>
            <parameter>
              <valueName>Einsatznummer</valueName>
              <value>F-2024-07-18-0417</value>
            </parameter>
            <resource>
              <resourceDesc>Karte der Rauchausbreitung</resourceDesc>
              <mimeType>image/png</mimeType>
              <size>182044</size>
              <uri>https://feuerwehr.frankfurt.example/lage/F-2024-07-18-0417/rauch.png</uri>
            </resource>
            <area>
              <areaDesc>Frankfurt-Fechenheim, Seckbach und Bergen-Enkheim</areaDesc>
              <polygon>50.1230,8.7420 50.1580,8.7420 50.1650,8.8050 50.1300,8.8050 50.1230,8.7420</polygon>
              <circle>50.1255,8.7530 1.5</circle>
              <geocode>
                <valueName>AGS</valueName>
                <value>06412000</value>
              </geocode>
              <altitude>0</altitude>
              <ceiling>1500</ceiling>
            </area>
          </info>
        </alert>
        """

    static let examples = [homelandSecurity, thunderstorm, earthquake, amber, frankfurtFire]

    /// The smallest alert each rule's failing document is made from.
    static let minimal = """
        <?xml version="1.0" encoding="UTF-8"?>
        <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
          <identifier>BD-F-2024-0001</identifier>
          <sender>lagedienst@feuerwehr.frankfurt.example</sender>
          <sent>2024-07-18T14:32:00+02:00</sent>
          <status>Actual</status>
          <msgType>Alert</msgType>
          <scope>Public</scope>
          <info>
            <category>Fire</category>
            <event>Brand</event>
            <urgency>Immediate</urgency>
            <severity>Severe</severity>
            <certainty>Observed</certainty>
            <area>
              <areaDesc>Frankfurt am Main</areaDesc>
              <polygon>50.10,8.60 50.20,8.60 50.20,8.80 50.10,8.60</polygon>
              <circle>50.1109,8.6821 5</circle>
            </area>
          </info>
        </alert>
        """

    // MARK: Helpers

    func parse(_ document: String) throws -> CAPAlert { try CAP.parse(Array(document.utf8)) }

    /// `minimal` with each replacement made; every `old` must occur in it.
    func minimal(_ replacements: (String, String)...) -> String {
        replacements.reduce(Self.minimal) { document, r in
            precondition(document.contains(r.0), "\(r.0) is not in the document")
            return document.replacingOccurrences(of: r.0, with: r.1)
        }
    }

    func assertRefused(_ document: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        switch CAP.validate(Array(document.utf8)) {
        case .valid:
            XCTFail("accepted; expected a refusal with \"\(fragment)\"", file: file, line: line)
        case .invalid(let reason):
            XCTAssertTrue(reason.contains(fragment), "\"\(reason)\" lacks \"\(fragment)\"", file: file, line: line)
        }
    }

    func assertXMLRefused(_ bytes: [UInt8], _ fragment: String, limits: XML.Limits = XML.Limits(), file: StaticString = #filePath, line: UInt = #line) {
        do {
            let root = try XML.parse(bytes, limits: limits)
            XCTFail("parsed as <\(root.qualifiedName)>; expected \"\(fragment)\"", file: file, line: line)
        } catch {
            XCTAssertTrue(error.reason.contains(fragment), "\"\(error.reason)\" lacks \"\(fragment)\"", file: file, line: line)
        }
    }

    // MARK: The spec's examples and ours

    func testHomelandSecurityExample() throws {
        let alert = try parse(Self.homelandSecurity)
        XCTAssertEqual(alert.identifier, "43b080713727")
        XCTAssertEqual(alert.sent.description, "2003-04-02T14:39:01-05:00")
        XCTAssertEqual(alert.sent.offsetMinutes, -300)
        XCTAssertEqual(alert.status, .actual)
        XCTAssertEqual(alert.scope, .public)
        let info = try XCTUnwrap(alert.infos.first)
        XCTAssertNil(info.language)
        XCTAssertEqual(info.categories, [.security])
        XCTAssertEqual(info.parameters, [CAPNamedValue(valueName: "HSAS", value: "ORANGE")])
        XCTAssertEqual(info.resources, [CAPResource(resourceDesc: "Image file (GIF)", mimeType: "image/gif",
                                                    uri: "http://www.dhs.gov/dhspublic/getAdvisoryImage")])
        XCTAssertTrue(info.instruction?.hasPrefix(" A High Condition") ?? false, "xs:string keeps its white space")
        XCTAssertEqual(info.areas.map(\.areaDesc), ["U.S. nationwide and interests worldwide"])
    }

    func testThunderstormExample() throws {
        let alert = try parse(Self.thunderstorm)
        let info = try XCTUnwrap(alert.infos.first)
        XCTAssertEqual(info.responseTypes, [.shelter])
        XCTAssertEqual(info.eventCodes, [CAPNamedValue(valueName: "SAME", value: "SVR")])
        XCTAssertEqual(info.expires?.description, "2003-06-17T16:00:00-07:00")
        let area = try XCTUnwrap(info.areas.first)
        XCTAssertEqual(area.polygons.first?.points.count, 5)
        XCTAssertEqual(area.polygons.first?.points.first, CAPPoint(latitude: 38.47, longitude: -120.14))
        XCTAssertEqual(area.geocodes.map(\.value), ["006109", "006009", "006003"])
    }

    func testEarthquakeExample() throws {
        let alert = try parse(Self.earthquake)
        XCTAssertEqual(alert.msgType, .update)
        XCTAssertEqual(alert.references, [CAPReference(sender: "trinet@caltech.edu", identifier: "TRI13970876.1",
                                                       sent: try CAPDateTime("2003-06-11T20:30:00-07:00"))])
        let info = try XCTUnwrap(alert.infos.first)
        XCTAssertEqual(info.parameters.map(\.valueName), ["EventID", "Version", "Magnitude", "Depth", "Quality"])
        XCTAssertEqual(info.areas.first?.circles, [CAPCircle(center: CAPPoint(latitude: 32.9525, longitude: -115.5527), radius: 0)])
    }

    func testAmberAlertExampleInTwoLanguages() throws {
        let alert = try parse(Self.amber)
        XCTAssertEqual(alert.source, "SW")
        XCTAssertEqual(alert.infos.map(\.language), ["en-US", "es-US"])
        XCTAssertEqual(alert.infos.last?.event, "Abducción de Niño")
        XCTAssertEqual(alert.infos.last?.areas.first?.areaDesc, "condado de Los Ángeles")
        XCTAssertTrue(alert.infos.first?.description?.contains("3'0\", 40 LBS") ?? false)
    }

    func testFrankfurtFireAlert() throws {
        let alert = try parse(Self.frankfurtFire)
        XCTAssertEqual(alert.sent.offsetMinutes, 120)
        XCTAssertEqual(alert.codes, ["florian:F4"])
        XCTAssertEqual(alert.incidents, ["F-2024-07-18-0417"])
        let info = try XCTUnwrap(alert.infos.first)
        XCTAssertEqual(info.language, "de-DE")
        XCTAssertEqual(info.categories, [.fire, .env])
        XCTAssertEqual(info.event, "Großbrand mit starker Rauchentwicklung")
        XCTAssertEqual(info.responseTypes, [.shelter, .avoid])
        XCTAssertEqual(info.senderName, "Branddirektion Frankfurt am Main")
        XCTAssertTrue(info.instruction?.contains("geschlossen & schalten") ?? false)
        XCTAssertEqual(info.resources.first?.size, 182_044)
        let area = try XCTUnwrap(info.areas.first)
        XCTAssertEqual(area.geocodes, [CAPNamedValue(valueName: "AGS", value: "06412000")])
        XCTAssertEqual(area.circles, [CAPCircle(center: CAPPoint(latitude: 50.1255, longitude: 8.753), radius: 1.5)])
        XCTAssertEqual(area.altitude, 0)
        XCTAssertEqual(area.ceiling, 1500)
        XCTAssertEqual(CAP.validate(Array(Self.frankfurtFire.utf8)).summary, "valid")
    }

    // MARK: Writing

    func testEveryExampleRoundTrips() throws {
        for document in Self.examples + [Self.minimal] {
            let alert = try parse(document)
            let written = alert.xml()
            let again = try parse(written)
            XCTAssertEqual(again, alert)
            XCTAssertEqual(again.xml(), written, "writing is canonical")
        }
    }

    func testWriterIsCanonical() throws {
        let written = try parse(Self.earthquake).xml()
        XCTAssertTrue(written.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">\n  <identifier>TRI13970876.2</identifier>\n"))
        XCTAssertTrue(written.contains("  <scope>Public</scope>\n  <references>trinet@caltech.edu,TRI13970876.1,2003-06-11T20:30:00-07:00</references>\n  <info>\n"))
        XCTAssertTrue(written.contains("      <circle>32.9525,-115.5527 0</circle>\n"))
        XCTAssertTrue(written.hasSuffix("  </info>\n</alert>\n"))
    }

    /// An alert composed in code: escaping, quoted list items, plain decimals where Swift would
    /// print exponents, UTC as -00:00; and what `check()` refuses before such an alert is sent.
    func testComposedAlertIsCheckedAndRoundTrips() throws {
        let utc = try CAPDateTime(year: 2024, month: 2, day: 29, hour: 23, minute: 59, second: 59, offsetMinutes: 0)
        let ring = [CAPPoint(latitude: 0.00001, longitude: -0.000015), CAPPoint(latitude: 1, longitude: 0.00001),
                    CAPPoint(latitude: 1, longitude: 1), CAPPoint(latitude: 0.00001, longitude: -0.000015)]
        var alert = CAPAlert(
            identifier: "BD-F-2024-0002", sender: "lagedienst@feuerwehr.frankfurt.example", sent: utc, status: .exercise,
            msgType: .alert, scope: .private, addresses: ["Leitstelle Offenbach", "thw-ov-frankfurt"],
            note: "Rauch & Ruß <dicht> ]]> ende\r\nzweite Zeile",
            infos: [CAPInfo(language: "de-DE", categories: [.fire], event: "Übung", urgency: .future, severity: .minor,
                            certainty: .likely,
                            areas: [CAPArea(areaDesc: "Nullpunkt", polygons: [CAPPolygon(ring)], altitude: 1e20, ceiling: 2.5e21)])])
        try alert.check()
        let written = alert.xml()
        XCTAssertTrue(written.contains("<sent>2024-02-29T23:59:59-00:00</sent>"))
        XCTAssertTrue(written.contains("<addresses>\"Leitstelle Offenbach\" thw-ov-frankfurt</addresses>"))
        XCTAssertTrue(written.contains("<note>Rauch &amp; Ruß &lt;dicht&gt; ]]&gt; ende&#13;\nzweite Zeile</note>"))
        XCTAssertTrue(written.contains("<polygon>0.00001,-0.000015 1,0.00001 1,1 0.00001,-0.000015</polygon>"))
        XCTAssertTrue(written.contains("<altitude>100000000000000000000</altitude>"))
        XCTAssertTrue(written.contains("<ceiling>2500000000000000000000</ceiling>"))
        XCTAssertEqual(try parse(written), alert)

        alert.note = "Steuerzeichen \u{1}"
        XCTAssertThrowsError(try alert.check()) { XCTAssertTrue(($0 as? CAPError)?.reason.contains("U+0001") ?? false, "\($0)") }
        alert.note = nil
        alert.addresses = ["say \"hi\""]
        XCTAssertThrowsError(try alert.check()) { XCTAssertTrue("\($0)".contains("alert/addresses: the item"), "\($0)") }
        alert.addresses = ["x"]
        alert.infos[0].areas[0].polygons[0].points[1].latitude = .nan
        XCTAssertThrowsError(try alert.check()) { XCTAssertTrue("\($0)".contains("polygon[1]: the latitude nan"), "\($0)") }
        alert.infos[0].areas[0].polygons = []
        alert.infos[0].resources = [CAPResource(resourceDesc: "x", mimeType: "text/plain", size: -1)]
        XCTAssertThrowsError(try alert.check()) { XCTAssertTrue("\($0)".contains("resource[1]/size: -1 is not a non-negative integer"), "\($0)") }
        alert.infos[0].resources = []
        alert.infos[0].web = " https://feuerwehr.frankfurt.example"
        XCTAssertThrowsError(try alert.check()) { XCTAssertTrue("\($0)".contains("alert/info[1]/web: \" https:"), "\($0)") }
        alert.infos[0].web = nil
        alert.infos[0].categories = []
        XCTAssertThrowsError(try alert.check()) { XCTAssertTrue("\($0)".contains("alert/info[1]: <category> is missing"), "\($0)") }
    }

    func testDecimalsAreWrittenWithoutExponent() {
        for (x, text) in [(0.0, "0"), (-0.5, "-0.5"), (38.47, "38.47"), (1e-5, "0.00001"), (-1.5e-7, "-0.00000015"),
                          (1e16, "10000000000000000"), (1.25e17, "125000000000000000"), (123.0, "123")] {
            XCTAssertEqual(CAPWriter.decimal(x), text)
            XCTAssertEqual(CAPReader.decimal(text[...]), x)
        }
    }

    // MARK: The schema: structure, order, cardinality

    func testMinimalAlertAndOptionalVariantsAreValid() throws {
        XCTAssertEqual(CAP.validate(Array(Self.minimal.utf8)).summary, "valid")
        // An Ack needs no info; an Update may name several earlier messages.
        let ack = try parse(minimal(("<msgType>Alert</msgType>", "<msgType>Ack</msgType>"),
                                    ("<scope>Public</scope>", "<scope>Public</scope><references>a@b,X1,2024-07-18T14:00:00+02:00 a@b,X2,2024-07-18T14:10:00-00:00</references>"))
            .replacingOccurrences(of: #"<info>[\s\S]*</info>"#, with: "", options: .regularExpression))
        XCTAssertEqual(ack.infos, [])
        XCTAssertEqual(ack.references.map(\.identifier), ["X1", "X2"])
        // Restricted and Private with what they require; quoted addresses.
        XCTAssertEqual(try parse(minimal(("<scope>Public</scope>", "<scope>Restricted</scope><restriction>nur BOS</restriction>"))).restriction, "nur BOS")
        let addressed = try parse(minimal(("<scope>Public</scope>", "<scope>Private</scope><addresses> \"Leitstelle Offenbach\"  thw-ov-frankfurt\n</addresses>")))
        XCTAssertEqual(addressed.addresses, ["Leitstelle Offenbach", "thw-ov-frankfurt"])
        // Leap days, UTC in either sign, an XML signature at the end, xsi:schemaLocation.
        XCTAssertNoThrow(try parse(minimal(("2024-07-18T14:32:00+02:00", "2024-02-29T00:00:00+02:00"))))
        XCTAssertNoThrow(try parse(minimal(("2024-07-18T14:32:00+02:00", "2000-02-29T00:00:00+02:00"))))
        XCTAssertEqual(try parse(minimal(("2024-07-18T14:32:00+02:00", "2024-07-18T12:32:00+00:00"))).sent.description, "2024-07-18T12:32:00-00:00")
        XCTAssertNoThrow(try parse(minimal(("</info>\n</alert>", "</info>\n<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo/></ds:Signature></alert>"))))
        XCTAssertNoThrow(try parse(minimal(("<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">",
                                            "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"urn:oasis:names:tc:emergency:cap:1.2 CAP-v1.2.xsd\">"))))
        // Text split by a comment or given as CDATA is one value.
        XCTAssertEqual(try parse(minimal(("<event>Brand</event>", "<event>Gro<!-- ß -->ßbrand <![CDATA[<F4>]]></event>"))).infos[0].event, "Großbrand <F4>")
    }

    func testPrefixedNamespaceReadsTheSame() throws {
        let prefixed = Self.minimal
            .replacingOccurrences(of: "<alert xmlns=", with: "<cap:alert xmlns:cap=")
            .replacingOccurrences(of: #"<(/?)([a-zA-Z]+)>"#, with: "<$1cap:$2>", options: .regularExpression)
        XCTAssertTrue(prefixed.contains("<cap:identifier>"))
        XCTAssertEqual(try parse(prefixed), try parse(Self.minimal))
    }

    func testStructureRules() {
        let cases: [((String, String), String)] = [
            (("<identifier>BD-F-2024-0001</identifier>", ""), "alert: <identifier> is missing"),
            (("<sender>lagedienst@feuerwehr.frankfurt.example</sender>", ""), "alert: <sender> is missing"),
            (("<scope>Public</scope>", ""), "alert: <scope> is missing"),
            (("<status>Actual</status>\n  <msgType>Alert</msgType>", "<msgType>Alert</msgType>\n  <status>Actual</status>"),
             "alert/status: out of order, <status> must come before <msgType>"),
            (("<status>Actual</status>", "<status>Actual</status><status>Test</status>"), "alert/status: may occur only once"),
            (("<scope>Public</scope>", "<scope>Public</scope><priority>1</priority>"), "alert/priority: no such element in <alert>"),
            (("<scope>Public</scope>", "<scope>Public</scope><x:ext xmlns:x=\"urn:example\">1</x:ext>"),
             "alert/x:ext: elements in the namespace urn:example are not allowed in <alert>"),
            (("<scope>Public</scope>", "<scope>Public</scope><note xmlns=\"\">hi</note>"), "alert/note: elements in no namespace are not allowed in <alert>"),
            (("<area>", "<info><category>Fire</category></info><area>"), "alert/info[1]/info: no such element in <info>"),
            (("<identifier>", "<identifier lang=\"de\">"), "alert/identifier: the attribute lang is not allowed"),
            (("<info>", "<info>Achtung"), "alert/info[1]: text \"Achtung"),
            (("<event>Brand</event>", "<event>Brand<b>!</b></event>"), "alert/info[1]/event: must hold text only, not <b>"),
            (("<category>Fire</category>", ""), "alert/info[1]: <category> is missing"),
            (("<event>Brand</event>", ""), "alert/info[1]: <event> is missing"),
            (("<certainty>Observed</certainty>", ""), "alert/info[1]: <certainty> is missing"),
            (("<urgency>Immediate</urgency>\n    <severity>Severe</severity>", "<severity>Severe</severity><urgency>Immediate</urgency>"),
             "alert/info[1]/urgency: out of order, <urgency> must come before <severity>"),
            (("<category>Fire</category>", "<category>Fire</category><language>de-DE</language>"),
             "alert/info[1]/language: out of order, <language> must come before <category>"),
            (("<event>Brand</event>", "<event>Brand</event><event>Feuer</event>"), "alert/info[1]/event: may occur only once"),
            (("<areaDesc>Frankfurt am Main</areaDesc>", ""), "alert/info[1]/area[1]: <areaDesc> is missing"),
            (("<polygon>", "<circle>50.1109,8.6821 5</circle><polygon>"),
             "alert/info[1]/area[1]/polygon[1]: out of order, <polygon> must come before <circle>"),
            (("<info>", "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/><info>"), "alert/info[1]: must come before the signature"),
        ]
        for ((old, new), fragment) in cases { assertRefused(minimal((old, new)), fragment) }
    }

    func testEnumerations() {
        let cases: [((String, String), String)] = [
            (("<status>Actual</status>", "<status>Real</status>"), "alert/status: \"Real\" is not one of Actual, Exercise, System, Test, Draft"),
            (("<status>Actual</status>", "<status> Actual</status>"), "alert/status: \" Actual\" is not one of"),
            (("<msgType>Alert</msgType>", "<msgType>Warning</msgType>"), "alert/msgType: \"Warning\" is not one of Alert, Update, Cancel, Ack, Error"),
            (("<scope>Public</scope>", "<scope>Everyone</scope>"), "alert/scope: \"Everyone\" is not one of Public, Restricted, Private"),
            (("<category>Fire</category>", "<category>Fire</category><category>Flood</category>"),
             "alert/info[1]/category[2]: \"Flood\" is not one of Geo, Met, Safety, Security, Rescue, Fire, Health, Env, Transport, Infra, CBRNE, Other"),
            (("<event>Brand</event>", "<event>Brand</event><responseType>Shelter</responseType><responseType>Run</responseType>"),
             "alert/info[1]/responseType[2]: \"Run\" is not one of Shelter, Evacuate, Prepare, Execute, Avoid, Monitor, Assess, AllClear, None"),
            (("<urgency>Immediate</urgency>", "<urgency>Now</urgency>"), "alert/info[1]/urgency: \"Now\" is not one of Immediate, Expected, Future, Past, Unknown"),
            (("<severity>Severe</severity>", "<severity>Catastrophic</severity>"),
             "alert/info[1]/severity: \"Catastrophic\" is not one of Extreme, Severe, Moderate, Minor, Unknown"),
            (("<certainty>Observed</certainty>", "<certainty>Sure</certainty>"),
             "alert/info[1]/certainty: \"Sure\" is not one of Observed, Likely, Possible, Unlikely, Unknown"),
        ]
        for ((old, new), fragment) in cases { assertRefused(minimal((old, new)), fragment) }
        // Every listed value is accepted.
        for status in CAPAlert.Status.allCases {
            XCTAssertNoThrow(try parse(minimal(("<status>Actual</status>", "<status>\(status.rawValue)</status>"))))
        }
        for category in CAPInfo.Category.allCases {
            XCTAssertEqual(try parse(minimal(("<category>Fire</category>", "<category>\(category.rawValue)</category>"))).infos[0].categories, [category])
        }
    }

    // MARK: Dates and times (§3.3.2)

    func testDateTimes() {
        let sent = "2024-07-18T14:32:00+02:00"
        let cases: [(String, String)] = [
            ("2024-07-18T12:32:00Z", "alphabetic time zone designators such as Z are not allowed, UTC is -00:00"),
            ("2024-07-18T12:32:00UTC", "alphabetic time zone designators"),
            ("2024-07-18T14:32:00", "the numeric time zone offset is missing"),
            ("2024-07-18T14:32:00.5+02:00", "no fractional seconds"),
            ("2024-7-18T14:32:00+02:00", "is not a CAP date and time (YYYY-MM-DDThh:mm:ss±hh:mm)"),
            ("2024-07-18 14:32:00+02:00", "is not a CAP date and time"),
            ("2024-07-18T14:32+02:00", "is not a CAP date and time"),
            ("2023-02-29T00:00:00+01:00", "2023-02-29 is not a calendar date"),
            ("1900-02-29T00:00:00+01:00", "1900-02-29 is not a calendar date"),
            ("2024-04-31T00:00:00+02:00", "2024-04-31 is not a calendar date"),
            ("2024-13-01T00:00:00+01:00", "there is no month 13"),
            ("2024-00-01T00:00:00+01:00", "there is no month 0"),
            ("0000-01-01T00:00:00+01:00", "the year 0 is outside 0001…9999"),
            ("2024-07-18T24:00:00+02:00", "24:00:00 is not a time of day"),
            ("2024-07-18T14:60:00+02:00", "14:60:00 is not a time of day"),
            ("2024-07-18T14:32:00+15:00", "the time zone offset is beyond ±14:00"),
            ("2024-07-18T14:32:00+02:60", "the offset's minutes exceed 59"),
        ]
        for (value, fragment) in cases {
            assertRefused(minimal((sent, value)), "alert/sent: ")
            assertRefused(minimal((sent, value)), fragment)
        }
        assertRefused(minimal(("<certainty>Observed</certainty>", "<certainty>Observed</certainty><expires>2024-04-31T00:00:00+02:00</expires>")),
                      "alert/info[1]/expires: 2024-04-31 is not a calendar date")
        assertRefused(minimal(("<certainty>Observed</certainty>", "<certainty>Observed</certainty><onset>2024-07-18T16:00:00Z</onset>")),
                      "alert/info[1]/onset: ")
        assertRefused(minimal(("<certainty>Observed</certainty>", "<certainty>Observed</certainty><expires>x</expires><effective>2024-07-18T16:00:00+02:00</effective>")),
                      "alert/info[1]/effective: out of order")
        // White space around a dateTime is collapsed away (xs:dateTime); the value is kept exactly.
        XCTAssertEqual(try parse(minimal((sent, "\n  \(sent) "))).sent.description, sent)
        XCTAssertEqual(try CAPDateTime("2024-07-18T14:32:00-09:30").offsetMinutes, -570)
        XCTAssertEqual(try CAPDateTime("2024-07-18T14:32:00+14:00").offsetMinutes, 840)
    }

    // MARK: The rules beyond the schema

    func testIdentifierAndSenderCharacters() {
        for bad in ["BD F 1", "BD,F", "BD&lt;F", "BD&amp;F", "BD\tF"] {
            assertRefused(minimal(("BD-F-2024-0001", bad)), "alert/identifier: ")
            assertRefused(minimal(("BD-F-2024-0001", bad)), "must not contain spaces, commas, \"<\" or \"&\"")
        }
        assertRefused(minimal(("lagedienst@feuerwehr.frankfurt.example", "Lagedienst Frankfurt")), "alert/sender: \"Lagedienst Frankfurt\" must not contain")
        assertRefused(minimal(("<identifier>BD-F-2024-0001</identifier>", "<identifier></identifier>")), "alert/identifier: empty")
    }

    func testScopeRules() {
        assertRefused(minimal(("<scope>Public</scope>", "<scope>Restricted</scope>")), "alert/restriction: required when scope is Restricted")
        assertRefused(minimal(("<scope>Public</scope>", "<scope>Restricted</scope><restriction> </restriction>")), "alert/restriction: required when scope is Restricted")
        assertRefused(minimal(("<scope>Public</scope>", "<scope>Private</scope>")), "alert/addresses: required when scope is Private")
        assertRefused(minimal(("<scope>Public</scope>", "<scope>Private</scope><addresses>  </addresses>")), "alert/addresses: required when scope is Private")
        assertRefused(minimal(("<scope>Public</scope>", "<scope>Private</scope><addresses>\"Leitstelle Offenbach</addresses>")), "alert/addresses: a double quote is not closed")
        assertRefused(minimal(("<scope>Public</scope>", "<scope>Private</scope><addresses>\"a\"b</addresses>")), "alert/addresses: a closing double quote must be followed by a space")
        assertRefused(minimal(("<scope>Public</scope>", "<scope>Private</scope><addresses>a\"b</addresses>")), "alert/addresses: a double quote inside an item")
        assertRefused(minimal(("<scope>Public</scope>", "<scope>Public</scope><incidents>\"\" x</incidents>")), "alert/incidents: an empty quoted item")
    }

    func testReferencesRules() {
        for type in ["Update", "Cancel", "Ack", "Error"] {
            assertRefused(minimal(("<msgType>Alert</msgType>", "<msgType>\(type)</msgType>")), "alert/references: required when msgType is \(type)")
        }
        let references = { (value: String) in self.minimal(("<scope>Public</scope>", "<scope>Public</scope><references>\(value)</references>")) }
        assertRefused(references("a@b,X1"), "alert/references: \"a@b,X1\" is not \"sender,identifier,sent\"")
        assertRefused(references("a@b,X1,2024-07-18T14:00:00+02:00,x"), "is not \"sender,identifier,sent\"")
        assertRefused(references(",X1,2024-07-18T14:00:00+02:00"), "is not \"sender,identifier,sent\"")
        assertRefused(references("a@b,X1,2024-07-18T14:00:00Z"), "alert/references: \"2024-07-18T14:00:00Z\" is not a CAP date and time")
        assertRefused(references("a@b,X&amp;1,2024-07-18T14:00:00+02:00"), "alert/references: \"X&1\" must not contain")
        XCTAssertNoThrow(try parse(references("a@b,X1,2024-07-18T14:00:00+02:00")))
    }

    func testPolygonRules() {
        let polygon = "50.10,8.60 50.20,8.60 50.20,8.80 50.10,8.60"
        let cases: [(String, String)] = [
            ("50.10,8.60 50.20,8.60 50.10,8.60", "alert/info[1]/area[1]/polygon[1]: 3 points, a polygon needs at least 4"),
            ("", "polygon[1]: 0 points, a polygon needs at least 4"),
            ("50.10,8.60 50.20,8.60 50.20,8.80 50.10,8.70", "alert/info[1]/area[1]/polygon[1]: first and last point differ"),
            ("91,8.60 50.20,8.60 50.20,8.80 91,8.60", "polygon[1]: the latitude 91.0 is outside -90…90"),
            ("50.10,-180.5 50.20,8.60 50.20,8.80 50.10,-180.5", "polygon[1]: the longitude -180.5 is outside -180…180"),
            ("50.10;8.60 50.20,8.60 50.20,8.80 50.10;8.60", "polygon[1]: \"50.10;8.60\" is not a \"lat,lon\" pair"),
            ("50.10, 8.60 50.20,8.60 50.20,8.80 50.10,8.60", "polygon[1]: \"50.10,\" is not a \"lat,lon\" pair"),
            ("5e1,8.60 50.20,8.60 50.20,8.80 5e1,8.60", "\"5e1,8.60\" is not a \"lat,lon\" pair"),
            ("nan,8.60 50.20,8.60 50.20,8.80 nan,8.60", "\"nan,8.60\" is not a \"lat,lon\" pair"),
        ]
        for (value, fragment) in cases { assertRefused(minimal((polygon, value)), fragment) }
        // The second area's polygon is named as such.
        assertRefused(minimal(("</area>", "</area><area><areaDesc>B</areaDesc><polygon>1,1 2,2 3,3 1,2</polygon></area>")),
                      "alert/info[1]/area[2]/polygon[1]: first and last point differ")
        XCTAssertNoThrow(try parse(minimal((polygon, " -90,-180 +90,180.0 .5,5. -90,-180\n"))))
    }

    func testCircleAltitudeAndCeilingRules() {
        let circle = "<circle>50.1109,8.6821 5</circle>"
        let cases: [(String, String)] = [
            ("<circle>50.1109,8.6821 -5</circle>", "alert/info[1]/area[1]/circle[1]: the radius -5.0 is not 0 km or more"),
            ("<circle>50.1109,8.6821</circle>", "circle[1]: \"50.1109,8.6821\" is not \"lat,lon radius\""),
            ("<circle>50.1109,8.6821 5 km</circle>", "is not \"lat,lon radius\""),
            ("<circle>95,8.6821 5</circle>", "circle[1]: the latitude 95.0 is outside -90…90"),
            ("\(circle)<ceiling>1000</ceiling>", "alert/info[1]/area[1]/ceiling: only allowed together with <altitude>"),
            ("\(circle)<altitude>hoch</altitude>", "alert/info[1]/area[1]/altitude: \"hoch\" is not a decimal number"),
            ("\(circle)<ceiling>1000</ceiling><altitude>0</altitude>", "area[1]/altitude: out of order, <altitude> must come before <ceiling>"),
            ("\(circle)<altitude>1</altitude><altitude>2</altitude>", "area[1]/altitude: may occur only once"),
        ]
        for (value, fragment) in cases { assertRefused(minimal((circle, value)), fragment) }
        XCTAssertEqual(try parse(minimal((circle, "\(circle)<altitude> -12.5 </altitude><ceiling>+3000</ceiling>"))).infos[0].areas[0].ceiling, 3000)
    }

    func testResourceRules() {
        let resource = { (body: String) in self.minimal(("<area>", "<resource>\(body)</resource><area>")) }
        assertRefused(resource("<resourceDesc>Lageplan</resourceDesc>"), "alert/info[1]/resource[1]: <mimeType> is missing")
        assertRefused(resource("<mimeType>image/png</mimeType>"), "alert/info[1]/resource[1]: <resourceDesc> is missing")
        assertRefused(resource("<resourceDesc>Lageplan</resourceDesc><mimeType>image/png</mimeType><size>-5</size>"),
                      "alert/info[1]/resource[1]/size: \"-5\" is not a non-negative integer")
        assertRefused(resource("<resourceDesc>Lageplan</resourceDesc><mimeType>image/png</mimeType><size>12kb</size>"), "\"12kb\" is not a non-negative integer")
        assertRefused(resource("<resourceDesc>Lageplan</resourceDesc><mimeType>image/png</mimeType><size>99999999999999999999999</size>"), "is too large")
        assertRefused(resource("<resourceDesc>Lageplan</resourceDesc><mimeType>image/png</mimeType><digest>x</digest><uri>u</uri>"),
                      "resource[1]/uri: out of order, <uri> must come before <digest>")
        XCTAssertEqual(try parse(resource("<resourceDesc>Lageplan</resourceDesc><mimeType>image/png</mimeType><size>+0012</size>")).infos[0].resources[0].size, 12)
    }

    func testNamedValuePairs() {
        let after = "<certainty>Observed</certainty>"
        assertRefused(minimal((after, after + "<eventCode><valueName>Alarmstichwort</valueName></eventCode>")), "alert/info[1]/eventCode[1]: <value> is missing")
        assertRefused(minimal((after, after + "<eventCode><value>F4</value></eventCode>")), "alert/info[1]/eventCode[1]: <valueName> is missing")
        assertRefused(minimal(("<area>", "<parameter><value>1</value><valueName>n</valueName></parameter><area>")),
                      "alert/info[1]/parameter[1]/valueName: out of order, <valueName> must come before <value>")
        assertRefused(minimal(("</area>", "<geocode><valueName>AGS</valueName><valueName>AGS</valueName><value>1</value></geocode></area>")),
                      "alert/info[1]/area[1]/geocode[1]/valueName: may occur only once")
        assertRefused(minimal(("</area>", "<geocode>06412000</geocode></area>")), "alert/info[1]/area[1]/geocode[1]: text \"06412000\" is not allowed in <geocode>")
        XCTAssertEqual(try parse(minimal(("</area>", "<geocode><valueName>AGS</valueName><value/></geocode></area>"))).infos[0].areas[0].geocodes,
                       [CAPNamedValue(valueName: "AGS", value: "")])
    }

    func testLanguageTags() {
        for bad in ["de_DE", "deutschland", "de-", "1de", "de-DEUTSCHLAND"] {
            assertRefused(minimal(("<info>", "<info><language>\(bad)</language>")), "alert/info[1]/language: \"\(bad)\" is not a language tag")
        }
        for good in ["de", "de-DE", "x-klingon", "sgn-CH-DE", "de-1996"] {
            XCTAssertEqual(try parse(minimal(("<info>", "<info><language>\(good)</language>"))).infos[0].language, good)
        }
    }

    // MARK: Other versions and other documents

    func testOtherCAPVersionsAreNamed() {
        let v11 = Self.minimal.replacingOccurrences(of: "cap:1.2", with: "cap:1.1")
        XCTAssertEqual(CAP.validate(Array(v11.utf8)), .invalid(reason: "CAP 1.1 document, not 1.2"))
        let v10 = Self.minimal.replacingOccurrences(of: "urn:oasis:names:tc:emergency:cap:1.2", with: "http://www.incident.com/cap/1.0")
        XCTAssertEqual(CAP.validate(Array(v10.utf8)), .invalid(reason: "CAP 1.0 document, not 1.2"))
        XCTAssertEqual(CAP.validate(Array(v10.utf8)).summary, "invalid: CAP 1.0 document, not 1.2")
        assertRefused(#"<feed xmlns="http://www.w3.org/2005/Atom"><title>NWS</title></feed>"#,
                      "not a CAP alert: the root element is <feed> in the namespace http://www.w3.org/2005/Atom")
        assertRefused("<alert><identifier>x</identifier></alert>", "not a CAP alert: the root element is <alert> in no namespace")
        assertRefused(Self.minimal.replacingOccurrences(of: "cap:1.2", with: "cap:1.3"), "not a CAP alert")
        assertRefused("", "XML line 1: the document has no root element")
    }

    // MARK: The XML parser

    func testXMLReadsNamespacesReferencesAndNormalisesLineEnds() throws {
        let document = "<?xml version='1.0' encoding='utf-8' standalone='yes'?>\r\n<!-- c -->"
            + "<?xml-stylesheet href=\"s.xsl\" type=\"text/xsl\"?>\r\n"
            + "<r xmlns=\"urn:d\" xmlns:p=\"urn:p\" p:at=\"1&#9;2\t3&lt;\r\n\" plain='x'>"
            + "<p:c>a&amp;b&#65;&#x42;&#x1F692;<![CDATA[<x>&amp;]]>c<!-- gone --><?pi skipped?>d</p:c><e xmlns=\"\">t</e><f/>\r\nline\rend</r>\n"
        let root = try XML.parse([0xEF, 0xBB, 0xBF] + Array(document.utf8))
        XCTAssertEqual(root.namespace, "urn:d")
        XCTAssertEqual(root.localName, "r")
        XCTAssertEqual(root.attributes, [XML.Attribute(namespace: "urn:p", localName: "at", qualifiedName: "p:at", value: "1\t2 3< "),
                                         XML.Attribute(namespace: nil, localName: "plain", qualifiedName: "plain", value: "x")])
        let children = root.elements
        XCTAssertEqual(children.map(\.namespace), ["urn:p", nil, "urn:d"])
        XCTAssertEqual(children[0].text, "a&bAB🚒<x>&amp;cd")
        XCTAssertEqual(children[0].children.count, 1, "text around a comment or PI is one node")
        XCTAssertEqual(root.text, "\nline\nend")
        XCTAssertEqual(children.map(\.line), [4, 4, 4], "the line end inside the attribute counts")
    }

    func testXMLWellFormednessErrors() {
        let cases: [(String, String)] = [
            ("<a><b></a>", "the end tag </a> does not match <b> opened on line 1"),
            ("<a>", "the document ends inside <a> opened on line 1"),
            ("<a/><b/>", "a second root element"),
            ("<a/>text", "text after the root element"),
            ("text<a/>", "text before the root element"),
            ("   ", "the document has no root element"),
            ("<a><!-- x -- y --></a>", "\"--\" inside a comment"),
            ("<a><!-- x </a>", "the comment is not closed"),
            ("<a>]]></a>", "\"]]>\" is not allowed in text"),
            ("<a b=\"<\"/>", "\"<\" is not allowed in an attribute value"),
            ("<a b=\"1\" b=\"2\"/>", "the attribute b occurs twice in <a>"),
            ("<a xmlns:p=\"u\" xmlns:q=\"u\" p:x=\"1\" q:x=\"2\"/>", "the attribute q:x occurs twice in <a> under another prefix"),
            ("<p:a/>", "the prefix p of p:a is not declared"),
            ("<a p:b=\"1\"/>", "the prefix p of p:b is not declared"),
            ("<a xmlns:p=\"\"/>", "xmlns:p=\"\" is not allowed: a prefix cannot be undeclared"),
            ("<a xmlns:xml=\"urn:x\"/>", "only the prefix xml is bound to"),
            ("<a xmlns=\"http://www.w3.org/2000/xmlns/\"/>", "must not be declared as a namespace"),
            ("<xmlns:a/>", "the prefix xmlns is reserved"),
            ("<a:b:c xmlns:a=\"u\"/>", "a:b:c is not a valid qualified name"),
            ("<a>&#0;</a>", "the character reference &#0; is not a legal XML character"),
            ("<a>&#xD800;</a>", "&#xD800; is not a legal XML character"),
            ("<a>&#xFFFE;</a>", "&#xFFFE; is not a legal XML character"),
            ("<a>&#x110000;</a>", "is not a legal XML character"),
            ("<a>&#99999999999999999999999999;</a>", "is not a legal XML character"),
            ("<a>&#x;</a>", "malformed character reference"),
            ("<a>&#12a;</a>", "malformed character reference"),
            ("<a>&amp</a>", "the reference &amp is not closed with ;"),
            ("<a>&nbsp;</a>", "undefined entity &nbsp;"),
            ("<a>\u{1}</a>", "the character U+0001 is not allowed in XML"),
            ("<a>\u{FFFF}</a>", "the character U+FFFF is not allowed in XML"),
            ("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>", "the encoding ISO-8859-1 is not supported"),
            ("<?xml version=\"1.1\"?><a/>", "XML version 1.1 is not supported"),
            ("<?xml encoding=\"UTF-8\"?><a/>", "expected version in the XML declaration"),
            ("<?xml version=\"1.0\" standalone=\"maybe\"?><a/>", "standalone must be yes or no"),
            ("<?xml version=\"1.0\"encoding=\"UTF-8\"?><a/>", "expected ?> to end the XML declaration"),
            (" <?xml version=\"1.0\"?><a/>", "the XML declaration is only allowed at the very start"),
            ("<a/><?xml version=\"1.0\"?>", "the XML declaration is only allowed at the very start"),
            ("<a b=c/>", "expected a quoted attribute value"),
            ("<a b=\"1\"c=\"2\"/>", "expected white space, > or /> in the start tag of <a>"),
            ("<a b/>", "expected = after the attribute b"),
            ("<1a/>", "\"1a\" is not an XML name"),
            ("<a><![CDATA[x</a>", "the CDATA section is not closed"),
            ("<a><?pi x</a>", "the processing instruction is not closed"),
            ("<a><!ELEMENT a ANY></a>", "markup declarations are not allowed inside elements"),
            ("<a></a >", ""),
            ("<a\n\n></b>", "does not match <a> opened on line 1"),
        ]
        for (document, fragment) in cases where !fragment.isEmpty { assertXMLRefused(Array(document.utf8), fragment) }
        XCTAssertNoThrow(try XML.parse(Array("<a></a >".utf8)))
        assertXMLRefused([0x3C, 0x61, 0x3E, 0xC3, 0x28, 0x3C, 0x2F, 0x61, 0x3E], "not well-formed UTF-8")
        assertXMLRefused([0x3C, 0x61, 0x3E, 0xED, 0xA0, 0x80, 0x3C, 0x2F, 0x61, 0x3E], "not well-formed UTF-8")
        assertXMLRefused([0xFE, 0xFF, 0x00, 0x3C], "UTF-16 is not supported")
    }

    func testXMLErrorsCarryTheLine() {
        do {
            _ = try XML.parse(Array("<a>\n\n<b>\r\n</c></a>".utf8))
            XCTFail("accepted")
        } catch {
            XCTAssertEqual(error.line, 4)
            XCTAssertEqual(error.description, "line 4: the end tag </c> does not match <b> opened on line 3")
        }
        assertRefused(Self.minimal.replacingOccurrences(of: "<event>Brand</event>", with: "<event>Brand</Event>"),
                      "XML line 11: the end tag </Event> does not match <event> opened on line 11")
    }

    // MARK: Hostile documents

    func testDoctypeAndExternalEntitiesAreRefused() {
        let xxe = """
            <?xml version="1.0"?>
            <!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
            <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>
            """
        assertRefused(xxe, "XML line 2: DOCTYPE declarations are refused: this parser never reads a DTD or resolves entities")
        let external = #"<!DOCTYPE alert SYSTEM "http://attacker.example/cap.dtd"><alert/>"#
        assertRefused(external, "DOCTYPE declarations are refused")
        assertRefused(Self.minimal.replacingOccurrences(of: "</alert>", with: "</alert>\n<!DOCTYPE x>"), "DOCTYPE declarations are refused")
        assertRefused(Self.minimal.replacingOccurrences(of: "<info>", with: "<info><!DOCTYPE x>"), "DOCTYPE declarations are refused")
        // Without a DTD no entity beyond the five predefined ones exists.
        assertRefused(Self.minimal.replacingOccurrences(of: "BD-F-2024-0001", with: "&xxe;"), "undefined entity &xxe;")
    }

    func testBillionLaughsIsRefused() {
        var document = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
        for i in 1...9 {
            let previous = i == 1 ? "lol" : "lol\(i - 1)"
            document += " <!ENTITY lol\(i) \"" + String(repeating: "&\(previous);", count: 10) + "\">\n"
        }
        document += "]>\n<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><identifier>&lol9;</identifier></alert>"
        assertRefused(document, "XML line 2: DOCTYPE declarations are refused")
    }

    func testDeepNestingIsRefused() {
        func nested(_ depth: Int) -> [UInt8] {
            Array((String(repeating: "<a>", count: depth) + String(repeating: "</a>", count: depth)).utf8)
        }
        XCTAssertNoThrow(try XML.parse(nested(32)))
        assertXMLRefused(nested(33), "elements nested deeper than 32 levels")
        assertXMLRefused(nested(100_000), "elements nested deeper than 32 levels")
        let deep = Self.minimal.replacingOccurrences(of: "<event>Brand</event>",
                                                     with: "<event>" + String(repeating: "<b>", count: 50_000) + "</event>")
        assertRefused(deep, "elements nested deeper than 32 levels")
    }

    func testOversizeAndElementFloodsAreRefused() throws {
        // A document of exactly the limit is read; one byte more is not.
        let head = Self.minimal.replacingOccurrences(of: "<certainty>Observed</certainty>", with: "<certainty>Observed</certainty><description>")
        let tail = "</description>"
        let fill = CAP.maxDocumentBytes - head.utf8.count - tail.utf8.count - 0
        let largest = head.replacingOccurrences(of: "<description>", with: "<description>" + String(repeating: "x", count: fill) + tail)
        XCTAssertEqual(largest.utf8.count, CAP.maxDocumentBytes)
        XCTAssertEqual(try parse(largest).infos[0].description?.count, fill)
        assertRefused(largest + " ", "XML line 1: the document is 1048577 bytes, above the limit of 1048576")

        let codes = Self.minimal.replacingOccurrences(of: "<scope>Public</scope>",
                                                      with: "<scope>Public</scope>" + String(repeating: "<code>c</code>", count: 20_001))
        assertRefused(codes, "more than 20000 elements")
        assertXMLRefused(Array("<r><a/><a/><a/></r>".utf8), "more than 3 elements", limits: XML.Limits(maxElements: 3))
        // Many attributes and many prefixes stay linear; the CAP reader then refuses the attributes.
        let attributes = (0..<30_000).map { " a\($0)=\"\($0)\"" }.joined()
        assertRefused("<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"\(attributes)/>", "alert: the attribute a0 is not allowed")
        let prefixes = (0..<20_000).map { " xmlns:p\($0)=\"urn:\($0)\"" }.joined()
        assertRefused("<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"\(prefixes)/>", "alert: <identifier> is missing")
    }

    // MARK: Fuzzing

    /// SplitMix64: a fixed seed makes every run test the same inputs.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    func testRandomBytesAndTokenSoupNeverCrash() {
        var rng = SplitMix64(state: 0xF10_2024)
        let tokens = ["<", ">", "</", "/>", "alert", "info", "area", "polygon", " ", "\n", "=", "\"", "'", "&", ";", "#x", "#",
                      "&amp;", "&#x1F692;", "<!--", "-->", "<![CDATA[", "]]>", "<?", "?>", "<?xml version=\"1.0\"?>", "<!DOCTYPE",
                      "xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"", "xmlns:p=\"u\"", "p:", ":", "1", "-", ",", "ß", "\u{1}", "\r"]
        for _ in 0..<3_000 {
            let bytes = (0..<Int.random(in: 0...200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = CAP.validate(bytes)
            let soup = (0..<Int.random(in: 0...60, using: &rng)).map { _ in tokens.randomElement(using: &rng)! }.joined()
            _ = CAP.validate(Array(soup.utf8))
        }
    }

    /// Every cut of the Frankfurt alert and every fourth of the spec's examples (~5,000 documents).
    func testTruncatedDocumentsAreRefusedWithoutCrashing() {
        for document in Self.examples {
            let bytes = Array(document.utf8)
            let end = bytes.lastIndex(of: UInt8(ascii: ">"))!
            for n in stride(from: 0, through: end, by: document == Self.frankfurtFire ? 1 : 4) {
                if case .valid = CAP.validate(Array(bytes[..<n])) { XCTFail("a prefix of \(n) bytes was accepted") }
            }
        }
    }

    /// Single-byte changes to the Frankfurt alert: never a crash, and whatever is still accepted
    /// round-trips through the writer.
    func testMutatedDocumentsNeverCrashAndRoundTripWhenAccepted() throws {
        var rng = SplitMix64(state: 0xBD_F4)
        let original = Array(Self.frankfurtFire.utf8)
        let interesting: [UInt8] = Array("<>/&;\"'=:,.-+ \n0123456789Z".utf8) + [0x00, 0x80, 0xC3, 0xFF]
        var accepted = 0
        for _ in 0..<1_500 {
            var bytes = original
            let i = Int.random(in: 0..<bytes.count, using: &rng)
            let byte = Bool.random(using: &rng) ? interesting.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: bytes[i] = byte
            case 1: bytes.insert(byte, at: i)
            default: bytes.remove(at: i)
            }
            if case .valid(let alert) = CAP.validate(bytes) {
                accepted += 1
                XCTAssertEqual(try CAP.parse(Array(alert.xml().utf8)), alert)
            }
        }
        XCTAssertGreaterThan(accepted, 50, "the mutations also reach the model, not only the XML layer")
    }
}
