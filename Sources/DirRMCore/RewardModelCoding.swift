/// The model's serialized form: its shape and parameters.
extension RewardModel where T == Float {
  static var magic: [UInt8] { Array("DIRRMRM\0".utf8) }
  static var formatVersion: UInt32 { 1 }

  /// Bytes `serialized()` holds at most (ByteWriter.savingBound of the state).
  public var serializedBound: Int? { ByteWriter.savingBound(Workspace.bytes([[parameters.count]])) }

  public func serialized() -> [UInt8] {
    var w = ByteWriter()
    for v in [shape.promptDim, shape.responseDim, shape.width, shape.depth] { w.u64(UInt64(v)) }
    for p in parameters { w.f32(p) }
    return ByteWriter.frame(magic: Self.magic, version: Self.formatVersion, payload: w.bytes)
  }

  /// Restores a model, accepting only what `serialized` could have written: a valid shape and
  /// exactly its parameters, all finite.
  public init(serialized bytes: [UInt8]) throws(FormatError) {
    var r = try ByteReader(framed: bytes, magic: Self.magic, version: Self.formatVersion)
    var dims: [Int] = []
    for _ in 0..<4 {
      let v = try r.u64()
      guard v <= 1 << 20 else { throw .corrupt("invalid model shape") }
      dims.append(Int(v))
    }
    let shape = Shape(promptDim: dims[0], responseDim: dims[1], width: dims[2], depth: dims[3])
    guard (try? shape.validate()) != nil, r.remaining == 4 * shape.parameterCount else {
      throw .corrupt("invalid model shape")
    }
    var parameters = [Float](repeating: 0, count: shape.parameterCount)
    for i in parameters.indices {
      parameters[i] = try r.f32()
      guard parameters[i].isFinite else { throw .corrupt("non-finite parameter") }
    }
    self.init(shape: shape, parameters: parameters)
  }
}
