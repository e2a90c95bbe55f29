import TernTestSupport
import Testing

@testable import TernDNSCore

@Suite("Reading a response")
struct DNSResponseOutcomeTests {
    private func response(
        _ question: DNSQuestion,
        _ code: DNSResponseCode = .noError,
        authoritative: Bool = true,
        answers: [DNSResourceRecord] = [],
        authorities: [DNSResourceRecord] = []
    ) -> DNSMessage {
        DNSMessage(
            header: DNSHeader(
                id: 1,
                isResponse: true,
                isAuthoritativeAnswer: authoritative,
                responseCode: code
            ),
            questions: [question],
            answers: answers,
            authorities: authorities
        )
    }

    private func a(_ name: DNSName, _ last: UInt8, ttl: UInt32 = 300) -> DNSResourceRecord {
        DNSResourceRecord(name: name, ttl: ttl, data: .a(IPv4Address(127, 0, 0, last)))
    }

    private func cname(_ name: DNSName, _ target: DNSName, ttl: UInt32 = 300) -> DNSResourceRecord {
        DNSResourceRecord(name: name, ttl: ttl, data: .cname(target))
    }

    @Test("records of the type asked; TTL is the smallest")
    func records() {
        let question = DNSQuestion(name: "mx1.example.com", type: .a)
        let message = response(
            question,
            answers: [a("mx1.example.com", 2, ttl: 300), a("MX1.example.com", 3, ttl: 200), a("other.example.com", 4)]
        )
        #expect(
            message.outcome(for: question)
                == .records([a("mx1.example.com", 2, ttl: 300), a("MX1.example.com", 3, ttl: 200)], ttl: 200)
        )
    }

    @Test("a CNAME chain inside the answer is followed; its TTLs count")
    func chain() {
        let question = DNSQuestion(name: "www.example.com", type: .a)
        let message = response(
            question,
            answers: [
                a("host.example.com", 7, ttl: 600), cname("www.example.com", "alias.example.com", ttl: 100),
                cname("alias.example.com", "host.example.com", ttl: 400),
            ]
        )
        #expect(message.outcome(for: question) == .records([a("host.example.com", 7, ttl: 600)], ttl: 100))
    }

    @Test("a CNAME whose target the response does not cover asks for the target")
    func aliasOut() {
        let question = DNSQuestion(name: "www.example.com", type: .mx)
        let message = response(question, answers: [cname("www.example.com", "elsewhere.example.net", ttl: 50)])
        #expect(message.outcome(for: question) == .alias(target: "elsewhere.example.net", ttl: 50, aliases: 1))
    }

    @Test("asking for CNAME itself does not follow it")
    func cnameQuestion() {
        let question = DNSQuestion(name: "www.example.com", type: .cname)
        let record = cname("www.example.com", "host.example.com")
        #expect(response(question, answers: [record]).outcome(for: question) == .records([record], ttl: 300))
    }

    @Test("CNAME loops and overlong chains fail")
    func loops() {
        let question = DNSQuestion(name: "a.example.com", type: .a)
        let loop = response(
            question,
            answers: [cname("a.example.com", "b.example.com"), cname("b.example.com", "a.example.com")]
        )
        #expect(loop.outcome(for: question) == .failure(DNSError(.aliasLoop)))
        let selfLoop = response(question, answers: [cname("a.example.com", "a.example.com")])
        #expect(selfLoop.outcome(for: question) == .failure(DNSError(.aliasLoop)))
        let names: [DNSName] = (0...10).map { try! DNSName("n\($0).example.com") }
        var chain = [cname("a.example.com", names[0])]
        for index in 0..<10 { chain.append(cname(names[index], names[index + 1])) }
        chain.append(a(names[10], 1))
        #expect(
            response(question, answers: chain).outcome(for: question, maximumAliases: 8)
                == .failure(DNSError(.aliasLoop))
        )
        #expect(
            response(question, answers: chain).outcome(for: question, maximumAliases: 11)
                == .records([a(names[10], 1)], ttl: 300)
        )
    }

    @Test("NXDOMAIN with SOA: negative TTL is min(SOA TTL, MINIMUM) (RFC 2308 §5)")
    func nxdomain() {
        let question = DNSQuestion(name: "nope.example.com", type: .mx)
        #expect(
            response(question, .nameError, authorities: [Packets.exampleSOA]).outcome(for: question) == .nameDoesNotExist(ttl: 60)
        )
        var lowSOA = Packets.exampleSOA
        lowSOA.ttl = 30
        #expect(
            response(question, .nameError, authorities: [lowSOA]).outcome(for: question) == .nameDoesNotExist(ttl: 30)
        )
        // Without an SOA the answer must not be cached.
        #expect(response(question, .nameError).outcome(for: question) == .nameDoesNotExist(ttl: 0))
        // At the end of a CNAME chain (RFC 6604): the target does not exist.
        let chained = response(
            question,
            .nameError,
            answers: [cname("nope.example.com", "gone.example.com", ttl: 20)],
            authorities: [Packets.exampleSOA]
        )
        #expect(chained.outcome(for: question) == .nameDoesNotExist(ttl: 20))
    }

    @Test("NODATA: NOERROR, no records of the type, SOA in authority")
    func nodata() {
        let question = DNSQuestion(name: "example.com", type: .mx)
        #expect(response(question, authorities: [Packets.exampleSOA]).outcome(for: question) == .noData(ttl: 60))
        #expect(
            response(question, answers: [a("example.com", 1)], authorities: [Packets.exampleSOA]).outcome(for: question)
                == .noData(ttl: 60)
        )
        #expect(response(question).outcome(for: question) == .noData(ttl: 0))
    }

    @Test("a referral is not an answer")
    func referral() {
        let question = DNSQuestion(name: "example.com", type: .mx)
        let ns = DNSResourceRecord(name: "example.com", ttl: 300, data: .ns("ns.example.com"))
        #expect(
            response(question, authoritative: false, authorities: [ns]).outcome(for: question)
                == .failure(DNSError(.referral))
        )
    }

    static let failures: [(DNSResponseCode, DNSError.Code, Bool)] = [
        (.serverFailure, .serverFailure, true),
        (.refused, .refused, true),
        (.formatError, .formatError, false),
        (.notImplemented, .notImplemented, false),
        (DNSResponseCode(rawValue: 9), .unexpectedResponseCode, true),
    ]

    @Test("error RCODEs are failures, temporary or permanent", arguments: failures)
    func failure(code: DNSResponseCode, expected: DNSError.Code, temporary: Bool) {
        let question = DNSQuestion(name: "example.com", type: .mx)
        guard case .failure(let error) = response(question, code).outcome(for: question) else {
            Issue.record("not a failure")
            return
        }
        #expect(error.code == expected)
        #expect(error.isTemporary == temporary)
    }

    @Test("errors of the network and of the server are temporary; invalid names are not")
    func temporaryOrPermanent() {
        for code: DNSError.Code in [
            .serverFailure, .refused, .timeout, .network, .malformedResponse, .aliasLoop, .noNameServers,
        ] {
            #expect(DNSError(code).isTemporary)
        }
        for code: DNSError.Code in [.invalidName, .formatError, .notImplemented] {
            #expect(!DNSError(code).isTemporary)
        }
    }
}
