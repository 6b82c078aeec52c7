import Foundation

/// IPv4 socket addresses for the listener and the client (one place that fills `sockaddr_in`).
enum SocketAddress {
    /// `host:port` as a `sockaddr_in`; throws for a host that is no dotted IPv4 address.
    static func ipv4(_ host: String, _ port: UInt16) throws -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { throw SocketError.system("inet_pton \(host)", EINVAL) }
        return addr
    }

    /// Calls `body` with `addr` as the `sockaddr` pointer the socket calls take.
    static func withSockaddr<T>(_ addr: inout sockaddr_in, _ body: (UnsafeMutablePointer<sockaddr>, socklen_t) -> T) -> T {
        withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
}
