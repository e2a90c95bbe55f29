import TernTestSupport
import Foundation
import NIOCore
import NIOPosix
import TernDNS
import TernDNSCore
import Testing

/// A real authoritative DNS server for the tests: NSD (NLnet Labs), started from its Debian
/// package on 127.0.0.1 and a free port, with its own configuration, zone files, pid file and
/// control socket in a temporary directory, in the foreground (`nsd -d`), and stopped with
/// SIGTERM at the end.
///
/// NSD is authoritative-only, which is what a stub resolver's test needs: it answers from the
/// zones below, follows CNAMEs between the zones it serves, answers REFUSED for any other name,
/// sets TC on UDP answers over 512 octets (no EDNS in Tern's queries) and serves TCP on the same
/// port. `nsd-control stats_noreset` counts the queries it has seen.
///
/// If `nsd` is not installed the suites are skipped with a message, unless `CI` is `true`: then
/// they fail, so CI can never pass without running them.
final class NSDServer: @unchecked Sendable {
    // @unchecked: `process` is started in `start` and only terminated in `stop`.
    let directory: URL
    let port: Int
    private let process: Process

    /// The address to give `StubResolver.Configuration`.
    var address: SocketAddress {
        // A literal loopback address and a port from the kernel: cannot fail.
        try! SocketAddress(ipAddress: "127.0.0.1", port: port)
    }

    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// `nsd`, searched in PATH and the sbin directories Debian installs it in.
    static let binary: String? = find("nsd")
    static let controlBinary: String? = find("nsd-control")
    static var isAvailable: Bool { binary != nil && controlBinary != nil }

    /// Why the suites are skipped when NSD is missing outside CI.
    static let skipMessage: Comment =
        "NSD is not installed (apt-get install nsd, as scripts/test does); with CI=true this is a failure"

    private static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/local/sbin", "/sbin"]
        return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private init(directory: URL, port: Int, process: Process) {
        self.directory = directory
        self.port = port
        self.process = process
    }

    /// Writes the configuration and zones, starts NSD and waits until it answers.
    static func start(zones: [Zone] = Zone.all) async throws -> NSDServer {
        guard let binary, controlBinary != nil else {
            throw Failure(
                description: "nsd or nsd-control not found in PATH or /usr/sbin, and CI=true: install the nsd package"
            )
        }
        var lastError: (any Error)?
        // A free port can be taken between our probe and NSD's bind: try a few.
        for _ in 0..<3 {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "tern-nsd-\(UUID().uuidString.prefix(8))",
                isDirectory: true
            )
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let port = try await freePort()
            try writeConfiguration(in: directory, port: port, zones: zones)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["-d", "-c", directory.appendingPathComponent("nsd.conf").path]
            process.currentDirectoryURL = directory
            let output = directory.appendingPathComponent("nsd.out")
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            let handle = try FileHandle(forWritingTo: output)
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let server = NSDServer(directory: directory, port: port, process: process)
            do {
                try await server.waitUntilAnswering()
                return server
            } catch {
                lastError = error
                await server.stop()
            }
        }
        throw lastError ?? Failure(description: "NSD did not start")
    }

    /// Stops NSD (SIGTERM, then SIGKILL after 5 s) and removes its directory.
    func stop() async {
        if process.isRunning {
            process.terminate()
            for _ in 0..<100 where process.isRunning {
                try? await Task.sleep(for: .milliseconds(50))
            }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// NSD's count of queries received (UDP and TCP), from `nsd-control stats_noreset`.
    func queryCount() throws -> Int {
        let stats = try control("stats_noreset")
        guard let line = stats.split(separator: "\n").first(where: { $0.hasPrefix("num.queries=") }),
            let count = Int(line.dropFirst("num.queries=".count))
        else { throw Failure(description: "no num.queries in nsd-control output: \(stats)") }
        return count
    }

    /// How many TCP queries NSD has received.
    func tcpQueryCount() throws -> Int {
        let stats = try control("stats_noreset")
        guard let line = stats.split(separator: "\n").first(where: { $0.hasPrefix("num.tcp=") }),
            let count = Int(line.dropFirst("num.tcp=".count))
        else { throw Failure(description: "no num.tcp in nsd-control output: \(stats)") }
        return count
    }

    private func control(_ command: String) throws -> String {
        let control = Process()
        control.executableURL = URL(fileURLWithPath: Self.controlBinary ?? "nsd-control")
        control.arguments = ["-c", directory.appendingPathComponent("nsd.conf").path, command]
        let pipe = Pipe()
        control.standardOutput = pipe
        control.standardError = pipe
        try control.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        control.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard control.terminationStatus == 0 else {
            throw Failure(description: "nsd-control \(command) failed: \(text)")
        }
        return text
    }

    private var log: String {
        let out = (try? String(contentsOf: directory.appendingPathComponent("nsd.out"), encoding: .utf8)) ?? ""
        let log = (try? String(contentsOf: directory.appendingPathComponent("nsd.log"), encoding: .utf8)) ?? ""
        return out + log
    }

    /// Asks for the first zone's SOA until NSD answers, it exits, or 20 s pass.
    private func waitUntilAnswering() async throws {
        let resolver = StubResolver(
            configuration: .init(nameServers: [address], timeout: .milliseconds(200), attempts: 1, cacheCapacity: 0)
        )
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                throw Failure(description: "nsd exited with status \(process.terminationStatus): \(log)")
            }
            if (try? await resolver.lookup(DNSName("tern.test"), type: .soa)) != nil { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Failure(description: "nsd did not answer within 20 s: \(log)")
    }

    /// A port free for both UDP and TCP on 127.0.0.1 at the time of asking.
    private static func freePort() async throws -> Int {
        for _ in 0..<20 {
            let udp = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(host: "127.0.0.1", port: 0).get()
            guard let port = udp.localAddress?.port else {
                try await udp.close()
                continue
            }
            do {
                let tcp = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .bind(host: "127.0.0.1", port: port).get()
                try await tcp.close()
                try await udp.close()
                return port
            } catch {
                try await udp.close()
            }
        }
        throw Failure(description: "no free port on 127.0.0.1")
    }

    private static func writeConfiguration(in directory: URL, port: Int, zones: [Zone]) throws {
        let path = directory.path
        var configuration = """
            server:
                ip-address: 127.0.0.1@\(port)
                do-ip4: yes
                do-ip6: no
                username: ""
                chroot: ""
                zonesdir: "\(path)"
                pidfile: "\(path)/nsd.pid"
                database: ""
                zonelistfile: "\(path)/zone.list"
                xfrdfile: "\(path)/xfrd.state"
                xfrdir: "\(path)"
                logfile: "\(path)/nsd.log"
                server-count: 1
                verbosity: 1
                hide-version: yes
                minimal-responses: no
            remote-control:
                control-enable: yes
                control-interface: "\(path)/nsd.ctl"

            """
        for zone in zones {
            configuration += """
                zone:
                    name: \(zone.name)
                    zonefile: "\(zone.fileName)"

                """
            try zone.text.write(to: directory.appendingPathComponent(zone.fileName), atomically: true, encoding: .utf8)
        }
        try configuration.write(to: directory.appendingPathComponent("nsd.conf"), atomically: true, encoding: .utf8)
    }
}

/// Runs a suite with one NSD server for all its tests, reachable as `NSDServer.current`, and
/// stops it when the suite ends.
struct NSDServerTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        let server = try await NSDServer.start()
        do {
            try await NSDServer.$current.withValue(server) { try await function() }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}

extension NSDServer {
    @TaskLocal static var current: NSDServer?

    /// The suite's server; fails the test when there is none.
    static func shared() throws -> NSDServer {
        try #require(current, "no NSD server: the suite needs the .nsdServer trait")
    }
}

extension Trait where Self == NSDServerTrait {
    /// One NSD server for the whole suite.
    static var nsdServer: Self { NSDServerTrait() }
}
