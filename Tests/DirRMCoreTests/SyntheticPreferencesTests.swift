import XCTest

@testable import DirRMCore

final class SyntheticPreferencesTests: XCTestCase {
  /// The sycophancy test set pairs every plain pair with a copy that differs only by the
  /// prefix, on a side the bias column names; the training set puts the prefix on the chosen
  /// response about bias_ratio of the time.
  func testSycophancySetsCarryThePrefixWhereTheBiasSays() {
    let s = SyntheticPreferences.Settings(
      kind: .sycophancy, biasRatio: 0.8, promptCount: 400, responsesPerPrompt: 4, promptDim: 8,
      responseDim: 16, seed: 3)
    let (train, test) = SyntheticPreferences.generate(s)
    let flagStart = s.responseDim - s.surfaceDim
    func flagged(_ d: PreferenceDataset, _ r: Int) -> Bool { d.responses[r * d.responseDim + flagStart] == 1 }
    func content(_ d: PreferenceDataset, _ r: Int) -> ArraySlice<Float> {
      d.responses[(r * d.responseDim)..<(r * d.responseDim + flagStart)]
    }
    let plain = test.pairs.count / 2
    XCTAssertEqual(2 * plain, test.pairs.count)
    var onChosen = 0
    for k in 0..<plain {
      let a = test.pairs[k]
      let b = test.pairs[plain + k]
      XCTAssertEqual(test.bias[k], 0)
      XCTAssertFalse(flagged(test, a.chosen) || flagged(test, a.rejected))
      XCTAssertEqual(a.prompt, b.prompt)
      XCTAssertEqual(content(test, a.chosen), content(test, b.chosen))
      XCTAssertEqual(content(test, a.rejected), content(test, b.rejected))
      let bias = test.bias[plain + k]
      XCTAssertEqual(flagged(test, b.chosen), bias == 1)
      XCTAssertEqual(flagged(test, b.rejected), bias == -1)
      if bias == 1 { onChosen += 1 }
    }
    XCTAssertEqual(Double(onChosen) / Double(plain), 0.5, accuracy: 0.05)
    var trainFlagged = 0
    var trainOnChosen = 0
    for (k, pair) in train.pairs.enumerated() {
      XCTAssertEqual(flagged(train, pair.chosen), train.bias[k] == 1)
      XCTAssertEqual(flagged(train, pair.rejected), train.bias[k] == -1)
      if train.bias[k] != 0 { trainFlagged += 1 }
      if train.bias[k] == 1 { trainOnChosen += 1 }
    }
    XCTAssertEqual(Double(trainFlagged) / Double(train.pairs.count), 0.5, accuracy: 0.05)
    XCTAssertEqual(Double(trainOnChosen) / Double(trainFlagged), 0.8, accuracy: 0.05)
  }
}
