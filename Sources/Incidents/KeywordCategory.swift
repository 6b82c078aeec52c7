/// The class of an Einsatzstichwort (incident keyword), as statistics group them. Frankfurt's
/// keywords follow the Hessian scheme: F… fire (F-BMA an automatic fire alarm), TH… technical
/// rescue, ABC… hazardous materials, WASS… water rescue, RD… emergency medical service.
public enum KeywordCategory {
    /// The categories exports use; an import mapping may name others (lower case, digits, `_`).
    public static let standard = ["fire", "technical_rescue", "ems", "hazmat", "water", "other"]

    /// The category of one of our own keywords, by its prefix; unknown prefixes are `other`.
    public static func of(keyword: String) -> String {
        let k = keyword.uppercased()
        if k.hasPrefix("ABC") || k.hasPrefix("CBRN") || k.hasPrefix("GSG") { return "hazmat" }
        if k.hasPrefix("WASS") { return "water" }
        if k.hasPrefix("TH") { return "technical_rescue" }
        if k.hasPrefix("RD") || k.hasPrefix("RTW") || k.hasPrefix("NA") { return "ems" }
        if k.hasPrefix("F") || k.hasPrefix("B") { return "fire" }
        return "other"
    }

    /// Whether `name` is a usable category or source name: 1–40 of `[a-z0-9_-]`.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 40 && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D }
    }
}
