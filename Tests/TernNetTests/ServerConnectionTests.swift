import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import TernNet

/// The connection skeleton on an `EmbeddedChannel`, driven by a line protocol small enough to
/// read at a glance (`LineDriver`): what every protocol gets from `ServerConnection` without
/// writing it again.
@Suite("ServerConnection")
struct ServerConnectionTests {
    /// A protocol of CRLF lines: each line is answered `ok <line>`; `wait` waits for the test's
    /// decision; `bad` is an error reply; `quit` closes; `starttls` asks for TLS. Like the real
    /// sessions it keeps pipelined lines back after the first of a read (`hasMoreInput`).
    final class LineDriver: ConnectionDriver {
        enum Action: Equatable {
            case reply(String)
            case wait
            case startTLS
            case close
        }

        var pending: [String] = []
        var partial = ""
        var closed = false
        var events: [String] = []
        var decision: EventLoopPromise<String>?
        /// A decision is pending: nothing more is processed until it arrives.
        var waiting = false
        var tarpitDelay: TimeAmount?
        var timeout = TimeAmount.seconds(60)

        func greet() -> [Action] { [.reply("hello")] }

        func bytesReceived(_ bytes: ByteBuffer) -> [Action] {
            partial += String(buffer: bytes)
            while let end = partial.range(of: "\r\n") {
                pending.append(String(partial[..<end.lowerBound]))
                partial = String(partial[end.upperBound...])
            }
            return next()
        }

        func resumeProcessing() -> [Action] {
            events.append("resume")
            return next()
        }

        private func next() -> [Action] {
            guard !closed, !waiting, !pending.isEmpty else { return [] }
            let line = pending.removeFirst()
            switch line {
            case "wait":
                waiting = true
                return [.wait]
            case "quit":
                closed = true
                return [.reply("bye"), .close]
            case "starttls": return [.reply("go ahead"), .startTLS]
            default: return [.reply(line == "bad" ? "error bad" : "ok \(line)")]
            }
        }

        func tlsEstablished() -> [Action] { [] }

        func timedOut() -> [Action] {
            events.append("timed out")
            closed = true
            return [.reply("timeout"), .close]
        }

        func shutdownRequested() -> [Action] {
            closed = true
            return [.reply("shutting down"), .close]
        }

        func connectionClosed() -> [Action] {
            events.append("closed")
            closed = true
            return []
        }

        var hasMoreInput: Bool { !waiting && !pending.isEmpty }
        var isClosed: Bool { closed }
        var readsAreProgress: Bool { false }
        var idleTimeout: TimeAmount { timeout }

        func execute(_ action: Action, on connection: ServerConnection<LineDriver>) {
            switch action {
            case .reply(let text):
                connection.write { $0.writeString("\(text)\r\n") }
                if text.hasPrefix("error"), let tarpitDelay { connection.startTarpit(tarpitDelay) }
            case .wait:
                guard let eventLoop = connection.eventLoop else { return }
                let promise = eventLoop.makePromise(of: String.self)
                decision = promise
                connection.suspendReading(until: promise.futureResult) { result in
                    self.waiting = false
                    return [.reply((try? result.get()) ?? "failed")] + self.next()
                }
            case .startTLS:
                connection.startTLS()
            case .close:
                connection.close()
            }
        }

        func connectionOpened(admitted: Bool, connection: ServerConnection<LineDriver>) {
            events.append(admitted ? "admitted" : "refused")
        }

        func refusal(into buffer: inout ByteBuffer) { buffer.writeString("busy\r\n") }

        func sessionSummary() -> Logger.Metadata { [:] }
    }

    /// Counts the reads the connection lets through to the socket.
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var reads = 0

        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    struct Harness {
        let channel: EmbeddedChannel
        let driver: LineDriver
        let counter: ReadCounter

        init(limiter: ConnectionLimiter = ConnectionLimiter(limits: .init(total: 10, perAddress: 10)), greetingDelay: TimeAmount = .zero) throws {
            driver = LineDriver()
            counter = ReadCounter()
            channel = EmbeddedChannel()
            let connection = ServerConnection(
                driver: driver,
                configuration: .init(greetingDelay: greetingDelay, tls: nil, implicitTLS: false, limiter: limiter),
                logger: Logger(label: "test"))
            try channel.pipeline.syncOperations.addHandler(counter)
            try channel.pipeline.syncOperations.addHandler(connection)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
        }

        /// Everything written since the last call, as one string per write.
        func writes() throws -> [String] {
            var result: [String] = []
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { result.append(String(buffer: buffer)) }
            return result
        }

        /// A read batch: the octets, then read-complete.
        func send(_ text: String) throws {
            try channel.writeInbound(ByteBuffer(string: text))
            channel.pipeline.fireChannelReadComplete()
        }

        func requestRead() {
            channel.read()
        }
    }

    @Test("the greeting goes out on connect; replies to one read batch go out in one write")
    func batching() throws {
        let harness = try Harness()
        #expect(try harness.writes() == ["hello\r\n"])
        try harness.send("a\r\nb\r\nc\r\n")
        harness.channel.embeddedEventLoop.run()
        // The first line is answered in the read batch; the kept-back ones in later turns, each
        // turn's replies flushed together.
        let written = try harness.writes().joined()
        #expect(written == "ok a\r\nok b\r\nok c\r\n")
        #expect(harness.driver.events.filter { $0 == "resume" }.count == 2)
    }

    @Test("a connection past the limiter's slots is told so and closed; a slot is freed on close")
    func admission() throws {
        let limiter = ConnectionLimiter(limits: .init(total: 1, perAddress: 1))
        let first = try Harness(limiter: limiter)
        let second = try Harness(limiter: limiter)
        #expect(try second.writes() == ["busy\r\n"])
        #expect(second.driver.events == ["refused", "closed"])
        #expect(!second.channel.isActive)
        #expect(first.driver.events == ["admitted"])
        _ = try first.channel.finish()
        #expect(limiter.openConnections == 0)
    }

    @Test("reading stops while a decision is pending, and resumes with its actions after")
    func suspension() throws {
        let harness = try Harness()
        _ = try harness.writes()
        try harness.send("wait\r\nafter\r\n")
        let readsBefore = harness.counter.reads
        harness.requestRead()
        harness.channel.embeddedEventLoop.run()
        #expect(harness.counter.reads == readsBefore, "no read while the decision is pending")
        #expect(try harness.writes().isEmpty)
        harness.driver.decision?.succeed("decided")
        harness.channel.embeddedEventLoop.run()
        #expect(try harness.writes().joined() == "decided\r\nok after\r\n")
        #expect(harness.counter.reads == readsBefore + 1, "the read asked for meanwhile goes out once")
    }

    @Test("the tarpit holds error replies and reads for its delay")
    func tarpit() throws {
        let harness = try Harness()
        harness.driver.tarpitDelay = .seconds(1)
        _ = try harness.writes()
        try harness.send("bad\r\n")
        let readsBefore = harness.counter.reads
        harness.requestRead()
        #expect(try harness.writes().isEmpty)
        #expect(harness.counter.reads == readsBefore)
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(try harness.writes() == ["error bad\r\n"])
        #expect(harness.counter.reads == readsBefore + 1)
    }

    @Test("no reply within the idle timeout: the session times out")
    func idleTimeout() throws {
        let harness = try Harness()
        harness.driver.timeout = .seconds(5)
        _ = try harness.writes()
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        try harness.send("x\r\n")  // a reply is progress
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(!harness.driver.events.contains("timed out"))
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(harness.driver.events.contains("timed out"))
        #expect(try harness.writes().joined() == "ok x\r\ntimeout\r\n")
        #expect(!harness.channel.isActive)
    }

    @Test("STARTTLS on a listener without TLS closes after the cleartext reply")
    func startTLSWithoutTLS() throws {
        let harness = try Harness()
        _ = try harness.writes()
        try harness.send("starttls\r\n")
        #expect(try harness.writes() == ["go ahead\r\n"])
        #expect(!harness.channel.isActive)
    }

    @Test("a greeting delay holds the greeting; a quit's reply goes out before the close")
    func greetingAndQuit() throws {
        let harness = try Harness(greetingDelay: .seconds(2))
        #expect(try harness.writes().isEmpty)
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(try harness.writes() == ["hello\r\n"])
        try harness.send("quit\r\n")
        #expect(try harness.writes() == ["bye\r\n"])
        #expect(!harness.channel.isActive)
        #expect(harness.driver.events.last == "closed")
    }
}
