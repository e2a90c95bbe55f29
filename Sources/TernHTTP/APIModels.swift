import Crypto
import TernMIME
import TernMail
import TernStore

// The JSON of the API. Field names are Mailpit's (PascalCase on messages, snake_case on the
// list wrapper), so Mailpit's client libraries and CI scripts work unchanged; Tern's additions
// (Inbox, Links, Codes, Parts, ToCount, ...) use the same style. docs/api.md describes every field.

struct APIAddress: Codable, Equatable {
    var name: String
    var address: String

    enum CodingKeys: String, CodingKey {
        case name = "Name"
        case address = "Address"
    }

    init(_ address: IndexedAddress) {
        name = address.name
        self.address = address.address
    }
}

/// The fields a message has in a list and alone: encoded into the same JSON object as the
/// fields of `APIMessageSummary` or `APIMessage` (one encoder, one keyed container).
///
/// `To`, `Cc`, `Bcc` and `ReplyTo` hold at most `MessageSummary.maximumAddresses` addresses
/// each; `ToCount`, ... (Tern's) say how many the message has.
struct APIMessageCommon: Encodable {
    var id: String
    var messageID: String
    var read: Bool
    var from: APIAddress?
    var to: [APIAddress]
    var cc: [APIAddress]
    var bcc: [APIAddress]
    var replyTo: [APIAddress]
    var subject: String
    var created: String
    var username: String
    var inbox: String
    var tags: [String]
    var size: Int
    var toCount: Int
    var ccCount: Int
    var bccCount: Int
    var replyToCount: Int

    enum CodingKeys: String, CodingKey {
        case id = "ID"
        case messageID = "MessageID"
        case read = "Read"
        case from = "From"
        case to = "To"
        case cc = "Cc"
        case bcc = "Bcc"
        case replyTo = "ReplyTo"
        case subject = "Subject"
        case created = "Created"
        case username = "Username"
        case inbox = "Inbox"
        case tags = "Tags"
        case size = "Size"
        case toCount = "ToCount"
        case ccCount = "CcCount"
        case bccCount = "BccCount"
        case replyToCount = "ReplyToCount"
    }

    init(_ message: IndexedMessage) {
        id = message.id
        messageID = message.messageID
        read = message.read
        from = message.from.map(APIAddress.init)
        to = message.to.map(APIAddress.init)
        cc = message.cc.map(APIAddress.init)
        bcc = message.bcc.map(APIAddress.init)
        replyTo = message.replyTo.map(APIAddress.init)
        subject = message.subject
        created = Timestamp.rfc3339(milliseconds: message.receivedAt)
        username = message.inbox == CatcherStore.defaultInboxName ? "" : message.inbox
        inbox = message.inbox
        tags = message.tags
        size = message.size
        toCount = message.toCount
        ccCount = message.ccCount
        bccCount = message.bccCount
        replyToCount = message.replyToCount
    }

    /// `null` for a missing From, as Mailpit writes it (synthesized encoding would omit it).
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(messageID, forKey: .messageID)
        try container.encode(read, forKey: .read)
        try container.encode(from, forKey: .from)
        try container.encode(to, forKey: .to)
        try container.encode(cc, forKey: .cc)
        try container.encode(bcc, forKey: .bcc)
        try container.encode(replyTo, forKey: .replyTo)
        try container.encode(subject, forKey: .subject)
        try container.encode(created, forKey: .created)
        try container.encode(username, forKey: .username)
        try container.encode(inbox, forKey: .inbox)
        try container.encode(tags, forKey: .tags)
        try container.encode(size, forKey: .size)
        try container.encode(toCount, forKey: .toCount)
        try container.encode(ccCount, forKey: .ccCount)
        try container.encode(bccCount, forKey: .bccCount)
        try container.encode(replyToCount, forKey: .replyToCount)
    }
}

/// A message in a list (Mailpit's `MessageSummary`).
struct APIMessageSummary: Encodable {
    var common: APIMessageCommon
    /// How many (a number in a list, the list itself in a message).
    var attachments: Int
    var snippet: String

    enum CodingKeys: String, CodingKey {
        case attachments = "Attachments"
        case snippet = "Snippet"
    }

    init(_ message: IndexedMessage) {
        common = APIMessageCommon(message)
        attachments = message.attachments
        snippet = message.snippet
    }

    func encode(to encoder: any Encoder) throws {
        try common.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(attachments, forKey: .attachments)
        try container.encode(snippet, forKey: .snippet)
    }
}

/// A page of messages (Mailpit's `MessagesSummary`).
struct APIMessageList: Encodable {
    var total: Int
    var unread: Int
    var count: Int
    var messagesCount: Int
    var messagesUnread: Int
    var start: Int
    var tags: [String]
    var messages: [APIMessageSummary]

    enum CodingKeys: String, CodingKey {
        case total, unread, count, start, tags, messages
        case messagesCount = "messages_count"
        case messagesUnread = "messages_unread"
    }

    init(_ page: MessagePage, start: Int) {
        total = page.total
        unread = page.unread
        count = page.messages.count
        messagesCount = page.matched
        messagesUnread = page.matchedUnread
        self.start = start
        // A set beside the list: a page of 10,000 messages with 100 tags each is one pass.
        var allTags: [String] = []
        var seen: Set<String> = []
        for message in page.messages { for tag in message.tags where seen.insert(tag).inserted { allTags.append(tag) } }
        tags = allTags
        messages = page.messages.map(APIMessageSummary.init)
    }
}

/// An attachment or inline part (Mailpit's `Attachment`).
struct APIAttachment: Codable {
    /// The decoded content's digests, in lower-case hex, so a test can check a file arrived
    /// intact without downloading it.
    struct Checksums: Codable {
        var md5: String
        var sha1: String
        var sha256: String

        enum CodingKeys: String, CodingKey {
            case md5 = "MD5"
            case sha1 = "SHA1"
            case sha256 = "SHA256"
        }

        init(_ octets: [UInt8]) {
            func hex(_ digest: some Sequence<UInt8>) -> String {
                let digits = Array("0123456789abcdef".utf8)
                var text: [UInt8] = []
                for octet in digest { text += [digits[Int(octet >> 4)], digits[Int(octet & 0x0F)]] }
                return String(decoding: text, as: UTF8.self)
            }
            md5 = hex(Insecure.MD5.hash(data: octets))
            sha1 = hex(Insecure.SHA1.hash(data: octets))
            sha256 = hex(SHA256.hash(data: octets))
        }
    }

    var partID: String
    var fileName: String
    var contentType: String
    var contentID: String
    var size: Int
    var checksums: Checksums

    enum CodingKeys: String, CodingKey {
        case partID = "PartID"
        case fileName = "FileName"
        case contentType = "ContentType"
        case contentID = "ContentID"
        case size = "Size"
        case checksums = "Checksums"
    }

    init(_ part: MIMEPart, content: MessageContent) {
        partID = part.id
        fileName = part.filename ?? part.contentID ?? (part.contentType.isEmbeddedMessage ? "message.eml" : "")
        contentType = part.contentType.essence
        contentID = part.contentID ?? ""
        let decoded = content.decodedBody(part)
        size = decoded.count
        checksums = Checksums(decoded)
    }
}

/// One node of the MIME tree (Tern's addition).
struct APIPart: Codable {
    var partID: String
    var contentType: String
    var fileName: String
    var size: Int
    var children: [APIPart]

    enum CodingKeys: String, CodingKey {
        case partID = "PartID"
        case contentType = "ContentType"
        case fileName = "FileName"
        case size = "Size"
        case children = "Children"
    }

    init(_ part: MIMEPart) {
        partID = part.id
        contentType = part.contentType.essence
        fileName = part.filename ?? ""
        size = part.bodyRange.count
        children = part.children.map(APIPart.init)
    }
}

struct APIListUnsubscribe: Codable {
    var header: String
    var links: [String]
    var errors: String
    var headerPost: String

    enum CodingKeys: String, CodingKey {
        case header = "Header"
        case links = "Links"
        case errors = "Errors"
        case headerPost = "HeaderPost"
    }

    /// At most this many links are read from the field.
    static let maximumLinks = 20

    /// RFC 2369 §3.2 (`<mailto:...>, <https://...>`) and RFC 8058 (List-Unsubscribe-Post).
    init(content: MessageContent) {
        header = content.field("List-Unsubscribe") ?? ""
        headerPost = content.field("List-Unsubscribe-Post") ?? ""
        var links: [String] = []
        var rest = header[...]
        while links.count < Self.maximumLinks, let open = rest.firstIndex(of: "<") {
            guard let close = rest[open...].firstIndex(of: ">") else { break }
            let link = rest[rest.index(after: open)..<close].filter { !$0.isWhitespace }
            if !link.isEmpty { links.append(String(link)) }
            rest = rest[rest.index(after: close)...]
        }
        self.links = links
        errors = !header.isEmpty && links.isEmpty ? "no <...> link in List-Unsubscribe" : ""
    }
}

/// A whole message (Mailpit's `Message`, plus Inbox, Read, Links, Codes and Parts).
struct APIMessage: Encodable {
    var common: APIMessageCommon
    var returnPath: String
    var listUnsubscribe: APIListUnsubscribe
    var date: String
    var text: String
    var html: String
    var inline: [APIAttachment]
    var attachments: [APIAttachment]
    var links: [MessageExtracts.Link]
    var codes: [String]
    var parts: APIPart

    enum CodingKeys: String, CodingKey {
        case returnPath = "ReturnPath"
        case listUnsubscribe = "ListUnsubscribe"
        case date = "Date"
        case text = "Text"
        case html = "HTML"
        case inline = "Inline"
        case attachments = "Attachments"
        case links = "Links"
        case codes = "Codes"
        case parts = "Parts"
    }

    init(_ message: IndexedMessage, content: MessageContent) {
        common = APIMessageCommon(message)
        returnPath = content.field("Return-Path").map { MIMEParser.unbracketed($0) } ?? common.from?.address ?? ""
        listUnsubscribe = APIListUnsubscribe(content: content)
        date = message.date.map { Timestamp.rfc3339(milliseconds: CalendarBounds.milliseconds(seconds: $0)) } ?? common.created
        text = content.textBody ?? ""
        html = content.htmlBody ?? ""
        inline = content.inlineParts.map { APIAttachment($0, content: content) }
        attachments = content.attachments.map { APIAttachment($0, content: content) }
        let extracts = MessageExtracts(content: content)
        links = extracts.links
        codes = extracts.codes
        parts = APIPart(content.root)
    }

    func encode(to encoder: any Encoder) throws {
        try common.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(returnPath, forKey: .returnPath)
        try container.encode(listUnsubscribe, forKey: .listUnsubscribe)
        try container.encode(date, forKey: .date)
        try container.encode(text, forKey: .text)
        try container.encode(html, forKey: .html)
        try container.encode(inline, forKey: .inline)
        try container.encode(attachments, forKey: .attachments)
        try container.encode(links, forKey: .links)
        try container.encode(codes, forKey: .codes)
        try container.encode(parts, forKey: .parts)
    }
}

struct APIInbox: Codable {
    var name: String
    var total: Int
    var unread: Int

    enum CodingKeys: String, CodingKey {
        case name = "Name"
        case total = "Total"
        case unread = "Unread"
    }
}

/// `{"IDs": [...], "Read": true}` for PUT and DELETE /api/v1/messages.
struct APISelection: Codable {
    var ids: [String]?
    var read: Bool?
    var search: String?

    enum CodingKeys: String, CodingKey {
        case ids = "IDs"
        case read = "Read"
        case search = "Search"
    }
}

/// Times as the API writes them: RFC 3339 in UTC with milliseconds.
enum Timestamp {
    /// An instant outside `CalendarBounds` (an old index row, a forged Date) is written as the
    /// nearest one inside.
    static func rfc3339(milliseconds unclamped: Int64) -> String {
        let milliseconds = CalendarBounds.clamp(milliseconds: unclamped)
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let millis = Int(milliseconds - seconds * 1000)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = CalendarBounds.civilDate(daysSince1970: days)
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):"
            + "\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(millis, 3))Z"
    }
}
