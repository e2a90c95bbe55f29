import Testing

@testable import TernDirectory

/// Password hashes run on the verifier's own threads, a bounded number at once; beyond the
/// running and waiting bound a verification is refused (nil: the caller answers 454 4.7.0).
@Suite("PasswordVerifier")
struct PasswordVerifierTests {
    @Test("a right and a wrong password")
    func verifies() async throws {
        let verifier = PasswordVerifier(threads: 1, waiting: 1)
        let hash = try PasswordHash.make(password: "correct horse", iterations: 1000)
        #expect(try await verifier.verify(password: "correct horse", against: hash) == true)
        #expect(try await verifier.verify(password: "wrong", against: hash) == false)
        await verifier.shutdown()
    }

    @Test("past threads plus waiting, a verification is refused at once, and the rest complete")
    func bounded() async throws {
        let verifier = PasswordVerifier(threads: 1, waiting: 1)
        // The production cost (600,000 rounds): slow enough that three overlap.
        let hash = try PasswordHash.make(password: "correct horse")
        let results = try await withThrowingTaskGroup(of: Bool?.self) { group in
            for _ in 0..<6 {
                group.addTask { try await verifier.verify(password: "correct horse", against: hash) }
            }
            var results: [Bool?] = []
            for try await result in group { results.append(result) }
            return results
        }
        let refused = results.filter { $0 == nil }.count
        #expect(refused >= 1, "six at once against a bound of two: some must be refused")
        #expect(results.filter { $0 == true }.count == 6 - refused, "every admitted one completes and matches")
        // Once they are done the verifier admits again.
        #expect(try await verifier.verify(password: "correct horse", against: hash) == true)
        await verifier.shutdown()
    }
}
