import CDirRM

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
