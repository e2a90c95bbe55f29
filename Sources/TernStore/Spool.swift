import Foundation
public import NIOCore
public import NIOPosix
import TernMail

/// The queue directory of a serving MTA: `spool/queue/<QueueID>.eml` holds the message as it
/// will be delivered (trace header first), `spool/queue/<QueueID>.json` its envelope.
///
/// The envelope file is renamed into place last, so it marks a complete message: a `.eml`
/// without its `.json` belongs to a transaction that never got its 250 and is removed at start.
public struct Spool: MessageStore {
    public let root: String
    private let pool: NIOThreadPool
    private let queueDirectory: DirectorySync

    public init(root: String, pool: NIOThreadPool) throws {
        self.root = root
        self.pool = pool
        for sub in ["tmp", "queue"] { try POSIXFile.makeDirectories("\(root)/\(sub)") }
        self.queueDirectory = try DirectorySync(path: "\(root)/queue", pool: pool)
    }

    public var location: String { "\(root)/queue" }

    public func begin(_ message: IncomingMessage, prefix: ByteBuffer, on eventLoop: any EventLoop) -> any MessageWriter {
        let root = self.root
        let id = message.id
        return FileMessageWriter(
            prefix: prefix, temporaryPath: "\(root)/tmp/\(id).eml", directory: queueDirectory, pool: pool,
            eventLoop: eventLoop
        ) { size in
            let envelopePath = "\(root)/tmp/\(id).json"
            let record = try SpoolRecord(message, size: size).encoded()
            let descriptor = try POSIXFile.create(envelopePath)
            defer { POSIXFile.close(descriptor) }
            do {
                try record.withUnsafeBytes { try POSIXFile.writeAll(descriptor, $0) }
                try POSIXFile.dataSync(descriptor)
                try POSIXFile.rename("\(root)/tmp/\(id).eml", "\(root)/queue/\(id).eml")
                try POSIXFile.rename(envelopePath, "\(root)/queue/\(id).json")
            } catch {
                POSIXFile.remove(envelopePath)
                POSIXFile.remove("\(root)/queue/\(id).eml")
                throw error
            }
        }
    }

    public func recover() throws -> RecoveryReport {
        var removed = 0
        for name in try POSIXFile.list("\(root)/tmp") {
            POSIXFile.remove("\(root)/tmp/\(name)")
            removed += 1
        }
        let names = Set(try POSIXFile.list("\(root)/queue"))
        var messages = 0
        for name in names {
            let (stem, ext) = Self.split(name)
            let complete = names.contains("\(stem).eml") && names.contains("\(stem).json")
            guard ext == "eml" || ext == "json" else { continue }
            if complete {
                if ext == "eml" { messages += 1 }
            } else {
                POSIXFile.remove("\(root)/queue/\(name)")
                removed += 1
            }
        }
        return RecoveryReport(messages: messages, removedTemporaryFiles: removed)
    }

    private static func split(_ name: String) -> (String, String) {
        guard let dot = name.lastIndex(of: ".") else { return (name, "") }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]))
    }
}

/// The envelope file's JSON. Keys are stable: other tools (and the tests) read them.
struct SpoolRecord: Codable {
    struct Recipient: Codable {
        var address: String
        var notify: [String]?
        var orcpt: String?
    }

    var id: String
    var from: String
    var recipients: [Recipient]
    var helo: String
    var peer: String
    var `protocol`: String
    var body: String?
    var smtputf8: Bool
    var ret: String?
    var envid: String?
    var size: Int
    var received_at: String

    init(_ message: IncomingMessage, size: Int) {
        let envelope = message.envelope
        self.id = message.id.rawValue
        self.from = envelope.sender?.description ?? ""
        self.recipients = envelope.recipients.map {
            Recipient(address: $0.address.description, notify: $0.notify?.keywords, orcpt: $0.originalRecipient?.parameterValue)
        }
        self.helo = message.trace.clientName
        self.peer = message.trace.clientAddress
        self.protocol = message.trace.receivedProtocol
        self.body = envelope.body?.rawValue
        self.smtputf8 = envelope.smtpUTF8
        self.ret = envelope.dsnReturn?.rawValue
        self.envid = envelope.envelopeID
        self.size = size
        self.received_at = Date(timeIntervalSince1970: TimeInterval(message.trace.receivedAt))
            .formatted(.iso8601)
    }

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}
