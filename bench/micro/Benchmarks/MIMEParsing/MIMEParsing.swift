// MIME parsing (RFC 2045, RFC 2046) of a realistic 20 KB message: multipart/mixed with a
// multipart/alternative (quoted-printable text and HTML) and a base64 PDF attachment.
//
// Three levels of work: the MIME tree alone (`MIMEParser.parse`, what every reader starts
// with); the catcher's index summary of a stored message (`MessageSummary.indexed` in TernHTTP:
// parse, address fields, date, decoded subject and text body, snippet, attachment count); and
// decoding the attachment, what opening it in the web UI or the API costs.
import Benchmark
import MicroSupport
import TernMIME

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .micro()

    let raw = Fixtures.multipartMessage()
    let reference = MessageContent(raw: raw)
    precondition(reference.root.allParts.count == 5, "multipart/mixed, alternative, plain, html, pdf")
    precondition(reference.attachments.count == 1 && reference.textBody != nil && reference.htmlBody != nil)
    let attachment = reference.attachments[0]

    Benchmark("MIMEParser.parse: 20 KB, 5 parts") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(MIMEParser.parse(raw))
        }
    }

    Benchmark("MessageContent: catcher index summary, 20 KB") { benchmark in
        for _ in benchmark.scaledIterations {
            // The pure part of MessageSummary.indexed, field for field.
            let content = MessageContent(raw: raw)
            let text = content.textBody ?? content.htmlBody.map(HTMLText.plainText) ?? ""
            blackHole(content.mailboxes("From"))
            blackHole(content.mailboxes("To"))
            blackHole(content.mailboxes("Cc"))
            blackHole(content.mailboxes("Bcc"))
            blackHole(content.mailboxes("Reply-To"))
            blackHole(content.subject)
            blackHole(content.date)
            blackHole(content.messageID)
            blackHole(content.snippet(maximumLength: 250))
            blackHole(content.attachments.count)
            blackHole(text.lowercased())
        }
    }

    Benchmark("MessageContent: decode 9.5 KB base64 attachment") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(reference.decodedBody(attachment))
        }
    }
}
