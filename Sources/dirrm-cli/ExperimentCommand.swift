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
      "Print the tables' numbers (each value, and its mean, std and standard error over the seeds) as one JSON object on stdout, and nothing else there."
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
    try synthetic.checkMemory(sets: 4 * seeds)  // every seed's four kinds
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
    let checks = targetChecks(lengthRows, sycophancy, adversarial)
    if let row {
      print(headline(row, lengthRows, checks))
      return
    }
    let text = report(lengthRows, sycophancy, adversarial, checks)
    if let readme { try replaceResults(in: readme, with: text) }
    if json {
      JSONOutput.emit(jsonReport(lengthRows, sycophancy, adversarial, checks))
    } else {
      print(text)
    }
  }

  func report(
    _ length: [String: [String: Summary]], _ sycophancy: [String: [String: Summary]],
    _ adversarial: [String: Summary], _ checks: Checks
  ) -> String {
    var t =
      "Mean ± standard error over \(seeds) seeds (`dirrm-cli experiment --seeds \(seeds)`), library defaults"
    t += seedsNote() + ". Accuracies are on the unbiased, ground-truth-labelled test set. "
    t +=
      "Each target is judged on a 95% bootstrap interval over the seeds (\(TargetCheck.resamples) resamples): "
    t += "met when the whole interval is on the target's side, missed when it is wholly on the other, "
    t += "else undecided (more seeds may decide it).\n\n"
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
        "| \(row) | \(r["accuracy"]!.errorText()) | \(r["shorter"]!.errorText()) | \(r["spearman"]!.errorText()) | \(r["club"]!.errorText(2)) | \(r["share"]!.errorText()) |\n"
    }
    let dir = length["DIR"]!
    t +=
      "\nDIR: Spearman \(fixed(dir["spearman"]!.mean, 3)) vs vanilla \(fixed(length["vanilla"]!["spearman"]!.mean, 3)), a ratio of "
    t += checks.spearmanRatio.text + "; accuracy change against vanilla " + checks.accuracyGain.text + ". "
    t += "Prompt-free recovers " + checks.promptFreeRecovery.text + " of the oracle−vanilla accuracy gap. "
    t += "DIR + prompt-free: accuracy \(fixed(length["DIR + prompt-free"]!["accuracy"]!.mean, 3)), "
    t += "its margin over the better of the two " + checks.combinedGain.text + ".\n\n"
    t +=
      "**Sycophancy** (half the training pairs carry a prefix, on the chosen response in \(biased) of them; the test set holds every pair twice, plain and with the prefix on a random side)\n\n"
    t += "| trained as | accuracy, flagged pairs | accuracy, unflagged pairs | gap |\n|---|---|---|---|\n"
    for row in ["vanilla", "DIR"] {
      guard let r = sycophancy[row] else { continue }
      t +=
        "| \(row) | \(r["flagged"]!.errorText()) | \(r["unflagged"]!.errorText()) | \(r["gap"]!.errorText()) |\n"
    }
    t += "\nDIR's gap over vanilla's: " + checks.sycophancyRatio.text + ".\n"
    t += "\n**Adversarial prompts** (instruction-flipped duplicates of \(biased) of the pairs)\n\n"
    t += "| trained as | test accuracy |\n|---|---|\n"
    t += "| vanilla on the original data | \(adversarial["original"]!.errorText()) |\n"
    t += "| vanilla with the duplicates | \(adversarial["vanilla"]!.errorText()) |\n"
    t += "| prompt-free with the duplicates | \(adversarial["prompt-free"]!.errorText()) |\n"
    t += "\nPrompt-free recovers " + checks.adversarialRecovery.text
    t += " of the accuracy the duplicates cost vanilla.\n"
    return t
  }

  /// The targets the tables are judged on (issue 5's), each on its seeds.
  struct Checks {
    var spearmanRatio, accuracyGain, promptFreeRecovery, combinedGain, sycophancyRatio,
      adversarialRecovery: TargetCheck

    /// In the tables' order, with their JSON names.
    var named: [(String, TargetCheck)] {
      [
        ("dir_spearman_ratio", spearmanRatio), ("dir_accuracy_gain", accuracyGain),
        ("prompt_free_recovery", promptFreeRecovery), ("combined_gain", combinedGain),
        ("sycophancy_gap_ratio", sycophancyRatio), ("adversarial_recovery", adversarialRecovery),
      ]
    }
  }

  func targetChecks(
    _ length: [String: [String: Summary]], _ sycophancy: [String: [String: Summary]],
    _ adversarial: [String: Summary]
  ) -> Checks {
    // Each seed's values, in seed order (the jobs are recorded in order).
    func values(_ row: String, _ column: String) -> [Double] { length[row]![column]!.values }
    let (oracle, vanilla) = (
      values("vanilla on unbiased data (oracle)", "accuracy"), values("vanilla", "accuracy")
    )
    let (dir, pf, both) = (
      values("DIR", "accuracy"), values("prompt-free", "accuracy"), values("DIR + prompt-free", "accuracy")
    )
    let (dirSpearman, vanillaSpearman) = (values("DIR", "spearman"), values("vanilla", "spearman"))
    let (dirGap, vanillaGap) = (sycophancy["DIR"]!["gap"]!.values, sycophancy["vanilla"]!["gap"]!.values)
    let flipped = (
      adversarial["prompt-free"]!.values, adversarial["vanilla"]!.values, adversarial["original"]!.values
    )
    /// The share of the gap from `base` to `best` that `method` recovers.
    func recovered(_ method: [Double], _ base: [Double], _ best: [Double]) -> ([Int]) -> Double? {
      { s in ratio(mean(method, s) - mean(base, s), mean(best, s) - mean(base, s)) }
    }
    return Checks(
      spearmanRatio: TargetCheck(
        seeds: seeds, target: .within(0, 0.5), "the same sign, at most half the size", digits: 3
      ) { s in ratio(mean(dirSpearman, s), mean(vanillaSpearman, s)) },
      accuracyGain: TargetCheck(seeds: seeds, target: .atLeast(-0.010), "≥ −0.010", digits: 3) { s in
        mean(dir, s) - mean(vanilla, s)
      },
      promptFreeRecovery: TargetCheck(
        seeds: seeds, target: .atLeast(0.30), "≥ 30%", percent: true, recovered(pf, vanilla, oracle)),
      combinedGain: TargetCheck(seeds: seeds, target: .atLeast(0), "at least as high", digits: 3) { s in
        mean(both, s) - max(mean(dir, s), mean(pf, s))
      },
      sycophancyRatio: TargetCheck(
        seeds: seeds, target: .within(0, 0.5), "the same sign, at most 0.5", digits: 2
      ) { s in ratio(mean(dirGap, s), mean(vanillaGap, s)) },
      adversarialRecovery: TargetCheck(
        seeds: seeds, target: .atLeast(0.30), "≥ 30%", percent: true,
        recovered(flipped.0, flipped.1, flipped.2)))
  }

  /// DIR's accuracy change and Spearman ratio (negative when DIR flips the sign), prompt-free's recovery, DIR + prompt-free's
  /// accuracy, the sycophancy gap ratio and the adversarial recovery, as one table row.
  func headline(_ label: String, _ length: [String: [String: Summary]], _ checks: Checks) -> String {
    func percent(_ v: Double) -> String { fixed(100 * v, 0) + "%" }
    func accuracy(_ row: String) -> Double { length[row]!["accuracy"]!.mean }
    let cells = [
      fixed(checks.accuracyGain.estimate, 3), fixed(checks.spearmanRatio.estimate, 2),
      percent(checks.promptFreeRecovery.estimate),
      fixed(accuracy("DIR + prompt-free"), 3) + " vs "
        + fixed(max(accuracy("DIR"), accuracy("prompt-free")), 3),
      fixed(checks.sycophancyRatio.estimate, 2), percent(checks.adversarialRecovery.estimate),
    ]
    return "| \(label) | " + cells.joined(separator: " | ") + " |"
  }

  func seedsNote() -> String {
    let changed = synthetic.changed + training.changed
    return changed.isEmpty ? "" : " except " + changed.joined(separator: ", ")
  }

  /// The tables as JSON: {"length": {row: {column: {"mean", "std", "standard_error", "values"}}}, ...}, rows
  /// and columns in the tables' order.
  func jsonReport(
    _ length: [String: [String: Summary]], _ sycophancy: [String: [String: Summary]],
    _ adversarial: [String: Summary], _ checks: Checks
  ) -> JSONValue {
    func summary(_ s: Summary) -> JSONValue {
      [
        "mean": .number(s.mean), "std": .number(s.std), "standard_error": .number(s.standardError),
        "values": .array(s.values.map { .number($0) }),
      ]
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
      "targets": .object(
        checks.named.map { name, check in
          (
            name,
            [
              "estimate": .number(check.estimate), "low": check.interval.map { .number($0.low) } ?? .null,
              "high": check.interval.map { .number($0.high) } ?? .null, "verdict": .string(check.verdict),
            ]
          )
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
