import Foundation
import TernMailAuth
import Testing

@testable import TernApp

/// Key rotation in the data directory: `tern dkim generate` run again replaces the signing keys,
/// and the records of the keys it replaced stay in `tern dns-records` until their day.
@Suite("DKIMKeyring")
struct DKIMKeyringTests {
    let data = FileManager.default.temporaryDirectory.appendingPathComponent("tern-keyring-\(UUID().uuidString)").path

    @Test("a second generate retires the first keys until a day; dns-records lists them until then")
    func rotation() throws {
        defer { try? FileManager.default.removeItem(atPath: data) }
        let first = Date(timeIntervalSince1970: 1_796_000_000)  // 2026-11-30
        _ = try DKIMKeyring.generate(domain: "example.test", selector: "old", rsaBits: 2048, dataDirectory: data, now: first)
        #expect(DKIMKeyring.publishedKeys(domain: "example.test", dataDirectory: data).map(\.publishUntil) == [nil, nil])
        let later = first.addingTimeInterval(7 * 86_400)  // 2026-12-07
        _ = try DKIMKeyring.generate(
            domain: "example.test", selector: "new", rsaBits: 2048, dataDirectory: data, keepOldDays: 10, now: later)

        let keys = DKIMKeyring.publishedKeys(domain: "example.test", dataDirectory: data)
        #expect(keys.map(\.selector) == ["new-ed", "new-rsa", "old-ed", "old-rsa"])
        #expect(keys.map(\.signing) == [true, true, false, false])
        #expect(keys.map(\.publishUntil) == [nil, nil, "2026-12-17", "2026-12-17"])
        let retired = try String(contentsOfFile: "\(data)/dkim/example.test/retired", encoding: .utf8)
        #expect(retired == "old-ed 2026-12-17\nold-rsa 2026-12-17\n")
        // The signers are the new keys only.
        #expect(try DKIMKeyring.load(dataDirectory: data, expiry: nil)["example.test"]?.keys.map(\.selector) == ["new-ed", "new-rsa"])

        let configuration = try ConfigurationLoader.parse("hostname = \"mx.example.test\"\n")
        func dkimRecords(today: String) -> [String] {
            DNSRecords.plan(domain: "example.test", configuration: configuration, dataDirectory: data, today: today)
                .filter { $0.name.contains("._domainkey.") }.map(\.purpose)
        }
        #expect(dkimRecords(today: "2026-12-17") == [
            "DKIM key new-ed, signing (RFC 6376)", "DKIM key new-rsa, signing (RFC 6376)",
            "DKIM key old-ed, replaced: keep it published until 2026-12-17",
            "DKIM key old-rsa, replaced: keep it published until 2026-12-17",
        ])
        #expect(dkimRecords(today: "2026-12-18") == ["DKIM key new-ed, signing (RFC 6376)", "DKIM key new-rsa, signing (RFC 6376)"])

        // A third generation keeps the old keys' day and retires the second ones from its own.
        _ = try DKIMKeyring.generate(
            domain: "example.test", selector: "third", rsaBits: 2048, dataDirectory: data, keepOldDays: 30,
            now: later.addingTimeInterval(86_400))
        let after = try String(contentsOfFile: "\(data)/dkim/example.test/retired", encoding: .utf8)
        #expect(after == "new-ed 2027-01-07\nnew-rsa 2027-01-07\nold-ed 2026-12-17\nold-rsa 2026-12-17\n")
    }
}
