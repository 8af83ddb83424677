/// Checks of the arrays a core operation takes, worded as the C API's argument checks are
/// ("gaps[3] is nan", "corr_col[0] = 5 is outside [0, 2)"), so that a rule the core states
/// reads the same whichever front end reaches it first.
extension Rule {
  /// Every element finite; the first that is not is named.
  static func finiteElements(_ values: [Float], _ name: String) throws(ConfigError) {
    guard !values.withUnsafeBufferPointer(VectorMath.allFinite) else { return }
    if let i = values.firstIndex(where: { !$0.isFinite }) {
      throw ConfigError("\(name)[\(i)]", "is \(values[i].isNaN ? "nan" : "\(values[i])")", kind: .nonFinite)
    }
  }

  /// Every element in 0..<bound; the first that is not is named.
  static func indexElements(_ values: [Int], below bound: Int, _ name: String) throws(ConfigError) {
    if let i = values.firstIndex(where: { $0 < 0 || $0 >= bound }) {
      throw ConfigError("\(name)[\(i)]", "= \(values[i]) is outside [0, \(bound))")
    }
  }
}
