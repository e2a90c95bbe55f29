import Crypto
import Foundation
public import NIOSSL
import SwiftASN1
import X509

/// Builds the server TLS context: TLS 1.2 or newer only (RFC 8996 deprecates 1.0 and 1.1),
/// with Mozilla's "intermediate" cipher suites.
/// BoringSSL never renegotiates as a server and has no TLS compression, so neither can be
/// abused (hostile-inputs 29).
public enum TLSContextFactory {
    /// Where the certificate came from, for the start-up line.
    public enum Source: Sendable, Equatable {
        case files(certificate: String, privateKey: String)
        case selfSigned(certificate: String, created: Bool)
    }

    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    /// A context from PEM files: the certificate chain (leaf first) and its private key.
    public static func context(certificatePath: String, privateKeyPath: String) throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw LoadError(description: "tls.certificate: cannot read a PEM certificate from \(certificatePath): \(error)")
        }
        guard !chain.isEmpty else {
            throw LoadError(description: "tls.certificate: no certificate in \(certificatePath)")
        }
        do {
            key = try NIOSSLPrivateKey(file: privateKeyPath, format: .pem)
        } catch {
            throw LoadError(description: "tls.private_key: cannot read a PEM private key from \(privateKeyPath): \(error)")
        }
        return try makeContext(chain: chain, key: key)
    }

    /// The self-signed certificate kept in `directory` (`cert.pem`, `key.pem`), created on
    /// first use: P-256, valid ten years, the host name as subject and SAN.
    public static func selfSigned(directory: String, hostname: String) throws -> (NIOSSLContext, Source) {
        let certificatePath = "\(directory)/cert.pem"
        let keyPath = "\(directory)/key.pem"
        var created = false
        if !FileManager.default.fileExists(atPath: certificatePath) || !FileManager.default.fileExists(atPath: keyPath) {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let (certificatePEM, keyPEM) = try makeSelfSigned(hostname: hostname)
            // The key first, private from the start; the certificate last marks completion.
            guard FileManager.default.createFile(
                atPath: keyPath, contents: Data(keyPEM.utf8), attributes: [.posixPermissions: 0o600])
            else { throw LoadError(description: "cannot write \(keyPath)") }
            try Data(certificatePEM.utf8).write(to: URL(fileURLWithPath: certificatePath), options: .atomic)
            created = true
        }
        let context = try self.context(certificatePath: certificatePath, privateKeyPath: keyPath)
        return (context, .selfSigned(certificate: certificatePath, created: created))
    }

    static func makeSelfSigned(hostname: String) throws -> (certificate: String, key: String) {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            OrganizationName("Tern")
            CommonName(hostname)
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(10 * 365 * 86_400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.dnsName(hostname)])
            },
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
        return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
    }

    /// The TLS 1.2 suites of Mozilla's "intermediate" profile (version 5.7) that BoringSSL has:
    /// forward secrecy and AEAD only, no CBC (Lucky 13, POODLE-style padding oracles), no RSA
    /// key exchange, no SHA-1 MACs. TLS 1.3's suites are all AEAD and not configurable.
    static let intermediateCipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    private static func makeContext(chain: [NIOSSLCertificate], key: NIOSSLPrivateKey) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuites = intermediateCipherSuites
        return try NIOSSLContext(configuration: configuration)
    }
}

extension TLSVersion {
    /// The name OpenSSL and Postfix logs use: `TLSv1.3`.
    public var displayName: String {
        switch self {
        case .tlsv1: "TLSv1"
        case .tlsv11: "TLSv1.1"
        case .tlsv12: "TLSv1.2"
        case .tlsv13: "TLSv1.3"
        }
    }
}
