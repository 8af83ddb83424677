import CDirRM
import DirRMCore

// Auditing a reward model's bias (docs/mathematics.md §6).

@c @implementation
public func dirrm_audit_params_init(_ p: UnsafeMutablePointer<dirrm_audit_params>?) {
  fillDefaults(p) { params(of: BiasAudit.Settings.defaults) }
}

/// The parameter struct of audit settings (dirrm_audit_params_init from the core's defaults).
func params(of s: BiasAudit.Settings) -> dirrm_audit_params {
  dirrm_audit_params(
    struct_size: UInt32(MemoryLayout<dirrm_audit_params>.size), bootstrap: Int32(clamping: s.bootstrap),
    level: s.level, buckets: Int32(clamping: s.buckets), club_steps: Int32(clamping: s.clubSteps),
    club_batch: Int32(clamping: s.clubBatch), q_hidden: Int32(clamping: s.qHidden),
    club_learning_rate: s.clubLearningRate, seed: s.seed)
}

@c @implementation
public func dirrm_audit(
  _ p: UnsafePointer<dirrm_audit_params>?, _ n: Int64, _ rChosen: UnsafePointer<Float>?,
  _ rRejected: UnsafePointer<Float>?, _ attrChosen: UnsafePointer<Float>?,
  _ attrRejected: UnsafePointer<Float>?,
  _ d: Int64, _ hChosen: UnsafePointer<Float>?, _ hRejected: UnsafePointer<Float>?,
  _ out: UnsafeMutablePointer<dirrm_audit_report>?, _ bucketLowest: UnsafeMutablePointer<Double>?,
  _ bucketHighest: UnsafeMutablePointer<Double>?, _ bucketPairs: UnsafeMutablePointer<Int64>?,
  _ bucketAgreement: UnsafeMutablePointer<Double>?
) -> Int32 {
  abiCall("dirrm_audit") { () throws(ABIError) in
    let given = try p.map { (pointer) throws(ABIError) in try readParams(pointer, "p") }
    let q = given ?? params(of: BiasAudit.Settings.defaults)
    let settings = BiasAudit.Settings(
      bootstrap: Int(q.bootstrap), level: q.level, buckets: Int(q.buckets), clubSteps: Int(q.club_steps),
      clubBatch: Int(q.club_batch), qHidden: Int(q.q_hidden), clubLearningRate: q.club_learning_rate,
      seed: q.seed)
    try bridge("p->") { () throws(ConfigError) in try settings.validate() }
    let count = try Check.count(n, "n")
    let width = try Check.count(d, "d", minimum: 0)
    let destination = try Check.output(out, "out")
    _ = try readParams(UnsafePointer(destination), "out")
    try bridge("") { () throws(ConfigError) in try BiasAudit.checkWidth(width, settings) }
    try reserve(BiasAudit.workBytes(pairs: count, width: width, settings: settings), for: "the audit")
    let chosen = try Check.array(rChosen, count, "r_chosen")
    let rejected = try Check.array(rRejected, count, "r_rejected")
    let attributeChosen = try Check.array(attrChosen, count, "attr_chosen")
    let attributeRejected = try Check.array(attrRejected, count, "attr_rejected")
    var hidden: PairBatch? = nil
    if width > 0 {
      let size = try Check.product(count, width, "h_chosen")
      hidden = PairBatch(
        chosen: try Check.array(hChosen, size, "h_chosen"),
        rejected: try Check.array(hRejected, size, "h_rejected"),
        columns: width)
    } else if hChosen != nil || hRejected != nil {
      throw ABIError(DIRRM_ERR_INVALID_ARGUMENT, "h_chosen and h_rejected must be NULL when d is 0")
    }
    let rewardGap = BiasAudit.gaps(chosen, rejected)
    let attributeGap = BiasAudit.gaps(attributeChosen, attributeRejected)
    try bridge("") { () throws(ConfigError) in
      try BiasAudit.check(rewardGap: rewardGap, attributeGap: attributeGap, hidden: hidden)
    }
    let audit = try bridge { () throws(NumericError) in
      try BiasAudit.run(rewardGap: rewardGap, attributeGap: attributeGap, hidden: hidden, settings: settings)
    }
    destination.pointee = dirrm_audit_report(
      struct_size: UInt32(MemoryLayout<dirrm_audit_report>.size), pairs: Int64(audit.pairs),
      agreement: audit.agreement, spearman: audit.spearman, spearman_low: audit.spearmanLow,
      spearman_high: audit.spearmanHigh, attribute_baseline: audit.attributeBaseline,
      agreement_larger: audit.agreementLarger, agreement_smaller: audit.agreementSmaller,
      agreement_equal: audit.agreementEqual, pairs_larger: Int64(audit.pairsLarger),
      pairs_smaller: Int64(audit.pairsSmaller), pairs_equal: Int64(audit.pairsEqual),
      balanced_agreement: audit.balancedAgreement, coefficient: audit.coefficient, intercept: audit.intercept,
      controlled_agreement: audit.controlledAgreement, mutual_information: audit.mutualInformation,
      num_buckets: Int64(audit.buckets.count))
    Check.write(audit.buckets.map(\.lowest), toOptional: bucketLowest)
    Check.write(audit.buckets.map(\.highest), toOptional: bucketHighest)
    Check.write(audit.buckets.map { Int64($0.pairs) }, toOptional: bucketPairs)
    Check.write(audit.buckets.map(\.agreement), toOptional: bucketAgreement)
  }
}
