import CEpoll
import Consensus
import Secure
import Foundation
import Store
import Synchronization

/// Counts of what a `ThreadedLogStorage` wrote, readable from any thread.
public final class IOCounters: Sendable {
    private let counts = Mutex<(transactions: Int, batches: Int, entries: Int)>((0, 0, 0))
    public init() {}
    func record(batches: Int, entries: Int) {
        counts.withLock { c in
            c.transactions += 1
            c.batches += batches
            c.entries += entries
        }
    }
    public var snapshot: (transactions: Int, batches: Int, entries: Int) { counts.withLock { $0 } }
}

/// A `SQLiteLogStorage` on a thread of its own, so the replica's thread goes on receiving,
/// proposing and ticking while an fsync runs — and everything that arrives meanwhile goes into
/// the next batch (group commit). The SQLite handle lives and dies on the IO thread.
///
/// Used from the replica's thread only. `persist` returns at once; when the batch is durable the
/// storage calls `notify(token, error)` from the IO thread, and the replica's thread must then call
/// `completed(token:error:)`, which runs the `done` callback there.
public final class ThreadedLogStorage: LogStorage {
    private enum IOJob: Sendable {
        case recover(reply: Mailbox<RecoverReply>)
        case persist(token: UInt64, PersistBatch)
        case stop
    }

    private enum RecoverReply: Sendable {
        case recovered(RecoveredLog)
        case failed(String)
    }

    /// A storage failure carried across threads as its description.
    public struct IOError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    private let io = Mailbox<IOJob>()
    /// Transactions (each one fsync), the Ready batches they carried, and entries written.
    public let counters: IOCounters
    private var waiting: [UInt64: (Result<Void, any Error>) -> Void] = [:]
    private var nextToken: UInt64 = 0

    /// Opens the log at `path` on a new IO thread. `notify` is called on the IO thread after each
    /// batch; it must hand the token to the replica's thread.
    public init(path: String, counters: IOCounters = IOCounters(),
                notify: @escaping @Sendable (_ token: UInt64, _ error: String?) -> Void) throws {
        self.counters = counters
        let opened = Mailbox<RecoverReply>()
        let io = self.io
        let counters = self.counters
        let thread = Thread {
            let store: SQLiteLogStorage
            do {
                store = try SQLiteLogStorage(path: path)
                opened.post(.recovered(RecoveredLog()))
            } catch {
                opened.post(.failed("\(error)"))
                return
            }
            // Batches that queued up while the previous sync ran are written together: one
            // transaction, one fsync (group commit across Readies).
            var group: (batch: PersistBatch, tokens: [UInt64])?
            func flush() {
                guard let g = group else { return }
                group = nil
                counters.record(batches: g.tokens.count, entries: g.batch.entries.count)
                store.persist(g.batch) { result in
                    let error: String?
                    switch result {
                    case .success: error = nil
                    case .failure(let e): error = "\(e)"
                    }
                    for token in g.tokens { notify(token, error) }
                }
                // A snapshot's bytes were the largest allocation in the process: give the freed
                // pages back to the system instead of keeping them in malloc's arenas.
                if g.batch.snapshot != nil { _ = malloc_trim(0) }
            }
            while true {
                for job in io.takeAll() {
                    switch job {
                    case .persist(let token, let batch):
                        if let g = group, let merged = g.batch.merged(with: batch) {
                            group = (merged, g.tokens + [token])
                        } else {
                            flush()
                            group = (batch, [token])
                        }
                    case .recover(let reply):
                        flush()
                        do { reply.post(.recovered(try store.recover())) } catch { reply.post(.failed("\(error)")) }
                    case .stop:
                        flush()
                        return
                    }
                }
                flush()
            }
        }
        thread.name = "florian-log-io"
        thread.start()
        if case .failed(let why) = opened.takeAll()[0] { throw IOError(description: why) }
    }

    deinit { io.post(.stop) }

    public func recover() throws -> RecoveredLog {
        let reply = Mailbox<RecoverReply>()
        io.post(.recover(reply: reply))
        switch reply.takeAll()[0] {
        case .recovered(let log): return log
        case .failed(let why): throw IOError(description: why)
        }
    }

    public func persist(_ batch: PersistBatch, done: @escaping (Result<Void, any Error>) -> Void) {
        nextToken += 1
        waiting[nextToken] = done
        io.post(.persist(token: nextToken, batch))
    }

    /// Runs the `done` of the batch `token` (call on the replica's thread).
    public func completed(token: UInt64, error: String?) {
        guard let done = waiting.removeValue(forKey: token) else { return }
        if let error { done(.failure(IOError(description: error))) } else { done(.success(())) }
    }
}
