public import NIOCore
public import TernMail
public import TernSMTPCore

/// Plays the part of `SMTPSession` for a `ServerSessionStateMachine` without a channel:
/// replies are encoded into one output buffer, as the handler does before it flushes; every
/// sender and recipient is accepted at once; body chunks are counted instead of written; a
/// commit succeeds immediately. What is left is the work the session itself does per command
/// and per read, which is what the benchmarks measure.
public struct SessionDriver {
    public let configuration: ServerSessionStateMachine.Configuration
    public private(set) var machine: ServerSessionStateMachine
    /// The encoded replies. Cleared, not replaced, by `connect()`, so its growth is paid once
    /// and not measured.
    public private(set) var output = ByteBuffer()
    public private(set) var bodyOctets = 0
    public private(set) var committed = 0
    private let queueID: QueueID
    /// Actions still to execute; reused so the driver's own bookkeeping allocates nothing.
    private var pending: [ServerSessionStateMachine.Action] = []

    public init(configuration: ServerSessionStateMachine.Configuration = .benchmark, queueID: QueueID = .benchmark) {
        self.configuration = configuration
        self.machine = ServerSessionStateMachine(configuration: configuration)
        self.queueID = queueID
        output.reserveCapacity(16 * 1024)
        pending.reserveCapacity(64)
    }

    /// A new connection: a fresh session machine, greeted.
    public mutating func connect() {
        machine = ServerSessionStateMachine(configuration: configuration)
        output.clear()
        bodyOctets = 0
        committed = 0
        execute(machine.greet())
    }

    /// One read from the client.
    public mutating func read(_ bytes: ByteBuffer) {
        execute(machine.bytesReceived(bytes))
    }

    /// Executes actions in order. Decisions the machine asks for are answered at once and the
    /// actions they produce queue behind the current ones, as in the handler's action queue.
    private mutating func execute(_ actions: [ServerSessionStateMachine.Action]) {
        pending.append(contentsOf: actions)
        var index = 0
        while index < pending.count {
            switch pending[index] {
            case .sendReply(let reply):
                reply.write(to: &output)
            case .checkSender, .checkRecipient:
                pending.append(contentsOf: machine.policyDecided(.accept))
            case .appendBody(let chunk):
                bodyOctets += chunk.readableBytes
            case .commitMessage:
                committed += 1
                pending.append(contentsOf: machine.messageCommitted(queueID))
            case .beginMessage, .abortMessage, .close:
                break
            case .startTLS, .authenticate, .continueAuthentication:
                preconditionFailure("the benchmark sessions use neither TLS nor AUTH")
            }
            index += 1
        }
        pending.removeAll(keepingCapacity: true)
    }
}

extension ServerSessionStateMachine.Configuration {
    /// The session's defaults (50 MiB messages, 1000-octet text lines), without TLS or AUTH.
    public static let benchmark = ServerSessionStateMachine.Configuration(hostname: "mx.tern.example")
}

extension QueueID {
    /// A fixed, valid identifier for the committed messages.
    public static let benchmark = QueueID("0123456789ABCDEF")!
}

extension ByteBuffer {
    /// `text` as one read would hand it over: a buffer of its own.
    public static func read(_ text: String) -> ByteBuffer {
        ByteBuffer(string: text)
    }

    /// Splits `bytes` into reads of `size` octets, each in storage of its own as a socket read
    /// would be (NIO allocates a buffer per read), so copy-on-write behaves as in the server.
    public static func reads(of bytes: [UInt8], size: Int) -> [ByteBuffer] {
        stride(from: 0, to: bytes.count, by: size).map { start in
            ByteBuffer(bytes: bytes[start..<min(start + size, bytes.count)])
        }
    }
}
