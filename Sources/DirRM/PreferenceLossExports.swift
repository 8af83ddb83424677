import CDirRM
import DirRMCore

@c @implementation
public func dirrm_bt_loss(
  _ n: Int64, _ rChosen: UnsafePointer<Float>?, _ rRejected: UnsafePointer<Float>?,
  _ margin: UnsafePointer<Float>?, _ weight: UnsafePointer<Float>?, _ centerCoef: Float,
  _ outLoss: UnsafeMutablePointer<Float>?, _ gradChosen: UnsafeMutablePointer<Float>?,
  _ gradRejected: UnsafeMutablePointer<Float>?
) -> Int32 {
  abiCall("dirrm_bt_loss") { () throws(ABIError) in
    let count = try Check.count(n, "n")
    let chosen = try Check.unchecked(rChosen, count, "r_chosen")
    let rejected = try Check.unchecked(rRejected, count, "r_rejected")
    let margins = try Check.optionalArray(margin, count, "margin")
    let weights = try Check.optionalArray(weight, count, "weight")
    let preference = try bridge("") { () throws(ConfigError) in
      try PreferenceLoss(pairs: count, margin: margins, weight: weights, centerCoef: centerCoef)
    }
    let out = try Check.output(outLoss, "out_loss")
    // In place when it is safe: float-aligned buffers, both gradients or neither, and no
    // output overlapping another buffer (docs/decisions.md). The rewards are then checked only
    // if the loss fails, which a non-finite reward makes it do, to name the bad one.
    let rewardBytes = [UnsafeRawBufferPointer(chosen), UnsafeRawBufferPointer(rejected)]
    let outBytes = UnsafeRawBufferPointer(UnsafeBufferPointer(start: out, count: 1))
    switch (gradChosen, gradRejected) {
    case (nil, nil) where Check.aligned(rewardBytes) && Check.disjoint([outBytes], from: rewardBytes):
      let value = try rewardsFirst(chosen, rejected) { () throws(NumericError) in
        try preference.loss(chosen: chosen.span, rejected: rejected.span)
      }
      out.pointee = value
      return
    case (let towardChosen?, let towardRejected?):
      let gradients = [
        UnsafeMutableBufferPointer(start: towardChosen, count: count),
        UnsafeMutableBufferPointer(start: towardRejected, count: count),
      ]
      let gradientBytes = gradients.map { UnsafeRawBufferPointer($0) }
      guard Check.aligned(rewardBytes + gradientBytes),
        Check.disjoint(gradientBytes + [outBytes], from: rewardBytes)
      else { break }
      var first = gradients[0].mutableSpan
      var second = gradients[1].mutableSpan
      let value = try rewardsFirst(chosen, rejected) { () throws(NumericError) in
        try preference.evaluate(
          chosen: chosen.span, rejected: rejected.span, gradientChosen: &first, gradientRejected: &second)
      }
      out.pointee = value
      return
    default:
      break
    }
    // Copied in and out, as before this path existed: the rewards are read after a gradient
    // is written where they overlap. The copies are probed by Check.array; the gradients and
    // a rescaled copy of the weights are probed here.
    try reserve(Workspace.bytes([[count, 3]]), for: "the gradients")
    let rewards = PairBatch(
      chosen: try Check.array(rChosen, count, "r_chosen"),
      rejected: try Check.array(rRejected, count, "r_rejected"), columns: 1)
    let (value, gradient) = try bridge { () throws(NumericError) in
      try preference.evaluate(rewards, wantGradient: gradChosen != nil || gradRejected != nil)
    }
    out.pointee = value
    if let gradient {
      Check.write(gradient.chosen, toOptional: gradChosen)
      Check.write(gradient.rejected, toOptional: gradRejected)
    }
  }
}

/// The body's result, through the error bridge; when it throws, a non-finite reward's error
/// (the cause to report) if there is one, else the body's.
private func rewardsFirst<T>(
  _ chosen: UnsafeBufferPointer<Float>, _ rejected: UnsafeBufferPointer<Float>,
  _ body: () throws(NumericError) -> T
) throws(ABIError) -> T {
  do {
    return try bridge("", body)
  } catch {
    try Check.requireFinite(chosen, "r_chosen")
    try Check.requireFinite(rejected, "r_rejected")
    throw error
  }
}
