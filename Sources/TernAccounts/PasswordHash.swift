import Crypto
import CryptoExtras
import Foundation

/// Password hashes in the PHC string format (https://github.com/P-H-C/phc-string-format):
///
///     $pbkdf2-sha256$i=600000$<salt>$<hash>
///
/// PBKDF2-HMAC-SHA256 (RFC 8018 §5.2) with a 16-octet random salt and 600,000 iterations (OWASP's
/// figure for PBKDF2-SHA256), salt and hash in unpadded base64 as PHC asks. The string names its
/// algorithm and cost, so stronger settings can come later while old hashes still verify
/// (`needsRehash` says when to replace one). Passwords are compared in constant time.
public enum PasswordHash {
    public struct FormatError: Error, CustomStringConvertible {
        public let description: String
    }

    public static let algorithm = "pbkdf2-sha256"
    public static let defaultIterations = 600_000
    static let saltLength = 16
    static let hashLength = 32

    /// A new hash of `password`. `iterations` below the default are for tests only.
    public static func make(password: String, iterations: Int = defaultIterations) throws -> String {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<saltLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let hash = try derive(password, salt: salt, iterations: iterations)
        return "$\(algorithm)$i=\(iterations)$\(encode(salt))$\(encode(hash))"
    }

    /// Whether `password` matches `phc`. A string that is not a hash Tern knows matches nothing.
    public static func verify(password: String, against phc: String) -> Bool {
        guard let parsed = try? parse(phc),
            let derived = try? derive(password, salt: parsed.salt, iterations: parsed.iterations)
        else { return false }
        return constantTimeEquals(derived, parsed.hash)
    }

    /// True when `phc` uses weaker settings than new hashes get: rehash it at the next login.
    public static func needsRehash(_ phc: String) -> Bool {
        guard let parsed = try? parse(phc) else { return true }
        return parsed.iterations < defaultIterations
    }

    /// Checks that `phc` is a hash Tern can verify (for configuration loading).
    public static func validate(_ phc: String) throws {
        _ = try parse(phc)
    }

    static func parse(_ phc: String) throws -> (iterations: Int, salt: [UInt8], hash: [UInt8]) {
        let fields = phc.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 5, fields[0].isEmpty, fields[1] == algorithm else {
            throw FormatError(description: "not a $\(algorithm)$ hash")
        }
        guard fields[2].hasPrefix("i="), let iterations = Int(fields[2].dropFirst(2)), (1...100_000_000).contains(iterations)
        else { throw FormatError(description: "bad iteration count") }
        guard let salt = decode(fields[3]), salt.count >= 8, let hash = decode(fields[4]), hash.count == hashLength else {
            throw FormatError(description: "bad salt or hash")
        }
        return (iterations, salt, hash)
    }

    static func derive(_ password: String, salt: [UInt8], iterations: Int) throws -> [UInt8] {
        let key = try KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8), salt: salt, using: .sha256, outputByteCount: hashLength,
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
    static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: Substring) -> [UInt8]? {
        guard !text.contains("=") else { return nil }
        let padded = String(text) + String(repeating: "=", count: (4 - text.count % 4) % 4)
        return Data(base64Encoded: padded).map(Array.init)
    }
}
