import NIOCore
import TernMailAuth
import TernStore

/// One pass over a stored message before it is sent with signatures in front: its header
/// section and the relaxed body hash (RFC 6376 §3.4.4) that Tern's DKIM signatures and ARC
/// sets share. The send is the second pass; nothing but the header is held in memory.
enum SignableContent {
    /// The longest header section read; a longer one is sent as it is.
    static let headerLimit = 256 * 1024

    /// The header section (without its empty line) and the body hash; nil when the header
    /// section is longer than `headerLimit` or `proceed` declines it (no signer for it), in
    /// which case the body is not read.
    static func read(
        _ source: any MessageSource, on eventLoop: any EventLoop, proceed: ([UInt8]) -> Bool = { _ in true }
    ) async throws -> (header: [UInt8], bodyHash: [UInt8])? {
        var header: [UInt8] = []
        var bodyHash = DKIMSigner.bodyHash()
        var headerWhole = false
        var offset = 0
        while true {
            let chunk = try await source.read(at: offset, count: 256 * 1024, on: eventLoop).get()
            guard chunk.readableBytes > 0 else { break }
            offset += chunk.readableBytes
            if headerWhole {
                bodyHash.update(chunk.readableBytesView)
                continue
            }
            header += chunk.readableBytesView
            let (head, body) = RawHeaderField.split(message: header)
            // The empty line is not part of either: a shorter header means it was found.
            guard head.count < header.count else {
                if header.count > headerLimit { return nil }
                continue
            }
            headerWhole = true
            guard proceed(Array(head)) else { return nil }
            bodyHash.update(body)
            header = Array(head)
        }
        // A message that is all header (no empty line) has an empty body.
        if !headerWhole {
            guard header.count <= headerLimit, proceed(header) else { return nil }
        }
        return (header, bodyHash.finalize())
    }
}
