/// A priority queue of events ordered by (virtual time, insertion sequence): ties break by the
/// order of scheduling, so the history is a function of the seed alone.
///
/// The heap holds only keys and a slot number; the events wait in `slots` and never move (an
/// event is large — messages, gateway inputs — and moving it on every sift step cost a tenth
/// of a simulation).
struct EventQueue<Event> {
    private struct Key {
        var time: UInt64
        var seq: UInt64
        var slot: Int
        func before(_ other: Key) -> Bool { time != other.time ? time < other.time : seq < other.seq }
    }

    private var heap: [Key] = []
    private var slots: [Event?] = []
    private var free: [Int] = []
    private var nextSeq: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    mutating func push(_ event: Event, at time: UInt64) {
        let slot: Int
        if let f = free.popLast() {
            slot = f
            slots[f] = event
        } else {
            slot = slots.count
            slots.append(event)
        }
        let key = Key(time: time, seq: nextSeq, slot: slot)
        nextSeq += 1
        heap.append(key)
        var k = heap.count - 1
        while k > 0 {
            let parent = (k - 1) / 2
            guard key.before(heap[parent]) else { break }
            heap[k] = heap[parent]
            k = parent
        }
        heap[k] = key
    }

    mutating func pop() -> (time: UInt64, event: Event)? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            var k = 0
            let n = heap.count
            while true {
                let l = 2 * k + 1, r = l + 1
                var m = l
                guard l < n else { break }
                if r < n, heap[r].before(heap[l]) { m = r }
                guard heap[m].before(last) else { break }
                heap[k] = heap[m]
                k = m
            }
            heap[k] = last
        }
        let event = slots[top.slot].take()!
        free.append(top.slot)
        return (top.time, event)
    }
}
