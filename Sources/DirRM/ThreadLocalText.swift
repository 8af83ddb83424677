import Glibc

/// A C string that belongs to the calling thread: what a C caller reads after the call
/// returns (the last error, the build description) without sharing between threads.
struct ThreadLocalText: Sendable {
  private let key: pthread_key_t?

  init() {
    var key = pthread_key_t()
    self.key = pthread_key_create(&key) { free($0) } == 0 ? key : nil
  }

  /// The thread's current text, or "" if it has stored none.
  var current: UnsafePointer<CChar> {
    guard let key, let raw = pthread_getspecific(key) else { return emptyCString }
    return UnsafePointer(raw.assumingMemoryBound(to: CChar.self))
  }

  /// Replaces the thread's text and returns it. If memory runs out the old text stays.
  @discardableResult
  func store(_ text: String) -> UnsafePointer<CChar> {
    guard let key else { return emptyCString }
    let bytes = Array(text.utf8)
    guard let raw = realloc(pthread_getspecific(key), bytes.count + 1) else { return current }
    let buffer = raw.bindMemory(to: UInt8.self, capacity: bytes.count + 1)
    buffer.update(from: bytes, count: bytes.count)
    buffer[bytes.count] = 0
    if pthread_setspecific(key, raw) != 0 {
      free(raw)
      return emptyCString
    }
    return UnsafePointer(raw.assumingMemoryBound(to: CChar.self))
  }
}

/// A NUL-terminated empty string in static storage.
var emptyCString: UnsafePointer<CChar> { cString(StaticString("")) }

/// A string literal's bytes, which live in static storage, as a C string.
func cString(_ text: StaticString) -> UnsafePointer<CChar> {
  UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}
