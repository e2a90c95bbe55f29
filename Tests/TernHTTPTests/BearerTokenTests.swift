import Testing

@testable import TernHTTP

/// The admin API's token check (RFC 6750 §2.1's `Authorization: Bearer`).
@Suite("BearerToken")
struct BearerTokenTests {
    let token = BearerToken("c0ffee00c0ffee00c0ffee00c0ffee00")

    @Test("the token itself, with the scheme in any case, passes")
    func passes() {
        #expect(token.allows("Bearer c0ffee00c0ffee00c0ffee00c0ffee00"))
        #expect(token.allows("bearer c0ffee00c0ffee00c0ffee00c0ffee00"))
        #expect(token.allows("BEARER c0ffee00c0ffee00c0ffee00c0ffee00 "))
    }

    @Test("anything else fails", arguments: [
        nil, "", "Bearer", "Bearer ", "Bearer c0ffee00c0ffee00c0ffee00c0ffee0", "Bearer c0ffee00c0ffee00c0ffee00c0ffee000",
        "Basic c0ffee00c0ffee00c0ffee00c0ffee00", "c0ffee00c0ffee00c0ffee00c0ffee00",
        "Bearer C0FFEE00C0FFEE00C0FFEE00C0FFEE00", "Bearerc0ffee00c0ffee00c0ffee00c0ffee00",
    ])
    func fails(header: String?) {
        #expect(!token.allows(header))
    }
}
