import CDirRM
import DirRMCore
import Synchronization

/// The object behind an opaque C handle.
final class HandleBox<Value> {
  var value: Value
  init(_ value: Value) { self.value = value }
}

/// Every live handle, by address. A handle is dereferenced only after it is found here with
/// the expected type, so freed, foreign and mistyped pointers are refused, never followed.
private let liveHandles = Registry()

/// The address → object table; every access holds the lock, hence @unchecked Sendable.
private final class Registry: @unchecked Sendable {
  private let lock = Mutex(())
  private var objects: [UInt: AnyObject] = [:]

  func insert(_ key: UInt, _ object: AnyObject) { lock.withLock { _ in objects[key] = object } }
  func find(_ key: UInt) -> AnyObject? { lock.withLock { _ in objects[key] } }
  func remove(_ key: UInt) { lock.withLock { _ in _ = objects.removeValue(forKey: key) } }
}

enum Handles {
  static func register<Value>(_ value: Value) -> OpaquePointer {
    let box = HandleBox(value)
    let address = Unmanaged.passUnretained(box).toOpaque()
    liveHandles.insert(UInt(bitPattern: address), box)
    return OpaquePointer(address)
  }

  static func lookup<Value>(_ handle: OpaquePointer?, _ type: Value.Type, _ name: String)
    throws(ABIError) -> HandleBox<Value>
  {
    guard let handle else { throw ABIError(DIRRM_ERR_NULL_POINTER, "\(name) is NULL") }
    let key = UInt(bitPattern: UnsafeRawPointer(handle))
    guard let box = liveHandles.find(key) as? HandleBox<Value> else {
      throw ABIError(
        DIRRM_ERR_MISUSE, "\(name) is not a live \(typeName(Value.self)) handle (freed or foreign)")
    }
    return box
  }

  /// Frees a handle; NULL is a no-op.
  static func release<Value>(_ handle: OpaquePointer?, _ type: Value.Type, _ name: String) throws(ABIError) {
    guard handle != nil else { return }
    _ = try lookup(handle, type, name)
    liveHandles.remove(UInt(bitPattern: UnsafeRawPointer(handle)))
  }

  private static func typeName<Value>(_ type: Value.Type) -> String {
    "\(type)".lowercased()
  }
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

/// The caller's serialized buffer as bytes.
func readSerialized(_ buffer: UnsafePointer<UInt8>?, _ size: Int64) throws(ABIError) -> [UInt8] {
  guard let buffer else { throw ABIError(DIRRM_ERR_NULL_POINTER, "buf is NULL") }
  let count = try Check.count(size, "size")
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
