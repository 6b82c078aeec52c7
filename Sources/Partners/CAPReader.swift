/// Reads a CAP 1.2 element tree into the model under the schema (CAP-v1.2.xsd): each complex type
/// is an xs:sequence, so names, order and cardinalities are checked against one; then
/// enumerations and lexical forms. What the schema cannot say is checked on the model afterwards
/// (CAPRules.swift).
enum CAPReader {
    /// One element of an xs:sequence; `many` is maxOccurs="unbounded", otherwise at most one.
    struct Particle {
        let name: String
        let min: Int
        let many: Bool
        static func one(_ name: String) -> Particle { Particle(name: name, min: 1, many: false) }
        static func optional(_ name: String) -> Particle { Particle(name: name, min: 0, many: false) }
        static func any(_ name: String) -> Particle { Particle(name: name, min: 0, many: true) }
        static func some(_ name: String) -> Particle { Particle(name: name, min: 1, many: true) }
    }

    static let alertSequence: [Particle] = [
        .one("identifier"), .one("sender"), .one("sent"), .one("status"), .one("msgType"), .optional("source"),
        .one("scope"), .optional("restriction"), .optional("addresses"), .any("code"), .optional("note"),
        .optional("references"), .optional("incidents"), .any("info"),
    ]
    static let infoSequence: [Particle] = [
        .optional("language"), .some("category"), .one("event"), .any("responseType"), .one("urgency"),
        .one("severity"), .one("certainty"), .optional("audience"), .any("eventCode"), .optional("effective"),
        .optional("onset"), .optional("expires"), .optional("senderName"), .optional("headline"),
        .optional("description"), .optional("instruction"), .optional("web"), .optional("contact"),
        .any("parameter"), .any("resource"), .any("area"),
    ]
    static let resourceSequence: [Particle] = [
        .one("resourceDesc"), .one("mimeType"), .optional("size"), .optional("uri"), .optional("derefUri"),
        .optional("digest"),
    ]
    static let areaSequence: [Particle] = [
        .one("areaDesc"), .any("polygon"), .any("circle"), .any("geocode"), .optional("altitude"), .optional("ceiling"),
    ]
    static let namedValueSequence: [Particle] = [.one("valueName"), .one("value")]

    static let schemaInstanceNamespace = "http://www.w3.org/2001/XMLSchema-instance"

    /// An element and its path for messages, e.g. `alert/info[1]/area[2]`.
    struct Entry {
        let element: XML.Element
        let path: String
    }

    /// A complex element's children, checked against its sequence and then found by name.
    struct Children {
        private var found: [String: [Entry]] = [:]

        /// `signatures`: the sequence is followed by xs:any from the XML signature namespace
        /// (<alert> only); such elements are skipped unread.
        init(of entry: Entry, _ sequence: [Particle], signatures: Bool = false) throws(CAPError) {
            try CAPReader.checkAttributes(entry)
            let parent = entry.element.localName
            var counts = Array(repeating: 0, count: sequence.count)
            var previous: Int?
            var signed = false
            for node in entry.element.children {
                let child: XML.Element
                switch node {
                case .text(let text):
                    guard text.unicodeScalars.allSatisfy(CAPReader.isSpace) else {
                        throw CAPError("\(entry.path): text \(CAPReader.shown(text)) is not allowed in <\(parent)>")
                    }
                    continue
                case .element(let element):
                    child = element
                }
                guard child.namespace == CAP.namespace, let i = sequence.firstIndex(where: { $0.name == child.localName }) else {
                    if signatures, child.namespace == CAP.signatureNamespace { signed = true; continue }
                    let what = switch child.namespace {
                    case CAP.namespace: "no such element in <\(parent)>"
                    case let namespace?: "elements in the namespace \(namespace) are not allowed in <\(parent)>"
                    case nil: "elements in no namespace are not allowed in <\(parent)> (CAP's are in \(CAP.namespace))"
                    }
                    throw CAPError("\(entry.path)/\(child.qualifiedName): \(what)")
                }
                counts[i] += 1
                let path = sequence[i].many ? "\(entry.path)/\(child.localName)[\(counts[i])]" : "\(entry.path)/\(child.localName)"
                guard !signed else { throw CAPError("\(path): must come before the signature") }
                if let previous, i < previous {
                    throw CAPError("\(path): out of order, <\(child.localName)> must come before <\(sequence[previous].name)>")
                }
                guard sequence[i].many || counts[i] == 1 else { throw CAPError("\(path): may occur only once") }
                found[child.localName, default: []].append(Entry(element: child, path: path))
                previous = i
            }
            if let missing = sequence.indices.first(where: { counts[$0] < sequence[$0].min }) {
                throw CAPError("\(entry.path): <\(sequence[missing].name)> is missing")
            }
        }

        func one(_ name: String) -> Entry {
            guard let entry = found[name]?.first else { preconditionFailure("<\(name)> is required by its sequence") }
            return entry
        }

        func optional(_ name: String) -> Entry? { found[name]?.first }

        func all(_ name: String) -> [Entry] { found[name] ?? [] }
    }

    // MARK: Complex types

    static func alert(_ root: XML.Element) throws(CAPError) -> CAPAlert {
        let c = try Children(of: Entry(element: root, path: "alert"), alertSequence, signatures: true)
        return try CAPAlert(
            identifier: text(c.one("identifier")), sender: text(c.one("sender")), sent: dateTime(c.one("sent")),
            status: enumeration(c.one("status")), msgType: enumeration(c.one("msgType")),
            source: c.optional("source").map(text), scope: enumeration(c.one("scope")),
            restriction: c.optional("restriction").map(text), addresses: c.optional("addresses").map(quotedList) ?? [],
            codes: c.all("code").map(text), note: c.optional("note").map(text),
            references: c.optional("references").map(references) ?? [],
            incidents: c.optional("incidents").map(quotedList) ?? [], infos: c.all("info").map(info))
    }

    static func info(_ entry: Entry) throws(CAPError) -> CAPInfo {
        let c = try Children(of: entry, infoSequence)
        return try CAPInfo(
            language: c.optional("language").map(collapsedText), categories: c.all("category").map(enumeration),
            event: text(c.one("event")), responseTypes: c.all("responseType").map(enumeration),
            urgency: enumeration(c.one("urgency")), severity: enumeration(c.one("severity")),
            certainty: enumeration(c.one("certainty")), audience: c.optional("audience").map(text),
            eventCodes: c.all("eventCode").map(namedValue), effective: c.optional("effective").map(dateTime),
            onset: c.optional("onset").map(dateTime), expires: c.optional("expires").map(dateTime),
            senderName: c.optional("senderName").map(text), headline: c.optional("headline").map(text),
            description: c.optional("description").map(text), instruction: c.optional("instruction").map(text),
            web: c.optional("web").map(collapsedText), contact: c.optional("contact").map(text),
            parameters: c.all("parameter").map(namedValue), resources: c.all("resource").map(resource),
            areas: c.all("area").map(area))
    }

    static func resource(_ entry: Entry) throws(CAPError) -> CAPResource {
        let c = try Children(of: entry, resourceSequence)
        return try CAPResource(
            resourceDesc: text(c.one("resourceDesc")), mimeType: text(c.one("mimeType")),
            size: c.optional("size").map(size), uri: c.optional("uri").map(collapsedText),
            derefUri: c.optional("derefUri").map(text), digest: c.optional("digest").map(text))
    }

    static func area(_ entry: Entry) throws(CAPError) -> CAPArea {
        let c = try Children(of: entry, areaSequence)
        return try CAPArea(
            areaDesc: text(c.one("areaDesc")), polygons: c.all("polygon").map(polygon), circles: c.all("circle").map(circle),
            geocodes: c.all("geocode").map(namedValue), altitude: c.optional("altitude").map(decimal),
            ceiling: c.optional("ceiling").map(decimal))
    }

    static func namedValue(_ entry: Entry) throws(CAPError) -> CAPNamedValue {
        let c = try Children(of: entry, namedValueSequence)
        return try CAPNamedValue(valueName: text(c.one("valueName")), value: text(c.one("value")))
    }

    // MARK: Simple types

    /// The schema declares no attributes on CAP elements. Only xsi:schemaLocation and
    /// xsi:noNamespaceSchemaLocation, which schema validators accept anywhere, may appear.
    static func checkAttributes(_ entry: Entry) throws(CAPError) {
        for a in entry.element.attributes
        where a.namespace != schemaInstanceNamespace || !["schemaLocation", "noNamespaceSchemaLocation"].contains(a.localName) {
            throw CAPError("\(entry.path): the attribute \(a.qualifiedName) is not allowed")
        }
    }

    /// An xs:string element's text, as it stands (whiteSpace="preserve").
    static func text(_ entry: Entry) throws(CAPError) -> String {
        try checkAttributes(entry)
        if let child = entry.element.elements.first {
            throw CAPError("\(entry.path): must hold text only, not <\(child.qualifiedName)>")
        }
        return entry.element.text
    }

    /// The text with whiteSpace="collapse", as xs:language, xs:anyURI, xs:dateTime, xs:decimal and
    /// xs:integer have it: runs of white space become one space, none at either end.
    static func collapsedText(_ entry: Entry) throws(CAPError) -> String {
        words(try text(entry)).joined(separator: " ")
    }

    /// One of the schema's enumerated values, exactly (they restrict xs:string: no white space
    /// around them).
    static func enumeration<E: RawRepresentable & CaseIterable>(_ entry: Entry) throws(CAPError) -> E where E.RawValue == String {
        let value = try text(entry)
        guard let e = E(rawValue: value) else {
            throw CAPError("\(entry.path): \(shown(value)) is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return e
    }

    static func dateTime(_ entry: Entry) throws(CAPError) -> CAPDateTime {
        let value = try collapsedText(entry)
        do throws(CAPError) {
            return try CAPDateTime(value)
        } catch {
            throw CAPError("\(entry.path): \(error.reason)")
        }
    }

    /// xs:decimal: an optional sign, digits with an optional fraction; no exponent, no INF or NaN.
    static func decimal(_ entry: Entry) throws(CAPError) -> Double {
        let value = try collapsedText(entry)
        guard let d = decimal(value[...]) else { throw CAPError("\(entry.path): \(shown(value)) is not a decimal number") }
        return d
    }

    static func decimal(_ s: Substring) -> Double? {
        var u = s.utf8[...]
        if let sign = u.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { u = u.dropFirst() }
        let dot = u.firstIndex(of: UInt8(ascii: "."))
        let whole = u[..<(dot ?? u.endIndex)], fraction = dot.map { u[u.index(after: $0)...] } ?? u[u.endIndex...]
        let isDigit = { (c: UInt8) in (0x30...0x39).contains(c) }
        guard whole.count + fraction.count > 0, whole.allSatisfy(isDigit), fraction.allSatisfy(isDigit),
              let d = Double(String(s)), d.isFinite else { return nil }
        return d
    }

    /// §3.2.3 size: a non-negative xs:integer that fits an Int.
    static func size(_ entry: Entry) throws(CAPError) -> Int {
        let value = try collapsedText(entry)
        let digits = value.hasPrefix("+") ? value.dropFirst() : value[...]
        guard !digits.isEmpty, digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
            throw CAPError("\(entry.path): \(shown(value)) is not a non-negative integer")
        }
        guard let n = Int(digits) else { throw CAPError("\(entry.path): \(shown(value)) is too large") }
        return n
    }

    /// "lat,lon", WGS 84 decimal degrees.
    static func point(_ s: Substring) -> CAPPoint? {
        let parts = s.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 2, let latitude = decimal(parts[0]), let longitude = decimal(parts[1]) else { return nil }
        return CAPPoint(latitude: latitude, longitude: longitude)
    }

    /// §3.2.4 polygon: white-space-separated points. Their number, range and closure are rules.
    static func polygon(_ entry: Entry) throws(CAPError) -> CAPPolygon {
        var points: [CAPPoint] = []
        for pair in words(try text(entry)) {
            guard let p = point(pair) else { throw CAPError("\(entry.path): \(shown(pair)) is not a \"lat,lon\" pair") }
            points.append(p)
        }
        return CAPPolygon(points)
    }

    /// §3.2.4 circle: "lat,lon radius", the radius in kilometres.
    static func circle(_ entry: Entry) throws(CAPError) -> CAPCircle {
        let value = try text(entry)
        let parts = words(value)
        guard parts.count == 2, let center = point(parts[0]), let radius = decimal(parts[1]) else {
            throw CAPError("\(entry.path): \(shown(value)) is not \"lat,lon radius\"")
        }
        return CAPCircle(center: center, radius: radius)
    }

    /// §3.2.1 references: white-space-separated "sender,identifier,sent" triples.
    static func references(_ entry: Entry) throws(CAPError) -> [CAPReference] {
        var references: [CAPReference] = []
        for word in words(try text(entry)) {
            let parts = word.split(separator: ",", omittingEmptySubsequences: false)
            guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw CAPError("\(entry.path): \(shown(word)) is not \"sender,identifier,sent\"")
            }
            do throws(CAPError) {
                let sent = try CAPDateTime(String(parts[2]))
                references.append(CAPReference(sender: String(parts[0]), identifier: String(parts[1]), sent: sent))
            } catch {
                throw CAPError("\(entry.path): \(error.reason)")
            }
        }
        return references
    }

    /// §3.2.1 addresses and incidents: space-separated items, an item holding white space in
    /// double quotes.
    static func quotedList(_ entry: Entry) throws(CAPError) -> [String] {
        let scalars = Array(try text(entry).unicodeScalars)
        var items: [String] = []
        var i = 0
        while i < scalars.count {
            if isSpace(scalars[i]) { i += 1; continue }
            var item = String.UnicodeScalarView()
            if scalars[i] == "\"" {
                i += 1
                while i < scalars.count, scalars[i] != "\"" { item.append(scalars[i]); i += 1 }
                guard i < scalars.count else { throw CAPError("\(entry.path): a double quote is not closed") }
                i += 1
                guard i == scalars.count || isSpace(scalars[i]) else { throw CAPError("\(entry.path): a closing double quote must be followed by a space") }
                guard !item.isEmpty else { throw CAPError("\(entry.path): an empty quoted item") }
            } else {
                while i < scalars.count, !isSpace(scalars[i]) {
                    guard scalars[i] != "\"" else { throw CAPError("\(entry.path): a double quote inside an item") }
                    item.append(scalars[i])
                    i += 1
                }
            }
            items.append(String(item))
        }
        return items
    }

    // MARK: Helpers

    /// XML white space (after line-end normalisation there is no CR).
    static func isSpace(_ u: Unicode.Scalar) -> Bool { u == " " || u == "\t" || u == "\n" || u == "\r" }

    static func words(_ s: String) -> [Substring] {
        s.split(whereSeparator: { $0.unicodeScalars.allSatisfy(isSpace) })
    }

    /// A value quoted for a message, cut at 40 characters so a hostile document cannot flood the log.
    static func shown(_ s: some StringProtocol) -> String {
        s.count > 40 ? "\"\(s.prefix(40))…\"" : "\"\(s)\""
    }
}
