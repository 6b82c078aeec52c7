import Foundation

/// A line editor for the interactive console on a terminal (VT100/xterm escape sequences): the
/// prompt at the bottom, editing with ←/→, Home/End (Ctrl-A/E), Backspace/Delete, Ctrl-U/Ctrl-W,
/// history with ↑/↓, completion with Tab; lines from elsewhere (the live feed) are printed above
/// the prompt without disturbing what is being typed. Reads stdin itself (raw mode, restored on
/// every exit path through `close`).
public final class LineEditor {
    public enum Input { case line(String), endOfInput }

    private var original = termios()
    private var raw = false
    private var buffer: [Character] = []
    private var cursor = 0
    private var history: [String] = []
    private var historyIndex: Int?
    private var pending: [UInt8] = []
    public var prompt: String
    /// Candidates for the word being completed: (words before it, its prefix) → completions.
    public var complete: ([String], String) -> [String] = { _, _ in [] }

    public init(prompt: String) {
        self.prompt = prompt
        guard tcgetattr(0, &original) == 0 else { return }
        var t = original
        t.c_lflag &= ~tcflag_t(ECHO | ICANON)
        t.c_iflag &= ~tcflag_t(IXON | ICRNL)
        withUnsafeMutablePointer(to: &t.c_cc) { ptr in
            ptr.withMemoryRebound(to: cc_t.self, capacity: Int(NCCS)) { cc in
                cc[Int(VMIN)] = 1
                cc[Int(VTIME)] = 0
            }
        }
        raw = tcsetattr(0, TCSANOW, &t) == 0
        redraw()
    }

    /// Restores the terminal.
    public func close() {
        if raw { tcsetattr(0, TCSANOW, &original) }
        raw = false
        write("\r\n")
    }

    private func write(_ s: String) { FileHandle.standardOutput.write(Data(s.utf8)) }

    /// Prints `text` above the prompt line and redraws the prompt with what is typed.
    public func printAbove(_ text: String) {
        write("\r\u{1B}[K" + text.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n")
        redraw()
    }

    private func redraw() {
        let line = String(buffer)
        let back = buffer.count - cursor
        write("\r\u{1B}[K" + prompt + line + (back > 0 ? "\u{1B}[\(back)D" : ""))
    }

    /// Waits up to `timeoutMillis` for keys; returns a finished line, end of input, or nil.
    public func poll(timeoutMillis: Int32) -> Input? {
        var fds = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
        if pending.isEmpty {
            guard Glibc.poll(&fds, 1, timeoutMillis) > 0 else { return nil }
            var chunk = [UInt8](repeating: 0, count: 256)
            let n = read(0, &chunk, 256)
            if n <= 0 { return .endOfInput }
            pending += chunk[0..<n]
        }
        while !pending.isEmpty {
            if let result = key() { return result }
        }
        return nil
    }

    /// Handles one key from `pending`; returns a line on Enter.
    private func key() -> Input? {
        let b = pending.removeFirst()
        switch b {
        case 0x0D, 0x0A:
            let line = String(buffer)
            write("\r\n")
            if !line.trimmingCharacters(in: .whitespaces).isEmpty, history.last != line { history.append(line) }
            buffer = []
            cursor = 0
            historyIndex = nil
            return .line(line)
        case 0x04:
            if buffer.isEmpty { return .endOfInput }
        case 0x03:
            buffer = []
            cursor = 0
            write("^C\r\n")
        case 0x01: cursor = 0
        case 0x05: cursor = buffer.count
        case 0x15:
            buffer.removeFirst(cursor)
            cursor = 0
        case 0x17:
            var start = cursor
            while start > 0 && buffer[start - 1] == " " { start -= 1 }
            while start > 0 && buffer[start - 1] != " " { start -= 1 }
            buffer.removeSubrange(start..<cursor)
            cursor = start
        case 0x7F, 0x08:
            if cursor > 0 {
                buffer.remove(at: cursor - 1)
                cursor -= 1
            }
        case 0x09: tab()
        case 0x1B: escape()
        default:
            guard b >= 0x20 else { break }
            // UTF-8: collect the whole character.
            var bytes = [b]
            let extra = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : 0
            while bytes.count <= extra, !pending.isEmpty { bytes.append(pending.removeFirst()) }
            for c in String(decoding: bytes, as: UTF8.self) {
                buffer.insert(c, at: cursor)
                cursor += 1
            }
        }
        redraw()
        return nil
    }

    private func escape() {
        guard pending.first == 0x5B || pending.first == 0x4F else { return }
        pending.removeFirst()
        guard !pending.isEmpty else { return }
        let code = pending.removeFirst()
        switch code {
        case 0x41: historyStep(-1)
        case 0x42: historyStep(1)
        case 0x43: cursor = min(buffer.count, cursor + 1)
        case 0x44: cursor = max(0, cursor - 1)
        case 0x48: cursor = 0
        case 0x46: cursor = buffer.count
        case 0x33:
            if pending.first == 0x7E { pending.removeFirst() }
            if cursor < buffer.count { buffer.remove(at: cursor) }
        default:
            while let c = pending.first, !(0x40...0x7E).contains(c) { pending.removeFirst() }
            if !pending.isEmpty { pending.removeFirst() }
        }
    }

    private func historyStep(_ d: Int) {
        guard !history.isEmpty else { return }
        let next = (historyIndex ?? history.count) + d
        guard next >= 0 else { return }
        if next >= history.count {
            historyIndex = nil
            buffer = []
        } else {
            historyIndex = next
            buffer = Array(history[next])
        }
        cursor = buffer.count
    }

    /// Completes the word before the cursor: the common prefix of the candidates, or lists them.
    private func tab() {
        let before = String(buffer[..<cursor])
        var words = before.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        let prefix = before.hasSuffix(" ") || before.isEmpty ? "" : (words.popLast() ?? "")
        let candidates = complete(words, prefix).filter { $0.lowercased().hasPrefix(prefix.lowercased()) }.sorted()
        guard !candidates.isEmpty else { return }
        var common = candidates[0]
        for c in candidates.dropFirst() { while !c.lowercased().hasPrefix(common.lowercased()) { common.removeLast() } }
        if common.count > prefix.count || candidates.count == 1 {
            let insert = Array(candidates.count == 1 ? candidates[0] + " " : common)
            buffer.replaceSubrange((cursor - prefix.count)..<cursor, with: insert)
            cursor += insert.count - prefix.count
        } else {
            write("\r\n" + candidates.prefix(40).joined(separator: "  ") + (candidates.count > 40 ? "  …" : "") + "\r\n")
        }
    }
}
