import Crypto
import TernMail

/// Signs messages of one domain (RFC 6376 §5): one DKIM-Signature per key, relaxed/relaxed, so
/// an Ed25519 and an RSA signature travel side by side (RFC 8463 §6 recommends both until every
/// verifier knows Ed25519). Without I/O: the caller streams the body through `bodyHash()` and
/// hands over the header and the time.
public struct DKIMSigner: Sendable {
    /// A key and where its public half is published.
    public struct Key: Sendable {
        public var selector: String
        public var privateKey: DKIMPrivateKey

        public init(selector: String, privateKey: DKIMPrivateKey) {
            self.selector = selector
            self.privateKey = privateKey
        }
    }

    /// The fields §5.4.1 says to sign, and those a change of would mislead the reader (MIME's,
    /// so the body cannot be reinterpreted; Message-ID; the list fields of RFC 2369 and 2919).
    public static let defaultSignedFields = [
        "From", "Reply-To", "Subject", "Date", "To", "Cc", "Resent-Date", "Resent-From", "Resent-To",
        "Resent-Cc", "In-Reply-To", "References", "Message-ID", "MIME-Version", "Content-Type",
        "Content-Transfer-Encoding", "List-Id", "List-Help", "List-Unsubscribe", "List-Subscribe",
        "List-Post", "List-Owner", "List-Archive", "List-Unsubscribe-Post",
    ]

    /// Fields signed once more than they occur, so that none can be added (§8.15).
    public static let defaultOversignedFields = ["From", "To", "Subject", "Date"]

    /// The SDID, `d=`.
    public var domain: String
    public var keys: [Key]
    public var signedFields: [String]
    public var oversignedFields: [String]
    /// `x=` this many seconds after `t=`; nil for no `x=`.
    public var validity: Int64?

    public init(
        domain: String, keys: [Key], signedFields: [String] = defaultSignedFields,
        oversignedFields: [String] = defaultOversignedFields, validity: Int64? = nil
    ) {
        self.domain = domain.lowercased()
        self.keys = keys
        self.signedFields = signedFields
        self.oversignedFields = oversignedFields
        self.validity = validity
    }

    /// The body hash every signature of this signer shares (relaxed, whole body).
    public static func bodyHash() -> DKIMBodyHash { DKIMBodyHash(.relaxed) }

    /// The DKIM-Signature fields for a message with this header section and body hash, each
    /// `DKIM-Signature: ...\r\n`, to be put in front of the header.
    public func signatures(header: some BidirectionalCollection<UInt8>, bodyHash: [UInt8], now: Int64) throws(DKIMPrivateKey.Unusable) -> [UInt8] {
        let fields = RawHeaderField.fields(of: header)
        let names = signedNames(present: fields)
        let selected = DKIMHeaderSelection.select(names, from: fields)
        var out: [UInt8] = []
        for key in keys {
            var tags: [(String, String)] = [
                ("v", "1"), ("a", key.privateKey.algorithm.rawValue), ("c", "relaxed/relaxed"), ("d", domain),
                ("s", key.selector), ("t", String(now)),
            ]
            if let validity, validity > 0, case (let expiry, false) = now.addingReportingOverflow(validity) {
                tags.append(("x", String(expiry)))
            }
            tags.append(("h", names.map { $0.lowercased() }.joined(separator: ":")))
            tags.append(("bh", Base64.encode(bodyHash)))
            tags.append(("b", ""))
            let unsigned = Self.render(tags)
            let digest = DKIMHeaderHash.digest(selected: selected, signatureField: unsigned, canonicalization: .relaxed)
            let signature = try key.privateKey.sign(digest)
            tags[tags.count - 1].1 = Base64.encode(signature)
            out += Self.render(tags)
        }
        return out
    }

    /// Signs a whole message held in memory (a DSN, a released message): the signature fields
    /// followed by the message.
    public func sign(message: [UInt8], now: Int64) throws(DKIMPrivateKey.Unusable) -> [UInt8] {
        let (header, body) = RawHeaderField.split(message: message)
        var hash = Self.bodyHash()
        hash.update(body)
        return try signatures(header: header, bodyHash: hash.finalize(), now: now) + message
    }

    /// `h=`: each configured name as many times as the header has it (all of them signed), the
    /// oversigned ones once more.
    func signedNames(present fields: [RawHeaderField]) -> [String] {
        var counts: [String: Int] = [:]
        for field in fields { counts[field.lowercasedName, default: 0] += 1 }
        let oversigned = Set(oversignedFields.map { $0.lowercased() })
        var names: [String] = []
        var seen = Set<String>()
        for name in signedFields where seen.insert(name.lowercased()).inserted {
            let key = name.lowercased()
            let count = (counts[key] ?? 0) + (oversigned.contains(key) ? 1 : 0)
            names += repeatElement(name, count: count)
        }
        return names
    }

    /// `DKIM-Signature: v=1; a=...; ...` folded before lines pass 78 characters (RFC 5322
    /// §2.1.1), long values (h= at its colons, b= and bh= anywhere: §3.5 lets FWS into both) split
    /// over continuation lines.
    static func render(_ tags: [(String, String)], name: String = "DKIM-Signature") -> [UInt8] {
        var text = "\(name):"
        var column = text.utf8.count
        for (index, (name, value)) in tags.enumerated() {
            let last = index == tags.count - 1
            var pieces: [String] = []
            switch name {
            case "h": pieces = Self.chunks(value, breakingAfter: ":")
            case "b", "bh": pieces = Self.chunks(value, every: 64)
            default: pieces = [value]
            }
            let head = "\(name)="
            if column + 1 + head.utf8.count + (pieces.first?.utf8.count ?? 0) > 76 {
                text += "\r\n\t"
                column = 8
            } else {
                text += " "
                column += 1
            }
            text += head
            column += head.utf8.count
            for (position, piece) in pieces.enumerated() {
                if position > 0, column + piece.utf8.count > 76 {
                    text += "\r\n\t"
                    column = 8
                }
                text += piece
                column += piece.utf8.count
            }
            if !last {
                text += ";"
                column += 1
            }
        }
        return Array((text + "\r\n").utf8)
    }

    private static func chunks(_ value: String, every size: Int) -> [String] {
        let octets = Array(value.utf8)
        return stride(from: 0, to: max(octets.count, 1), by: size).map {
            String(decoding: octets[$0..<min($0 + size, octets.count)], as: UTF8.self)
        }
    }

    private static func chunks(_ value: String, breakingAfter separator: Character) -> [String] {
        var pieces: [String] = []
        var current = ""
        for character in value {
            current.append(character)
            if character == separator {
                pieces.append(current)
                current = ""
            }
        }
        if !current.isEmpty || pieces.isEmpty { pieces.append(current) }
        return pieces
    }
}
