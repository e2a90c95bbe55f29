import NIOCore
import TernTestSupport
import NIOPosix
import Synchronization
import TernDNSCore



/// The cache's clock, moved by hand.
final class ManualClock: Sendable {
    private let nanoseconds = Mutex<UInt64>(1_000_000_000_000)

    func now() -> NIODeadline {
        NIODeadline.uptimeNanoseconds(nanoseconds.withLock { $0 })
    }

    func advance(seconds: UInt64) {
        nanoseconds.withLock { $0 += seconds * 1_000_000_000 }
    }
}

/// A UDP server on 127.0.0.1 that plays a script for each query it receives, and counts them.
/// `SilentServer` answers nothing; others answer with spoofed, mismatched or failing responses.
final class ScriptedServer: Sendable {
    /// What to send back for a query: any number of datagrams, possibly none.
    typealias Script = @Sendable (DNSMessage) -> [ByteBuffer]

    let channel: any Channel
    private let counter: Counter

    var address: SocketAddress { channel.localAddress! }
    var received: Int { counter.value.load(ordering: .relaxed) }

    private init(channel: any Channel, counter: Counter) {
        self.channel = channel
        self.counter = counter
    }

    static func start(_ script: @escaping Script) async throws -> ScriptedServer {
        let counter = Counter()
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Handler(counter: counter, script: script))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedServer(channel: channel, counter: counter)
    }

    /// A server that never answers.
    static func silent() async throws -> ScriptedServer {
        try await start { _ in [] }
    }

    func stop() async {
        try? await channel.close()
    }

    /// Waits briefly for datagrams still on their way through loopback.
    func received(atLeast count: Int) async -> Int {
        for _ in 0..<50 where received < count {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return received
    }

    private final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        typealias OutboundOut = AddressedEnvelope<ByteBuffer>

        let counter: Counter
        let script: Script

        init(counter: Counter, script: @escaping Script) {
            self.counter = counter
            self.script = script
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            counter.value.add(1, ordering: .relaxed)
            guard case .success(let query) = DNSMessage.decode(envelope.data) else { return }
            for datagram in script(query) {
                context.write(
                    wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: datagram)),
                    promise: nil
                )
            }
            context.flush()
        }
    }
}

extension DNSMessage {
    /// A response to this query with the given answers and code.
    func response(
        answers: [DNSResourceRecord] = [],
        code: DNSResponseCode = .noError,
        id: UInt16? = nil,
        questions: [DNSQuestion]? = nil
    ) -> ByteBuffer {
        var header = self.header
        header.id = id ?? header.id
        header.isResponse = true
        header.recursionAvailable = true
        header.responseCode = code
        let message = DNSMessage(header: header, questions: questions ?? self.questions, answers: answers)
        // Test values always encode.
        return try! message.encode().get()
    }
}
