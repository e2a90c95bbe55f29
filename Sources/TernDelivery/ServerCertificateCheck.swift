import Foundation
import NIOSSL

/// How the SMTP client checks the certificate of a server it sends credentials or mail to.
///
/// A relay host that Tern logs in to (a `[[route]]` with `security = "required"` or
/// `"implicit"`, or `[catcher.release]`) is authenticated as RFC 8314 §4.1 asks of a mail
/// client: the chain must lead to a trusted root, and the certificate must name the host the
/// configuration names (RFC 9525: a DNS name in `subjectAltName`, or the IP address when the
/// relay is given as one). Anything else is a man in the middle as far as Tern can tell, and
/// the session ends before AUTH: the password is never sent.
///
/// Opportunistic STARTTLS to MX hosts authenticates nobody (RFC 7435 §1.3, Postfix's
/// `smtp_tls_security_level = may`) and uses `none`; DANE and MTA-STS are what would change
/// that, and they are not here yet.
///
/// Security note: `none` on a relay with credentials (`tls_verify = false`) gives the password
/// to whoever is on the path; it exists for a test relay with a self-signed certificate.
public enum ServerCertificateCheck: Sendable, Hashable {
    /// Any certificate is taken: opportunistic TLS, or `tls_verify = false`.
    case none
    /// The chain must lead to a root of the system trust store, and name the server.
    case systemTrustStore
    /// The chain must lead to one of the CA certificates in this PEM file (a private CA,
    /// instead of the system store), and name the server.
    case certificateAuthorities(file: String)

    /// Why the PEM bundle at `file` cannot serve as trust roots (unreadable, no certificate,
    /// not PEM), or nil when it can: for the configuration's check, which names the key.
    public static func problem(withCertificateAuthorities file: String) -> String? {
        do {
            _ = try loadCertificateAuthorities(file: file)
            return nil
        } catch {
            return error.description
        }
    }

    /// A client TLS context that checks as this value says (TLS 1.2 at least).
    func makeClientContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        switch self {
        case .none:
            configuration.certificateVerification = .none
        case .systemTrustStore:
            configuration.certificateVerification = .fullVerification
            configuration.trustRoots = .default
        case .certificateAuthorities(let file):
            configuration.certificateVerification = .fullVerification
            configuration.trustRoots = .certificates(try Self.loadCertificateAuthorities(file: file))
        }
        return try NIOSSLContext(configuration: configuration)
    }

    struct LoadingFailure: Error, CustomStringConvertible {
        let description: String
    }

    static func loadCertificateAuthorities(file: String) throws(LoadingFailure) -> [NIOSSLCertificate] {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw LoadingFailure(description: "cannot read \(file)")
        }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(Array(data))
        } catch {
            throw LoadingFailure(description: "\(file) is not a PEM certificate bundle (\(error))")
        }
        guard !certificates.isEmpty else {
            throw LoadingFailure(description: "\(file) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        }
        return certificates
    }

    /// A failed handshake in words for the queue, the log and the release's answer (and so
    /// for a DSN): whether the certificate was not trusted or named another host, else
    /// BoringSSL's reason codes — never its source paths.
    static func describe(handshakeError error: any Error, serverName: String) -> String {
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return "the certificate does not name \(serverName)"
        }
        let text = String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
        // "...:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at /path/handshake.cc:320"
        let reasons = text.split(separator: "OPENSSL_internal:").dropFirst().compactMap {
            $0.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }).first.map(String.init)
        }
        if reasons.contains("CERTIFICATE_VERIFY_FAILED") {
            return "the certificate is not trusted"
                + " (CERTIFICATE_VERIFY_FAILED: no chain to a trusted CA, expired or not yet valid)"
        }
        if !reasons.isEmpty { return reasons.joined(separator: ", ") }
        return text
    }
}
