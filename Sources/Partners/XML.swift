/// A strict, non-validating parser for XML 1.0 (Fifth Edition) with Namespaces in XML 1.0 (Third
/// Edition), for the documents partners send us (CAP 1.2). It is our own rather than Foundation's
/// XMLParser (libxml2) so that what is accepted is exactly what this file says:
/// - UTF-8 only: an optional byte order mark; an encoding declaration must name UTF-8. Every
///   character must be an XML `Char` (§2.2).
/// - No DOCTYPE, anywhere. The parser never reads a DTD, never resolves an external entity and
///   knows only the five predefined entities and character references, so external-entity (XXE)
///   and entity-expansion ("billion laughs") attacks have nothing to work with.
/// - Processing instructions other than the XML declaration are checked for form and skipped:
///   feeds carry `<?xml-stylesheet …?>`, and nothing we read depends on one.
/// - Limits on document size (checked before anything else), nesting depth and element count.
///   The work is linear in the document: one pass, an explicit stack instead of recursion,
///   namespace lookups bounded by the depth limit.
/// Line ends are normalised to LF (§2.11) and attribute values as CDATA (§3.3.3): without a DTD
/// no attribute has another type.
enum XML {
    /// What a document may cost: its size in bytes, the depth of its elements, their number.
    struct Limits: Sendable {
        var maxBytes = 1 << 20
        var maxDepth = 32
        var maxElements = 20_000
    }

    struct Element: Equatable, Sendable {
        /// nil: the element is in no namespace.
        var namespace: String?
        var localName: String
        /// The name as written, with its prefix; for messages.
        var qualifiedName: String
        /// The attributes other than namespace declarations.
        var attributes: [Attribute]
        /// Text and elements in document order; comments and processing instructions are gone and
        /// the text on either side of one is a single node.
        var children: [Node]
        /// The line of the start tag, from 1.
        var line: Int

        var elements: [Element] {
            children.compactMap { if case .element(let e) = $0 { return e }; return nil }
        }

        /// This element's own character data (not its descendants').
        var text: String {
            children.reduce(into: "") { if case .text(let t) = $1 { $0 += t } }
        }
    }

    struct Attribute: Equatable, Sendable {
        /// nil for an unprefixed attribute: the default namespace does not apply to attributes.
        var namespace: String?
        var localName: String
        var qualifiedName: String
        var value: String
    }

    enum Node: Equatable, Sendable {
        case element(Element)
        case text(String)
    }

    static let xmlNamespace = "http://www.w3.org/XML/1998/namespace"
    static let xmlnsNamespace = "http://www.w3.org/2000/xmlns/"

    /// The root element of `bytes`, or the first reason the document is refused.
    static func parse(_ bytes: [UInt8], limits: Limits = Limits()) throws(XMLError) -> Element {
        guard bytes.count <= limits.maxBytes else {
            throw XMLError(line: 1, "the document is \(bytes.count) bytes, above the limit of \(limits.maxBytes)")
        }
        // §2.11: CR LF and a lone CR become LF. 0x0D never occurs inside a multi-byte sequence.
        var normalized = [UInt8]()
        normalized.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x0D {
                normalized.append(0x0A)
                if i + 1 < bytes.count, bytes[i + 1] == 0x0A { i += 1 }
            } else {
                normalized.append(bytes[i])
            }
            i += 1
        }
        // The reader works on the buffer in place (no retain per byte); it lives only inside this call.
        return try normalized.withUnsafeBufferPointer { (buffer) throws(XMLError) -> Element in
            var reader = try Reader(buffer, limits: limits)
            return try reader.document()
        }
    }

    /// §2.2 `Char`.
    static func isChar(_ v: UInt32) -> Bool {
        v == 0x9 || v == 0xA || v == 0xD || (0x20...0xD7FF).contains(v) || (0xE000...0xFFFD).contains(v)
            || (0x10000...0x10FFFF).contains(v)
    }

    /// §2.3 `NameStartChar`.
    static func isNameStart(_ v: UInt32) -> Bool {
        switch v {
        case 0x3A, 0x41...0x5A, 0x5F, 0x61...0x7A, 0xC0...0xD6, 0xD8...0xF6, 0xF8...0x2FF, 0x370...0x37D,
             0x37F...0x1FFF, 0x200C...0x200D, 0x2070...0x218F, 0x2C00...0x2FEF, 0x3001...0xD7FF,
             0xF900...0xFDCF, 0xFDF0...0xFFFD, 0x10000...0xEFFFF:
            return true
        default:
            return false
        }
    }

    /// §2.3 `NameChar`.
    static func isNameChar(_ v: UInt32) -> Bool {
        isNameStart(v) || v == 0x2D || v == 0x2E || (0x30...0x39).contains(v) || v == 0xB7
            || (0x300...0x36F).contains(v) || (0x203F...0x2040).contains(v)
    }

    /// Namespaces §3 `NCName`: a Name without colons.
    static func isNCName(_ s: some StringProtocol) -> Bool {
        guard let first = s.unicodeScalars.first, first != ":", isNameStart(first.value) else { return false }
        return s.unicodeScalars.allSatisfy { $0 != ":" && isNameChar($0.value) }
    }

    /// "U+0001" for messages.
    static func codePoint(_ v: UInt32) -> String {
        let hex = String(v, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}

/// Why a document was refused, at which line (from 1).
struct XMLError: Error, Equatable, Sendable, CustomStringConvertible {
    var line: Int
    var reason: String
    init(line: Int, _ reason: String) { self.line = line; self.reason = reason }
    var description: String { "line \(line): \(reason)" }
}

extension XML {
    private struct Reader {
        /// An element whose end tag has not been read yet.
        struct Open {
            var element: Element
            /// Prefixes declared on this element ("" for the default namespace; the URI "" undeclares it).
            var bindings: [String: String]
            /// Character data since the last child element, not yet a node.
            var text: [UInt8] = []
        }

        let b: UnsafeBufferPointer<UInt8>
        let limits: Limits
        var p = 0
        var stack: [Open] = []
        var elementCount = 0
        /// The last position whose line was counted, so that counting lines stays linear.
        var lineMark = (position: 0, line: 1)

        /// `bytes` has its line ends normalised already.
        init(_ bytes: UnsafeBufferPointer<UInt8>, limits: Limits) throws(XMLError) {
            b = bytes
            self.limits = limits
            if b.starts(with: [0xFE, 0xFF]) || b.starts(with: [0xFF, 0xFE]) {
                throw XMLError(line: 1, "UTF-16 is not supported: documents must be UTF-8")
            }
            try checkCharacters()
            if b.starts(with: [0xEF, 0xBB, 0xBF]) { p = 3 }
        }

        /// The whole document is well-formed UTF-8 and every character a `Char` (§2.2), so that
        /// the rest can work on bytes and decode any slice between markup without loss.
        func checkCharacters() throws(XMLError) {
            var line = 1
            var i = 0
            while i < b.count {
                let c = b[i]
                if c < 0x80 {  // ASCII, the bulk of any document: no decoding
                    if c == 0x0A { line += 1 } else if c < 0x20, c != 0x09, c != 0x0D {
                        throw XMLError(line: line, "the character \(XML.codePoint(UInt32(c))) is not allowed in XML")
                    }
                    i += 1
                    continue
                }
                var decoder = UTF8()
                var iterator = b[i..<min(i + 4, b.count)].makeIterator()
                guard case .scalarValue(let s) = decoder.decode(&iterator) else {
                    throw XMLError(line: line, "the document is not well-formed UTF-8")
                }
                guard XML.isChar(s.value) else {
                    throw XMLError(line: line, "the character \(XML.codePoint(s.value)) is not allowed in XML")
                }
                i += UTF8.width(s)
            }
        }

        mutating func line(at position: Int) -> Int {
            let position = min(position, b.count)
            if position < lineMark.position { lineMark = (0, 1) }
            var line = lineMark.line
            for i in lineMark.position..<position where b[i] == 0x0A { line += 1 }
            lineMark = (position, line)
            return line
        }

        mutating func fail(_ reason: String, at position: Int? = nil) -> XMLError {
            XMLError(line: line(at: position ?? p), reason)
        }

        mutating func doctypeRefused() -> XMLError {
            fail("DOCTYPE declarations are refused: this parser never reads a DTD or resolves entities")
        }

        func at(_ s: String) -> Bool {
            var i = p
            for c in s.utf8 {
                guard i < b.count, b[i] == c else { return false }
                i += 1
            }
            return true
        }

        static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }

        @discardableResult
        mutating func skipSpace() -> Bool {
            let start = p
            while p < b.count, Self.isSpace(b[p]) { p += 1 }
            return p > start
        }

        mutating func expect(_ s: String, _ what: String) throws(XMLError) {
            guard at(s) else { throw fail("expected \(what)") }
            p += s.utf8.count
        }

        /// A `Name` (§2.3): scanned bytewise, then checked character by character.
        mutating func name(_ what: String) throws(XMLError) -> String {
            let start = p
            while p < b.count, Self.isNameByte(b[p]) { p += 1 }
            guard p > start else { throw fail("expected \(what)") }
            let s = String(decoding: b[start..<p], as: UTF8.self)
            // The bytes scanned are NameChars when ASCII; only the first and any non-ASCII need a look.
            let first = b[start]
            let valid = first < 0x80 && !b[start..<p].contains(where: { $0 >= 0x80 })
                ? !(0x30...0x39).contains(first) && first != 0x2D && first != 0x2E
                : s.unicodeScalars.enumerated().allSatisfy { i, u in i == 0 ? XML.isNameStart(u.value) : XML.isNameChar(u.value) }
            guard valid else { throw fail("\"\(s)\" is not an XML name", at: start) }
            return s
        }

        static func isNameByte(_ c: UInt8) -> Bool {
            c >= 0x80 || (0x61...0x7A).contains(c) || (0x41...0x5A).contains(c) || (0x30...0x39).contains(c)
                || c == 0x5F || c == 0x3A || c == 0x2D || c == 0x2E
        }

        // MARK: Document structure (§2.1, §2.8)

        mutating func document() throws(XMLError) -> Element {
            if at("<?xml"), p + 5 < b.count, Self.isSpace(b[p + 5]) { try declaration() }
            try misc(afterRoot: false)
            guard p < b.count else { throw fail("the document has no root element") }
            let root = try rootElement()
            try misc(afterRoot: true)
            return root
        }

        /// White space, comments and processing instructions around the root element (`Misc`).
        mutating func misc(afterRoot: Bool) throws(XMLError) {
            while true {
                skipSpace()
                guard p < b.count else { return }
                if at("<!--") {
                    try comment()
                } else if at("<!DOCTYPE") {
                    throw doctypeRefused()
                } else if at("<?") {
                    try processingInstruction()
                } else if b[p] == UInt8(ascii: "<") {
                    if afterRoot { throw fail("a second root element: a document has exactly one") }
                    return
                } else {
                    throw fail(afterRoot ? "text after the root element" : "text before the root element")
                }
            }
        }

        /// The XML declaration (§2.8): version 1.0; an encoding, if named, UTF-8; standalone yes or no.
        mutating func declaration() throws(XMLError) {
            p += 5
            skipSpace()
            try expect("version", "version in the XML declaration")
            let version = try declarationValue()
            guard version == "1.0" else { throw fail("XML version \(version) is not supported, only 1.0") }
            var spaced = skipSpace()
            if spaced, at("encoding") {
                p += 8
                let encoding = try declarationValue()
                guard encoding.lowercased() == "utf-8" else {
                    throw fail("the encoding \(encoding) is not supported: documents must be UTF-8")
                }
                spaced = skipSpace()
            }
            if spaced, at("standalone") {
                p += 10
                let standalone = try declarationValue()
                guard standalone == "yes" || standalone == "no" else { throw fail("standalone must be yes or no") }
                skipSpace()
            }
            try expect("?>", "?> to end the XML declaration")
        }

        /// `Eq` and a quoted value of the declaration; all of them are made of [A-Za-z0-9._-].
        mutating func declarationValue() throws(XMLError) -> String {
            skipSpace()
            try expect("=", "= in the XML declaration")
            skipSpace()
            guard p < b.count, b[p] == 0x22 || b[p] == 0x27 else { throw fail("expected a quoted value in the XML declaration") }
            let quote = b[p]
            p += 1
            let start = p
            while p < b.count, b[p] != quote, Self.isNameByte(b[p]), b[p] < 0x80, b[p] != 0x3A { p += 1 }
            guard p < b.count, b[p] == quote else { throw fail("malformed value in the XML declaration") }
            p += 1
            return String(decoding: b[start..<p - 1], as: UTF8.self)
        }

        /// §2.5; "--" must not occur inside a comment.
        mutating func comment() throws(XMLError) {
            let start = p
            p += 4
            while p + 2 < b.count {
                if b[p] == 0x2D, b[p + 1] == 0x2D {
                    guard b[p + 2] == 0x3E else { throw fail("\"--\" inside a comment") }
                    p += 3
                    return
                }
                p += 1
            }
            throw fail("the comment is not closed", at: start)
        }

        /// §2.6: checked and skipped. The target "xml" is reserved for the declaration, which may
        /// only stand at the very start.
        mutating func processingInstruction() throws(XMLError) {
            let start = p
            p += 2
            let target = try name("a processing instruction target")
            guard target.lowercased() != "xml" else {
                throw fail("the XML declaration is only allowed at the very start of the document", at: start)
            }
            if at("?>") { p += 2; return }
            guard skipSpace() else { throw fail("expected white space after the processing instruction target") }
            while p + 1 < b.count {
                if b[p] == 0x3F, b[p + 1] == 0x3E { p += 2; return }
                p += 1
            }
            throw fail("the processing instruction is not closed", at: start)
        }

        // MARK: Elements and content (§3, §2.4, §2.7, §4.1)

        mutating func rootElement() throws(XMLError) -> Element {
            var root: Element?
            try startTag(&root)
            // The top is read by index, never held in a variable: a copy would make every append
            // to its children copy them (copy-on-write), which is quadratic in the siblings.
            while !stack.isEmpty {
                guard p < b.count else {
                    let open = stack[stack.count - 1].element
                    throw fail("the document ends inside <\(open.qualifiedName)> opened on line \(open.line)")
                }
                switch b[p] {
                case 0x3C:
                    switch p + 1 < b.count ? b[p + 1] : 0 {
                    case 0x2F:
                        try endTag(&root)
                    case 0x21:
                        if at("<!--") {
                            try comment()
                        } else if at("<![CDATA[") {
                            try cdata()
                        } else if at("<!DOCTYPE") {
                            throw doctypeRefused()
                        } else {
                            throw fail("markup declarations are not allowed inside elements")
                        }
                    case 0x3F:
                        try processingInstruction()
                    default:
                        flushText()
                        try startTag(&root)
                    }
                case 0x26:
                    let scalar = try reference()
                    stack[stack.count - 1].text.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    try characterData()
                }
            }
            guard let root else { preconditionFailure("the stack empties only when the root element ends") }
            return root
        }

        mutating func startTag(_ root: inout Element?) throws(XMLError) {
            let start = p
            let line = line(at: p)
            p += 1
            let qname = try name("an element name")
            var raw: [(name: String, value: String)] = []
            var seen = Set<String>()
            var empty = false
            while true {
                let spaced = skipSpace()
                guard p < b.count else { throw fail("the document ends inside the start tag of <\(qname)>", at: start) }
                if b[p] == 0x3E { p += 1; break }
                if at("/>") { p += 2; empty = true; break }
                guard spaced else { throw fail("expected white space, > or /> in the start tag of <\(qname)>") }
                let attribute = try name("an attribute name")
                skipSpace()
                try expect("=", "= after the attribute \(attribute)")
                skipSpace()
                let value = try attributeValue()
                guard seen.insert(attribute).inserted else { throw fail("the attribute \(attribute) occurs twice in <\(qname)>", at: start) }
                raw.append((attribute, value))
            }
            elementCount += 1
            guard elementCount <= limits.maxElements else { throw fail("more than \(limits.maxElements) elements", at: start) }
            guard stack.count < limits.maxDepth else { throw fail("elements nested deeper than \(limits.maxDepth) levels", at: start) }

            // Namespaces in XML 1.0 §3: declarations first, then the names they qualify.
            var bindings: [String: String] = [:]
            for (name, value) in raw {
                let prefix: String
                if name == "xmlns" {
                    prefix = ""
                } else if name.hasPrefix("xmlns:") {
                    prefix = String(name.dropFirst(6))
                    guard XML.isNCName(prefix) else { throw fail("\(name) does not declare a valid prefix", at: start) }
                    guard prefix != "xmlns" else { throw fail("the prefix xmlns must not be declared", at: start) }
                    guard !value.isEmpty else { throw fail("\(name)=\"\" is not allowed: a prefix cannot be undeclared", at: start) }
                    guard (prefix == "xml") == (value == XML.xmlNamespace) else {
                        throw fail("only the prefix xml is bound to \(XML.xmlNamespace), and only to it", at: start)
                    }
                } else {
                    continue
                }
                guard value != XML.xmlnsNamespace, prefix == "xml" || value != XML.xmlNamespace else {
                    throw fail("\(value) must not be declared as a namespace", at: start)
                }
                bindings[prefix] = value
            }
            let (namespace, localName) = try resolve(qname, bindings, isElement: true, at: start)
            var attributes: [Attribute] = []
            var expanded = Set<String>()
            for (name, value) in raw where name != "xmlns" && !name.hasPrefix("xmlns:") {
                let (ns, local) = try resolve(name, bindings, isElement: false, at: start)
                guard expanded.insert("{\(ns ?? "")}\(local)").inserted else {
                    throw fail("the attribute \(name) occurs twice in <\(qname)> under another prefix", at: start)
                }
                attributes.append(Attribute(namespace: ns, localName: local, qualifiedName: name, value: value))
            }
            let element = Element(namespace: namespace, localName: localName, qualifiedName: qname, attributes: attributes,
                                  children: [], line: line)
            if empty { finish(element, &root) } else { stack.append(Open(element: element, bindings: bindings)) }
        }

        /// Splits a QName and finds its namespace. The default namespace applies to unprefixed
        /// elements, never to unprefixed attributes (Namespaces §6.2).
        mutating func resolve(_ qname: String, _ bindings: [String: String], isElement: Bool, at start: Int) throws(XMLError) -> (String?, String) {
            // qname is a Name already: a QName if it has at most one colon with an NCName either side.
            guard let colon = qname.utf8.firstIndex(of: 0x3A) else {
                guard isElement, let uri = lookup("", bindings), !uri.isEmpty else { return (nil, qname) }
                return (uri, qname)
            }
            let prefix = String(qname[..<colon]), local = String(qname[qname.utf8.index(after: colon)...])
            guard XML.isNCName(prefix), XML.isNCName(local) else { throw fail("\(qname) is not a valid qualified name", at: start) }
            guard prefix != "xmlns" else { throw fail("the prefix xmlns is reserved for namespace declarations", at: start) }
            guard let uri = lookup(prefix, bindings) else { throw fail("the prefix \(prefix) of \(qname) is not declared", at: start) }
            return (uri, local)
        }

        func lookup(_ prefix: String, _ bindings: [String: String]) -> String? {
            if let uri = bindings[prefix] { return uri }
            for open in stack.reversed() { if let uri = open.bindings[prefix] { return uri } }
            return prefix == "xml" ? XML.xmlNamespace : nil
        }

        mutating func endTag(_ root: inout Element?) throws(XMLError) {
            let start = p
            p += 2
            let qname = try name("an element name in the end tag")
            skipSpace()
            try expect(">", "> to close the end tag </\(qname)>")
            let top = stack[stack.count - 1].element
            guard qname == top.qualifiedName else {
                throw fail("the end tag </\(qname)> does not match <\(top.qualifiedName)> opened on line \(top.line)", at: start)
            }
            flushText()
            finish(stack.removeLast().element, &root)
        }

        mutating func finish(_ element: Element, _ root: inout Element?) {
            if stack.isEmpty { root = element } else { stack[stack.count - 1].element.children.append(.element(element)) }
        }

        mutating func flushText() {
            let last = stack.count - 1
            guard !stack[last].text.isEmpty else { return }
            stack[last].element.children.append(.text(String(decoding: stack[last].text, as: UTF8.self)))
            stack[last].text.removeAll(keepingCapacity: true)
        }

        /// Text up to the next markup or reference; "]]>" must not occur in it (§2.4).
        mutating func characterData() throws(XMLError) {
            let start = p
            while p < b.count, b[p] != 0x3C, b[p] != 0x26 {
                if b[p] == 0x3E, p - start >= 2, b[p - 1] == 0x5D, b[p - 2] == 0x5D { throw fail("\"]]>\" is not allowed in text") }
                p += 1
            }
            stack[stack.count - 1].text.append(contentsOf: b[start..<p])
        }

        /// §2.7: the content is text as it stands.
        mutating func cdata() throws(XMLError) {
            let start = p
            p += 9
            let from = p
            while p + 2 < b.count {
                if b[p] == 0x5D, b[p + 1] == 0x5D, b[p + 2] == 0x3E {
                    stack[stack.count - 1].text.append(contentsOf: b[from..<p])
                    p += 3
                    return
                }
                p += 1
            }
            throw fail("the CDATA section is not closed", at: start)
        }

        /// §3.3.3 for CDATA attributes: each white space character becomes a space; references are
        /// replaced after that, so `&#10;` stays a line feed. "<" is not allowed (§3.1).
        mutating func attributeValue() throws(XMLError) -> String {
            guard p < b.count, b[p] == 0x22 || b[p] == 0x27 else { throw fail("expected a quoted attribute value") }
            let quote = b[p]
            let start = p
            p += 1
            var value: [UInt8] = []
            while true {
                guard p < b.count else { throw fail("the attribute value is not closed", at: start) }
                let c = b[p]
                if c == quote {
                    p += 1
                    return String(decoding: value, as: UTF8.self)
                } else if c == 0x3C {
                    throw fail("\"<\" is not allowed in an attribute value")
                } else if c == 0x26 {
                    let scalar = try reference()
                    value.append(contentsOf: Array(String(Character(scalar)).utf8))
                } else {
                    value.append(Self.isSpace(c) ? 0x20 : c)
                    p += 1
                }
            }
        }

        /// A character reference or one of the five predefined entities (§4.1, §4.6). Every other
        /// entity is undefined: only a DTD could define one, and DTDs are refused.
        mutating func reference() throws(XMLError) -> Unicode.Scalar {
            let start = p
            p += 1
            if p < b.count, b[p] == 0x23 {
                p += 1
                let hex = p < b.count && b[p] == 0x78
                if hex { p += 1 }
                var value: UInt32 = 0
                var digits = 0
                while p < b.count, let d = Self.digit(b[p], hex: hex) {
                    value = min(value * (hex ? 16 : 10) + d, 0x110000)  // saturates: beyond Unicode either way
                    digits += 1
                    p += 1
                }
                guard digits > 0, p < b.count, b[p] == 0x3B else { throw fail("malformed character reference", at: start) }
                p += 1
                guard XML.isChar(value), let scalar = Unicode.Scalar(value) else {
                    let written = String(decoding: b[start..<p], as: UTF8.self)
                    throw fail("the character reference \(written) is not a legal XML character", at: start)
                }
                return scalar
            }
            let entity = try name("an entity name after &")
            guard p < b.count, b[p] == 0x3B else { throw fail("the reference &\(entity) is not closed with ;", at: start) }
            p += 1
            switch entity {
            case "lt": return "<"
            case "gt": return ">"
            case "amp": return "&"
            case "apos": return "'"
            case "quot": return "\""
            default: throw fail("undefined entity &\(entity); (without a DTD only lt, gt, amp, apos and quot exist)", at: start)
            }
        }

        static func digit(_ c: UInt8, hex: Bool) -> UInt32? {
            switch c {
            case 0x30...0x39: return UInt32(c - 0x30)
            case 0x61...0x66 where hex: return UInt32(c - 0x61 + 10)
            case 0x41...0x46 where hex: return UInt32(c - 0x41 + 10)
            default: return nil
            }
        }
    }
}
