public import NIOCore

/// A message's ENVELOPE (RFC 9051 §7.5.2): header fields as they are in the message, unfolded
/// but not decoded (encoded words stay, as clients expect), nil where the field is missing.
public struct IMAPEnvelope: Sendable, Hashable {
    public var date: [UInt8]?
    public var subject: [UInt8]?
    public var from: [IMAPAddress]
    public var sender: [IMAPAddress]
    public var replyTo: [IMAPAddress]
    public var to: [IMAPAddress]
    public var cc: [IMAPAddress]
    public var bcc: [IMAPAddress]
    public var inReplyTo: [UInt8]?
    public var messageID: [UInt8]?

    public init(
        date: [UInt8]? = nil, subject: [UInt8]? = nil, from: [IMAPAddress] = [], sender: [IMAPAddress] = [],
        replyTo: [IMAPAddress] = [], to: [IMAPAddress] = [], cc: [IMAPAddress] = [], bcc: [IMAPAddress] = [],
        inReplyTo: [UInt8]? = nil, messageID: [UInt8]? = nil
    ) {
        self.date = date
        self.subject = subject
        self.from = from
        self.sender = sender
        self.replyTo = replyTo
        self.to = to
        self.cc = cc
        self.bcc = bcc
        self.inReplyTo = inReplyTo
        self.messageID = messageID
    }

    /// `envelope = "(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to SP
    /// env-to SP env-cc SP env-bcc SP env-in-reply-to SP env-message-id ")"`. Sender and
    /// Reply-To default to From when absent (§7.5.2): the caller fills them in.
    public func write(to buffer: inout ByteBuffer, utf8: Bool) {
        buffer.writeInteger(UInt8(ascii: "("))
        ResponseWriter.writeNString(date, utf8: utf8, to: &buffer)
        buffer.writeInteger(UInt8(ascii: " "))
        ResponseWriter.writeNString(subject, utf8: utf8, to: &buffer)
        for addresses in [from, sender, replyTo, to, cc, bcc] {
            buffer.writeInteger(UInt8(ascii: " "))
            IMAPAddress.write(addresses, to: &buffer, utf8: utf8)
        }
        buffer.writeInteger(UInt8(ascii: " "))
        ResponseWriter.writeNString(inReplyTo, utf8: utf8, to: &buffer)
        buffer.writeInteger(UInt8(ascii: " "))
        ResponseWriter.writeNString(messageID, utf8: utf8, to: &buffer)
        buffer.writeInteger(UInt8(ascii: ")"))
    }
}

/// One `address` of an envelope (§9): `"(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"`.
/// A group is written as a start (host NIL, mailbox the group's name) and an end (mailbox and
/// host NIL), RFC 5322 group syntax in IMAP's shape.
public enum IMAPAddress: Sendable, Hashable {
    case mailbox(name: [UInt8]?, route: [UInt8]?, localPart: [UInt8]?, host: [UInt8]?)
    case groupStart(name: [UInt8])
    case groupEnd

    /// `env-from = "(" 1*address ")" / nil` and its siblings: NIL for no address.
    static func write(_ addresses: [IMAPAddress], to buffer: inout ByteBuffer, utf8: Bool) {
        guard !addresses.isEmpty else {
            buffer.writeStaticString("NIL")
            return
        }
        buffer.writeInteger(UInt8(ascii: "("))
        for address in addresses {
            let fields: [[UInt8]?] =
                switch address {
                case .mailbox(let name, let route, let localPart, let host): [name, route, localPart, host]
                case .groupStart(let name): [nil, nil, name, nil]
                case .groupEnd: [nil, nil, nil, nil]
                }
            buffer.writeInteger(UInt8(ascii: "("))
            for (index, field) in fields.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: " ")) }
                ResponseWriter.writeNString(field, utf8: utf8, to: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: ")"))
        }
        buffer.writeInteger(UInt8(ascii: ")"))
    }
}

/// A message's MIME structure as BODY and BODYSTRUCTURE report it (RFC 9051 §7.5.2, `body`
/// of §9). Values are the message's own (types and parameter names as found; the writer does not
/// change case); sizes are octets of the part's body as stored, lines its CRLF count.
public indirect enum IMAPBodyStructure: Sendable, Hashable {
    case single(Single)
    /// The parts, the multipart subtype, and the extension data.
    case multipart([IMAPBodyStructure], subtype: [UInt8], parameters: [IMAPParameter], extensions: Extensions)

    public struct Single: Sendable, Hashable {
        public var type: [UInt8]
        public var subtype: [UInt8]
        public var parameters: [IMAPParameter]
        public var id: [UInt8]?
        public var description: [UInt8]?
        public var encoding: [UInt8]
        public var size: Int
        /// For text/*: the body's lines.
        public var lines: Int?
        /// For message/rfc822 (and message/global): the embedded message's envelope, structure
        /// and lines.
        public var embedded: Embedded?
        public var md5: [UInt8]?
        public var extensions: Extensions

        public init(
            type: [UInt8], subtype: [UInt8], parameters: [IMAPParameter] = [], id: [UInt8]? = nil,
            description: [UInt8]? = nil, encoding: [UInt8] = Array("7BIT".utf8), size: Int, lines: Int? = nil,
            embedded: Embedded? = nil, md5: [UInt8]? = nil, extensions: Extensions = Extensions()
        ) {
            self.type = type
            self.subtype = subtype
            self.parameters = parameters
            self.id = id
            self.description = description
            self.encoding = encoding
            self.size = size
            self.lines = lines
            self.embedded = embedded
            self.md5 = md5
            self.extensions = extensions
        }

    }

    public struct Embedded: Sendable, Hashable {
        public var envelope: IMAPEnvelope
        public var body: IMAPBodyStructure
        public var lines: Int

        public init(envelope: IMAPEnvelope, body: IMAPBodyStructure, lines: Int) {
            self.envelope = envelope
            self.body = body
            self.lines = lines
        }
    }

    /// `body-fld-dsp`, `body-fld-lang` and `body-fld-loc`: the extension data BODYSTRUCTURE
    /// adds to BODY.
    public struct Extensions: Sendable, Hashable {
        public var disposition: Disposition?
        public var languages: [[UInt8]]
        public var location: [UInt8]?

        public init(
            disposition: Disposition? = nil, languages: [[UInt8]] = [],
            location: [UInt8]? = nil
        ) {
            self.disposition = disposition
            self.languages = languages
            self.location = location
        }

    }


    /// `body-fld-dsp`'s content: `attachment`, `inline`, ... and its parameters.
    public struct Disposition: Sendable, Hashable {
        public var type: [UInt8]
        public var parameters: [IMAPParameter]

        public init(type: [UInt8], parameters: [IMAPParameter] = []) {
            self.type = type
            self.parameters = parameters
        }
    }

    /// `body`: BODY (`extensible` false) or BODYSTRUCTURE (true, with the extension data).
    public func write(to buffer: inout ByteBuffer, extensible: Bool, utf8: Bool) {
        buffer.writeInteger(UInt8(ascii: "("))
        switch self {
        case .single(let single):
            // body-type-1part = (body-type-basic / body-type-msg / body-type-text) [SP body-ext-1part]
            ResponseWriter.writeString(single.type, utf8: utf8, to: &buffer)
            buffer.writeInteger(UInt8(ascii: " "))
            ResponseWriter.writeString(single.subtype, utf8: utf8, to: &buffer)
            // body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets
            buffer.writeInteger(UInt8(ascii: " "))
            Self.writeParameters(single.parameters, to: &buffer, utf8: utf8)
            buffer.writeInteger(UInt8(ascii: " "))
            ResponseWriter.writeNString(single.id, utf8: utf8, to: &buffer)
            buffer.writeInteger(UInt8(ascii: " "))
            ResponseWriter.writeNString(single.description, utf8: utf8, to: &buffer)
            buffer.writeInteger(UInt8(ascii: " "))
            ResponseWriter.writeString(single.encoding, utf8: utf8, to: &buffer)
            buffer.writeString(" \(max(0, single.size))")
            if let embedded = single.embedded {
                // body-type-msg = media-message SP body-fields SP envelope SP body SP body-fld-lines
                buffer.writeInteger(UInt8(ascii: " "))
                embedded.envelope.write(to: &buffer, utf8: utf8)
                buffer.writeInteger(UInt8(ascii: " "))
                embedded.body.write(to: &buffer, extensible: extensible, utf8: utf8)
                buffer.writeString(" \(max(0, embedded.lines))")
            } else if let lines = single.lines {
                buffer.writeString(" \(max(0, lines))")
            }
            if extensible {
                // body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
                buffer.writeInteger(UInt8(ascii: " "))
                ResponseWriter.writeNString(single.md5, utf8: utf8, to: &buffer)
                Self.writeExtensions(single.extensions, to: &buffer, utf8: utf8)
            }
        case .multipart(let parts, let subtype, let parameters, let extensions):
            // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
            for part in parts { part.write(to: &buffer, extensible: extensible, utf8: utf8) }
            buffer.writeInteger(UInt8(ascii: " "))
            ResponseWriter.writeString(subtype, utf8: utf8, to: &buffer)
            if extensible {
                // body-ext-mpart = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
                buffer.writeInteger(UInt8(ascii: " "))
                Self.writeParameters(parameters, to: &buffer, utf8: utf8)
                Self.writeExtensions(extensions, to: &buffer, utf8: utf8)
            }
        }
        buffer.writeInteger(UInt8(ascii: ")"))
    }

    /// `body-fld-param = "(" string SP string *(SP string SP string) ")" / nil`.
    private static func writeParameters(_ parameters: [IMAPParameter], to buffer: inout ByteBuffer, utf8: Bool) {
        guard !parameters.isEmpty else {
            buffer.writeStaticString("NIL")
            return
        }
        buffer.writeInteger(UInt8(ascii: "("))
        for (index, parameter) in parameters.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: " ")) }
            ResponseWriter.writeString(parameter.name, utf8: utf8, to: &buffer)
            buffer.writeInteger(UInt8(ascii: " "))
            ResponseWriter.writeString(parameter.value, utf8: utf8, to: &buffer)
        }
        buffer.writeInteger(UInt8(ascii: ")"))
    }

    /// ` SP body-fld-dsp SP body-fld-lang SP body-fld-loc`, always all three (NIL where absent).
    private static func writeExtensions(_ extensions: Extensions, to buffer: inout ByteBuffer, utf8: Bool) {
        buffer.writeInteger(UInt8(ascii: " "))
        if let disposition = extensions.disposition {
            // body-fld-dsp = "(" string SP body-fld-param ")" / nil
            buffer.writeInteger(UInt8(ascii: "("))
            ResponseWriter.writeString(disposition.type, utf8: utf8, to: &buffer)
            buffer.writeInteger(UInt8(ascii: " "))
            writeParameters(disposition.parameters, to: &buffer, utf8: utf8)
            buffer.writeInteger(UInt8(ascii: ")"))
        } else {
            buffer.writeStaticString("NIL")
        }
        buffer.writeInteger(UInt8(ascii: " "))
        // body-fld-lang = nstring / "(" string *(SP string) ")"
        switch extensions.languages.count {
        case 0: buffer.writeStaticString("NIL")
        case 1: ResponseWriter.writeString(extensions.languages[0], utf8: utf8, to: &buffer)
        default:
            buffer.writeInteger(UInt8(ascii: "("))
            for (index, language) in extensions.languages.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: " ")) }
                ResponseWriter.writeString(language, utf8: utf8, to: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: ")"))
        }
        buffer.writeInteger(UInt8(ascii: " "))
        ResponseWriter.writeNString(extensions.location, utf8: utf8, to: &buffer)
    }
}

/// A `name value` pair of a body's parameters (`body-fld-param`).
public struct IMAPParameter: Sendable, Hashable {
    public var name: [UInt8]
    public var value: [UInt8]

    public init(_ name: String, _ value: String) {
        self.name = Array(name.utf8)
        self.value = Array(value.utf8)
    }

    public init(name: [UInt8], value: [UInt8]) {
        self.name = name
        self.value = value
    }
}
