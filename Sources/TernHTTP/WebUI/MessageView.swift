import Foundation
import TernMIME

/// A message's HTML body as the UI frames it: inline images (`cid:`) become `data:` URIs, links
/// open in a new tab, and the Content-Security-Policy allows no script, no plugin, no form and
/// no remote load. Remote images load only when asked (`remoteImages`): a tracking pixel must not
/// tell the sender that a developer looked. The iframe is sandboxed as well, so even a browser
/// that ignored the policy would run nothing.
///
/// Bounded (hostile-inputs 47): the HTML is read once, front to back; each inline part is
/// encoded once however often it is referenced, and the `data:` URIs written add up to at most
/// `inlineBudget(forMessageOfSize:)` (twice the message, plus 64 KB), so a small part
/// referenced thousands of times cannot turn 46 KB of mail into megabytes of page. References
/// past the budget stay `cid:` references (a missing image).
enum MessageView {
    static func policy(remoteImages: Bool) -> String {
        "default-src 'none'; style-src 'unsafe-inline'; font-src data:; img-src data:\(remoteImages ? " http: https:" : ""); "
            + "form-action 'none'; sandbox allow-popups allow-popups-to-escape-sandbox"
    }

    /// How many octets of `data:` URIs the view of a message of `size` octets may hold.
    static func inlineBudget(forMessageOfSize size: Int) -> Int {
        let (doubled, overflowed) = size.multipliedReportingOverflow(by: 2)
        let (budget, overflowedAgain) = doubled.addingReportingOverflow(64 * 1024)
        return overflowed || overflowedAgain ? Int.max : budget
    }

    static func html(_ content: MessageContent) -> String {
        var parts: [String: MIMEPart] = [:]
        for part in content.inlineParts {
            guard let id = part.contentID, !id.isEmpty, parts[id] == nil else { continue }
            parts[id] = part
        }
        let html = inlined(
            content.htmlBody ?? "", contentIDs: Set(parts.keys), budget: inlineBudget(forMessageOfSize: content.raw.count)
        ) { id in
            guard let part = parts[id] else { return "" }
            return "data:\(part.contentType.essence);base64,\(Data(content.decodedBody(part)).base64EncodedString())"
        }
        return withBaseTarget(html)
    }

    /// `html` with each `cid:ID` reference (RFC 2392; the scheme in any case, the ID one of
    /// `contentIDs` as written or percent-decoded) replaced by `dataURI(ID)`, while `budget`
    /// octets last. `dataURI` is called at most once per ID.
    static func inlined(_ html: String, contentIDs: Set<String>, budget: Int, dataURI: (String) -> String) -> String {
        var scanner = OctetScanner(html)
        return inlined(&scanner, contentIDs: contentIDs, budget: budget, dataURI: dataURI)
    }

    static func inlined(
        _ scanner: inout OctetScanner, contentIDs: Set<String>, budget: Int, dataURI: (String) -> String
    ) -> String {
        let scheme = Array("cid:".utf8)
        var made: [String: [UInt8]] = [:]
        var remaining = budget
        var output: [UInt8] = []
        output.reserveCapacity(scanner.count)
        var copied = 0
        var position = 0
        while let start = scanner.find(scheme, from: position) {
            let idStart = start + scheme.count
            let idEnd = scanner.firstIndex(from: idStart, where: endsContentID) ?? scanner.count
            position = idEnd
            guard idEnd > idStart else { continue }
            let written = scanner.text(idStart..<idEnd)
            let id: String
            if contentIDs.contains(written) {
                id = written
            } else if written.contains("%"), let decoded = written.removingPercentEncoding, contentIDs.contains(decoded) {
                id = decoded
            } else {
                continue
            }
            let uri = made[id] ?? Array(dataURI(id).utf8)
            made[id] = uri
            guard uri.count <= remaining else { continue }
            remaining -= uri.count
            output += scanner.octets[copied..<start]
            output += uri
            copied = idEnd
        }
        output += scanner.octets[copied...]
        return String(decoding: output, as: UTF8.self)
    }

    /// A Content-ID in a URL ends at white space, a quote, a bracket or a separator that
    /// `msg-id` (RFC 5322 §3.6.4) does not allow.
    private static func endsContentID(_ octet: UInt8) -> Bool {
        octet <= 0x20 || octet == 0x7F || "\"'()<>\\,;".utf8.contains(octet)
    }

    /// Links of the message open in a new tab: `<base target="_blank">` right after `<head ...>`,
    /// or first when there is no head.
    static func withBaseTarget(_ html: String) -> String {
        let base = "<base target=\"_blank\">"
        var scanner = OctetScanner(html)
        let head = Array("<head".utf8)
        var position = 0
        while let start = scanner.find(head, from: position) {
            let after = start + head.count
            guard after < scanner.count else { break }
            let next = scanner.octets[after]
            guard next == UInt8(ascii: ">") || next == UInt8(ascii: "/") || OctetScanner.isHTMLSpace(next) else {
                position = after  // <header>, <heading>: not the head
                continue
            }
            guard let end = scanner.find(UInt8(ascii: ">"), from: after) else { break }
            return scanner.text(0..<end + 1) + base + scanner.text(end + 1..<scanner.count)
        }
        return base + html
    }
}
