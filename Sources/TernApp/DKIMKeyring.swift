import Foundation
public import TernMailAuth
import TernMail

/// The DKIM keys of the local domains, in the data directory:
///
///     <data_dir>/dkim/<domain>/<selector>.pem   the private key, mode 0600
///     <data_dir>/dkim/<domain>/signing          the selectors that sign, one per line
///
/// Keys of selectors no longer listed in `signing` stay: their records must stay published
/// until no message signed with them is still on its way or in a mailbox being checked
/// (RFC 6376 §3.6.2.1 leaves rotation to the signer).
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

    /// Makes an Ed25519 key and an RSA key for `domain` under `<selector>-ed` and
    /// `<selector>-rsa`, and makes them the domain's signing keys. The keys they replace keep
    /// their files (and must keep their records for a while).
    public static func generate(domain: String, selector: String, rsaBits: Int, dataDirectory: String) throws(Failure) -> [GeneratedKey] {
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
        do {
            try Data((made.map(\.selector).joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: signing), options: .atomic)
        } catch {
            throw Failure(description: "cannot write \(signing): \(error.localizedDescription)")
        }
        return made
    }

    /// A key on disk and whether it signs: what `tern dns-records` says to publish.
    public struct PublishedKey: Sendable {
        public var selector: String
        public var record: String
        public var signing: Bool
    }

    /// Every key of `domain` that reads, the signing ones first, then the others by selector.
    public static func publishedKeys(domain: String, dataDirectory: String) -> [PublishedKey] {
        let folder = "\(directory(dataDirectory: dataDirectory))/\(domain.lowercased())"
        guard isDomainName(domain.lowercased()), let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        let signing = Set(
            ((try? String(contentsOfFile: "\(folder)/signing", encoding: .utf8)) ?? "")
                .split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) })
        var keys: [PublishedKey] = []
        for name in names.sorted() where name.hasSuffix(".pem") {
            let selector = String(name.dropLast(4))
            guard isDomainName(selector), let pem = try? String(contentsOfFile: "\(folder)/\(name)", encoding: .utf8),
                let key = try? DKIMPrivateKey(pem: pem)
            else { continue }
            keys.append(PublishedKey(selector: selector, record: key.keyRecord, signing: signing.contains(selector)))
        }
        return keys.filter(\.signing) + keys.filter { !$0.signing }
    }

    private static func isDomainName(_ name: String) -> Bool { DKIMSignatureFields.isDomain(name) }
}
