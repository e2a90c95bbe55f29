import TernIMAPCore
import TernMIME
import TernMail
import TernStore

/// Evaluates a SEARCH program (RFC 9051 §6.4.4) against the messages of the selected view.
/// Keys on flags, sizes, dates and numbers use what the view and the listing hold; keys on the
/// header or text read the message once, and only when such a key is reached. String matching
/// is a case-insensitive substring match on the text with encoded words decoded.
struct SearchMatcher {
    let view: SelectedMailbox
    let details: (UInt32) -> MailboxMessage?
    /// The messages recent to this session.
    let recent: UIDRanges
    let now: Int64
    /// The message read for the current index.
    private var loaded: (index: Int, message: RenderedMessage?)?
    /// The first octets of the messages about to be searched, read together by the caller.
    var prefetched: [UInt32: StoredPrefix] = [:]

    init(view: SelectedMailbox, details: @escaping (UInt32) -> MailboxMessage?, recent: UIDRanges, now: Int64) {
        self.view = view
        self.details = details
        self.recent = recent
        self.now = now
    }

    mutating func matches(_ key: SearchKey, at index: Int, mailbox: any Mailbox) async throws -> Bool {
        let message = view.messages[index]
        switch key {
        case .all: return true
        case .flag(let name): return Self.has(name, message)
        case .noFlag(let name): return !Self.has(name, message)
        case .recent: return recent.contains(message.uid)
        case .larger(let size): return UInt64(max(0, details(message.uid)?.size ?? 0)) > size
        case .smaller(let size): return UInt64(max(0, details(message.uid)?.size ?? 0)) < size
        case .uid(let set): return set.contains(message.uid, largest: view.messages.last?.uid ?? 0)
        case .sequence(let set):
            if case .savedResult = set { return view.savedSearch.contains(message.uid) }
            return set.contains(UInt32(index + 1), largest: UInt32(clamping: view.count))
        case .modificationSequence(let least): return message.modseq >= least
        case .before(let date): return Self.day(details(message.uid)?.internalDate ?? 0) < Self.day(date)
        case .on(let date): return Self.day(details(message.uid)?.internalDate ?? 0) == Self.day(date)
        case .since(let date): return Self.day(details(message.uid)?.internalDate ?? 0) >= Self.day(date)
        case .sentBefore(let date), .sentOn(let date), .sentSince(let date):
            // §6.4.4: the date as written in the Date field, its time and zone disregarded.
            guard let sent = try await content(index, mailbox)?.root.field("Date").flatMap(MessageDate.parseWithZone)
            else { return false }
            let (day, wanted) = (Self.day(sent.seconds + Int64(sent.offset)), Self.day(date))
            switch key {
            case .sentBefore: return day < wanted
            case .sentOn: return day == wanted
            default: return day >= wanted
            }
        case .header(let name, let value):
            guard let root = try await content(index, mailbox)?.root else { return false }
            let fieldName = String(decoding: name, as: UTF8.self)
            let values = root.header.filter { $0.isNamed(fieldName) }.map(\.value)
            guard !values.isEmpty else { return false }
            return value.isEmpty || values.contains { field in
                Self.contains(EncodedWords.decode(field), value) || Self.addressesContain(field, named: fieldName, value)
            }
        case .body(let value):
            guard let rendered = try await content(index, mailbox) else { return false }
            return Self.bodyContains(rendered, value)
        case .text(let value):
            guard let rendered = try await content(index, mailbox) else { return false }
            let header = rendered.root.header.map { "\($0.name): \(EncodedWords.decode($0.value))" }.joined(separator: "\n")
            return Self.contains(header, value) || Self.bodyContains(rendered, value)
        case .not(let inner):
            return try await !matches(inner, at: index, mailbox: mailbox)
        case .or(let left, let right):
            if try await matches(left, at: index, mailbox: mailbox) { return true }
            return try await matches(right, at: index, mailbox: mailbox)
        case .and(let keys):
            for inner in keys where try await !matches(inner, at: index, mailbox: mailbox) { return false }
            return true
        }
    }

    private mutating func content(_ index: Int, _ mailbox: any Mailbox) async throws -> RenderedMessage? {
        if let loaded, loaded.index == index { return loaded.message }
        let uid = view.messages[index].uid
        let message: RenderedMessage?
        if let stored = prefetched[uid], stored.isWhole {
            message = RenderedMessage(stored.octets)
        } else {
            message = try await mailbox.contents(of: uid).map(RenderedMessage.init)
        }
        loaded = (index, message)
        return message
    }

    /// Whether `key` reads messages (a header field, a body, the Date field): worth reading
    /// them in batches ahead.
    static func readsContent(_ key: SearchKey) -> Bool {
        switch key {
        case .header, .body, .text, .sentBefore, .sentOn, .sentSince: true
        case .not(let inner): readsContent(inner)
        case .or(let left, let right): readsContent(left) || readsContent(right)
        case .and(let keys): keys.contains(where: readsContent)
        default: false
        }
    }

    /// A system flag or a keyword, in any case.
    /// The address fields also match on their addresses as read (`<user (comment)@ domain>` is
    /// `user@domain`), as a client's user means them.
    static func addressesContain(_ field: String, named name: String, _ value: [UInt8]) -> Bool {
        guard ["from", "to", "cc", "bcc", "sender", "reply-to"].contains(name.lowercased()),
            let list = StrictAddressList(parsing: field)
        else { return false }
        return list.mailboxes.contains { contains("\($0.displayName) <\($0.address)>", value) }
    }

    static func has(_ name: String, _ message: SelectedMailbox.Message) -> Bool {
        let folded = name.lowercased()
        if let flag = MessageFlags.imapNames.first(where: { $0.name.lowercased() == folded })?.flag {
            return message.flags.contains(flag)
        }
        return message.keywords.contains { $0.lowercased() == folded }
    }

    /// The text parts' decoded bodies (and the raw body of anything else).
    static func bodyContains(_ message: RenderedMessage, _ value: [UInt8]) -> Bool {
        for part in message.root.allParts where part.children.isEmpty {
            let decoded = part.transferEncoding.decode(message.raw[part.bodyRange])
            if contains(String(decoding: decoded, as: UTF8.self), value) { return true }
        }
        return false
    }

    static func contains(_ text: String, _ value: [UInt8]) -> Bool {
        let needle = String(decoding: value, as: UTF8.self).lowercased()
        return needle.isEmpty || text.lowercased().contains(needle)
    }

    static func day(_ seconds: Int64) -> Int64 {
        seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    }

    static func day(_ date: SearchDate) -> Int64 {
        CalendarBounds.daysSince1970(year: date.year, month: date.month, day: date.day) ?? 0
    }
}
