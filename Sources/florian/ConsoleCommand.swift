import Client
import Console
import Foundation

extension CommandLine {
    /// `florian console [--cluster FILE] [-c CMD]… [--json] [--yes] [--lang de|en] [--plain]`:
    /// the dispatcher's console. Commands from `-c`, else one a line from stdin; exit status 1
    /// when any command failed. Interactive (a terminal on stdin) it prompts and asks before alarming.
    static func console(_ raw: [String]) throws -> Int32 {
        var commands: [String] = []
        var rest: [String] = []
        var k = 0
        while k < raw.count {
            if raw[k] == "-c" {
                guard k + 1 < raw.count else { throw UsageError("-c needs a command") }
                commands.append(raw[k + 1])
                k += 2
            } else {
                rest.append(raw[k])
                k += 1
            }
        }
        var args = try Arguments(rest, booleans: ["json", "yes", "plain"])
        let json = args.flag("json"), yes = args.flag("yes")
        _ = args.flag("plain")
        let langName = args.string("lang") ?? "de"
        guard let language = Language(rawValue: langName) else { throw UsageError("--lang de or en") }
        let path = args.string("cluster") ?? ProcessInfo.processInfo.environment["FLORIAN_CLUSTER"] ?? "cluster.json"
        try args.finish()
        let file = try ClusterFile.load(path)
        let client = try file.client(role: "operator")
        defer { client.closeAndWait() }
        let engine = ConsoleEngine(client: client)
        let interactive = commands.isEmpty && isatty(0) == 1
        let confirm: ((String) -> Bool)? = yes ? { _ in true } : interactive ? { question in
            FileHandle.standardOutput.write(Data(question.utf8))
            let answer = (readLine() ?? "").trimmingCharacters(in: .whitespaces).lowercased()
            return ["j", "ja", "y", "yes"].contains(answer)
        } : nil
        var failed = false
        func run(_ line: String) {
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty, !line.hasPrefix("#") else { return }
            let outcome = engine.run(line, confirm: confirm, language: language)
            if !outcome.ok { failed = true }
            if json {
                say(outcome.json)
            } else {
                let text = outcome.messages.map { language.text($0) }.joined(separator: "\n")
                if outcome.ok { say(text) } else { FileHandle.standardError.write(Data((text + "\n").utf8)) }
            }
        }
        if !commands.isEmpty {
            for c in commands { run(c) }
        } else {
            if interactive { FileHandle.standardOutput.write(Data("florian> ".utf8)) }
            while let line = readLine() {
                run(line)
                if interactive { FileHandle.standardOutput.write(Data("florian> ".utf8)) }
            }
        }
        return failed ? 1 : 0
    }
}
