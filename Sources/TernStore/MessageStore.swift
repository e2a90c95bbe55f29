public import NIOCore
public import TernMail

/// The facts about how a message arrived, for the envelope record and the logs.
public struct ArrivalTrace: Sendable, Hashable {
    /// The EHLO/HELO argument.
    public var clientName: String
    /// The client's IP address.
    public var clientAddress: String
    /// The Received `with` protocol (ESMTP, ESMTPS, ...).
    public var receivedProtocol: String
    /// Seconds since 1970 when the message began.
    public var receivedAt: Int64
    /// The user the client authenticated as (SMTP AUTH), if it did.
    public var authenticatedUser: String?
    /// The client authenticated or connected from a relay network: Tern vouches for its
    /// sender address, so reports may go to it and return the content it asks for
    /// (`NotificationPolicy` in TernQueue). False for a stranger on port 25.
    public var trusted: Bool

    public init(
        clientName: String, clientAddress: String, receivedProtocol: String, receivedAt: Int64,
        authenticatedUser: String? = nil, trusted: Bool? = nil
    ) {
        self.clientName = clientName
        self.clientAddress = clientAddress
        self.receivedProtocol = receivedProtocol
        self.receivedAt = receivedAt
        self.authenticatedUser = authenticatedUser
        self.trusted = trusted ?? (authenticatedUser != nil)
    }
}

/// One message on its way in.
public struct IncomingMessage: Sendable, Hashable {
    public var id: QueueID
    public var envelope: Envelope
    public var trace: ArrivalTrace
    /// Its folder is decided only when it is committed (`MessageWriter.commit(adding:folder:)`):
    /// the From: domain's DMARC policy may send it to Junk. Such a message is queued, never
    /// written into a mailbox as it arrives.
    public var awaitsFiling = false

    public init(id: QueueID, envelope: Envelope, trace: ArrivalTrace) {
        self.id = id
        self.envelope = envelope
        self.trace = trace
    }
}

extension Envelope {
    /// RFC 5321 §4.4: the Return-Path field the final delivery puts in front of a message, with
    /// the reverse-path (`<>` for the null sender).
    public var returnPathField: String {
        "Return-Path: <\(sender?.description ?? "")>\r\n"
    }
}

/// A store that accepts messages in the shape of an SMTP transaction.
public protocol MessageStore: Sendable {
    /// Opens a message whose content starts with `prefix` (the trace header). The writer is
    /// confined to `eventLoop`: call it only there.
    func begin(_ message: IncomingMessage, prefix: ByteBuffer, on eventLoop: any EventLoop) -> any MessageWriter

    /// Removes what an interrupted run left behind (never-acknowledged temporary files) and
    /// reports what is stored. Call once at start, before accepting mail.
    func recover() throws -> RecoveryReport

    /// A human-readable location for the start-up line.
    var location: String { get }
}

/// What `recover()` found.
public struct RecoveryReport: Sendable, Hashable {
    /// Messages stored and acknowledged.
    public var messages: Int
    /// Temporary files of interrupted transactions that were removed.
    public var removedTemporaryFiles: Int

    public init(messages: Int, removedTemporaryFiles: Int) {
        self.messages = messages
        self.removedTemporaryFiles = removedTemporaryFiles
    }
}

/// The body of one message being written. Confined to its event loop.
public protocol MessageWriter: AnyObject {
    /// Octets accepted by `append` and not yet on disk; the driver stops reading from the
    /// client while this is above twice `MessageWriterLimits.flushThreshold` (bounded memory per session).
    var bufferedBytes: Int { get }
    /// Appends content (copied; the caller may reuse its buffer).
    func append(_ chunk: ByteBuffer)
    /// Completes when everything appended so far has left memory (written or failed).
    func drained() -> EventLoopFuture<Void>
    /// Makes the message durable, with `fields` between the prefix (the trace fields) and the
    /// content appended: header fields that could only be made once the content was whole, a
    /// DKIM-Signature or an Authentication-Results, which so come right under Tern's own
    /// Received field. Succeeds only after the data and its directory entry are on stable
    /// storage.
    ///
    /// `folder`: the special-use folder its local deliveries go into instead of INBOX (DMARC's
    /// quarantine). The queue records it; a mailbox's own writer is its folder already and
    /// is only ever asked for nil (`IncomingMessage.awaitsFiling`).
    func commit(adding fields: ByteBuffer, folder: SpecialUse?) -> EventLoopFuture<Void>
    /// Abandons the message; nothing of it remains.
    func abort()
}

extension MessageWriter {
    /// Makes the message durable as it was appended.
    public func commit() -> EventLoopFuture<Void> { commit(adding: ByteBuffer(), folder: nil) }

    /// Makes the message durable with `fields` added, for its usual folder.
    public func commit(adding fields: ByteBuffer) -> EventLoopFuture<Void> { commit(adding: fields, folder: nil) }
}

/// Sizes shared by the writers and the drivers that feed them.
public enum MessageWriterLimits {
    /// Appends are gathered into writes of this size; a driver pauses reading while a writer
    /// holds twice this much.
    public static let flushThreshold = 256 * 1024
}

/// Why a store could not take a message.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    enum Code: Sendable {
        case noSpace
        case io
        case closed
        case noSuchMailbox
    }

    let code: Code
    /// The POSIX error number, if one caused it.
    public let errno: Int32
    public let operation: String

    /// The disk or quota is full: a temporary condition (452 4.3.1).
    public var isOutOfSpace: Bool { code == .noSpace }

    static func posix(_ operation: String, errno: Int32) -> StoreError {
        let code: Code = (errno == 28 || errno == 122) ? .noSpace : .io  // ENOSPC, EDQUOT
        return StoreError(code: code, errno: errno, operation: operation)
    }

    static let closed = StoreError(code: .closed, errno: 0, operation: "store is shut down")

    /// A mailbox name the store's layout has no place for.
    static func noSuchMailbox(_ name: String) -> StoreError {
        StoreError(code: .noSuchMailbox, errno: 2, operation: "open mailbox '\(name)'")  // ENOENT
    }

    public var description: String { "\(operation) failed (errno \(errno))" }
}
