import CDirRM

// dirrm_prioritizer_load on checksum-valid payloads; a state that loads is saved, reloaded,
// and then driven through a few propose / decide / end_step rounds, because the header
// promises a loaded copy continues exactly as the original would.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPrioritizerLoad(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  var input = FuzzBytes(data, size)
  let buffer = Frame.loadInput(&input, magic: "DIRRMPQ", version: 1)
  var queue: OpaquePointer? = nil
  let status = buffer.withUnsafeBufferPointer {
    dirrm_prioritizer_load($0.baseAddress, Int64($0.count), &queue)
  }
  guard status == DIRRM_OK else {
    if queue != nil { violated("prioritizer_load wrote *out on failure") }
    return 0
  }
  defer { _ = dirrm_prioritizer_free(queue) }
  let save = { (q: OpaquePointer?) in savedState("prioritizer_save") { dirrm_prioritizer_save(q, $0, $1, $2) } }
  checkRoundTrip(
    "prioritizer", save(queue),
    load: { bytes in
      var copy: OpaquePointer? = nil
      return (dirrm_prioritizer_load(bytes, Int64(bytes.count), &copy), copy)
    }, save: save, free: { dirrm_prioritizer_free($0) })

  var count: Int64 = 0
  guard dirrm_prioritizer_num_samples(queue, &count) == DIRRM_OK, count >= 1 else {
    violated("prioritizer_num_samples failed")
  }
  var stats = dirrm_prioritizer_stats()
  stats.struct_size = UInt32(MemoryLayout<dirrm_prioritizer_stats>.size)
  guard dirrm_prioritizer_get_stats(queue, &stats) == DIRRM_OK else { violated("prioritizer_get_stats failed") }
  guard count <= 1 << 16 else { return 0 }

  let batch = Int64(min(count, 8))
  var indices = [Int64](repeating: -1, count: Int(batch))
  var accept = [UInt8](repeating: 0, count: Int(batch))
  for round in 0..<6 {
    var proposed: Int64 = -1
    let status = dirrm_prioritizer_propose(queue, batch, &indices, &proposed)
    if status == DIRRM_OK {
      guard proposed >= 0, proposed <= batch else { violated("propose returned count \(proposed)") }
      if proposed > 0 {
        let dr2 = (0..<Int(proposed)).map { Float(($0 + round) % 5) - 2 }
        let decided = dirrm_prioritizer_decide(queue, proposed, indices, dr2, &accept)
        guard decided == DIRRM_OK else {
          violated("decide of just-proposed indices failed: \(String(cString: dirrm_last_error()))")
        }
      }
    } else if status != DIRRM_ERR_MISUSE {
      violated("propose returned \(status)")
    }
    var threshold: Float = 0
    guard dirrm_prioritizer_end_step(queue, &threshold) == DIRRM_OK else { violated("end_step failed") }
    guard dirrm_prioritizer_get_stats(queue, &stats) == DIRRM_OK else { violated("get_stats failed") }
  }
  _ = save(queue)
  return 0
}
