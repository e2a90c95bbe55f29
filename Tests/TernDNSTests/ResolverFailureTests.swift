import TernTestSupport
import NIOCore
import NIOPosix
import TernDNS
import TernDNSCore
import Testing

/// Timeouts, retries, failover and hostile responses, against scripted UDP servers on loopback.
@Suite("StubResolver failures")
struct ResolverFailureTests {
    private func isTemporary(_ code: DNSError.Code) -> @Sendable (any Error) -> Bool {
        { error in
            guard let error = error as? DNSError else { return false }
            return error.code == code && error.isTemporary
        }
    }

    @Test("a server that never answers: a temporary timeout after every try")
    func timeout() async throws {
        let silent = try await ScriptedServer.silent()
        let resolver = StubResolver(
            configuration: .init(nameServers: [silent.address], timeout: .milliseconds(300), attempts: 2)
        )
        let start = ContinuousClock.now
        await #expect(performing: { try await resolver.mx("example.com") }, throws: isTemporary(.timeout))
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(600), "two tries of 300 ms")
        #expect(await silent.received(atLeast: 2) == 2)
        await silent.stop()
    }

    @Test("retries go round every server, attempts times")
    func rotation() async throws {
        let first = try await ScriptedServer.silent()
        let second = try await ScriptedServer.silent()
        let resolver = StubResolver(
            configuration: .init(
                nameServers: [first.address, second.address],
                timeout: .milliseconds(200),
                attempts: 2
            )
        )
        // Four tries and no more: the bound on the work is the count of queries, not a time.
        await #expect(performing: { try await resolver.a("example.com") }, throws: isTemporary(.timeout))
        #expect(await first.received(atLeast: 2) == 2)
        #expect(await second.received(atLeast: 2) == 2)
        #expect(resolver.queriesSent == 4)
        await first.stop()
        await second.stop()
    }

    @Test("a silent first server costs one timeout; the next one answers")
    func failover() async throws {
        let silent = try await ScriptedServer.silent()
        let answering = try await ScriptedServer.start { query in
            [
                query.response(answers: [
                    DNSResourceRecord(name: query.questions[0].name, ttl: 60, data: .a(IPv4Address(127, 0, 0, 9)))
                ])
            ]
        }
        let resolver = StubResolver(
            configuration: .init(
                nameServers: [silent.address, answering.address],
                timeout: .milliseconds(300),
                attempts: 2
            )
        )
        let start = ContinuousClock.now
        #expect(try await resolver.a("host.example") == .records([IPv4Address(127, 0, 0, 9)], ttl: 60))
        #expect(ContinuousClock.now - start >= .milliseconds(300))
        #expect(await silent.received(atLeast: 1) == 1)
        await silent.stop()
        await answering.stop()
    }

    @Test("spoofed, mismatched and garbage datagrams are ignored while waiting for the answer")
    func mismatchesIgnored() async throws {
        let server = try await ScriptedServer.start { query in
            let name = query.questions[0].name
            let answer = [DNSResourceRecord(name: name, ttl: 60, data: .a(IPv4Address(127, 0, 0, 7)))]
            let wrong = [DNSResourceRecord(name: name, ttl: 60, data: .a(IPv4Address(10, 6, 6, 6)))]
            return [
                query.response(answers: wrong, id: query.header.id &+ 1),
                query.response(answers: wrong, questions: [DNSQuestion(name: "evil.example", type: .a)]),
                query.response(answers: wrong, questions: [DNSQuestion(name: name, type: .aaaa)]),
                query.response(answers: wrong, questions: []),
                ByteBuffer(bytes: [0xFF, 0xFF, 0x00]),
                ByteBuffer(bytes: Array(repeating: 0xC0, count: 40)),
                query.response(answers: answer),
                query.response(answers: wrong),
            ]
        }
        let resolver = StubResolver(
            configuration: .init(nameServers: [server.address], timeout: .seconds(2), attempts: 1)
        )
        #expect(try await resolver.a("host.example") == .records([IPv4Address(127, 0, 0, 7)], ttl: 60))
        #expect(resolver.queriesSent == 1)
        await server.stop()
    }

    @Test("only mismatched datagrams: the try times out")
    func onlyMismatches() async throws {
        let server = try await ScriptedServer.start { query in
            [
                query.response(id: query.header.id &+ 1),
                query.response(questions: [DNSQuestion(name: "other.example", type: .a)]),
            ]
        }
        let resolver = StubResolver(
            configuration: .init(nameServers: [server.address], timeout: .milliseconds(300), attempts: 1)
        )
        await #expect(performing: { try await resolver.a("host.example") }, throws: isTemporary(.timeout))
        await server.stop()
    }

    @Test("SERVFAIL moves on to the next server; from every server it is a temporary error")
    func serverFailure() async throws {
        let failing = try await ScriptedServer.start { query in [query.response(code: .serverFailure)] }
        let answering = try await ScriptedServer.start { query in
            [
                query.response(answers: [
                    DNSResourceRecord(name: query.questions[0].name, ttl: 60, data: .a(IPv4Address(127, 0, 0, 8)))
                ])
            ]
        }
        let both = StubResolver(
            configuration: .init(nameServers: [failing.address, answering.address], timeout: .seconds(2))
        )
        #expect(try await both.a("host.example") == .records([IPv4Address(127, 0, 0, 8)], ttl: 60))
        let alone = StubResolver(
            configuration: .init(nameServers: [failing.address], timeout: .seconds(30), attempts: 2)
        )
        // An answer, even SERVFAIL, ends the try at once: a try that waited for its timeout
        // would fail as `.timeout`.
        await #expect(performing: { try await alone.a("host.example") }, throws: isTemporary(.serverFailure))
        #expect(alone.queriesSent == 2)
        await failing.stop()
        await answering.stop()
    }

    @Test("FORMERR and NOTIMP are permanent")
    func permanentCodes() async throws {
        for code in [DNSResponseCode.formatError, .notImplemented] {
            let server = try await ScriptedServer.start { query in [query.response(code: code)] }
            let resolver = StubResolver(
                configuration: .init(nameServers: [server.address], timeout: .seconds(2), attempts: 1)
            )
            await #expect {
                try await resolver.a("host.example")
            } throws: { error in
                guard let error = error as? DNSError else { return false }
                return !error.isTemporary
            }
            await server.stop()
        }
    }

    @Test("a closed port answers with ICMP, which fails the try at once")
    func connectionRefused() async throws {
        // Bind a port, then close it: nothing listens there any more.
        let probe = try await ScriptedServer.silent()
        let address = probe.address
        await probe.stop()
        // A try that waited for its timeout would fail as `.timeout`: `.network` is the ICMP.
        let resolver = StubResolver(configuration: .init(nameServers: [address], timeout: .seconds(30), attempts: 2))
        await #expect(performing: { try await resolver.a("host.example") }, throws: isTemporary(.network))
    }

    @Test("no name servers: a temporary error without waiting")
    func noServers() async throws {
        let resolver = StubResolver(configuration: .init(nameServers: []))
        await #expect(performing: { try await resolver.mx("example.com") }, throws: isTemporary(.noNameServers))
    }

    @Test("a truncated answer cut through a record still leads to TCP")
    func cutTruncatedAnswer() async throws {
        // UDP: the answer header and question with TC set, then half a record. No TCP server
        // listens on the port, so the TCP try fails with a network error, which shows that the
        // cut datagram was taken as the (truncated) answer rather than ignored until timeout.
        let server = try await ScriptedServer.start { query in
            var buffer = query.response(answers: [
                DNSResourceRecord(name: query.questions[0].name, ttl: 60, data: .a(IPv4Address(1, 2, 3, 4)))
            ])
            buffer.setInteger(buffer.getInteger(at: 2, as: UInt8.self)! | 0x02, at: 2)
            return [buffer.getSlice(at: 0, length: buffer.readableBytes - 6)!]
        }
        let resolver = StubResolver(
            configuration: .init(nameServers: [server.address], timeout: .seconds(30), attempts: 1)
        )
        await #expect(performing: { try await resolver.a("host.example") }, throws: isTemporary(.network))
        #expect(resolver.queriesSent == 2)
        await server.stop()
    }
}

/// The TTL cache, with its own NSD server so the server's query count is this test's alone.
@Suite("StubResolver cache", .enabled(if: NSDServer.isAvailable || NSDServer.isCI, NSDServer.skipMessage))
struct ResolverCacheTests {
    @Test("answers come from the cache until their TTL ends, with no query; negative ones too")
    func cache() async throws {
        let server = try await NSDServer.start()
        do {
            try await exercise(server)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    private func exercise(_ server: NSDServer) async throws {
        let clock = ManualClock()
        let resolver = StubResolver(
            configuration: .init(nameServers: [server.address], timeout: .milliseconds(300), attempts: 1),
            now: { clock.now() }
        )
        let before = try server.queryCount()

        let first = try await resolver.mx("multi.tern.test")
        #expect(first.records?.count == 3)
        #expect(try await resolver.mx("nope.tern.test") == .nameDoesNotExist(ttl: 60))
        #expect(try await resolver.txt("nomx.tern.test") == .noData(ttl: 60))
        #expect(try server.queryCount() == before + 3)
        #expect(resolver.queriesSent == 3)
        #expect(resolver.cachedAnswers == 3)

        // Ten seconds later: the same answers, TTLs counting down, and no query at all.
        clock.advance(seconds: 10)
        #expect(try await resolver.mx("multi.tern.test") == first.records.map { .records($0, ttl: 290) })
        #expect(try await resolver.mx("MULTI.tern.TEST.") == first.records.map { .records($0, ttl: 290) })
        #expect(try await resolver.mx("nope.tern.test") == .nameDoesNotExist(ttl: 50))
        #expect(try await resolver.txt("nomx.tern.test") == .noData(ttl: 50))
        #expect(try server.queryCount() == before + 3)
        #expect(resolver.queriesSent == 3)

        // With the server gone, the cache still answers.
        await server.stop()
        #expect(try await resolver.mx("multi.tern.test").records?.count == 3)
        #expect(try await resolver.mx("nope.tern.test") == .nameDoesNotExist(ttl: 50))

        // Past the negative TTL (60 s) the NXDOMAIN is forgotten: asking again needs the server,
        // which is gone.
        clock.advance(seconds: 51)
        await #expect(throws: DNSError.self) { try await resolver.mx("nope.tern.test") }
        #expect(try await resolver.mx("multi.tern.test").records?.count == 3)
        // Past the positive TTL (300 s) too.
        clock.advance(seconds: 240)
        await #expect(throws: DNSError.self) { try await resolver.mx("multi.tern.test") }
        resolver.removeAllCachedAnswers()
        #expect(resolver.cachedAnswers == 0)
    }
}
