import CDirRM

/// A handle's serialized state through the _save convention (size query, then write), with
/// the convention itself checked: a save of a live handle must succeed.
func savedState(_ what: String, _ save: (UnsafeMutablePointer<UInt8>?, Int64, UnsafeMutablePointer<Int64>?) -> Int32)
  -> [UInt8]
{
  var size: Int64 = -1
  guard save(nil, 0, &size) == DIRRM_OK, size > 0 else { violated("\(what): size query failed") }
  var bytes = [UInt8](repeating: 0, count: Int(size))
  var written: Int64 = -1
  if size > 1 {
    var small = [UInt8](repeating: 0, count: 1)
    guard save(&small, 1, &written) == DIRRM_ERR_BUFFER_TOO_SMALL, written == size else {
      violated("\(what): cap 1 was not BUFFER_TOO_SMALL with the size")
    }
  }
  guard save(&bytes, size, &written) == DIRRM_OK, written == size else { violated("\(what): save failed") }
  return bytes
}

/// Loads what was saved and saves it again: the state must survive the round trip
/// byte for byte (the header promises a loaded copy continues exactly as the original).
func checkRoundTrip(
  _ what: String, _ bytes: [UInt8], load: ([UInt8]) -> (Int32, OpaquePointer?),
  save: (OpaquePointer?) -> [UInt8], free: (OpaquePointer?) -> Int32
) {
  let (status, copy) = load(bytes)
  guard status == DIRRM_OK, copy != nil else {
    violated("\(what): reloading a saved state failed with \(status): \(String(cString: dirrm_last_error()))")
  }
  guard save(copy) == bytes else { violated("\(what): save(load(saved)) differs from saved") }
  guard free(copy) == DIRRM_OK else { violated("\(what): free of a loaded copy failed") }
}
