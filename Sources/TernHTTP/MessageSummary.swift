import TernMIME
import TernMail
import TernStore

/// What the index keeps of a message, computed from its raw octets.
///
/// Bounded (hostile-inputs 42, 47): it reads at most `maximumIndexedOctets` of a message (the
/// header and the start of the body are all a summary needs), keeps at most
/// `maximumAddresses` addresses per field with the count of all of them, at most
/// `maximumTags` tags, and every scan over the content is linear.
enum MessageSummary {
    /// How much of a message file the index reads: the rest of a larger message is read only
    /// when the message is served. The size, attachment count and text of the summary are those
    /// of this prefix, beyond the size, which is the file's.
    static let maximumIndexedOctets = 2 * 1024 * 1024

    /// At most this many addresses of each of To, Cc, Bcc and Reply-To are kept.
    static let maximumAddresses = 100

    /// The summary of `message` of `inbox` from its first octets `raw` (all of them, or the
    /// first `maximumIndexedOctets`); `size` is the whole message's (nil: `raw` is all of it).
    static func indexed(
        raw: [UInt8], size: Int? = nil, inbox: String, message: MailboxMessage, key: String, id: String
    ) -> IndexedMessage {
        let content = MessageContent(raw: raw)
        let address = { (mailbox: AddressList.Mailbox) in IndexedAddress(name: mailbox.name, address: mailbox.address) }
        let text = content.textBody ?? content.htmlBody.map(HTMLText.plainText) ?? ""
        let from = content.mailboxes("From").first.map(address)
        let to = content.mailboxes("To")
        let cc = content.mailboxes("Cc")
        let bcc = content.mailboxes("Bcc")
        let replyTo = content.mailboxes("Reply-To")
        let kept = { (mailboxes: [AddressList.Mailbox]) in mailboxes.prefix(maximumAddresses).map(address) }
        return IndexedMessage(
            id: id, inbox: inbox, key: key, receivedAt: receivedAt(key: key, date: content.date),
            size: max(size ?? raw.count, raw.count), read: message.flags.contains(.seen), subject: content.subject, from: from, to: kept(to),
            cc: kept(cc), bcc: kept(bcc), replyTo: kept(replyTo), messageID: content.messageID ?? "", date: content.date,
            snippet: MessageContent.snippet(of: text, maximumLength: 250), attachments: content.attachments.count,
            tags: tags(content), searchText: String(text.prefix(64 * 1024)).lowercased(), toCount: to.count,
            ccCount: cc.count, bccCount: bcc.count, replyToCount: replyTo.count)
    }

    /// At most this many tags are kept of one message.
    static let maximumTags = 100

    /// Mailpit's tags: `X-Tags: a, b` (and `X-Mailpit-Tags`), trimmed, without duplicates, the
    /// first `maximumTags` of them. One pass with a set: a message with thousands of tag values
    /// costs linear time, not quadratic.
    static func tags(_ content: MessageContent) -> [String] {
        var tags: [String] = []
        var seen: Set<String> = []
        for field in content.root.header where field.isNamed("X-Tags") || field.isNamed("X-Mailpit-Tags") {
            for tag in field.value.split(separator: ",") {
                guard tags.count < maximumTags else { return tags }
                let trimmed = tag.trimmingCharacters(in: " \t")
                if !trimmed.isEmpty, seen.insert(trimmed).inserted { tags.append(trimmed) }
            }
        }
        return tags
    }

    /// The arrival time Tern wrote into the file name (`<seconds>.<QueueID>.<host>`); for a
    /// file from elsewhere, its Date field; else 0. File names come from whoever can write to
    /// the Maildir, so their number is bounded like any other.
    static func receivedAt(key: String, date: Int64?) -> Int64 {
        if let prefix = key.split(separator: ".", maxSplits: 1).first,
            let seconds = ASCIIDecimal.parse(prefix, in: 0...CalendarBounds.latestSecond)
        {
            return seconds * 1000
        }
        return CalendarBounds.milliseconds(seconds: date ?? 0)
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var slice = self
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
