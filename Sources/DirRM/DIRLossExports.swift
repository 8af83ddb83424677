import CDirRM
import DirRMCore

@c @implementation
public func dirrm_dir_loss(
  _ c: OpaquePointer?, _ p: UnsafePointer<dirrm_dir_params>?, _ n: Int64, _ rChosen: UnsafePointer<Float>?,
  _ rRejected: UnsafePointer<Float>?, _ hChosen: UnsafePointer<Float>?, _ hRejected: UnsafePointer<Float>?,
  _ bias: UnsafePointer<Float>?, _ fitFirst: Int32, _ outTotal: UnsafeMutablePointer<Float>?,
  _ outPref: UnsafeMutablePointer<Float>?, _ outMi: UnsafeMutablePointer<Float>?,
  _ gradRChosen: UnsafeMutablePointer<Float>?, _ gradRRejected: UnsafeMutablePointer<Float>?,
  _ gradHChosen: UnsafeMutablePointer<Float>?, _ gradHRejected: UnsafeMutablePointer<Float>?
) -> Int32 {
  abiCall("dirrm_dir_loss") { () throws(ABIError) in
    let box = try lookup(c)
    let given = p == nil ? params(of: DIRLoss.Settings.defaults) : try readParams(p, "p")
    let policy = try dirPolicy(given, club: box.value.config, "p->")
    try bridge("p->") { () throws(ConfigError) in try policy.validate() }
    let batch = try checkedBatch(box.value, n, hChosen, hRejected, bias)
    let rows = batch.rows
    let rewards = PairBatch(
      chosen: try Check.array(rChosen, rows, "r_chosen"),
      rejected: try Check.array(rRejected, rows, "r_rejected"),
      columns: 1)
    try Check.oneOf(fitFirst, 0...1, "fit_first", "0/1")
    let total = try Check.output(outTotal, "out_total")
    // A fit runs on a copy of q (kept only if the whole call succeeds).
    if fitFirst == 1 { try reserve(box.value.config.stateBytes, for: "a copy of the estimator") }
    let result = try bridge { () throws(NumericError) in
      try DIRLoss.evaluate(
        rewards: rewards, preference: .plain(pairs: rows), club: &box.value, batch: batch, policy: policy,
        fitFirst: fitFirst == 1, wantRewardGradient: gradRChosen != nil || gradRRejected != nil,
        wantHiddenGradient: gradHChosen != nil || gradHRejected != nil)
    }
    total.pointee = result.total
    outPref?.pointee = result.preference
    outMi?.pointee = result.bound
    if let g = result.rewardGradient {
      Check.write(g.chosen, toOptional: gradRChosen)
      Check.write(g.rejected, toOptional: gradRRejected)
    }
    if let g = result.hiddenGradient {
      Check.write(g.chosen, toOptional: gradHChosen)
      Check.write(g.rejected, toOptional: gradHRejected)
    }
  }
}

@c @implementation
public func dirrm_dir_cap(
  _ n: Int64, _ d: Int64, _ prefChosen: UnsafePointer<Float>?, _ prefRejected: UnsafePointer<Float>?,
  _ gradChosen: UnsafeMutablePointer<Float>?, _ gradRejected: UnsafeMutablePointer<Float>?,
  _ outScale: UnsafeMutablePointer<Float>?
) -> Int32 {
  abiCall("dirrm_dir_cap") { () throws(ABIError) in
    let cells = try Check.product(try Check.count(n, "n"), try Check.count(d, "d"), "grad_h_chosen")
    let preference = PairBatch(
      chosen: try Check.array(prefChosen, cells, "pref_grad_h_chosen"),
      rejected: try Check.array(prefRejected, cells, "pref_grad_h_rejected"), columns: 1)
    let chosenOut = try Check.output(gradChosen, "grad_h_chosen")
    let rejectedOut = try Check.output(gradRejected, "grad_h_rejected")
    try reserve(Workspace.bytes([[cells, 2]]), for: "the capped gradients")
    let penalty = PairBatch(
      chosen: try Check.array(UnsafePointer(chosenOut), cells, "grad_h_chosen"),
      rejected: try Check.array(UnsafePointer(rejectedOut), cells, "grad_h_rejected"), columns: 1)
    let (scale, capped) = try bridge { () throws(NumericError) in try DIRLoss.cap(penalty, under: preference)
    }
    if let capped {
      Check.write(capped.chosen, to: chosenOut)
      Check.write(capped.rejected, to: rejectedOut)
    }
    outScale?.pointee = scale
  }
}
