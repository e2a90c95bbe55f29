import TernIMAPCore
import TernMIME
import TernMail

/// What FETCH reports of a message's content (RFC 9051 §7.5.2), from its MIME tree (TernMIME):
/// ENVELOPE, BODY and BODYSTRUCTURE, and the octets of a section (§6.4.5).
struct RenderedMessage {
    let raw: [UInt8]
    let root: MIMEPart

    init(_ raw: [UInt8]) {
        self.raw = raw
        self.root = MIMEParser.parse(raw)
    }

    // MARK: ENVELOPE

    var envelope: IMAPEnvelope { Self.envelope(of: root) }

    static func envelope(of part: MIMEPart) -> IMAPEnvelope {
        func value(_ name: String) -> [UInt8]? { part.field(name).map { Array($0.utf8) } }
        func addresses(_ name: String) -> [IMAPAddress] {
            guard let field = part.field(name) else { return [] }
            return Self.addresses(field)
        }
        let from = addresses("From")
        let sender = addresses("Sender")
        let replyTo = addresses("Reply-To")
        // §7.5.2: Sender and Reply-To default to From.
        return IMAPEnvelope(
            date: value("Date"), subject: value("Subject"), from: from, sender: sender.isEmpty ? from : sender,
            replyTo: replyTo.isEmpty ? from : replyTo, to: addresses("To"), cc: addresses("Cc"), bcc: addresses("Bcc"),
            inReplyTo: value("In-Reply-To"), messageID: value("Message-ID"))
    }

    /// An address field as ENVELOPE lists it (§7.5.2): mailboxes, groups as a start and an end,
    /// a lone mailbox's comment as its name (`user@example.test (Real Name)`, as Dovecot shows
    /// it). Read by RFC 5322 (`StrictAddressList`), or leniently when that fails.
    static func addresses(_ field: String) -> [IMAPAddress] {
        guard let list = StrictAddressList(parsing: field) else {
            return AddressList.mailboxes(in: field).prefix(1000).map { mailbox in
                let at = mailbox.address.lastIndex(of: "@")
                return .mailbox(
                    name: name(mailbox.name), route: nil,
                    localPart: Array((at.map { String(mailbox.address[..<$0]) } ?? mailbox.address).utf8),
                    host: at.map { Array(mailbox.address[mailbox.address.index(after: $0)...].utf8) })
            }
        }
        let commentName = list.addresses.count == 1 && list.comments.count == 1 ? list.comments[0] : ""
        func entry(_ mailbox: StrictAddressList.Mailbox) -> IMAPAddress {
            .mailbox(
                name: name(mailbox.displayName.isEmpty ? commentName : mailbox.displayName), route: mailbox.route.map { Array($0.utf8) },
                localPart: Array(mailbox.localPart.utf8), host: Array(mailbox.domain.utf8))
        }
        var result: [IMAPAddress] = []
        for address in list.addresses.prefix(1000) {
            switch address {
            case .mailbox(let mailbox):
                result.append(entry(mailbox))
            case .group(let group):
                result.append(.groupStart(name: Array(group.displayName.utf8)))
                result += group.mailboxes.prefix(1000).map(entry)
                result.append(.groupEnd)
            }
        }
        return result
    }

    /// A display name as the envelope carries it: non-ASCII as an RFC 2047 encoded word, as it
    /// came in the header (the parser decoded it), so IMAP4rev1 clients get 7-bit text.
    static func name(_ text: String) -> [UInt8]? {
        let text = String(Substring(text).trimmingSpaces)
        guard !text.isEmpty else { return nil }
        guard text.utf8.contains(where: { $0 >= 0x80 }) else { return Array(text.utf8) }
        return Array(("=?UTF-8?B?" + Base64.encode(Array(text.utf8)) + "?=").utf8)
    }

    // MARK: BODYSTRUCTURE

    var bodyStructure: IMAPBodyStructure { structure(of: root) }

    private func structure(of part: MIMEPart) -> IMAPBodyStructure {
        let type = part.contentType
        let parameters = type.parameters.sorted { $0.key < $1.key }.map { IMAPParameter($0.key, $0.value) }
        var extensions = IMAPBodyStructure.Extensions()
        if let disposition = part.disposition {
            extensions.disposition = .init(
                type: Array(disposition.type.uppercased().utf8),
                parameters: disposition.parameters.sorted { $0.key < $1.key }.map { IMAPParameter($0.key, $0.value) })
        }
        if let language = part.field("Content-Language") {
            extensions.languages = language.split(separator: ",").map { Array($0.trimmingSpaces.utf8) }
        }
        extensions.location = part.field("Content-Location").map { Array($0.utf8) }
        if type.isMultipart, !part.children.isEmpty {
            return .multipart(
                part.children.map { structure(of: $0) }, subtype: Array(type.subtype.uppercased().utf8), parameters: parameters,
                extensions: extensions)
        }
        let body = raw[part.bodyRange]
        var single = IMAPBodyStructure.Single(
            type: Array(type.type.uppercased().utf8), subtype: Array(type.subtype.uppercased().utf8), parameters: parameters,
            id: part.field("Content-ID").map { Array($0.utf8) }, description: part.field("Content-Description").map { Array($0.utf8) },
            encoding: Array(part.transferEncoding.name.uppercased().utf8), size: body.count, extensions: extensions)
        if type.type == "text" { single.lines = Self.lines(body) }
        if type.isEmbeddedMessage, let inner = part.children.first {
            single.embedded = .init(envelope: Self.envelope(of: inner), body: structure(of: inner), lines: Self.lines(body))
        }
        return .single(single)
    }

    static func lines(_ octets: ArraySlice<UInt8>) -> Int {
        octets.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }

    // MARK: Sections

    /// The part a section's numbers name (§6.4.5): `[]` the message, `[1]` the first part (the
    /// body of a single-part message), `[2.1]` ..., through embedded messages (`[2.1]` of a
    /// message/rfc822 part 2 is the first part of the message it holds). Nil for a part the
    /// message does not have.
    func part(_ numbers: [UInt32]) -> MIMEPart? {
        var current = root
        var isMessage = true
        for number in numbers {
            let parts = Self.parts(of: current, isMessage: isMessage)
            let index = Int(number) - 1
            guard index >= 0, index < parts.count else { return nil }
            current = parts[index]
            isMessage = false
        }
        return current
    }

    /// The numbered parts inside an entity: a multipart's parts; a message's one body when it is
    /// not multipart; those of the message a message/rfc822 part holds; none in a leaf.
    private static func parts(of entity: MIMEPart, isMessage: Bool) -> [MIMEPart] {
        if entity.contentType.isMultipart { return entity.children }
        if isMessage { return [entity] }
        if entity.contentType.isEmbeddedMessage, let inner = entity.children.first { return parts(of: inner, isMessage: true) }
        return []
    }

    /// The octets of a section; nil when the message has no such part (the response is then
    /// an empty string, as Dovecot answers).
    func octets(of section: FetchAttribute.Section) -> ArraySlice<UInt8>? {
        guard let part = part(section.part) else { return nil }
        // The header and text of a section are those of the message it is (or embeds).
        let message = section.part.isEmpty ? part : (part.contentType.isEmbeddedMessage ? part.children.first : nil)
        switch section.text {
        case nil:
            return section.part.isEmpty ? raw[...] : raw[part.bodyRange]
        case .mime:
            return raw[part.headerRange.lowerBound..<part.bodyRange.lowerBound]
        case .header:
            guard let message else { return nil }
            return raw[message.headerRange.lowerBound..<message.bodyRange.lowerBound]
        case .text:
            guard let message else { return nil }
            return raw[message.bodyRange]
        case .headerFields(let names, let not):
            guard let message else { return nil }
            return ArraySlice(Self.headerFields(raw[message.headerRange.lowerBound..<message.bodyRange.lowerBound], names: names, not: not))
        }
    }

    /// `HEADER.FIELDS (names)` / `HEADER.FIELDS.NOT`: the fields (with their folded lines) whose
    /// names are (or are not) listed, then the empty line.
    static func headerFields(_ header: ArraySlice<UInt8>, names: [[UInt8]], not: Bool) -> [UInt8] {
        let wanted = Set(names.map { IMAPCharacters.uppercased($0) })
        var output: [UInt8] = []
        var include = false
        var lineStart = header.startIndex
        while lineStart < header.endIndex {
            var lineEnd = lineStart
            while lineEnd < header.endIndex, header[lineEnd] != 0x0A { lineEnd += 1 }
            let next = lineEnd < header.endIndex ? lineEnd + 1 : lineEnd
            let line = header[lineStart..<next]
            if let first = line.first, first == 0x20 || first == 0x09 {
                if include { output += line }
            } else if line.allSatisfy({ $0 == 0x0D || $0 == 0x0A }) {
                break
            } else {
                let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
                include = wanted.contains(IMAPCharacters.uppercased(line[line.startIndex..<colon])) != not
                if include { output += line }
            }
            lineStart = next
        }
        output += [0x0D, 0x0A]
        return output
    }

    /// BINARY[part] (RFC 3516 §4.2): the part's body with its transfer encoding undone.
    func binary(_ numbers: [UInt32]) -> [UInt8]? {
        guard let part = part(numbers), !part.contentType.isMultipart else { return nil }
        return part.transferEncoding.decode(raw[part.bodyRange])
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var text = self
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return text
    }
}
