import Crypto
public import TernDNSCore
import TernMail

/// What one DKIM signature came to (RFC 6376 §6, the `dkim` method of RFC 8601 §2.7.1), with
/// what Authentication-Results and the catcher show about it.
public struct DKIMResult: Sendable, Hashable {
    public enum Value: String, Sendable, Hashable {
        /// The signature verified.
        case pass
        /// The signature or the body hash did not verify.
        case fail
        /// Not used by the verifier; kept for policies layered on top (RFC 8601 §2.7.1).
        case policy
        /// A DNS failure that a later try may not have (§6.1.2 TEMPFAIL).
        case temperror
        /// The signature or its key cannot be used (§6.1.1, §6.1.2 PERMFAIL).
        case permerror
    }

    public var result: Value
    /// Why, for a result other than pass; for the comment of Authentication-Results.
    public var reason: String?
    /// `d=`, `s=`, `i=` and `a=`, when the signature had them.
    public var domain: String?
    public var selector: String?
    public var identity: String?
    public var algorithm: String?
    /// The first octets of `b=` (RFC 6008 `header.b`), telling two signatures of a domain apart.
    public var signaturePrefix: String?
    /// The size of the key that verified it.
    public var keyBits: Int?
    /// The key record has `t=y`: the domain is testing DKIM (§3.6.1).
    public var testing = false
    /// With `l=`, the canonical body octets past what the signature covers: anyone could have
    /// added them (§8.2). Zero when `l=` covers the whole body; nil without `l=`.
    public var unsignedBodyOctets: Int?

    public init(result: Value, reason: String? = nil) {
        self.result = result
        self.reason = reason
    }
}

/// Checks the DKIM signatures of one message as it streams by (RFC 6376 §6): the header section
/// first, then the body in chunks, then the keys through DNS. Up to `limit` signatures are
/// checked (the rest are not looked at: each costs a DNS query and a hash of the body).
public struct DKIMVerification: Sendable {
    public static let defaultSignatureLimit = 10
    /// RFC 6376 §6.1.1 lets a verifier refuse signatures from the future; this much skew
    /// between the signer's clock and Tern's is forgiven.
    public static let clockSkew: Int64 = 300

    private struct Candidate: Sendable {
        var field: RawHeaderField
        var signature: DKIMSignatureFields
        var hasher: Int
    }

    private let fields: [RawHeaderField]
    /// One per signature, in header order: a result already known, or a signature to check.
    private var entries: [Result<Candidate, DKIMResultBox>] = []
    /// One body hash per distinct canonicalization and `l=`.
    private var hashers: [DKIMBodyHash] = []
    private var digests: [[UInt8]] = []

    /// Reads the DKIM-Signature fields of `header` (the header section without its empty line).
    public init(header: some BidirectionalCollection<UInt8>, limit: Int = defaultSignatureLimit) {
        self.init(fields: RawHeaderField.fields(of: header), limit: limit)
    }

    /// The same, from the header already split into fields.
    public init(fields: [RawHeaderField], limit: Int = defaultSignatureLimit) {
        self.fields = fields
        for field in fields where field.lowercasedName == "dkim-signature" {
            guard entries.count < max(0, limit) else { break }
            do {
                let signature = try DKIMSignatureFields(value: field.value)
                let hasher: Int
                if let shared = hashers.firstIndex(where: {
                    $0.algorithm == signature.bodyCanonicalization && $0.limit == signature.bodyLength
                }) {
                    hasher = shared
                } else {
                    hashers.append(DKIMBodyHash(signature.bodyCanonicalization, limit: signature.bodyLength))
                    hasher = hashers.count - 1
                }
                entries.append(.success(Candidate(field: field, signature: signature, hasher: hasher)))
            } catch {
                var result = DKIMResult(result: .permerror, reason: error.description)
                if let tags = try? DKIMTagList(field.value) {
                    result.domain = tags["d"].map(DKIMSignatureFields.compact)
                    result.selector = tags["s"].map(DKIMSignatureFields.compact)
                }
                entries.append(.failure(DKIMResultBox(result: result)))
            }
        }
    }

    /// Whether the message has any DKIM-Signature (RFC 8601's `dkim=none` when not).
    public var hasSignatures: Bool { !entries.isEmpty }

    /// Whether any signature needs the body hashed.
    public var needsBody: Bool { !hashers.isEmpty }

    public mutating func updateBody(_ chunk: some Sequence<UInt8>) {
        for index in hashers.indices { hashers[index].update(chunk) }
    }

    /// The body has ended.
    public mutating func finishBody() {
        guard digests.isEmpty else { return }
        digests = hashers.indices.map { hashers[$0].finalize() }
    }

    /// Looks the keys up and checks each signature (§6.1.2, §6.1.3). `now` is seconds since 1970.
    public func verify(now: Int64, resolver: some DNSResolving) async -> [DKIMResult] {
        var keys: [String: Result<[DKIMKeyRecordCandidate], DKIMResultBox>] = [:]
        var results: [DKIMResult] = []
        for entry in entries {
            switch entry {
            case .failure(let box):
                results.append(box.result)
            case .success(let candidate):
                let name = "\(candidate.signature.selector)._domainkey.\(candidate.signature.domain)"
                if keys[name] == nil { keys[name] = await Self.lookUp(name, resolver: resolver) }
                results.append(check(candidate, keys: keys[name]!, now: now))
            }
        }
        return results
    }

    private func check(_ candidate: Candidate, keys: Result<[DKIMKeyRecordCandidate], DKIMResultBox>, now: Int64) -> DKIMResult {
        let signature = candidate.signature
        var result = DKIMResult(result: .permerror)
        result.domain = signature.domain
        result.selector = signature.selector
        result.identity = signature.identity
        result.algorithm = signature.algorithm.rawValue
        result.signaturePrefix = String(Base64.encode(signature.signature).prefix(8))
        func outcome(_ value: DKIMResult.Value, _ reason: String?) -> DKIMResult {
            result.result = value
            result.reason = reason
            return result
        }
        // §6.1.1: "Verifiers MAY ignore ... signature expired"; a signature from the future
        // is refused the same way.
        if let expiration = signature.expiration, expiration < now { return outcome(.permerror, "signature expired") }
        if let timestamp = signature.timestamp, timestamp > now + Self.clockSkew {
            return outcome(.permerror, "signature timestamp in the future")
        }
        let records: [DKIMKeyRecordCandidate]
        switch keys {
        case .failure(let box): return outcome(box.result.result, box.result.reason)
        case .success(let found): records = found
        }
        let record: DKIMKeyRecord
        let key: DKIMPublicKey
        switch Self.key(from: records, algorithm: signature.algorithm, domain: signature.domain, identity: signature.identity) {
        case .failure(let refusal): return outcome(.permerror, refusal.reason)
        case .success(let chosen): (record, key) = chosen
        }
        result.testing = record.testing
        result.keyBits = key.bits
        guard candidate.hasher < digests.count else { return outcome(.temperror, "the body was not read") }
        if let bodyLength = signature.bodyLength {
            let hasher = hashers[candidate.hasher]
            // The body was cut short after signing: what the signer hashed is not all here.
            guard hasher.canonicalLength >= bodyLength else { return outcome(.fail, "body shorter than l=") }
            result.unsignedBodyOctets = max(0, hasher.canonicalLength - hasher.hashedLength)
        }
        guard digests[candidate.hasher] == signature.bodyHash else { return outcome(.fail, "body hash did not verify") }
        let selected = DKIMHeaderSelection.select(signature.signedHeaders, from: fields)
        let digest = DKIMHeaderHash.digest(
            selected: selected, signatureField: candidate.field.octets, canonicalization: signature.headerCanonicalization)
        guard key.isValidSignature(signature.signature, for: digest) else { return outcome(.fail, "signature did not verify") }
        return outcome(.pass, nil)
    }

    /// Why no key of a name's records can check a signature.
    struct KeyRefusal: Error {
        var reason: String
    }

    /// §6.1.2: of several key records, any one that fits the signature's algorithm (and, with
    /// `t=s`, its `i=`); the last reason otherwise.
    static func key(
        from records: [DKIMKeyRecordCandidate], algorithm: DKIMSignatureFields.Algorithm, domain: String, identity: String
    ) -> Result<(DKIMKeyRecord, DKIMPublicKey), KeyRefusal> {
        var refusal = "no key record"
        for candidate in records {
            switch candidate {
            case .unusable(let reason):
                refusal = reason
            case .record(let record):
                if record.isRevoked {
                    refusal = "key revoked"
                } else if !record.accepts(algorithm) {
                    refusal = "key is not for \(algorithm.rawValue)"
                } else if record.strict, Self.domain(of: identity) != domain {
                    refusal = "key forbids i= in a subdomain (t=s)"
                } else {
                    do {
                        return .success((record, try DKIMPublicKey(record: record, algorithm: algorithm)))
                    } catch {
                        refusal = error.description
                    }
                }
            }
        }
        return .failure(KeyRefusal(reason: refusal))
    }

    /// The key records at `name` (`<selector>._domainkey.<domain>`), or the result a failed
    /// lookup gives.
    static func lookUp(_ name: String, resolver: some DNSResolving) async -> Result<[DKIMKeyRecordCandidate], DKIMResultBox> {
        let answer: DNSAnswer<[TXTRecord]>
        do {
            answer = try await resolver.txt(name)
        } catch let error as DNSError where !error.isTemporary {
            return .failure(DKIMResultBox(result: DKIMResult(result: .permerror, reason: "key lookup failed: \(error.code)")))
        } catch {
            return .failure(DKIMResultBox(result: DKIMResult(result: .temperror, reason: "key lookup failed: \((error as? DNSError)?.code.description ?? "\(error)")")))
        }
        guard let records = answer.records else {
            return .failure(DKIMResultBox(result: DKIMResult(result: .permerror, reason: "no key record")))
        }
        return .success(records.map { txt -> DKIMKeyRecordCandidate in
            do throws(DKIMKeyRecord.Unusable) {
                return .record(try DKIMKeyRecord(txt: txt.concatenated))
            } catch {
                return .unusable(error.description)
            }
        })
    }

    private static func domain(of identity: String) -> String {
        guard let at = identity.lastIndex(of: "@") else { return identity.lowercased() }
        return identity[identity.index(after: at)...].lowercased()
    }
}

/// A TXT record at a key's name, read as a key record or not.
enum DKIMKeyRecordCandidate: Sendable {
    case record(DKIMKeyRecord)
    case unusable(String)
}

/// A result known before any key is fetched, as the failure of a `Result`.
struct DKIMResultBox: Error, Sendable {
    var result: DKIMResult
}
