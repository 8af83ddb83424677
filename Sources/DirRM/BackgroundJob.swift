import CDirRM
import DirRMCore
import Glibc

/// Work on a handle's state that runs on a thread of its own while the caller goes on
/// (dirrm_club_fit_begin), waited for once by `wait`. Its own thread rather than the worker
/// pool: the work itself uses the pool for its products, as the same work called directly
/// would, so that both give the same bits. The thread is detached (waited for through `jobs`,
/// not joined), so that one a process exits without waiting for is not a leaked thread.
final class BackgroundJob: @unchecked Sendable {
  /// What the work returned (a scalar such as the fit's NLL, or its failure); read it after `wait`.
  typealias Outcome = Result<Float?, ABIError>
  private let work: () -> Outcome
  private(set) var outcome: Outcome = .success(nil)
  /// Set under `jobs`' lock when the work has returned.
  fileprivate var done = false
  private var started = false

  init(_ work: @escaping () -> Outcome) { self.work = work }

  /// Starts the work on a new thread; MISUSE beyond `Limits.maxBackgroundFits` jobs begun and
  /// not yet waited for, OUT_OF_MEMORY without a thread.
  func start() throws(ABIError) {
    try jobs.admit()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    var created = pthread_t()
    let context = Unmanaged.passRetained(self).toOpaque()
    let status = pthread_create(
      &created, &attributes,
      { raw in
        guard let raw else { return nil }
        let job = Unmanaged<BackgroundJob>.fromOpaque(raw).takeRetainedValue()
        job.outcome = job.work()
        jobs.ended(job)
        return nil
      }, context)
    guard status == 0 else {
      Unmanaged<BackgroundJob>.fromOpaque(context).release()
      jobs.ended(self)
      jobs.collected()
      throw ABIError(DIRRM_ERR_OUT_OF_MEMORY, "no thread for the background work (pthread_create: \(status))")
    }
    started = true
  }

  /// Returns when the work has finished; everything it wrote is visible to the caller then.
  func wait() {
    guard started else { return }
    started = false
    jobs.wait(for: self)
    jobs.collected()
  }
}

/// The jobs of the process: how many are begun and not waited for (the limit), and how many
/// are still working. Process exit waits for the working ones (an atexit handler): a job still
/// inside OpenBLAS when the process exits crashed in OpenBLAS's exit-time cleanup. A forked
/// child has none of the parent's threads: it starts from zero.
private let jobs = JobCounts()

private final class JobCounts: @unchecked Sendable {
  private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private let workEnded = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
  private var begun = 0
  private var working = 0
  private var hooked = false

  init() {
    pthread_mutex_init(lock, nil)
    pthread_cond_init(workEnded, nil)
  }

  func admit() throws(ABIError) {
    pthread_mutex_lock(lock)
    defer { pthread_mutex_unlock(lock) }
    guard begun < Limits.maxBackgroundFits else {
      throw ABIError(
        DIRRM_ERR_MISUSE,
        "\(Limits.maxBackgroundFits) fits already run in the background in this process; finish one first")
    }
    if !hooked {
      hooked = true
      atexit { jobs.waitForWork() }
      pthread_atfork({ jobs.forkPrepare() }, { jobs.forkParent() }, { jobs.forkChild() })
    }
    begun += 1
    working += 1
  }

  func ended(_ job: BackgroundJob) {
    pthread_mutex_lock(lock)
    job.done = true
    working -= 1
    pthread_cond_broadcast(workEnded)
    pthread_mutex_unlock(lock)
  }

  func wait(for job: BackgroundJob) {
    pthread_mutex_lock(lock)
    while !job.done { pthread_cond_wait(workEnded, lock) }
    pthread_mutex_unlock(lock)
  }

  func collected() {
    pthread_mutex_lock(lock)
    begun -= 1
    pthread_mutex_unlock(lock)
  }

  func waitForWork() {
    pthread_mutex_lock(lock)
    while working > 0 { pthread_cond_wait(workEnded, lock) }
    pthread_mutex_unlock(lock)
  }

  func forkPrepare() { pthread_mutex_lock(lock) }
  func forkParent() { pthread_mutex_unlock(lock) }
  func forkChild() {
    pthread_mutex_init(lock, nil)
    pthread_cond_init(workEnded, nil)
    (begun, working) = (0, 0)
  }
}
