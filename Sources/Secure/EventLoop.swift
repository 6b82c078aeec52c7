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

/// A single-threaded epoll loop: many connections, no thread per connection. Everything it owns
/// is touched only on its thread; other threads hand it work through `execute`.
final class EventLoop {
    private let epoll: Int32
    private let wakeFD: Int32
    private var handlers: [Int32: EventHandler] = [:]
    private var timers: [(deadline: UInt64, id: UInt64, action: () -> Void)] = []
    private var nextTimer: UInt64 = 0
    private let inbox = InboxQueue()

    /// A closure queue other threads may post to; the closures run on the loop's thread.
    final class InboxQueue: Sendable {
        private let jobs = Mutex<[@Sendable () -> Void]>([])
        let stopped = Mutex(false)
        func post(_ job: @escaping @Sendable () -> Void) { jobs.withLock { $0.append(job) } }
        func take() -> [@Sendable () -> Void] {
            jobs.withLock { j in
                defer { j.removeAll() }
                return j
            }
        }
    }

    init() throws {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard epoll >= 0, wakeFD >= 0 else { throw SocketError.system("epoll/eventfd", errno) }
        var ev = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(fd: wakeFD))
        epoll_ctl(epoll, EPOLL_CTL_ADD, wakeFD, &ev)
    }

    deinit {
        close(epoll)
        close(wakeFD)
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

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
    func schedule(after nanoseconds: UInt64, _ action: @escaping () -> Void) -> UInt64 {
        nextTimer += 1
        timers.append((Self.now() + nanoseconds, nextTimer, action))
        return nextTimer
    }

    func cancel(timer id: UInt64) { timers.removeAll { $0.id == id } }

    /// Runs `job` on the loop's thread (callable from any thread).
    func execute(_ job: @escaping @Sendable () -> Void) {
        inbox.post(job)
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Ends `run` (callable from any thread).
    func stop() {
        inbox.stopped.withLock { $0 = true }
        execute {}
    }

    /// The loop; returns after `stop`.
    func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        while !inbox.stopped.withLock({ $0 }) {
            let now = Self.now()
            let nextDeadline = timers.map(\.deadline).min()
            let timeoutMs = nextDeadline.map { $0 <= now ? 0 : Int32(min(100, ($0 - now) / 1_000_000 + 1)) } ?? 100
            let n = epoll_wait(epoll, &events, Int32(events.count), timeoutMs)
            if n > 0 {
                for k in 0..<Int(n) {
                    let fd = events[k].data.fd
                    if fd == wakeFD {
                        var value: UInt64 = 0
                        _ = read(wakeFD, &value, 8)
                        continue
                    }
                    let flags = events[k].events
                    if flags & (EPOLLOUT.rawValue) != 0 { handlers[fd]?.writable() }
                    if flags & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue | EPOLLRDHUP.rawValue) != 0 {
                        handlers[fd]?.readable()
                    }
                }
            }
            for job in inbox.take() { job() }
            let t = Self.now()
            let due = timers.filter { $0.deadline <= t }
            if !due.isEmpty {
                timers.removeAll { $0.deadline <= t }
                for d in due { d.action() }
            }
        }
    }
}

public enum SocketError: Error, CustomStringConvertible {
    case system(String, Int32)
    public var description: String {
        switch self {
        case let .system(call, code): return "\(call): \(String(cString: strerror(code)))"
        }
    }
}
