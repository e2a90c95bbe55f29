import Crypto
import CryptoExtras
import Foundation
import TernMail

/// A domain's private key for signing (RFC 6376 §3.3, RFC 8463): Ed25519 or RSA.
///
/// Kept on disk as PEM: RSA as OpenSSL writes it (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE
/// KEY`), Ed25519 as the PKCS#8 form of RFC 8410 §7 (`openssl genpkey -algorithm ed25519`
/// writes the same), so either can be made or inspected with openssl.
public struct DKIMPrivateKey: Sendable {
    enum Material: Sendable {
        case ed25519(Curve25519.Signing.PrivateKey)
        case rsa(_RSA.Signing.PrivateKey)
    }

    let material: Material

    init(_ material: Material) {
        self.material = material
    }

    /// Why a key cannot be read or made.
    public struct Unusable: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The RSA sizes Tern makes: RFC 8301 §3.2 has signers use at least 1024 bits and
    /// recommends 2048; larger keys no longer fit one TXT string and some DNS hosts.
    public static let rsaSizes = [2048, 3072, 4096]

    public static func generateEd25519() -> DKIMPrivateKey { DKIMPrivateKey(.ed25519(Curve25519.Signing.PrivateKey())) }

    public static func generateRSA(bits: Int) throws(Unusable) -> DKIMPrivateKey {
        guard rsaSizes.contains(bits) else {
            throw Unusable(description: "RSA keys are made with \(rsaSizes.map(String.init).joined(separator: ", ")) bits, not \(bits)")
        }
        do {
            return DKIMPrivateKey(.rsa(try _RSA.Signing.PrivateKey(keySize: .init(bitCount: bits))))
        } catch {
            throw Unusable(description: "could not make an RSA key: \(error)")
        }
    }

    /// Reads a PEM private key: Ed25519 in PKCS#8, or RSA of at least 1024 bits.
    public init(pem: String) throws(Unusable) {
        if let der = Self.pemBody(pem, label: "PRIVATE KEY"), der.count == 48,
            der.starts(with: Self.ed25519PKCS8Prefix)
        {
            do {
                material = .ed25519(try Curve25519.Signing.PrivateKey(rawRepresentation: der[16...]))
            } catch {
                throw Unusable(description: "not an Ed25519 key: \(error)")
            }
            return
        }
        do {
            material = .rsa(try _RSA.Signing.PrivateKey(unsafePEMRepresentation: pem))
        } catch {
            throw Unusable(description: "neither an Ed25519 nor an RSA private key in PEM")
        }
    }

    /// The signing algorithm the key is for.
    public var algorithm: DKIMSignatureFields.Algorithm {
        switch material {
        case .ed25519: .ed25519SHA256
        case .rsa: .rsaSHA256
        }
    }

    /// The PEM form (PKCS#8 for Ed25519).
    public var pemRepresentation: String {
        switch material {
        case .ed25519(let key):
            Self.pem(Self.ed25519PKCS8Prefix + Array(key.rawRepresentation), label: "PRIVATE KEY")
        case .rsa(let key):
            key.pemRepresentation
        }
    }

    /// `p=` of the key record: the raw 32 octets for Ed25519 (RFC 8463 §4), the DER
    /// SubjectPublicKeyInfo for RSA (RFC 6376 §3.6.1).
    public var publicKeyData: [UInt8] {
        switch material {
        case .ed25519(let key): Array(key.publicKey.rawRepresentation)
        case .rsa(let key): Array(key.publicKey.derRepresentation)
        }
    }

    /// The TXT record to publish at `<selector>._domainkey.<domain>`.
    public var keyRecord: String {
        "v=DKIM1; k=\(algorithm.keyType); p=\(Base64.encode(publicKeyData))"
    }

    /// The signature of a header hash (§3.7).
    func sign(_ digest: SHA256.Digest) throws(Unusable) -> [UInt8] {
        do {
            switch material {
            case .ed25519(let key):
                // RFC 8463 §3: "the Ed25519 signing algorithm ... applied to the SHA-256 hash".
                return Array(try key.signature(for: Array(digest)))
            case .rsa(let key):
                return Array(try key.signature(for: digest, padding: .insecurePKCS1v1_5).rawRepresentation)
            }
        } catch {
            throw Unusable(description: "signing failed: \(error)")
        }
    }

    /// RFC 8410 §7: SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET
    /// STRING (32) } }, everything before the 32 octets of the key.
    static let ed25519PKCS8Prefix: [UInt8] = [
        0x30, 0x2E, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ]

    /// The DER between `-----BEGIN label-----` and `-----END label-----`.
    static func pemBody(_ pem: String, label: String) -> [UInt8]? {
        let begin = "-----BEGIN \(label)-----", end = "-----END \(label)-----"
        guard let start = pem.range(of: begin), let stop = pem.range(of: end, range: start.upperBound..<pem.endIndex) else {
            return nil
        }
        return Base64.decode(pem[start.upperBound..<stop.lowerBound].utf8.filter { !DKIMTagList.isFWSOctet($0) })
    }

    static func pem(_ der: [UInt8], label: String) -> String {
        let text = Array(Base64.encode(der).utf8)
        var lines = ["-----BEGIN \(label)-----"]
        var start = 0
        while start < text.count {
            lines.append(String(decoding: text[start..<min(start + 64, text.count)], as: UTF8.self))
            start += 64
        }
        lines.append("-----END \(label)-----")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The public key of a key record, ready to check signatures.
enum DKIMPublicKey {
    case ed25519(Curve25519.Signing.PublicKey)
    case rsa(_RSA.Signing.PublicKey)

    /// RFC 8301 §3.2: "Verifiers MUST NOT consider signatures using RSA keys of less than 1024
    /// bits as valid signatures"; 8192 bits is past any key in use and bounds the work.
    static let rsaBits = 1024...8192

    /// The key of `record` for `algorithm` (whose key type the record was checked to match).
    init(record: DKIMKeyRecord, algorithm: DKIMSignatureFields.Algorithm) throws(DKIMKeyRecord.Unusable) {
        switch algorithm {
        case .ed25519SHA256:
            guard record.publicKey.count == 32, let key = try? Curve25519.Signing.PublicKey(rawRepresentation: record.publicKey) else {
                throw DKIMKeyRecord.Unusable(description: "p= is not an Ed25519 public key")
            }
            self = .ed25519(key)
        case .rsaSHA256:
            // p= is a SubjectPublicKeyInfo (§3.6.1); some records publish the bare PKCS#1
            // RSAPublicKey, which is wrapped in one here.
            let key =
                (try? _RSA.Signing.PublicKey(unsafeDERRepresentation: record.publicKey))
                ?? (try? _RSA.Signing.PublicKey(unsafeDERRepresentation: Self.subjectPublicKeyInfo(rsaPublicKey: record.publicKey)))
            guard let key else { throw DKIMKeyRecord.Unusable(description: "p= is not an RSA public key") }
            guard Self.rsaBits.contains(key.keySizeInBits) else {
                throw DKIMKeyRecord.Unusable(description: "an RSA key of \(key.keySizeInBits) bits")
            }
            self = .rsa(key)
        }
    }

    var bits: Int {
        switch self {
        case .ed25519: 256
        case .rsa(let key): key.keySizeInBits
        }
    }

    func isValidSignature(_ signature: [UInt8], for digest: SHA256.Digest) -> Bool {
        switch self {
        case .ed25519(let key):
            key.isValidSignature(signature, for: Array(digest))
        case .rsa(let key):
            key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: digest, padding: .insecurePKCS1v1_5)
        }
    }

    /// SEQUENCE { SEQUENCE { OID rsaEncryption, NULL }, BIT STRING { key } } around a PKCS#1
    /// RSAPublicKey (RFC 3279 §2.3.1).
    static func subjectPublicKeyInfo(rsaPublicKey key: [UInt8]) -> [UInt8] {
        let algorithm: [UInt8] = [0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01, 0x05, 0x00]
        let bitString = [0x03] + derLength(key.count + 1) + [0x00] + key
        let body = algorithm + bitString
        return [0x30] + derLength(body.count) + body
    }

    private static func derLength(_ count: Int) -> [UInt8] {
        if count < 0x80 { return [UInt8(count)] }
        var octets: [UInt8] = []
        var rest = count
        while rest > 0 {
            octets.insert(UInt8(truncatingIfNeeded: rest), at: 0)
            rest >>= 8
        }
        return [0x80 | UInt8(octets.count)] + octets
    }
}
