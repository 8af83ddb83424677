import ArgumentParser
import DirRMCore
import Glibc

/// `dirrm-cli audit`: how much a reward model's preferences follow each attribute of the
/// responses (docs/mathematics.md §6), from any trainer's outputs saved as .npy files. The
/// numbers are the core's (`BiasAudit`), as `dirrm_audit` and `dirrm.audit` report them.
struct AuditCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "audit",
    abstract: "Audit a reward model: how much its preferences follow length or another attribute.",
    discussion: """
      Per pair (no --pairs): --rewards and every attribute are (num_pairs, 2) arrays of \
      (chosen, rejected) values. Per response (--pairs, integer (num_pairs, 2) chosen and \
      rejected indices, or (num_pairs, 3) with a prompt column first): --rewards and every \
      attribute are (num_responses,) arrays, --hidden (num_responses, d). A categorical \
      attribute is audited per category as the indicator 1[category = k] (with two \
      categories, only the larger), as dirrm.audit does.
      """)

  @Option(help: "Rewards: (num_pairs, 2) chosen, rejected; or (num_responses,) with --pairs.") var rewards:
    String
  @Option(help: "Integer (num_pairs, 2) chosen, rejected response indices, or (num_pairs, 3).") var pairs:
    String?
  @Option(help: "An attribute, NAME=FILE (repeatable), shaped as --rewards.") var attribute: [String] = []
  @Option(help: "Shorthand for --attribute length=FILE.") var lengths: String?
  @Option(help: "An attribute NAME to audit per category (repeatable).") var categorical: [String] = []
  @Option(help: "Hidden states (num_responses, d), with --pairs: adds the CLUB estimate of I(h; attribute).")
  var hidden: String?
  @Option(
    parsing: .unconditional, help: "Bootstrap resamples for Spearman's interval (default: \(d.bootstrap)).")
  var bootstrap: Int?
  @Option(parsing: .unconditional, help: "The interval's coverage (default: \(d.level)).") var level: Double?
  @Option(parsing: .unconditional, help: "Quantile buckets of the attribute gap (default: \(d.buckets)).")
  var buckets: Int?
  @Option(parsing: .unconditional, help: "AdamW steps fitting q (default: \(d.clubSteps); 0: no estimate).")
  var clubSteps: Int?
  @Option(parsing: .unconditional, help: "The seed of the resamples, the split and q (default: \(d.seed)).")
  var seed: UInt64?
  @Option(help: "Write FOLDER/audit-NAME.svg, agreement by attribute-gap bucket, for each attribute.")
  var svg: String?
  @Flag(help: "Print the report as one JSON object on stdout, and nothing else there.") var json = false

  private static var d: BiasAudit.Settings { .defaults }

  func validate() throws {
    if attribute.isEmpty && lengths == nil {
      throw ValidationError("give at least one attribute: --lengths FILE or --attribute NAME=FILE")
    }
    for spec in attribute where !spec.contains("=") || spec.hasPrefix("=") || spec.hasSuffix("=") {
      throw ValidationError("--attribute \(spec): expected NAME=FILE")
    }
    if hidden != nil && pairs == nil {
      throw ValidationError("--hidden holds one row per response: give --pairs too")
    }
  }

  var settings: BiasAudit.Settings {
    var s = BiasAudit.Settings.defaults
    if let bootstrap { s.bootstrap = bootstrap }
    if let level { s.level = level }
    if let buckets { s.buckets = buckets }
    if let clubSteps { s.clubSteps = clubSteps }
    if let seed { s.seed = seed }
    return s
  }

  func run() throws {
    let settings = self.settings
    do { try settings.validate() } catch {
      throw CLIError("invalid --\(error.field.replacingUnderscores): \(error.message(prefix: ""))")
    }
    let index = try pairs.map(Self.pairIndex)
    let (rewardChosen, rewardRejected) = try Self.sides(rewards, index)
    let n = rewardChosen.count
    var named: [(String, String)] = lengths.map { [("length", $0)] } ?? []
    named += attribute.map { spec in
      let cut = spec.firstIndex(of: "=")!
      return (String(spec[..<cut]), String(spec[spec.index(after: cut)...]))
    }
    if let unknown = categorical.first(where: { name in !named.contains { $0.0 == name } }) {
      throw CLIError("--categorical \(unknown): no attribute of that name")
    }
    var columns: [(String, [Double], [Double])] = []
    for (name, path) in named {
      let (c, r) = try Self.sides(path, index, rows: n)
      if categorical.contains(name) {
        columns += Self.indicators(name, c, r)
      } else {
        columns.append((name, c, r))
      }
    }
    let states = try hidden.map { try Self.hiddenStates($0, index!) }
    let rewardGap = zip(rewardChosen, rewardRejected).map { $0 - $1 }
    var reports: [(String, BiasAudit)] = []
    for (name, c, r) in columns {
      let gap = zip(c, r).map { $0 - $1 }
      do {
        try BiasAudit.check(rewardGap: rewardGap, attributeGap: gap, hidden: states)
        try BiasAudit.checkWidth(states?.columns ?? 0, settings)
        let bytes = BiasAudit.workBytes(pairs: gap.count, width: states?.columns ?? 0, settings: settings)
        try OptionChecks.reserve(
          bytes, "attribute \(name): not enough memory for the audit of \(gap.count) pairs")
        reports.append(
          (
            name,
            try BiasAudit.run(rewardGap: rewardGap, attributeGap: gap, hidden: states, settings: settings)
          ))
      } catch let error as ConfigError {
        throw CLIError("attribute \(name): \(error.message(prefix: ""))")
      } catch let error as NumericError {
        throw CLIError("attribute \(name): \(error.words)")
      }
    }
    if let svg {
      for (name, report) in reports {
        try FileIO.replace(
          "\(svg)/audit-\(Self.fileName(name)).svg", with: Array(report.svg(name: name).utf8))
      }
    }
    if json {
      JSONOutput.emit(
        .object([
          ("command", "audit"), ("pairs", .integer(n)),
          ("attributes", .object(reports.map { ($0.0, $0.1.json(name: $0.0)) })),
        ]))
      return
    }
    print("\(n) pairs")
    for (name, a) in reports {
      print("\n\(name)")
      print("  agreement \(fixed(a.agreement, 3)); \"larger wins\" baseline \(fixed(a.attributeBaseline, 3))")
      print(
        "  Spearman(reward gap, attribute gap) \(fixed(a.spearman, 3)) [\(fixed(a.spearmanLow, 3)), \(fixed(a.spearmanHigh, 3))]"
      )
      print(
        "  agreement where the chosen one is larger \(fixed(a.agreementLarger, 3)) (\(a.pairsLarger) pairs), smaller \(fixed(a.agreementSmaller, 3)) (\(a.pairsSmaller)), equal \(fixed(a.agreementEqual, 3)) (\(a.pairsEqual)); balanced \(fixed(a.balancedAgreement, 3))"
      )
      print(
        "  controlled agreement \(fixed(a.controlledAgreement, 3)) (coefficient \(fixed(a.coefficient, 3)) per sd of the gap)"
      )
      if a.mutualInformation.isFinite {
        print("  I(h; \(name)) \(fixed(a.mutualInformation, 4)) nats, held out")
      }
      for b in a.buckets {
        print(
          "  gap [\(fixed(b.lowest, 3)), \(fixed(b.highest, 3))]: agreement \(fixed(b.agreement, 3)) (\(b.pairs) pairs)"
        )
      }
    }
  }

  // MARK: Reading

  /// The (chosen, rejected) response indices of each pair.
  static func pairIndex(_ path: String) throws -> [(Int, Int)] {
    let q = try NumpyFile.read(path)
    guard q.isInteger, q.shape.count == 2, q.columns == 2 || q.columns == 3, q.rows >= 1 else {
      throw CLIError("\(path): expected an integer array (num_pairs, 2) or (num_pairs, 3), got \(q.summary)")
    }
    let w = q.columns
    return (0..<q.rows).map { (Int(q.integers[$0 * w + w - 2]), Int(q.integers[$0 * w + w - 1])) }
  }

  /// A file's (chosen, rejected) values per pair: (n, 2), or (R,) read through the pairs.
  static func sides(_ path: String, _ index: [(Int, Int)]?, rows: Int? = nil) throws -> ([Double], [Double]) {
    let a = try NumpyFile.read(path)
    let values = a.isInteger ? a.integers.map(Double.init) : a.floats.map(Double.init)
    guard let index else {
      guard a.shape.count == 2, a.columns == 2, a.rows >= 1, rows == nil || a.rows == rows else {
        throw CLIError(
          "\(path): expected (num_pairs, 2) chosen and rejected values\(rows.map { " for \($0) pairs" } ?? ""), got \(a.summary)"
        )
      }
      return (
        stride(from: 0, to: values.count, by: 2).map { values[$0] },
        stride(from: 1, to: values.count, by: 2).map { values[$0] }
      )
    }
    guard a.shape.count == 1 || (a.shape.count == 2 && a.columns == 1) else {
      throw CLIError("\(path): expected one value per response (num_responses,), got \(a.summary)")
    }
    if let bad = index.first(where: { $0.0 < 0 || $0.0 >= values.count || $0.1 < 0 || $0.1 >= values.count })
    {
      throw CLIError(
        "\(path): \(values.count) responses, but a pair refers to response \(max(bad.0, bad.1) < 0 ? min(bad.0, bad.1) : max(bad.0, bad.1))"
      )
    }
    return (index.map { values[$0.0] }, index.map { values[$0.1] })
  }

  static func hiddenStates(_ path: String, _ index: [(Int, Int)]) throws -> PairBatch {
    let h = try NumpyFile.read(path)
    guard !h.isInteger, h.shape.count == 2, h.rows >= 1, h.columns >= 1 else {
      throw CLIError("\(path): expected float hidden states (num_responses, d), got \(h.summary)")
    }
    let d = h.columns
    if let bad = index.first(where: { $0.0 < 0 || $0.0 >= h.rows || $0.1 < 0 || $0.1 >= h.rows }) {
      throw CLIError(
        "\(path): \(h.rows) rows, but a pair refers to response \(bad.0 >= h.rows || bad.0 < 0 ? bad.0 : bad.1)"
      )
    }
    var chosen = [Float]()
    var rejected = [Float]()
    chosen.reserveCapacity(index.count * d)
    rejected.reserveCapacity(index.count * d)
    for (c, r) in index {
      chosen += h.floats[(c * d)..<((c + 1) * d)]
      rejected += h.floats[(r * d)..<((r + 1) * d)]
    }
    return PairBatch(chosen: chosen, rejected: rejected, columns: d)
  }

  /// One indicator 1[category = k] per category in increasing order; with two categories,
  /// only the larger (dirrm.audit's rule).
  static func indicators(_ name: String, _ c: [Double], _ r: [Double]) -> [(String, [Double], [Double])] {
    let levels = Set(c + r).sorted()
    return (levels.count == 2 ? Array(levels.suffix(1)) : levels).map { k in
      ("\(name)=\(label(k))", c.map { $0 == k ? 1 : 0 }, r.map { $0 == k ? 1 : 0 })
    }
  }

  /// A category's name as Python prints the number: 1 for an integer, 0.5 otherwise.
  static func label(_ k: Double) -> String {
    k == k.rounded() && abs(k) < 1e15 ? String(Int64(k)) : "\(k)"
  }

  static func fileName(_ name: String) -> String {
    String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "=" ? $0 : "_" })
  }
}

extension String {
  fileprivate var replacingUnderscores: String { String(map { $0 == "_" ? "-" : $0 }) }
}

extension NumericError {
  var words: String {
    switch self {
    case .overflow(let what), .notConverged(let what), .internalFailure(let what): what
    }
  }
}

extension BiasAudit {
  /// The report with dirrm.audit's field names (Audit.to_dict), NaN and ±inf as null.
  func json(name: String) -> JSONValue {
    .object([
      ("name", .string(name)), ("pairs", .integer(pairs)), ("agreement", .number(agreement)),
      ("spearman", .number(spearman)), ("spearman_low", .number(spearmanLow)),
      ("spearman_high", .number(spearmanHigh)), ("attribute_baseline", .number(attributeBaseline)),
      ("agreement_larger", .number(agreementLarger)), ("agreement_smaller", .number(agreementSmaller)),
      ("agreement_equal", .number(agreementEqual)), ("pairs_larger", .integer(pairsLarger)),
      ("pairs_smaller", .integer(pairsSmaller)), ("pairs_equal", .integer(pairsEqual)),
      ("balanced_agreement", .number(balancedAgreement)), ("coefficient", .number(coefficient)),
      ("intercept", .number(intercept)), ("controlled_agreement", .number(controlledAgreement)),
      ("mutual_information", .number(mutualInformation)),
      (
        "buckets",
        .array(
          buckets.map {
            .object([
              ("lowest", .number($0.lowest)), ("highest", .number($0.highest)), ("pairs", .integer($0.pairs)),
              ("agreement", .number($0.agreement)),
            ])
          })
      ),
    ])
  }

  /// Agreement by attribute-gap bucket as bars, the overall agreement dashed.
  func svg(name: String) -> String {
    let (width, height, left, top, plotW, plotH) = (520.0, 300.0, 56.0, 28.0, 448.0, 208.0)
    let slot = plotW / Double(max(buckets.count, 1))
    func y(_ v: Double) -> String { fixed(top + plotH * (1 - v), 1) }
    var out =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">\n"
    out +=
      "<text x=\"\(Int(left))\" y=\"16\" font-size=\"13\">\(SVGPlot.escape(name)): agreement by attribute-gap bucket (chosen − rejected)</text>\n"
    out +=
      "<rect x=\"\(Int(left))\" y=\"\(Int(top))\" width=\"\(Int(plotW))\" height=\"\(Int(plotH))\" fill=\"none\" stroke=\"#888\"/>\n"
    for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
      out +=
        "<line x1=\"\(Int(left))\" x2=\"\(Int(left + plotW))\" y1=\"\(y(tick))\" y2=\"\(y(tick))\" stroke=\"#ddd\"/>"
      out +=
        "<text x=\"\(Int(left) - 6)\" y=\"\(y(tick - 0.02))\" text-anchor=\"end\">\(fixed(tick, 2))</text>\n"
    }
    for (i, b) in buckets.enumerated() {
      let x = left + Double(i) * slot + slot * 0.15
      out +=
        "<rect x=\"\(fixed(x, 1))\" y=\"\(y(b.agreement))\" width=\"\(fixed(slot * 0.7, 1))\" height=\"\(fixed(plotH * b.agreement, 1))\" fill=\"#1f77b4\"/>\n"
      out +=
        "<text x=\"\(fixed(x + slot * 0.35, 1))\" y=\"\(Int(top + plotH) + 14)\" text-anchor=\"middle\">\(fixed(b.lowest, 3)) … \(fixed(b.highest, 3))</text>\n"
      out +=
        "<text x=\"\(fixed(x + slot * 0.35, 1))\" y=\"\(Int(top + plotH) + 27)\" text-anchor=\"middle\" fill=\"#666\">\(b.pairs) pairs</text>\n"
    }
    out +=
      "<line x1=\"\(Int(left))\" x2=\"\(Int(left + plotW))\" y1=\"\(y(agreement))\" y2=\"\(y(agreement))\" stroke=\"#d62728\" stroke-dasharray=\"4 3\"/>\n"
    out +=
      "<text x=\"\(Int(left))\" y=\"\(Int(height) - 10)\" fill=\"#d62728\">dashed: overall agreement \(fixed(agreement, 3)); \"larger wins\" agrees \(fixed(attributeBaseline, 3))</text>\n"
    return out + "</svg>\n"
  }
}
