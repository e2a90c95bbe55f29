// swift-tools-version: 6.2
//
// Tern: a complete mail server in one Swift package. The targets follow the roles of Internet
// mail (RFC 5598); docs/architecture.md draws the graph and says what each layer may import.
// L0 TernSystem, TernMail · L1 pure cores (TernMIME, TernSMTPCore, TernIMAPCore, TernDNSCore, TernMailAuth) ·
// L2 infrastructure (TernStore, TernStoreSQLite, TernNet, TernDNS, TernDirectory) · L3 roles
// (TernSMTPServer, TernQueue, TernDelivery, TernHTTP) · L4 TernApp and the `tern` executable.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "tern",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tern", targets: ["tern"]),
        // The pure cores as libraries only so that bench/micro (a separate package) can link them.
        .library(name: "TernMail", targets: ["TernMail"]),
        .library(name: "TernSMTPCore", targets: ["TernSMTPCore"]),
        .library(name: "TernMIME", targets: ["TernMIME"]),
        .library(name: "TernDNSCore", targets: ["TernDNSCore"]),
        .library(name: "TernMailAuth", targets: ["TernMailAuth"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
    ],
    targets: [
        // L0: the vocabulary every role shares, and the system beneath it: the C library under
        // its platform's name and the calls Swift's Glibc module does not export (syncfs), in
        // one place (TernSystem over CTernSystem).
        .target(name: "CTernSystem"),
        .target(name: "TernSystem", dependencies: ["CTernSystem"], swiftSettings: swiftSettings),
        .target(name: "TernMail", dependencies: ["TernSystem"], swiftSettings: swiftSettings),

        // L1: pure cores (no sockets, clocks or loggers).
        .target(
            name: "TernMIME",
            dependencies: ["TernMail"],
            swiftSettings: swiftSettings
        ),
        .target(name: "TernSASL", dependencies: ["TernMail"], swiftSettings: swiftSettings),
        .target(
            name: "TernSMTPCore",
            dependencies: ["TernMail", "TernSASL", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "TernDNSCore",
            dependencies: ["TernMail", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TernIMAPCore",
            dependencies: ["TernMail", "TernSASL", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        // Mail authentication without I/O: DKIM (RFC 6376, RFC 8463) canonicalization, tag
        // lists, signature fields and key records; swift-crypto for the hashes and signatures.
        .target(
            name: "TernMailAuth",
            dependencies: [
                "TernMail", "TernDNSCore", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TernPOP3Core",
            dependencies: ["TernMail", "TernSASL", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),

        // L2: infrastructure.
        .target(
            name: "TernDNS",
            dependencies: [
                "TernDNSCore", "TernSystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TernStore",
            dependencies: [
                "TernMail", "TernSystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The embedded metadata store: the directory (domains, accounts, aliases) in SQLite.
        .target(
            name: "TernStoreSQLite",
            dependencies: [
                "TernDirectory", "TernStore", "TernMail", "TernSystem", .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TernNet",
            dependencies: [
                "TernMail", "TernSystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // L3: mail roles.
        .target(
            name: "TernSMTPServer",
            dependencies: [
                "TernMail", "TernMIME", "TernSASL", "TernSMTPCore", "TernStore", "TernMailAuth", "TernDNSCore", "TernNet",
                "TernDirectory", "TernSystem",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),

        // Who may read which mailboxes: the directory's logins and the mailbox store, for IMAP
        // and POP3 alike.
        .target(
            name: "TernAccess",
            dependencies: ["TernDirectory", "TernStore", "TernSASL", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TernIMAPServer",
            dependencies: [
                "TernMail", "TernMIME", "TernSASL", "TernIMAPCore", "TernStore", "TernNet", "TernDirectory", "TernAccess",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                // COMPRESS=DEFLATE (RFC 4978): zlib's raw DEFLATE streams.
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TernPOP3Server",
            dependencies: [
                // TernSMTPCore for DotStuffer: RETR's byte-stuffing (RFC 1939 §3) is DATA's (RFC 5321 §4.5.2).
                "TernMail", "TernSASL", "TernPOP3Core", "TernSMTPCore", "TernStore", "TernNet", "TernDirectory", "TernAccess",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TernDirectory",
            dependencies: [
                "TernMail", "TernSASL",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The dev catcher's web UI, JSON API and webhook; serve mode's metrics and admin API.
        .target(
            name: "TernHTTP",
            dependencies: [
                "TernMail", "TernMIME", "TernStore", "TernMailAuth", "TernDNSCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TernQueue",
            dependencies: [
                "TernMail", "TernMIME", "TernStore", "TernDirectory", "TernSystem",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TernDelivery",
            dependencies: [
                "TernQueue", "TernStore", "TernMail", "TernSMTPCore", "TernDNSCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // L4: composition root and executable.
        .target(
            name: "TernApp",
            dependencies: [
                "TernMail", "TernSASL", "TernSMTPCore", "TernStore", "TernNet", "TernSMTPServer", "TernIMAPCore", "TernIMAPServer", "TernAccess",
                "TernPOP3Core", "TernPOP3Server", "TernQueue", "TernDelivery",
                "TernDNS", "TernDNSCore", "TernDirectory", "TernStoreSQLite", "TernHTTP", "TernSystem", "TernMailAuth", "TernMIME",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "tern",
            dependencies: [
                "TernApp", "TernQueue", "TernDirectory", "TernMail", "TernSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),

        // Fuzzing (docs/fuzzing.md): one entry function per parser in TernFuzzTargets; `tern-fuzz`
        // replays inputs in this build and is a libFuzzer binary when scripts/fuzz builds it with
        // -sanitize=fuzzer -DTERN_FUZZING (CTernFuzz declares libFuzzer's driver for that build).
        .target(
            name: "TernFuzzTargets",
            dependencies: [
                "TernMail", "TernMIME", "TernSASL", "TernSMTPCore", "TernDNSCore", "TernIMAPCore", "TernMailAuth", "TernStore", "TernHTTP",
                "TernApp", "TernSystem", "TernTestSupport", "TernIMAPServer", "TernPOP3Core",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            path: "Fuzz/TernFuzzTargets",
            swiftSettings: swiftSettings
        ),
        .target(name: "CTernFuzz", path: "Fuzz/CTernFuzz"),
        .executableTarget(
            name: "tern-fuzz",
            dependencies: ["TernFuzzTargets", "CTernFuzz"],
            path: "Fuzz/tern-fuzz",
            swiftSettings: swiftSettings
        ),

        // Tests: the pure cores byte by byte, the stores on a real file system.
        .target(
            name: "TernTestSupport",
            dependencies: [
                "TernDNSCore", "TernStore", "TernMail",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/TernTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TernSMTPCoreTests",
            dependencies: ["TernSMTPCore", "TernMail", "TernTestSupport", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TernIMAPCoreTests",
            dependencies: ["TernIMAPCore", "TernMail", "TernSASL", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TernMailAuthTests",
            dependencies: [
                "TernMailAuth", "TernMail", "TernDNSCore", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TernPOP3CoreTests",
            dependencies: ["TernPOP3Core", "TernMail", "TernSASL", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TernDNSCoreTests",
            dependencies: ["TernDNSCore", "TernTestSupport", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TernDNSTests",
            dependencies: [
                "TernDNS", "TernDNSCore", "TernTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TernMailTests",
            dependencies: ["TernMail"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TernMIMETests",
            dependencies: ["TernMIME", "TernMail"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TernDirectoryTests",
            dependencies: ["TernDirectory", "TernMail"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TernStoreSQLiteTests",
            dependencies: ["TernStoreSQLite", "TernDirectory", "TernStore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TernHTTPTests",
            dependencies: ["TernHTTP", "TernStore", "TernMIME"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TernStoreTests",
            dependencies: [
                "TernStore", "TernMail", "TernTestSupport", "TernSystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TernNetTests",
            dependencies: [
                "TernNet",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TernQueueTests",
            dependencies: [
                "TernQueue", "TernMail", "TernStore", "TernDelivery", "TernDirectory",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TernSMTPServerTests",
            dependencies: [
                "TernSMTPServer", "TernMail", .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TernFuzzTests",
            dependencies: ["TernFuzzTargets"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TernAppTests",
            dependencies: [
                "TernApp", "TernSMTPServer", "TernDirectory", "TernMail", "TernMailAuth", "TernQueue", "TernStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
