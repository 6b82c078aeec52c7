import Dispatch
import Synchronization

/// A many-producer, one-consumer queue of jobs for a thread that owns non-Sendable state (a
/// replica, a SQLite handle): other threads only ever post values to it.
public final class Mailbox<Job: Sendable>: Sendable {
    private let jobs = Mutex<[Job]>([])
    private let wakeup = DispatchSemaphore(value: 0)

    public init() {}

    public func post(_ job: Job) {
        let wasEmpty = jobs.withLock { queue in
            defer { queue.append(job) }
            return queue.isEmpty
        }
        if wasEmpty { wakeup.signal() }
    }

    /// Takes every job queued now, oldest first, without waiting.
    public func takeNow() -> [Job] {
        jobs.withLock { queue in
            defer { queue.removeAll(keepingCapacity: true) }
            return queue
        }
    }

    /// Waits until there are jobs or `deadline` passes, then takes every job, oldest first
    /// (empty on timeout).
    public func takeAll(until deadline: DispatchTime = .distantFuture) -> [Job] {
        while true {
            let taken = jobs.withLock { queue in
                defer { queue.removeAll(keepingCapacity: true) }
                return queue
            }
            if !taken.isEmpty { return taken }
            if wakeup.wait(timeout: deadline) == .timedOut { return [] }
        }
    }
}
