import Glibc

/// AdamW with decoupled weight decay, step for step as torch.optim.AdamW (single-tensor
/// path, β = (0.9, 0.999), ε = 1e-8), in float32 as torch computes it: the same operations
/// in the same order per element, so the two agree to float32 rounding.
public struct AdamW: Equatable {
  public var learningRate: Float
  public var weightDecay: Float
  public internal(set) var step = 0
  var firstMoment: [Float]
  var secondMoment: [Float]

  static let beta1 = 0.9
  static let beta2 = 0.999
  static let epsilon = 1e-8

  public init(count: Int, learningRate: Float, weightDecay: Float) {
    self.learningRate = learningRate
    self.weightDecay = weightDecay
    firstMoment = [Float](repeating: 0, count: count)
    secondMoment = [Float](repeating: 0, count: count)
  }

  public mutating func reset() {
    step = 0
    for i in firstMoment.indices {
      firstMoment[i] = 0
      secondMoment[i] = 0
    }
  }

  /// One step; returns whether every parameter could be updated to a finite value, checked
  /// inside the same pass. An element whose new value would not be finite keeps its value
  /// and moments, so a caller needs neither a second sweep nor a snapshot to survive a
  /// diverged step.
  @discardableResult
  public mutating func update(_ parameters: inout [Float], gradient: [Float]) -> Bool {
    precondition(
      parameters.count == firstMoment.count && gradient.count == firstMoment.count,
      "AdamW for \(firstMoment.count) parameters updated with \(parameters.count) and \(gradient.count)")
    step += 1
    // torch evaluates these in Python doubles and rounds each to float32 when it meets a
    // float32 tensor; doing the same keeps the per-element arithmetic identical.
    let lr = Double(learningRate)
    let constants = AdamWConstants(
      decay: Float(1 - lr * Double(weightDecay)),
      oneMinusBeta1: Float(1 - Self.beta1),
      beta2: Float(Self.beta2),
      oneMinusBeta2: Float(1 - Self.beta2),
      stepSize: Float(lr / (1 - Self.pow(Self.beta1, step))),
      correction2Root: Float((1 - Self.pow(Self.beta2, step)).squareRoot()),
      epsilon: Float(Self.epsilon))
    return Self.fusedPass(&parameters, gradient, &firstMoment, &secondMoment, constants)
  }

  static func pow(_ base: Double, _ exponent: Int) -> Double {
    Glibc.pow(base, Double(exponent))
  }
}

/// A step's scalars, hoisted out of the per-element loop.
struct AdamWConstants {
  var decay, oneMinusBeta1, beta2, oneMinusBeta2, stepSize, correction2Root, epsilon: Float
}

extension AdamW {
  /// The only unsafe code here: the four arrays are walked through raw buffers, so the loop
  /// has no bounds checks or copy-on-write checks and its body compiles to vector code. It is
  /// safe because `update` checked that all four have the same count, and the buffers do not
  /// outlive the `withUnsafe…` closures.
  private static func fusedPass(
    _ parameters: inout [Float], _ gradient: [Float], _ m: inout [Float], _ v: inout [Float],
    _ c: AdamWConstants
  ) -> Bool {
    gradient.withUnsafeBufferPointer { g in
      parameters.withUnsafeMutableBufferPointer { p in
        m.withUnsafeMutableBufferPointer { m in
          v.withUnsafeMutableBufferPointer { v in
            AdamWKernel(p: p, g: g, m: m, v: v, c: c).run()
          }
        }
      }
    }
  }
}
