/// The estimator's serialized form: its configuration, the Gaussian standardization, q's
/// parameters and the AdamW state.
extension ClubEstimator {
  static let magic: [UInt8] = Array("DIRRMCB\0".utf8)
  /// Version 2 added the standardization (count, then m means, then m squared deviations).
  /// Version 1 states load when categorical; a Gaussian one held a q fitted on the raw bias,
  /// which the standardized estimator cannot continue.
  static let formatVersion: UInt32 = 2

  /// Bytes `serialized()` holds at most (ByteWriter.savingBound of the state).
  public var serializedBound: Int? {
    ByteWriter.savingBound(config.stateBytes)
  }

  public func serialized() -> [UInt8] {
    var w = ByteWriter()
    switch config.kind {
    case .categorical(let c):
      w.u8(0)
      w.u64(UInt64(c))
    case .gaussian(let m):
      w.u8(1)
      w.u64(UInt64(m))
    }
    w.u64(UInt64(config.hiddenDim))
    w.u8(config.pairMode == .difference ? 0 : 1)
    w.u64(UInt64(config.qHidden))
    w.u64(UInt64(config.fitSteps))
    w.f32(config.learningRate)
    w.f32(config.weightDecay)
    w.f32(config.logvarBound)
    w.u64(config.seed)
    w.u64(UInt64(optimizer.step))
    w.f64(standardization.count)
    for v in standardization.mean { w.f64(v) }
    for v in standardization.squaredDeviations { w.f64(v) }
    for v in weights { w.f32(v) }
    for v in optimizer.firstMoment { w.f32(v) }
    for v in optimizer.secondMoment { w.f32(v) }
    return ByteWriter.frame(magic: Self.magic, version: Self.formatVersion, payload: w.bytes)
  }

  /// Restores an estimator, accepting only what `serialized` could have written: a valid
  /// configuration, exactly its parameters, finite values, and an AdamW step that leaves room
  /// to count.
  public init(serialized bytes: [UInt8]) throws(FormatError) {
    var r = try ByteReader(framed: bytes, magic: Self.magic, versions: 1...Self.formatVersion)
    let kindCode = try r.u8()
    let biasDim = try r.u64()
    let hidden = try r.u64()
    let modeCode = try r.u8()
    let qHidden = try r.u64()
    let fitSteps = try r.u64()
    let lr = try r.f32()
    let wd = try r.f32()
    let bound = try r.f32()
    let seed = try r.u64()
    let step = try r.u64()
    let limit = UInt64(Int32.max)
    guard kindCode <= 1, modeCode <= 1, biasDim <= limit, hidden <= limit, qHidden <= limit,
      fitSteps <= limit, step <= UInt64(Limits.maxCounter)
    else { throw .corrupt("invalid estimator settings") }
    let config = Config(
      kind: kindCode == 0 ? .categorical(classes: Int(biasDim)) : .gaussian(dimensions: Int(biasDim)),
      hiddenDim: Int(hidden), pairMode: modeCode == 0 ? .difference : .concat, qHidden: Int(qHidden),
      fitSteps: Int(fitSteps), learningRate: lr, weightDecay: wd, logvarBound: bound, seed: seed)
    guard (try? config.validate()) != nil else { throw .corrupt("invalid estimator settings") }
    let m = config.kind == .categorical(classes: config.biasDim) ? 0 : config.biasDim
    var standardization = BiasStandardization(dimensions: m)
    if r.version >= 2 {
      let count = try r.f64()
      var moments = [Double]()
      for _ in 0..<(2 * m) { moments.append(try r.f64()) }
      guard
        let saved = BiasStandardization(
          count: count, mean: Array(moments[..<m]), squaredDeviations: Array(moments[m...]))
      else { throw .corrupt("invalid bias standardization") }
      standardization = saved
    } else if m > 0 {
      throw .version("a Gaussian estimator of format version 1 was fitted on the unstandardized bias")
    }
    let count = config.networks.last?.end ?? 0
    // Checked against the bytes present before ClubEstimator(config:) allocates anything.
    guard r.remaining / 12 == count, r.remaining % 12 == 0 else {
      throw .corrupt("parameter block of the wrong size")
    }
    var restored = ClubEstimator(config: config)
    for i in 0..<count { restored.weights[i] = try r.f32() }
    for i in 0..<count { restored.optimizer.firstMoment[i] = try r.f32() }
    for i in 0..<count { restored.optimizer.secondMoment[i] = try r.f32() }
    restored.optimizer.step = Int(step)
    restored.standardization = standardization
    guard restored.weights.allSatisfy(\.isFinite), restored.optimizer.firstMoment.allSatisfy(\.isFinite),
      restored.optimizer.secondMoment.allSatisfy({ $0.isFinite && $0 >= 0 })
    else { throw .corrupt("non-finite parameters") }
    self = restored
  }
}

extension ByteReader {
  /// Bytes left in the payload.
  public var remaining: Int { bytes.endIndex - position }
}
