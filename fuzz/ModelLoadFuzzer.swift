import CDirRM

// dirrm_model_load on checksum-valid payloads; a model that loads is saved, reloaded and
// scores a tiny batch.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModelLoad(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  var input = FuzzBytes(data, size)
  let buffer = Frame.loadInput(&input, magic: "DIRRMRM", version: 1)
  var model: OpaquePointer? = nil
  let status = buffer.withUnsafeBufferPointer { dirrm_model_load($0.baseAddress, Int64($0.count), &model) }
  guard status == DIRRM_OK else {
    if model != nil { violated("model_load wrote *out on failure") }
    return 0
  }
  defer { _ = dirrm_model_free(model) }
  let save = { (m: OpaquePointer?) in savedState("model_save") { dirrm_model_save(m, $0, $1, $2) } }
  checkRoundTrip(
    "model", save(model),
    load: { bytes in
      var copy: OpaquePointer? = nil
      return (dirrm_model_load(bytes, Int64(bytes.count), &copy), copy)
    }, save: save, free: { dirrm_model_free($0) })

  var promptDim: Int64 = 0
  var responseDim: Int64 = 0
  var width: Int32 = 0
  var depth: Int32 = 0
  guard dirrm_model_shape(model, &promptDim, &responseDim, &width, &depth) == DIRRM_OK else {
    violated("model_shape failed")
  }
  guard promptDim + responseDim <= 1 << 12, width <= 1 << 10 else { return 0 }
  let n = 2
  let prompts = (0..<(n * Int(promptDim))).map { Float($0 % 3) - 1 }
  let responses = (0..<(n * Int(responseDim))).map { Float($0 % 4) / 4 }
  var rewards = [Float](repeating: 0, count: n)
  var hidden = [Float](repeating: 0, count: n * Int(width))
  let scored = dirrm_model_score(model, Int64(n), prompts, responses, &rewards, &hidden)
  guard scored == DIRRM_OK || scored == DIRRM_ERR_NONFINITE else { violated("model_score returned \(scored)") }
  return 0
}
