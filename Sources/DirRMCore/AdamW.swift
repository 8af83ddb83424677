import Glibc

/// AdamW with decoupled weight decay, step for step as torch.optim.AdamW (single-tensor
/// path, β = (0.9, 0.999), ε = 1e-8), evaluated in double per element.
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

  public mutating func update(_ parameters: inout [Float], gradient: [Float]) {
    step += 1
    let lr = Double(learningRate)
    let decay = 1 - lr * Double(weightDecay)
    let correction1 = 1 - Self.pow(Self.beta1, step)
    let correction2 = (1 - Self.pow(Self.beta2, step)).squareRoot()
    for i in parameters.indices {
      let g = Double(gradient[i])
      let m = Self.beta1 * Double(firstMoment[i]) + (1 - Self.beta1) * g
      let v = Self.beta2 * Double(secondMoment[i]) + (1 - Self.beta2) * g * g
      firstMoment[i] = Float(m)
      secondMoment[i] = Float(v)
      let p = Double(parameters[i]) * decay
      parameters[i] = Float(p - lr / correction1 * m / (v.squareRoot() / correction2 + Self.epsilon))
    }
  }

  static func pow(_ base: Double, _ exponent: Int) -> Double {
    Glibc.pow(base, Double(exponent))
  }
}
