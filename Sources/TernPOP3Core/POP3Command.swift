import TernMail

/// A POP3 command (RFC 1939 §3, with CAPA of RFC 2449, STLS of RFC 2595 and AUTH of
/// RFC 5034), parsed from one line without its CRLF.
///
/// RFC 1939 §3: "Commands in the POP3 consist of a case-insensitive keyword, possibly followed
/// by one or more arguments. [...] Keywords and arguments consist of printable ASCII characters.
/// Keywords and arguments are each separated by a single SPACE character." Message numbers are
/// read into 1...Int32.max (a larger one names no message: `RETR 99999999999999999999` is an
/// error, never a trap), line counts into 0...Int32.max.
public enum POP3Command: Sendable, Hashable {
    case user(String)
    case pass(String)
    case auth(mechanism: String?, initialResponse: [UInt8]?)
    case apop
    case stls
    case capa
    case quit
    case stat
    case list(Int?)
    case retr(Int)
    case dele(Int)
    case noop
    case rset
    case top(Int, lines: Int)
    case uidl(Int?)

    /// Why a line is not a command Tern runs; each is answered with `-ERR` and the text.
    public enum Error: Swift.Error, Sendable, Hashable {
        case unknownCommand
        case invalidCharacter
        /// A missing, extra or malformed argument (`TOP 1 -1`, `LIST a`).
        case invalidArguments(String)
        /// A message number past what any maildrop holds, or 0.
        case noSuchMessage

        public var text: String {
            switch self {
            case .unknownCommand: "Unknown command"
            case .invalidCharacter: "Invalid character in command"
            case .invalidArguments(let command): "Invalid arguments to \(command)"
            case .noSuchMessage: "No such message"
            }
        }
    }

    /// The largest message number or line count read: more than any maildrop holds.
    public static let largestNumber = Int(Int32.max)

    /// Parses one command line (without CRLF).
    public static func parse(_ line: some Collection<UInt8>) throws(Error) -> POP3Command {
        // Printable ASCII and SPACE only (§3); PASS and AUTH's response may carry UTF-8, which
        // are the argument's own octets (RFC 1939 §7 lets PASS hold spaces, RFC 5034 base64).
        guard !line.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { throw .invalidCharacter }
        let octets = Array(line)
        let keywordEnd = octets.firstIndex(of: UInt8(ascii: " ")) ?? octets.count
        guard (3...4).contains(keywordEnd) else { throw .unknownCommand }
        let keyword = String(decoding: octets[..<keywordEnd].map(uppercased), as: UTF8.self)
        let rest = keywordEnd < octets.count ? octets[(keywordEnd + 1)...] : []
        let arguments = rest.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        let hasArguments = keywordEnd < octets.count

        func none() throws(Error) {
            guard !hasArguments else { throw .invalidArguments(keyword) }
        }
        func number(_ field: ArraySlice<UInt8>) throws(Error) -> Int {
            guard !field.isEmpty, field.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                throw .invalidArguments(keyword)
            }
            // Digits only: too many of them (or 0) is a number no maildrop has.
            guard let value = ASCIIDecimal.parse(octets: field, in: 1...Int64(largestNumber)) else { throw .noSuchMessage }
            return Int(value)
        }
        func message() throws(Error) -> Int {
            guard hasArguments, arguments.count == 1 else { throw .invalidArguments(keyword) }
            return try number(arguments[0])
        }
        func optionalMessage() throws(Error) -> Int? {
            hasArguments ? try message() : nil
        }

        switch keyword {
        case "USER":
            // RFC 1939 §7: USER name, one argument.
            guard hasArguments, let name = Self.text(rest), !name.isEmpty, !name.contains(" ") else {
                throw .invalidArguments(keyword)
            }
            return .user(name)
        case "PASS":
            // §7: the rest of the line, spaces included.
            guard hasArguments, let password = Self.text(rest), !password.isEmpty else { throw .invalidArguments(keyword) }
            return .pass(password)
        case "AUTH":
            // RFC 5034 §4: AUTH mechanism [initial-response]; bare AUTH lists the mechanisms.
            guard hasArguments else { return .auth(mechanism: nil, initialResponse: nil) }
            guard (1...2).contains(arguments.count), !arguments[0].isEmpty else { throw .invalidArguments(keyword) }
            let mechanism = String(decoding: arguments[0].map(uppercased), as: UTF8.self)
            return .auth(mechanism: mechanism, initialResponse: arguments.count == 2 ? Array(arguments[1]) : nil)
        case "APOP":
            return .apop
        case "STLS":
            try none()
            return .stls
        case "CAPA":
            try none()
            return .capa
        case "QUIT":
            try none()
            return .quit
        case "STAT":
            try none()
            return .stat
        case "NOOP":
            try none()
            return .noop
        case "RSET":
            try none()
            return .rset
        case "LIST":
            return .list(try optionalMessage())
        case "UIDL":
            return .uidl(try optionalMessage())
        case "RETR":
            return .retr(try message())
        case "DELE":
            return .dele(try message())
        case "TOP":
            // §7: TOP msg n, n non-negative.
            guard hasArguments, arguments.count == 2 else { throw .invalidArguments(keyword) }
            let message = try number(arguments[0])
            let lines = arguments[1]
            guard !lines.isEmpty, lines.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                throw .invalidArguments(keyword)
            }
            // More lines than a message has is the whole body.
            let count = ASCIIDecimal.parse(octets: lines, in: 0...Int64.max).map { Int(min($0, Int64(largestNumber))) }
            return .top(message, lines: count ?? largestNumber)
        default:
            throw .unknownCommand
        }
    }

    /// The command's name, for logs.
    public var name: String {
        switch self {
        case .user: "USER"
        case .pass: "PASS"
        case .auth: "AUTH"
        case .apop: "APOP"
        case .stls: "STLS"
        case .capa: "CAPA"
        case .quit: "QUIT"
        case .stat: "STAT"
        case .list: "LIST"
        case .retr: "RETR"
        case .dele: "DELE"
        case .noop: "NOOP"
        case .rset: "RSET"
        case .top: "TOP"
        case .uidl: "UIDL"
        }
    }

    private static func uppercased(_ octet: UInt8) -> UInt8 {
        octet >= UInt8(ascii: "a") && octet <= UInt8(ascii: "z") ? octet - 0x20 : octet
    }

    /// An argument as text: valid UTF-8, or nil.
    private static func text(_ octets: ArraySlice<UInt8>) -> String? {
        String(validating: octets, as: UTF8.self)
    }
}
