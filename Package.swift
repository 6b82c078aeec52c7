// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Florian",
    products: [
        .executable(name: "florian", targets: ["florian"]),
    ],
    targets: [
        // System libraries (Debian: libssl-dev, libsqlite3-dev). Imported only by the module that wraps them.
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),

        .target(name: "Wire"),
        // The alarm dispatcher's pure domain: POCSAG and ZVEI encoders, the airtime scheduler (issue 6).
        .target(name: "Alarming", dependencies: ["Wire"]),
        // The gateways as pure cores with directives (lease link, paging, station lines): no IO, no
        // clock; the shells in Gateways and the simulator perform their directives (issue 19).
        .target(name: "GatewayCore", dependencies: ["Alarming", "Bus", "Wire"]),
        // The IO around the pure cores: transmitter sinks, the station and paging gateways, the helper
        // platform's gateway and its simulated volunteers (issue 18).
        .target(name: "Gateways", dependencies: ["Alarming", "Bus", "Client", "Consensus", "Secure", "Wire", "Helpers", "GatewayCore"]),
        .target(name: "Consensus"),
        .target(name: "Store", dependencies: ["Consensus", "Wire", "CSQLite"]),
        .target(name: "Bus", dependencies: ["Consensus", "Wire"]),
        // epoll for the event loop; TLS 1.3 and the city PKI on OpenSSL (issue 4).
        .target(name: "CEpoll"),
        .target(name: "Secure", dependencies: ["COpenSSL", "CEpoll", "Wire"]),
        // The domain state machines registered on the bus (alarm, partners, helpers, bridged to each other).
        .target(name: "Domains", dependencies: ["Bus", "Alarming", "Partners", "Helpers"]),
        .target(name: "Simulator", dependencies: ["Consensus", "Bus", "Wire", "Domains", "Alarming", "Helpers", "GatewayCore"]),
        // The helper-network router's pure core: the volunteer registry with the least data that
        // works, requests, matching in waves over a spatial index, privacy views, the partners'
        // EDXL-RM messages (issue 18). Incidents for the EPSG:3035 projection only.
        .target(name: "Helpers", dependencies: ["Wire", "Incidents"]),
        // The client side of the node protocol (Protocols/client.md): codec and the Swift client.
        .target(name: "Client", dependencies: ["Bus", "Secure", "Wire"]),
        // The dispatcher console: command language, German/English catalogues, execution (issue 8).
        .target(name: "Console", dependencies: ["Alarming", "Bus", "Client", "Partners", "Helpers"]),
        // The partner endpoint: MQTT 3.1.1 packets, sessions and rights; CAP 1.2 (issue 9).
        .target(name: "Partners", dependencies: ["Wire"]),
        // The incident pipeline's pure parts: records from the alarm events, import mappings and
        // validation, pseudonyms, grid cells, export tables, CSV/NDJSON/Parquet writers, open data (issue 16).
        .target(name: "Incidents", dependencies: ["Wire"]),
        // The incident store on SQLite (records, dispatches, counts, the feed offset) and its pseudonym keys.
        .target(name: "IncidentStore", dependencies: ["Incidents", "Store"]),
        // The statistics module, pure: grouped counts, exact quantiles and a mergeable sketch,
        // Hilfsfrist compliance, unit utilisation, forecasts with calibrated intervals, backtests,
        // the HTML/SVG report (issue 17).
        .target(name: "Statistics", dependencies: ["Incidents"]),
        // The node process: the bus on the SQLite log, the mTLS mesh, the client and MQTT endpoints.
        .target(name: "Node", dependencies: ["Consensus", "Bus", "Store", "Secure", "Client", "Wire", "CEpoll", "Domains", "Alarming", "Partners"]),
        .executableTarget(name: "florian", dependencies: ["Consensus", "Store", "Bus", "Node", "Secure", "Simulator", "Wire", "Client", "CEpoll", "Alarming", "Gateways", "Domains", "Console", "Partners", "Incidents", "IncidentStore", "Statistics", "Helpers"]),

        .testTarget(name: "WireTests", dependencies: ["Wire"]),
        .testTarget(name: "ConsensusTests", dependencies: ["Consensus"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Consensus", "Wire"]),
        .testTarget(name: "BusTests", dependencies: ["Bus", "Consensus"]),
        .testTarget(name: "SimulatorTests", dependencies: ["Simulator", "Consensus", "Bus"]),
        .testTarget(name: "SecureTests", dependencies: ["Secure", "Wire"]),
        .testTarget(name: "ClusterTests", dependencies: ["Bus", "Store", "Consensus"]),
        .testTarget(name: "ClientTests", dependencies: ["Client", "Wire"]),
        // The encoders against an independent decoder (multimon-ng, installed by .ci/run).
        .testTarget(name: "AlarmingTests", dependencies: ["Alarming", "Wire"]),
        .testTarget(name: "ConsoleTests", dependencies: ["Console", "Alarming", "Partners"]),
        .testTarget(name: "PartnersTests", dependencies: ["Partners"]),
        // The pipeline's records, imports, exports (read back by pyarrow and DuckDB), open data, the store.
        .testTarget(name: "IncidentsTests", dependencies: ["Incidents", "IncidentStore", "Alarming"]),
        .testTarget(name: "HelpersTests", dependencies: ["Helpers", "Domains", "Bus", "Partners", "Consensus"]),
        .testTarget(name: "StatisticsTests", dependencies: ["Statistics", "Incidents"]),
        .testTarget(name: "GatewaysTests", dependencies: ["Gateways", "GatewayCore", "Alarming", "Helpers"]),
        // Node processes' runtime in-process: 3 NodeServers on threads, over real mTLS sockets.
        .testTarget(name: "NodeTests", dependencies: ["Node", "Client", "Secure", "Bus", "Wire"]),
        // Runs the release binary (`swift build -c release` first): seeds, mutants, trace hashes.
        .testTarget(name: "CLITests", dependencies: ["Client", "Secure", "Wire"]),
    ],
    swiftLanguageModes: [.v6]
)
