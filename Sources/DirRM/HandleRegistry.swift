import CDirRM
import DirRMCore
import Glibc
import Synchronization

/// The object behind an opaque C handle. `owner` is the thread using it (0: none), so that a
/// second thread calling on the same handle is refused instead of racing on its state.
final class HandleBox<Value> {
  var value: Value
  let owner = Atomic<UInt>(0)
  /// The work a dirrm thread is doing on `value` while `owner` is `inBackground`.
  var background: BackgroundJob?
  init(_ value: Value) { self.value = value }
}

/// An owner no thread has: the box was in another thread's call when the process forked, so
/// the child's copy of its state may be half-updated.
private let forkedMidCall = UInt.max
/// The owner of a box handed to a BackgroundJob, until a call takes it back.
private let inBackground = UInt.max - 1

/// What the registry and `abiCall` need of a box whatever its type.
protocol ClaimedHandle: AnyObject {
  func unclaim()
  /// In a forked child: marks the box unusable if a thread other than `survivor` held it.
  func poisonIfHeld(except survivor: UInt)
  var isPoisoned: Bool { get }
}

extension HandleBox: ClaimedHandle {
  /// Releases this thread's claim; a box this call handed to a background job stays the job's.
  func unclaim() {
    _ = owner.compareExchange(expected: UInt(pthread_self()), desired: 0, ordering: .acquiringAndReleasing)
  }
  func poisonIfHeld(except survivor: UInt) {
    let holder = owner.load(ordering: .acquiring)
    if holder != 0, holder != survivor { owner.store(forkedMidCall, ordering: .releasing) }
  }
  var isPoisoned: Bool { owner.load(ordering: .acquiring) == forkedMidCall }
}

/// Every live handle, by token. A handle is a token, never an address: tokens are never
/// reused, so a freed handle stays unknown forever instead of aliasing a newer object, and
/// nothing the caller passes is ever dereferenced.
private let liveHandles: Registry = {
  let registry = Registry()
  // A fork while another thread holds the lock would leave the child's copy locked forever:
  // fork with the lock taken, and give the child a fresh one (see Registry.forkChild).
  pthread_atfork({ liveHandles.forkPrepare() }, { liveHandles.forkParent() }, { liveHandles.forkChild() })
  return registry
}()

/// The token → object table; every access holds the lock, hence @unchecked Sendable. The lock
/// is a pthread mutex, not a Synchronization.Mutex, because a forked child must re-create it.
private final class Registry: @unchecked Sendable {
  private let lock: UnsafeMutablePointer<pthread_mutex_t> = {
    let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    pthread_mutex_init(lock, nil)
    return lock
  }()
  private var objects: [UInt: ClaimedHandle] = [:]
  /// Boxes freed in a forked child while poisoned: kept, never deinitialized, since their
  /// state may be torn (see forkChild).
  private var orphans: [ClaimedHandle] = []
  /// Tokens step by 16 from a page-aligned start so they look like (and never collide with)
  /// small aligned addresses; 2^60 creations would be needed to wrap.
  private var nextToken: UInt = 0x10_0000

  private func locked<R>(_ body: () -> R) -> R {
    pthread_mutex_lock(lock)
    defer { pthread_mutex_unlock(lock) }
    return body()
  }

  func insert(_ object: ClaimedHandle) -> UInt {
    locked {
      let token = nextToken
      nextToken += 16
      objects[token] = object
      return token
    }
  }
  func find(_ key: UInt) -> ClaimedHandle? { locked { objects[key] } }
  func remove(_ key: UInt) {
    locked {
      if let box = objects.removeValue(forKey: key), box.isPoisoned { orphans.append(box) }
    }
  }

  fileprivate func forkPrepare() { pthread_mutex_lock(lock) }
  fileprivate func forkParent() { pthread_mutex_unlock(lock) }
  /// Only the forking thread exists in the child. A box another thread was using may hold a
  /// half-updated state: it is refused from now on (MISUSE, naming the fork) except by _free.
  /// Every other box is usable as it was.
  fileprivate func forkChild() {
    pthread_mutex_init(lock, nil)
    let me = UInt(pthread_self())
    for box in objects.values { box.poisonIfHeld(except: me) }
  }
}

/// The boxes the current thread claimed, by the depth of the exported call that claimed them.
private let claims = ThreadClaims()

enum Handles {
  static func register<Value>(_ value: Value) -> OpaquePointer {
    // The token is not zero, so the pointer is not NULL.
    OpaquePointer(bitPattern: liveHandles.insert(HandleBox(value)))!
  }

  /// The live object behind `handle`, claimed by this thread until the exported call
  /// returns. A handle in use by another thread is MISUSE: the header allows one thread per
  /// handle, and this turns a violation into a status instead of a corrupted heap. So is one
  /// that an enclosing call on this thread is using (a progress callback calling on the
  /// model being trained): that call would overwrite, or outlive, whatever this one did.
  static func lookup<Value>(_ handle: OpaquePointer?, _ type: Value.Type, _ name: String)
    throws(ABIError) -> HandleBox<Value>
  {
    let box = try find(handle, type, name)
    let me = UInt(pthread_self())  // never 0: glibc's thread pointer
    let (claimed, holder) = box.owner.compareExchange(
      expected: 0, desired: me, ordering: .acquiringAndReleasing)
    if claimed {
      claims.append(box)
    } else if holder == forkedMidCall {
      throw ABIError(
        DIRRM_ERR_MISUSE,
        "\(name) was in use by another thread when this process forked; its state may be partial (free it)")
    } else if holder == inBackground {
      throw ABIError(
        DIRRM_ERR_MISUSE,
        "\(name) has a fit running in the background; finish it first (dirrm_club_fit_finish)")
    } else if holder != me {
      throw ABIError(DIRRM_ERR_MISUSE, "\(name) is in use by another thread")
    } else if claims.claimedByEnclosingCall(box) {
      throw ABIError(
        DIRRM_ERR_MISUSE, "\(name) is in use by the call whose progress callback is running on this thread")
    }
    return box
  }

  /// An immutable object (a dataset): shared by any number of threads, never claimed.
  static func shared<Value>(_ handle: OpaquePointer?, _ type: Value.Type, _ name: String)
    throws(ABIError) -> Value
  {
    try find(handle, type, name).value
  }

  /// Brackets an exported call. Each call releases the claims it made when it ends, so a
  /// progress callback's nested calls release theirs at once and never what the outer call
  /// holds.
  static func beginCall() { claims.enter() }
  static func endCall() { claims.leave() }

  /// Frees a handle; NULL is a no-op. In a forked child a handle that was mid-call at the
  /// fork may still be freed (its state is kept aside, never touched again). A background
  /// job on it is waited for first, its result dropped.
  static func release<Value>(_ handle: OpaquePointer?, _ type: Value.Type, _ name: String) throws(ABIError) {
    guard handle != nil else { return }
    let box = try find(handle, type, name)
    if !box.isPoisoned, try takeBackIfRunning(handle, type, name) == nil {
      _ = try lookup(handle, type, name)
    }
    liveHandles.remove(UInt(bitPattern: UnsafeRawPointer(handle)))
  }

  /// Hands `box`, claimed by the current call, to `job`, which starts on its own thread and
  /// owns the box until `takeBack`; every other call on the handle is MISUSE meanwhile.
  static func handOff<Value>(_ box: HandleBox<Value>, to job: BackgroundJob) throws(ABIError) {
    // Started while this call still holds the box, and published only once its thread exists:
    // a finish racing this begin sees this call's claim (MISUSE), never a job not yet running.
    try job.start()
    box.background = job
    box.owner.store(inBackground, ordering: .releasing)
  }

  /// Waits for the background job on `handle` and claims the handle for the current call
  /// (released when it returns); nil when no job runs on it.
  static func takeBackIfRunning<Value>(_ handle: OpaquePointer?, _ type: Value.Type, _ name: String)
    throws(ABIError) -> (HandleBox<Value>, BackgroundJob)?
  {
    let box = try find(handle, type, name)
    guard
      box.owner.compareExchange(
        expected: inBackground, desired: UInt(pthread_self()), ordering: .acquiringAndReleasing
      ).exchanged, let job = box.background
    else { return nil }
    box.background = nil
    claims.append(box)
    job.wait()
    return (box, job)
  }

  private static func find<Value>(_ handle: OpaquePointer?, _ type: Value.Type, _ name: String)
    throws(ABIError) -> HandleBox<Value>
  {
    guard let handle else { throw ABIError(DIRRM_ERR_NULL_POINTER, "\(name) is NULL") }
    guard let box = liveHandles.find(UInt(bitPattern: UnsafeRawPointer(handle))) as? HandleBox<Value> else {
      throw ABIError(
        DIRRM_ERR_MISUSE, "\(name) is not a live \(typeName(Value.self)) handle (freed or foreign)")
    }
    return box
  }

  private static func typeName<Value>(_ type: Value.Type) -> String {
    "\(type)".lowercased()
  }
}

/// A per-thread list of claimed boxes, each with the depth of the exported call that claimed
/// it, and the current depth of nested exported calls. A call claims at most a few handles,
/// so a small array suffices.
private final class ThreadClaims: @unchecked Sendable {
  private let key: pthread_key_t?

  init() {
    var key = pthread_key_t()
    self.key =
      pthread_key_create(&key) { raw in
        if let raw { Unmanaged<ClaimList>.fromOpaque(raw).release() }
      } == 0 ? key : nil
  }

  private var list: ClaimList? {
    guard let key else { return nil }
    if let raw = pthread_getspecific(key) {
      return Unmanaged<ClaimList>.fromOpaque(raw).takeUnretainedValue()
    }
    let made = ClaimList()
    guard pthread_setspecific(key, Unmanaged.passRetained(made).toOpaque()) == 0 else { return nil }
    return made
  }

  func append(_ box: ClaimedHandle) {
    guard let list else { return }
    list.claims.append((box, list.depth))
  }

  /// Whether a call enclosing the current one on this thread claimed `box`.
  func claimedByEnclosingCall(_ box: ClaimedHandle) -> Bool {
    guard let list else { return false }
    return list.claims.contains { $0.box === box && $0.depth < list.depth }
  }

  func enter() { list?.depth += 1 }

  func leave() {
    guard let list else { return }
    while let last = list.claims.last, last.depth >= list.depth {
      last.box.unclaim()
      list.claims.removeLast()
    }
    list.depth -= 1
  }
}

private final class ClaimList {
  var claims: [(box: ClaimedHandle, depth: Int)] = []
  var depth = 0
}
