public import NIOCore

extension DNSMessage {
    /// Encodes the message (RFC 1035 §4.1) with uncompressed names; the section counts come
    /// from the sections. Queries, Tern's only use, hold one name and gain nothing from
    /// compression; tests use it to build responses.
    ///
    /// Fails only for values the wire cannot carry: more than 65,535 entries in a section,
    /// a TXT string over 255 octets or RDATA over 65,535 octets.
    public func encode() -> Result<ByteBuffer, DNSWireError> {
        var buffer = ByteBuffer()
        do {
            try write(to: &buffer)
            return .success(buffer)
        } catch {
            return .failure(error)
        }
    }

    private func write(to buffer: inout ByteBuffer) throws(DNSWireError) {
        for section in [questions.count, answers.count, authorities.count, additionals.count]
        where section > Int(UInt16.max) {
            throw DNSWireError(.sectionTooLarge, at: 0)
        }
        buffer.writeInteger(header.id, endianness: .big)
        buffer.writeInteger(header.flags, endianness: .big)
        buffer.writeInteger(UInt16(questions.count), endianness: .big)
        buffer.writeInteger(UInt16(answers.count), endianness: .big)
        buffer.writeInteger(UInt16(authorities.count), endianness: .big)
        buffer.writeInteger(UInt16(additionals.count), endianness: .big)
        for question in questions {
            question.name.write(to: &buffer)
            buffer.writeInteger(question.type.rawValue, endianness: .big)
            buffer.writeInteger(question.class.rawValue, endianness: .big)
        }
        for record in answers + authorities + additionals {
            try record.write(to: &buffer)
        }
    }
}

extension DNSName {
    /// The uncompressed wire form: the labels and the root octet.
    func write(to buffer: inout ByteBuffer) {
        buffer.writeBytes(wire)
        buffer.writeInteger(UInt8(0))
    }
}

extension DNSResourceRecord {
    fileprivate func write(to buffer: inout ByteBuffer) throws(DNSWireError) {
        name.write(to: &buffer)
        buffer.writeInteger(type.rawValue, endianness: .big)
        buffer.writeInteger(self.class.rawValue, endianness: .big)
        buffer.writeInteger(ttl, endianness: .big)
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt16(0), endianness: .big)
        let start = buffer.writerIndex
        switch data {
        case .a(let address):
            buffer.writeInteger(address.rawValue, endianness: .big)
        case .aaaa(let address):
            buffer.writeBytes(address.bytes)
        case .mx(let mx):
            buffer.writeInteger(mx.preference, endianness: .big)
            mx.exchange.write(to: &buffer)
        case .txt(let txt):
            for string in txt.strings {
                guard string.count <= 255 else { throw DNSWireError(.characterStringTooLong, at: 0) }
                buffer.writeInteger(UInt8(string.count))
                buffer.writeBytes(string)
            }
        case .ptr(let name), .cname(let name), .ns(let name):
            name.write(to: &buffer)
        case .soa(let soa):
            soa.primaryNameServer.write(to: &buffer)
            soa.responsibleMailbox.write(to: &buffer)
            for value in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] {
                buffer.writeInteger(value, endianness: .big)
            }
        case .unknown(_, let rdata):
            buffer.writeBytes(rdata)
        }
        let length = buffer.writerIndex - start
        guard length <= Int(UInt16.max) else { throw DNSWireError(.rdataTooLong, at: 0) }
        buffer.setInteger(UInt16(length), at: lengthIndex, endianness: .big)
    }
}
