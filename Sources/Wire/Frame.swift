/// Length-prefixed frames on a byte stream: a 4-byte big-endian payload length, then the payload.
///
/// Every endpoint fixes a maximum payload size and refuses larger frames on both sides, so one
/// peer cannot make another buffer without bound.
public enum Frame {
    /// Bytes of the length header.
    public static let headerByteCount = 4

    /// `payload` with its header.
    ///
    /// - Throws: `WireError.frameTooLarge` when `payload` exceeds `maxPayloadSize`.
    public static func encode(_ payload: some Collection<UInt8>, maxPayloadSize: Int) throws(WireError) -> [UInt8] {
        var writer = ByteWriter(capacity: headerByteCount + payload.count)
        try append(payload, to: &writer, maxPayloadSize: maxPayloadSize)
        return writer.bytes
    }

    /// Appends `payload` with its header to `writer`, to put several frames in one write.
    ///
    /// - Throws: `WireError.frameTooLarge` when `payload` exceeds `maxPayloadSize`; nothing is written.
    public static func append(_ payload: some Collection<UInt8>, to writer: inout ByteWriter, maxPayloadSize: Int) throws(WireError) {
        let limit = min(maxPayloadSize, Int(UInt32.max))
        guard payload.count <= limit else { throw .frameTooLarge(size: payload.count, limit: limit) }
        writer.writeUInt32(UInt32(payload.count))
        writer.writeBytes(payload)
    }
}

/// Cuts a byte stream into frames (see `Frame`), whatever the chunks it arrives in.
///
/// Buffers at most one incomplete frame beyond what the caller has appended and not yet taken.
/// A header announcing more than `maxPayloadSize` bytes is refused as soon as its four bytes are in,
/// before any of the payload is buffered. After that refusal the decoder stays failed: a stream
/// cannot be resynchronised past a bad length, so the connection must be closed.
public struct FrameDecoder: Sendable {
    /// The largest payload accepted, in bytes.
    public let maxPayloadSize: Int
    private var buffer: [UInt8] = []
    /// Offset in `buffer` of the first byte not yet returned in a frame.
    private var start = 0
    private var failure: WireError?

    public init(maxPayloadSize: Int) {
        precondition(maxPayloadSize >= 0, "negative frame size limit")
        self.maxPayloadSize = min(maxPayloadSize, Int(UInt32.max))
    }

    /// Bytes appended but not yet returned in a frame.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Adds bytes received from the stream.
    public mutating func append(_ chunk: some Sequence<UInt8>) {
        guard failure == nil else { return }
        compact()
        buffer.append(contentsOf: chunk)
    }

    /// The next complete frame's payload, or nil until more bytes arrive.
    ///
    /// - Throws: `WireError.frameTooLarge` once a header exceeds the limit, and on every call after.
    public mutating func nextFrame() throws(WireError) -> [UInt8]? {
        if let failure { throw failure }
        guard bufferedByteCount >= Frame.headerByteCount else { return nil }
        let size = buffer.withUnsafeBytes {
            Int(UInt32(bigEndian: $0.loadUnaligned(fromByteOffset: start, as: UInt32.self)))
        }
        guard size <= maxPayloadSize else {
            let error = WireError.frameTooLarge(size: size, limit: maxPayloadSize)
            failure = error
            buffer = []
            start = 0
            throw error
        }
        guard bufferedByteCount - Frame.headerByteCount >= size else { return nil }
        let payloadStart = start + Frame.headerByteCount
        start = payloadStart + size
        return Array(buffer[payloadStart..<start])
    }

    /// Appends `chunk` and returns every frame it completes, in order.
    ///
    /// - Throws: `WireError.frameTooLarge` as `nextFrame()`; frames completed before the oversize
    ///   header are lost with the connection.
    public mutating func feed(_ chunk: some Sequence<UInt8>) throws(WireError) -> [[UInt8]] {
        append(chunk)
        var frames: [[UInt8]] = []
        while let frame = try nextFrame() { frames.append(frame) }
        return frames
    }

    /// Drops returned bytes once they are at least half the buffer, so appends stay amortised O(1).
    private mutating func compact() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 0 && start >= buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
    }
}
