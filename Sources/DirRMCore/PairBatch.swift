/// Values for n preference pairs in dirrm's one row layout: n rows for the chosen responses
/// and n rows for the rejected ones, `columns` values per row (1 for rewards, d for hidden
/// states). Stacked, the chosen block comes first and the rejected block second, which is
/// how the reward model scores a batch of pairs as 2n rows.
public struct PairBatch: Equatable {
  public var chosen: [Float]
  public var rejected: [Float]
  public let columns: Int

  public init(chosen: [Float], rejected: [Float], columns: Int) {
    precondition(
      columns >= 1 && chosen.count == rejected.count && chosen.count % columns == 0,
      "PairBatch: \(chosen.count) chosen and \(rejected.count) rejected values in rows of \(columns)")
    self.chosen = chosen
    self.rejected = rejected
    self.columns = columns
  }

  /// Splits 2n stacked rows: the chosen block, then the rejected block.
  public init(stacked: [Float], pairs n: Int, columns: Int) {
    self.init(
      chosen: Array(stacked[0..<(n * columns)]), rejected: Array(stacked[(n * columns)..<(2 * n * columns)]),
      columns: columns)
  }

  public var pairs: Int { chosen.count / columns }

  /// The 2n rows, chosen block first.
  public var stacked: [Float] { chosen + rejected }
}
