import ArgumentParser
import TernApp

/// `tern dns-records DOMAIN`: what to publish for a domain, and what DNS has now.
struct DNSRecordsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dns-records",
        abstract: "Print the DNS records a local domain needs (MX, SPF, DKIM, DMARC, SRV) and check them.",
        discussion: """
            The records come as a zone-file fragment. Each is checked through the resolver of \
            the configuration's [dns] (or /etc/resolv.conf): ok, missing, differs, or not checked \
            when DNS did not answer. DKIM keys are those in <data_dir>/dkim/DOMAIN/.
            """)

    @OptionGroup var location: Queue.Location
    @Argument(help: "The domain.") var domain: String
    @Flag(name: .customLong("no-check"), help: "Only print the records; ask DNS nothing.") var noCheck = false

    func run() async throws {
        let configuration = try location.config.map { path in try exitOnError { try ConfigurationLoader.load(path: path) } }
            ?? TernConfiguration()
        let report = try await DNSRecords.report(
            domain: domain, configuration: configuration, dataDirectory: try location.dataDirectory(), checking: !noCheck)
        print(report, terminator: "")
    }
}
