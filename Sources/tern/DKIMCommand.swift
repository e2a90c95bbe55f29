import ArgumentParser
import Foundation
import TernApp

/// `tern dkim`: the keys local domains sign with.
struct DKIM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dkim",
        abstract: "DKIM keys for the local domains (RFC 6376, RFC 8463).",
        subcommands: [Generate.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an Ed25519 and an RSA key for a domain and print the DNS records to publish.",
            discussion: """
                The keys go to <data_dir>/dkim/DOMAIN/ (mode 0600) under the selectors \
                SELECTOR-ed and SELECTOR-rsa, and become the domain's signing keys once Tern \
                restarts. Keys made before stay on disk, and their records are to stay published \
                for --keep-old days (tern dns-records lists them until then). Publish the new \
                records before restarting.
                """)

        @OptionGroup var location: Queue.Location
        @Argument(help: "The domain whose mail the keys sign.") var domain: String
        @Option(name: .long, help: "The selector's stem (default: t and the year and month, as t202612).")
        var selector: String?
        @Option(name: .customLong("rsa-bits"), help: "The RSA key's size: 2048, 3072 or 4096.") var rsaBits = 2048
        @Option(name: .customLong("keep-old"), help: "Days the records of the keys replaced stay published (0 to 3650).")
        var keepOld = DKIMKeyring.defaultRetirementDays

        func run() throws {
            let stem = selector ?? Self.defaultSelector(Date())
            do {
                guard (0...3650).contains(keepOld) else { fail("tern dkim generate: --keep-old must be 0 to 3650 days") }
                let keys = try DKIMKeyring.generate(
                    domain: domain, selector: stem, rsaBits: rsaBits, dataDirectory: try location.dataDirectory(),
                    keepOldDays: keepOld)
                for key in keys {
                    print("; \(key.path)")
                    print(key.zoneLine)
                }
            } catch let error as DKIMKeyring.Failure {
                fail("tern dkim generate: \(error.description)")
            }
        }

        static func defaultSelector(_ date: Date) -> String {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = .gmt
            let components = calendar.dateComponents([.year, .month], from: date)
            return String(format: "t%04d%02d", components.year ?? 2000, components.month ?? 1)
        }
    }
}
