import CDirRM

// dirrm_club_load on checksum-valid payloads; a state that loads is then saved, reloaded
// and put to work (fit, bound, log_prob, dir_loss) on a tiny batch.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzClubLoad(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  var input = FuzzBytes(data, size)
  let buffer = Frame.loadInput(&input, magic: "DIRRMCB", version: 2)
  var club: OpaquePointer? = nil
  let status = buffer.withUnsafeBufferPointer { dirrm_club_load($0.baseAddress, Int64($0.count), &club) }
  guard status == DIRRM_OK else {
    if club != nil { violated("club_load wrote *out on failure") }
    return 0
  }
  defer { _ = dirrm_club_free(club) }
  let save = { (c: OpaquePointer?) in savedState("club_save") { dirrm_club_save(c, $0, $1, $2) } }
  let saved = save(club)
  checkRoundTrip(
    "club", saved,
    load: { bytes in
      var copy: OpaquePointer? = nil
      return (dirrm_club_load(bytes, Int64(bytes.count), &copy), copy)
    }, save: save, free: { dirrm_club_free($0) })

  var params = dirrm_club_params()
  dirrm_club_params_init(&params)
  guard dirrm_club_get_params(club, &params) == DIRRM_OK else { violated("club_get_params failed") }
  var statsLen: Int64 = 0
  var weightCount: Int64 = 0
  guard dirrm_club_stats_len(club, &statsLen) == DIRRM_OK,
    dirrm_club_num_weights(club, &weightCount) == DIRRM_OK
  else { violated("club_stats_len or num_weights failed") }
  // Keep the work per input small: the format allows states that are legitimately slow.
  let d = Int(params.hidden_dim)
  guard weightCount <= 1 << 16, d <= 1 << 10, params.fit_steps <= 8 else { return 0 }
  var weights = [Float](repeating: 0, count: Int(weightCount))
  guard dirrm_club_get_weights(club, &weights, weightCount) == DIRRM_OK else {
    violated("club_get_weights failed")
  }

  let n = 3
  let columns = params.bias_kind == DIRRM_BIAS_GAUSSIAN ? Int(params.bias_dim) : 1
  let hc = (0..<(n * d)).map { Float($0 % 7) / 7 - 0.5 }
  let hr = (0..<(n * d)).map { Float($0 % 5) / 5 - 0.5 }
  let bias = (0..<(n * columns)).map {
    params.bias_kind == DIRRM_BIAS_GAUSSIAN ? Float($0 % 3) - 1 : Float($0 % 2)
  }
  var out = [Float](repeating: 0, count: n)
  var gc = [Float](repeating: 0, count: n * d)
  var gr = [Float](repeating: 0, count: n * d)
  var stats = [Float](repeating: 0, count: Int(statsLen))
  var mi: Float = 0
  var nll: Float = 0
  _ = dirrm_club_log_prob(club, Int64(n), hc, hr, bias, &out)
  _ = dirrm_club_bias_stats(club, Int64(n), bias, &stats)
  _ = dirrm_club_bound(club, Int64(n), hc, hr, bias, stats, &mi, &gc, &gr)
  _ = dirrm_club_fit(club, Int64(n), hc, hr, bias, &nll)
  let r = [Float](repeating: 0.25, count: n)
  var total: Float = 0
  var rc = [Float](repeating: 0, count: n)
  var rr = [Float](repeating: 0, count: n)
  _ = dirrm_dir_loss(club, nil, Int64(n), r, r, hc, hr, bias, 1, &total, nil, nil, &rc, &rr, &gc, &gr)
  _ = save(club)
  return 0
}
