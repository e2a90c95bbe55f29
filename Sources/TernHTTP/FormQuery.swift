import Hummingbird

/// The query of a request's URI read as HTML forms, Go's `url.ParseQuery` (Mailpit's API) and
/// Python's `urlencode` (requests' `params=`) write it: `application/x-www-form-urlencoded`
/// (WHATWG URL §5.1). `&`-separated `name=value` pairs; `+` is a space, `%XX` an octet (a `%`
/// not followed by two hexadecimal digits stays a `%`); the octets are UTF-8, an invalid
/// sequence reads as U+FFFD. Names are decoded like values.
///
/// Hummingbird's `queryParameters` keeps `+` as a plus, so `?query=hello+world` from a Python
/// or Go client would search for `hello+world`; and it leaves a whole value undecoded when one
/// `%` in it is malformed.
struct FormQuery: Sendable {
    private let pairs: [(name: String, value: String)]

    init(_ query: String?) {
        var pairs: [(name: String, value: String)] = []
        for field in (query ?? "").utf8.split(separator: UInt8(ascii: "&")) {
            if let equals = field.firstIndex(of: UInt8(ascii: "=")) {
                pairs.append((Self.decode(field[..<equals]), Self.decode(field[field.index(after: equals)...])))
            } else {
                pairs.append((Self.decode(field), ""))
            }
        }
        self.pairs = pairs
    }

    /// The first value given to `name` (as Go's `Values.Get`); nil when it has none.
    subscript(_ name: String) -> String? {
        pairs.first { $0.name == name }?.value
    }

    static func decode(_ encoded: some Collection<UInt8>) -> String {
        let octets = Array(encoded)
        var decoded: [UInt8] = []
        decoded.reserveCapacity(octets.count)
        var index = 0
        while index < octets.count {
            let octet = octets[index]
            if octet == UInt8(ascii: "+") {
                decoded.append(UInt8(ascii: " "))
            } else if octet == UInt8(ascii: "%"), index + 2 < octets.count,
                let high = hexValue(octets[index + 1]), let low = hexValue(octets[index + 2])
            {
                decoded.append(high << 4 | low)
                index += 2
            } else {
                decoded.append(octet)
            }
            index += 1
        }
        return String(decoding: decoded, as: UTF8.self)
    }

    private static func hexValue(_ octet: UInt8) -> UInt8? {
        switch octet {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): octet - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): octet - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): octet - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension Request {
    /// The URI's query, form-decoded (`FormQuery`).
    var form: FormQuery { FormQuery(uri.query) }
}
