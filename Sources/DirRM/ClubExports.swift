import CDirRM
import DirRMCore

/// The estimator's checked batch from n rows of hidden states and bias.
func checkedBatch(
  _ club: ClubEstimator, _ n: Int64, _ chosen: UnsafePointer<Float>?, _ rejected: UnsafePointer<Float>?,
  _ bias: UnsafePointer<Float>?
) throws(ABIError) -> ClubEstimator.Batch {
  let rows = try Check.count(n, "n")
  guard rows <= Int(Int32.max) else {
    throw ABIError(DIRRM_ERR_SHAPE, "n = \(n) exceeds \(Int32.max) rows")
  }
  let cells = try Check.product(rows, club.config.hiddenDim, "h_chosen")
  try reserve(club.config.workBytes(rows: rows), for: "n = \(n) rows")
  let hidden = PairBatch(
    chosen: try Check.array(chosen, cells, "h_chosen"),
    rejected: try Check.array(rejected, cells, "h_rejected"),
    columns: club.config.hiddenDim)
  let values = try Check.array(bias, try Check.product(rows, club.config.biasColumns, "bias"), "bias")
  return try configured("") { () throws(ConfigError) in try club.batch(hidden, bias: values) }
}

func lookup(_ c: OpaquePointer?) throws(ABIError) -> HandleBox<ClubEstimator> {
  try Handles.lookup(c, ClubEstimator.self, "c")
}

/// A result that must fit in float32.
func asFloat(_ value: Double, _ name: String) throws(ABIError) -> Float {
  guard value.fitsInFloat else {
    throw ABIError(DIRRM_ERR_NONFINITE, "\(name) (\(value)) does not fit in float32; q may have diverged")
  }
  return Float(value)
}

/// Writes double results as floats, after checking that every one fits.
private func writeFloats(_ values: [Double], to out: UnsafeMutablePointer<Float>, _ name: String)
  throws(ABIError)
{
  for (i, v) in values.enumerated() { _ = try asFloat(v, "\(name)[\(i)]") }
  for (i, v) in values.enumerated() { out[i] = Float(v) }
}

@c @implementation
public func dirrm_club_create(
  _ p: UnsafePointer<dirrm_club_params>?, _ out: UnsafeMutablePointer<OpaquePointer?>?
)
  -> Int32
{
  abiCall("dirrm_club_create") { () throws(ABIError) in
    let config = try clubConfig(readParams(p, "p"))
    let handle = try Check.output(out, "out")
    try reserve(config.stateBytes, for: "the estimator")
    handle.pointee = Handles.register(ClubEstimator(config: config))
  }
}

@c @implementation
public func dirrm_club_free(_ c: OpaquePointer?) -> Int32 {
  abiCall("dirrm_club_free") { () throws(ABIError) in
    try Handles.release(c, ClubEstimator.self, "c")
  }
}

@c @implementation
public func dirrm_club_get_params(_ c: OpaquePointer?, _ out: UnsafeMutablePointer<dirrm_club_params>?)
  -> Int32
{
  abiCall("dirrm_club_get_params") { () throws(ABIError) in
    let box = try lookup(c)
    try Check.output(out, "out").pointee = params(of: box.value.config)
  }
}

@c @implementation
public func dirrm_club_fit(
  _ c: OpaquePointer?, _ n: Int64, _ hChosen: UnsafePointer<Float>?, _ hRejected: UnsafePointer<Float>?,
  _ bias: UnsafePointer<Float>?, _ outNll: UnsafeMutablePointer<Float>?
) -> Int32 {
  abiCall("dirrm_club_fit") { () throws(ABIError) in
    let box = try lookup(c)
    let batch = try checkedBatch(box.value, n, hChosen, hRejected, bias)
    // The fit runs first and the optional output is written after: a NULL out_nll must not
    // skip the work (only the NLL's extra forward).
    let nll = try numeric { () throws(NumericError) in try box.value.fit(batch, measure: outNll != nil) }
    if let outNll, let nll { outNll.pointee = nll }
  }
}

@c @implementation
public func dirrm_club_log_prob(
  _ c: OpaquePointer?, _ n: Int64, _ hChosen: UnsafePointer<Float>?, _ hRejected: UnsafePointer<Float>?,
  _ bias: UnsafePointer<Float>?, _ outLogProb: UnsafeMutablePointer<Float>?
) -> Int32 {
  abiCall("dirrm_club_log_prob") { () throws(ABIError) in
    let box = try lookup(c)
    let batch = try checkedBatch(box.value, n, hChosen, hRejected, bias)
    let out = try Check.output(outLogProb, "out_log_prob")
    try writeFloats(box.value.logProbability(batch), to: out, "log_prob")
  }
}

@c @implementation
public func dirrm_club_stats_len(_ c: OpaquePointer?, _ outLen: UnsafeMutablePointer<Int64>?) -> Int32 {
  abiCall("dirrm_club_stats_len") { () throws(ABIError) in
    let box = try lookup(c)
    try Check.output(outLen, "out_len").pointee = Int64(box.value.config.statsLength)
  }
}

@c @implementation
public func dirrm_club_bias_stats(
  _ c: OpaquePointer?, _ n: Int64, _ bias: UnsafePointer<Float>?, _ outStats: UnsafeMutablePointer<Float>?
) -> Int32 {
  abiCall("dirrm_club_bias_stats") { () throws(ABIError) in
    let box = try lookup(c)
    let rows = try Check.count(n, "n")
    let values = try Check.array(bias, try Check.product(rows, box.value.config.biasColumns, "bias"), "bias")
    let stats = try configured("") { () throws(ConfigError) in
      try box.value.statistics(bias: values, rows: rows)
    }
    let out = try Check.output(outStats, "out_stats")
    try writeFloats(stats.values, to: out, "out_stats")
  }
}

/// Caller-supplied bias statistics (summed over workers), checked by the core.
func checkedStats(_ stats: UnsafePointer<Float>?, _ config: ClubEstimator.Config) throws(ABIError)
  -> BiasStatistics?
{
  guard stats != nil else { return nil }
  let values = try Check.array(stats, config.statsLength, "bias_stats").map(Double.init)
  return try configured("") { () throws(ConfigError) in
    try BiasStatistics(checking: values, kind: config.kind)
  }
}

@c @implementation
public func dirrm_club_bound(
  _ c: OpaquePointer?, _ n: Int64, _ hChosen: UnsafePointer<Float>?, _ hRejected: UnsafePointer<Float>?,
  _ bias: UnsafePointer<Float>?, _ biasStats: UnsafePointer<Float>?, _ outMi: UnsafeMutablePointer<Float>?,
  _ gradChosen: UnsafeMutablePointer<Float>?, _ gradRejected: UnsafeMutablePointer<Float>?
) -> Int32 {
  abiCall("dirrm_club_bound") { () throws(ABIError) in
    let box = try lookup(c)
    let batch = try checkedBatch(box.value, n, hChosen, hRejected, bias)
    let stats = try checkedStats(biasStats, box.value.config)
    if let stats {
      let own = box.value.statistics(batch)
      try configured("") { () throws(ConfigError) in try stats.validate(containing: own) }
    }
    let mi = try Check.output(outMi, "out_mi")
    let (value, gx) = box.value.bound(
      batch, stats: stats, wantGradient: gradChosen != nil || gradRejected != nil)
    let bound = try asFloat(value, "the bound")
    if let gx, let i = gx.firstIndex(where: { !$0.isFinite }) {
      throw ABIError(DIRRM_ERR_NONFINITE, "the bound's gradient overflows float32 at X element \(i)")
    }
    mi.pointee = bound
    if let gx {
      let split = box.value.splitGradient(gx, rows: batch.rows)
      Check.write(split.chosen, toOptional: gradChosen)
      Check.write(split.rejected, toOptional: gradRejected)
    }
  }
}

@c @implementation
public func dirrm_club_num_weights(_ c: OpaquePointer?, _ outLen: UnsafeMutablePointer<Int64>?) -> Int32 {
  abiCall("dirrm_club_num_weights") { () throws(ABIError) in
    let box = try lookup(c)
    try Check.output(outLen, "out_len").pointee = Int64(box.value.weights.count)
  }
}

private func checkWeightCount(_ len: Int64, _ club: ClubEstimator) throws(ABIError) -> Int {
  guard len == Int64(club.weights.count) else {
    throw ABIError(DIRRM_ERR_SHAPE, "len = \(len) but q has \(club.weights.count) parameters")
  }
  return club.weights.count
}

@c @implementation
public func dirrm_club_get_weights(_ c: OpaquePointer?, _ out: UnsafeMutablePointer<Float>?, _ len: Int64)
  -> Int32
{
  abiCall("dirrm_club_get_weights") { () throws(ABIError) in
    let box = try lookup(c)
    let count = try checkWeightCount(len, box.value)
    _ = count
    Check.write(box.value.weights, to: try Check.output(out, "out"))
  }
}

@c @implementation
public func dirrm_club_set_weights(_ c: OpaquePointer?, _ w: UnsafePointer<Float>?, _ len: Int64) -> Int32 {
  abiCall("dirrm_club_set_weights") { () throws(ABIError) in
    let box = try lookup(c)
    let count = try checkWeightCount(len, box.value)
    let values = try Check.array(w, count, "w")
    try configured("") { () throws(ConfigError) in try box.value.setWeights(values) }
  }
}

@c @implementation
public func dirrm_club_save(
  _ c: OpaquePointer?, _ buf: UnsafeMutablePointer<UInt8>?, _ cap: Int64,
  _ outSize: UnsafeMutablePointer<Int64>?
) -> Int32 {
  abiCall("dirrm_club_save") { () throws(ABIError) in
    let box = try lookup(c)
    try writeSerialized(box.value.serialized(), buf, cap, outSize)
  }
}

@c @implementation
public func dirrm_club_load(
  _ buf: UnsafePointer<UInt8>?, _ size: Int64, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
  abiCall("dirrm_club_load") { () throws(ABIError) in
    let bytes = try readSerialized(buf, size)
    let handle = try Check.output(out, "out")
    do throws(FormatError) {
      let club = try ClubEstimator(serialized: bytes)
      handle.pointee = Handles.register(club)
    } catch {
      throw ABIError(error)
    }
  }
}
