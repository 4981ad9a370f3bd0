import Foundation
import Crypto
import X509
import SwiftASN1

/// The CA and the serving certificate a KubeSim presents: generated at first start (kept in the data
/// directory when there is one), the server certificate valid for 127.0.0.1 and localhost.
struct SimIdentity: Codable, Sendable {
    var caPEM: String
    var caKeyPEM: String
    var serverCertPEM: String
    var serverKeyPEM: String
    var adminToken: String
    var adminEndpointToken: String
    var tokenSecret: String

    static func generate(name: String) throws -> SimIdentity {
        let now = Date()
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName("kubesim-\(name)-ca") }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(10 * 365 * 86400),
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: .init(caKey.publicKey))
            },
            issuerPrivateKey: .init(caKey))
        let serverKey = P256.Signing.PrivateKey()
        let serverName = try DistinguishedName { CommonName("kubesim-\(name)") }
        let server = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(serverKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(5 * 365 * 86400),
            issuer: caName, subject: serverName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
            },
            issuerPrivateKey: .init(caKey))
        return SimIdentity(
            caPEM: try ca.serializeAsPEM().pemString, caKeyPEM: caKey.pemRepresentation,
            serverCertPEM: try server.serializeAsPEM().pemString, serverKeyPEM: serverKey.pemRepresentation,
            adminToken: randomToken(), adminEndpointToken: randomToken(), tokenSecret: randomToken())
    }
}

extension SimIdentity {
    /// A client certificate signed by this KubeSim's CA, as a cluster admin issues one: the common name is
    /// the user, the organizations its groups (how kube-apiserver's x509 authenticator reads them).
    func issueClientCertificate(user: String, groups: [String]) throws -> (certificatePEM: String, keyPEM: String) {
        let caKey = try P256.Signing.PrivateKey(pemRepresentation: caKeyPEM)
        let ca = try Certificate(pemEncoded: caPEM)
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            for g in groups { OrganizationName(g) }
            CommonName(user)
        }
        let now = Date()
        let cert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(365 * 86400),
            issuer: ca.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.clientAuth])
            },
            issuerPrivateKey: .init(caKey))
        return (try cert.serializeAsPEM().pemString, key.pemRepresentation)
    }
}

/// A random URL-safe token (32 bytes of entropy).
func randomToken() -> String {
    var g = SystemRandomNumberGenerator()
    let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) }
    return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
        .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
}
