public import Foundation
public import TernMailAuth
import TernMail

/// The DKIM keys of the local domains, in the data directory:
///
///     <data_dir>/dkim/<domain>/<selector>.pem   the private key, mode 0600
///     <data_dir>/dkim/<domain>/signing          the selectors that sign, one per line
///     <data_dir>/dkim/<domain>/retired          "<selector> <YYYY-MM-DD>": replaced keys, and
///                                                the day until which their records stay published
///
/// Keys of selectors no longer listed in `signing` stay: their records must stay published
/// until no message signed with them is still on its way or in a mailbox being checked
/// (RFC 6376 §3.6.2.1 leaves rotation to the signer). `generate` writes that day for the keys
/// it replaces; `tern dns-records` lists them until then, and says afterwards that their records
/// may go.
public enum DKIMKeyring {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// A key made by `generate`: where its record goes and what it says.
    public struct GeneratedKey: Sendable {
        public var selector: String
        public var domain: String
        public var record: String
        public var path: String

        /// The record as a zone-file line (`DNSRecords.Record` splits it into strings).
        public var zoneLine: String {
            DNSRecords.Record(name: "\(selector)._domainkey.\(domain).", kind: .txt, data: record, purpose: "").zoneLine
        }
    }

    public static func directory(dataDirectory: String) -> String { "\(dataDirectory)/dkim" }

    /// The signers of every domain with keys, by domain (lower case).
    public static func load(dataDirectory: String, expiry: Int64?) throws(Failure) -> [String: DKIMSigner] {
        let root = directory(dataDirectory: dataDirectory)
        guard let domains = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [:] }
        var signers: [String: DKIMSigner] = [:]
        for domain in domains.sorted() where isDomainName(domain) {
            guard let listing = try? String(contentsOfFile: "\(root)/\(domain)/signing", encoding: .utf8) else { continue }
            var keys: [DKIMSigner.Key] = []
            for selector in listing.split(whereSeparator: \.isNewline).map({ $0.trimmingCharacters(in: .whitespaces) })
            where !selector.isEmpty {
                let path = "\(root)/\(domain)/\(selector).pem"
                guard isDomainName(selector), let pem = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw Failure(description: "\(root)/\(domain)/signing names \(selector), but \(path) cannot be read")
                }
                do {
                    keys.append(DKIMSigner.Key(selector: selector, privateKey: try DKIMPrivateKey(pem: pem)))
                } catch {
                    throw Failure(description: "\(path): \(error.description)")
                }
            }
            if !keys.isEmpty { signers[domain] = DKIMSigner(domain: domain, keys: keys, validity: expiry) }
        }
        return signers
    }

    /// How long the records of replaced keys stay published, by default: a message signed just
    /// before the rotation may wait in queues for days and be checked again when it is read.
    public static let defaultRetirementDays = 30

    /// Makes an Ed25519 key and an RSA key for `domain` under `<selector>-ed` and
    /// `<selector>-rsa`, and makes them the domain's signing keys. The keys they replace keep
    /// their files, and their records are to stay published `keepOldDays` days from `now`.
    public static func generate(
        domain: String, selector: String, rsaBits: Int, dataDirectory: String, keepOldDays: Int = defaultRetirementDays,
        now: Date = Date()
    ) throws(Failure) -> [GeneratedKey] {
        let domain = domain.lowercased()
        guard isDomainName(domain), domain.contains(".") else { throw Failure(description: "\(domain) is not a domain name") }
        let selector = selector.lowercased()
        guard isDomainName(selector) else {
            throw Failure(description: "selector \(selector): letters, digits, hyphens and dots only")
        }
        let rsa: DKIMPrivateKey
        do {
            rsa = try DKIMPrivateKey.generateRSA(bits: rsaBits)
        } catch {
            throw Failure(description: error.description)
        }
        let keys = [("\(selector)-ed", DKIMPrivateKey.generateEd25519()), ("\(selector)-rsa", rsa)]
        let folder = "\(directory(dataDirectory: dataDirectory))/\(domain)"
        do {
            try FileManager.default.createDirectory(
                atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw Failure(description: "cannot create \(folder): \(error.localizedDescription)")
        }
        var made: [GeneratedKey] = []
        for (name, key) in keys {
            let path = "\(folder)/\(name).pem"
            guard !FileManager.default.fileExists(atPath: path) else {
                throw Failure(description: "\(path) exists: choose another --selector")
            }
            guard FileManager.default.createFile(atPath: path, contents: Data(key.pemRepresentation.utf8), attributes: [.posixPermissions: 0o600])
            else {
                throw Failure(description: "cannot write \(path)")
            }
            made.append(GeneratedKey(selector: name, domain: domain, record: key.keyRecord, path: path))
        }
        let signing = "\(folder)/signing"
        var retired = readRetired(folder: folder)
        let until = day(now.addingTimeInterval(TimeInterval(max(0, min(keepOldDays, 3650))) * 86_400))
        for replaced in readSelectors("\(folder)/signing") where retired[replaced] == nil {
            retired[replaced] = until
        }
        do {
            let listing = retired.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)\n" }.joined()
            try Data(listing.utf8).write(to: URL(fileURLWithPath: "\(folder)/retired"), options: .atomic)
            try Data((made.map(\.selector).joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: signing), options: .atomic)
        } catch {
            throw Failure(description: "cannot write \(signing): \(error.localizedDescription)")
        }
        return made
    }

    /// The selectors listed in a `signing` file.
    private static func readSelectors(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
            .split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The `retired` file: selector → the day (`YYYY-MM-DD`) until which its record stays.
    private static func readRetired(folder: String) -> [String: String] {
        var retired: [String: String] = [:]
        for line in readSelectors("\(folder)/retired") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2, isDomainName(String(parts[0])), isDay(String(parts[1])) else { continue }
            retired[String(parts[0])] = String(parts[1])
        }
        return retired
    }

    /// `YYYY-MM-DD` of `date` in UTC, which sorts as the days do.
    public static func day(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1)
    }

    private static func isDay(_ text: String) -> Bool {
        let octets = Array(text.utf8)
        return octets.count == 10 && octets[4] == UInt8(ascii: "-") && octets[7] == UInt8(ascii: "-")
            && octets.enumerated().allSatisfy { $0.offset == 4 || $0.offset == 7 || (0x30...0x39).contains($0.element) }
    }

    /// A key on disk and whether it signs: what `tern dns-records` says to publish.
    public struct PublishedKey: Sendable {
        public var selector: String
        public var record: String
        public var signing: Bool
        /// For a replaced key, the day (`YYYY-MM-DD`, UTC) until which its record stays
        /// published; nil for a signing key, or one replaced before Tern wrote such days.
        public var publishUntil: String?

        /// A replaced key whose day has passed on `today` (`YYYY-MM-DD`): its record may go.
        public func isExpired(today: String) -> Bool {
            guard !signing, let publishUntil else { return false }
            return publishUntil < today
        }
    }

    /// Every key of `domain` that reads, the signing ones first, then the others by selector.
    public static func publishedKeys(domain: String, dataDirectory: String) -> [PublishedKey] {
        let folder = "\(directory(dataDirectory: dataDirectory))/\(domain.lowercased())"
        guard isDomainName(domain.lowercased()), let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        let signing = Set(readSelectors("\(folder)/signing"))
        let retired = readRetired(folder: folder)
        var keys: [PublishedKey] = []
        for name in names.sorted() where name.hasSuffix(".pem") {
            let selector = String(name.dropLast(4))
            guard isDomainName(selector), let pem = try? String(contentsOfFile: "\(folder)/\(name)", encoding: .utf8),
                let key = try? DKIMPrivateKey(pem: pem)
            else { continue }
            let signs = signing.contains(selector)
            keys.append(
                PublishedKey(selector: selector, record: key.keyRecord, signing: signs, publishUntil: signs ? nil : retired[selector]))
        }
        return keys.filter(\.signing) + keys.filter { !$0.signing }
    }

    private static func isDomainName(_ name: String) -> Bool { DKIMSignatureFields.isDomain(name) }
}
