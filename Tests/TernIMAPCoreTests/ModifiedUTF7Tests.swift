import Testing

@testable import TernIMAPCore

@Suite("Modified UTF-7 mailbox names")
struct ModifiedUTF7Tests {
    @Test("RFC 3501 §5.1.3's example, & itself, and characters outside the BMP")
    func roundTrips() {
        let pairs = [
            ("~peter/mail/\u{53F0}\u{5317}/\u{65E5}\u{672C}\u{8A9E}", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("Tom & Jerry", "Tom &- Jerry"), ("Entw\u{FC}rfe", "Entw&APw-rfe"), ("INBOX", "INBOX"),
            ("\u{1F4EC}", "&2D3c7A-"),
        ]
        for (name, wire) in pairs {
            #expect(String(decoding: ModifiedUTF7.encode(name), as: UTF8.self) == wire)
            #expect(ModifiedUTF7.decode(Array(wire.utf8)) == name)
        }
    }

    @Test("what is not modified UTF-7 is refused", arguments: [
        "&", "&U,BTFw", "&AGE-", "&U!BTFw-", "caf\u{E9}", "&2D0-", "tab\there", "&AAA-", "&EcA-&EcA-",
    ])
    func refuses(_ text: String) {
        #expect(ModifiedUTF7.decode(Array(text.utf8)) == nil)
    }
}
