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
    let chosen = try Check.input(rChosen, count, "r_chosen")
    let rejected = try Check.input(rRejected, count, "r_rejected")
    let margins = try Check.optionalInput(margin, count, "margin")
    let weights = try Check.optionalInput(weight, count, "weight")
    if let weights { try Check.weights(weights, "weight") }
    try Check.finite(centerCoef, "center_coef")
    guard centerCoef >= 0 else {
      throw ABIError(DIRRM_ERR_INVALID_ARGUMENT, "center_coef = \(centerCoef) must be >= 0")
    }
    let loss = try Check.output(outLoss, "out_loss")
    loss.pointee = try numeric { () throws(NumericError) in
      try PreferenceLoss.bradleyTerry(
        chosen: chosen, rejected: rejected, margin: margins, weight: weights,
        centerCoef: centerCoef,
        gradChosen: Check.optionalOutput(gradChosen, count),
        gradRejected: Check.optionalOutput(gradRejected, count))
    }
  }
}
