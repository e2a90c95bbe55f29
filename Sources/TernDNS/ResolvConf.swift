public import NIOCore
import TernDNSCore

import TernSystem

/// What Tern takes from resolv.conf(5): the `nameserver` lines and the `timeout:` and
/// `attempts:` options. `search`, `domain` and `ndots` are ignored: mail names are absolute.
public struct ResolvConf: Hashable, Sendable {
    /// The name servers, in file order, on port 53. glibc uses at most three (MAXNS); so does
    /// Tern.
    public var nameServers: [SocketAddress]
    /// `options timeout:n`, seconds per try (glibc caps it at 30).
    public var timeoutSeconds: Int?
    /// `options attempts:n`, rounds over the servers (glibc caps it at 5).
    public var attempts: Int?

    public init(nameServers: [SocketAddress] = [], timeoutSeconds: Int? = nil, attempts: Int? = nil) {
        self.nameServers = nameServers
        self.timeoutSeconds = timeoutSeconds
        self.attempts = attempts
    }

    /// glibc's MAXNS.
    public static let maximumNameServers = 3

    /// Parses the text of a resolv.conf file.
    ///
    /// `nameserver ADDRESS` takes an IPv4 or IPv6 address (an IPv6 zone, `fe80::1%eth0`, is
    /// kept for the socket); anything else on the line, and lines that do not parse, are
    /// skipped as glibc skips them. `#` and `;` start comments. With no usable `nameserver`
    /// line the list is empty: `StubResolver.Configuration` then uses 127.0.0.1 as glibc does.
    public static func parse(_ text: String) -> ResolvConf {
        var result = ResolvConf()
        for rawLine in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let line = rawLine.prefix { $0 != "#" && $0 != ";" }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let keyword = words.first else { continue }
            switch keyword {
            case "nameserver":
                guard words.count >= 2, result.nameServers.count < maximumNameServers,
                    let address = socketAddress(String(words[1]))
                else { continue }
                result.nameServers.append(address)
            case "options":
                for option in words.dropFirst() {
                    if let value = numericOption(option, "timeout:") {
                        result.timeoutSeconds = min(max(value, 1), 30)
                    } else if let value = numericOption(option, "attempts:") {
                        result.attempts = min(max(value, 1), 5)
                    }
                }
            default:
                continue
            }
        }
        return result
    }

    /// Reads and parses a resolv.conf file (at most 64 KiB of it).
    public static func load(path: String = "/etc/resolv.conf") throws -> ResolvConf {
        parse(try readSmallFile(path))
    }

    private static func socketAddress(_ text: String) -> SocketAddress? {
        let address = text.split(separator: "%", maxSplits: 1).first.map(String.init) ?? text
        guard IPAddress(address) != nil else { return nil }
        return try? SocketAddress(ipAddress: text, port: 53)
    }

    private static func numericOption(_ option: Substring, _ prefix: String) -> Int? {
        guard option.hasPrefix(prefix) else { return nil }
        let digits = option.dropFirst(prefix.count)
        guard !digits.isEmpty, digits.count <= 4, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            return nil
        }
        return Int(digits)
    }

    private static func readSmallFile(_ path: String) throws -> String {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw IOError(errnoCode: errno, reason: "open(\(path))") }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 65_536 {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw IOError(errnoCode: errno, reason: "read(\(path))")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
