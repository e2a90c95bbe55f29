import Foundation
import NIOCore
import TernDelivery
import TernHTTP
import TernMIME
import TernMail
import TernMailAuth
import TernSMTPCore
import TernStore

/// The catcher's release (TernHTTP's `MessageReleasing`) over TernDelivery's `RelayClient`.
/// With DKIM keys in the data directory for the message's From: domain, the message is signed
/// on its way out, as serve mode signs what users submit, so a developer sees what receivers
/// make of it.
struct CatcherRelease: MessageReleasing {
    let client: RelayClient
    let allowedDomains: [String]
    /// Signers by From: domain (lower case); empty for none.
    var signers: [String: DKIMSigner] = [:]
    /// Where the content is read (its first line, and for the body hash).
    let eventLoop: (any EventLoop)?
    var clock = WallClock.system

    func release(_ source: any MessageSource, sender: String, recipients: [String]) async throws -> [String: String] {
        let addresses = try recipients.map { text -> MailAddress in
            guard let address = MailAddress(stored: text) else { throw RelayClient.Failure(description: "'\(text)' is not an address") }
            return address
        }
        let content = try await signed(try await withoutReturnPath(source))
        let results = try await client.send(content, sender: MailAddress(stored: sender), recipients: addresses)
        var refused: [String: String] = [:]
        for result in results {
            if case .delivered = result.outcome { continue }
            refused["\(result.recipient.address)"] = result.outcome.reply.description
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return refused
    }

    /// The content without the Return-Path field the catcher put in front: RFC 5321 §4.4, "a
    /// message-originating SMTP system SHOULD NOT send a message that already contains a
    /// Return-path header field"; the receiving end adds its own.
    private func withoutReturnPath(_ source: any MessageSource) async throws -> any MessageSource {
        guard let eventLoop else { return source }
        let start = Array(try await source.read(at: 0, count: 1024, on: eventLoop).get().readableBytesView)
        // A second field read means the first one, its continuation lines too, is whole.
        let fields = RawHeaderField.fields(of: RawHeaderField.split(message: start).header)
        guard fields.count >= 2, fields[0].lowercasedName == "return-path",
            start.starts(with: fields[0].octets)
        else { return source }
        return PrefixedMessageSource(prefix: ByteBuffer(), content: source, skipping: fields[0].octets.count)
    }

    /// The content with DKIM-Signature fields in front when its From: domain has keys: one
    /// pass over the content for the header and the body hash, the send is the second.
    private func signed(_ source: any MessageSource) async throws -> any MessageSource {
        guard !signers.isEmpty, let eventLoop else { return source }
        var signer: DKIMSigner?
        let read = try await SignableContent.read(source, on: eventLoop) { header in
            guard case .success(let originators) = Originators.read(headerSection: header),
                let author = originators.authors.first, let at = author.lastIndex(of: "@")
            else { return false }
            signer = signers[String(author[author.index(after: at)...])]
            return signer != nil
        }
        guard let (header, bodyHash) = read, let signer else { return source }
        let fields = try signer.signatures(header: header, bodyHash: bodyHash, now: clock.now().seconds)
        return PrefixedMessageSource(prefix: ByteBuffer(bytes: fields), content: source)
    }
}
