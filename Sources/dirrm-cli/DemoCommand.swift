import ArgumentParser
import DirRMCore
import Glibc

struct DemoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract:
      "Train vanilla, DIR, prompt-free and both on length-biased synthetic data over several seeds and compare them.",
    discussion: """
      Prints each metric's mean ± std over the seeds and each seed's test accuracy, and writes \
      pairs-<method>.svg (the first seed's test pairs in the (Δr2, Δr1) plane, every method on \
      the same axes) and curves.svg (the first seed's training losses) into --out.
      """)

  @Option(help: "Folder for the SVG figures") var out: String = "out"
  @Option(
    parsing: .unconditional,
    help: "The first seed of the data and the models; the figures show this one")
  var seed: UInt64 = SyntheticPreferences.Settings.defaults.seed
  @Option(
    parsing: .unconditional, help: "How many seeds (seed, seed + 1, ...): fresh data and models for each")
  var seeds: Int = 3
  @OptionGroup var synthetic: SyntheticDataOptions
  @OptionGroup(title: "Training options") var training: TrainingOptions
  @Flag(help: "No progress line (it is drawn on stderr only when stderr is a terminal).") var quiet = false

  func validate() throws {
    guard (1...100).contains(seeds) else { throw ValidationError("--seeds \(seeds): must be in 1...100") }
  }

  func run() throws {
    let seedList = (0..<seeds).map { seed &+ UInt64($0) }
    try synthetic.checkMemory(sets: seeds)
    let data = try Parallel.map(seedList) {
      Experiment.synthetic(.length, seed: $0, promptCount: synthetic.promptCount)
    }
    let (train, test) = data[0]
    let longer = train.biasColumn(0).filter { $0 > 0 }.count
    print(
      "Length-biased synthetic data: \(train.pairs.count) training pairs (\(fixed(100 * Double(longer) / Double(train.pairs.count), 1))% chosen-longer), \(test.pairs.count) unbiased test pairs (seed \(seed); each seed draws its own)."
    )
    print("The true preference depends only on how well a response fits its prompt; length never matters.\n")
    try makeDirectory(out)
    let jobs = seedList.indices.flatMap { s in methodNames.indices.map { (seed: s, method: $0) } }
    let bar = ProgressBar(
      "training \(methodNames.count) methods x \(seeds) seed\(seeds == 1 ? "" : "s")", jobs: jobs.count,
      quiet: quiet)
    let configure = training.apply
    let results: [(result: MethodResult, points: [(Double, Double)]?)]
    do {
      results = try Parallel.map(Array(jobs.enumerated())) { job, entry in
        let (train, test) = data[entry.seed]
        let result = try Experiment.run(
          methodNames[entry.method].method, train: train, test: test, seed: seedList[entry.seed],
          configure: configure, progress: bar.callback(job))
        // The figures show the first seed.
        var points: [(Double, Double)]? = nil
        if entry.seed == 0 {
          do throws(NumericError) {
            let (dr2, dr1) = try Experiment.decompose(result.model, test)
            points = zip(dr2, dr1).map { (Double($0.0), Double($0.1)) }
          } catch {
            throw CLIError(
              "\(methodNames[entry.method].label): the figure's prompt-free decomposition failed "
                + "(\(OptionChecks.described(error).description))")
          }
        }
        bar.set(job, 1)
        return (result, points)
      }
    } catch {
      bar.finish()
      throw error
    }
    bar.finish()
    // jobs are seed-major: the first methodNames.count results are the first seed's.
    let first = Array(results.prefix(methodNames.count))
    try writeFigures(first, test: test)
    let bySeed = methodNames.indices.map { m in
      seedList.indices.map { results[$0 * methodNames.count + m].result }
    }
    print(trimmed(table(bySeed)))
    print(trimmed(accuracyBySeed(bySeed, seedList)))
    print(
      "\nFigures: \(out)/pairs-*.svg (the prompt-free paper's Fig. 4, every method on the same axes), \(out)/curves.svg"
    )
  }

  /// pairs-<method>.svg on axes shared by all methods, and curves.svg.
  func writeFigures(_ first: [(result: MethodResult, points: [(Double, Double)]?)], test: PreferenceDataset)
    throws
  {
    let all = first.flatMap { $0.points ?? [] }
    let (x, y) = (SVGPlot.Range.padded(all.map(\.0)), SVGPlot.Range.padded(all.map(\.1)))
    let bias = test.biasColumn(0)
    for ((_, _, label), entry) in zip(methodNames, first) {
      let points = entry.points ?? []
      let svg = SVGPlot.scatter(
        title: "\(label): test pairs in the (Δr2, Δr1) plane", xLabel: "prompt-free gap Δr2",
        yLabel: "prompt-related gap Δr1",
        series: [
          .init(
            name: "chosen longer", color: "#d62728",
            points: points.indices.filter { bias[$0] > 0 }.map { points[$0] }),
          .init(
            name: "chosen shorter", color: "#1f77b4",
            points: points.indices.filter { bias[$0] <= 0 }.map { points[$0] }),
        ], x: x, y: y)
      try FileIO.replace("\(out)/pairs-\(label.replacingSpaces()).svg", with: Array(svg.utf8))
    }
    let colors = ["#333333", "#d62728", "#2ca02c", "#9467bd"]
    let curves = SVGPlot.lines(
      title: "Training loss (Bradley–Terry, mean over 20 steps), seed \(seed)", xLabel: "step",
      yLabel: "loss",
      series: zip(methodNames, first).enumerated().map { i, entry in
        .init(
          name: entry.0.label, color: colors[i % colors.count],
          points: smoothed(entry.1.result.log.steps.map { Double($0.lossPref) }))
      })
    try FileIO.replace("\(out)/curves.svg", with: Array(curves.utf8))
  }

  /// Each metric's mean ± std over the seeds, one row per method.
  func table(_ bySeed: [[MethodResult]]) -> String {
    let changed = synthetic.changed + training.changed
    var text =
      "Mean ± std over \(seeds) seed\(seeds == 1 ? "" : "s")"
      + (changed.isEmpty
        ? ", library defaults" : ", library defaults except " + changed.joined(separator: ", "))
      + ":\n\n"
    let columns: [(String, (MethodResult) -> Double)] = [
      ("test accuracy", { $0.evaluation.accuracy }),
      ("accuracy, chosen shorter", { $0.evaluation.accuracyBiasNegative }),
      ("Spearman(gap, length gap)", { $0.evaluation.gapBiasSpearman }), ("CLUB estimate", { $0.club }),
      ("chosen-longer share trained", { $0.trainedBiasShare }),
    ]
    let widths = columns.map { max($0.0.count, 13) }
    text += "method".padding(18) + zip(columns, widths).map { " | " + $0.0.0.padding($0.1) }.joined() + "\n"
    text +=
      String(repeating: "-", count: 18) + widths.map { "-|-" + String(repeating: "-", count: $0) }.joined()
      + "\n"
    for ((_, _, label), results) in zip(methodNames, bySeed) {
      text += label.padding(18)
      for (column, width) in zip(columns, widths) {
        var summary = Summary()
        for r in results { summary.add(column.1(r)) }
        text += " | " + summary.text().padding(width)
      }
      text += "\n"
    }
    return text
  }

  /// Each seed's test accuracy, and whether the seeds agree on the methods' order.
  func accuracyBySeed(_ bySeed: [[MethodResult]], _ seedList: [UInt64]) -> String {
    var text = "\nTest accuracy by seed:\n\n" + "method".padding(18)
    text += seedList.map { " | " + "seed \($0)".padding(7) }.joined() + "\n"
    for ((_, _, label), results) in zip(methodNames, bySeed) {
      text +=
        label.padding(18) + results.map { " | " + fixed($0.evaluation.accuracy, 3).padding(7) }.joined()
        + "\n"
    }
    guard seedList.count > 1 else {
      return text + "\nOne seed can rank the methods either way: run --seeds 3 or more to compare them."
    }
    let orders = seedList.indices.map { s in
      methodNames.indices.sorted { bySeed[$0][s].evaluation.accuracy > bySeed[$1][s].evaluation.accuracy }
    }
    let same = orders.allSatisfy { $0 == orders[0] }
    text +=
      same
      ? "\nEvery seed ranks the methods in the same order by test accuracy."
      : "\nThe seeds rank the methods differently by test accuracy: one seed can rank them either way, so compare the means against their stds."
    return text
  }

  /// The text without the spaces that pad each line's last column.
  func trimmed(_ text: String) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
      var line = Substring(line)
      while line.last == " " { line = line.dropLast() }
      return String(line)
    }.joined(separator: "\n")
  }
}

/// A running mean over `window` steps, skipping steps without a loss.
func smoothed(_ values: [Double], window: Int = 20) -> [(Double, Double)] {
  var out: [(Double, Double)] = []
  var recent: [Double] = []
  for (i, v) in values.enumerated() where v.isFinite {
    recent.append(v)
    if recent.count > window { recent.removeFirst() }
    out.append((Double(i), recent.reduce(0, +) / Double(recent.count)))
  }
  return out
}

extension String {
  func padding(_ width: Int) -> String {
    count >= width ? self : self + String(repeating: " ", count: width - count)
  }
  func replacingSpaces() -> String { String(map { $0 == " " ? "-" : $0 }).replacing("+", with: "and") }
}
