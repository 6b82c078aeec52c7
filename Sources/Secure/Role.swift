/// What a certificate's holder may be; carried in the certificate's OU (DESIGN.md, security model).
public enum Role: String, CaseIterable, Sendable {
    case node, gateway, station, `operator`, partner, analyst
    /// A helper platform's app link to its gateway (the volunteers' devices or app backend).
    case helper
}
