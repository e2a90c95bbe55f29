import Crypto
import Foundation

/// What a server keeps to check SCRAM-SHA-256 logins (RFC 5802 §3, RFC 7677): the salt and
/// iteration count it tells the client, StoredKey to check the client's proof and ServerKey to
/// prove itself. The password cannot be recovered from them, and they cannot make a proof.
public struct SCRAMCredentials: Hashable, Sendable {
    public var iterations: Int
    public var salt: [UInt8]
    public var storedKey: [UInt8]
    public var serverKey: [UInt8]

    static let scheme = "SCRAM-SHA-256"
    static let iterationRange = 1...100_000_000

    public init(iterations: Int, salt: [UInt8], storedKey: [UInt8], serverKey: [UInt8]) {
        self.iterations = iterations
        self.salt = salt
        self.storedKey = storedKey
        self.serverKey = serverKey
    }

    /// The keys for `password`: SaltedPassword = Hi(SASLprep(password), salt, i),
    /// StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword, "Server Key").
    public static func derive(password: String, salt: [UInt8], iterations: Int) throws -> SCRAMCredentials {
        let salted = try PasswordHash.pbkdf2(Array(SASLPrep.prepare(password).utf8), salt: salt, iterations: iterations)
        let clientKey = hmac(salted, "Client Key")
        return SCRAMCredentials(
            iterations: iterations, salt: salt, storedKey: Array(SHA256.hash(data: clientKey)),
            serverKey: hmac(salted, "Server Key"))
    }

    /// RFC 5803 §3: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64.
    public var stored: String {
        "\(Self.scheme)$\(iterations):\(Self.base64(salt))$\(Self.base64(storedKey)):\(Self.base64(serverKey))"
    }

    /// Parses the RFC 5803 form; nil for anything else.
    public init?(stored: String) {
        let fields = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 3, fields[0] == Self.scheme else { return nil }
        let parameters = fields[1].split(separator: ":", omittingEmptySubsequences: false)
        let keys = fields[2].split(separator: ":", omittingEmptySubsequences: false)
        guard parameters.count == 2, keys.count == 2, let iterations = Int(parameters[0]),
            Self.iterationRange.contains(iterations), let salt = Self.decode(parameters[1]), salt.count >= 8,
            let storedKey = Self.decode(keys[0]), storedKey.count == PasswordHash.keyLength,
            let serverKey = Self.decode(keys[1]), serverKey.count == PasswordHash.keyLength
        else { return nil }
        self.init(iterations: iterations, salt: salt, storedKey: storedKey, serverKey: serverKey)
    }

    /// Checks a password sent in the clear (PLAIN, LOGIN): derive its StoredKey and compare.
    public func matches(password: String) -> Bool {
        guard let derived = try? Self.derive(password: password, salt: salt, iterations: iterations) else {
            return false
        }
        return PasswordHash.constantTimeEquals(derived.storedKey, storedKey)
    }

    static func hmac(_ key: [UInt8], _ message: String) -> [UInt8] {
        hmac(key, Array(message.utf8))
    }

    static func hmac(_ key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    static func decode<Text: StringProtocol>(_ text: Text) -> [UInt8]? {
        Data(base64Encoded: String(text)).map(Array.init)
    }
}

/// The server's side of one SCRAM-SHA-256 exchange (RFC 5802 §5 and §7, RFC 7677), sans-IO:
/// it parses the client's messages, builds the server's, and checks the proof. The caller
/// looks the user up between the first two steps and supplies their credentials.
///
/// Channel binding is not offered (no -PLUS mechanism), so a client that demands it (`p=`)
/// is refused, and one that says it could have used it (`y`) is accepted (§6).
public struct SCRAMServerExchange: Sendable {
    public enum Failure: Error, Hashable, Sendable {
        /// The message does not follow §7's grammar, or asks for what we do not support.
        case malformed
        /// The nonce or channel binding the client echoed is not the one of this exchange.
        case mismatch
        /// The proof does not match the user's StoredKey (wrong password or unknown user).
        case invalidProof
    }

    enum State: Sendable {
        case expectingClientFirst
        case lookingUp(username: String, authorizationID: String, clientFirstBare: String, gs2Header: String, clientNonce: String)
        case expectingClientFinal(
            username: String, authorizationID: String, authMessagePrefix: String, gs2Header: String, nonce: String,
            credentials: SCRAMCredentials?)
        case done
    }

    private var state: State = .expectingClientFirst
    private let serverNonce: String

    /// `serverNonce` is this exchange's random part of the nonce (printable, no comma); tests
    /// pass a fixed one.
    public init(serverNonce: String = SCRAMServerExchange.randomNonce()) {
        self.serverNonce = serverNonce
    }

    public static func randomNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<24).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return SCRAMCredentials.base64(bytes)
    }

    /// The client-first-message (§7): `gs2-header client-first-message-bare`. Returns the user
    /// name (SASLprep'd, `=2C`/`=3D` decoded) to look up.
    public mutating func receiveClientFirst(_ message: [UInt8]) throws(Failure) -> (username: String, authorizationID: String) {
        guard case .expectingClientFirst = state, let text = Self.text(message) else { throw .malformed }
        // gs2-header = gs2-cbind-flag "," [ authzid ] ","
        let parts = text.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformed }
        switch parts[0] {
        case "n", "y": break
        default: throw .malformed  // "p=...": channel binding we do not offer.
        }
        var authorizationID = ""
        if !parts[1].isEmpty {
            guard parts[1].hasPrefix("a="), let name = Self.saslName(parts[1].dropFirst(2)) else { throw .malformed }
            authorizationID = name
        }
        let bare = String(parts[2])
        // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
        let attributes = bare.split(separator: ",", omittingEmptySubsequences: false)
        guard attributes.count >= 2, attributes[0].hasPrefix("n="), let username = Self.saslName(attributes[0].dropFirst(2)),
            !username.isEmpty, attributes[1].hasPrefix("r=")
        else { throw .malformed }
        let clientNonce = String(attributes[1].dropFirst(2))
        guard Self.isPrintable(clientNonce), !clientNonce.isEmpty else { throw .malformed }
        let gs2Header = "\(parts[0]),\(parts[1]),"
        state = .lookingUp(
            username: username, authorizationID: authorizationID, clientFirstBare: bare, gs2Header: gs2Header,
            clientNonce: clientNonce)
        return (username, authorizationID)
    }

    /// The server-first-message for the looked-up user. With nil (no such user, or one whose
    /// hash cannot serve SCRAM) the exchange goes on with `decoy` salt and cost, so the reply
    /// does not tell who exists (§5.1), and fails at the proof.
    public mutating func serverFirst(credentials: SCRAMCredentials?, decoy: (salt: [UInt8], iterations: Int)) -> [UInt8] {
        guard case .lookingUp(let username, let authorizationID, let bare, let gs2Header, let clientNonce) = state else {
            return []
        }
        let nonce = clientNonce + serverNonce
        let salt = credentials?.salt ?? decoy.salt
        let iterations = credentials?.iterations ?? decoy.iterations
        let message = "r=\(nonce),s=\(SCRAMCredentials.base64(salt)),i=\(iterations)"
        state = .expectingClientFinal(
            username: username, authorizationID: authorizationID, authMessagePrefix: "\(bare),\(message)",
            gs2Header: gs2Header, nonce: nonce, credentials: credentials)
        return Array(message.utf8)
    }

    /// The client-final-message: checks the channel binding, nonce and proof, and returns the
    /// server-final-message (`v=ServerSignature`) that the client checks in turn.
    public mutating func receiveClientFinal(_ message: [UInt8]) throws(Failure) -> [UInt8] {
        guard case .expectingClientFinal(_, _, let prefix, let gs2Header, let nonce, let credentials) = state else {
            throw .malformed
        }
        state = .done
        guard let text = Self.text(message), let proofRange = text.range(of: ",p=", options: .backwards) else {
            throw .malformed
        }
        // client-final-message-without-proof = channel-binding "," nonce ["," extensions]
        let withoutProof = text[..<proofRange.lowerBound]
        let attributes = withoutProof.split(separator: ",", omittingEmptySubsequences: false)
        guard attributes.count >= 2, attributes[0].hasPrefix("c="), attributes[1].hasPrefix("r="),
            let proof = SCRAMCredentials.decode(text[proofRange.upperBound...]), proof.count == PasswordHash.keyLength
        else { throw .malformed }
        guard SCRAMCredentials.decode(attributes[0].dropFirst(2)) == Array(gs2Header.utf8),
            attributes[1].dropFirst(2) == nonce
        else { throw .mismatch }
        guard let credentials else { throw .invalidProof }
        let authMessage = Array("\(prefix),\(withoutProof)".utf8)
        // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the proof holds if H(ClientKey) = StoredKey.
        let clientSignature = SCRAMCredentials.hmac(credentials.storedKey, authMessage)
        let clientKey = zip(proof, clientSignature).map { $0 ^ $1 }
        guard PasswordHash.constantTimeEquals(Array(SHA256.hash(data: clientKey)), credentials.storedKey) else {
            throw .invalidProof
        }
        let serverSignature = SCRAMCredentials.hmac(credentials.serverKey, authMessage)
        return Array("v=\(SCRAMCredentials.base64(serverSignature))".utf8)
    }

    /// Salt and cost to show for a user who cannot log in with SCRAM: the same for every
    /// attempt at one name (repeated probes see a stable answer, as for a real user) and
    /// unpredictable without this process's secret.
    public static func decoy(for username: String) -> (salt: [UInt8], iterations: Int) {
        let code = HMAC<SHA256>.authenticationCode(for: Array(username.lowercased().utf8), using: decoySecret)
        return (Array(Array(code).prefix(16)), PasswordHash.defaultIterations)
    }

    private static let decoySecret = SymmetricKey(size: .bits256)

    /// `saslname`: UTF-8 where `,` and `=` travel as `=2C` and `=3D`; any other `=` is an
    /// error (§5.1). The result is SASLprep'd for the lookup.
    static func saslName(_ encoded: Substring) -> String? {
        var result = ""
        var rest = encoded[...]
        while let equals = rest.firstIndex(of: "=") {
            result += rest[..<equals]
            let escape = rest[equals...].prefix(3)
            switch escape {
            case "=2C": result += ","
            case "=3D": result += "="
            default: return nil
            }
            rest = rest[rest.index(equals, offsetBy: 3)...]
        }
        result += rest
        guard !result.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return nil }
        return SASLPrep.prepare(result)
    }

    static func text(_ bytes: [UInt8]) -> String? {
        guard !bytes.contains(0) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    /// `printable = %x21-2B / %x2D-7E` (no comma).
    static func isPrintable(_ text: String) -> Bool {
        text.utf8.allSatisfy { (0x21...0x7E).contains($0) && $0 != UInt8(ascii: ",") }
    }
}

/// SASLprep (RFC 4013) as far as it changes real passwords and names: non-ASCII spaces become
/// U+0020, characters "commonly mapped to nothing" go (RFC 3454 B.1), and the result is NFKC.
/// ASCII text is returned as is. The prohibited-output checks are left out: they reject
/// input, and a password that contains such characters simply fails to match.
public enum SASLPrep {
    public static func prepare(_ text: String) -> String {
        guard !text.utf8.allSatisfy({ $0 < 0x80 }) else { return text }
        var mapped = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if mappedToNothing.contains(scalar.value) { continue }
            mapped.append(nonASCIISpaces.contains(scalar.value) ? " " : scalar)
        }
        return String(mapped).precomposedStringWithCompatibilityMapping
    }

    /// RFC 3454 C.1.2.
    static let nonASCIISpaces: Set<UInt32> = [
        0x00A0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A,
        0x200B, 0x202F, 0x205F, 0x3000,
    ]
    /// RFC 3454 B.1.
    static let mappedToNothing: Set<UInt32> = Set(
        [0x00AD, 0x034F, 0x1806, 0x180B, 0x180C, 0x180D, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF]
            + Array(0xFE00...0xFE0F))
}
