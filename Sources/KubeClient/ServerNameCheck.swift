import Foundation
import NIOCore
import NIOSSL

/// The server name check kubectl makes and NIOSSL does not quite: Go's `crypto/tls` verifies a DNS name
/// (`tls-server-name`, else the server URL's host) against the certificate's DNS names only
/// (`x509.Certificate.VerifyHostname`: an IP SAN matches only a name that is an IP), while NIOSSL also accepts
/// a certificate whose IP SAN matches the address it connected to. So a `tls-server-name` the certificate
/// does not name would pass whenever the certificate names the server's IP.
///
/// AsyncHTTPClient offers no verification callback, so before its first request to a cluster the transport
/// makes one TLS handshake of its own (same trust roots, same name) and checks the leaf certificate's DNS
/// names with Go's rules. The chain itself is verified by NIOSSL on this handshake and on every later one.
enum ServerNameCheck {
    /// Throws `message` (to be wrapped as a TLS error naming the cluster) unless the server at `host:port`
    /// presents a certificate naming `name` as Go would require.
    static func verify(host: String, port: Int, name: String, tls: TLSConfiguration, timeout: TimeAmount) async throws {
        guard !TLSProbe.isIPAddress(name) else { return }   // an IP name: NIOSSL's IP match is Go's
        let context = try NIOSSLContext(configuration: tls)
        guard let leaf = try await TLSProbe.peerCertificate(host: host, port: port, context: context, serverHostname: name,
                                                            timeout: timeout) else {
            throw Mismatch(message: "the server presented no certificate")
        }
        let names = leaf._subjectAlternativeNames().filter { $0.nameType == .dnsName }.map { String(decoding: Array($0.contents), as: UTF8.self) }
        guard names.contains(where: { matches(pattern: $0, name: name) }) else {
            throw Mismatch(message: "x509: certificate is valid for \(names.isEmpty ? "no DNS names" : names.joined(separator: ", ")), not \(name)")
        }
    }

    struct Mismatch: Error, CustomStringConvertible { var message: String; var description: String { message } }

    /// Go's `matchHostnames`: case-insensitive, a trailing dot ignored, `*` only as the whole left-most label.
    static func matches(pattern: String, name: String) -> Bool {
        let p = pattern.lowercased().split(separator: ".", omittingEmptySubsequences: false)
        var n = name.lowercased()
        if n.hasSuffix(".") { n.removeLast() }
        let h = n.split(separator: ".", omittingEmptySubsequences: false)
        guard p.count == h.count, !p.contains(where: \.isEmpty) else { return false }
        return zip(p.indices, zip(p, h)).allSatisfy { i, pair in (i == 0 && pair.0 == "*") || pair.0 == pair.1 }
    }
}
