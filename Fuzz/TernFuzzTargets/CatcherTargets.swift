import Foundation
import TernHTTP
import TernMIME
import TernStore

/// The catcher's HTTP inputs that reach a parser of Tern's own (the rest is Hummingbird's).
enum CatcherTargets {
    /// A search query as `GET /api/v1/search?query=` and the search box send it: terms,
    /// quotes, negation, `from:`/`to:`/`inbox:` and the dates of `before:`/`after:` (RFC 3339,
    /// seconds since 1970). A GET can be fired by any web page, so nothing here may trap.
    static let searchQuery = FuzzTarget(
        name: "search-query",
        summary: "SearchQuery.parse of a catcher search (terms, quotes, negation, dates)",
        maximumLength: 2048
    ) { bytes in
        _ = MessageFilter.parsingSearchQuery(String(decoding: bytes, as: UTF8.self))
    }

    /// `POST /api/v1/send`: Mailpit's JSON made into a message. Whatever the JSON, a message
    /// made has CRLF line ends only, a header of lines within 998 octets that each start with a
    /// field name or white space (no value can start a field of its own), and parses back
    /// with its subject.
    static let sendRequest = FuzzTarget(
        name: "send-request",
        summary: "APISendRequest (Mailpit's send JSON) through MessageComposer, parsed back",
        maximumLength: 16 * 1024
    ) { bytes in
        guard let message = SendRequestComposing.message(fromJSON: bytes) else { return }
        var previous: UInt8 = 0
        for octet in message {
            fuzzCheck(octet != 0x0A || previous == 0x0D, "a bare LF in a composed message")
            fuzzCheck(previous != 0x0D || octet == 0x0A, "a bare CR in a composed message")
            previous = octet
        }
        let text = String(decoding: message, as: UTF8.self)
        let header = text.components(separatedBy: "\r\n\r\n").first ?? ""
        for line in header.components(separatedBy: "\r\n") {
            fuzzCheck(line.utf8.count <= 998, "a header line over 998 octets")
            fuzzCheck(line.hasPrefix(" ") || line.hasPrefix("\t") || line.contains(":"), "a header line that is no field: \(line)")
        }
        let fields = MessageContent(raw: message).root.header.map { $0.name.lowercased() }
        fuzzCheck(fields.filter { $0 == "from" }.count == 1, "not exactly one From")
        fuzzCheck(fields.filter { $0 == "content-type" }.count == 1, "not exactly one Content-Type")
    }
}
