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
    let rewards = PairBatch(
      chosen: try Check.array(rChosen, count, "r_chosen"),
      rejected: try Check.array(rRejected, count, "r_rejected"),
      columns: 1)
    let margins = try Check.optionalArray(margin, count, "margin")
    let weights = try Check.optionalArray(weight, count, "weight")
    let loss = try bridge("") { () throws(ConfigError) in
      try PreferenceLoss(pairs: count, margin: margins, weight: weights, centerCoef: centerCoef)
    }
    let out = try Check.output(outLoss, "out_loss")
    let (value, gradient) = try bridge { () throws(NumericError) in
      try loss.evaluate(rewards, wantGradient: gradChosen != nil || gradRejected != nil)
    }
    out.pointee = value
    if let gradient {
      Check.write(gradient.chosen, toOptional: gradChosen)
      Check.write(gradient.rejected, toOptional: gradRejected)
    }
  }
}
