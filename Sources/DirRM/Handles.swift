import CDirRM
import DirRMCore
import Glibc
import Synchronization

/// The object behind an opaque C handle. `owner` is the thread using it (0: none), so that a
/// second thread calling on the same handle is refused instead of racing on its state.
final class HandleBox<Value> {
  var value: Value
  let owner = Atomic<UInt>(0)
  init(_ value: Value) { self.value = value }
}

/// What `abiCall` releases when a call ends: a box this thread claimed.
protocol ClaimedHandle: AnyObject {
  func unclaim()
}

extension HandleBox: ClaimedHandle {
  func unclaim() { owner.store(0, ordering: .releasing) }
}

/// Every live handle, by token. A handle is a token, never an address: tokens are never
/// reused, so a freed handle stays unknown forever instead of aliasing a newer object, and
/// nothing the caller passes is ever dereferenced.
private let liveHandles = Registry()

/// The token → object table; every access holds the lock, hence @unchecked Sendable.
private final class Registry: @unchecked Sendable {
  private let lock = Mutex(())
  private var objects: [UInt: AnyObject] = [:]
  /// Tokens step by 16 from a page-aligned start so they look like (and never collide with)
  /// small aligned addresses; 2^60 creations would be needed to wrap.
  private var nextToken: UInt = 0x10_0000

  func insert(_ object: AnyObject) -> UInt {
    lock.withLock { _ in
      let token = nextToken
      nextToken += 16
      objects[token] = object
      return token
    }
  }
  func find(_ key: UInt) -> AnyObject? { lock.withLock { _ in objects[key] } }
  func remove(_ key: UInt) { lock.withLock { _ in _ = objects.removeValue(forKey: key) } }
}

/// The boxes the current thread claimed during the current exported call.
private let claims = ThreadClaims()

enum Handles {
  static func register<Value>(_ value: Value) -> OpaquePointer {
    // The token is not zero, so the pointer is not NULL.
    OpaquePointer(bitPattern: liveHandles.insert(HandleBox(value)))!
  }

  /// The live object behind `handle`, claimed by this thread until the exported call
  /// returns. A handle in use by another thread is MISUSE: the header allows one thread per
  /// handle, and this turns a violation into a status instead of a corrupted heap.
  static func lookup<Value>(_ handle: OpaquePointer?, _ type: Value.Type, _ name: String)
    throws(ABIError) -> HandleBox<Value>
  {
    let box = try find(handle, type, name)
    let me = UInt(pthread_self())  // never 0: glibc's thread pointer
    let (claimed, holder) = box.owner.compareExchange(
      expected: 0, desired: me, ordering: .acquiringAndReleasing)
    if claimed {
      claims.append(box)
    } else if holder != me {
      throw ABIError(DIRRM_ERR_MISUSE, "\(name) is in use by another thread")
    }
    return box
  }

  /// An immutable object (a dataset): shared by any number of threads, never claimed.
  static func shared<Value>(_ handle: OpaquePointer?, _ type: Value.Type, _ name: String)
    throws(ABIError) -> Value
  {
    try find(handle, type, name).value
  }

  /// Brackets an exported call. Claims are released when the outermost call on this thread
  /// ends: a progress callback's nested calls must not release what the outer call holds.
  static func beginCall() { claims.enter() }
  static func endCall() { claims.leave() }

  /// Frees a handle; NULL is a no-op.
  static func release<Value>(_ handle: OpaquePointer?, _ type: Value.Type, _ name: String) throws(ABIError) {
    guard handle != nil else { return }
    _ = try lookup(handle, type, name)
    liveHandles.remove(UInt(bitPattern: UnsafeRawPointer(handle)))
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

/// A per-thread list of claimed boxes and the depth of nested exported calls. A call claims
/// at most a few handles, so a small array suffices.
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

  func append(_ box: ClaimedHandle) { list?.boxes.append(box) }

  func enter() { list?.depth += 1 }

  func leave() {
    guard let list else { return }
    list.depth -= 1
    guard list.depth == 0, !list.boxes.isEmpty else { return }
    for box in list.boxes { box.unclaim() }
    list.boxes.removeAll(keepingCapacity: true)
  }
}

private final class ClaimList {
  var boxes: [ClaimedHandle] = []
  var depth = 0
}

/// Reads a caller's parameter struct after checking its declared size, so that a struct from
/// a different header version is refused before any of it is read past struct_size.
func readParams<T>(_ pointer: UnsafePointer<T>?, _ name: String) throws(ABIError) -> T {
  guard let pointer else { throw ABIError(DIRRM_ERR_NULL_POINTER, "\(name) is NULL") }
  let size = UnsafeRawPointer(pointer).load(as: UInt32.self)
  guard size == UInt32(MemoryLayout<T>.size) else {
    throw ABIError(
      DIRRM_ERR_VERSION,
      "\(name)->struct_size = \(size) but this library's is \(MemoryLayout<T>.size) (fill it with its _params_init)"
    )
  }
  return pointer.pointee
}

/// Copies a serialized object out per the _save convention.
func writeSerialized(
  _ bytes: [UInt8], _ buffer: UnsafeMutablePointer<UInt8>?, _ capacity: Int64,
  _ outSize: UnsafeMutablePointer<Int64>?
) throws(ABIError) {
  let size = try Check.output(outSize, "out_size")
  guard let buffer else {
    size.pointee = Int64(bytes.count)
    return
  }
  guard capacity >= Int64(bytes.count) else {
    size.pointee = Int64(bytes.count)
    throw ABIError(DIRRM_ERR_BUFFER_TOO_SMALL, "cap = \(capacity) but the state needs \(bytes.count) bytes")
  }
  _ = UnsafeMutableBufferPointer(start: buffer, count: bytes.count).update(fromContentsOf: bytes)
  size.pointee = Int64(bytes.count)
}

/// The caller's serialized buffer as bytes. An empty buffer is a truncated one (CORRUPT), as
/// the header says of every truncated buffer; a negative size is not a size at all.
func readSerialized(_ buffer: UnsafePointer<UInt8>?, _ size: Int64) throws(ABIError) -> [UInt8] {
  guard let buffer else { throw ABIError(DIRRM_ERR_NULL_POINTER, "buf is NULL") }
  guard size != 0 else { throw ABIError(DIRRM_ERR_CORRUPT, "corrupt buffer: size is 0") }
  let count = try Check.count(size, "size")
  try reserve(count, for: "a copy of the buffer")
  return Array(UnsafeBufferPointer(start: buffer, count: count))
}

extension ABIError {
  init(_ error: FormatError) {
    switch error {
    case .corrupt(let what): self.init(DIRRM_ERR_CORRUPT, "corrupt buffer: \(what)")
    case .version(let what): self.init(DIRRM_ERR_VERSION, what)
    }
  }
}
