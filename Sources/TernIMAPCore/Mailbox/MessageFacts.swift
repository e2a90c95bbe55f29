/// What FETCH derives from a message's octets and the mailbox keeps for it (its cache, see
/// `Mailbox.cachedFacts`): the length of its header section, its ENVELOPE and, once the whole
/// message has been read, its BODYSTRUCTURE (BODY is the same without the extension data).
///
/// Kept as a compact binary record, versioned by its first octet. Decoding is as careful as
/// any parser of outside input: a damaged or foreign record decodes to nil (and the message is
/// read again), never to a trap; lengths and counts are checked against what is left, nesting
/// against `deepestNesting`.
public struct MessageFacts: Sendable, Hashable {
    /// Octets of the header section, its empty line included (the whole message when it has
    /// no empty line).
    public var headerLength: Int
    public var envelope: IMAPEnvelope
    public var bodyStructure: IMAPBodyStructure?

    static let version: UInt8 = 1
    /// Deeper than a MIME parse ever nests (TernMIME flattens beyond its own limit).
    static let deepestNesting = 128

    public init(headerLength: Int, envelope: IMAPEnvelope, bodyStructure: IMAPBodyStructure? = nil) {
        self.headerLength = headerLength
        self.envelope = envelope
        self.bodyStructure = bodyStructure
    }

    // MARK: Encoding

    public func encoded() -> [UInt8] {
        var writer = Writer()
        writer.octets.append(Self.version)
        writer.number(headerLength)
        writer.envelope(envelope)
        if let bodyStructure {
            writer.octets.append(1)
            writer.body(bodyStructure)
        } else {
            writer.octets.append(0)
        }
        return writer.octets
    }

    private struct Writer {
        var octets: [UInt8] = []

        /// LEB128: seven bits an octet, the low ones first.
        mutating func number(_ value: Int) {
            var rest = UInt64(max(0, value))
            while rest >= 0x80 {
                octets.append(UInt8(truncatingIfNeeded: rest) | 0x80)
                rest >>= 7
            }
            octets.append(UInt8(rest))
        }

        mutating func bytes(_ value: [UInt8]) {
            number(value.count)
            octets += value
        }

        mutating func optional(_ value: [UInt8]?) {
            guard let value else {
                octets.append(0)
                return
            }
            octets.append(1)
            bytes(value)
        }

        mutating func envelope(_ envelope: IMAPEnvelope) {
            optional(envelope.date)
            optional(envelope.subject)
            for list in [envelope.from, envelope.sender, envelope.replyTo, envelope.to, envelope.cc, envelope.bcc] {
                number(list.count)
                for address in list {
                    switch address {
                    case .mailbox(let name, let route, let localPart, let host):
                        octets.append(0)
                        for field in [name, route, localPart, host] { optional(field) }
                    case .groupStart(let name):
                        octets.append(1)
                        bytes(name)
                    case .groupEnd:
                        octets.append(2)
                    }
                }
            }
            optional(envelope.inReplyTo)
            optional(envelope.messageID)
        }

        mutating func parameters(_ parameters: [IMAPParameter]) {
            number(parameters.count)
            for parameter in parameters {
                bytes(parameter.name)
                bytes(parameter.value)
            }
        }

        mutating func extensions(_ extensions: IMAPBodyStructure.Extensions) {
            if let disposition = extensions.disposition {
                octets.append(1)
                bytes(disposition.type)
                parameters(disposition.parameters)
            } else {
                octets.append(0)
            }
            number(extensions.languages.count)
            for language in extensions.languages { bytes(language) }
            optional(extensions.location)
        }

        mutating func body(_ structure: IMAPBodyStructure) {
            switch structure {
            case .single(let single):
                octets.append(0)
                bytes(single.type)
                bytes(single.subtype)
                parameters(single.parameters)
                optional(single.id)
                optional(single.description)
                bytes(single.encoding)
                number(single.size)
                if let lines = single.lines {
                    octets.append(1)
                    number(lines)
                } else {
                    octets.append(0)
                }
                if let embedded = single.embedded {
                    octets.append(1)
                    envelope(embedded.envelope)
                    self.body(embedded.body)
                    number(embedded.lines)
                } else {
                    octets.append(0)
                }
                optional(single.md5)
                extensions(single.extensions)
            case .multipart(let parts, let subtype, let parameters, let extensions):
                octets.append(1)
                number(parts.count)
                for part in parts { self.body(part) }
                bytes(subtype)
                self.parameters(parameters)
                self.extensions(extensions)
            }
        }
    }

    // MARK: Decoding

    /// The facts a record holds; nil when it is not a whole, well-formed record of this version.
    public init?(decoding record: [UInt8]) {
        var reader = Reader(octets: record[...])
        guard reader.octet() == Self.version, let headerLength = reader.number(), let envelope = reader.envelope()
        else { return nil }
        var bodyStructure: IMAPBodyStructure?
        switch reader.octet() {
        case 0: break
        case 1:
            guard let body = reader.body(depth: 0) else { return nil }
            bodyStructure = body
        default: return nil
        }
        guard reader.octets.isEmpty else { return nil }
        self.init(headerLength: headerLength, envelope: envelope, bodyStructure: bodyStructure)
    }

    private struct Reader {
        var octets: ArraySlice<UInt8>

        mutating func octet() -> UInt8? { octets.popFirst() }

        /// A LEB128 number that fits an `Int` (at most nine octets, below 2^63).
        mutating func number() -> Int? {
            var value: UInt64 = 0
            for shift in stride(from: 0, to: 63, by: 7) {
                guard let octet = octets.popFirst() else { return nil }
                value |= UInt64(octet & 0x7F) << UInt64(shift)
                if octet & 0x80 == 0 { return value <= UInt64(Int.max) ? Int(value) : nil }
            }
            return nil
        }

        /// A count of things each at least one octet long: never more than what is left.
        mutating func count() -> Int? {
            guard let count = number(), count <= octets.count else { return nil }
            return count
        }

        mutating func bytes() -> [UInt8]? {
            guard let count = count() else { return nil }
            defer { octets.removeFirst(count) }
            return Array(octets.prefix(count))
        }

        /// `.some(nil)` for an absent value, nil for a damaged one.
        mutating func optional() -> [UInt8]?? {
            switch octet() {
            case 0: .some(nil)
            case 1: bytes().map { .some($0) }
            default: nil
            }
        }

        mutating func addresses() -> [IMAPAddress]? {
            guard let count = count() else { return nil }
            var addresses: [IMAPAddress] = []
            addresses.reserveCapacity(count)
            for _ in 0..<count {
                switch octet() {
                case 0:
                    guard let name = optional(), let route = optional(), let localPart = optional(), let host = optional()
                    else { return nil }
                    addresses.append(.mailbox(name: name, route: route, localPart: localPart, host: host))
                case 1:
                    guard let name = bytes() else { return nil }
                    addresses.append(.groupStart(name: name))
                case 2:
                    addresses.append(.groupEnd)
                default:
                    return nil
                }
            }
            return addresses
        }

        mutating func envelope() -> IMAPEnvelope? {
            guard let date = optional(), let subject = optional() else { return nil }
            var lists: [[IMAPAddress]] = []
            for _ in 0..<6 {
                guard let list = addresses() else { return nil }
                lists.append(list)
            }
            guard let inReplyTo = optional(), let messageID = optional() else { return nil }
            return IMAPEnvelope(
                date: date, subject: subject, from: lists[0], sender: lists[1], replyTo: lists[2], to: lists[3],
                cc: lists[4], bcc: lists[5], inReplyTo: inReplyTo, messageID: messageID)
        }

        mutating func parameters() -> [IMAPParameter]? {
            guard let count = count() else { return nil }
            var parameters: [IMAPParameter] = []
            for _ in 0..<count {
                guard let name = bytes(), let value = bytes() else { return nil }
                parameters.append(IMAPParameter(name: name, value: value))
            }
            return parameters
        }

        mutating func extensions() -> IMAPBodyStructure.Extensions? {
            var disposition: IMAPBodyStructure.Disposition?
            switch octet() {
            case 0: break
            case 1:
                guard let type = bytes(), let parameters = parameters() else { return nil }
                disposition = IMAPBodyStructure.Disposition(type: type, parameters: parameters)
            default: return nil
            }
            guard let count = count() else { return nil }
            var languages: [[UInt8]] = []
            for _ in 0..<count {
                guard let language = bytes() else { return nil }
                languages.append(language)
            }
            guard let location = optional() else { return nil }
            return IMAPBodyStructure.Extensions(disposition: disposition, languages: languages, location: location)
        }

        mutating func body(depth: Int) -> IMAPBodyStructure? {
            guard depth < MessageFacts.deepestNesting else { return nil }
            switch octet() {
            case 0:
                guard let type = bytes(), let subtype = bytes(), let parameters = parameters(), let id = optional(),
                    let description = optional(), let encoding = bytes(), let size = number()
                else { return nil }
                var lines: Int?
                switch octet() {
                case 0: break
                case 1:
                    guard let count = number() else { return nil }
                    lines = count
                default: return nil
                }
                var embedded: IMAPBodyStructure.Embedded?
                switch octet() {
                case 0: break
                case 1:
                    guard let envelope = envelope(), let body = body(depth: depth + 1), let lines = number() else { return nil }
                    embedded = IMAPBodyStructure.Embedded(envelope: envelope, body: body, lines: lines)
                default: return nil
                }
                guard let md5 = optional(), let extensions = extensions() else { return nil }
                return .single(
                    IMAPBodyStructure.Single(
                        type: type, subtype: subtype, parameters: parameters, id: id, description: description,
                        encoding: encoding, size: size, lines: lines, embedded: embedded, md5: md5, extensions: extensions))
            case 1:
                guard let count = count() else { return nil }
                var parts: [IMAPBodyStructure] = []
                for _ in 0..<count {
                    guard let part = body(depth: depth + 1) else { return nil }
                    parts.append(part)
                }
                guard let subtype = bytes(), let parameters = parameters(), let extensions = extensions() else { return nil }
                return .multipart(parts, subtype: subtype, parameters: parameters, extensions: extensions)
            default:
                return nil
            }
        }
    }
}
