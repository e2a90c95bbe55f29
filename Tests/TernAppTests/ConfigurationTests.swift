import NIOCore
import TernSMTPServer
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
        #expect(configuration.limits.greetingDelay == .milliseconds(1500))
        #expect(configuration.limits.commandTimeout == .minutes(5))
        #expect(configuration.limits.dataTimeout == .minutes(10))
        #expect(configuration.limits.shutdownGrace == .hours(1))
    }

    @Test("errors name the key", arguments: [
        ("[limits]\nmessage_size = -1", "limits.message_size"),
        ("[limits]\nmessage_size = \"big\"", "limits.message_size"),
        ("[limits]\nmesage_size = 1", "limits.mesage_size"),
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

    @Test("TOML syntax errors say where")
    func syntax() {
        do {
            _ = try ConfigurationLoader.parse("hostname = \n")
            Issue.record("accepted broken TOML")
        } catch {
            #expect(error.description.contains("line 1"))
        }
    }

    @Test("environment overrides the file")
    func environment() throws {
        let configuration = try ConfigurationLoader.parse(
            "[limits]\nmessage_size = 10\n",
            environment: ["TERN_LIMITS_MESSAGE_SIZE": "20", "TERN_HOSTNAME": "env.test"])
        #expect(configuration.limits.messageSize == 20)
        #expect(configuration.hostname == "env.test")
    }

    @Test("durations", arguments: [("500ms", Int64(500_000_000)), ("30s", 30_000_000_000), ("5m", 300_000_000_000), ("1h", 3_600_000_000_000)])
    func durations(text: String, nanoseconds: Int64) {
        #expect(ConfigurationLoader.parseDuration(text) == .nanoseconds(nanoseconds))
    }

    @Test("durations that are not", arguments: ["", "s", "-1s", "+1s", "1.5s", "1d", "99999999999h"])
    func badDurations(text: String) {
        #expect(ConfigurationLoader.parseDuration(text) == nil)
    }
}
