public import NIOCore

/// Writes the parts of IMAP responses (RFC 9051 §7, the `response` rules of §9) so that what
/// goes out is always valid IMAP, whatever the octets: strings are quoted when every octet may
/// be, literals otherwise; text is kept to one line.
public enum ResponseWriter {
    /// `string`: quoted when every octet is a QUOTED-CHAR (non-ASCII UTF-8 only when `utf8`, as
    /// IMAP4rev2 allows and IMAP4rev1 does not), else a literal. Quoted strings are also kept
    /// short: a long value goes as a literal, as clients expect for message data.
    public static func writeString(_ octets: some Collection<UInt8>, utf8: Bool, to buffer: inout ByteBuffer) {
        if octets.count <= 1024, octets.allSatisfy({ isQuotable($0, utf8: utf8) }) {
            buffer.writeInteger(UInt8(ascii: "\""))
            for octet in octets {
                if octet == UInt8(ascii: "\"") || octet == UInt8(ascii: "\\") { buffer.writeInteger(UInt8(ascii: "\\")) }
                buffer.writeInteger(octet)
            }
            buffer.writeInteger(UInt8(ascii: "\""))
        } else {
            writeLiteral(octets, to: &buffer)
        }
    }

    /// `literal = "{" number64 "}" CRLF *CHAR8`, or `literal8` (`~{n}`) when the octets hold a
    /// NUL, which a literal may not (RFC 3516; a client sees one only in BINARY data).
    public static func writeLiteral(_ octets: some Collection<UInt8>, to buffer: inout ByteBuffer) {
        // Scanned through a buffer pointer where the octets are contiguous (every FETCH's are):
        // the generic scan is not specialized across modules and cost a third of a FETCH.
        let holdsNUL = octets.withContiguousStorageIfAvailable { $0.contains(0) } ?? octets.contains(0)
        if holdsNUL { buffer.writeInteger(UInt8(ascii: "~")) }
        buffer.writeString("{\(octets.count)}\r\n")
        buffer.writeBytes(octets)
    }

    /// `nstring = string / nil`.
    public static func writeNString(_ octets: (some Collection<UInt8>)?, utf8: Bool, to buffer: inout ByteBuffer) {
        guard let octets else {
            buffer.writeStaticString("NIL")
            return
        }
        writeString(octets, utf8: utf8, to: &buffer)
    }

    /// `astring = 1*ASTRING-CHAR / string`: an atom when it is one, else a string.
    public static func writeAString(_ octets: some Collection<UInt8>, utf8: Bool, to buffer: inout ByteBuffer) {
        if !octets.isEmpty, octets.allSatisfy(IMAPCharacters.isAStringChar) {
            buffer.writeBytes(octets)
        } else {
            writeString(octets, utf8: utf8, to: &buffer)
        }
    }

    /// `text = 1*TEXT-CHAR`: human-readable text on one line; CR, LF and NUL (which would end
    /// or break the line) become spaces, and empty text a single one so the rule holds.
    public static func writeText(_ text: String, to buffer: inout ByteBuffer) {
        var wrote = false
        for octet in text.utf8 {
            buffer.writeInteger(octet == 0 || octet == UInt8(ascii: "\r") || octet == UInt8(ascii: "\n") ? UInt8(ascii: " ") : octet)
            wrote = true
        }
        if !wrote { buffer.writeInteger(UInt8(ascii: " ")) }
    }

    /// A status response: `tag SP ("OK" / "NO" / "BAD") SP ["[" resp-text-code "]" SP] text CRLF`,
    /// `*` for untagged (and BYE, PREAUTH).
    public static func writeStatus(
        tag: String?, _ status: Status, code: String? = nil, text: String, to buffer: inout ByteBuffer
    ) {
        if let tag, !tag.isEmpty, tag.utf8.allSatisfy({ IMAPCharacters.isAStringChar($0) && $0 != UInt8(ascii: "+") }) {
            buffer.writeString(tag)
        } else {
            buffer.writeInteger(UInt8(ascii: "*"))
        }
        buffer.writeString(" \(status.rawValue) ")
        if let code {
            buffer.writeInteger(UInt8(ascii: "["))
            writeText(code.replacingBrackets, to: &buffer)
            buffer.writeStaticString("] ")
        }
        writeText(text, to: &buffer)
        buffer.writeStaticString("\r\n")
    }

    /// `continue-req = "+" SP (resp-text / base64) CRLF`.
    public static func writeContinuation(_ text: String, to buffer: inout ByteBuffer) {
        buffer.writeStaticString("+ ")
        writeText(text, to: &buffer)
        buffer.writeStaticString("\r\n")
    }

    public enum Status: String, Sendable {
        case ok = "OK"
        case no = "NO"
        case bad = "BAD"
        case bye = "BYE"
        case preauth = "PREAUTH"
    }

    /// `QUOTED-CHAR`: TEXT-CHAR (no CR, LF, NUL) or an escaped special; 8-bit only as UTF-8 in
    /// IMAP4rev2.
    static func isQuotable(_ octet: UInt8, utf8: Bool) -> Bool {
        switch octet {
        case 0x00, UInt8(ascii: "\r"), UInt8(ascii: "\n"): false
        case 0x80...: utf8
        default: true
        }
    }
}

extension String {
    /// A resp-text-code may not hold "]" (it would end the code early).
    fileprivate var replacingBrackets: String {
        String(String.UnicodeScalarView(unicodeScalars.map { $0 == "]" ? " " : $0 }))
    }
}
