/// POCSAG paging (ITU-R M.584-2): the codewords of a page and the NRZ baseband a transmitter keys.
///
/// A transmission is a preamble of 576 alternating bits, then batches: a sync codeword and 8
/// frames of 2 codewords. A pager with RIC `r` listens only in frame `r % 8`; its address codeword
/// goes there, and the message codewords follow it, across frame and batch borders. Every
/// codeword is 32 bits: a flag (0 address, 1 message), 20 data bits (address: the RIC's upper
/// 18 bits and the 2 function bits), 10 BCH(31,21) check bits and an even parity bit.
public enum POCSAG {
    public static let syncCodeword: UInt32 = 0x7CD2_15D8
    public static let idleCodeword: UInt32 = 0x7A89_C197
    public static let preambleBits = 576
    /// RICs are 21 bits.
    public static let maxRIC: UInt32 = (1 << 21) - 1

    /// The bit rates of M.584.
    public enum BitRate: Int, Sendable, CaseIterable {
        case b512 = 512, b1200 = 1200, b2400 = 2400
    }

    /// What a page carries.
    public enum Content: Equatable, Sendable {
        /// Tone only: the pager beeps for its function (A–D), no text.
        case tone
        /// Digits and the numeric set's few signs (`0-9`, `U`, space, `-`, `[`, `]`, `(`, `)`, `.`).
        case numeric(String)
        /// Text in 7-bit characters; German letters in DIN 66003 (Ä Ö Ü ä ö ü ß).
        case alphanumeric(String)
    }

    /// One page for one pager address.
    public struct Page: Equatable, Sendable {
        public var ric: UInt32
        /// 0–3: the sub-address (pager function A–D).
        public var function: UInt8
        public var content: Content
        public init(ric: UInt32, function: UInt8, content: Content) throws(PagingError) {
            guard ric <= POCSAG.maxRIC else { throw .ricOutOfRange(ric) }
            guard function <= 3 else { throw .functionOutOfRange(function) }
            self.ric = ric
            self.function = function
            self.content = content
            _ = try POCSAG.messageCodes(content)  // refuses characters the code cannot carry
        }
    }

    // MARK: - Codewords

    /// BCH(31,21) check bits and even parity around 21 data bits (`data` in bits 31…11).
    public static func codeword(data21 bits: UInt32) -> UInt32 {
        // Systematic BCH: the remainder of data·x^10 divided by g(x) = x^10+x^9+x^8+x^6+x^5+x^3+1.
        let generator: UInt32 = 0b111_0110_1001
        var remainder = bits >> 1  // data in bits 30…10 of a 31-bit word
        for bit in stride(from: 30, through: 10, by: -1) where remainder & (1 << UInt32(bit)) != 0 {
            remainder ^= generator << UInt32(bit - 10)
        }
        var word = (bits & 0xFFFF_F800) | ((remainder & 0x3FF) << 1)
        if word.nonzeroBitCount % 2 == 1 { word |= 1 }
        return word
    }

    /// The address codeword of `ric` with `function`.
    public static func addressCodeword(ric: UInt32, function: UInt8) -> UInt32 {
        codeword(data21: ((ric >> 3) & 0x3FFFF) << 13 | UInt32(function & 3) << 11)
    }

    /// A message codeword carrying 20 bits (first transmitted bit in bit 19).
    public static func messageCodeword(_ bits20: UInt32) -> UInt32 {
        codeword(data21: 0x8000_0000 | (bits20 & 0xFFFFF) << 11)
    }

    /// The numeric set (M.584 table): index = the 4-bit code.
    static let numericCodes: [Character: UInt8] = [
        "0": 0, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "6": 6, "7": 7, "8": 8, "9": 9,
        ".": 0xA, "U": 0xB, " ": 0xC, "-": 0xD, "]": 0xE, ")": 0xE, "[": 0xF, "(": 0xF,
    ]

    /// DIN 66003: the German reference version of ISO 646.
    static let din66003: [Character: UInt8] = ["Ä": 0x5B, "Ö": 0x5C, "Ü": 0x5D, "ä": 0x7B, "ö": 0x7C, "ü": 0x7D, "ß": 0x7E]

    /// The codes of a message's characters and their width in bits (4 numeric, 7 alphanumeric);
    /// it refuses what the code cannot carry. Plain ASCII takes a path without `Character`
    /// lookups (a saturated channel encodes thousands of pages).
    static func messageCodes(_ content: Content) throws(PagingError) -> (codes: [UInt8], width: Int) {
        switch content {
        case .tone:
            return ([], 7)
        case .numeric(let text):
            if text.utf8.allSatisfy({ $0 < 0x80 && numericASCII[Int($0)] != 0xFF }) {
                guard text.utf8.count <= 80 else { throw .messageTooLong(text.utf8.count, limit: 80) }
                return (text.utf8.map { numericASCII[Int($0)] }, 4)
            }
            guard text.count <= 80 else { throw .messageTooLong(text.count, limit: 80) }
            var codes: [UInt8] = []
            for ch in text {
                guard let code = numericCodes[ch] else { throw .notEncodable(ch, "numeric") }
                codes.append(code)
            }
            return (codes, 4)
        case .alphanumeric(let text):
            if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && !alphanumericReserved.contains($0) }) {
                guard text.utf8.count <= 240 else { throw .messageTooLong(text.utf8.count, limit: 240) }
                return (Array(text.utf8), 7)
            }
            guard text.count <= 240 else { throw .messageTooLong(text.count, limit: 240) }
            var codes: [UInt8] = []
            for ch in text {
                if let german = din66003[ch] {
                    codes.append(german)
                } else if let ascii = ch.asciiValue, ascii >= 0x20, ascii < 0x7F, !alphanumericReserved.contains(ascii) {
                    codes.append(ascii)
                } else {
                    throw .notEncodable(ch, "alphanumeric (7-bit, DIN 66003)")
                }
            }
            return (codes, 7)
        }
    }

    /// The ASCII characters DIN 66003 gives to German letters (`[\]{|}~`): not sent as such.
    private static let alphanumericReserved: Set<UInt8> = Set("[\\]{|}~".utf8)
    /// `numericCodes` by ASCII byte (0xFF: not in the set).
    private static let numericASCII: [UInt8] = (0..<128).map { b in
        numericCodes[Character(Unicode.Scalar(UInt8(b)))] ?? 0xFF
    }

    /// A message's bits in transmission order (each character least significant bit first).
    static func messageBits(_ content: Content) throws(PagingError) -> [Bool] {
        let (codes, width) = try messageCodes(content)
        var bits: [Bool] = []
        bits.reserveCapacity(codes.count * width + 20)
        for code in codes {
            for k in 0..<width { bits.append(code >> UInt8(k) & 1 == 1) }
        }
        // Pad the last codeword of a numeric message with spaces (the pager ignores them).
        if case .numeric = content {
            while bits.count % 20 != 0 { for k in 0..<4 { bits.append(0xC >> UInt8(k) & 1 == 1) } }
        }
        return bits
    }

    /// The message codewords of `content` (none for a tone-only page).
    static func messageCodewords(_ content: Content) throws(PagingError) -> [UInt32] {
        let bits = try messageBits(content)
        var words: [UInt32] = []
        var k = 0
        while k < bits.count {
            var chunk: UInt32 = 0
            for j in 0..<20 { chunk = chunk << 1 | (k + j < bits.count && bits[k + j] ? 1 : 0) }
            words.append(messageCodeword(chunk))
            k += 20
        }
        return words
    }

    /// How many message codewords `content` takes (0 for tone only; a valid page's content).
    public static func messageCodewordCount(_ content: Content) -> Int {
        guard let (codes, width) = try? messageCodes(content) else { return 0 }
        return (codes.count * width + 19) / 20
    }

    // MARK: - Batches

    /// The batches of a transmission carrying `pages` in this order, each as 17 codewords starting
    /// with the sync codeword. Each page's address goes into its RIC's frame — the next codeword
    /// that belongs to it, in this batch or the next; the codeword after the last message codeword is an idle
    /// or the next address, as pagers (and decoders) need to see the message end.
    public static func batches(_ pages: [Page]) throws(PagingError) -> [[UInt32]] {
        var slots: [UInt32] = []  // codewords after the preamble, without sync words
        for page in pages {
            let frame = Int(page.ric & 7)
            // Idle up to the RIC's frame (in this batch or the next); either of the frame's two
            // codewords may carry the address, so two pages can share a frame.
            while (slots.count % 16) / 2 != frame {
                slots.append(idleCodeword)
            }
            slots.append(addressCodeword(ric: page.ric, function: page.function))
            slots += try messageCodewords(page.content)
        }
        slots.append(idleCodeword)  // the end of the last message
        while slots.count % 16 != 0 { slots.append(idleCodeword) }
        return stride(from: 0, to: slots.count, by: 16).map { [syncCodeword] + slots[$0..<$0 + 16] }
    }

    /// The transmission's bits: preamble (1010…), then every batch, most significant bit first.
    public static func bits(_ batches: [[UInt32]]) -> [Bool] {
        var out = [Bool]()
        out.reserveCapacity(preambleBits + batches.count * 17 * 32)
        for k in 0..<preambleBits { out.append(k % 2 == 0) }
        for batch in batches {
            for word in batch {
                for b in stride(from: 31, through: 0, by: -1) { out.append(word >> UInt32(b) & 1 == 1) }
            }
        }
        return out
    }

    /// NRZ baseband as the transmitter's FM modulator takes it: signed 16-bit PCM at
    /// `sampleRate`, a positive level for a 0 bit and a negative one for a 1 (M.584: a 1 is the
    /// lower frequency). Bit edges fall on the nearest sample, so no drift builds up at rates that
    /// do not divide the sample rate.
    public static func pcm(_ bits: [Bool], rate: BitRate, sampleRate: Int = 22_050, amplitude: Int16 = 16_000) -> [Int16] {
        let total = bits.count * sampleRate / rate.rawValue
        var samples = [Int16]()
        samples.reserveCapacity(total + 1)
        for (k, bit) in bits.enumerated() {
            let end = (k + 1) * sampleRate / rate.rawValue
            let level = bit ? -amplitude : amplitude
            while samples.count < end { samples.append(level) }
        }
        return samples
    }

    /// One transmission of `pages` as PCM (little-endian bytes).
    public static func transmission(_ pages: [Page], rate: BitRate, sampleRate: Int = 22_050) throws(PagingError) -> [UInt8] {
        PCM.littleEndian(pcm(bits(try batches(pages)), rate: rate, sampleRate: sampleRate))
    }
}

/// Why a page cannot be encoded.
public enum PagingError: Error, Equatable, Sendable, CustomStringConvertible {
    case ricOutOfRange(UInt32)
    case functionOutOfRange(UInt8)
    case notEncodable(Character, String)
    case messageTooLong(Int, limit: Int)

    public var description: String {
        switch self {
        case .ricOutOfRange(let r): return "RIC \(r) is out of range (0…\(POCSAG.maxRIC))"
        case .functionOutOfRange(let f): return "function \(f) is out of range (0…3, the pager's sub-addresses A–D)"
        case let .notEncodable(ch, set): return "'\(ch)' cannot be sent in the \(set) character set"
        case let .messageTooLong(n, limit): return "message of \(n) characters over the limit of \(limit)"
        }
    }
}
