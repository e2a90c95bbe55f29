import Foundation
import TernMIME
import TernStore
import Testing

@testable import TernHTTP

// Hostile content (hostile-inputs 42, 47; issue 14 item 3), sized like the issue's. Linearity is
// shown without a clock: each scan reports how many octets it looked at (`OctetScanner
// .inspected`), and the tests bound that by a small multiple of the input. Inputs that used to
// take minutes (quadratic) now finish with capped outputs.

/// A raw message from header lines and a body, with CRLF line ends.
func rawMessage(_ header: [String], body: String) -> [UInt8] {
    Array((header.joined(separator: "\r\n") + "\r\n\r\n" + body).utf8)
}

let testMessage = MailboxMessage(uid: 1, flags: [], size: 0, internalDate: 1)
let testKey = "1.AAAAAAAAAAAAAAAA.x"

@Suite("HTML to text")
struct HTMLTextTests {
    @Test(
        "40,000 unclosed <style>, <script> or comments (280 KB) cost one pass",
        arguments: ["<style>", "<script>", "<!--", "<STYLE >"])
    func unclosed(opening: String) {
        let html = "<p>before</p>" + String(repeating: opening, count: 40_000)
        #expect(html.utf8.count >= 160_000)
        let text = HTMLText.plainText(html)
        #expect(text.trimmingCharacters(in: .whitespaces) == "before")
    }

    @Test("closed elements and entities still read as before")
    func closed() {
        #expect(
            HTMLText.plainText("<style>p{}</style><p>a &amp; b</p><script>x()</script><!-- c -->d")
                .split(separator: " ").joined(separator: " ") == "a & b d")
    }
}

@Suite("Links")
struct LinkScanTests {
    @Test("only http, https and mailto hrefs are kept", arguments: [
        ("https://a.test/x", "https://a.test/x"), ("HTTP://A.test", "HTTP://A.test"), ("mailto:a@b.test", "mailto:a@b.test"),
        ("  https://a.test/ ", "https://a.test/"), ("\u{1}https://a.test", "https://a.test"),
        ("ht\ttps://a.test", "https://a.test"),
    ])
    func allowed(href: String, kept: String) {
        #expect(MessageExtracts.allowedHref(href) == kept)
    }

    @Test("javascript:, data:, file: and relative hrefs are dropped", arguments: [
        "javascript:alert(1)", "JavaScript:alert(1)", " java\tscript:alert(1)", "java\nscript:x", "\u{0}javascript:x",
        "data:text/html,<script>x</script>", "file:///etc/passwd", "vbscript:x", "/relative", "#top", "", "   ",
        "//evil.test/x", "https", "blob:https://a.test/1", "ftp://a.test",
    ])
    func dropped(href: String) {
        #expect(MessageExtracts.allowedHref(href) == nil)
    }

    @Test("hrefs are read as HTML reads attributes")
    func attributes() {
        let html =
            #"<a title="href=javascript:x" href="https://ok.test/1">one</a> "#
            + #"<a data-href=javascript:x href='https://ok.test/a>b'>two</a> "#
            + #"<a href="https://ok.test/3" href="javascript:y">three</a> <a href=https://ok.test/4>four</a> "#
            + #"<a href="java&#x09;script:alert(1)">entity</a> <a\#nhref="mailto:x@ok.test">five</a>"#
        #expect(
            MessageExtracts.htmlLinks(html) == [
                .init(href: "https://ok.test/1", text: "one"), .init(href: "https://ok.test/a>b", text: "two"),
                .init(href: "https://ok.test/3", text: "three"), .init(href: "https://ok.test/4", text: "four"),
                .init(href: "mailto:x@ok.test", text: "five"),
            ])
    }

    @Test("40,000 unclosed links: at most maximumLinks kept, each octet looked at a few times")
    func unclosedLinks() {
        let html = (0..<40_000).map { "<a href=\"https://x.test/\($0)\">link \($0) " }.joined()
        var scanner = OctetScanner(html)
        let links = MessageExtracts.htmlLinks(&scanner)
        #expect(links.count == MessageExtracts.maximumLinks)
        #expect(links[1] == .init(href: "https://x.test/1", text: "link 1"))
        #expect(scanner.inspected <= 4 * scanner.count)
    }

    @Test("links that are all dropped or all the same are read to the end, linearly", arguments: [
        "<a href=\"javascript:void(0)\">x", "<a href=\"https://same.test/\">same ", "<a href=x", "<a <a <a", "<abbr><a",
    ])
    func unclosedUncollected(unit: String) {
        var scanner = OctetScanner(String(repeating: unit, count: 40_000))
        let links = MessageExtracts.htmlLinks(&scanner)
        #expect(links.count <= 1)
        #expect(scanner.inspected <= 5 * scanner.count)
    }

    @Test("a link's text is bounded")
    func longText() {
        let html = "<a href=\"https://x.test\">" + String(repeating: "word ", count: 100_000) + "</a>"
        let links = MessageExtracts.htmlLinks(html)
        #expect(links.count == 1 && links[0].text.unicodeScalars.count <= MessageExtracts.maximumLinkText)
    }

    @Test("List-Unsubscribe with 10,000 links: at most maximumLinks read")
    func unsubscribe() {
        let field = "List-Unsubscribe: " + (0..<10_000).map { "<https://u.test/\($0)>" }.joined(separator: ",\r\n ")
        let parsed = APIListUnsubscribe(content: MessageContent(raw: rawMessage(["From: a@x.test", field], body: "x")))
        #expect(parsed.links.count == APIListUnsubscribe.maximumLinks && parsed.links[0] == "https://u.test/0")
    }

    @Test("URLs of text: linear on runs of http without a URL, capped, each once")
    func urls() {
        var run = OctetScanner(String(repeating: "http", count: 100_000))
        #expect(MessageExtracts.urls(&run).isEmpty)
        #expect(run.inspected <= 3 * run.count)

        var many = OctetScanner((0..<20_000).map { "see https://x.test/\($0), " }.joined())
        let found = MessageExtracts.urls(&many)
        #expect(found.count == MessageExtracts.maximumLinks && found[0] == "https://x.test/0")
        #expect(many.inspected <= 3 * many.count)

        var same = OctetScanner(String(repeating: "https://same.test/a ", count: 50_000))
        #expect(MessageExtracts.urls(&same) == ["https://same.test/a"])
        #expect(same.inspected <= 3 * same.count)

        var glued = OctetScanner(String(repeating: "https://x.test/", count: 50_000))
        #expect(MessageExtracts.urls(&glued).isEmpty)  // one URL of 750 KB: longer than any link
        #expect(glued.inspected <= 3 * glued.count)
        #expect(
            MessageExtracts.urls(in: "a\u{00A0}https://x.test/a\u{00A0}b https://y.test/\u{3000}")
                == ["https://x.test/a", "https://y.test/"])
    }

    @Test("codes: linear on keywords without digits, bounded with digits, each code once")
    func codes() {
        var words = OctetScanner(String(repeating: "pin code token ", count: 40_000))
        #expect(MessageExtracts.codes(&words).isEmpty)
        #expect(words.inspected <= 20 * words.count)  // nine keywords, each one pass

        var repeated = OctetScanner(String(repeating: "code 123456 ", count: 40_000))
        #expect(MessageExtracts.codes(&repeated) == ["123456"])
        #expect(repeated.inspected <= 20 * repeated.count + MessageExtracts.maximumCodeWindows * 240)

        var glued = OctetScanner(String(repeating: "code1", count: 100_000))
        #expect(MessageExtracts.codes(&glued).isEmpty)
        #expect(glued.inspected <= 20 * glued.count + MessageExtracts.maximumCodeWindows * 240)

        var distinct = OctetScanner((0..<5000).map { "code \(100_000 + $0) " }.joined())
        #expect(MessageExtracts.codes(&distinct).count == MessageExtracts.maximumCodes)
    }
}

@Suite("HTML view")
struct MessageViewTests {
    @Test("a cid: part referenced thousands of times is inlined within the budget, made once")
    func cidBomb() {
        let html = String(repeating: "<img src=\"cid:logo@x\">", count: 10_000)
        var made = 0
        let dataURI = String(repeating: "A", count: 46_000)
        let budget = MessageView.inlineBudget(forMessageOfSize: 50_000)
        let view = MessageView.inlined(html, contentIDs: ["logo@x"], budget: budget) { id in
            made += 1
            #expect(id == "logo@x")
            return dataURI
        }
        #expect(made == 1)
        #expect(view.utf8.count <= html.utf8.count + budget)
        #expect(view.components(separatedBy: dataURI).count - 1 == budget / dataURI.utf8.count)
        #expect(view.contains("cid:logo@x"))  // past the budget: left as written
    }

    @Test("cid: in any case, percent-encoded, and only whole IDs")
    func references() {
        let html = #"<img src="CID:a%40x"><img src='cid:a@x'><img src="cid:a@xy"><p>cid:</p>cid:"#
        let view = MessageView.inlined(html, contentIDs: ["a@x"], budget: 1000) { _ in "data:," }
        #expect(view == #"<img src="data:,"><img src='data:,'><img src="cid:a@xy"><p>cid:</p>cid:"#)
    }

    @Test("the whole view of a message: 46 KB in, at most twice that (plus 64 KB) of images out")
    func wholeMessage() {
        let image = Data((0..<34_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }).base64EncodedString(
            options: .lineLength76Characters)
        let html = String(repeating: "<img src=\"cid:img1@x\">", count: 250)
        let raw = rawMessage(
            ["From: a@x.test", "Content-Type: multipart/related; boundary=b"],
            body: "--b\r\nContent-Type: text/html\r\n\r\n<html><head><title>t</title></head><body>\(html)</body></html>\r\n"
                + "--b\r\nContent-Type: image/png\r\nContent-ID: <img1@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                + image + "\r\n--b--\r\n")
        let content = MessageContent(raw: raw)
        let view = MessageView.html(content)
        #expect(raw.count > 46_000 && raw.count < 60_000)
        #expect(view.utf8.count <= html.utf8.count + 200 + MessageView.inlineBudget(forMessageOfSize: raw.count))
        #expect(view.contains("data:image/png;base64,"))
        #expect(view.contains("<head><base target=\"_blank\"><title>"))
    }

    @Test("<base> goes after the real <head>, found in one pass")
    func base() {
        #expect(MessageView.withBaseTarget("<header>x</header>") == "<base target=\"_blank\"><header>x</header>")
        #expect(MessageView.withBaseTarget("<HEAD lang=en><p>") == "<HEAD lang=en><base target=\"_blank\"><p>")
        let hostile = String(repeating: "<head", count: 40_000)
        #expect(MessageView.withBaseTarget(hostile) == "<base target=\"_blank\">" + hostile)
    }
}

@Suite("Message summaries")
struct MessageSummaryTests {
    @Test("100,000 To lines: a bounded list and the count")
    func manyRecipients() {
        let header = ["From: a@x.test", "Subject: many"] + (0..<100_000).map { "To: user\($0)@example.test" }
        let message = MessageSummary.indexed(raw: rawMessage(header, body: "hi"), inbox: "default", message: testMessage, key: testKey, id: "A")
        #expect(message.to.count == MessageSummary.maximumAddresses && message.toCount == 100_000)
        #expect(message.to.first?.address == "user0@example.test")
        let json = try? CatcherHTTP.encoder.encode(APIMessageSummary(message))
        #expect((json?.count ?? .max) < 16 * 1024)
        let object = json.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        #expect(object?["ToCount"] as? Int == 100_000 && (object?["To"] as? [Any])?.count == MessageSummary.maximumAddresses)
        #expect(object?["CcCount"] as? Int == 0)
    }

    @Test("thousands of folded X-Tags: at most maximumTags")
    func foldedTags() {
        let folded = "X-Tags: first" + (0..<20_000).map { "\r\n ,tag\($0 % 5000)" }.joined()
        let message = MessageSummary.indexed(raw: rawMessage(["From: a@x.test", folded], body: "x"), inbox: "default", message: testMessage, key: testKey, id: "A")
        #expect(message.tags.count == MessageSummary.maximumTags && message.tags[0] == "first")
    }

    @Test("an HTML body of 40,000 unclosed <style> indexes")
    func styleBomb() {
        let raw = rawMessage(
            ["From: a@x.test", "Content-Type: text/html"], body: "<p>visible</p>" + String(repeating: "<style>", count: 40_000))
        let message = MessageSummary.indexed(raw: raw, inbox: "default", message: testMessage, key: testKey, id: "A")
        #expect(message.snippet == "visible")
    }

    @Test("a prefix of a larger file is summarized with the file's size")
    func prefix() {
        let raw = rawMessage(["From: a@x.test", "Subject: big"], body: String(repeating: "x", count: 1000))
        let message = MessageSummary.indexed(raw: Array(raw.prefix(100)), size: 48_000_000, inbox: "default", message: testMessage, key: testKey, id: "A")
        #expect(message.size == 48_000_000 && message.subject == "big")
    }
}
