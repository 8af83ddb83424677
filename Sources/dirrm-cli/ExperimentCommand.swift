import ArgumentParser
import DirRMCore
import Glibc

struct ExperimentCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "experiment",
    abstract:
      "The effectiveness table: every method on the length, sycophancy and adversarial biases, over seeds.")

  @Option(parsing: .unconditional, help: "Seeds 0, 1, ...: fresh data and models for each") var seeds: Int =
    3
  @OptionGroup var synthetic: SyntheticDataOptions
  @OptionGroup var training: TrainingOptions
  @Option(help: "Write the table into this file between <!-- results:begin --> and <!-- results:end -->.")
  var readme: String?
  @Option(help: "Print only one markdown row of headline numbers, labelled so (for sweeps).")
  var row: String?
  @Flag(
    help:
      "Print the tables' numbers (each value, and its mean and std over the seeds) as one JSON object on stdout, and nothing else there."
  )
  var json = false
  @Flag(help: "No progress line (it is drawn on stderr only when stderr is a terminal).") var quiet = false

  func validate() throws {
    // The tables need at least one seed; past 100 a run would take days.
    guard (1...100).contains(seeds) else { throw ValidationError("--seeds \(seeds): must be in 1...100") }
    if json, row != nil { throw ValidationError("--json and --row: choose one output") }
  }

  func run() throws {
    var lengthRows: [String: [String: Summary]] = [:]
    var sycophancy: [String: [String: Summary]] = [:]
    var adversarial: [String: Summary] = [:]
    // Every training is a job; they run one per core and are recorded in job order, so the
    // table does not depend on the core count.
    enum Table { case length, sycophancy, adversarial }
    typealias Measurement = (table: Table, row: String, column: String, value: Double)
    typealias Progress = (Trainer.Progress) -> Bool
    var jobs: [(Progress) throws -> [Measurement]] = []
    for seed in 0..<UInt64(seeds) {
      let (unbiasedTrain, _) = Experiment.synthetic(.unbiased, seed: seed, promptCount: synthetic.promptCount)
      let (train, test) = Experiment.synthetic(.length, seed: seed, promptCount: synthetic.promptCount)
      let configure = training.apply
      func length(_ label: String, _ method: Trainer.Method, _ data: PreferenceDataset) {
        jobs.append { progress in
          let r = try Experiment.run(
            method, train: data, test: test, seed: seed, configure: configure, progress: progress)
          return [
            (.length, label, "accuracy", r.evaluation.accuracy),
            (.length, label, "shorter", r.evaluation.accuracyBiasNegative),
            (.length, label, "spearman", r.evaluation.gapBiasSpearman), (.length, label, "club", r.club),
            (.length, label, "share", r.trainedBiasShare),
          ]
        }
      }
      length("vanilla on unbiased data (oracle)", .vanilla, unbiasedTrain)
      for (method, _, label) in methodNames { length(label, method, train) }
      let (sTrain, sTest) = Experiment.synthetic(.sycophancy, seed: seed, promptCount: synthetic.promptCount)
      for method in [Trainer.Method.vanilla, .dir] {
        jobs.append { progress in
          let r = try Experiment.run(
            method, train: sTrain, test: sTest, seed: seed, configure: configure, progress: progress)
          let (chosen, rejected) = r.model.scorePairs(sTest, Array(sTest.pairs.indices))
          let flags = sTest.biasColumn(0)
          // Flagged: a prefix on either response (bias ±1); unflagged: none (bias 0).
          func accuracy(_ flagged: Bool) -> Double {
            let kept = flags.indices.filter { (flags[$0] != 0) == flagged }
            return Double(kept.filter { chosen[$0] > rejected[$0] }.count) / Double(max(kept.count, 1))
          }
          let (flagged, unflagged) = (accuracy(true), accuracy(false))
          return [
            (.sycophancy, name(method), "flagged", flagged),
            (.sycophancy, name(method), "unflagged", unflagged),
            (.sycophancy, name(method), "gap", unflagged - flagged),
          ]
        }
      }
      let (aTrain, aTest) = Experiment.synthetic(.adversarial, seed: seed, promptCount: synthetic.promptCount)
      for (label, method, data) in [
        ("original", Trainer.Method.vanilla, unbiasedTrain), ("vanilla", .vanilla, aTrain),
        ("prompt-free", .promptFree, aTrain),
      ] {
        jobs.append { progress in
          let r = try Experiment.run(
            method, train: data, test: aTest, seed: seed, configure: configure, progress: progress)
          return [(.adversarial, label, "accuracy", r.evaluation.accuracy)]
        }
      }
    }
    let bar = ProgressBar("\(jobs.count) trainings", jobs: jobs.count, quiet: quiet)
    let measured: [[Measurement]]
    do {
      measured = try Parallel.map(Array(jobs.enumerated())) { i, job in
        defer { bar.set(i, 1) }
        return try job(bar.callback(i))
      }
    } catch {
      bar.finish()
      throw error
    }
    bar.finish()
    for m in measured.joined() {
      switch m.table {
      case .length: lengthRows[m.row, default: [:]][m.column, default: Summary()].add(m.value)
      case .sycophancy: sycophancy[m.row, default: [:]][m.column, default: Summary()].add(m.value)
      case .adversarial: adversarial[m.row, default: Summary()].add(m.value)
      }
    }
    if let row {
      print(headline(row, lengthRows, sycophancy, adversarial))
      return
    }
    let text = report(lengthRows, sycophancy, adversarial)
    if let readme { try replaceResults(in: readme, with: text) }
    if json {
      JSONOutput.emit(jsonReport(lengthRows, sycophancy, adversarial))
    } else {
      print(text)
    }
  }

  func report(
    _ length: [String: [String: Summary]], _ sycophancy: [String: [String: Summary]],
    _ adversarial: [String: Summary]
  ) -> String {
    var t = "Mean ± std over \(seeds) seeds (`dirrm-cli experiment --seeds \(seeds)`), library defaults"
    t += seedsNote() + ". Accuracies are on the unbiased, ground-truth-labelled test set.\n\n"
    // The data are the library's default synthetic sets (Experiment.synthetic).
    let biased = fixed(100 * SyntheticPreferences.Settings.defaults.biasRatio, 0) + "%"
    t += "**Length bias** (\(biased) of training pairs chosen-longer)\n\n"
    t +=
      "| trained as | test accuracy | accuracy, chosen shorter | Spearman(gap, length gap) | CLUB estimate | chosen-longer share trained on |\n"
    t += "|---|---|---|---|---|---|\n"
    let order = ["vanilla on unbiased data (oracle)"] + methodNames.map(\.label)
    for row in order {
      guard let r = length[row] else { continue }
      t +=
        "| \(row) | \(r["accuracy"]!.text()) | \(r["shorter"]!.text()) | \(r["spearman"]!.text()) | \(r["club"]!.text(2)) | \(r["share"]!.text()) |\n"
    }
    let oracle = length[order[0]]!["accuracy"]!.mean
    let vanilla = length["vanilla"]!
    func recovered(_ acc: Double, _ base: Double, _ best: Double) -> String {
      fixed(100 * (acc - base) / (best - base), 0) + "%"
    }
    let dir = length["DIR"]!
    let pf = length["prompt-free"]!
    t +=
      "\nDIR: Spearman \(fixed(dir["spearman"]!.mean, 3)) vs vanilla \(fixed(vanilla["spearman"]!.mean, 3)) "
    t +=
      "(target: the same sign, at most half the size), accuracy \(fixed(dir["accuracy"]!.mean - vanilla["accuracy"]!.mean, 3)) vs vanilla (target ≥ −0.010). "
    t +=
      "Prompt-free recovers \(recovered(pf["accuracy"]!.mean, vanilla["accuracy"]!.mean, oracle)) of the oracle−vanilla gap (target ≥ 30%). "
    let both = length["DIR + prompt-free"]!["accuracy"]!.mean
    t +=
      "DIR + prompt-free: accuracy \(fixed(both, 3)) vs \(fixed(max(dir["accuracy"]!.mean, pf["accuracy"]!.mean), 3)) for the better of the two (target: at least as high); "
    // Seed by seed, against whichever single method did better on that seed.
    let perSeed = zip(
      length["DIR + prompt-free"]!["accuracy"]!.values, zip(dir["accuracy"]!.values, pf["accuracy"]!.values)
    )
    .map { ($0 >= max($1.0, $1.1) ? "+" : "") + fixed($0 - max($1.0, $1.1), 3) }
    t += "per seed, its accuracy minus the better one's: \(perSeed.joined(separator: " / ")).\n\n"
    t +=
      "**Sycophancy** (half the training pairs carry a prefix, on the chosen response in \(biased) of them; the test set holds every pair twice, plain and with the prefix on a random side)\n\n"
    t += "| trained as | accuracy, flagged pairs | accuracy, unflagged pairs | gap |\n|---|---|---|---|\n"
    for row in ["vanilla", "DIR"] {
      guard let r = sycophancy[row] else { continue }
      t += "| \(row) | \(r["flagged"]!.text()) | \(r["unflagged"]!.text()) | \(r["gap"]!.text()) |\n"
    }
    if let v = sycophancy["vanilla"]?["gap"], let d = sycophancy["DIR"]?["gap"] {
      t +=
        "\nDIR's gap is \(fixed(d.mean / v.mean, 2)) of vanilla's (target: at most 0.5).\n"
    }
    t += "\n**Adversarial prompts** (instruction-flipped duplicates of \(biased) of the pairs)\n\n"
    t += "| trained as | test accuracy |\n|---|---|\n"
    t += "| vanilla on the original data | \(adversarial["original"]!.text()) |\n"
    t += "| vanilla with the duplicates | \(adversarial["vanilla"]!.text()) |\n"
    t += "| prompt-free with the duplicates | \(adversarial["prompt-free"]!.text()) |\n"
    t +=
      "\nPrompt-free recovers \(recovered(adversarial["prompt-free"]!.mean, adversarial["vanilla"]!.mean, adversarial["original"]!.mean)) of the accuracy the duplicates cost vanilla (target ≥ 30%).\n"
    return t
  }

  /// DIR's accuracy change and Spearman ratio (negative when DIR flips the sign), prompt-free's recovery, DIR + prompt-free's
  /// accuracy, the sycophancy gap ratio and the adversarial recovery, as one table row.
  func headline(
    _ label: String, _ length: [String: [String: Summary]], _ sycophancy: [String: [String: Summary]],
    _ adversarial: [String: Summary]
  ) -> String {
    let oracle = length["vanilla on unbiased data (oracle)"]!["accuracy"]!.mean
    let v = length["vanilla"]!
    let dir = length["DIR"]!
    let pf = length["prompt-free"]!
    let both = length["DIR + prompt-free"]!
    let cells = [
      fixed(dir["accuracy"]!.mean - v["accuracy"]!.mean, 3),
      fixed(dir["spearman"]!.mean / v["spearman"]!.mean, 2),
      fixed(100 * (pf["accuracy"]!.mean - v["accuracy"]!.mean) / (oracle - v["accuracy"]!.mean), 0) + "%",
      fixed(both["accuracy"]!.mean, 3) + " vs " + fixed(max(dir["accuracy"]!.mean, pf["accuracy"]!.mean), 3),
      fixed(sycophancy["DIR"]!["gap"]!.mean / sycophancy["vanilla"]!["gap"]!.mean, 2),
      fixed(
        100 * (adversarial["prompt-free"]!.mean - adversarial["vanilla"]!.mean)
          / (adversarial["original"]!.mean - adversarial["vanilla"]!.mean), 0) + "%",
    ]
    return "| \(label) | " + cells.joined(separator: " | ") + " |"
  }

  func seedsNote() -> String {
    let changed = synthetic.changed + training.changed
    return changed.isEmpty ? "" : " except " + changed.joined(separator: ", ")
  }

  /// The tables as JSON: {"length": {row: {column: {"mean", "std", "values"}}}, ...}, rows
  /// and columns in the tables' order.
  func jsonReport(
    _ length: [String: [String: Summary]], _ sycophancy: [String: [String: Summary]],
    _ adversarial: [String: Summary]
  ) -> JSONValue {
    func summary(_ s: Summary) -> JSONValue {
      ["mean": .number(s.mean), "std": .number(s.std), "values": .array(s.values.map { .number($0) })]
    }
    /// columns: (the table's key, the JSON name).
    func table(
      _ rows: [String: [String: Summary]], _ rowOrder: [String], _ columns: [(String, String)]
    ) -> JSONValue {
      .object(
        rowOrder.compactMap { row in
          rows[row].map { cells in
            (row, .object(columns.compactMap { c in cells[c.0].map { (c.1, summary($0)) } }))
          }
        })
    }
    return [
      "command": "experiment",
      "seeds": .integer(seeds),
      "changed_options": .array((synthetic.changed + training.changed).map { .string($0) }),
      "length": table(
        length, ["vanilla on unbiased data (oracle)"] + methodNames.map(\.label),
        [
          ("accuracy", "accuracy"), ("shorter", "accuracy_chosen_shorter"),
          ("spearman", "gap_length_spearman"),
          ("club", "club_estimate"), ("share", "chosen_longer_share_trained"),
        ]),
      "sycophancy": table(
        sycophancy, ["vanilla", "DIR"],
        [("flagged", "accuracy_flagged"), ("unflagged", "accuracy_unflagged"), ("gap", "gap")]),
      "adversarial": .object(
        ["original", "vanilla", "prompt-free"].compactMap { row in adversarial[row].map { (row, summary($0)) }
        }),
    ]
  }

  func replaceResults(in path: String, with text: String) throws {
    let original = String(decoding: try FileIO.read(path), as: UTF8.self)
    guard let begin = original.firstRange(of: "<!-- results:begin -->"),
      let end = original.firstRange(of: "<!-- results:end -->"), begin.upperBound <= end.lowerBound
    else { throw CLIError("\(path): no <!-- results:begin --> ... <!-- results:end --> markers") }
    let updated =
      String(original[..<begin.upperBound]) + "\n" + text + "\n" + String(original[end.lowerBound...])
    try FileIO.replace(path, with: Array(updated.utf8))
  }
}
