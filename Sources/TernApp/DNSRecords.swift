import Foundation
import Logging
import NIOPosix
public import TernDNSCore
import NIOCore
import TernMailAuth

/// The DNS records a local domain needs for mail to and from this server (`tern dns-records`):
/// MX, SPF, the DKIM keys, DMARC, and the SRV records mail clients set themselves up from
/// (RFC 6186, RFC 8314 §5.1), each checked against what DNS says now.
public enum DNSRecords {
    public struct Record: Sendable, Hashable {
        public enum Kind: String, Sendable, Hashable {
            case mx = "MX"
            case txt = "TXT"
            case srv = "SRV"
        }

        /// The owner name, with its final dot.
        public var name: String
        public var kind: Kind
        /// The RDATA in master-file form (TXT: the text, unquoted).
        public var data: String
        /// What the record is for, as a comment.
        public var purpose: String

        /// The record as a zone-file line; TXT text split in strings of at most 255 octets (RFC
        /// 1035 §3.3.14), which SPF and DKIM read joined (RFC 6376 §3.6.2.2).
        public var zoneLine: String {
            switch kind {
            case .txt:
                let octets = Array(data.utf8)
                let strings = stride(from: 0, to: max(octets.count, 1), by: 255).map {
                    "\"" + String(decoding: octets[$0..<min($0 + 255, octets.count)], as: UTF8.self) + "\""
                }
                return "\(name) IN TXT " + (strings.count == 1 ? strings[0] : "( \(strings.joined(separator: " ")) )")
            case .mx, .srv:
                return "\(name) IN \(kind.rawValue) \(data)"
            }
        }
    }

    /// What DNS says about a record.
    public enum Status: String, Sendable, Hashable {
        /// Published as printed.
        case ok
        /// Nothing of this kind at the name.
        case missing
        /// Something else is published there (another SPF policy, another key).
        case differs
        /// The question went unanswered.
        case unknown = "not checked"
    }

    /// The records for `domain` on a server configured as `configuration`, with the DKIM keys
    /// in the data directory.
    /// Replaced keys past their day are left out (`retiredKeys` names them).
    public static func plan(
        domain: String, configuration: TernConfiguration, dataDirectory: String, today: String? = nil
    ) -> [Record] {
        let today = today ?? DKIMKeyring.day(Date())
        let domain = domain.lowercased()
        let host = configuration.hostname.lowercased() + "."
        var records = [
            Record(name: "\(domain).", kind: .mx, data: "10 \(host)", purpose: "mail for \(domain) comes to \(configuration.hostname)"),
            Record(
                name: "\(domain).", kind: .txt, data: "v=spf1 mx -all",
                purpose: "SPF: the MX hosts, this one, may send for \(domain) (RFC 7208)"),
        ]
        for key in DKIMKeyring.publishedKeys(domain: domain, dataDirectory: dataDirectory) where !key.isExpired(today: today) {
            let purpose: String
            if key.signing {
                purpose = "DKIM key \(key.selector), signing (RFC 6376)"
            } else if let until = key.publishUntil {
                purpose = "DKIM key \(key.selector), replaced: keep it published until \(until)"
            } else {
                purpose = "DKIM key \(key.selector), replaced: keep it published a while"
            }
            records.append(Record(name: "\(key.selector)._domainkey.\(domain).", kind: .txt, data: key.record, purpose: purpose))
        }
        records.append(
            Record(
                name: "_dmarc.\(domain).", kind: .txt, data: "v=DMARC1; p=none; rua=mailto:postmaster@\(domain)",
                purpose: "DMARC: start with p=none and the reports, then quarantine or reject (RFC 7489)"))
        // RFC 6186 (and RFC 8314 §5.1 for implicit TLS): where clients submit and read mail.
        let services: [(String, TernConfiguration.ListenerRole)] = [
            ("_submissions._tcp", .submissions), ("_submission._tcp", .submission), ("_imaps._tcp", .imaps),
            ("_imap._tcp", .imap), ("_pop3s._tcp", .pop3s), ("_pop3._tcp", .pop3),
        ]
        for (service, role) in services {
            guard let listener = configuration.listeners.first(where: { $0.role == role }) else { continue }
            records.append(
                Record(
                    name: "\(service).\(domain).", kind: .srv, data: "0 1 \(listener.port) \(host)",
                    purpose: "mail clients find \(role.rawValue) on port \(listener.port) (RFC 6186)"))
        }
        return records
    }

    /// What DNS says about each record, through `resolver`.
    public static func check(_ records: [Record], resolver: some DNSResolving) async -> [Status] {
        var statuses: [Status] = []
        for record in records {
            statuses.append(await check(record, resolver: resolver))
        }
        return statuses
    }

    private static func check(_ record: Record, resolver: some DNSResolving) async -> Status {
        do {
            switch record.kind {
            case .mx:
                let found = try await resolver.mx(record.name).records ?? []
                guard !found.isEmpty else { return .missing }
                let wanted = record.data.split(separator: " ").last.map { $0.lowercased() } ?? ""
                return found.contains { $0.exchange.description.lowercased() == wanted } ? .ok : .differs
            case .txt:
                let found = (try await resolver.txt(record.name).records ?? []).map(\.text)
                // Records of the same kind: the SPF record among the name's TXT records, and so on.
                let kind = record.data.split(separator: " ").first.map(String.init) ?? ""
                let sameKind = found.filter { $0.hasPrefix(kind) || (kind == "v=DKIM1;" && $0.contains("p=")) }
                guard !sameKind.isEmpty else { return .missing }
                return sameKind.contains { compact($0) == compact(record.data) } ? .ok : .differs
            case .srv:
                let found = try await resolver.lookup(DNSName(record.name), type: DNSRecordType(rawValue: 33)).records ?? []
                return found.isEmpty ? .missing : .ok
            }
        } catch {
            return .unknown
        }
    }

    /// Without white space, for comparing TXT records written with or without spaces after `;`.
    private static func compact(_ text: String) -> String {
        String(text.unicodeScalars.filter { $0 != " " && $0 != "\t" }).lowercased()
    }
}

extension DNSRecords {
    /// `tern dns-records`: the records for `domain` as a zone-file fragment, each with what it is
    /// for and, when `checking`, what DNS says about it now (through `[dns]`'s servers).
    public static func report(domain: String, configuration: TernConfiguration, dataDirectory: String, checking: Bool) async throws
        -> String
    {
        let today = DKIMKeyring.day(Date())
        let records = plan(domain: domain, configuration: configuration, dataDirectory: dataDirectory, today: today)
        var statuses = [Status](repeating: .unknown, count: records.count)
        if checking {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            var logger = Logger(label: "tern")
            logger.logLevel = .critical
            do {
                let resolver = try TernServer.resolver(configuration.dns, group: group, logger: logger)
                statuses = await check(records, resolver: resolver)
            } catch {
                try? await group.shutdownGracefully()
                throw error
            }
            try? await group.shutdownGracefully()
        }
        var lines = ["; \(domain.lowercased()): the DNS records for mail through \(configuration.hostname)"]
        if !DKIMKeyring.publishedKeys(domain: domain, dataDirectory: dataDirectory).contains(where: \.signing) {
            lines.append("; no DKIM key signs for \(domain.lowercased()): make one with `tern dkim generate \(domain.lowercased())`")
        }
        for (record, status) in zip(records, statuses) {
            lines.append("")
            lines.append("; \(record.purpose)" + (checking ? " [\(status.rawValue)]" : ""))
            lines.append(record.zoneLine)
        }
        for key in DKIMKeyring.publishedKeys(domain: domain, dataDirectory: dataDirectory) where key.isExpired(today: today) {
            lines.append("")
            lines.append(
                "; DKIM key \(key.selector) was to stay published until \(key.publishUntil ?? ""): remove \(key.selector)._domainkey.\(domain.lowercased()). from DNS")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
