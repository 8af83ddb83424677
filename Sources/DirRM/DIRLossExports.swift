import CDirRM
import DirRMCore

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
    let rewards = PairBatch(
      chosen: try Check.array(rChosen, rows, "r_chosen"),
      rejected: try Check.array(rRejected, rows, "r_rejected"),
      columns: 1)
    try Check.finite(lambda, "lambda")
    guard lambda >= 0 else { throw ABIError(DIRRM_ERR_INVALID_ARGUMENT, "lambda = \(lambda) must be >= 0") }
    try Check.oneOf(fitFirst, 0...1, "fit_first", "0/1")
    let total = try Check.output(outTotal, "out_total")
    let result = try numeric { () throws(NumericError) in
      try DIRLoss.evaluate(
        rewards: rewards, preference: .plain(pairs: rows), club: &box.value, batch: batch, lambda: lambda,
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
