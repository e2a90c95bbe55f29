import Foundation
import NIOCore
import TernDirectory
import TernDelivery
import TernSMTPServer
import TOMLKit
import TernStore
import Testing

@testable import TernApp

@Suite("Configuration")
struct ConfigurationTests {
    @Test("a full configuration file")
    func full() throws {
        let configuration = try ConfigurationLoader.parse(
            """
            hostname = "mx.example.test"
            data_dir = "/var/lib/tern"

            [[listener]]
            address = "0.0.0.0"
            port = 25
            role = "mx"

            [[listener]]
            address = "::"
            port = 465
            role = "submissions"

            [tls]
            certificate = "/etc/tern/cert.pem"
            private_key = "/etc/tern/key.pem"

            [limits]
            message_size = 1000000
            recipients = 500
            connections_per_user = 4
            greeting_delay = "1500ms"
            command_timeout = 300
            data_timeout = "10m"
            shutdown_grace = "1h"
            """)
        #expect(configuration.hostname == "mx.example.test")
        #expect(configuration.dataDirectory == "/var/lib/tern")
        #expect(configuration.listeners.map(\.port) == [25, 465])
        #expect(configuration.listeners.map(\.role.rawValue) == ["mx", "submissions"])
        #expect(configuration.tls?.privateKey == "/etc/tern/key.pem")
        #expect(configuration.limits.messageSize == 1_000_000)
        #expect(configuration.limits.recipients == 500)
        #expect(configuration.limits.connectionsPerUser == 4)
        #expect(configuration.limits.greetingDelay == .milliseconds(1500))
        #expect(configuration.limits.commandTimeout == .minutes(5))
        #expect(configuration.limits.dataTimeout == .minutes(10))
        #expect(configuration.limits.shutdownGrace == .hours(1))
    }

    @Test("errors name the key", arguments: [
        ("[limits]\nmessage_size = -1", "limits.message_size"),
        ("[limits]\nmessage_size = \"big\"", "limits.message_size"),
        ("[limits]\nmesage_size = 1", "limits.mesage_size"),
        ("[limits]\nconnections_per_user = 0", "limits.connections_per_user"),
        ("[limits]\ncommand_line_length = 100", "limits.command_line_length"),
        ("[limits]\ntext_line_length = 80", "limits.text_line_length"),
        ("[limits]\ncommand_timeout = \"5 minutes\"", "limits.command_timeout"),
        ("[limits]\ncommand_timeout = 0", "limits.command_timeout"),
        ("[[listener]]\nport = 25\nrole = \"relay\"", "listener[0].role"),
        ("[[listener]]\nport = 70000", "listener[0].port"),
        ("[[listener]]\naddress = \"example.com\"\nport = 25", "listener[0].address"),
        ("[[listener]]\nrole = \"mx\"", "listener[0].port"),
        ("[tls]\ncertificate = \"/x\"", "tls.private_key"),
        ("hostname = \"bad host\"", "hostname"),
        ("colour = \"blue\"", "colour"),
        // Numbers too large for their unit are refused by name, never an overflow trap.
        ("[limits]\ncommand_timeout = \"999999999m\"", "limits.command_timeout"),
        ("[limits]\ncommand_timeout = \"999999999999999999999d\"", "limits.command_timeout"),
        ("[limits]\ncommand_timeout = 9223372036854775807", "limits.command_timeout"),
        ("[queue]\nmax_lifetime = \"3651d\"", "queue.max_lifetime"),
        ("[catcher]\nmax_age = \"99999999h\"", "catcher.max_age"),
        ("[limits]\nmessage_size = 9223372036854775807", "limits.message_size"),
        ("[queue]\nconcurrency = 1099511627777", "queue.concurrency"),
        ("[dmarc]\nquarantine = \"spam\"", "dmarc.quarantine"),
        ("[catcher]\nallowed_hosts = [\"tern test\"]", "catcher.allowed_hosts[0]"),
        ("[catcher]\nallowed_hosts = \"tern.test\"", "catcher.allowed_hosts"),
        ("[catcher]\nhttp = \"0.0.0.0:8025\"", "catcher.http"),
        ("[http]\naddress = \"nowhere:x\"", "http.address"),
        ("[http]\nadmin_token = \"short\"", "http.admin_token"),
        ("[http]\nadmin_token = \"has spaces in it, which are refused\"", "http.admin_token"),
        ("[http]\ntoken = \"c0ffee00c0ffee00c0ffee00c0ffee00\"", "http.token"),
    ])
    func errors(text: String, key: String) {
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse(text) }
        do {
            _ = try ConfigurationLoader.parse(text)
        } catch {
            #expect(error.key == key)
            #expect(error.description.hasPrefix("\(key): "))
        }
    }

    @Test("[mail], [[mailbox]] and [[alias]]")
    func mail() throws {
        let configuration = try ConfigurationLoader.parse(
            """
            [mail]
            domains = ["Example.Test", "other.test"]
            recipient_delimiter = "-"
            relay_networks = ["127.0.0.0/8", "::1"]
            quota_grace = "12h"

            [[mailbox]]
            address = "Alice@example.test"

            [[alias]]
            address = "team@example.test"
            to = ["alice@example.test", "friend@remote.test"]

            [[alias]]
            address = "@other.test"
            to = ["alice@example.test"]
            """)
        #expect(configuration.mail.domains == ["example.test", "other.test"])
        #expect(configuration.mail.mailboxes == ["alice@example.test"])
        #expect(configuration.mail.aliases.map(\.address) == ["team@example.test", "@other.test"])
        #expect(configuration.mail.aliases.first?.targets == ["alice@example.test", "friend@remote.test"])
        #expect(configuration.mail.recipientDelimiter == "-")
        #expect(configuration.mail.relayNetworks == ["127.0.0.0/8", "::1"])
        #expect(configuration.mail.quotaGrace == .seconds(43_200))
        #expect(try ConfigurationLoader.parse("").mail.quotaGrace == .seconds(86_400))
    }

    @Test("mail errors name the key", arguments: [
        ("[mail]\ndomains = [\"bad domain\"]", "mail.domains[0]"),
        ("[mail]\nrelay_networks = [\"10.0.0.0/40\"]", "mail.relay_networks[0]"),
        ("[mail]\nrecipient_delimiter = \"++\"", "mail.recipient_delimiter"),
        ("[mail]\nquota_grace = \"soon\"", "mail.quota_grace"),
        ("[mail]\ndomains = [\"a.test\"]\n[[mailbox]]\naddress = \"x@b.test\"", "mailbox[0].address"),
        ("[mail]\ndomains = [\"a.test\"]\n[[mailbox]]\naddress = \"../x@a.test\"", "mailbox[0].address"),
        ("[mail]\ndomains = [\"a.test\"]\n[[mailbox]]\naddress = \"x/y@a.test\"", "mailbox[0].address"),
        ("[mail]\ndomains = [\"a.test\"]\n[[alias]]\naddress = \"x@a.test\"", "alias[0].to"),
        ("[mail]\ndomains = [\"a.test\"]\n[[alias]]\naddress = \"x@a.test\"\nto = [\"nope\"]", "alias[0].to[0]"),
        ("[mail]\ndomains = [\"a.test\"]\n[[alias]]\naddress = \"@b.test\"\nto = [\"x@a.test\"]", "alias[0].address"),
    ])
    func mailErrors(text: String, key: String) {
        do {
            _ = try ConfigurationLoader.parse(text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.key == key)
        }
    }

    @Test("[catcher] allowed_hosts: host names, lower-cased")
    func allowedHosts() throws {
        let catcher = try ConfigurationLoader.parse("[catcher]\nallowed_hosts = [\"Tern.Test\", \"mailpit\", \"web_1\"]\n").catcher
        #expect(catcher.allowedHosts == ["tern.test", "mailpit", "web_1"])
        #expect(try ConfigurationLoader.parse("").catcher.allowedHosts.isEmpty)
        // Naming the clients' host is what lets the catcher listen beyond loopback.
        let open = try ConfigurationLoader.parse("[catcher]\nhttp = \"0.0.0.0:8025\"\nallowed_hosts = [\"tern\"]\n")
        #expect(open.http == .init(address: "0.0.0.0", port: 8025))
    }

    @Test("[http]: off without the section, loopback by default, the admin API only with a token")
    func operationsHTTP() throws {
        #expect(try ConfigurationLoader.parse("").operationsHTTP == nil)
        #expect(try ConfigurationLoader.parse("[http]\n").operationsHTTP == .init(address: "127.0.0.1", port: 8080))
        #expect(try ConfigurationLoader.parse("[http]\naddress = \"off\"\n").operationsHTTP == nil)
        let configured = try ConfigurationLoader.parse(
            "[http]\naddress = \"[::]:9090\"\nadmin_token = \"c0ffee00c0ffee00c0ffee00c0ffee00\"\n").operationsHTTP
        #expect(configured == .init(address: "::", port: 9090, adminToken: "c0ffee00c0ffee00c0ffee00c0ffee00"))
        let file = NSTemporaryDirectory() + "tern-token-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try "feedface0123456789abcdef0123\n".write(toFile: file, atomically: true, encoding: .utf8)
        let fromFile = try ConfigurationLoader.parse("[http]\nadmin_token_file = \"\(file)\"\n").operationsHTTP
        #expect(fromFile?.adminToken == "feedface0123456789abcdef0123")
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.parse("[http]\nadmin_token_file = \"\(file).missing\"\n")
        }
    }

    @Test("[dmarc]: quarantine to Junk by default, or to INBOX")
    func dmarc() throws {
        #expect(try ConfigurationLoader.parse("").dmarc.quarantineToJunk)
        let inbox = try ConfigurationLoader.parse("[dmarc]\nreject = false\nquarantine = \"inbox\"\n").dmarc
        #expect(!inbox.quarantineToJunk && !inbox.reject && inbox.verify)
    }

    @Test("[queue]")
    func queue() throws {
        let configuration = try ConfigurationLoader.parse(
            "[queue]\nretry_delay = \"1m\"\nretry_max_delay = \"2h\"\nmax_lifetime = \"3d\"\nconcurrency = 4\n")
        #expect(configuration.queue.retryDelay == .minutes(1))
        #expect(configuration.queue.retryMaximumDelay == .hours(2))
        #expect(configuration.queue.maximumLifetime == .hours(72))
        #expect(configuration.queue.concurrency == 4)
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.parse("[queue]\nretry_delay = \"1h\"\nretry_max_delay = \"1m\"\n")
        }
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse("[queue]\nconcurrency = 0\n") }
    }

    @Test("[outbound], [[route]] and [dns]")
    func outbound() throws {
        let configuration = try ConfigurationLoader.parse(
            """
            [queue]
            destination_concurrency = 3

            [outbound]
            port = 2525
            tls = "required"
            cleartext_fallback = false
            connect_timeout = "5s"
            connection_idle_time = "1s"

            [[route]]
            domain = "Example.COM"
            relay = "smtp.relay.test:587"
            security = "implicit"

            [[route]]
            domain = "*"
            relay = "[::1]:2526"

            [dns]
            servers = ["127.0.0.1:5353", "::1", "[::1]:53"]
            timeout = "1s"
            attempts = 3
            """)
        #expect(configuration.queue.destinationConcurrency == 3)
        #expect(configuration.outbound.port == 2525)
        #expect(configuration.outbound.tls == "required")
        #expect(configuration.outbound.cleartextFallback == false)
        #expect(configuration.outbound.connectTimeout == .seconds(5))
        #expect(configuration.outbound.connectionIdleTime == .seconds(1))
        #expect(
            configuration.outbound.routes == [
                .init(domain: "example.com", host: "smtp.relay.test", port: 587, security: "implicit"),
                .init(domain: "*", host: "::1", port: 2526, security: "opportunistic"),
            ])
        #expect(configuration.dns.servers == ["127.0.0.1:5353", "::1", "[::1]:53"])
        #expect(configuration.dns.timeout == .seconds(1))
        #expect(configuration.dns.attempts == 3)
    }

    @Test("outbound errors name the key", arguments: [
        ("[outbound]\nport = 0", "outbound.port"),
        ("[outbound]\ntls = \"maybe\"", "outbound.tls"),
        ("[outbound]\ncleartext_fallback = \"yes\"", "outbound.cleartext_fallback"),
        ("[outbound]\nhelo = \"x\"", "outbound.helo"),
        ("[[route]]\nrelay = \"a.test\"", "route[0].domain"),
        ("[[route]]\ndomain = \"a.test\"", "route[0].relay"),
        ("[[route]]\ndomain = \"a.test\"\nrelay = \"a.test:99999\"", "route[0].relay"),
        ("[[route]]\ndomain = \"a.test\"\nrelay = \"b.test\"\nsecurity = \"tls\"", "route[0].security"),
        ("[[route]]\ndomain = \"a.test\"\nrelay = \"b.test\"\n[[route]]\ndomain = \"A.test\"\nrelay = \"c.test\"",
         "route[1].domain"),
        ("[[route]]\ndomain = \"a.test\"\nrelay = \"b.test\"\nusername = \"u\"", "route[0].password"),
        ("[[route]]\ndomain = \"a.test\"\nrelay = \"b.test\"\npassword = \"p\"", "route[0].username"),
        ("[[route]]\ndomain = \"a.test\"\nrelay = \"b.test\"\nusername = \"u\"\npassword = \"p\"\nsecurity = \"none\"",
         "route[0].security"),
        ("[[route]]\ndomain = \"a.test\"\nrelay = \"b.test\"\nusername = \"u\"\npassword_file = \"/nonexistent\"",
         "route[0].password_file"),
        ("[dns]\nservers = [\"ns.example.test\"]", "dns.servers[0]"),
        ("[dns]\nattempts = 0", "dns.attempts"),
        ("[queue]\ndestination_concurrency = 0", "queue.destination_concurrency"),
        ("[storage]\nsync = \"fsync\"", "storage.sync"),
        ("[storage]\nfsync = \"file\"", "storage.fsync"),
    ])
    func outboundErrors(text: String, key: String) {
        do {
            _ = try ConfigurationLoader.parse(text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.key == key)
        }
    }

    @Test("[storage] sync: filesystem by default on Linux, file on request")
    func storage() throws {
        #expect(try ConfigurationLoader.parse("").storage.sync == StoreSync.Mode.default)
        #if os(Linux)
        #expect(StoreSync.Mode.default == .filesystem)
        #endif
        #expect(try ConfigurationLoader.parse("[storage]\nsync = \"file\"").storage.sync == .file)
        let environment = try ConfigurationLoader.parse("", environment: ["TERN_STORAGE_SYNC": "file"])
        #expect(environment.storage.sync == .file)
    }

    @Test("host and port", arguments: [
        ("mx.test", "mx.test", 25), ("mx.test:2525", "mx.test", 2525), ("192.0.2.1:26", "192.0.2.1", 26),
        ("::1", "::1", 25), ("[::1]:2525", "::1", 2525), ("[2001:db8::1]", "2001:db8::1", 25),
    ])
    func hostPort(text: String, host: String, port: Int) throws {
        let parsed = try #require(ConfigurationLoader.parseHostPort(text, defaultPort: 25))
        #expect(parsed.0 == host)
        #expect(parsed.1 == port)
    }

    @Test("not host and port", arguments: ["", ":25", "mx.test:", "mx.test:0", "mx.test:x", "[::1", "[::1]x", "[::1]:"])
    func badHostPort(text: String) {
        #expect(ConfigurationLoader.parseHostPort(text, defaultPort: 25) == nil)
    }

    static let hash = "$pbkdf2-sha256$i=600000$c2FsdHNhbHRzYWx0c2FsdA$" + String(repeating: "A", count: 43)

    @Test("[[user]]: an account that may log in, and a mailbox")
    func users() throws {
        let configuration = try ConfigurationLoader.parse(
            """
            [mail]
            domains = ["example.test"]

            [[user]]
            address = "Alice@Example.test"
            password_hash = "\(Self.hash)"
            display_name = "Alice"
            send_as = ["sales@example.test"]
            quota = 1_000_000

            [[user]]
            address = "bob@example.test"
            password_hash = "\(Self.hash)"
            quota = 0
            """)
        #expect(configuration.mail.users.map(\.address) == ["alice@example.test", "bob@example.test"])
        #expect(configuration.mail.users.map(\.quotaBytes) == [1_000_000, nil])
        #expect(configuration.mail.users.first?.sendAs == ["sales@example.test"])
        #expect(configuration.mail.users.first?.enabled == true)
        #expect(configuration.mail.mailboxes == ["alice@example.test", "bob@example.test"])
    }

    @Test("user errors name the key", arguments: [
        ("[mail]\ndomains = [\"a.test\"]\n[[user]]\naddress = \"x@b.test\"\npassword_hash = \"\(hash)\"", "user[0].address"),
        ("[mail]\ndomains = [\"a.test\"]\n[[user]]\naddress = \"x@a.test\"", "user[0].password_hash"),
        ("[mail]\ndomains = [\"a.test\"]\n[[user]]\naddress = \"x@a.test\"\npassword_hash = \"secret\"", "user[0].password_hash"),
        ("[mail]\ndomains = [\"a.test\"]\n[[user]]\naddress = \"x@a.test\"\npassword_hash = \"\(hash)\"\nsend_as = [\"nope\"]",
         "user[0].send_as[0]"),
        ("[mail]\ndomains = [\"a.test\"]\n[[user]]\naddress = \"x@a.test\"\npassword = \"pw\"", "user[0].password"),
        ("[mail]\ndomains = [\"a.test\"]\n[[user]]\naddress = \"x@a.test\"\npassword_hash = \"\(hash)\"\nquota = -1", "user[0].quota"),
        ("[mail]\ndomains = [\"a.test\"]\n[[user]]\naddress = \"x@a.test\"\npassword_hash = \"\(hash)\"\nquota = \"1G\"",
         "user[0].quota"),
    ])
    func userErrors(text: String, key: String) {
        do {
            _ = try ConfigurationLoader.parse(text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.key == key)
        }
    }

    @Test("[rate_limits]")
    func rateLimits() throws {
        let defaults = try ConfigurationLoader.parse("")
        #expect(defaults.rateLimits.messages == 500)
        #expect(defaults.rateLimits.recipients == 2000)
        #expect(defaults.rateLimits.window == .hours(1))
        let configuration = try ConfigurationLoader.parse("[rate_limits]\nmessages = 0\nrecipients = 10\nwindow = \"10m\"\n")
        #expect(configuration.rateLimits.messages == 0)
        #expect(configuration.rateLimits.recipients == 10)
        #expect(configuration.rateLimits.window == .minutes(10))
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse("[rate_limits]\nmessages = -1\n") }
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse("[rate_limits]\nper_day = 1\n") }
    }

    @Test("TOML syntax errors say where")
    func syntax() {
        do {
            _ = try ConfigurationLoader.parse("hostname = \n")
            Issue.record("accepted broken TOML")
        } catch {
            #expect(error.description.contains("line 1"))
        }
    }

    /// toml++ (inside TOMLKit) aborts the process on these instead of reporting them; found by
    /// `scripts/fuzz config` (Fuzz/Regressions/config).
    @Test("a table header that does not start with a key is an error on its line, not an abort", arguments: [
        "[=]", "[.a]", "[é]", "[\u{1}]", "[[=]]", "[[ .a]]", "[ #]",
    ])
    func malformedTableHeader(header: String) {
        do {
            _ = try ConfigurationLoader.parse("hostname = \"mx.example.test\"\n\n\(header)\n")
            Issue.record("accepted \(header)")
        } catch {
            #expect(error.description.contains("line 3"), "\(error.description)")
        }
    }

    @Test("table headers are found only where a statement starts")
    func tableHeadersOutsideValues() {
        let valid = #"""
            # [=] in a comment
            a = "[=] in a string \" [.a]"
            b = 'C:\path\ has no escapes'
            c = """
            [=] inside a multi-line string ""\"""
            """"
            d = '''
            [.a] inside a literal one
            '''
            e = [
              [1, 2], # [=]
              [ [3] ],
              { x = "]" },
            ]
            [ table ] # spaces are allowed
            [["array of tables"]]
            """#
        #expect(throws: Never.self) { _ = try TOMLTable(string: valid) }
        #expect(TOMLTableHeaders.firstMalformed(in: valid) == nil)
        #expect(TOMLTableHeaders.firstMalformed(in: valid + "\n[=]\n") == .header(17))
        #expect(TOMLTableHeaders.firstMalformed(in: "[a]\nb = [\n1,\n]\n  [ @]") == .header(5))
        // `}` where an array expects a value: toml++'s array parser asserts (Fuzz/Regressions/config).
        #expect(TOMLTableHeaders.firstMalformed(in: "a = [\"x\",}\n") == .brace(1))
        #expect(TOMLTableHeaders.firstMalformed(in: "a = [\n  1,\n  }\n]") == .brace(3))
        #expect(TOMLTableHeaders.firstMalformed(in: "a = }\n") == .brace(1))
        #expect(TOMLTableHeaders.firstMalformed(in: "a = [{ b = [1] }, { c = \"}\" }]\n") == nil)
    }

    /// Written once, in the session's and the endpoint's configurations; the values are the
    /// ones docs/configuration.md and tern.example.toml state.
    @Test("limit defaults are the session's and the endpoint's")
    func limitDefaults() throws {
        let limits = try ConfigurationLoader.parse("").limits
        #expect(limits.messageSize == 50 * 1024 * 1024)
        #expect(limits.recipients == 1000)
        #expect(limits.commandLineLength == 512)
        #expect(limits.textLineLength == 1000)
        #expect(limits.maximumHops == 50)
        #expect(limits.errors == 20)
        #expect(limits.softErrors == 10)
        #expect(limits.errorDelay == .seconds(1))
        #expect(limits.commandsWithoutMail == 100)
        #expect(limits.commandTimeout == .minutes(5))
        #expect(limits.dataTimeout == .minutes(10))
        #expect(limits.greetingDelay == .zero)
    }

    @Test("environment overrides the file")
    func environment() throws {
        let configuration = try ConfigurationLoader.parse(
            "[limits]\nmessage_size = 10\n",
            environment: ["TERN_LIMITS_MESSAGE_SIZE": "20", "TERN_HOSTNAME": "env.test"])
        #expect(configuration.limits.messageSize == 20)
        #expect(configuration.hostname == "env.test")
    }

    @Test("durations", arguments: [("500ms", Int64(500_000_000)), ("30s", 30_000_000_000), ("5m", 300_000_000_000), ("1h", 3_600_000_000_000), ("5d", 432_000_000_000_000)])
    func durations(text: String, nanoseconds: Int64) {
        #expect(ConfigurationLoader.parseDuration(text) == .nanoseconds(nanoseconds))
    }

    @Test("durations that are not", arguments: ["", "s", "-1s", "+1s", "1.5s", "1w", "١s", " 1s", "0x1s"])
    func badDurations(text: String) {
        #expect(ConfigurationLoader.parseDuration(text) == nil)
    }

    @Test("a duration too large for its unit is longer than any key allows, not a trap")
    func hugeDurations() throws {
        for text in ["99999999999h", "999999999m", "9223372036854775807d", "3651d"] {
            let parsed = try #require(ConfigurationLoader.parseDuration(text))
            #expect(parsed > ConfigurationLoader.maximumDuration, "\(text)")
        }
        #expect(ConfigurationLoader.parseDuration("3650d") == ConfigurationLoader.maximumDuration)
    }

    @Test("an environment override too large is refused by name")
    func hugeEnvironment() {
        for (name, key) in [
            ("TERN_LIMITS_COMMAND_TIMEOUT", "limits.command_timeout"),
            ("TERN_LIMITS_MESSAGE_SIZE", "limits.message_size"),
        ] {
            #expect(throws: ConfigurationError.self) {
                try ConfigurationLoader.parse("", environment: [name: "99999999999999999999999"])
            }
            do {
                _ = try ConfigurationLoader.parse("", environment: [name: "99999999999999999999999"])
            } catch {
                #expect(error.key == key)
            }
        }
    }

    // MARK: Certificate checks of relays (tls_verify, tls_ca_file)

    /// A CA certificate (P-256, self-signed) for the tls_ca_file tests; only parsed, never trusted.
    static let testCA = """
        -----BEGIN CERTIFICATE-----
        MIIBjDCCATOgAwIBAgIUbLvjCnFq8V8aswy0bmXsBA4Y2g0wCgYIKoZIzj0EAwIw
        HDEaMBgGA1UEAwwRVGVybiB1bml0IHRlc3QgQ0EwHhcNMjYxMjA0MTc1NjI2WhcN
        MzYxMjAxMTc1NjI2WjAcMRowGAYDVQQDDBFUZXJuIHVuaXQgdGVzdCBDQTBZMBMG
        ByqGSM49AgEGCCqGSM49AwEHA0IABDzpAt1G7MXc7ijxvyG0A8yBZKIRmE1FZc7o
        HzlcQ9qFkq7hfRkbT0JZibSMsZitPgP04f/dL/gSG/IlfemznYWjUzBRMB0GA1Ud
        DgQWBBRqr174FL7dJ1H1Wu4IAJhzx6k3FzAfBgNVHSMEGDAWgBRqr174FL7dJ1H1
        Wu4IAJhzx6k3FzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIBgI
        byrptVO51zRtAXwhiaGpydms5SavVxC3RADBKihIAiBEW8vWwnLRyqnF5My5irM0
        1U6ZC4zYNLLHk/kewoFNvQ==
        -----END CERTIFICATE-----
        """

    /// A file in a fresh temporary directory, holding `contents`.
    static func temporaryFile(_ contents: String, name: String = "ca.pem") throws -> String {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tern-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent(name).path
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("a relay's certificate is checked by default; tls_ca_file and tls_verify = false change how")
    func relayCertificateChecks() throws {
        let caFile = try Self.temporaryFile(Self.testCA)
        let configuration = try ConfigurationLoader.parse(
            """
            [[route]]
            domain = "a.test"
            relay = "smtp.a.test:587"
            security = "required"
            username = "u"
            password = "p"

            [[route]]
            domain = "b.test"
            relay = "127.0.0.1:465"
            security = "implicit"
            tls_ca_file = "\(caFile)"

            [[route]]
            domain = "c.test"
            relay = "smtp.c.test"
            security = "required"
            tls_verify = false

            [[route]]
            domain = "*"
            relay = "smtp.d.test"
            tls_verify = true
            security = "implicit"

            [catcher.release]
            relay = "smtp.e.test"
            tls_ca_file = "\(caFile)"
            allowed_domains = ["*"]
            """)
        let routes = configuration.outbound.routes
        #expect(routes.map(\.tlsVerify) == [true, true, false, true])
        #expect(routes.map(\.tlsCAFile) == [nil, caFile, nil, nil])
        let release = try #require(configuration.catcher.release)
        #expect(release.tlsVerify && release.tlsCAFile == caFile)
        #expect(try ConfigurationLoader.parse("[catcher.release]\nrelay = \"r.test\"\nallowed_domains = [\"*\"]")
            .catcher.release?.tlsVerify == true)
        let optedOut = try ConfigurationLoader.parse(
            "[catcher.release]\nrelay = \"r.test\"\nsecurity = \"tls\"\ntls_verify = false\nallowed_domains = [\"*\"]")
        #expect(optedOut.catcher.release?.tlsVerify == false)

        // What the delivery agent gets: the system store, the CA file, or no check; nothing
        // for opportunistic routes, whose TLS authenticates nobody.
        #expect(TernServer.certificateVerification(verify: true, caFile: nil) == .systemTrustStore)
        #expect(
            TernServer.certificateVerification(verify: true, caFile: caFile) == .certificateAuthorities(file: caFile))
        #expect(TernServer.certificateVerification(verify: false, caFile: nil) == ServerCertificateCheck.none)
        let relays = TernServer.remoteDeliveryConfiguration(configuration).routes
        #expect(relays["a.test"]?.verification == .systemTrustStore)
        #expect(relays["b.test"]?.verification == .certificateAuthorities(file: caFile))
        #expect(relays["c.test"]?.verification == ServerCertificateCheck.none)
        #expect(relays["*"]?.verification == .systemTrustStore)
    }

    @Test("bad certificate settings name their key", arguments: [
        ("security = \"required\"\ntls_ca_file = \"/nonexistent/ca.pem\"", "route[0].tls_ca_file"),
        ("security = \"implicit\"\ntls_ca_file = \"EMPTY\"", "route[0].tls_ca_file"),
        ("security = \"required\"\ntls_ca_file = \"GARBAGE\"", "route[0].tls_ca_file"),
        ("security = \"required\"\ntls_ca_file = 7", "route[0].tls_ca_file"),
        ("security = \"required\"\ntls_verify = \"no\"", "route[0].tls_verify"),
        ("security = \"required\"\ntls_verify = false\ntls_ca_file = \"CA\"", "route[0].tls_ca_file"),
        ("tls_verify = true", "route[0].tls_verify"),
        ("security = \"opportunistic\"\ntls_ca_file = \"CA\"", "route[0].tls_ca_file"),
        ("security = \"none\"\ntls_verify = false", "route[0].tls_verify"),
        ("security = \"required\"\ntls_verfy = false", "route[0].tls_verfy"),
        // Credentials on an opportunistic route would go to anyone who offers STARTTLS.
        ("username = \"u\"\npassword = \"p\"", "route[0].security"),
        ("security = \"opportunistic\"\nusername = \"u\"\npassword = \"p\"", "route[0].security"),
    ])
    func certificateErrors(settings: String, key: String) throws {
        let caFile = try Self.temporaryFile(Self.testCA)
        let empty = try Self.temporaryFile("", name: "empty.pem")
        let garbage = try Self.temporaryFile(
            "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
        let text = "[[route]]\ndomain = \"a.test\"\nrelay = \"b.test\"\n" + settings
            .replacingOccurrences(of: "\"CA\"", with: "\"\(caFile)\"")
            .replacingOccurrences(of: "\"EMPTY\"", with: "\"\(empty)\"")
            .replacingOccurrences(of: "\"GARBAGE\"", with: "\"\(garbage)\"")
        do {
            _ = try ConfigurationLoader.parse(text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.key == key, "\(error)")
        }
    }

    @Test("[catcher.release]: bad certificate settings name their key", arguments: [
        ("tls_ca_file = \"/nonexistent/ca.pem\"", "catcher.release.tls_ca_file"),
        ("security = \"tls\"\ntls_verify = 0", "catcher.release.tls_verify"),
        ("security = \"none\"\ntls_verify = false", "catcher.release.tls_verify"),
        ("security = \"none\"\ntls_ca_file = \"/nonexistent/ca.pem\"", "catcher.release.tls_ca_file"),
        ("tls_verify = false\ntls_ca_file = \"/nonexistent/ca.pem\"", "catcher.release.tls_ca_file"),
    ])
    func releaseCertificateErrors(settings: String, key: String) {
        let text = "[catcher.release]\nrelay = \"r.test\"\nallowed_domains = [\"*\"]\n" + settings
        do {
            _ = try ConfigurationLoader.parse(text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.key == key, "\(error)")
        }
    }

    @Test("an unreadable tls_ca_file is named with its path")
    func unreadableCAFile() throws {
        do {
            _ = try ConfigurationLoader.parse(
                "[[route]]\ndomain = \"a.test\"\nrelay = \"b.test\"\nsecurity = \"required\"\n"
                    + "tls_ca_file = \"/nonexistent/ca.pem\"")
            Issue.record("accepted")
        } catch {
            #expect(error.description == "route[0].tls_ca_file: cannot read /nonexistent/ca.pem")
        }
    }
}
