/// What a certificate's holder may be; carried in the certificate's OU (DESIGN.md, security model).
public enum Role: String, CaseIterable, Sendable {
    case node, gateway, station, `operator`, partner, analyst
}
