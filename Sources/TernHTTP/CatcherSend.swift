import Foundation
import Hummingbird
import NIOCore
import TernMIME
import TernMail
import TernStore

/// Mailpit's `POST /api/v1/send`: a message described as JSON, written as MIME
/// (`MessageComposer`) and caught as if it had come over SMTP, into the default inbox.
struct APISendRequest: Decodable {
    struct Address: Decodable {
        var email: String
        var name: String?

        enum CodingKeys: String, CodingKey {
            case email = "Email"
            case name = "Name"
        }
    }

    struct Attachment: Decodable {
        /// Base64.
        var content: String
        var filename: String
        var contentType: String?
        var contentID: String?

        enum CodingKeys: String, CodingKey {
            case content = "Content"
            case filename = "Filename"
            case contentType = "ContentType"
            case contentID = "ContentID"
        }
    }

    var from: Address
    var to: [Address]?
    var cc: [Address]?
    var bcc: [String]?
    var replyTo: [Address]?
    var subject: String?
    var text: String?
    var html: String?
    var attachments: [Attachment]?
    var headers: [String: String]?
    var tags: [String]?

    enum CodingKeys: String, CodingKey {
        case from = "From"
        case to = "To"
        case cc = "Cc"
        case bcc = "Bcc"
        case replyTo = "ReplyTo"
        case subject = "Subject"
        case text = "Text"
        case html = "HTML"
        case attachments = "Attachments"
        case headers = "Headers"
        case tags = "Tags"
    }

    struct Refusal: Error {
        let message: String
    }

    /// Text for one header line: every line break a space (no value may start a new field).
    static func oneLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0 == "\r" || $0 == "\n" ? " " : $0 }))
    }

    /// The composer for this request, or why the request is refused: an address that is not a
    /// plain `local@domain` (`APIRelease.isAddress`), content that is not base64, a header
    /// field name that is not ftext or is the MIME structure's. Line breaks in names, the
    /// subject, tags and header values become spaces.
    func composer() throws(Refusal) -> MessageComposer {
        func mailbox(_ address: Address) throws(Refusal) -> MessageComposer.Mailbox {
            guard APIRelease.isAddress(address.email) else { throw Refusal(message: "'\(address.email)' is not an address") }
            return .init(name: Self.oneLine(address.name ?? ""), address: address.email)
        }
        var composer = MessageComposer(from: try mailbox(from))
        composer.to = try (to ?? []).map(mailbox)
        composer.cc = try (cc ?? []).map(mailbox)
        composer.bcc = try (bcc ?? []).map { (email: String) throws(Refusal) -> MessageComposer.Mailbox in
            try mailbox(Address(email: email))
        }
        composer.replyTo = try (replyTo ?? []).map(mailbox)
        composer.subject = Self.oneLine(subject ?? "")
        composer.text = text
        composer.html = html
        for attachment in attachments ?? [] {
            // As Go's StdEncoding (Mailpit's) reads it: padding required, unused low bits of the
            // last character ignored (RFC 4648 §3.5 lets a decoder accept them).
            let text = attachment.content.filter { !$0.isWhitespace }
            guard let data = Data(base64Encoded: text) else {
                throw Refusal(message: "the Content of \(attachment.filename) is not base64")
            }
            let content = [UInt8](data)
            composer.attachments.append(
                .init(
                    filename: attachment.filename, contentType: attachment.contentType ?? "",
                    contentID: attachment.contentID.flatMap { $0.isEmpty ? nil : $0 }, content: content))
        }
        // A dictionary has no order; the fields go out sorted, so the same request makes the
        // same message.
        composer.fields = (headers ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, Self.oneLine($0.value)) }
        // X-Tags is a comma-separated list: a comma inside a tag would split it.
        let tags = (tags ?? []).map { Self.oneLine($0).replacingOccurrences(of: ",", with: " ") }
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if !tags.isEmpty { composer.fields.append(("X-Tags", tags.joined(separator: ", "))) }
        return composer
    }
}

extension CatcherHTTP {
    /// The most a send request may be: attachments travel as base64 inside the JSON.
    static let maximumSendRequest = 64 * 1024 * 1024

    static func sendRoute(_ routes: inout Routes, catcher: Catcher) {
        routes.post("api/v1/send") { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: maximumSendRequest)
            let send: APISendRequest
            do {
                send = try JSONDecoder().decode(APISendRequest.self, from: Data(body.readableBytesView))
            } catch {
                return try jsonError("the body is not Mailpit's send request: From {Email} at least")
            }
            let composer: MessageComposer
            do {
                composer = try send.composer()
            } catch let refusal as APISendRequest.Refusal {
                return try jsonError(refusal.message)
            }
            var random = SystemRandomNumberGenerator()
            let now = WallClock.system.now()
            let queueID = QueueID(microsecondsSinceEpoch: now.microseconds, using: &random)
            let token = String(UInt64.random(in: 0...UInt64.max, using: &random), radix: 16)
            let octets: [UInt8]
            do {
                octets = try composer.render(messageID: "\(queueID)@tern.send", date: now.seconds, boundaryToken: token)
            } catch let problem as MessageComposer.Problem {
                return try jsonError(problem.description)
            }
            let id = try await catcher.inject(octets, sender: send.from.email, id: queueID.rawValue, receivedAt: now.seconds)
            return try json(["ID": id])
        }
    }

    /// Mailpit's JSONErrorResponse: `400` with `{"Error": "..."}`.
    static func jsonError(_ message: String) throws -> Response {
        var response = try json(["Error": message])
        response.status = .badRequest
        return response
    }
}
