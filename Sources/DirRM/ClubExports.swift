import CDirRM
import DirRMCore
import Glibc

/// The estimator's checked batch from n rows of hidden states and bias. Unless the caller
/// holds the working set itself (`probingWork` false: `dirrm_club_fit_begin`), it is probed
/// here; each input copy is probed by `Check.array` either way.
func checkedBatch(
  _ club: ClubEstimator, _ n: Int64, _ chosen: UnsafePointer<Float>?, _ rejected: UnsafePointer<Float>?,
  _ bias: UnsafePointer<Float>?, probingWork: Bool = true
) throws(ABIError) -> ClubEstimator.Batch {
  let rows = try Check.count(n, "n")
  try bridge { () throws(ConfigError) in try club.config.checkRows(rows) }
  let cells = try Check.product(rows, club.config.hiddenDim, "h_chosen")
  if probingWork { try reserve(club.config.workBytes(rows: rows), for: "n = \(n) rows") }
  let hidden = PairBatch(
    chosen: try Check.array(chosen, cells, "h_chosen"),
    rejected: try Check.array(rejected, cells, "h_rejected"),
    columns: club.config.hiddenDim)
  let values = try Check.array(bias, try Check.product(rows, club.config.biasColumns, "bias"), "bias")
  return try bridge("") { () throws(ConfigError) in try club.batch(hidden, bias: values) }
}

func lookup(_ c: OpaquePointer?) throws(ABIError) -> HandleBox<ClubEstimator> {
  try Handles.lookup(c, ClubEstimator.self, "c")
}

@c @implementation
public func dirrm_club_create(
  _ p: UnsafePointer<dirrm_club_params>?, _ out: UnsafeMutablePointer<OpaquePointer?>?
)
  -> Int32
{
  abiCall("dirrm_club_create") { () throws(ABIError) in
    let config = try clubConfig(readParams(p, "p"))
    try bridge("p->") { () throws(ConfigError) in try config.validate() }
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
    let nll = try bridge { () throws(NumericError) in try box.value.fit(batch, measure: outNll != nil) }
    if let outNll, let nll { outNll.pointee = nll }
  }
}

@c @implementation
public func dirrm_club_fit_begin(
  _ c: OpaquePointer?, _ n: Int64, _ hChosen: UnsafePointer<Float>?, _ hRejected: UnsafePointer<Float>?,
  _ bias: UnsafePointer<Float>?
) -> Int32 {
  abiCall("dirrm_club_fit_begin") { () throws(ABIError) in
    let box = try lookup(c)
    // A copy: the caller may reuse its buffers. The working set is held below, not probed twice.
    let batch = try checkedBatch(box.value, n, hChosen, hRejected, bias, probingWork: false)
    let held = try bridge { () throws(AllocationError) in
      try Workspace.hold(box.value.config.workBytes(rows: batch.rows), for: "n = \(n) rows")
    }
    let job = BackgroundJob {
      free(held)  // the fit's working set, kept since the check (see Workspace.hold)
      do throws(ABIError) {
        return .success(try bridge { () throws(NumericError) in try box.value.fit(batch, measure: true) })
      } catch {
        return .failure(error)
      }
    }
    do throws(ABIError) {
      try Handles.handOff(box, to: job)
    } catch {
      free(held)
      throw error
    }
  }
}

@c @implementation
public func dirrm_club_fit_finish(_ c: OpaquePointer?, _ outNll: UnsafeMutablePointer<Float>?) -> Int32 {
  abiCall("dirrm_club_fit_finish") { () throws(ABIError) in
    guard let (_, job) = try Handles.takeBackIfRunning(c, ClubEstimator.self, "c") else {
      _ = try lookup(c)  // a fork's or another thread's claim says so first
      throw ABIError(DIRRM_ERR_MISUSE, "c has no fit running in the background (dirrm_club_fit_begin)")
    }
    let nll = try job.outcome.get()
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
    let values = try bridge { () throws(NumericError) in
      try NumericError.float32(box.value.logProbability(batch), "log_prob")
    }
    Check.write(values, to: out)
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
    let stats = try bridge("") { () throws(ConfigError) in
      try box.value.statistics(bias: values, rows: rows)
    }
    let out = try Check.output(outStats, "out_stats")
    Check.write(
      try bridge { () throws(NumericError) in try NumericError.float32(stats.values, "out_stats") }, to: out)
  }
}

/// Caller-supplied bias statistics (summed over workers), checked by the core.
func checkedStats(_ stats: UnsafePointer<Float>?, _ config: ClubEstimator.Config) throws(ABIError)
  -> BiasStatistics?
{
  guard stats != nil else { return nil }
  let values = try Check.array(stats, config.statsLength, "bias_stats").map(Double.init)
  return try bridge("") { () throws(ConfigError) in
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
      try bridge("") { () throws(ConfigError) in try stats.validate(containing: own) }
    }
    let mi = try Check.output(outMi, "out_mi")
    let (bound, gradient) = try bridge { () throws(NumericError) in
      try box.value.boundResult(batch, stats: stats, wantGradient: gradChosen != nil || gradRejected != nil)
    }
    mi.pointee = bound
    if let gradient {
      Check.write(gradient.chosen, toOptional: gradChosen)
      Check.write(gradient.rejected, toOptional: gradRejected)
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
    _ = try checkWeightCount(len, box.value)
    Check.write(box.value.weights, to: try Check.output(out, "out"))
  }
}

@c @implementation
public func dirrm_club_set_weights(_ c: OpaquePointer?, _ w: UnsafePointer<Float>?, _ len: Int64) -> Int32 {
  abiCall("dirrm_club_set_weights") { () throws(ABIError) in
    let box = try lookup(c)
    let count = try checkWeightCount(len, box.value)
    let values = try Check.array(w, count, "w")
    try bridge("") { () throws(ConfigError) in try box.value.setWeights(values) }
  }
}

@c @implementation
public func dirrm_club_save(
  _ c: OpaquePointer?, _ buf: UnsafeMutablePointer<UInt8>?, _ cap: Int64,
  _ outSize: UnsafeMutablePointer<Int64>?
) -> Int32 {
  abiCall("dirrm_club_save") { () throws(ABIError) in
    let box = try lookup(c)
    try reserve(box.value.serializedBound, for: "the saved estimator")
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
    let club = try bridge { () throws(FormatError) in try ClubEstimator(serialized: bytes) }
    // The state as created has q's gradient too (a quarter of it: weights, gradient and two
    // moments), which a loaded one allocates at its first fit.
    try reserve(club.config.stateBytes.map { $0 / 4 }, for: "the estimator's gradient")
    handle.pointee = Handles.register(club)
  }
}
