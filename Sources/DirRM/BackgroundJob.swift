import CDirRM
import Glibc

/// Work on a handle's state that runs on a thread of its own while the caller goes on
/// (dirrm_club_fit_begin), joined once by `wait`. Its own thread rather than the worker pool:
/// the work itself uses the pool for its products, as the same work called directly would,
/// so that both give the same bits.
final class BackgroundJob: @unchecked Sendable {
  /// What the work returned (a scalar such as the fit's NLL, or its failure); read it after `wait`.
  typealias Outcome = Result<Float?, ABIError>
  private let work: () -> Outcome
  private var thread: pthread_t?
  private(set) var outcome: Outcome = .success(nil)

  init(_ work: @escaping () -> Outcome) { self.work = work }

  func start() throws(ABIError) {
    var created = pthread_t()
    let context = Unmanaged.passRetained(self).toOpaque()
    let status = pthread_create(
      &created, nil,
      { raw in
        guard let raw else { return nil }
        let job = Unmanaged<BackgroundJob>.fromOpaque(raw).takeRetainedValue()
        job.outcome = job.work()
        return nil
      }, context)
    guard status == 0 else {
      Unmanaged<BackgroundJob>.fromOpaque(context).release()
      throw ABIError(DIRRM_ERR_OUT_OF_MEMORY, "no thread for the background work (pthread_create: \(status))")
    }
    thread = created
  }

  /// Returns when the work has finished; everything it wrote is visible to the caller then.
  func wait() {
    guard let thread else { return }
    pthread_join(thread, nil)
    self.thread = nil
  }
}
