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

extension CommandLine {
    /// `florian zvei encode DIGITS [--siren fire|warning|all-clear|test]`: the five-tone call (and
    /// the siren's double tone) as 16-bit little-endian PCM at 22050 Hz on stdout.
    static func zvei(_ raw: [String]) throws -> Int32 {
        guard raw.first == "encode", raw.count >= 2, !raw[1].hasPrefix("--") else { throw UsageError("zvei needs: zvei encode DIGITS [--siren SIGNAL]") }
        var args = try Arguments(Array(raw.dropFirst(2)), booleans: [])
        let sirenName = args.string("siren")
        try args.finish()
        var siren: ZVEI.SirenSignal?
        if let sirenName {
            guard let s = ZVEI.SirenSignal(rawValue: sirenName) else {
                throw UsageError("--siren must be one of \(ZVEI.SirenSignal.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            siren = s
        }
        FileHandle.standardOutput.write(Data(try ZVEI.pcmBytes(digits: raw[1], siren: siren)))
        return 0
    }
}
