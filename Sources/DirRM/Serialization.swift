import CDirRM
import DirRMCore

// The _save / _load convention: a size query with a NULL buffer, BUFFER_TOO_SMALL with the
// size needed, and the caller's bytes copied before the core parses them.

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
/// the header says of every truncated buffer; a negative size is not a size at all. The probe
/// covers the copy and the object restored from it (at most twice the bytes: a prioritizer's
/// indices are wider in memory than in the buffer).
func readSerialized(_ buffer: UnsafePointer<UInt8>?, _ size: Int64) throws(ABIError) -> [UInt8] {
  guard let buffer else { throw ABIError(DIRRM_ERR_NULL_POINTER, "buf is NULL") }
  guard size != 0 else { throw ABIError(DIRRM_ERR_CORRUPT, "corrupt buffer: size is 0") }
  let count = try Check.count(size, "size")
  try reserve(Workspace.bytes([[3, count]], elementSize: 1), for: "a copy of the buffer and its object")
  return Array(UnsafeBufferPointer(start: buffer, count: count))
}
