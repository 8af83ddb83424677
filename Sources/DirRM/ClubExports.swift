import CDirRM
import DirRMCore

@c @implementation
public func dirrm_club_params_init(_ p: UnsafeMutablePointer<dirrm_club_params>?) {
  p?.pointee = params(of: ClubEstimator.Config.defaults)
}

/// The configuration a parameter struct describes, or the first problem with it.
func clubConfig(_ p: dirrm_club_params, _ name: String = "p->") throws(ABIError) -> ClubEstimator.Config {
  try Check.oneOf(
    p.bias_kind, DIRRM_BIAS_CATEGORICAL...DIRRM_BIAS_GAUSSIAN, "\(name)bias_kind", "DIRRM_BIAS_*")
  try Check.oneOf(
    p.pair_mode, DIRRM_PAIR_DIFFERENCE...DIRRM_PAIR_CONCAT, "\(name)pair_mode", "DIRRM_PAIR_*")
  let biasDim = Int(p.bias_dim)
  let config = ClubEstimator.Config(
    kind: p.bias_kind == DIRRM_BIAS_GAUSSIAN
      ? .gaussian(dimensions: biasDim) : .categorical(classes: biasDim),
    hiddenDim: Int(p.hidden_dim), pairMode: p.pair_mode == DIRRM_PAIR_DIFFERENCE ? .difference : .concat,
    qHidden: Int(p.q_hidden), fitSteps: Int(p.fit_steps), learningRate: p.learning_rate,
    weightDecay: p.weight_decay, logvarBound: p.logvar_bound, seed: p.seed)
  try validated(name) { () throws(ConfigError) in try config.validate() }
  return config
}

/// The parameter struct a configuration came from (dirrm_club_params_init from the core's
/// defaults, dirrm_club_get_params, the trainer's defaults).
func params(of config: ClubEstimator.Config) -> dirrm_club_params {
  let (kind, dim): (Int32, Int) =
    switch config.kind {
    case .categorical(let c): (DIRRM_BIAS_CATEGORICAL, c)
    case .gaussian(let m): (DIRRM_BIAS_GAUSSIAN, m)
    }
  return dirrm_club_params(
    struct_size: UInt32(MemoryLayout<dirrm_club_params>.size), bias_kind: kind,
    bias_dim: Int32(clamping: dim),
    hidden_dim: Int32(clamping: config.hiddenDim),
    pair_mode: config.pairMode == .difference ? DIRRM_PAIR_DIFFERENCE : DIRRM_PAIR_CONCAT,
    q_hidden: Int32(clamping: config.qHidden), fit_steps: Int32(clamping: config.fitSteps),
    learning_rate: config.learningRate, weight_decay: config.weightDecay, logvar_bound: config.logvarBound,
    seed: config.seed)
}

/// A checked bias buffer of n rows for this estimator.
private func checkedBias(_ bias: UnsafePointer<Float>?, _ n: Int, _ config: ClubEstimator.Config)
  throws(ABIError) -> UnsafeBufferPointer<Float>
{
  let values = try Check.input(bias, try Check.product(n, config.biasColumns, "bias"), "bias")
  if case .categorical(let c) = config.kind,
    let i = values.firstIndex(where: { $0 < 0 || $0 >= Float(c) || $0 != $0.rounded() })
  {
    throw ABIError(DIRRM_ERR_INVALID_ARGUMENT, "bias[\(i)] = \(values[i]) is not a class id in [0, \(c))")
  }
  return values
}

/// The estimator's batch from checked hidden states and bias.
private func checkedBatch(
  _ club: ClubEstimator, _ n: Int64, _ chosen: UnsafePointer<Float>?, _ rejected: UnsafePointer<Float>?,
  _ bias: UnsafePointer<Float>?
) throws(ABIError) -> ClubEstimator.Batch {
  let rows = try Check.count(n, "n")
  guard rows <= Int(Int32.max) else {
    throw ABIError(DIRRM_ERR_SHAPE, "n = \(n) exceeds \(Int32.max) rows")
  }
  let cells = try Check.product(rows, club.config.hiddenDim, "h_chosen")
  try reserve(club.config.workBytes(rows: rows), for: "n = \(n) rows")
  let hc = try Check.input(chosen, cells, "h_chosen")
  let hr = try Check.input(rejected, cells, "h_rejected")
  return club.batch(chosen: hc, rejected: hr, bias: try checkedBias(bias, rows, club.config))
}

private func lookup(_ c: OpaquePointer?) throws(ABIError) -> HandleBox<ClubEstimator> {
  try Handles.lookup(c, ClubEstimator.self, "c")
}

/// A result that must fit in float32.
private func asFloat(_ value: Double, _ name: String) throws(ABIError) -> Float {
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
    // skip the work.
    let nll = try fit(box, batch)
    outNll?.pointee = nll
  }
}

/// Fits q, restoring it when the steps diverge.
private func fit(_ box: HandleBox<ClubEstimator>, _ batch: ClubEstimator.Batch) throws(ABIError) -> Float {
  let before = box.value
  let nll = box.value.fit(batch)
  guard nll.fitsInFloat, box.value.weights.allSatisfy(\.isFinite) else {
    box.value = before
    throw ABIError(DIRRM_ERR_NONFINITE, "fitting q diverged (NLL \(nll)); q was left as it was")
  }
  return Float(nll)
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
    let values = try checkedBias(bias, rows, box.value.config)
    let out = try Check.output(outStats, "out_stats")
    try writeFloats(box.value.statistics(values, rows: rows), to: out, "out_stats")
  }
}

/// Checks caller-supplied bias statistics and widens them to double.
private func checkedStats(_ stats: UnsafePointer<Float>?, _ config: ClubEstimator.Config) throws(ABIError)
  -> [Double]?
{
  guard stats != nil else { return nil }
  let values = try Check.input(stats, config.statsLength, "bias_stats").map(Double.init)
  guard values[0] >= 1 else {
    throw ABIError(DIRRM_ERR_INVALID_ARGUMENT, "bias_stats[0] (the count) = \(values[0]) must be >= 1")
  }
  switch config.kind {
  case .categorical(let c):
    if let j = (1...c).first(where: { values[$0] < 0 }) {
      throw ABIError(DIRRM_ERR_INVALID_ARGUMENT, "bias_stats[\(j)] = \(values[j]) is a negative class count")
    }
    let total = values[1...c].reduce(0, +)
    guard Swift.abs(total - values[0]) <= 1e-6 * values[0] else {
      throw ABIError(
        DIRRM_ERR_INVALID_ARGUMENT, "bias_stats: class counts sum to \(total), not the count \(values[0])")
    }
  case .gaussian(let m):
    if let j = (1 + m...2 * m).first(where: { values[$0] < 0 }) {
      throw ABIError(
        DIRRM_ERR_INVALID_ARGUMENT, "bias_stats[\(j)] = \(values[j]) is a negative sum of squares")
    }
  }
  return values
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
    let mi = try Check.output(outMi, "out_mi")
    let (value, gx) = box.value.bound(
      batch, stats: stats, wantGradient: gradChosen != nil || gradRejected != nil)
    let bound = try asFloat(value, "the bound")
    if let gx, let i = gx.firstIndex(where: { !$0.isFinite }) {
      throw ABIError(DIRRM_ERR_NONFINITE, "the bound's gradient overflows float32 at X element \(i)")
    }
    mi.pointee = bound
    if let gx {
      let cells = batch.rows * box.value.config.hiddenDim
      box.value.splitGradient(
        gx, rows: batch.rows, chosen: Check.optionalOutput(gradChosen, cells),
        rejected: Check.optionalOutput(gradRejected, cells))
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
    let destination = try Check.output(out, "out")
    for i in 0..<count { destination[i] = box.value.weights[i] }
  }
}

@c @implementation
public func dirrm_club_set_weights(_ c: OpaquePointer?, _ w: UnsafePointer<Float>?, _ len: Int64) -> Int32 {
  abiCall("dirrm_club_set_weights") { () throws(ABIError) in
    let box = try lookup(c)
    let count = try checkWeightCount(len, box.value)
    box.value.setWeights(try Check.input(w, count, "w"))
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

@c @implementation
public func dirrm_dir_loss(
  _ c: OpaquePointer?, _ n: Int64, _ rChosen: UnsafePointer<Float>?, _ rRejected: UnsafePointer<Float>?,
  _ hChosen: UnsafePointer<Float>?, _ hRejected: UnsafePointer<Float>?, _ bias: UnsafePointer<Float>?,
  _ lambda: Float, _ fitFirst: Int32, _ outTotal: UnsafeMutablePointer<Float>?,
  _ outPref: UnsafeMutablePointer<Float>?, _ outMi: UnsafeMutablePointer<Float>?,
  _ gradRChosen: UnsafeMutablePointer<Float>?, _ gradRRejected: UnsafeMutablePointer<Float>?,
  _ gradHChosen: UnsafeMutablePointer<Float>?, _ gradHRejected: UnsafeMutablePointer<Float>?
) -> Int32 {
  abiCall("dirrm_dir_loss") { () throws(ABIError) in
    let box = try lookup(c)
    let batch = try checkedBatch(box.value, n, hChosen, hRejected, bias)
    let rows = batch.rows
    let chosen = try Check.input(rChosen, rows, "r_chosen")
    let rejected = try Check.input(rRejected, rows, "r_rejected")
    try Check.finite(lambda, "lambda")
    guard lambda >= 0 else { throw ABIError(DIRRM_ERR_INVALID_ARGUMENT, "lambda = \(lambda) must be >= 0") }
    try Check.oneOf(fitFirst, 0...1, "fit_first", "0/1")
    let total = try Check.output(outTotal, "out_total")
    // Everything that can fail runs before any output is written; a failed fit restores q.
    if fitFirst == 1 { _ = try fit(box, batch) }
    let wantH = gradHChosen != nil || gradHRejected != nil
    let (miValue, gx) = box.value.bound(batch, stats: nil, wantGradient: wantH)
    let mi = try asFloat(miValue, "the bound")
    if let gx, let i = gx.firstIndex(where: { !($0 * lambda).isFinite }) {
      throw ABIError(
        DIRRM_ERR_NONFINITE, "lambda times the bound's gradient overflows float32 at X element \(i)")
    }
    let pref = try numeric { () throws(NumericError) in
      try PreferenceLoss.bradleyTerry(
        chosen: chosen, rejected: rejected, margin: nil, weight: nil, centerCoef: 0, gradChosen: nil,
        gradRejected: nil)
    }
    total.pointee = try asFloat(Double(pref) + Double(lambda) * Double(mi), "the total loss")
    if gradRChosen != nil || gradRRejected != nil {
      _ = try numeric { () throws(NumericError) in
        try PreferenceLoss.bradleyTerry(
          chosen: chosen, rejected: rejected, margin: nil, weight: nil, centerCoef: 0,
          gradChosen: Check.optionalOutput(gradRChosen, rows),
          gradRejected: Check.optionalOutput(gradRRejected, rows))
      }
    }
    if let gx {
      let cells = rows * box.value.config.hiddenDim
      box.value.splitGradient(
        gx, rows: rows, chosen: Check.optionalOutput(gradHChosen, cells),
        rejected: Check.optionalOutput(gradHRejected, cells), scale: lambda)
    }
    outPref?.pointee = pref
    outMi?.pointee = mi
  }
}
