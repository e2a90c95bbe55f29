import Foundation
import Testing

@testable import TernDirectory

/// The server side of SCRAM-SHA-256 against RFC 7677 §3's example conversation, byte for byte,
/// and against what a hostile client may send instead.
@Suite("SCRAM-SHA-256 server")
struct SCRAMTests {
    static let clientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    static let serverNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    static let serverFirst =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    static let clientFinal =
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    static let serverFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    static let decoy = (salt: Array("decoy salt 16 oc".utf8), iterations: 4096)

    static func pencil() throws -> SCRAMCredentials {
        try SCRAMCredentials.derive(
            password: "pencil", salt: #require(SCRAMCredentials.decode("W22ZaJ0SNY7soEsUEjb6gQ==")), iterations: 4096)
    }

    @Test("RFC 7677 §3: the example exchange")
    func example() throws {
        var exchange = SCRAMServerExchange(serverNonce: Self.serverNonce)
        let (user, authzid) = try exchange.receiveClientFirst(Array(Self.clientFirst.utf8))
        #expect(user == "user" && authzid == "")
        #expect(exchange.serverFirst(credentials: try Self.pencil(), decoy: Self.decoy) == Array(Self.serverFirst.utf8))
        #expect(try exchange.receiveClientFinal(Array(Self.clientFinal.utf8)) == Array(Self.serverFinal.utf8))
    }

    @Test("a wrong password fails at the proof; an unknown user looks the same until then")
    func wrongProof() throws {
        var exchange = SCRAMServerExchange(serverNonce: Self.serverNonce)
        _ = try exchange.receiveClientFirst(Array(Self.clientFirst.utf8))
        let other = try SCRAMCredentials.derive(password: "pen", salt: try Self.pencil().salt, iterations: 4096)
        _ = exchange.serverFirst(credentials: other, decoy: Self.decoy)
        #expect(throws: SCRAMServerExchange.Failure.invalidProof) {
            try exchange.receiveClientFinal(Array(Self.clientFinal.utf8))
        }

        var unknown = SCRAMServerExchange(serverNonce: Self.serverNonce)
        _ = try unknown.receiveClientFirst(Array(Self.clientFirst.utf8))
        let first = String(decoding: unknown.serverFirst(credentials: nil, decoy: Self.decoy), as: UTF8.self)
        #expect(first.hasSuffix(",s=ZGVjb3kgc2FsdCAxNiBvYw==,i=4096"))
        #expect(throws: SCRAMServerExchange.Failure.invalidProof) {
            try unknown.receiveClientFinal(Array(Self.clientFinal.utf8))
        }
    }

    @Test("the nonce and channel binding must be the exchange's own")
    func mismatch() throws {
        for final in [
            Self.clientFinal.replacingOccurrences(of: "$k0,p=", with: "$k1,p="),
            Self.clientFinal.replacingOccurrences(of: "c=biws", with: "c=eSws"),
        ] {
            var exchange = SCRAMServerExchange(serverNonce: Self.serverNonce)
            _ = try exchange.receiveClientFirst(Array(Self.clientFirst.utf8))
            _ = exchange.serverFirst(credentials: try Self.pencil(), decoy: Self.decoy)
            #expect(throws: SCRAMServerExchange.Failure.mismatch) { try exchange.receiveClientFinal(Array(final.utf8)) }
        }
    }

    @Test("client-first messages that break §7's grammar or ask for channel binding", arguments: [
        "", "n", "n,,", "n,,n=user", "n,,r=abc,n=user", "p=tls-unique,,n=user,r=abc", "x,,n=user,r=abc",
        "n,,m=ext,n=user,r=abc", "n,,n=,r=abc", "n,,n=us=er,r=abc", "n,,n=us=2Xer,r=abc", "n,,n=user,r=",
        "n,,n=user,r=a b", "n,x=y,n=user,r=abc", "n,,n=us\u{0}er,r=abc", "n,,n=us\ter,r=abc",
    ])
    func malformedFirst(message: String) {
        var exchange = SCRAMServerExchange(serverNonce: Self.serverNonce)
        #expect(throws: SCRAMServerExchange.Failure.malformed) { try exchange.receiveClientFirst(Array(message.utf8)) }
    }

    @Test("authzid and escaped names are decoded (=2C, =3D)")
    func names() throws {
        var exchange = SCRAMServerExchange(serverNonce: "x")
        let (user, authzid) = try exchange.receiveClientFirst(Array("y,a=boss=2Cinc,n=a=3Db=2Cc,r=abc".utf8))
        #expect(user == "a=b,c" && authzid == "boss,inc")
    }

    @Test("client-final messages that break the grammar", arguments: [
        "", "c=biws", "c=biws,r=abc", "r=abc,c=biws,p=AAAA", "c=biws,r=abc,p=!!!", "c=biws,r=abc,p=AAAA",
    ])
    func malformedFinal(message: String) throws {
        var exchange = SCRAMServerExchange(serverNonce: Self.serverNonce)
        _ = try exchange.receiveClientFirst(Array(Self.clientFirst.utf8))
        _ = exchange.serverFirst(credentials: try Self.pencil(), decoy: Self.decoy)
        #expect(throws: SCRAMServerExchange.Failure.malformed) { try exchange.receiveClientFinal(Array(message.utf8)) }
    }

    @Test("random client messages never crash the exchange")
    func fuzz() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("nyp=,arcs0123456789ABCDEFabcdef+/=\u{0}\u{FF}".utf8)
        for _ in 0..<3000 {
            let length = Int.random(in: 0...60, using: &generator)
            let first = "n,,n=u,r=" + String(decoding: (0..<length).map { _ in alphabet.randomElement(using: &generator)! }, as: UTF8.self)
            let final = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
            var exchange = SCRAMServerExchange(serverNonce: "N")
            if (try? exchange.receiveClientFirst(Array(first.utf8))) != nil {
                _ = exchange.serverFirst(credentials: nil, decoy: Self.decoy)
                #expect((try? exchange.receiveClientFinal(final)) == nil)
            }
        }
    }

    @Test("SASLprep maps non-ASCII spaces and soft hyphens, and NFKC-normalises")
    func saslPrep() {
        #expect(SASLPrep.prepare("I\u{00AD}X") == "IX")
        #expect(SASLPrep.prepare("a\u{00A0}b") == "a b")
        #expect(SASLPrep.prepare("\u{2168}") == "IX")
        #expect(SASLPrep.prepare("user") == "user")
    }
}
