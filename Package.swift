// swift-tools-version:6.0
import PackageDescription

// Arrows point one way: meshform (CLI) -> MeshformKit -> {KubeClient, StateStore} -> KubeModel.
// KubeSim is the local test/demo API server; only tests, benchmarks and the demo command use it.
let v6: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "meshform",
    platforms: [.macOS(.v15)],   // Synchronization's Mutex
    products: [
        .executable(name: "meshform", targets: ["meshform"]),
        .executable(name: "kubesim", targets: ["kubesim"]),
        .library(name: "MeshformKit", targets: ["MeshformKit"]),
        .library(name: "KubeClient", targets: ["KubeClient"]),
        .library(name: "KubeSim", targets: ["KubeSim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.70.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        // KubeSim stops its server with a graceful shutdown (see KubeSim.stop); Hummingbird already depends on it.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        // Property-based fuzzing of mesh and state files in `swift test` (issue 13).
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        // Team state on PostgreSQL (issue 15): the Swift server ecosystem's maintained PostgreSQL client.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // Every child process (exec credential plugins, istioctl, helm): async, no thread blocked while it runs (issue 14).
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        // Heap for the graph walker's ready queue (issue 14); already in the graph through swift-nio.
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        .target(name: "KubeModel", dependencies: [
            .product(name: "Yams", package: "Yams"),
        ], swiftSettings: v6),
        .target(name: "KubeClient", dependencies: [
            "KubeModel",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),   // TLSProbe and ServerNameCheck: bare TLS handshakes
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "Subprocess", package: "swift-subprocess"),
        ], swiftSettings: v6),
        .target(name: "StateStore", dependencies: [
            "KubeModel",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: v6),
        .target(name: "MeshformKit", dependencies: [
            "KubeModel", "KubeClient", "StateStore",
            .product(name: "HeapModule", package: "swift-collections"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: v6),
        .executableTarget(name: "meshform", dependencies: [
            "MeshformKit", "KubeSim",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: v6),
        .target(name: "KubeSim", dependencies: [
            "KubeModel",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HummingbirdHTTP2", package: "hummingbird"),   // HTTP/2 over ALPN, as kube-apiserver serves
            .product(name: "AsyncHTTPClient", package: "async-http-client"),   // calls admission webhooks at their URL
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Yams", package: "Yams"),
        ]),   // Swift 6 language mode
        .executableTarget(name: "kubesim", dependencies: [
            "KubeSim",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),   // SIGTERM/SIGINT as an async sequence
        ]),   // Swift 6 language mode

        // Benchmarks: `Benchmarks/run` runs them all.
        .executableTarget(name: "CompileBench", dependencies: ["MeshformKit"], path: "Benchmarks/CompileBench", swiftSettings: v6),
        .executableTarget(name: "StateBench", dependencies: ["StateStore", "KubeModel", "PostgresTestSupport"],
                          path: "Benchmarks/StateBench", swiftSettings: v6),
        .executableTarget(name: "kubesim-bench", dependencies: [
            "KubeSim",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], path: "Benchmarks/KubeSimBench", swiftSettings: v6),
        // KubeClient's server-side apply throughput against the real kubectl on the same objects (moved out of the tests).
        .executableTarget(name: "ClientBench", dependencies: ["KubeClient", "KubeSim", "KubeModel"], path: "Benchmarks/ClientBench"),
        .executableTarget(name: "RequestBench", dependencies: ["KubeClient", "KubeModel"], path: "Benchmarks/RequestBench", swiftSettings: v6),

        .testTarget(name: "KubeModelTests", dependencies: ["KubeModel"], swiftSettings: v6),
        .testTarget(name: "KubeSimTests", dependencies: [
            "KubeSim", "KubeModel", "KubeClient", "TestSupport",   // KubeClient: ChildProcess runs curl and kubectl
            .product(name: "Hummingbird", package: "hummingbird"),      // TestWebhook: an admission webhook on loopback
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: v6),
        .testTarget(name: "KubeClientTests", dependencies: ["KubeClient", "KubeSim", "TestSupport"], swiftSettings: v6),
        // What several test targets share: scoped cleanup of clients, a virtual clock, a seeded random generator.
        .target(name: "TestSupport", dependencies: ["KubeClient", "KubeModel"], path: "Tests/TestSupport", swiftSettings: v6),
        // A real PostgreSQL server (initdb + pg_ctl) for the team-state tests and benchmark.
        .target(name: "PostgresTestSupport", path: "Tests/PostgresTestSupport", swiftSettings: v6),
        .testTarget(name: "StateStoreTests", dependencies: ["StateStore", "PostgresTestSupport",
                                                            "KubeClient", "TestSupport"],   // ChildProcess runs the meshform binary
                    swiftSettings: v6),
        .testTarget(name: "MeshformKitTests", dependencies: ["MeshformKit", "KubeSim", "TestSupport",
                                                            .product(name: "PropertyBased", package: "swift-property-based")],
                    swiftSettings: v6),
        .testTarget(name: "EndToEndTests", dependencies: [
            "MeshformKit", "KubeSim", "PostgresTestSupport", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),     // ScriptedAPIServer: answers KubeSim does not give yet
            .product(name: "NIOSSL", package: "swift-nio-ssl"),   // TLSStandIn: a stand-in gateway's TLS
        ], swiftSettings: v6),
    ]
)
