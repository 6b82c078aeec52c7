/// A priority queue of events ordered by (virtual time, insertion sequence): ties break by the
/// order of scheduling, so the history is a function of the seed alone.
struct EventQueue<Event> {
    private struct Item {
        var time: UInt64
        var seq: UInt64
        var event: Event
        func before(_ other: Item) -> Bool { time != other.time ? time < other.time : seq < other.seq }
    }

    private var heap: [Item] = []
    private var nextSeq: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    mutating func push(_ event: Event, at time: UInt64) {
        heap.append(Item(time: time, seq: nextSeq, event: event))
        nextSeq += 1
        var k = heap.count - 1
        while k > 0 {
            let parent = (k - 1) / 2
            guard heap[k].before(heap[parent]) else { break }
            heap.swapAt(k, parent)
            k = parent
        }
    }

    mutating func pop() -> (time: UInt64, event: Event)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var k = 0
        while true {
            let l = 2 * k + 1, r = l + 1
            var m = k
            if l < heap.count, heap[l].before(heap[m]) { m = l }
            if r < heap.count, heap[r].before(heap[m]) { m = r }
            if m == k { break }
            heap.swapAt(k, m)
            k = m
        }
        return (top.time, top.event)
    }
}
