/// OASIS Common Alerting Protocol 1.2 (OASIS Standard, 1 July 2010): reading, checking and writing
/// alert messages. Section numbers refer to that specification; the schema is CAP-v1.2.xsd.
public enum CAP {
    public static let namespace = "urn:oasis:names:tc:emergency:cap:1.2"
    static let namespace11 = "urn:oasis:names:tc:emergency:cap:1.1"
    static let namespace10 = "http://www.incident.com/cap/1.0"
    /// The schema ends <alert> with any number of elements of this namespace (an enveloped XML
    /// signature). They are accepted, but neither verified nor kept: `xml()` does not write them.
    static let signatureNamespace = "http://www.w3.org/2000/09/xmldsig#"
    /// Documents above this size are refused before they are read.
    public static let maxDocumentBytes = 1 << 20

    /// Reads a CAP 1.2 alert. Refuses, with a reason naming the element path, anything that is not
    /// well-formed XML under `XML`'s rules (no DTD, UTF-8, at most `maxDocumentBytes`, 32 levels
    /// deep, 20,000 elements), not a CAP 1.2 <alert> (CAP 1.1 and 1.0 are named as such), not
    /// valid against the schema, or against the rules of `CAPAlert.check()`.
    public static func parse(_ bytes: [UInt8]) throws(CAPError) -> CAPAlert {
        try parse(bytes, limits: XML.Limits(maxBytes: maxDocumentBytes))
    }

    static func parse(_ bytes: [UInt8], limits: XML.Limits) throws(CAPError) -> CAPAlert {
        let root: XML.Element
        do throws(XMLError) {
            root = try XML.parse(bytes, limits: limits)
        } catch {
            throw CAPError("XML line \(error.line): \(error.reason)")
        }
        let found = root.namespace.map { "<\(root.localName)> in the namespace \($0)" } ?? "<\(root.localName)> in no namespace"
        guard root.localName == "alert" else { throw CAPError("not a CAP alert: the root element is \(found)") }
        switch root.namespace {
        case namespace: break
        case namespace11: throw CAPError("CAP 1.1 document, not 1.2")
        case namespace10: throw CAPError("CAP 1.0 document, not 1.2")
        default: throw CAPError("not a CAP alert: the root element is \(found)")
        }
        let alert = try CAPReader.alert(root)
        try alert.checkRules()
        return alert
    }

    /// The verdict on one document, for `florian cap validate`.
    public static func validate(_ bytes: [UInt8]) -> CAPValidation {
        do throws(CAPError) {
            return .valid(try parse(bytes))
        } catch {
            return .invalid(reason: error.reason)
        }
    }
}

/// Why a CAP document or alert was refused. The reason starts with the element path it concerns,
/// e.g. `alert/info[1]/area[2]/polygon[1]: first and last point differ`; repeatable elements
/// carry their position among their namesakes, from 1.
public struct CAPError: Error, Equatable, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

public enum CAPValidation: Equatable, Sendable {
    case valid(CAPAlert)
    case invalid(reason: String)

    /// "valid" or "invalid: <reason>", the line `florian cap validate` prints after the file name.
    public var summary: String {
        switch self {
        case .valid: "valid"
        case .invalid(let reason): "invalid: \(reason)"
        }
    }
}

/// A CAP 1.2 alert message (§3.2.1). The fields are the schema's elements one for one, in its
/// order; an optional element is an optional or an empty array. The schema's rules are checked
/// when reading, the rest by `check()`.
public struct CAPAlert: Equatable, Sendable {
    /// Unique for the sender; no spaces, commas, "<" or "&".
    public var identifier: String
    /// Globally unique sender, e.g. an e-mail address; same characters as `identifier`.
    public var sender: String
    public var sent: CAPDateTime
    public var status: Status
    public var msgType: MsgType
    public var source: String?
    public var scope: Scope
    /// Required when `scope` is restricted.
    public var restriction: String?
    /// The recipients, required when `scope` is private. Written space-separated, an address
    /// holding white space in double quotes, so an address cannot contain a double quote.
    public var addresses: [String]
    public var codes: [String]
    public var note: String?
    /// Earlier messages this one refers to; required for updates, cancels, acks and errors.
    public var references: [CAPReference]
    /// Incident identifiers, written like `addresses`.
    public var incidents: [String]
    public var infos: [CAPInfo]

    public init(identifier: String, sender: String, sent: CAPDateTime, status: Status, msgType: MsgType,
                source: String? = nil, scope: Scope, restriction: String? = nil, addresses: [String] = [],
                codes: [String] = [], note: String? = nil, references: [CAPReference] = [], incidents: [String] = [],
                infos: [CAPInfo] = []) {
        self.identifier = identifier; self.sender = sender; self.sent = sent; self.status = status
        self.msgType = msgType; self.source = source; self.scope = scope; self.restriction = restriction
        self.addresses = addresses; self.codes = codes; self.note = note; self.references = references
        self.incidents = incidents; self.infos = infos
    }

    public enum Status: String, CaseIterable, Sendable {
        case actual = "Actual", exercise = "Exercise", system = "System", test = "Test", draft = "Draft"
    }

    public enum MsgType: String, CaseIterable, Sendable {
        case alert = "Alert", update = "Update", cancel = "Cancel", ack = "Ack", error = "Error"
    }

    public enum Scope: String, CaseIterable, Sendable {
        case `public` = "Public", restricted = "Restricted", `private` = "Private"
    }
}

/// An earlier message, named by its extended identifier "sender,identifier,sent" (§3.2.1 references).
public struct CAPReference: Equatable, Sendable {
    public var sender: String
    public var identifier: String
    public var sent: CAPDateTime
    public init(sender: String, identifier: String, sent: CAPDateTime) {
        self.sender = sender; self.identifier = identifier; self.sent = sent
    }
}

/// One <info> block (§3.2.2): the event and the response asked for, in one language.
public struct CAPInfo: Equatable, Sendable {
    /// An RFC 3066 language tag; nil means the schema's default, "en-US".
    public var language: String?
    /// At least one.
    public var categories: [Category]
    public var event: String
    public var responseTypes: [ResponseType]
    public var urgency: Urgency
    public var severity: Severity
    public var certainty: Certainty
    public var audience: String?
    public var eventCodes: [CAPNamedValue]
    public var effective: CAPDateTime?
    public var onset: CAPDateTime?
    public var expires: CAPDateTime?
    public var senderName: String?
    public var headline: String?
    public var description: String?
    public var instruction: String?
    public var web: String?
    public var contact: String?
    public var parameters: [CAPNamedValue]
    public var resources: [CAPResource]
    public var areas: [CAPArea]

    public init(language: String? = nil, categories: [Category], event: String, responseTypes: [ResponseType] = [],
                urgency: Urgency, severity: Severity, certainty: Certainty, audience: String? = nil,
                eventCodes: [CAPNamedValue] = [], effective: CAPDateTime? = nil, onset: CAPDateTime? = nil,
                expires: CAPDateTime? = nil, senderName: String? = nil, headline: String? = nil,
                description: String? = nil, instruction: String? = nil, web: String? = nil, contact: String? = nil,
                parameters: [CAPNamedValue] = [], resources: [CAPResource] = [], areas: [CAPArea] = []) {
        self.language = language; self.categories = categories; self.event = event
        self.responseTypes = responseTypes; self.urgency = urgency; self.severity = severity
        self.certainty = certainty; self.audience = audience; self.eventCodes = eventCodes
        self.effective = effective; self.onset = onset; self.expires = expires; self.senderName = senderName
        self.headline = headline; self.description = description; self.instruction = instruction
        self.web = web; self.contact = contact; self.parameters = parameters; self.resources = resources
        self.areas = areas
    }

    public enum Category: String, CaseIterable, Sendable {
        case geo = "Geo", met = "Met", safety = "Safety", security = "Security", rescue = "Rescue", fire = "Fire",
             health = "Health", env = "Env", transport = "Transport", infra = "Infra", cbrne = "CBRNE", other = "Other"
    }

    public enum ResponseType: String, CaseIterable, Sendable {
        case shelter = "Shelter", evacuate = "Evacuate", prepare = "Prepare", execute = "Execute", avoid = "Avoid",
             monitor = "Monitor", assess = "Assess", allClear = "AllClear", none = "None"
    }

    public enum Urgency: String, CaseIterable, Sendable {
        case immediate = "Immediate", expected = "Expected", future = "Future", past = "Past", unknown = "Unknown"
    }

    public enum Severity: String, CaseIterable, Sendable {
        case extreme = "Extreme", severe = "Severe", moderate = "Moderate", minor = "Minor", unknown = "Unknown"
    }

    public enum Certainty: String, CaseIterable, Sendable {
        case observed = "Observed", likely = "Likely", possible = "Possible", unlikely = "Unlikely", unknown = "Unknown"
    }
}

/// A system-specific code or datum: <eventCode>, <parameter> and <geocode> (§3.2.2, §3.2.4).
public struct CAPNamedValue: Equatable, Sendable {
    /// The code's domain, e.g. "SAME" or "AGS".
    public var valueName: String
    public var value: String
    public init(valueName: String, value: String) { self.valueName = valueName; self.value = value }
}

/// A file with further information (§3.2.3).
public struct CAPResource: Equatable, Sendable {
    public var resourceDesc: String
    /// The MIME type; required since CAP 1.2.
    public var mimeType: String
    /// Approximate size in bytes, not negative.
    public var size: Int?
    public var uri: String?
    /// The content itself, base64-encoded.
    public var derefUri: String?
    /// SHA-1 of the content.
    public var digest: String?
    public init(resourceDesc: String, mimeType: String, size: Int? = nil, uri: String? = nil, derefUri: String? = nil,
                digest: String? = nil) {
        self.resourceDesc = resourceDesc; self.mimeType = mimeType; self.size = size; self.uri = uri
        self.derefUri = derefUri; self.digest = digest
    }
}

/// The area an <info> applies to (§3.2.4); the shapes together describe it.
public struct CAPArea: Equatable, Sendable {
    public var areaDesc: String
    public var polygons: [CAPPolygon]
    public var circles: [CAPCircle]
    public var geocodes: [CAPNamedValue]
    /// Feet above mean sea level (WGS 84); with `ceiling`, the lower bound.
    public var altitude: Double?
    /// Feet above mean sea level; only together with `altitude`.
    public var ceiling: Double?
    public init(areaDesc: String, polygons: [CAPPolygon] = [], circles: [CAPCircle] = [], geocodes: [CAPNamedValue] = [],
                altitude: Double? = nil, ceiling: Double? = nil) {
        self.areaDesc = areaDesc; self.polygons = polygons; self.circles = circles; self.geocodes = geocodes
        self.altitude = altitude; self.ceiling = ceiling
    }
}

/// A WGS 84 point in decimal degrees.
public struct CAPPoint: Equatable, Sendable {
    public var latitude: Double
    public var longitude: Double
    public init(latitude: Double, longitude: Double) { self.latitude = latitude; self.longitude = longitude }
}

/// A closed ring of at least four points, the first equal to the last (§3.2.4 polygon).
public struct CAPPolygon: Equatable, Sendable {
    public var points: [CAPPoint]
    public init(_ points: [CAPPoint]) { self.points = points }
}

/// A circle around a point, radius in kilometres (§3.2.4 circle).
public struct CAPCircle: Equatable, Sendable {
    public var center: CAPPoint
    public var radius: Double
    public init(center: CAPPoint, radius: Double) { self.center = center; self.radius = radius }
}
