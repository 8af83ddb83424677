import CDirRM
import XCTest

/// Datasets, synthetic data, the model, training and evaluation through the public header.
final class ModelABITests: XCTestCase {
  func testRoundTripOfEveryEntryPoint() {
    var sp = dirrm_synth_params()
    dirrm_synth_params_init(&sp)
    XCTAssertEqual([sp.kind, sp.responses_per_prompt], [DIRRM_SYNTH_LENGTH, 4])
    sp.num_prompts = 60
    sp.prompt_dim = 6
    sp.response_dim = 8
    var train: OpaquePointer? = nil
    var test: OpaquePointer? = nil
    assertStatus(dirrm_synth_generate(&sp, &train, &test), DIRRM_OK)
    defer {
      _ = dirrm_dataset_free(train)
      _ = dirrm_dataset_free(test)
    }
    var pdim: Int64 = 0
    var rdim: Int64 = 0
    var pairs: Int64 = 0
    assertStatus(dirrm_dataset_shape(train, nil, &pdim, nil, &rdim, &pairs, nil), DIRRM_OK)
    XCTAssertEqual([pdim, rdim], [6, 8])
    XCTAssertGreaterThan(pairs, 100)

    var mp = dirrm_model_params()
    dirrm_model_params_init(&mp)
    XCTAssertEqual([mp.width, mp.depth], [128, 2])
    mp.prompt_dim = 6
    mp.response_dim = 8
    mp.width = 16
    var model: OpaquePointer? = nil
    assertStatus(dirrm_model_create(&mp, &model), DIRRM_OK)
    defer { _ = dirrm_model_free(model) }
    var width: Int32 = 0
    assertStatus(dirrm_model_shape(model, nil, nil, &width, nil), DIRRM_OK)
    XCTAssertEqual(width, 16)

    var tp = dirrm_train_params()
    dirrm_train_params_init(&tp)
    XCTAssertEqual([tp.epochs, tp.batch_size, tp.pf_prompts, tp.pf_max_rounds], [3, 64, 8, 8])
    tp.method = DIRRM_METHOD_DIR_PROMPT_FREE
    tp.epochs = 1
    tp.dir.club.q_hidden = 8
    var steps: Int64 = 0
    let callback: dirrm_progress_fn = { user, step, total, _, mi, threshold in
      user?.assumingMemoryBound(to: Int64.self).pointee = step + 1
      return step >= 2 && mi.isFinite && threshold.isFinite ? 1 : 0  // stop after three steps
    }
    assertStatus(dirrm_train(model, train, &tp, callback, &steps), DIRRM_OK)
    XCTAssertEqual(steps, 3)

    var report = dirrm_eval_report()
    report.struct_size = UInt32(MemoryLayout<dirrm_eval_report>.size)
    assertStatus(dirrm_evaluate(model, test, 0, &report), DIRRM_OK)
    XCTAssertEqual(report.pairs, 50 * 6)  // the test set has at least 50 prompts
    XCTAssertTrue(report.accuracy >= 0 && report.accuracy <= 1)

    var size: Int64 = 0
    assertStatus(dirrm_model_save(model, nil, 0, &size), DIRRM_OK)
    var bytes = [UInt8](repeating: 0, count: Int(size))
    assertStatus(dirrm_model_save(model, &bytes, size, &size), DIRRM_OK)
    var copy: OpaquePointer? = nil
    assertStatus(dirrm_model_load(bytes, size, &copy), DIRRM_OK)
    defer { _ = dirrm_model_free(copy) }
    let x: [Float] = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.1, -0.2, 0.3, 0.4, -0.5, 1]
    let y = [Float](repeating: 0.25, count: 16)
    var a: [Float] = [0, 0]
    var b: [Float] = [0, 0]
    var hidden = [Float](repeating: 0, count: 32)
    assertStatus(dirrm_model_score(model, 2, x, y, &a, &hidden), DIRRM_OK)
    assertStatus(dirrm_model_score(copy, 2, x, y, &b, nil), DIRRM_OK)
    XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
    XCTAssertTrue(hidden.allSatisfy { $0 >= 0 })  // ReLU outputs
  }

  func testDatasetAndTrainingArgumentChecks() {
    let x: [Float] = [1, 2, 3, 4]
    let pairs: [Int64] = [0, 0, 1, 1, 1, 2]
    var d: OpaquePointer? = nil
    assertStatus(
      dirrm_dataset_create(2, 2, x, 2, 2, x, 2, pairs, 0, nil, &d), DIRRM_ERR_INVALID_ARGUMENT,
      mentioning: "pairs[1][2] = 2: the rejected index")
    assertStatus(dirrm_dataset_create(2, 2, x, 2, 2, x, 1, pairs, 0, nil, &d), DIRRM_OK)
    defer { _ = dirrm_dataset_free(d) }
    assertStatus(
      dirrm_dataset_create(2, 2, x, 2, 2, x, 1, pairs, 1, nil, &d), DIRRM_ERR_NULL_POINTER, mentioning: "bias"
    )
    var mp = dirrm_model_params()
    dirrm_model_params_init(&mp)
    var m: OpaquePointer? = nil
    assertStatus(dirrm_model_create(&mp, &m), DIRRM_ERR_INVALID_ARGUMENT, mentioning: "p->prompt_dim = 0")
    (mp.prompt_dim, mp.response_dim, mp.width) = (2, 2, 4)
    assertStatus(dirrm_model_create(&mp, &m), DIRRM_OK)
    defer { _ = dirrm_model_free(m) }
    var tp = dirrm_train_params()
    dirrm_train_params_init(&tp)
    tp.method = DIRRM_METHOD_DIR
    assertStatus(dirrm_train(m, d, &tp, nil, nil), DIRRM_ERR_INVALID_ARGUMENT, mentioning: "bias_column")
    assertStatus(dirrm_train(d, m, &tp, nil, nil), DIRRM_ERR_MISUSE, mentioning: "not a live")
    tp.struct_size = 8
    assertStatus(dirrm_train(m, d, &tp, nil, nil), DIRRM_ERR_VERSION, mentioning: "struct_size")
  }
}
