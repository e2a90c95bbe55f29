/// Why a lookup produced no answer. NXDOMAIN and NODATA are answers (`DNSAnswer`), not errors.
///
/// `isTemporary` is what mail cares about: a temporary error defers delivery and is retried
/// (RFC 5321 §4.5.4.1; a 4xx reply to a client), a permanent one fails it. Unknown and
/// malformed conditions count as temporary, so a DNS fault never bounces mail that a retry
/// would deliver.
public struct DNSError: Error, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case invalidName
            case serverFailure
            case refused
            case timeout
            case network
            case malformedResponse
            case formatError
            case notImplemented
            case unexpectedResponseCode
            case aliasLoop
            case referral
            case noNameServers
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Permanent: the name given is not a valid ASCII domain name (non-ASCII, an empty
        /// label, a label over 63 octets, over 255 octets in all).
        public static let invalidName = Code(.invalidName)
        /// Temporary: the server answered SERVFAIL.
        public static let serverFailure = Code(.serverFailure)
        /// Temporary: the server answered REFUSED.
        public static let refused = Code(.refused)
        /// Temporary: no server answered in time, over every try.
        public static let timeout = Code(.timeout)
        /// Temporary: a socket error (connection refused, unreachable, TCP reset).
        public static let network = Code(.network)
        /// Temporary: the response could not be decoded, or a TCP response did not match.
        public static let malformedResponse = Code(.malformedResponse)
        /// Permanent: the server answered FORMERR to a well-formed query.
        public static let formatError = Code(.formatError)
        /// Permanent: the server answered NOTIMP.
        public static let notImplemented = Code(.notImplemented)
        /// Temporary: an RCODE this resolver does not know.
        public static let unexpectedResponseCode = Code(.unexpectedResponseCode)
        /// Temporary: a CNAME chain loops or is longer than the resolver follows.
        public static let aliasLoop = Code(.aliasLoop)
        /// Temporary: the server sent a referral instead of an answer (it does not recurse).
        public static let referral = Code(.referral)
        /// Temporary: no name server is configured.
        public static let noNameServers = Code(.noNameServers)

        public var isTemporary: Bool {
            switch base {
            case .invalidName, .formatError, .notImplemented: false
            default: true
            }
        }

        public var description: String {
            switch base {
            case .invalidName: "invalid name"
            case .serverFailure: "server failure (SERVFAIL)"
            case .refused: "query refused (REFUSED)"
            case .timeout: "timed out"
            case .network: "network error"
            case .malformedResponse: "malformed response"
            case .formatError: "server could not interpret the query (FORMERR)"
            case .notImplemented: "query not implemented by the server (NOTIMP)"
            case .unexpectedResponseCode: "unexpected response code"
            case .aliasLoop: "CNAME chain loops or is too long"
            case .referral: "referral instead of an answer"
            case .noNameServers: "no name servers configured"
            }
        }
    }

    public var code: Code
    /// Detail for logs: the name, server or condition. May quote names from the wire, escaped.
    public var detail: String
    /// The error that caused this one, such as an `IOError` or a `DNSWireError`.
    public var underlying: (any Error)?

    public init(_ code: Code, _ detail: String = "", underlying: (any Error)? = nil) {
        self.code = code
        self.detail = detail
        self.underlying = underlying
    }

    /// Whether a later retry may succeed (see the type's documentation).
    public var isTemporary: Bool { code.isTemporary }

    public var description: String {
        var text = "DNS: \(code)"
        if !detail.isEmpty { text += ": \(detail)" }
        if let underlying { text += " (\(underlying))" }
        return text
    }

    /// The error for a response code other than NOERROR and NXDOMAIN.
    public static func responseCode(_ code: DNSResponseCode, _ detail: String) -> DNSError {
        switch code {
        case .serverFailure: DNSError(.serverFailure, detail)
        case .refused: DNSError(.refused, detail)
        case .formatError: DNSError(.formatError, detail)
        case .notImplemented: DNSError(.notImplemented, detail)
        default: DNSError(.unexpectedResponseCode, "\(code): \(detail)")
        }
    }
}
