// swift-tools-version:6.1
import PackageDescription

// libFuzzer targets for certctl's parsers of hostile input (docs/reliability.md, "Fuzzing").
//
// A package of its own, not targets in the root Package.swift: `swift build` builds every
// target of a package, and a fuzz target links only with -sanitize=fuzzer (libFuzzer owns
// main), so the root build would break or slow down. This package is built only by
// scripts/fuzz, into its own scratch path (.build/fuzz) with the sanitizer flags.
// Sources/CertctlPKI and Sources/CertctlConfig are symlinks to the real Shared/ modules,
// and FuzzSQLSplitter compiles Shared/Store/SQLScript.swift (a symlink) by itself, so the
// fuzzers test the shipped code without pulling in postgres-nio or Hummingbird.

let fuzzer: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

func fuzzTarget(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(name: name, dependencies: ["FuzzSupport"] + dependencies, swiftSettings: fuzzer)
}

let x509: [Target.Dependency] = [
    "CertctlPKI",
    .product(name: "X509", package: "swift-certificates"),
    .product(name: "SwiftASN1", package: "swift-asn1"),
]

let package = Package(
    name: "certctl-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
    ],
    targets: [
        .target(
            name: "CertctlConfig",
            dependencies: [.product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "CertctlPKI",
            dependencies: [
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(name: "FuzzSupport"),
        .target(name: "FuzzPKISupport", dependencies: x509),
        fuzzTarget("FuzzOCSPRequest", x509),
        fuzzTarget("FuzzCSR", x509 + ["FuzzPKISupport"]),
        fuzzTarget("FuzzESTBody", x509 + ["FuzzPKISupport"]),
        fuzzTarget("FuzzSCEPMessage", x509 + ["FuzzPKISupport"]),
        fuzzTarget("FuzzCMS", x509 + ["FuzzPKISupport"]),
        fuzzTarget("FuzzCRL", x509),
        fuzzTarget("FuzzDERTime", ["CertctlPKI"]),
        fuzzTarget("FuzzSQLSplitter", []),
        fuzzTarget("FuzzDuration", ["CertctlConfig"]),
    ]
)
