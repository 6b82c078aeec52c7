import Alarming
import Foundation

extension CommandLine {
    /// `florian pocsag encode --ric R --function F (--text T | --numeric N | --tone)
    /// [--baud 512|1200|2400] [--format raw|codewords]`.
    static func pocsag(_ raw: [String]) throws -> Int32 {
        guard raw.first == "encode" else { throw UsageError("pocsag needs a subcommand: pocsag encode …") }
        var args = try Arguments(Array(raw.dropFirst()), booleans: ["tone"])
        guard let ricText = args.string("ric"), let ric = UInt32(ricText) else { throw UsageError("pocsag encode needs --ric R (0…\(POCSAG.maxRIC))") }
        guard let functionText = args.string("function"), let function = UInt8(functionText) else {
            throw UsageError("pocsag encode needs --function F (0…3)")
        }
        let text = args.string("text"), numeric = args.string("numeric"), tone = args.flag("tone")
        let baudText = args.string("baud") ?? "1200"
        let format = args.string("format") ?? "raw"
        try args.finish()
        guard [text != nil, numeric != nil, tone].filter({ $0 }).count == 1 else {
            throw UsageError("pocsag encode needs exactly one of --text T, --numeric N, --tone")
        }
        guard let baud = Int(baudText).flatMap(POCSAG.BitRate.init(rawValue:)) else { throw UsageError("--baud must be 512, 1200 or 2400") }
        guard format == "raw" || format == "codewords" else { throw UsageError("--format must be raw or codewords") }
        let content: POCSAG.Content = if let text { .alphanumeric(text) } else if let numeric { .numeric(numeric) } else { .tone }
        let page = try POCSAG.Page(ric: ric, function: function, content: content)
        if format == "codewords" {
            for batch in try POCSAG.batches([page]) {
                say(batch.map { String(format: "%08X", $0) }.joined(separator: " "))
            }
        } else {
            FileHandle.standardOutput.write(Data(try POCSAG.transmission([page], rate: baud)))
        }
        return 0
    }
}
