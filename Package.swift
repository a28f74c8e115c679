// swift-tools-version:6.1
import PackageDescription

// certctl: five executables (services/*) over one set of shared library
// modules (Shared/*). Services import Shared modules, never each other.

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "certctl",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "certctl-signer", targets: ["CertctlSigner"]),
        .executable(name: "certctl-admin", targets: ["CertctlAdmin"]),
        .executable(name: "certctl-ocsp", targets: ["CertctlOCSP"]),
        .executable(name: "certctl-crl", targets: ["CertctlCRL"]),
        .executable(name: "certctl-enroll", targets: ["CertctlEnroll"]),
        .executable(name: "certctl-bench-signer", targets: ["CertctlBenchSigner"]),
        .executable(name: "certctl-bench-bare-http", targets: ["CertctlBenchBareHTTP"]),
        .executable(name: "certctl", targets: ["CertctlCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
    ],
    targets: [
        // MARK: Shared modules (by role)
        .target(
            name: "CertctlConfig",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            path: "Shared/Config",
            swiftSettings: strict
        ),
        .target(
            name: "CertctlObservability",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Shared/Observability",
            swiftSettings: strict
        ),
        .target(
            name: "CertctlStore",
            dependencies: [
                "CertctlConfig", "CertctlPKI",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/Store",
            resources: [.copy("Migrations")],
            swiftSettings: strict
        ),
        .target(
            name: "CertctlPKI",
            dependencies: [
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Shared/PKI",
            swiftSettings: strict
        ),
        .target(
            name: "CertctlRPC",
            dependencies: [
                "CertctlConfig",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Shared/RPC",
            exclude: ["Protos"],
            swiftSettings: strict
        ),
        .target(
            name: "CertctlIssuance",
            dependencies: [
                "CertctlConfig", "CertctlStore", "CertctlPKI", "CertctlRPC",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/Issuance",
            swiftSettings: strict
        ),
        .target(
            name: "CertctlRuntime",
            dependencies: [
                "CertctlConfig", "CertctlStore", "CertctlObservability", "CertctlRPC", "CertctlPKI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/Runtime",
            swiftSettings: strict
        ),

        // MARK: Services: each a library with its logic (tested in-process) and a thin executable
        .target(
            name: "CertctlSignerCore",
            dependencies: [
                "CertctlRuntime", "CertctlConfig", "CertctlStore", "CertctlPKI", "CertctlRPC", "CertctlObservability",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            path: "services/signer/Core",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "CertctlSigner",
            dependencies: [
                "CertctlSignerCore", "CertctlRuntime", "CertctlConfig", "CertctlPKI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "services/signer/Main",
            swiftSettings: strict
        ),
        .target(
            name: "CertctlAdminCore",
            dependencies: [
                "CertctlRuntime", "CertctlConfig", "CertctlStore", "CertctlObservability", "CertctlIssuance",
                "CertctlPKI", "CertctlRPC",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "services/admin/Core",
            resources: [.copy("Resources/openapi.yaml")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "CertctlAdmin",
            dependencies: [
                "CertctlAdminCore", "CertctlRuntime", "CertctlConfig", "CertctlStore", "CertctlObservability", "CertctlPKI",
                "CertctlRPC",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "services/admin/Main",
            swiftSettings: strict
        ),
        .target(
            name: "CertctlOCSPCore",
            dependencies: [
                "CertctlRuntime", "CertctlConfig", "CertctlStore", "CertctlObservability", "CertctlPKI", "CertctlRPC",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "services/ocsp/Core",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "CertctlOCSP",
            dependencies: ["CertctlOCSPCore", "CertctlRuntime", "CertctlConfig", "CertctlRPC", "CertctlStore"],
            path: "services/ocsp/Main",
            swiftSettings: strict
        ),
        .target(
            name: "CertctlCRLCore",
            dependencies: [
                "CertctlRuntime", "CertctlConfig", "CertctlStore", "CertctlObservability", "CertctlPKI", "CertctlRPC",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "services/crl/Core",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "CertctlCRL",
            dependencies: ["CertctlCRLCore", "CertctlRuntime", "CertctlConfig", "CertctlRPC", "CertctlStore"],
            path: "services/crl/Main",
            swiftSettings: strict
        ),
        .target(
            name: "CertctlEnrollCore",
            dependencies: [
                "CertctlRuntime", "CertctlConfig", "CertctlStore", "CertctlObservability", "CertctlPKI", "CertctlRPC",
                "CertctlIssuance",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "services/enrollment/Core",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "CertctlEnroll",
            dependencies: ["CertctlEnrollCore", "CertctlRuntime", "CertctlConfig", "CertctlIssuance", "CertctlRPC", "CertctlStore"],
            path: "services/enrollment/Main",
            swiftSettings: strict
        ),

        // MARK: Operator CLI (a client of the admin API only; docs/cli.md)
        .target(
            name: "CertctlCLICore",
            dependencies: [
                "CertctlPKI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "cli/Core",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "CertctlCLI",
            dependencies: ["CertctlCLICore"],
            path: "cli/Main",
            swiftSettings: strict
        ),

        // MARK: Benchmarks (scripts/bench)
        .executableTarget(
            name: "CertctlBenchSigner",
            dependencies: [
                "CertctlConfig", "CertctlStore", "CertctlPKI", "CertctlRPC",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/SignerRPC",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "CertctlBenchBareHTTP",
            dependencies: [
                "CertctlConfig", "CertctlObservability", "CertctlRuntime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/BareHummingbird",
            swiftSettings: strict
        ),

        // MARK: Tests
        .testTarget(
            name: "CertctlUnitTests",
            dependencies: [
                "CertctlConfig", "CertctlObservability", "CertctlStore", "CertctlPKI", "CertctlRuntime", "CertctlRPC",
                "CertctlSignerCore", "CertctlOCSPCore", "CertctlEnrollCore", "CertctlCRLCore",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/Unit",
            swiftSettings: strict
        ),
        .testTarget(
            name: "CertctlCLITests",
            dependencies: ["CertctlCLICore", .product(name: "NIOHTTP1", package: "swift-nio")],
            path: "Tests/CLI",
            swiftSettings: strict
        ),
        .testTarget(
            name: "CertctlIntegrationTests",
            dependencies: [
                "CertctlConfig", "CertctlStore", "CertctlRuntime", "CertctlPKI", "CertctlRPC", "CertctlIssuance",
                "CertctlSignerCore", "CertctlAdminCore", "CertctlOCSPCore", "CertctlCRLCore", "CertctlEnrollCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/Integration",
            swiftSettings: strict
        ),
    ]
)
