import CDirRM
import DirRMCore

private func placement(_ method: Int32, _ name: String) throws(ABIError) -> BinaryClustering.Placement {
  try Check.oneOf(method, DIRRM_CLUSTER_KMEANS...DIRRM_CLUSTER_OTSU, name, "DIRRM_CLUSTER_*")
  return method == DIRRM_CLUSTER_KMEANS ? .kmeans : .otsu
}

@c @implementation
public func dirrm_cluster_threshold(
  _ n: Int64, _ values: UnsafePointer<Float>?, _ method: Int32, _ outThreshold: UnsafeMutablePointer<Float>?
) -> Int32 {
  abiCall("dirrm_cluster_threshold") { () throws(ABIError) in
    let count = try Check.count(n, "n")
    let input = try Check.array(values, count, "values")
    let where_ = try placement(method, "method")
    let out = try Check.output(outThreshold, "out_threshold")
    try reserve(BinaryClustering.workBytes(count: count), for: "n = \(n) values")
    let threshold = try bridge("") { () throws(ConfigError) in
      try BinaryClustering.threshold(input, placement: where_)
    }
    out.pointee = Float(threshold)
  }
}

@c @implementation
public func dirrm_prioritizer_params_init(_ p: UnsafeMutablePointer<dirrm_prioritizer_params>?) {
  fillDefaults(p) { params(of: Prioritizer.Settings.defaults) }
}

/// The parameter struct of a prioritizer's settings (dirrm_prioritizer_params_init from the
/// core's defaults, the trainer's defaults): the inverse of prioritizerSettings(_:_:).
func params(of settings: Prioritizer.Settings) -> dirrm_prioritizer_params {
  dirrm_prioritizer_params(
    struct_size: UInt32(MemoryLayout<dirrm_prioritizer_params>.size),
    cluster_method: settings.placement == .kmeans ? DIRRM_CLUSTER_KMEANS : DIRRM_CLUSTER_OTSU,
    ema_weight: settings.emaWeight, initial_threshold: settings.initialThreshold,
    reinsertion: settings.lazyReinsertion ? DIRRM_REINSERT_LAZY : DIRRM_REINSERT_IMMEDIATE,
    max_reinsertions: Int32(clamping: settings.maxReinsertions), shuffle: settings.shuffle ? 1 : 0,
    seed: settings.seed)
}

/// The settings a checked parameter struct describes; `name` prefixes the field names.
func prioritizerSettings(_ params: dirrm_prioritizer_params, _ name: String) throws(ABIError)
  -> Prioritizer.Settings
{
  let clusters = try placement(params.cluster_method, "\(name)cluster_method")
  try Check.oneOf(
    params.reinsertion, DIRRM_REINSERT_IMMEDIATE...DIRRM_REINSERT_LAZY, "\(name)reinsertion",
    "DIRRM_REINSERT_*")
  try Check.oneOf(params.shuffle, 0...1, "\(name)shuffle", "0/1")
  let settings = Prioritizer.Settings(
    placement: clusters, emaWeight: params.ema_weight, initialThreshold: params.initial_threshold,
    lazyReinsertion: params.reinsertion == DIRRM_REINSERT_LAZY, maxReinsertions: Int(params.max_reinsertions),
    shuffle: params.shuffle == 1, seed: params.seed)
  try bridge(name) { () throws(ConfigError) in try settings.validate() }
  return settings
}

@c @implementation
public func dirrm_prioritizer_create(
  _ p: UnsafePointer<dirrm_prioritizer_params>?, _ numSamples: Int64,
  _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
  abiCall("dirrm_prioritizer_create") { () throws(ABIError) in
    let settings = try prioritizerSettings(readParams(p, "p"), "p->")
    let count = try Check.count(numSamples, "num_samples")
    let handle = try Check.output(out, "out")
    try reserve(Prioritizer.stateBytes(count: count), for: "num_samples = \(numSamples)")
    let prioritizer = try bridge("p->") { () throws(ConfigError) in
      try Prioritizer(settings: settings, count: count)
    }
    handle.pointee = Handles.register(prioritizer)
  }
}

@c @implementation
public func dirrm_prioritizer_free(_ q: OpaquePointer?) -> Int32 {
  abiCall("dirrm_prioritizer_free") { () throws(ABIError) in
    try Handles.release(q, Prioritizer.self, "q")
  }
}

@c @implementation
public func dirrm_prioritizer_propose(
  _ q: OpaquePointer?, _ maxCount: Int64, _ outIndices: UnsafeMutablePointer<Int64>?,
  _ outCount: UnsafeMutablePointer<Int64>?
) -> Int32 {
  abiCall("dirrm_prioritizer_propose") { () throws(ABIError) in
    let box = try Handles.lookup(q, Prioritizer.self, "q")
    let limit = try Check.count(maxCount, "max_count")
    let indices = try Check.output(outIndices, "out_indices")
    let count = try Check.output(outCount, "out_count")
    try reserve(box.value.proposeBytes(maxCount: limit), for: "max_count = \(maxCount)")
    let proposed = try bridge { () throws(MisuseError) in try box.value.propose(maxCount: limit) }
    Check.write(proposed.map { Int64($0) }, to: indices)
    count.pointee = Int64(proposed.count)
  }
}

@c @implementation
public func dirrm_prioritizer_decide(
  _ q: OpaquePointer?, _ count: Int64, _ indices: UnsafePointer<Int64>?, _ dr2: UnsafePointer<Float>?,
  _ outAccept: UnsafeMutablePointer<UInt8>?
) -> Int32 {
  abiCall("dirrm_prioritizer_decide") { () throws(ABIError) in
    let box = try Handles.lookup(q, Prioritizer.self, "q")
    let n = try Check.count(count, "count")
    let which = try Check.indexArray(indices, n, "indices", below: box.value.count)
    let values = try Check.array(dr2, n, "dr2")
    let accept = try Check.output(outAccept, "out_accept")
    try reserve(Prioritizer.decideBytes(count: n), for: "count = \(count)")
    let decided = try bridge { () throws(MisuseError) in try box.value.decide(which, values) }
    Check.write(decided.map { $0 ? UInt8(1) : 0 }, to: accept)
  }
}

@c @implementation
public func dirrm_prioritizer_observe(_ q: OpaquePointer?, _ count: Int64, _ dr2: UnsafePointer<Float>?)
  -> Int32
{
  abiCall("dirrm_prioritizer_observe") { () throws(ABIError) in
    let box = try Handles.lookup(q, Prioritizer.self, "q")
    let n = try Check.count(count, "count")
    try reserve(box.value.observeBytes(count: n), for: "count = \(count)")
    let values = try Check.array(dr2, n, "dr2")
    try bridge { () throws(MisuseError) in try box.value.observe(values) }
  }
}

@c @implementation
public func dirrm_prioritizer_end_step(_ q: OpaquePointer?, _ outThreshold: UnsafeMutablePointer<Float>?)
  -> Int32
{
  abiCall("dirrm_prioritizer_end_step") { () throws(ABIError) in
    let box = try Handles.lookup(q, Prioritizer.self, "q")
    try reserve(box.value.endStepBytes, for: "the step's values")
    let threshold = box.value.endStep()
    outThreshold?.pointee = threshold  // computed above: a NULL output must not skip the step
  }
}

@c @implementation
public func dirrm_prioritizer_num_samples(_ q: OpaquePointer?, _ out: UnsafeMutablePointer<Int64>?) -> Int32 {
  abiCall("dirrm_prioritizer_num_samples") { () throws(ABIError) in
    let box = try Handles.lookup(q, Prioritizer.self, "q")
    try Check.output(out, "out_num_samples").pointee = Int64(box.value.count)
  }
}

@c @implementation
public func dirrm_prioritizer_get_stats(
  _ q: OpaquePointer?, _ out: UnsafeMutablePointer<dirrm_prioritizer_stats>?
) -> Int32 {
  abiCall("dirrm_prioritizer_get_stats") { () throws(ABIError) in
    let box = try Handles.lookup(q, Prioritizer.self, "q")
    let destination = try Check.output(out, "out")
    _ = try readParams(UnsafePointer(destination), "out")
    let s = box.value.stats
    destination.pointee = dirrm_prioritizer_stats(
      struct_size: UInt32(MemoryLayout<dirrm_prioritizer_stats>.size), epoch: Int64(s.epoch),
      step: Int64(s.step),
      proposed: Int64(s.proposed), accepted: Int64(s.accepted), rejected: Int64(s.rejected),
      reinserted: Int64(s.reinserted), dropped: Int64(s.dropped), pool_remaining: Int64(s.poolRemaining),
      threshold: s.threshold)
  }
}

@c @implementation
public func dirrm_prioritizer_save(
  _ q: OpaquePointer?, _ buf: UnsafeMutablePointer<UInt8>?, _ cap: Int64,
  _ outSize: UnsafeMutablePointer<Int64>?
) -> Int32 {
  abiCall("dirrm_prioritizer_save") { () throws(ABIError) in
    let box = try Handles.lookup(q, Prioritizer.self, "q")
    try reserve(box.value.serializedBound, for: "the saved prioritizer")
    try writeSerialized(box.value.serialized(), buf, cap, outSize)
  }
}

@c @implementation
public func dirrm_prioritizer_load(
  _ buf: UnsafePointer<UInt8>?, _ size: Int64, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
  abiCall("dirrm_prioritizer_load") { () throws(ABIError) in
    let bytes = try readSerialized(buf, size)
    let handle = try Check.output(out, "out")
    handle.pointee = Handles.register(
      try bridge { () throws(FormatError) in try Prioritizer(serialized: bytes) })
  }
}
