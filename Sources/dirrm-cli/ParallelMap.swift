import DirRMCore
import Glibc

/// The CLI's experiments train many independent models. They run one per core, each on one
/// thread (dirrm's pool at one thread, every matrix product one OpenBLAS call): the CLI
/// parallelizes over models instead, so that `dirrm-cli` prints the same numbers for a seed on
/// any number of cores.
enum Parallel {
  /// dirrm's worker pool at one thread and every matrix product one OpenBLAS call, so that
  /// each model trains on the one thread `map` gives it.
  static func useOneThreadPerModel() {
    WorkerPool.setThreadCount(1)
    ProductBlocks.maximum = 1
  }

  static var cores: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

  /// `body` applied to every item, on up to `cores` threads; results in item order. The first
  /// error (in item order) is rethrown after every item has finished.
  static func map<T, U>(_ items: [T], _ body: @escaping (T) throws -> U) throws -> [U] {
    let work = Work(items: items, body: body)
    let count = min(cores, items.count)
    if count <= 1 {
      work.drain()
    } else {
      var threads: [pthread_t] = []
      for _ in 0..<count {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Drain(work.drain)).toOpaque()
        let status = pthread_create(
          &thread, nil,
          { context in
            guard let context else { return nil }
            Unmanaged<Drain>.fromOpaque(context).takeRetainedValue().run()
            return nil
          }, context)
        if status != 0 {
          Unmanaged<Drain>.fromOpaque(context).release()
          break
        }
        threads.append(thread)
      }
      if threads.isEmpty { work.drain() }
      for thread in threads { pthread_join(thread, nil) }
    }
    return try work.results.map { try $0!.get() }
  }
}

/// What a worker thread runs, boxed to cross pthread_create's C signature.
private final class Drain: @unchecked Sendable {
  let run: () -> Void
  init(_ run: @escaping () -> Void) { self.run = run }
}

/// Items handed out one at a time under a mutex; each result written once, by one thread.
private final class Work<T, U>: @unchecked Sendable {
  let items: [T]
  let body: (T) throws -> U
  var results: [Result<U, any Error>?]
  var next = 0
  let lock = Lock()

  init(items: [T], body: @escaping (T) throws -> U) {
    self.items = items
    self.body = body
    results = Array(repeating: nil, count: items.count)
  }

  func take() -> Int? {
    lock.locked {
      guard next < items.count else { return nil }
      next += 1
      return next - 1
    }
  }

  func drain() {
    while let i = take() {
      let result = Result { try body(items[i]) }
      lock.locked { results[i] = result }
    }
  }
}

/// A pthread mutex at a stable address (a stored pthread_mutex_t could be moved by Swift).
final class Lock: @unchecked Sendable {
  private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

  init() { pthread_mutex_init(mutex, nil) }

  deinit {
    pthread_mutex_destroy(mutex)
    mutex.deallocate()
  }

  func locked<R>(_ body: () throws -> R) rethrows -> R {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return try body()
  }
}
