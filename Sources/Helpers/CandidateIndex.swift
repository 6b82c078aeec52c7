/// Volunteers by place: a uniform grid of `bucketSize` metres over their home cells, so a wave's
/// candidates near a place are found by visiting the buckets that intersect the search circle
/// instead of every volunteer. Cost of a query: the buckets in the circle plus the volunteers in
/// them; building: one pass. Values are positions in the caller's volunteer array.
public struct CandidateIndex: Sendable {
    public let bucketSize: Int64
    private var buckets: [Int64: [Int32]] = [:]
    /// The bounding box of the buckets ever used (rings beyond it are empty).
    private var minX = Int64.max, maxX = Int64.min, minY = Int64.max, maxY = Int64.min

    public init(bucketSize: Int64 = 500) { self.bucketSize = bucketSize }

    static func key(_ bx: Int64, _ by: Int64) -> Int64 { (bx << 32) ^ (by & 0xFFFF_FFFF) }

    public mutating func insert(_ slot: Int32, at p: GridPoint) {
        let bx = floorDiv(p.x, bucketSize), by = floorDiv(p.y, bucketSize)
        buckets[Self.key(bx, by), default: []].append(slot)
        minX = min(minX, bx); maxX = max(maxX, bx); minY = min(minY, by); maxY = max(maxY, by)
    }

    public mutating func remove(_ slot: Int32, at p: GridPoint) {
        let k = Self.key(floorDiv(p.x, bucketSize), floorDiv(p.y, bucketSize))
        buckets[k]?.removeAll { $0 == slot }
        if buckets[k]?.isEmpty == true { buckets[k] = nil }
    }

    /// Every slot whose point may lie within `radius` of `centre` (the caller checks the exact
    /// distance), bucket by bucket in a fixed order — never dictionary order.
    public func slots(near centre: GridPoint, radius: Double, _ body: (Int32) -> Void) {
        let r = Int64(radius.rounded(.up))
        let x0 = floorDiv(centre.x - r, bucketSize), x1 = floorDiv(centre.x + r, bucketSize)
        let y0 = floorDiv(centre.y - r, bucketSize), y1 = floorDiv(centre.y + r, bucketSize)
        if (x1 - x0 + 1) * (y1 - y0 + 1) > Int64(buckets.count) * 4 {
            // A circle larger than the populated area: walk the buckets themselves, sorted.
            for k in buckets.keys.sorted() { for s in buckets[k]! { body(s) } }
            return
        }
        for bx in x0...x1 { for by in y0...y1 { if let b = buckets[Self.key(bx, by)] { for s in b { body(s) } } } }
    }

    /// The slots ring by ring outwards from `centre`'s bucket up to `radius`: ring k holds the
    /// buckets at Chebyshev distance k, whose points are at least (k − 1) × `bucketSize` away.
    /// `visit` gets each ring's slots and returns false to stop (a k-nearest search stops once
    /// its worst pick is nearer than the next ring can be).
    public func rings(near centre: GridPoint, radius: Double, _ visit: (_ ring: Int, _ slots: [Int32]) -> Bool) {
        let cx = floorDiv(centre.x, bucketSize), cy = floorDiv(centre.y, bucketSize)
        guard !buckets.isEmpty else { return }
        let extent = max(cx - minX, maxX - cx, cy - minY, maxY - cy, 0)
        let last = Int(min(Double(extent), min(radius, 1e7) / Double(bucketSize) + 1))
        var ring: [Int32] = []
        for k in 0...last {
            ring.removeAll(keepingCapacity: true)
            let k64 = Int64(k)
            if k == 0 {
                if let b = buckets[Self.key(cx, cy)] { ring += b }
            } else {
                for bx in (cx - k64)...(cx + k64) {
                    if let b = buckets[Self.key(bx, cy - k64)] { ring += b }
                    if let b = buckets[Self.key(bx, cy + k64)] { ring += b }
                }
                for by in (cy - k64 + 1)...(cy + k64 - 1) {
                    if let b = buckets[Self.key(cx - k64, by)] { ring += b }
                    if let b = buckets[Self.key(cx + k64, by)] { ring += b }
                }
            }
            if !visit(k, ring) { return }
        }
    }

    func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : (a - b + 1) / b }
}
