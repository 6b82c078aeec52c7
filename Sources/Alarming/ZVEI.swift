#if canImport(Glibc)
import Glibc
#endif

/// ZVEI 5-tone sequential calling (ZVEI1, as TR BOS uses it) and the siren control double tones.
///
/// A call is five digits, each a 70 ms sine tone with no gap; a digit equal to the one before it
/// is sent as the repeat tone instead, so that a receiver sees every digit as a change. A siren's
/// receiver arms on its five-tone address and starts the program the double tone that follows
/// names (two sines at once, sent for 5 s, evaluated after 2 s).
public enum ZVEI {
    /// ZVEI1 tone frequencies in Hz for the digits 0–9.
    public static let digitFrequencies: [Double] = [2400, 1060, 1160, 1270, 1400, 1530, 1670, 1830, 2000, 2200]
    /// The repeat tone ("E"/"R").
    public static let repeatFrequency: Double = 2600
    public static let toneMilliseconds = 70

    /// Siren programs and their double tones (675 Hz plus a second tone).
    public enum SirenSignal: String, Sendable, CaseIterable {
        /// Fire brigade alarm (3 × 15 s steady tone).
        case fire
        /// Warning of the population (1 min rising and falling tone).
        case warning
        /// All clear (1 min steady tone).
        case allClear = "all-clear"
        /// Weekly test (15 s steady tone).
        case test

        public var frequencies: (Double, Double) {
            switch self {
            case .fire: (675, 1240)
            case .warning: (675, 825)
            case .allClear: (675, 1010)
            case .test: (675, 1860)
            }
        }
    }

    /// The tone frequencies of a call: digits, a repeated digit as the repeat tone.
    public static func frequencies(_ digits: String) throws(ZVEIError) -> [Double] {
        guard digits.count == 5 else { throw .notFiveDigits(digits) }
        var out: [Double] = []
        var previous: Character?
        for ch in digits {
            guard let d = ch.wholeNumberValue, ch.isASCII else { throw .notFiveDigits(digits) }
            out.append(ch == previous ? repeatFrequency : digitFrequencies[d])
            // After a repeat tone the next equal digit is a change again (1 1 1 → 1 E 1).
            previous = ch == previous ? nil : ch
        }
        return out
    }

    /// What a decoder prints for a call: the digits with each repeat as `E`.
    public static func decoderNotation(_ digits: String) throws(ZVEIError) -> String {
        let f = try frequencies(digits)
        return String(zip(digits, f).map { $1 == repeatFrequency ? "E" : $0 })
    }

    /// A call as 16-bit PCM at `sampleRate`, optionally followed by a siren double tone.
    public static func pcm(digits: String, siren: SirenSignal? = nil, sirenSeconds: Double = 5,
                           sampleRate: Int = 22_050, amplitude: Double = 12_000) throws(ZVEIError) -> [Int16] {
        var samples: [Int16] = []
        var phase = 0.0
        for (k, f) in try frequencies(digits).enumerated() {
            // Tone k ends at (k+1)·70 ms on the nearest sample (70 ms is 1543.5 samples), with a
            // continuous phase from tone to tone: no clicks a decoder could take for a tone.
            let end = (k + 1) * sampleRate * toneMilliseconds / 1000
            while samples.count < end {
                samples.append(Int16(amplitude * sin(phase)))
                phase += 2 * Double.pi * f / Double(sampleRate)
                if phase > 2 * Double.pi { phase -= 2 * Double.pi }
            }
        }
        if let siren {
            let (f1, f2) = siren.frequencies
            let n = Int(sirenSeconds * Double(sampleRate))
            for k in 0..<n {
                let t = Double(k) / Double(sampleRate)
                samples.append(Int16(amplitude / 2 * (sin(2 * Double.pi * f1 * t) + sin(2 * Double.pi * f2 * t))))
            }
        }
        return samples
    }

    /// How long `pcm` of a call with `digits` tones (and the siren) lasts, in whole ms.
    public static func airtimeMillis(digits: Int, siren: Bool, sirenSeconds: Double = 5, sampleRate: Int = 22_050) -> UInt64 {
        let samples = digits * sampleRate * toneMilliseconds / 1000 + (siren ? Int(sirenSeconds * Double(sampleRate)) : 0)
        return UInt64(samples) * 1000 / UInt64(sampleRate)
    }

    /// `pcm` as little-endian bytes.
    public static func pcmBytes(digits: String, siren: SirenSignal? = nil, sampleRate: Int = 22_050) throws(ZVEIError) -> [UInt8] {
        PCM.littleEndian(try pcm(digits: digits, siren: siren, sampleRate: sampleRate))
    }
}

/// Why a ZVEI call cannot be encoded.
public enum ZVEIError: Error, Equatable, Sendable, CustomStringConvertible {
    case notFiveDigits(String)
    public var description: String {
        switch self {
        case .notFiveDigits(let s): return "'\(s)' is no ZVEI address: five digits 0–9 are needed"
        }
    }
}
