import Crypto
import CryptoExtras
import Foundation

/// Stored passwords: self-describing strings that name their algorithm and cost, so stronger
/// settings can come later while old hashes still verify (`needsRehash` says when to replace
/// one). Passwords are compared in constant time. Two formats:
///
/// - **SCRAM-SHA-256** (the default for new hashes), RFC 5803 §3 as PostgreSQL stores it:
///
///       SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
///
///   The keys of RFC 5802 §3 over PBKDF2-HMAC-SHA256 with 65,536 iterations and a 16-octet
///   salt, in base64. It verifies a password sent with PLAIN or LOGIN (derive, compare
///   StoredKey) and serves SCRAM-SHA-256 logins (RFC 7677) without any clear password. Stolen
///   keys do not let a thief log in: StoredKey only checks a proof, it cannot make one.
/// - **PBKDF2-SHA256** in the PHC string format (https://github.com/P-H-C/phc-string-format),
///   `$pbkdf2-sha256$i=600000$<salt>$<hash>`, unpadded base64: what Tern wrote before SCRAM.
///   It verifies PLAIN and LOGIN but not SCRAM: its hash *is* SCRAM's SaltedPassword, a secret
///   a SCRAM client could log in with, so it is never used as one.
public enum PasswordHash {
    public struct FormatError: Error, CustomStringConvertible {
        public let description: String
    }

    /// As many PBKDF2 rounds as SCRAM clients will compute. RFC 7677 §4 asks for at least 4,096;
    /// Cyrus SASL, which mbsync, mutt and Postfix's SMTP client log in with, refuses a count over
    /// 65,536 ("iteration-count is too big"), so a hash made with OWASP's 600,000 for PBKDF2
    /// alone locks every such client out of SCRAM.
    public static let defaultIterations = 65_536
    /// The most iterations a SCRAM client is known to accept (Cyrus SASL's limit).
    public static let scramClientIterationLimit = 65_536
    static let saltLength = 16
    static let keyLength = 32
    static let pbkdf2Algorithm = "pbkdf2-sha256"

    /// A new SCRAM-SHA-256 hash of `password`. `iterations` below the default are for tests.
    public static func make(password: String, iterations: Int = defaultIterations) throws -> String {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<saltLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return try SCRAMCredentials.derive(password: password, salt: salt, iterations: iterations).stored
    }

    /// Whether `password` matches `stored`. A string that is not a hash Tern knows matches nothing.
    public static func verify(password: String, against stored: String) -> Bool {
        if let credentials = SCRAMCredentials(stored: stored) {
            return credentials.matches(password: password)
        }
        guard let parsed = try? parsePBKDF2(stored),
            let derived = try? pbkdf2(Array(password.utf8), salt: parsed.salt, iterations: parsed.iterations)
        else { return false }
        return constantTimeEquals(derived, parsed.hash)
    }

    /// True when `stored` should be replaced by a new hash: fewer iterations, the PBKDF2 format
    /// that cannot serve SCRAM, or more iterations than SCRAM clients compute. Rehash it when the
    /// user next sets a password.
    public static func needsRehash(_ stored: String) -> Bool {
        guard let credentials = SCRAMCredentials(stored: stored) else { return true }
        return credentials.iterations < defaultIterations || credentials.iterations > scramClientIterationLimit
    }

    /// Checks that `stored` is a hash Tern can verify (for configuration loading).
    public static func validate(_ stored: String) throws {
        if SCRAMCredentials(stored: stored) != nil { return }
        _ = try parsePBKDF2(stored)
    }

    static func parsePBKDF2(_ phc: String) throws -> (iterations: Int, salt: [UInt8], hash: [UInt8]) {
        let fields = phc.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 5, fields[0].isEmpty, fields[1] == pbkdf2Algorithm else {
            throw FormatError(description: "neither a SCRAM-SHA-256$ nor a $\(pbkdf2Algorithm)$ hash")
        }
        guard fields[2].hasPrefix("i="), let iterations = Int(fields[2].dropFirst(2)),
            SCRAMCredentials.iterationRange.contains(iterations)
        else { throw FormatError(description: "bad iteration count") }
        guard let salt = decodeUnpadded(fields[3]), salt.count >= 8, let hash = decodeUnpadded(fields[4]),
            hash.count == keyLength
        else {
            throw FormatError(description: "bad salt or hash")
        }
        return (iterations, salt, hash)
    }

    /// PBKDF2-HMAC-SHA256 (RFC 8018 §5.2), 32 octets: SCRAM's Hi() (RFC 5802 §2.2).
    static func pbkdf2(_ password: [UInt8], salt: [UInt8], iterations: Int) throws -> [UInt8] {
        let key = try KDF.Insecure.PBKDF2.deriveKey(
            from: password, salt: salt, using: .sha256, outputByteCount: keyLength,
            unsafeUncheckedRounds: iterations)
        return key.withUnsafeBytes { Array($0) }
    }

    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// Base64 without padding (PHC §B64).
    static func decodeUnpadded(_ text: Substring) -> [UInt8]? {
        guard !text.contains("=") else { return nil }
        let padded = String(text) + String(repeating: "=", count: (4 - text.count % 4) % 4)
        return Data(base64Encoded: padded).map(Array.init)
    }
}
