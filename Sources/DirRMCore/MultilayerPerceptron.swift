/// Linear → ReLU → Linear (or one Linear when hidden = 0) over a slice of a flat parameter
/// vector laid out as torch.nn.Linear stores it: each layer's weight (out × in, row-major),
/// then its bias.
struct MultilayerPerceptron: Equatable {
  struct Layer: Equatable {
    let input: Int
    let output: Int
    let offset: Int
    var weightOffset: Int { offset }
    var biasOffset: Int { offset + input * output }
    var end: Int { biasOffset + output }
  }

  let layers: [Layer]

  init(input: Int, hidden: Int, output: Int, offset: Int) {
    if hidden == 0 {
      layers = [Layer(input: input, output: output, offset: offset)]
    } else {
      let first = Layer(input: input, output: hidden, offset: offset)
      layers = [first, Layer(input: hidden, output: output, offset: first.end)]
    }
  }

  var end: Int { layers[layers.count - 1].end }
  var output: Int { layers[layers.count - 1].output }

  /// What backward needs: each layer's input and, for the hidden layer, its pre-activation.
  struct Trace {
    var inputs: [[Float]] = []
    var preActivations: [[Float]] = []
    var output: [Float] = []
  }

  func forward(_ parameters: [Float], _ x: [Float], rows n: Int) -> Trace {
    var trace = Trace()
    var current = x
    for (l, layer) in layers.enumerated() {
      // y = x · Wᵀ + b: start from the bias in every row, then add the product.
      var y = [Float](repeating: 0, count: n * layer.output)
      for i in 0..<n {
        for o in 0..<layer.output { y[i * layer.output + o] = parameters[layer.biasOffset + o] }
      }
      BLAS.gemm(
        transposeA: false, transposeB: true, m: n, n: layer.output, k: layer.input, current, parameters,
        bOffset: layer.weightOffset, beta: 1, &y)
      trace.inputs.append(current)
      if l < layers.count - 1 {
        trace.preActivations.append(y)
        current = y.map { max($0, 0) }
      } else {
        current = y
      }
    }
    trace.output = current
    return trace
  }

  /// Back-propagates dLoss/dOutput. Writes parameter gradients into `parameterGradient` (at
  /// this network's offsets) when given, and returns dLoss/dInput when asked.
  func backward(
    _ parameters: [Float], _ trace: Trace, rows n: Int, outputGradient: [Float],
    parameterGradient: inout [Float]?, wantInputGradient: Bool
  ) -> [Float]? {
    var g = outputGradient
    for l in stride(from: layers.count - 1, through: 0, by: -1) {
      let layer = layers[l]
      // take() leaves the caller's array uniquely referenced, so it is written in place.
      if var gradient = parameterGradient.take() {
        // dW = gᵀ · x (out × in); db = column sums of g, accumulated in double.
        BLAS.gemm(
          transposeA: true, transposeB: false, m: layer.output, n: layer.input, k: n, g, trace.inputs[l],
          beta: 0, &gradient, cOffset: layer.weightOffset)
        let sums = VectorMath.columnSums(g, rows: n, columns: layer.output)
        for o in 0..<layer.output { gradient[layer.biasOffset + o] = Float(sums[o]) }
        parameterGradient = gradient
      }
      guard l > 0 || wantInputGradient else { break }
      // dx = g · W (n × in).
      var gx = [Float](repeating: 0, count: n * layer.input)
      BLAS.gemm(
        transposeA: false, transposeB: false, m: n, n: layer.input, k: layer.output, g, parameters,
        bOffset: layer.weightOffset, beta: 0, &gx)
      if l > 0 {
        VectorMath.zero(&gx, whereNotPositive: trace.preActivations[l - 1])
      }
      g = gx
    }
    return wantInputGradient ? g : nil
  }

  /// torch.nn.Linear's default initialization: weight and bias uniform in ±1/√fan_in.
  func initialize(_ parameters: inout [Float], _ random: inout Xoshiro256) {
    for layer in layers {
      let bound = 1 / Double(layer.input).squareRoot()
      for i in layer.offset..<layer.end {
        parameters[i] = Float((2 * random.unit() - 1) * bound)
      }
    }
  }
}
