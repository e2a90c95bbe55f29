public import TernDNSCore
import TernMail

/// An ARC instance number (RFC 8617 §4.2.1): `i=` of each field of a set, 1 to 50.
enum ARCInstance {
    /// §4.2.1: "The maximum value of i= is 50".
    static let maximum = 50

    /// `1*2DIGIT` in 1...50, FWS around it ignored; nil otherwise.
    static func parse(_ value: String?) -> Int? {
        guard let value else { return nil }
        let digits = DKIMSignatureFields.compact(value)
        guard (1...2).contains(digits.utf8.count), let number = ASCIIDecimal.parse(digits, in: 1...Int64(maximum)) else {
            return nil
        }
        return Int(number)
    }

    /// The instance that begins an ARC-Authentication-Results value (`i=1; authserv-id; ...`,
    /// §4.1.1).
    static func leading(_ value: some Collection<UInt8>) -> Int? {
        guard let semicolon = value.firstIndex(of: UInt8(ascii: ";")) else { return nil }
        let spec = String(decoding: value[..<semicolon], as: UTF8.self)
        guard let equals = spec.firstIndex(of: "="), DKIMSignatureFields.compact(String(spec[..<equals])) == "i" else { return nil }
        return parse(String(spec[spec.index(after: equals)...]))
    }
}

/// An ARC chain's validation status (RFC 8617 §4.4): `cv=` of an ARC-Seal, and `arc=` of
/// Authentication-Results.
public enum ARCChainStatus: String, Sendable, Hashable {
    case none, pass, fail
}

/// What the validation of a message's ARC chain found (RFC 8617 §5.2).
public struct ARCResult: Sendable, Hashable {
    public var status: ARCChainStatus
    public var reason: String?
    /// How many ARC sets the message has (0 for none).
    public var instances: Int
    /// The sealers' domains (`d=` of each ARC-Seal), oldest first, as far as they could be read.
    public var sealers: [String]

    public init(status: ARCChainStatus, reason: String? = nil, instances: Int = 0, sealers: [String] = []) {
        self.status = status
        self.reason = reason
        self.instances = instances
        self.sealers = sealers
    }
}

/// An ARC-Seal's tags (RFC 8617 §4.1.3): `a=`, `b=`, `cv=`, `d=`, `i=`, `s=`, `t=`; no `h=`.
struct ARCSealFields: Sendable {
    var algorithm: DKIMSignatureFields.Algorithm
    var signature: [UInt8]
    var chain: ARCChainStatus
    var domain: String
    var instance: Int
    var selector: String

    struct Unusable: Error {
        var description: String
    }

    init(value: some BidirectionalCollection<UInt8>) throws(Unusable) {
        let tags: DKIMTagList
        do {
            tags = try DKIMTagList(value)
        } catch {
            throw Unusable(description: "malformed tag list")
        }
        for name in ["a", "b", "cv", "d", "i", "s"] where tags[name] == nil {
            throw Unusable(description: "no \(name)= tag")
        }
        // §4.1.3: the seal signs the ARC sets, never a list of header fields.
        guard tags["h"] == nil else { throw Unusable(description: "h= in an ARC-Seal") }
        guard let algorithm = DKIMSignatureFields.Algorithm(rawValue: DKIMSignatureFields.compact(tags["a"] ?? "").lowercased()) else {
            throw Unusable(description: "unknown algorithm")
        }
        guard let signature = Base64.decode(DKIMSignatureFields.compact(tags["b"] ?? "").utf8), !signature.isEmpty else {
            throw Unusable(description: "b= is not base64")
        }
        guard let chain = ARCChainStatus(rawValue: DKIMSignatureFields.compact(tags["cv"] ?? "").lowercased()) else {
            throw Unusable(description: "cv= is not none, pass or fail")
        }
        let domain = DKIMSignatureFields.compact(tags["d"] ?? "").lowercased()
        let selector = DKIMSignatureFields.compact(tags["s"] ?? "").lowercased()
        guard DKIMSignatureFields.isDomain(domain), DKIMSignatureFields.isDomain(selector) else {
            throw Unusable(description: "d= or s= is not a domain name")
        }
        guard let instance = ARCInstance.parse(tags["i"]) else { throw Unusable(description: "i= is not an ARC instance") }
        self.algorithm = algorithm
        self.signature = signature
        self.chain = chain
        self.domain = domain
        self.selector = selector
        self.instance = instance
    }
}

/// Validates the ARC chain of one message as it streams by (RFC 8617 §5.2): the ARC sets are
/// read from the header section, the body is hashed for the newest ARC-Message-Signature, and
/// the keys are then looked up through DNS (the DKIM keys' names, §4.1.2, §4.1.3).
public struct ARCVerification: Sendable {
    /// One ARC set: its three fields.
    struct ARCSet: Sendable {
        var results: RawHeaderField
        var messageSignature: RawHeaderField
        var seal: RawHeaderField
    }

    private let fields: [RawHeaderField]
    /// The sets, oldest first, or why the chain is broken before any key is fetched; nil for a
    /// message without ARC fields.
    private let chain: Result<[ARCSet], ChainBroken>?
    private var messageSignature: DKIMSignatureFields?
    private var bodyHash: DKIMBodyHash?
    private var bodyDigest: [UInt8]?

    struct ChainBroken: Error, Sendable {
        var reason: String
    }

    public init(fields: [RawHeaderField]) {
        self.fields = fields
        let chain = Self.sets(in: fields)
        self.chain = chain
        if case .success(let sets)? = chain, let newest = sets.last,
            let signature = try? DKIMSignatureFields(value: newest.messageSignature.value, kind: .arcMessageSignature)
        {
            messageSignature = signature
            bodyHash = DKIMBodyHash(signature.bodyCanonicalization, limit: signature.bodyLength)
        }
    }

    /// Whether the message carries ARC fields at all.
    public var hasChain: Bool { chain != nil }

    /// How many ARC sets the chain has when its fields are complete (§5.2 step 1; 0 without
    /// ARC fields); nil when they are not.
    public var completeSets: Int? {
        switch chain {
        case nil: 0
        case .success(let sets)?: sets.count
        case .failure?: nil
        }
    }

    public mutating func updateBody(_ chunk: some Sequence<UInt8>) {
        bodyHash?.update(chunk)
    }

    public mutating func finishBody() {
        guard bodyDigest == nil else { return }
        bodyDigest = bodyHash?.finalize()
    }

    /// §5.2: the chain's structure, the newest ARC-Message-Signature, then every ARC-Seal from
    /// the newest to the oldest. `now` is seconds since 1970.
    public func verify(now: Int64, resolver: some DNSResolving) async -> ARCResult {
        guard let chain else { return ARCResult(status: .none) }
        let sets: [ARCSet]
        switch chain {
        case .failure(let broken): return ARCResult(status: .fail, reason: broken.reason)
        case .success(let found): sets = found
        }
        var result = ARCResult(status: .fail, instances: sets.count)
        var seals: [ARCSealFields] = []
        for set in sets {
            do {
                seals.append(try ARCSealFields(value: set.seal.value))
            } catch {
                result.reason = "ARC-Seal i=\(seals.count + 1): \(error.description)"
                return result
            }
        }
        result.sealers = seals.map(\.domain)
        // §5.2 step 2: a chain a sealer already found broken stays broken.
        if seals.last?.chain == .fail {
            result.reason = "ARC-Seal i=\(seals.count) says the chain failed"
            return result
        }
        // §5.2 step 3 (§4.1.3): cv=none on the first seal, cv=pass on every later one.
        for (index, seal) in seals.enumerated() where seal.chain != (index == 0 ? .none : .pass) {
            result.reason = "ARC-Seal i=\(index + 1) has cv=\(seal.chain.rawValue)"
            return result
        }
        var keys = KeyCache()
        // §5.2 step 4: the newest ARC-Message-Signature.
        if let reason = await checkMessageSignature(of: sets[sets.count - 1], now: now, resolver: resolver, keys: &keys) {
            result.reason = "ARC-Message-Signature i=\(sets.count): \(reason)"
            return result
        }
        // §5.2 step 5: each ARC-Seal, newest first, over the sets up to its own.
        for index in sets.indices.reversed() {
            let seal = seals[index]
            let signed = sets[...index].flatMap { [$0.results, $0.messageSignature, $0.seal] }.dropLast().map { Optional($0) }
            let digest = DKIMHeaderHash.digest(selected: Array(signed), signatureField: sets[index].seal.octets, canonicalization: .relaxed)
            switch await keys.key("\(seal.selector)._domainkey.\(seal.domain)", algorithm: seal.algorithm, domain: seal.domain, resolver: resolver) {
            case .failure(let refusal):
                result.reason = "ARC-Seal i=\(index + 1): \(refusal.reason)"
                return result
            case .success(let key):
                guard key.isValidSignature(seal.signature, for: digest) else {
                    result.reason = "ARC-Seal i=\(index + 1) did not verify"
                    return result
                }
            }
        }
        result.status = .pass
        return result
    }

    /// Why the ARC-Message-Signature of `set` does not verify; nil when it does.
    private func checkMessageSignature(of set: ARCSet, now: Int64, resolver: some DNSResolving, keys: inout KeyCache) async -> String? {
        guard let signature = messageSignature else {
            do {
                _ = try DKIMSignatureFields(value: set.messageSignature.value, kind: .arcMessageSignature)
            } catch {
                return error.description
            }
            return "unreadable"
        }
        if let timestamp = signature.timestamp, timestamp > now + DKIMVerification.clockSkew {
            return "timestamp in the future"
        }
        guard let bodyDigest else { return "the body was not read" }
        guard bodyDigest == signature.bodyHash else { return "body hash did not verify" }
        // §4.1.2: the AMS may not sign ARC-Seal fields; any other selection is the signer's.
        guard !signature.signedHeaders.contains(where: { $0.lowercased() == "arc-seal" }) else { return "h= signs ARC-Seal" }
        let selected = DKIMHeaderSelection.select(signature.signedHeaders, from: fields)
        let digest = DKIMHeaderHash.digest(
            selected: selected, signatureField: set.messageSignature.octets, canonicalization: signature.headerCanonicalization)
        switch await keys.key(
            "\(signature.selector)._domainkey.\(signature.domain)", algorithm: signature.algorithm, domain: signature.domain,
            resolver: resolver)
        {
        case .failure(let refusal): return refusal.reason
        case .success(let key): return key.isValidSignature(signature.signature, for: digest) ? nil : "signature did not verify"
        }
    }

    /// §5.2 step 1 and §4.2.1: the ARC fields grouped by instance, each instance exactly one
    /// of each field, the instances 1...N without a gap, N at most 50.
    static func sets(in fields: [RawHeaderField]) -> Result<[ARCSet], ChainBroken>? {
        var results: [Int: RawHeaderField] = [:]
        var signatures: [Int: RawHeaderField] = [:]
        var seals: [Int: RawHeaderField] = [:]
        var any = false
        for field in fields {
            let name = field.lowercasedName
            guard name == "arc-authentication-results" || name == "arc-message-signature" || name == "arc-seal" else { continue }
            any = true
            let instance: Int?
            if name == "arc-authentication-results" {
                instance = ARCInstance.leading(field.value)
            } else {
                instance = (try? DKIMTagList(field.value)).flatMap { ARCInstance.parse($0["i"]) }
            }
            guard let instance else { return .failure(ChainBroken(reason: "\(field.lowercasedName) without a valid i=")) }
            let duplicate: Bool
            switch name {
            case "arc-authentication-results": duplicate = results.updateValue(field, forKey: instance) != nil
            case "arc-message-signature": duplicate = signatures.updateValue(field, forKey: instance) != nil
            default: duplicate = seals.updateValue(field, forKey: instance) != nil
            }
            if duplicate { return .failure(ChainBroken(reason: "two \(field.lowercasedName) fields with i=\(instance)")) }
        }
        guard any else { return nil }
        let newest = max(results.keys.max() ?? 0, signatures.keys.max() ?? 0, seals.keys.max() ?? 0)
        var sets: [ARCSet] = []
        for instance in 1...max(1, newest) {
            guard let result = results[instance], let signature = signatures[instance], let seal = seals[instance] else {
                return .failure(ChainBroken(reason: "ARC set i=\(instance) is incomplete"))
            }
            sets.append(ARCSet(results: result, messageSignature: signature, seal: seal))
        }
        return .success(sets)
    }
}

/// The keys a validation looked up, by name, so that a sealer that signed several sets is
/// asked for once.
private struct KeyCache {
    private var found: [String: Result<[DKIMKeyRecordCandidate], DKIMResultBox>] = [:]

    mutating func key(
        _ name: String, algorithm: DKIMSignatureFields.Algorithm, domain: String, resolver: some DNSResolving
    ) async -> Result<DKIMPublicKey, DKIMVerification.KeyRefusal> {
        if found[name] == nil { found[name] = await DKIMVerification.lookUp(name, resolver: resolver) }
        switch found[name] ?? .success([]) {
        case .failure(let box): return .failure(DKIMVerification.KeyRefusal(reason: box.result.reason ?? "key lookup failed"))
        case .success(let records):
            return DKIMVerification.key(from: records, algorithm: algorithm, domain: domain, identity: "@\(domain)").map(\.1)
        }
    }
}

/// Adds an ARC set to a message Tern forwards (RFC 8617 §5.1): its ARC-Authentication-Results
/// (what Tern found on receipt), an ARC-Message-Signature over the message as it leaves, and an
/// ARC-Seal over every set, with the chain's status as Tern validated it.
public struct ARCSealer: Sendable {
    public var domain: String
    public var selector: String
    public var key: DKIMPrivateKey
    public var signedFields: [String]

    public init(domain: String, selector: String, key: DKIMPrivateKey, signedFields: [String] = DKIMSigner.defaultSignedFields) {
        self.domain = domain.lowercased()
        self.selector = selector
        self.key = key
        self.signedFields = signedFields
    }

    /// The sealer of a signing domain: its RSA key (rsa-sha256, what every ARC validator knows),
    /// else its first; nil without keys.
    public init?(signer: DKIMSigner) {
        guard let chosen = signer.keys.first(where: { $0.privateKey.algorithm == .rsaSHA256 }) ?? signer.keys.first else { return nil }
        self.init(domain: signer.domain, selector: chosen.selector, key: chosen.privateKey)
    }

    /// The three fields to put in front of the message (`ARC-Seal`, `ARC-Message-Signature`,
    /// `ARC-Authentication-Results`, each ending in CRLF), or nil when no set may be added: the
    /// chain already has 50, or its newest seal says it failed (§5.1: a failed chain is not
    /// sealed again). `results`: the resinfo of Tern's Authentication-Results (after its
    /// authserv-id); `chain`: the validation of the chain as it arrived.
    public func seal(
        header: some BidirectionalCollection<UInt8>, bodyHash: [UInt8], authservID: String, results: String,
        chain: ARCChainStatus, now: Int64
    ) throws(DKIMPrivateKey.Unusable) -> [UInt8]? {
        let fields = RawHeaderField.fields(of: header)
        var existing: [ARCVerification.ARCSet] = []
        switch ARCVerification.sets(in: fields) {
        case nil: break
        case .success(let sets)?: existing = sets
        case .failure?: if chain != .fail { return nil }
        }
        if let newest = existing.last, (try? ARCSealFields(value: newest.seal.value))?.chain == .fail { return nil }
        let instance = existing.count + 1
        guard instance <= ARCInstance.maximum else { return nil }
        let status: ARCChainStatus = instance == 1 ? .none : chain
        if instance > 1, status == .none { return nil }

        let resultsField = RawHeaderField(
            octets: Array("ARC-Authentication-Results: i=\(instance); \(authservID);\r\n\t\(results)\r\n".utf8),
            lowercasedName: "arc-authentication-results")

        // The AMS: DKIM's selection over the message as it leaves, ARC fields aside.
        let signer = DKIMSigner(domain: domain, keys: [.init(selector: selector, privateKey: key)], signedFields: signedFields)
        let names = signer.signedNames(present: fields)
        var tags: [(String, String)] = [
            ("i", String(instance)), ("a", key.algorithm.rawValue), ("c", "relaxed/relaxed"), ("d", domain), ("s", selector),
            ("t", String(now)), ("h", names.map { $0.lowercased() }.joined(separator: ":")), ("bh", Base64.encode(bodyHash)), ("b", ""),
        ]
        let selected = DKIMHeaderSelection.select(names, from: fields)
        var unsigned = DKIMSigner.render(tags, name: "ARC-Message-Signature")
        tags[tags.count - 1].1 = Base64.encode(try key.sign(DKIMHeaderHash.digest(selected: selected, signatureField: unsigned, canonicalization: .relaxed)))
        let messageSignature = RawHeaderField(
            octets: DKIMSigner.render(tags, name: "ARC-Message-Signature"), lowercasedName: "arc-message-signature")

        // The AS: every set, oldest first, this one's seal last with b= empty (§5.1.1).
        var sealTags: [(String, String)] = [
            ("i", String(instance)), ("a", key.algorithm.rawValue), ("t", String(now)), ("cv", status.rawValue), ("d", domain),
            ("s", selector), ("b", ""),
        ]
        unsigned = DKIMSigner.render(sealTags, name: "ARC-Seal")
        let signed = existing.flatMap { [$0.results, $0.messageSignature, $0.seal] } + [resultsField, messageSignature]
        let digest = DKIMHeaderHash.digest(selected: signed.map { Optional($0) }, signatureField: unsigned, canonicalization: .relaxed)
        sealTags[sealTags.count - 1].1 = Base64.encode(try key.sign(digest))
        return DKIMSigner.render(sealTags, name: "ARC-Seal") + messageSignature.octets + resultsField.octets
    }
}
