public import TernDNSCore
import TernMIME
public import TernMail
public import TernMailAuth

/// What a receiving MX would make of a caught message (issue 18; Mailpit declined the feature):
/// its DKIM signatures and ARC chain checked through DNS, SPF for the client and envelope sender the catcher
/// recorded (the first Received field, Tern's, and the Return-Path it put in front), and DMARC
/// over both, as Authentication-Results and in detail. Checked when asked, never at capture: the
/// 250 of a catcher never waits for DNS, and what is shown is what DNS says now (a key published
/// since shows as pass on the next look).
public struct CatcherAuthentication: Sendable {
    public var checks: ReceiverChecks
    public var resolver: any DNSResolving
    public var signatureLimit: Int
    public var clock: WallClock

    public init(
        checks: ReceiverChecks, resolver: any DNSResolving, signatureLimit: Int = DKIMVerification.defaultSignatureLimit,
        clock: WallClock = .system
    ) {
        self.checks = checks
        self.resolver = resolver
        self.signatureLimit = signatureLimit
        self.clock = clock
    }

    func report(_ content: MessageContent) async -> APIAuthentication {
        let (header, body) = RawHeaderField.split(message: content.raw)
        let fields = RawHeaderField.fields(of: header)
        var verification = DKIMVerification(fields: fields, limit: checks.checksDKIM ? signatureLimit : 0)
        verification.updateBody(body)
        verification.finishBody()
        var chain = ARCVerification(fields: fields)
        chain.updateBody(body)
        chain.finishBody()
        let envelope = Self.envelope(of: content)
        let spf = envelope.client.flatMap { client in
            IPAddress(client.address).map { ip in
                SPFQuestion(ip: ip, sender: envelope.sender, helo: client.name, receiver: checks.authservID)
            }
        }
        let authors = (try? Originators.read(headerSection: Array(header)).get())?.authors ?? []
        let domains = Set(
            authors.compactMap { author in author.lastIndex(of: "@").map { author[author.index(after: $0)...].lowercased() } })
        let results = await checks.results(
            verification: verification, arc: chain, spf: spf, fromDomain: domains.count == 1 ? domains.first : nil,
            sample: Int.random(in: 0..<100), now: clock.now().seconds, resolver: resolver)
        return APIAuthentication(results, client: envelope.client)
    }

    /// The client (EHLO name, address) and envelope sender the catcher wrote in front of the
    /// message; nil where the fields are missing or not in Tern's form.
    static func envelope(of content: MessageContent) -> (client: (name: String, address: String)?, sender: (localPart: String, domain: String)?) {
        let client = content.field("Received").flatMap { ReceivedHeader.client(ofFieldValue: $0) }
        let sender = content.field("Return-Path").flatMap { MailAddress(stored: MIMEParser.unbracketed($0)) }
        return (client, sender.map { ($0.localPart, $0.domain) })
    }
}

/// `GET /api/v1/message/{ID}/authentication`: Tern's own route (docs/api.md).
struct APIAuthentication: Encodable {
    struct DKIM: Encodable {
        var result: String
        var domain: String
        var selector: String
        var algorithm: String
        var identity: String
        var keyBits: Int?
        var testing: Bool
        var unsignedBodyOctets: Int?
        var reason: String

        enum CodingKeys: String, CodingKey {
            case result = "Result", domain = "Domain", selector = "Selector", algorithm = "Algorithm", identity = "Identity"
            case keyBits = "KeyBits", testing = "Testing", unsignedBodyOctets = "UnsignedBodyOctets", reason = "Reason"
        }
    }

    struct SPF: Encodable {
        var result: String
        var domain: String
        /// `smtp.mailfrom=...` or `smtp.helo=...`: which identity was checked.
        var identity: String
        var clientIP: String
        var helo: String
        var reason: String
        var explanation: String

        enum CodingKeys: String, CodingKey {
            case result = "Result", domain = "Domain", identity = "Identity", clientIP = "ClientIP", helo = "HELO"
            case reason = "Reason", explanation = "Explanation"
        }
    }

    struct DMARC: Encodable {
        var result: String
        var domain: String
        var policy: String
        var appliedPolicy: String
        var disposition: String
        var reason: String

        enum CodingKeys: String, CodingKey {
            case result = "Result", domain = "Domain", policy = "Policy", appliedPolicy = "AppliedPolicy"
            case disposition = "Disposition", reason = "Reason"
        }
    }

    struct ARC: Encodable {
        var result: String
        /// How many ARC sets the message has.
        var instances: Int
        /// The sealers' domains, oldest first.
        var sealers: [String]
        var reason: String

        enum CodingKeys: String, CodingKey {
            case result = "Result", instances = "Instances", sealers = "Sealers", reason = "Reason"
        }
    }

    var authservID: String
    /// The Authentication-Results field a receiving MX would add (RFC 8601).
    var header: String
    var dkim: [DKIM]
    var spf: SPF?
    var dmarc: DMARC?
    var arc: ARC?

    enum CodingKeys: String, CodingKey {
        case authservID = "AuthservID", header = "Header", dkim = "DKIM", spf = "SPF", dmarc = "DMARC", arc = "ARC"
    }

    init(_ results: AuthenticationResults, client: (name: String, address: String)?) {
        authservID = results.authservID
        var field = results.field
        while field.hasSuffix("\r\n") { field.removeLast() }
        header = field
        dkim = (results.dkim ?? []).map { result in
            DKIM(
                result: result.result.rawValue, domain: result.domain ?? "", selector: result.selector ?? "",
                algorithm: result.algorithm ?? "", identity: result.identity ?? "", keyBits: result.keyBits,
                testing: result.testing, unsignedBodyOctets: result.unsignedBodyOctets, reason: result.reason ?? "")
        }
        spf = results.spf.map { verdict in
            SPF(
                result: verdict.result.rawValue, domain: verdict.domain, identity: verdict.property,
                clientIP: client?.address ?? "", helo: client?.name ?? "", reason: verdict.reason ?? "",
                explanation: verdict.explanation ?? "")
        }
        arc = results.arc.map { chain in
            ARC(result: chain.status.rawValue, instances: chain.instances, sealers: chain.sealers, reason: chain.reason ?? "")
        }
        dmarc = results.dmarc.map { verdict in
            DMARC(
                result: verdict.result.rawValue, domain: verdict.fromDomain, policy: verdict.policy?.rawValue ?? "",
                appliedPolicy: verdict.appliedPolicy?.rawValue ?? "", disposition: verdict.disposition.rawValue,
                reason: verdict.reason ?? "")
        }
    }
}
