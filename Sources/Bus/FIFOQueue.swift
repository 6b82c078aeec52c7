/// A first-in first-out queue over an array and a head index: append and removeFirst are O(1)
/// amortized, and elements are reachable by position. Removed slots are released at once (so a
/// trimmed message's payload is freed) and the array is compacted when the dead prefix is at least
/// half of it.
public struct FIFOQueue<Element> {
    private var storage: [Element?] = []
    private var head = 0

    public init() {}

    public var count: Int { storage.count - head }
    public var isEmpty: Bool { head == storage.count }
    public var first: Element? { isEmpty ? nil : storage[head] }

    /// The element at `position` (0 = the head).
    subscript(position: Int) -> Element {
        precondition(position >= 0 && position < count, "FIFOQueue position out of range")
        return storage[head + position]!
    }

    public mutating func append(_ element: Element) { storage.append(element) }

    @discardableResult
    public mutating func removeFirst() -> Element {
        precondition(!isEmpty, "removeFirst on an empty FIFOQueue")
        let element = storage[head]!
        storage[head] = nil
        head += 1
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 && head * 2 >= storage.count {
            storage.removeSubrange(0..<head)
            head = 0
        }
        return element
    }

    /// The head, removed; nil when empty.
    public mutating func popFirst() -> Element? { isEmpty ? nil : removeFirst() }

    /// The elements from head to tail.
    var elements: some Sequence<Element> { storage[head...].lazy.map { $0! } }
}

/// A binary min-heap of (deadline, topic): which topic's oldest message expires first. Derived
/// from the topics (rebuilt on restore), never part of the snapshot.
struct ExpiryHeap {
    struct Item {
        var deadline: UInt64
        var topic: TopicName
    }

    private var items: [Item] = []

    var min: Item? { items.first }

    mutating func removeAll() { items.removeAll() }

    mutating func push(_ item: Item) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].deadline < items[parent].deadline else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    @discardableResult
    mutating func popMin() -> Item? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count && items[left].deadline < items[smallest].deadline { smallest = left }
            if right < items.count && items[right].deadline < items[smallest].deadline { smallest = right }
            guard smallest != parent else { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
