/// Deterministic test messages, built once at start-up so every run measures the same octets.
public enum Fixtures {
    /// Words for generated prose: plain ASCII of typical English word lengths.
    static let words = [
        "the", "delivery", "of", "mail", "between", "servers", "is", "a", "conversation", "where",
        "each", "side", "waits", "for", "its", "turn", "and", "every", "reply", "carries", "code",
        "message", "queue", "retry", "later", "accepted", "recipient", "header", "body", "line",
    ]

    /// `count` lines of prose, each at most `width` octets, ending in CRLF. Every `dotEvery`-th
    /// line (0: none) starts with a dot, as quoted signatures, ellipses and leader lines do.
    public static func prose(lines count: Int, width: Int = 72, dotEvery: Int = 0, seed: Int = 0) -> [String] {
        var lines: [String] = []
        var wordIndex = seed
        for number in 0..<count {
            var line = dotEvery > 0 && number % dotEvery == dotEvery - 1 ? "." : ""
            while true {
                let word = words[wordIndex % words.count]
                guard line.utf8.count + word.utf8.count + 1 <= width else { break }
                line += line.isEmpty || line == "." ? word : " " + word
                wordIndex += 7  // a stride coprime to the word count, so lines differ
            }
            lines.append(line)
        }
        return lines
    }

    /// A plain-text message of about `size` octets as it travels after the DATA command:
    /// header section, body lines with every 25th line starting with a dot (so dot-stuffed on
    /// the wire), and the end-of-data line. `content` is what the server must store.
    public static func dataPhase(size: Int = 10 * 1024) -> (wire: [UInt8], content: [UInt8]) {
        let header = [
            "Received: from client.example.org (client.example.org [192.0.2.10])",
            "\tby relay.example.org with ESMTPS id 4XkR2m1Zq9z; Mon, 23 Nov 2026 09:12:44 +0000",
            "From: Alice Sender <alice.sender@example.org>",
            "To: Bob Recipient <bob.recipient@example.net>",
            "Subject: Quarterly delivery report",
            "Date: Mon, 23 Nov 2026 09:12:43 +0000",
            "Message-ID: <20261123091243.4711@client.example.org>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=us-ascii",
            "",
        ]
        var content = header.joined(separator: "\r\n") + "\r\n"
        var body = prose(lines: 400, dotEvery: 25)[...]
        while content.utf8.count < size, let line = body.popFirst() {
            content += line + "\r\n"
        }
        var wire: [UInt8] = []
        for line in content.split(separator: "\r\n", omittingEmptySubsequences: false).dropLast() {
            if line.hasPrefix(".") { wire.append(UInt8(ascii: ".")) }  // RFC 5321 §4.5.2
            wire += line.utf8
            wire += "\r\n".utf8
        }
        wire += ".\r\n".utf8
        return (wire, Array(content.utf8))
    }
}
