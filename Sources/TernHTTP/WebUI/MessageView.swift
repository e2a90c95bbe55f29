import Foundation
import TernMIME

/// A message's HTML body as the UI frames it: inline images (`cid:`) become `data:` URIs, links
/// open in a new tab, and the Content-Security-Policy allows no script, no plugin, no form and
/// no remote load. Remote images load only when asked (`remoteImages`): a tracking pixel must not
/// tell the sender that a developer looked. The iframe is sandboxed as well, so even a browser
/// that ignored the policy would run nothing.
enum MessageView {
    static func policy(remoteImages: Bool) -> String {
        "default-src 'none'; style-src 'unsafe-inline'; font-src data:; img-src data:\(remoteImages ? " http: https:" : ""); "
            + "form-action 'none'; sandbox allow-popups allow-popups-to-escape-sandbox"
    }

    static func html(_ content: MessageContent) -> String {
        var html = content.htmlBody ?? ""
        for part in content.inlineParts {
            guard let id = part.contentID, !id.isEmpty else { continue }
            let data = "data:\(part.contentType.essence);base64,\(Data(content.decodedBody(part)).base64EncodedString())"
            html = html.replacingOccurrences(of: "cid:\(id)", with: data)
        }
        let base = "<base target=\"_blank\">"
        if let head = html.range(of: "<head[^>]*>", options: [.regularExpression, .caseInsensitive]) {
            html.insert(contentsOf: base, at: head.upperBound)
        } else {
            html = base + html
        }
        return html
    }
}
