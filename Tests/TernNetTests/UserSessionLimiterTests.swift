import Testing

@testable import TernNet

@Suite("UserSessionLimiter")
struct UserSessionLimiterTests {
    @Test("a user gets at most perUser sessions, counted without regard to case; a release frees one")
    func capsPerUser() {
        let limiter = UserSessionLimiter(perUser: 2)
        #expect(limiter.acquire("alice@example.test"))
        #expect(limiter.acquire("Alice@Example.TEST"))
        #expect(!limiter.acquire("alice@example.test"))
        #expect(limiter.acquire("bob@example.test"), "another user is not held up")
        limiter.release("ALICE@example.test")
        #expect(limiter.sessions(of: "alice@example.test") == 1)
        #expect(limiter.acquire("alice@example.test"))
        limiter.release("alice@example.test")
        limiter.release("alice@example.test")
        limiter.release("alice@example.test")
        #expect(limiter.sessions(of: "alice@example.test") == 0, "an extra release does not go below zero")
        #expect(limiter.acquire("alice@example.test") && limiter.acquire("alice@example.test"))
    }
}
