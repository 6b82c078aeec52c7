extension CAPAlert {
    /// The alert as canonical CAP 1.2 XML: the UTF-8 declaration, the CAP 1.2 default namespace,
    /// elements in the schema's order indented by two spaces, text escaped ("&", "<", ">" and CR
    /// as a character reference, so that it survives line-end normalisation). Numbers are written
    /// as plain decimals, times with "-00:00" for UTC, lists space-separated.
    /// `CAP.parse(Array(alert.xml().utf8)) == alert` for every alert that passes `check()`.
    public func xml() -> String {
        var w = CAPWriter()
        w.out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        w.open("alert", attributes: " xmlns=\"\(CAP.namespace)\"")
        w.leaf("identifier", identifier)
        w.leaf("sender", sender)
        w.leaf("sent", sent.description)
        w.leaf("status", status.rawValue)
        w.leaf("msgType", msgType.rawValue)
        w.leaf("source", source)
        w.leaf("scope", scope.rawValue)
        w.leaf("restriction", restriction)
        w.leaf("addresses", CAPWriter.quotedList(addresses))
        for code in codes { w.leaf("code", code) }
        w.leaf("note", note)
        w.leaf("references", references.isEmpty ? nil : references.map { "\($0.sender),\($0.identifier),\($0.sent)" }.joined(separator: " "))
        w.leaf("incidents", CAPWriter.quotedList(incidents))
        for info in infos { w.write(info) }
        w.close("alert")
        return w.out
    }
}

struct CAPWriter {
    var out = ""
    var depth = 0

    mutating func open(_ name: String, attributes: String = "") {
        out += String(repeating: "  ", count: depth) + "<\(name)\(attributes)>\n"
        depth += 1
    }

    mutating func close(_ name: String) {
        depth -= 1
        out += String(repeating: "  ", count: depth) + "</\(name)>\n"
    }

    mutating func leaf(_ name: String, _ text: String?) {
        guard let text else { return }
        out += String(repeating: "  ", count: depth) + "<\(name)>\(Self.escaped(text))</\(name)>\n"
    }

    mutating func write(_ info: CAPInfo) {
        open("info")
        leaf("language", info.language)
        for category in info.categories { leaf("category", category.rawValue) }
        leaf("event", info.event)
        for responseType in info.responseTypes { leaf("responseType", responseType.rawValue) }
        leaf("urgency", info.urgency.rawValue)
        leaf("severity", info.severity.rawValue)
        leaf("certainty", info.certainty.rawValue)
        leaf("audience", info.audience)
        for code in info.eventCodes { write(code, as: "eventCode") }
        leaf("effective", info.effective?.description)
        leaf("onset", info.onset?.description)
        leaf("expires", info.expires?.description)
        leaf("senderName", info.senderName)
        leaf("headline", info.headline)
        leaf("description", info.description)
        leaf("instruction", info.instruction)
        leaf("web", info.web)
        leaf("contact", info.contact)
        for parameter in info.parameters { write(parameter, as: "parameter") }
        for resource in info.resources {
            open("resource")
            leaf("resourceDesc", resource.resourceDesc)
            leaf("mimeType", resource.mimeType)
            leaf("size", resource.size.map { String($0) })
            leaf("uri", resource.uri)
            leaf("derefUri", resource.derefUri)
            leaf("digest", resource.digest)
            close("resource")
        }
        for area in info.areas {
            open("area")
            leaf("areaDesc", area.areaDesc)
            for polygon in area.polygons { leaf("polygon", polygon.points.map(Self.point).joined(separator: " ")) }
            for circle in area.circles { leaf("circle", "\(Self.point(circle.center)) \(Self.decimal(circle.radius))") }
            for geocode in area.geocodes { write(geocode, as: "geocode") }
            leaf("altitude", area.altitude.map(Self.decimal))
            leaf("ceiling", area.ceiling.map(Self.decimal))
            close("area")
        }
        close("info")
    }

    mutating func write(_ value: CAPNamedValue, as name: String) {
        open(name)
        leaf("valueName", value.valueName)
        leaf("value", value.value)
        close(name)
    }

    static func escaped(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\r": out += "&#13;"
            default: out.unicodeScalars.append(u)
            }
        }
        return out
    }

    /// Items separated by spaces, an item holding white space in double quotes; nil for none.
    static func quotedList(_ items: [String]) -> String? {
        guard !items.isEmpty else { return nil }
        return items.map { $0.unicodeScalars.contains(where: CAPReader.isSpace) ? "\"\($0)\"" : $0 }.joined(separator: " ")
    }

    static func point(_ p: CAPPoint) -> String { "\(decimal(p.latitude)),\(decimal(p.longitude))" }

    /// The shortest digits that read back as the same Double, as a plain xs:decimal: Swift's
    /// description switches to exponent form below 1e-4 and from 2^53, which xs:decimal lacks.
    static func decimal(_ x: Double) -> String {
        var s = "\(x)"
        if s.hasSuffix(".0") { s.removeLast(2) }
        guard let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }), let exponent = Int(s[s.index(after: e)...]) else { return s }
        var mantissa = s[..<e]
        let negative = mantissa.hasPrefix("-")
        if negative { mantissa = mantissa.dropFirst() }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        var digits = String(parts[0]) + (parts.count > 1 ? String(parts[1]) : "")
        var point = parts[0].count + exponent
        if point <= 0 {
            digits = String(repeating: "0", count: 1 - point) + digits
            point = 1
        }
        if digits.count < point { digits += String(repeating: "0", count: point - digits.count) }
        var fraction = digits.dropFirst(point)
        while fraction.last == "0" { fraction = fraction.dropLast() }
        return (negative ? "-" : "") + digits.prefix(point) + (fraction.isEmpty ? "" : "." + fraction)
    }
}
