import TernApp
import TernMailAuth

/// The configuration file: written by an administrator, but `tern check-config` must name the
/// key of any mistake instead of trapping, whatever the file holds (hostile-inputs 46).
enum ConfigurationTargets {
    /// TOML text through `ConfigurationLoader.parse` (TOMLKit, then every table and key Tern
    /// reads: listeners, limits, durations, domains, routes, users, the catcher).
    ///
    /// Keys that name files (`password_file`, `tls_ca_file`, certificates) are read when the
    /// configuration is loaded; the fuzzer may name any path it makes up, so run it where reading
    /// files is harmless (the process only reads them).
    static let configuration = FuzzTarget(
        name: "config",
        summary: "ConfigurationLoader.parse of TOML text (every section, key and value check)",
        maximumLength: 8 * 1024
    ) { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        _ = try? ConfigurationLoader.parse(text, environment: ["TERN_FUZZ_PASSWORD": "secret"])
    }

    /// `tern sendmail`: its command line (the input split at NUL octets into arguments, the
    /// part after the first empty one the message on standard input). A message made ready has
    /// a recipient, CRLF line ends only, and no Bcc: left under -t.
    static let sendmail = FuzzTarget(
        name: "sendmail",
        summary: "SendmailInvocation (sendmail's options) and SendmailMessage (headers, -t, From/Date/Message-ID)",
        maximumLength: 16 * 1024
    ) { bytes in
        let parts = bytes.split(separator: 0, maxSplits: 16, omittingEmptySubsequences: false)
        let separator = parts.firstIndex(where: \.isEmpty) ?? parts.count
        let arguments = parts[..<separator].map { String(decoding: $0, as: UTF8.self) }
        let input = separator < parts.count ? Array(parts[(separator + 1)...].joined(separator: [0])) : []
        guard let invocation = try? SendmailInvocation(arguments: arguments),
            let message = try? SendmailMessage(input: input, invocation: invocation, user: "fuzz", hostname: "fuzz.example", now: 1_800_000_000)
        else { return }
        fuzzCheck(!message.recipients.isEmpty, "a message ready to send without a recipient")
        var previous: UInt8 = 0
        for octet in message.content {
            fuzzCheck(octet != 0x0A || previous == 0x0D, "a bare LF in a message ready to send")
            previous = octet
        }
        if invocation.recipientsFromHeader {
            let header = RawHeaderField.split(message: message.content).header
            fuzzCheck(!RawHeaderField.fields(of: header).contains { $0.lowercasedName == "bcc" }, "Bcc: left in the header under -t")
        }
    }
}
