import Foundation
internal import CEpoll
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Something the event loop watches: told when its descriptor is readable or writable.
protocol EventHandler: AnyObject {
    var fd: Int32 { get }
    func readable()
    func writable()
}

/// A single-threaded epoll loop: many connections, timers and posted jobs, no thread per
/// connection. Everything it owns is touched only on its thread (the one that calls `run`);
/// other threads reach it only through its `handle`.
public final class EventLoop {
    private let epoll: Int32
    private var handlers: [Int32: EventHandler] = [:]
    private var timers: [(deadline: UInt64, id: UInt64, action: () -> Void)] = []
    private var nextTimer: UInt64 = 0
    /// Work to do once the current batch of events is handled (e.g. one flush per connection
    /// for all the frames queued on it in this iteration).
    private var endOfIteration: [() -> Void] = []
    /// Called on every iteration after posted jobs (an owner drains its own queues here).
    public var everyIteration: (() -> Void)?
    /// What other threads may use: post jobs, stop.
    public let handle: LoopHandle

    /// The thread-safe side of an event loop: posts jobs to it and stops it. The eventfd that
    /// wakes the loop belongs to the handle, so a handle outliving its loop only writes to a
    /// descriptor it still owns.
    public final class LoopHandle: Sendable {
        private let jobs = Mutex<[@Sendable () -> Void]>([])
        private let stopped = Mutex(false)
        let wakeFD: Int32

        init() throws {
            wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
            guard wakeFD >= 0 else { throw SocketError.system("eventfd", errno) }
        }

        deinit { close(wakeFD) }

        /// Runs `job` on the loop's thread, after the events being handled now.
        public func execute(_ job: @escaping @Sendable () -> Void) {
            let wasEmpty = jobs.withLock { j in
                defer { j.append(job) }
                return j.isEmpty
            }
            if wasEmpty {
                var one: UInt64 = 1
                _ = write(wakeFD, &one, 8)
            }
        }

        /// Ends `run` after the current iteration.
        public func stop() {
            stopped.withLock { $0 = true }
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }

        var isStopped: Bool { stopped.withLock { $0 } }

        func take() -> [@Sendable () -> Void] {
            jobs.withLock { j in
                defer { j.removeAll(keepingCapacity: true) }
                return j
            }
        }
    }

    public init() throws {
        handle = try LoopHandle()
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw SocketError.system("epoll_create1", errno) }
        var ev = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(fd: handle.wakeFD))
        epoll_ctl(epoll, EPOLL_CTL_ADD, handle.wakeFD, &ev)
    }

    deinit { close(epoll) }

    /// Monotonic nanoseconds.
    public static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// A duration in the loop's unit (nanoseconds; negative durations count as 0).
    public static func nanoseconds(_ d: Duration) -> UInt64 {
        let (s, atto) = d.components
        guard s >= 0 else { return 0 }
        return UInt64(s) * 1_000_000_000 + UInt64(max(0, atto) / 1_000_000_000)
    }

    func register(_ h: EventHandler, writable: Bool) {
        handlers[h.fd] = h
        var ev = epoll_event(events: EPOLLIN.rawValue | (writable ? EPOLLOUT.rawValue : 0) | EPOLLRDHUP.rawValue,
                             data: epoll_data_t(fd: h.fd))
        epoll_ctl(epoll, EPOLL_CTL_ADD, h.fd, &ev)
    }

    func update(_ h: EventHandler, readable: Bool = true, writable: Bool) {
        var ev = epoll_event(events: (readable ? EPOLLIN.rawValue | EPOLLRDHUP.rawValue : 0) | (writable ? EPOLLOUT.rawValue : 0),
                             data: epoll_data_t(fd: h.fd))
        epoll_ctl(epoll, EPOLL_CTL_MOD, h.fd, &ev)
    }

    func unregister(_ h: EventHandler) {
        epoll_ctl(epoll, EPOLL_CTL_DEL, h.fd, nil)
        handlers[h.fd] = nil
    }

    var connectionCount: Int { handlers.count }

    /// Runs `action` on the loop after `nanoseconds`; returns an id for `cancel`.
    @discardableResult
    public func schedule(after nanoseconds: UInt64, _ action: @escaping () -> Void) -> UInt64 {
        nextTimer += 1
        timers.append((Self.now() + nanoseconds, nextTimer, action))
        return nextTimer
    }

    public func cancel(timer id: UInt64) { timers.removeAll { $0.id == id } }

    /// Runs `action` once the events of the current iteration are handled.
    func atEndOfIteration(_ action: @escaping () -> Void) { endOfIteration.append(action) }

    /// The loop; returns after `handle.stop()`.
    public func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        while !handle.isStopped {
            let now = Self.now()
            var nextDeadline: UInt64?
            for t in timers where t.deadline < (nextDeadline ?? .max) { nextDeadline = t.deadline }
            // No deadline: sleep until an event or a posted job (no idle wake-ups).
            let timeoutMs = nextDeadline.map { $0 <= now ? 0 : Int32(min(60_000, ($0 - now + 999_999) / 1_000_000)) } ?? -1
            let n = epoll_wait(epoll, &events, Int32(events.count), timeoutMs)
            if n > 0 {
                for k in 0..<Int(n) {
                    let fd = events[k].data.fd
                    if fd == handle.wakeFD {
                        var value: UInt64 = 0
                        _ = read(handle.wakeFD, &value, 8)
                        continue
                    }
                    let flags = events[k].events
                    if flags & (EPOLLOUT.rawValue) != 0 { handlers[fd]?.writable() }
                    if flags & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue | EPOLLRDHUP.rawValue) != 0 {
                        handlers[fd]?.readable()
                    }
                }
            }
            for job in handle.take() { job() }
            everyIteration?()
            if !timers.isEmpty {
                let t = Self.now()
                if timers.contains(where: { $0.deadline <= t }) {
                    let due = timers.filter { $0.deadline <= t }.sorted { $0.deadline < $1.deadline }
                    timers.removeAll { $0.deadline <= t }
                    for d in due { d.action() }
                }
            }
            while !endOfIteration.isEmpty {
                let actions = endOfIteration
                endOfIteration.removeAll()
                for a in actions { a() }
            }
        }
    }
}

@available(*, unavailable)
extension EventLoop: Sendable {}

public enum SocketError: Error, CustomStringConvertible {
    case system(String, Int32)
    public var description: String {
        switch self {
        case let .system(call, code): return "\(call): \(String(cString: strerror(code)))"
        }
    }
}
