import Glibc

/// dirrm's one source of parallelism: a process-wide pool whose workers park on a condition
/// variable between jobs. OpenBLAS runs single-threaded under it (`BLAS` splits a product's
/// columns or rows over the pool instead), so no thread of dirrm's spins after a call and
/// steals the cores of the trainer that called it: OpenBLAS's own workers, and torch's
/// OpenMP ones, busy-wait for up to ~0.1 s after every parallel region.
///
/// One job runs at a time. A caller that finds the pool busy (another thread's job, or a part
/// of a job that itself asks for parallelism) runs its parts inline, so nesting and
/// concurrent callers cannot deadlock. Parts never depend on the thread count for their
/// results: callers split work into parts of fixed size and combine them in part order.
public enum WorkerPool {
  /// The number of threads a job may use, the caller's included (≥ 1). Defaults to the
  /// online cores.
  public static var threadCount: Int { shared.withLock { shared.threadCount } }

  /// Sets the number of threads jobs may use, the caller's included; `count` ≥ 1. Idle
  /// workers beyond the new count stay parked.
  public static func setThreadCount(_ count: Int) {
    precondition(count >= 1, "WorkerPool.setThreadCount: count must be positive")
    shared.withLock { shared.threadCount = count }
  }

  /// Sets the number of threads a caller asked for, after checking it against
  /// `Limits.threads` (dirrm_set_num_threads).
  public static func configure(threads count: Int) throws(ConfigError) {
    guard Limits.threads.contains(count) else {
      throw ConfigError(
        "num_threads", "= \(count) must be in \(Limits.threads.lowerBound)...\(Limits.threads.upperBound)")
    }
    setThreadCount(count)
  }

  /// Calls `body(part)` once for every part in 0..<parts, on up to `threadCount` threads (the
  /// caller runs parts too), and returns when every part has returned. Parts run in no fixed
  /// order: each must write only its own outputs.
  public static func run(parts: Int, _ body: (Int) -> Void) {
    guard parts > 1, shared.reserve(parts: parts) else {
      for part in 0..<max(parts, 0) { body(part) }
      return
    }
    withoutActuallyEscaping(body) { body in
      let job = Job(parts: parts, body: body)
      shared.dispatch(job)
      shared.finish(job)
    }
  }

  /// `body(part)` for every part in 0..<parts, computed as `run` does, in part order.
  public static func map<T>(parts: Int, _ body: (Int) -> T) -> [T] {
    let results = UnsafeMutableBufferPointer<T?>.allocate(capacity: max(parts, 0))
    results.initialize(repeating: nil)
    defer {
      _ = results.deinitialize()
      results.deallocate()
    }
    run(parts: parts) { part in results[part] = body(part) }
    return results.map { $0.unsafelyUnwrapped }
  }

  static let shared = State()

  /// One job's parts: the next unclaimed one, and how many are not finished yet.
  final class Job {
    var body: ((Int) -> Void)?
    let parts: Int
    var next = 0
    var unfinished: Int
    /// Workers that may still join: the thread count less the caller, when the job began.
    var openSeats = 0
    init(parts: Int, body: @escaping (Int) -> Void) {
      (self.parts, self.unfinished, self.body) = (parts, parts, body)
    }
  }

  /// The pool's state, every field guarded by `mutex`.
  final class State: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let work = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    fileprivate var threadCount = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    private var workers = 0
    private var busy = false
    private var job: Job?

    init() {
      pthread_mutex_init(mutex, nil)
      pthread_cond_init(work, nil)
      pthread_cond_init(done, nil)
      // A forked child (a DataLoader worker, say) has none of the workers, and a lock some
      // other thread held at the fork would never be released: fork with the lock taken, and
      // start the child's pool afresh.
      pthread_atfork(
        { WorkerPool.shared.forkPrepare() }, { WorkerPool.shared.forkParent() },
        { WorkerPool.shared.forkChild() })
    }

    fileprivate func forkPrepare() { pthread_mutex_lock(mutex) }
    fileprivate func forkParent() { pthread_mutex_unlock(mutex) }
    fileprivate func forkChild() {
      pthread_mutex_init(mutex, nil)
      pthread_cond_init(work, nil)
      pthread_cond_init(done, nil)
      (workers, busy, job) = (0, false, nil)
    }

    func withLock<R>(_ body: () -> R) -> R {
      pthread_mutex_lock(mutex)
      defer { pthread_mutex_unlock(mutex) }
      return body()
    }

    /// Takes the pool for one job if it is idle and may use more than one thread.
    func reserve(parts: Int) -> Bool {
      withLock {
        guard !busy, threadCount > 1 else { return false }
        busy = true
        // Workers are started on first need and live for the process; one that cannot be
        // started leaves its parts to the others.
        while workers < min(threadCount, parts) - 1, startWorker() { workers += 1 }
        return true
      }
    }

    /// Publishes the job to the workers and works on it too.
    func dispatch(_ job: Job) {
      withLock {
        job.openSeats = min(threadCount, job.parts) - 1
        self.job = job
        pthread_cond_broadcast(work)
      }
      while let part = claim(job) { complete(job, part) }
    }

    /// Waits for the parts other threads claimed, then frees the pool.
    func finish(_ job: Job) {
      withLock {
        while job.unfinished > 0 { pthread_cond_wait(done, mutex) }
        job.body = nil
        self.job = nil
        busy = false
      }
    }

    private func claim(_ job: Job) -> Int? {
      withLock {
        guard job.next < job.parts else { return nil }
        defer { job.next += 1 }
        return job.next
      }
    }

    /// Runs one claimed part. The body is read in its own frame so that no copy of it is
    /// alive once the part is counted finished (`withoutActuallyEscaping` checks that).
    private func complete(_ job: Job, _ part: Int) {
      call(job, part)
      withLock {
        job.unfinished -= 1
        if job.unfinished == 0 { pthread_cond_signal(done) }
      }
    }

    @inline(never) private func call(_ job: Job, _ part: Int) {
      let body = withLock { job.body }
      body?(part)
    }

    private func workerLoop() -> Never {
      while true {
        let job: Job = withLock {
          while true {
            if let job = self.job, job.next < job.parts, job.openSeats > 0 {
              job.openSeats -= 1
              return job
            }
            pthread_cond_wait(work, mutex)
          }
        }
        while let part = claim(job) { complete(job, part) }
      }
    }

    private func startWorker() -> Bool {
      var thread = pthread_t()
      var attributes = pthread_attr_t()
      pthread_attr_init(&attributes)
      defer { pthread_attr_destroy(&attributes) }
      pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
      let context = Unmanaged.passRetained(self).toOpaque()
      let status = pthread_create(
        &thread, &attributes,
        { context in
          guard let context else { return nil }
          Unmanaged<State>.fromOpaque(context).takeUnretainedValue().workerLoop()
        }, context)
      if status != 0 { Unmanaged<State>.fromOpaque(context).release() }
      return status == 0
    }
  }
}
