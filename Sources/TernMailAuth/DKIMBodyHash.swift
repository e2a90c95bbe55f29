import Crypto

/// The body hash of a DKIM signature (RFC 6376 §3.7, the `bh=` tag): SHA-256 over the body's
/// canonical form, fed in chunks as the message streams by, at most `limit` octets of it when
/// the signature has an `l=` tag (§3.5).
///
/// Only SHA-256: RFC 8301 §3.1 forbids signing with SHA-1 and has verifiers treat it as failing.
public struct DKIMBodyHash: Sendable {
    private var canonicalizer: DKIMBodyCanonicalizer
    private var hash = SHA256()
    /// The `l=` length: octets of the canonical body past it are not hashed.
    public let limit: Int?
    private var chunk: [UInt8] = []
    /// Octets hashed so far.
    public private(set) var hashedLength = 0

    public init(_ algorithm: DKIMCanonicalization, limit: Int? = nil) {
        canonicalizer = DKIMBodyCanonicalizer(algorithm)
        self.limit = limit
    }

    public var algorithm: DKIMCanonicalization { canonicalizer.algorithm }

    /// The canonical body's length so far, hashed or not (a verifier reports `l=` shorter than it).
    public var canonicalLength: Int { canonicalizer.length }

    public mutating func update(_ octets: some Sequence<UInt8>) {
        chunk.removeAll(keepingCapacity: true)
        canonicalizer.update(octets, into: &chunk)
        feed()
    }

    /// The digest, once the whole body went through `update`.
    public mutating func finalize() -> [UInt8] {
        chunk.removeAll(keepingCapacity: true)
        canonicalizer.finish(into: &chunk)
        feed()
        return Array(hash.finalize())
    }

    private mutating func feed() {
        var count = chunk.count
        if let limit { count = min(count, max(0, limit - hashedLength)) }
        guard count > 0 else { return }
        chunk.withUnsafeBytes { hash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        hashedLength += count
    }
}
