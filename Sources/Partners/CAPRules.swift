/// The rules of CAP 1.2 beyond its schema, checked on the model so that an alert we compose is held
/// to them as much as one we read.
extension CAPAlert {
    /// Throws the first rule this alert breaks, naming the element path:
    /// - identifier, sender and the references' parts are not empty and contain no white space,
    ///   commas, "<" or "&" (§3.2.1);
    /// - restriction is required when scope is Restricted, addresses when scope is Private;
    /// - references are required when msgType is Update, Cancel, Ack or Error. The spec defines
    ///   these four as acting on "the earlier message(s) identified in <references>"; that they
    ///   need references is our reading of it;
    /// - address and incident items are not empty and contain no double quote (they could not be
    ///   written);
    /// - per info: at least one category; language an xs:language tag;
    /// - per resource: size not negative;
    /// - per area: a polygon has at least 4 points and its first equals its last; latitudes
    ///   within -90…90, longitudes within -180…180; a circle's radius finite and not negative;
    ///   altitude and ceiling finite, ceiling only with altitude (§3.2.4);
    /// - web and resource URIs as xs:anyURI reads them: no white space at either end or in runs;
    /// - all text is made of characters XML can carry (anything read from XML is).
    public func check() throws(CAPError) {
        try checkRules()
        if let bad = xml().unicodeScalars.first(where: { !XML.isChar($0.value) }) {
            throw CAPError("alert: the text contains \(XML.codePoint(bad.value)), which XML cannot carry")
        }
    }

    /// `check()` less the character test, which text read from XML passes by construction.
    func checkRules() throws(CAPError) {
        try Self.checkIdentifier(identifier, "alert/identifier")
        try Self.checkIdentifier(sender, "alert/sender")
        if scope == .restricted, Self.isBlank(restriction) {
            throw CAPError("alert/restriction: required when scope is Restricted")
        }
        if scope == .private, addresses.isEmpty { throw CAPError("alert/addresses: required when scope is Private") }
        try Self.checkItems(addresses, "alert/addresses")
        if msgType != .alert, references.isEmpty {
            throw CAPError("alert/references: required when msgType is \(msgType.rawValue)")
        }
        for reference in references {
            try Self.checkIdentifier(reference.sender, "alert/references")
            try Self.checkIdentifier(reference.identifier, "alert/references")
        }
        try Self.checkItems(incidents, "alert/incidents")
        for (i, info) in infos.enumerated() { try info.check("alert/info[\(i + 1)]") }
    }

    static func checkIdentifier(_ s: String, _ path: String) throws(CAPError) {
        guard !s.isEmpty else { throw CAPError("\(path): empty") }
        if s.unicodeScalars.contains(where: { CAPReader.isSpace($0) || $0 == "," || $0 == "<" || $0 == "&" }) {
            throw CAPError("\(path): \(CAPReader.shown(s)) must not contain spaces, commas, \"<\" or \"&\"")
        }
    }

    static func checkItems(_ items: [String], _ path: String) throws(CAPError) {
        for item in items where item.isEmpty || item.contains("\"") {
            throw CAPError("\(path): the item \(CAPReader.shown(item)) is empty or contains a double quote")
        }
    }

    static func isBlank(_ s: String?) -> Bool { s?.unicodeScalars.allSatisfy(CAPReader.isSpace) ?? true }
}

extension CAPInfo {
    func check(_ path: String) throws(CAPError) {
        if let language, !Self.isLanguageTag(language) {
            throw CAPError("\(path)/language: \(CAPReader.shown(language)) is not a language tag")
        }
        if categories.isEmpty { throw CAPError("\(path): <category> is missing") }
        let uris = [("web", web)] + resources.enumerated().map { ("resource[\($0.offset + 1)]/uri", $0.element.uri) }
        for case let (name, uri?) in uris where CAPReader.words(uri).joined(separator: " ") != uri {
            throw CAPError("\(path)/\(name): \(CAPReader.shown(uri)) has white space at an end or in a run, which xs:anyURI collapses")
        }
        for (i, resource) in resources.enumerated() {
            if let size = resource.size, size < 0 {
                throw CAPError("\(path)/resource[\(i + 1)]/size: \(size) is not a non-negative integer")
            }
        }
        for (i, area) in areas.enumerated() { try area.check("\(path)/area[\(i + 1)]") }
    }

    /// xs:language: `[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*` (RFC 3066).
    static func isLanguageTag(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        return parts.enumerated().allSatisfy { i, part in
            (1...8).contains(part.utf8.count)
                && part.utf8.allSatisfy { (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || (i > 0 && (0x30...0x39).contains($0)) }
        }
    }
}

extension CAPArea {
    func check(_ path: String) throws(CAPError) {
        for (i, polygon) in polygons.enumerated() {
            let at = "\(path)/polygon[\(i + 1)]"
            let points = polygon.points
            guard points.count >= 4 else { throw CAPError("\(at): \(points.count) points, a polygon needs at least 4") }
            for point in points { try point.check(at) }
            guard points.first == points.last else { throw CAPError("\(at): first and last point differ") }
        }
        for (i, circle) in circles.enumerated() {
            let at = "\(path)/circle[\(i + 1)]"
            try circle.center.check(at)
            guard circle.radius.isFinite, circle.radius >= 0 else { throw CAPError("\(at): the radius \(circle.radius) is not 0 km or more") }
        }
        for (name, value) in [("altitude", altitude), ("ceiling", ceiling)] {
            if let value, !value.isFinite { throw CAPError("\(path)/\(name): \(value) is not a number of feet") }
        }
        if ceiling != nil, altitude == nil { throw CAPError("\(path)/ceiling: only allowed together with <altitude>") }
    }
}

extension CAPPoint {
    func check(_ path: String) throws(CAPError) {
        guard (-90...90).contains(latitude) else { throw CAPError("\(path): the latitude \(latitude) is outside -90…90") }
        guard (-180...180).contains(longitude) else { throw CAPError("\(path): the longitude \(longitude) is outside -180…180") }
    }
}
