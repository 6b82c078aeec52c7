import Foundation
@_spi(Simulation) import Consensus
@_spi(Simulation) import Simulator

/// A command-line usage error: printed with the usage text, exit status 2.
struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Parsed `--flag value` arguments; every flag must be consumed, unknown ones are errors.
struct Arguments {
    private var values: [String: String] = [:]
    private var flags: Set<String> = []
    private var order: [String] = []

    init(_ args: [String], booleans: Set<String>) throws {
        var k = 0
        while k < args.count {
            let a = args[k]
            guard a.hasPrefix("--"), a.count > 2 else { throw UsageError("unexpected argument '\(a)'") }
            let name = String(a.dropFirst(2))
            if booleans.contains(name) {
                flags.insert(name)
            } else {
                guard k + 1 < args.count else { throw UsageError("\(a) needs a value") }
                guard values[name] == nil else { throw UsageError("\(a) given twice") }
                values[name] = args[k + 1]
                k += 1
            }
            order.append(name)
            k += 1
        }
    }

    mutating func string(_ name: String) -> String? {
        order.removeAll { $0 == name }
        return values[name]
    }

    mutating func flag(_ name: String) -> Bool {
        order.removeAll { $0 == name }
        return flags.contains(name)
    }

    mutating func uint(_ name: String) throws -> UInt64? {
        guard let v = string(name) else { return nil }
        guard let x = UInt64(v) else { throw UsageError("--\(name) needs a non-negative integer, got '\(v)'") }
        return x
    }

    func finish() throws {
        if let extra = order.first { throw UsageError("unknown option --\(extra)") }
    }
}

extension CommandLine {
    static let usage = """
        usage: florian <command> [options]

        commands:
          node --config FILE [--check]
                   run one node of a cluster (mesh and client listeners over mTLS, log in SQLite);
                   samples in ops/config/; stops on SIGTERM/SIGINT
          demo [--dir DIR] [--no-console] [--plain] [--lang de|en] [--nodes 3|5] [--registry FILE]
               [--scenario storm|FILE [--speed N] [--seed S]]
                   a 3-node (or 5-node) cluster of child processes on loopback with a throw-away PKI in DIR
                   (default: a new temporary directory), the sample registry, two gateways per alarm
                   network, a station simulator per station line and a paging sink; writes
                   DIR/cluster.json, prints 'ready', then opens the dispatcher console on this
                   terminal (without a terminal, or with --no-console: prints the event feed);
                   --scenario plays a scenario (storm: Simulations/storm-night.json) on the cluster,
                   N times faster (default 10), with a live summary, and exits 0 when every order
                   is final; Ctrl-C (or leaving the console) stops everything it started
          chaos kill-test [--seconds N] [--rate R] [--hang] [--dir DIR] [--keep]
                   3 node processes, a client publishing R/s with unique ids, a random node killed
                   (SIGKILL) and restarted every 3–8 s; last line 'kill-test: acked A, lost L, …'
          chaos failover-test [--kills K] [--dir DIR] [--keep]
                   kills the leader K times, each time from the kill to the next commit seen;
                   last line 'failover-test: kills K, p50 …, p99 …, max …, lost L'
          simulate --seeds N [--start S] [--scenario FILE] [--mutant NAME] [--workers W]
                   run N seeds (S, S+1, …) of the deterministic cluster simulator; the last line is
                   'simulate: N seeds, V violations' and the exit status is 0 only when V is 0
          simulate --seed S [--scenario FILE] [--mutant NAME] [--trace-hash] [--trace]
                   run one seed; --trace-hash ends with 'trace <sha256>', --trace prints every event
          simulate --scenario FILE.json (--seed S | --seeds N [--start S]) [--trace-hash]
                   an alarm-dispatcher scenario (Simulations/storm-night.json): every order must
                   reach a final state; reports order → delivery / acknowledgement per network;
                   a helper-network night (Simulations/main-flood.json, it names "volunteers"): our
                   waves against Katretter's rule (3 nearest, 30 s, the next 3) on each seed; last
                   line 'helpers: seeds N, beats baseline on B, rest violations R'
          bench bus [--seconds S] [--payload BYTES] [--dir DIR] [--pipeline N]
                   3-node in-process cluster on SQLite with fsync: commits/s and latency at 1 and
                   64 in flight, against the single-node SQLite fsync rate; last line 'bench bus: …'
          bench cluster [--seconds S] [--idle-seconds S] [--payload BYTES] [--retention N]
                   3 node processes over mTLS on loopback: publishes/s and p50/p99 at 1 and 64 in
                   flight, idle CPU of the cluster, RSS per node
          bench paging [--rate 512|1200|2400] [--seed S]
                   the airtime scheduler against a one-page-per-transmission FIFO on a storm
                   night: utilisation, pages/s, p50/p99 alarm-page waits; a burst of tone alarms
          bench alarm [--orders N]
                   3 node processes over mTLS with the sample registry, station gateways and station
                   simulators: order → station ACK seen by the control room, p50/p99, alone, under
                   a background load of 1 KiB publishes (64 in flight), and while a partner floods
                   MQTT (ops/bench/mqtt_bench.py, paho-mqtt)
          bench tls [--seconds S]
                   mutual TLS 1.3 handshakes/s and bulk MB/s over loopback, beside openssl s_time
                   and openssl speed from the same run (use taskset -c 0 for one core)
          pocsag encode --ric R --function F (--text T | --numeric N | --tone)
                 [--baud 512|1200|2400] [--format raw|codewords]
                   one page (ITU-R M.584): 'raw' writes the NRZ baseband as 16-bit little-endian
                   PCM at 22050 Hz to stdout; 'codewords' prints one batch a line (17 hex words)
          zvei encode DIGITS [--siren fire|warning|all-clear|test]
                   a ZVEI1 five-tone call (70 ms tones, repeat tone for a repeated digit) and the
                   siren's double tone, as 16-bit little-endian PCM at 22050 Hz on stdout
          alarm [--cluster FILE] [--json] <registry apply|open|propose|raise|ack|unit-status|confirm|
                dismiss|close|show|lines|units|leases|watch> …
                   the dispatcher's commands for scripts and tests (florian alarm help)
          console [--cluster FILE] [-c CMD]… [--json] [--yes] [--lang de|en] [--plain]
                   the dispatcher console: on a terminal a prompt with line editing, history,
                   completion and the live event feed (--plain: no colours or cursor movement, one
                   event a line with its time); else commands from -c or one a line on stdin, exit
                   status 1 if any failed, --json one object per command; alarming commands ask
                   for confirmation (without a terminal they need --yes); 'hilfe' / 'help'
          cap validate FILE…
                   checks OASIS CAP 1.2 alerts: one line per file, 'FILE: valid' or 'FILE: invalid:
                   <reason>'; CAP 1.0/1.1 are named as such; exit status 1 if any is invalid
          rights [--cluster FILE] apply FILE | show
                   the partners' rights document (Protocols/partner-mqtt.md), applied as a command
          gateway --cluster FILE --network wired|wireless --name NAME [--listen HOST:PORT] [--sink DIR]
                   a gateway: station lines (wired) or transmitters (wireless); one of each
                   network is active by lease, the others stand by
          station-sim --cluster FILE --station ID [--ack-delay MS] [--no-ack] [--flap UP:DOWN]
                [--drop-after S] [--gateway HOST:PORT] [--printout FILE]
                   a station device for tests and demos (Protocols/station-alert.md)
          pipeline --cluster FILE --store DIR [--grid METRES] [--archive-after SECONDS] [--retention-days N] [--once]
                   keeps the incident store DIR up to date from the committed alarm events (exactly once
                   by offset, resumable); archives stored closed incidents out of the alarm state;
                   deletes personal fields after the retention time; --once stops when caught up
          incidents import --store DIR --mapping FILE CSV…
          incidents import --store DIR --time-column NAME [--time-format FORMAT] [--type-column NAME]
                [--area-column NAME] [--source NAME] [--time-zone ZONE] CSV…
                   imports call logs and counts (mappings in ops/mappings/); prints read, accepted and
                   rejected by reason; rejected rows go to DIR/rejects/FILE.rejects.csv
          incidents rotate-key|purge|summary --store DIR …
                   a new pseudonym key; delete personal fields (--older-than-days N); the store's counts
          export --store DIR --from DATE --to DATE --format csv|ndjson|parquet --out DIR [--compression none|snappy]
                   incidents, dispatches and counts, pseudonymised, in Hive partitions
                   (DATASET/year=YYYY/month=MM/); --to is inclusive; resumable after an interruption
          export --open-data --store DIR --from DATE --to DATE --out DIR [--k N]
                   daily counts per Stadtteil and category and response-time quantiles, only groups of
                   at least k incidents (default 5)
          bench export [--rows N]
                   N synthetic incident rows (default 2,000,000) to Parquet, against DuckDB's COPY … TO
                   (FORMAT parquet) of the same rows in the same run
          bench stats [--rows N]
                   N synthetic rows (default 2,000,000): group-by counts and grouped exact quantiles,
                   against DuckDB's GROUP BY and quantile_cont on the same rows in the same run
          helper-gateway --cluster FILE --name NAME [--listen HOST:PORT] [--state FILE]
                   a helper platform: the router's asks to the volunteers' app, their answers back
          helper-sim --cluster FILE --name NAME --gateway HOST:PORT [--volunteers N] [--skills A,B]
                   [--near LAT,LON] [--radius KM] [--scenario FILE | --acceptance P] [--answer-after MS-MS]
                   [--travel MS] [--stay MS] [--seed S]
                   simulated volunteers behind a platform's app (acceptance by the local hour)
          bench helpers [--volunteers N] [--waves W]
                   the helper router's wave matching against N volunteers (default 100,000): p50/p99/max ms
          pki --dir DIR init [--org O] [--days N] | issue <role> <name> [--org O] [--days N] [--san IP:A,DNS:N]
                | revoke <name> | crl
                   the city PKI: CA, per-identity keys (0600) and certificates, CRL
        mutants (simulator only): figure8, vote-without-log-check, stale-read
        """

    /// Runs a command line; returns the process exit status.
    static func run(_ args: [String]) -> Int32 {
        guard let command = args.first else {
            print(usage)
            return 2
        }
        do {
            switch command {
            case "simulate": return try simulate(Array(args.dropFirst()))
            case "bench": return try bench(Array(args.dropFirst()))
            case "pki": return try pki(Array(args.dropFirst()))
            case "node": return try node(Array(args.dropFirst()))
            case "demo": return try demo(Array(args.dropFirst()))
            case "chaos": return try chaos(Array(args.dropFirst()))
            case "pocsag": return try pocsag(Array(args.dropFirst()))
            case "zvei": return try zvei(Array(args.dropFirst()))
            case "gateway": return try gateway(Array(args.dropFirst()))
            case "station-sim": return try stationSim(Array(args.dropFirst()))
            case "helper-gateway": return try helperGateway(Array(args.dropFirst()))
            case "helper-sim": return try helperSim(Array(args.dropFirst()))
            case "alarm": return try alarm(Array(args.dropFirst()))
            case "console": return try console(Array(args.dropFirst()))
            case "cap": return try cap(Array(args.dropFirst()))
            case "rights": return try rights(Array(args.dropFirst()))
            case "pipeline": return try pipeline(Array(args.dropFirst()))
            case "incidents": return try incidents(Array(args.dropFirst()))
            case "export": return try export(Array(args.dropFirst()))
            case "stats": return try stats(Array(args.dropFirst()))
            case "help", "--help", "-h":
                print(usage)
                return 0
            default: throw UsageError("unknown command '\(command)'")
            }
        } catch let e as UsageError {
            FileHandle.standardError.write(Data("florian: \(e)\n\n\(usage)\n".utf8))
            return 2
        } catch {
            FileHandle.standardError.write(Data("florian: \(error)\n".utf8))
            return 1
        }
    }
}

/// Prints a line to stdout at once (unbuffered: scripts and tests wait for lines like `ready`).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
