import TernMail

/// A DKIM key record (RFC 6376 §3.6.1): the TXT record at `<selector>._domainkey.<domain>`,
/// its strings joined (§3.6.2.2), as a tag list.
public struct DKIMKeyRecord: Sendable, Hashable {
    /// Why a record cannot be used (§6.1.2: each a permanent failure of the signature).
    public struct Unusable: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    /// `k=`: "rsa" when absent; RFC 8463 adds "ed25519".
    public var keyType: String
    /// `p=`, decoded; empty when the key is revoked (§3.6.1: "An empty value means that this
    /// public key has been revoked").
    public var publicKey: [UInt8]
    /// `t=y`: the domain is testing DKIM; verifiers must not treat the message differently
    /// (§3.6.1), and Authentication-Results says so.
    public var testing: Bool
    /// `t=s`: the AUID's domain must be the SDID itself, not a subdomain.
    public var strict: Bool
    /// `h=`: the hash algorithms the key may be used with, lower case; empty for any.
    public var hashAlgorithms: [String]
    public var tags: DKIMTagList

    public var isRevoked: Bool { publicKey.isEmpty }

    public init(txt: some BidirectionalCollection<UInt8>) throws(Unusable) {
        let tags: DKIMTagList
        do {
            tags = try DKIMTagList(txt)
        } catch {
            throw Unusable(description: "malformed key record: \(error.description)")
        }
        self.tags = tags
        // §3.6.1 v=: "If specified, this tag MUST be set to "DKIM1" ... and MUST be the first
        // tag in the record".
        if let version = tags["v"] {
            guard version == "DKIM1", tags.tags.first?.name == "v" else {
                throw Unusable(description: "v= is not DKIM1 first")
            }
        }
        guard let key = tags["p"] else { throw Unusable(description: "no p= tag") }
        guard let publicKey = Base64.decode(DKIMSignatureFields.compact(key).utf8) else {
            throw Unusable(description: "p= is not base64")
        }
        self.publicKey = publicKey
        keyType = DKIMSignatureFields.compact(tags["k"] ?? "rsa").lowercased()
        hashAlgorithms = tags["h"].map { DKIMSignatureFields.compact($0).lowercased().split(separator: ":").map(String.init) } ?? []
        // §3.6.1 s=: "*" or a list with "email"; a key for another service is not for mail.
        if let services = tags["s"] {
            let list = DKIMSignatureFields.compact(services).lowercased().split(separator: ":")
            guard list.contains("*") || list.contains("email") else {
                throw Unusable(description: "s= does not include email")
            }
        }
        let flags = tags["t"].map { DKIMSignatureFields.compact($0).lowercased().split(separator: ":").map(String.init) } ?? []
        testing = flags.contains("y")
        strict = flags.contains("s")
    }

    /// Whether a signature of `algorithm` may use this key: the key type matches and `h=`, if
    /// present, allows SHA-256.
    public func accepts(_ algorithm: DKIMSignatureFields.Algorithm) -> Bool {
        keyType == algorithm.keyType && (hashAlgorithms.isEmpty || hashAlgorithms.contains("sha256"))
    }
}
