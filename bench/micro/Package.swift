// swift-tools-version: 6.1
//
// Micro benchmarks of Tern's pure cores (no sockets, no disk): SMTP command parsing and the
// server session, DATA dot-unstuffing, MIME parsing, the DNS codec. A package of its own, so
// that the main package's build and tests never build ordo-one/benchmark; `bench/micro/run.sh`
// runs it. Each benchmark reports wall clock, throughput, instructions (where perf events are
// allowed) and malloc counts per operation, which are the figures an optimisation must move.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "tern-micro-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Tern itself; its library products exist for this package.
        .package(name: "tern", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // The "MallocInterposer" trait alone: malloc counts without the ARC runtime interposer,
        // which the default traits would pull in and which this machine's mirror lacks.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        benchmark("SMTPCommands", ["TernSMTPCore", "TernMail"]),
        benchmark("SMTPData", ["TernSMTPCore", "TernMail"]),
        benchmark("MIMEParsing", ["TernMIME"]),
        benchmark("DNSCodec", ["TernDNSCore"]),
        benchmark("MailAuth", ["TernMailAuth", "TernDNSCore"]),
        // What the suites share: the SMTP session driver, the test messages, the metrics.
        .target(
            name: "MicroSupport",
            dependencies: [
                .product(name: "TernMail", package: "tern"),
                .product(name: "TernSMTPCore", package: "tern"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

/// One benchmark suite: `Benchmarks/<name>/<name>.swift`, wired to the benchmark plugin.
func benchmark(_ name: String, _ ternProducts: [String]) -> Target {
    .executableTarget(
        name: name,
        dependencies: ternProducts.map { .product(name: $0, package: "tern") } + [
            .product(name: "Benchmark", package: "benchmark"),
            .product(name: "NIOCore", package: "swift-nio"),
            "MicroSupport",
        ],
        path: "Benchmarks/\(name)",
        swiftSettings: swiftSettings,
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    )
}
